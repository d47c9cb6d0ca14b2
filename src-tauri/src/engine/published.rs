//! The running engine's latest picture, kept in a file of its data folder (`status.json`) so
//! that `sickbay status` answers from it at once instead of looking at every container again
//! (at 500 containers a look of its own takes seconds; this takes milliseconds). It writes at
//! most four times a second, the newest picture last, each time whole (a new file renamed over the
//! old). It decides nothing: `status` trusts the file only while the process named in it runs.

use super::*;

/// The file's name in the data folder.
pub const FILE: &str = "status.json";

/// The least time between two writes: a burst of events (a sweep's chunks) makes a few.
const MIN_GAP: Duration = Duration::from_millis(250);

/// What the file holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Published {
    pub pid: u32,
    /// When it was written (UTC).
    pub as_of: String,
    pub view: StatusView,
}

impl Published {
    /// The picture of the watcher that runs now, if its file is there and whole.
    pub fn read(path: &std::path::Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        let p: Self = serde_json::from_str(&text).ok()?;
        crate::lock::process_alive(p.pid).then_some(p)
    }

    /// The picture as `status` shows it: the watcher's, when, and whose.
    pub fn into_view(self) -> StatusView {
        StatusView {
            source: Some(ViewSource::Watcher),
            as_of: Some(self.as_of),
            watcher_pid: Some(self.pid),
            ..self.view
        }
    }
}

/// Writes every new picture to `path` (at most one a second) until the engine stops; then
/// removes the file.
pub async fn keep(path: PathBuf, mut status: watch::Receiver<StatusView>) {
    let _remove = RemoveOnDrop(path.clone());
    loop {
        let view = status.borrow_and_update().clone();
        let published = Published {
            pid: std::process::id(),
            as_of: clock::utc_now(),
            view,
        };
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || write(&target, &published)).await;
        match written {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot write {}: {e}", path.display()),
            Err(e) => tracing::warn!("writing {} failed: {e}", path.display()),
        }
        tokio::time::sleep(MIN_GAP).await;
        if status.changed().await.is_err() {
            return;
        }
    }
}

fn write(path: &std::path::Path, p: &Published) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec(p).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The file goes when the engine does (a clean stop, or the task aborted).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        match std::fs::remove_file(&self.0) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot remove {}: {e}", self.0.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_picture_is_written_and_the_file_goes_with_the_engine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("status.json");
        let (tx, rx) = watch::channel(StatusView::unreachable("e".into(), "first".into()));
        let task = tokio::spawn(keep(path.clone(), rx));
        let read_error = || Published::read(&path).and_then(|p| p.view.docker_error.clone());
        for _ in 0..100 {
            if read_error().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(read_error().as_deref(), Some("first"));
        // Two changes within the gap: the second is the one written.
        tx.send(StatusView::unreachable("e".into(), "second".into()))
            .expect("send");
        tx.send(StatusView::unreachable("e".into(), "third".into()))
            .expect("send");
        for _ in 0..200 {
            if read_error().as_deref() == Some("third") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let p = Published::read(&path).expect("published");
        assert_eq!(p.view.docker_error.as_deref(), Some("third"));
        let v = p.into_view();
        assert_eq!(v.source, Some(ViewSource::Watcher));
        assert_eq!(v.watcher_pid, Some(std::process::id()));
        drop(tx);
        task.await.expect("task");
        assert!(!path.exists(), "removed when the engine stops");
    }
}
