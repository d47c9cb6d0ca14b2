//! Failed writes to the history: logged, counted ([`StatusView::history_errors`]) and kept in
//! a small state file that other processes (`status`, `doctor`) read. It never retries or
//! drops a write itself.

use super::*;

/// The history writes that failed, kept apart from the containers' state so that a failed
/// write can be counted wherever it happens.
pub(super) struct HistoryHealth {
    pub(super) state: EngineState,
    pub(super) state_file: Option<PathBuf>,
}

impl HistoryHealth {
    /// A write to the history failed: said in the diagnostic log, counted in the status
    /// (`history_errors`) and the state file, so `status` and `doctor` show it.
    pub(super) fn failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!("history: {what} failed: {e}");
        self.state.history_errors += 1;
        self.state.last_history_error = Some(format!("{what}: {e}"));
        self.write();
    }

    /// Checks a history write's result (see [`HistoryHealth::failed`]).
    pub(super) fn check<T, E: std::fmt::Display>(
        &mut self,
        what: &str,
        r: Result<T, E>,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed(what, &e);
                None
            }
        }
    }

    pub(super) fn write(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        let written = serde_json::to_vec_pretty(&self.state)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = written {
            tracing::warn!("cannot write {}: {e}", path.display());
        }
    }

    pub(super) fn remove(&self) {
        if let Some(path) = &self.state_file {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!("cannot remove {}: {e}", path.display());
            }
        }
    }
}

/// What the running engine tells other processes through its state file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    pub pid: u32,
    pub started_at: String,
    pub history_errors: u64,
    pub last_history_error: Option<String>,
}

impl EngineState {
    /// The state of the engine that runs now on this data folder, if any.
    pub fn read(path: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let state: Self = serde_json::from_str(&text).ok()?;
        crate::lock::process_alive(state.pid).then_some(state)
    }
}
