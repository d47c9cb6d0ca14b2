//! The state the tray app's and the dashboard's parts share ([`Shared`], kept by Tauri): the
//! history, the engine's status and control links, the settings and where they came from, the
//! stack's progress. It depends on none of `gui`'s other modules, so that each of them can
//! read it; it must not do anything itself.

use std::path::PathBuf;
use std::sync::Mutex;

use tokio::sync::{mpsc, watch};

use crate::config::{ConfigSource, Settings};
use crate::docker::stack::StackStatus;
use crate::engine::{Control, StatusView};
use crate::storage::store::Store;

pub use crate::config::Origin;

/// The state shared by the tray, the commands and the window.
pub struct Shared {
    pub store: Mutex<Store>,
    pub status: watch::Receiver<StatusView>,
    /// The settings in force: the file as last read (`config::live`), or as the dashboard
    /// last saved it.
    pub settings: watch::Sender<Settings>,
    /// The sections changed since the engine started that only a restart applies
    /// (`config::live::needs_restart`); the tray app tells its dashboard.
    pub restart_needed: watch::Sender<Vec<String>>,
    /// The dashboard saved the configuration file: the tray app reads it at once.
    pub settings_saved: mpsc::UnboundedSender<()>,
    pub source: ConfigSource,
    /// The file was named (`--config`, `SICKBAY_CONFIG`): its absence is an error, not the
    /// defaults.
    pub config_required: bool,
    /// Where `source`'s path came from (`--config`, `SICKBAY_CONFIG` or the default).
    pub config_origin: Origin,
    pub control: mpsc::Sender<Control>,
    /// The one-click stack's progress and last outcome.
    pub stack: watch::Sender<StackStatus>,
    /// Start (`true`) or stop the stack: the tray app runs compose.
    pub stack_requests: mpsc::UnboundedSender<bool>,
    /// Restart the tray app (new settings): it stops its engine, then starts again.
    pub restart_requests: mpsc::UnboundedSender<()>,
}

/// The path of the config file named on the command line or by `SICKBAY_CONFIG`.
pub fn config_origin(explicit: Option<&PathBuf>) -> Origin {
    match explicit {
        None => Origin::Default,
        Some(p) if std::env::var_os("SICKBAY_CONFIG").is_some_and(|e| p.as_os_str() == e) => {
            Origin::Environment
        }
        Some(_) => Origin::CommandLine,
    }
}
