//! Where Sickbay keeps its files: the configuration file, the history database and the logs.
//! Platform conventions come from the `directories` crate; environment variables override them.

use std::path::PathBuf;

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("dev", "sickbay", "sickbay")
}

/// `.../sickbay/sickbay.toml` in the platform's configuration folder.
pub fn default_config_file() -> PathBuf {
    project_dirs()
        .map(|d| d.config_dir().join("sickbay.toml"))
        .unwrap_or_else(|| PathBuf::from("sickbay.toml"))
}

/// The data folder: `SICKBAY_DATA_DIR`, else the platform's data folder.
pub fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SICKBAY_DATA_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    project_dirs()
        .map(|d| d.data_local_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".sickbay"))
}

pub fn database_file() -> PathBuf {
    data_dir().join("sickbay.db")
}

pub fn logs_dir() -> PathBuf {
    data_dir().join("logs")
}
