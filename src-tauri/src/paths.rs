//! Where Sickbay keeps its files: the configuration file, the history database and the logs.
//! Platform conventions come from the `directories` crate; environment variables override them.
//! It owns where files live, not what is in them: it must not open or write any of them.

use std::path::{Path, PathBuf};

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "sickbay", "sickbay")
}

/// `.../sickbay/sickbay.toml` in the platform's configuration folder.
pub fn default_config_file() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().join("sickbay.toml"))
        .unwrap_or_else(|| PathBuf::from("sickbay.toml"))
}

/// `SICKBAY_DATA_DIR`, when set and not empty: the one reader of that variable (the dashboard
/// asks it where the data folder came from).
pub fn data_dir_from_env() -> Option<PathBuf> {
    std::env::var_os("SICKBAY_DATA_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

/// The data folder: `SICKBAY_DATA_DIR`, else the platform's data folder.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = data_dir_from_env() {
        return dir;
    }
    project_dirs()
        .map(|d| d.data_local_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".sickbay"))
}

pub fn database_file() -> PathBuf {
    DataDir::current().database_file()
}

pub fn logs_dir() -> PathBuf {
    DataDir::current().logs_dir()
}

/// A data folder and what lives in it. Handed to the modules that write there (the alert
/// watcher, escalation) by the one that starts them, so that a test can give them a folder
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir(PathBuf);

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self(root.into())
    }

    /// This process's data folder ([`data_dir`]).
    pub fn current() -> Self {
        Self(data_dir())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// The history: `sickbay.db`.
    pub fn database_file(&self) -> PathBuf {
        self.0.join("sickbay.db")
    }

    /// `logs/`: `monitor.log` and the other log files.
    pub fn logs_dir(&self) -> PathBuf {
        self.0.join("logs")
    }
}
