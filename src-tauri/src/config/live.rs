//! Settings changed while Sickbay runs: the configuration file is looked at every
//! [`LOOK_EVERY`] (and at once when asked: the dashboard saved it, or `SIGHUP`), read again
//! when it changed, and the new [`Settings`] go out on a watch channel. The parts that read
//! their settings as they go use them at once ([`LIVE`]: notifications, the stack, the alert
//! watcher and escalation, `[[maintenance]]` windows); the rest is the engine's own and takes
//! effect at the next start ([`needs_restart`] names those sections). A file that no longer
//! passes the loader's checks changes nothing: the error names the file, line and key, and the
//! settings in use are kept. So does a file named on the command line that has gone. A change
//! found by looking is read once the file has stayed the same for [`SETTLE`] (an editor that
//! writes in place is not read half way).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use super::{ConfigSource, Settings};

/// How often the file is looked at.
pub const LOOK_EVERY: Duration = Duration::from_secs(2);

/// How long a changed file must stay the same before it is read.
pub const SETTLE: Duration = Duration::from_millis(300);

/// The sections whose new values are used at once.
pub const LIVE: &[&str] = &[
    "notify",
    "stack",
    "alerts",
    "diagnosis",
    "escalation",
    "maintenance",
];

/// Each section of `a` and `b` (their TOML names) whose values differ.
fn changed_sections(a: &Settings, b: &Settings) -> Vec<String> {
    let table = |s: &Settings| toml::Table::try_from(s).unwrap_or_default();
    let (a, b) = (table(a), table(b));
    let mut names: Vec<&String> = a.keys().chain(b.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect()
}

/// The sections changed from `running` (what the engine started with) to `new` that only a
/// restart applies, in the file's order of sections.
pub fn needs_restart(running: &Settings, new: &Settings) -> Vec<String> {
    changed_sections(running, new)
        .into_iter()
        .filter(|s| !LIVE.contains(&s.as_str()))
        .collect()
}

/// The sections changed from `old` to `new` that apply at once.
pub fn applied_live(old: &Settings, new: &Settings) -> Vec<String> {
    changed_sections(old, new)
        .into_iter()
        .filter(|s| LIVE.contains(&s.as_str()))
        .collect()
}

/// What identifies a version of the file without reading it: its modification time and size
/// (`None`: there is no file).
fn fingerprint(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok(), m.len()))
}

/// The file at `path` as it is now ([`Settings::load_from`]).
pub fn read(path: &Path, required: bool) -> Result<Settings, super::ConfigError> {
    Settings::load_from(path, required).map(|(s, _)| s)
}

/// Follows the configuration file of `source` until every receiver of `tx` is gone: each new
/// version that passes the checks is sent; `started` is what the engine runs with, for the
/// log's word on what needs a restart. `nudge`: look now (the dashboard saved the file, a
/// `SIGHUP`: [`forward_hangups`]).
pub async fn follow(
    source: ConfigSource,
    required: bool,
    started: Settings,
    tx: watch::Sender<Settings>,
    mut nudge: Option<mpsc::UnboundedReceiver<()>>,
) {
    let path: PathBuf = source.path().to_path_buf();
    // Not looked at yet: the first look reads the file, in case it changed since it was loaded.
    let mut seen = None;
    let mut every = tokio::time::interval(LOOK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let asked = tokio::select! {
            _ = every.tick() => false,
            _ = tx.closed() => return,
            Some(()) = next(&mut nudge) => true,
        };
        let now = fingerprint(&path);
        if Some(now) == seen && !asked {
            continue;
        }
        if !asked && seen.is_some() {
            // Found by looking: read it once it has stopped changing.
            tokio::time::sleep(SETTLE).await;
            if fingerprint(&path) != now {
                continue;
            }
        }
        seen = Some(now);
        match read(&path, required) {
            Ok(new) => {
                if *tx.borrow() == new {
                    continue;
                }
                let live = applied_live(&tx.borrow(), &new);
                let restart = needs_restart(&started, &new);
                if !live.is_empty() {
                    tracing::info!(
                        "settings from {}: applied now: {}",
                        path.display(),
                        sections(&live)
                    );
                }
                if !restart.is_empty() {
                    tracing::warn!(
                        "settings from {}: {} take effect when Sickbay restarts",
                        path.display(),
                        sections(&restart)
                    );
                }
                tx.send_replace(new);
            }
            Err(e) => tracing::error!("{e}; the settings in use are kept"),
        }
    }
}

/// `[a], [b]`.
fn sections(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("[{n}]"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn next(rx: &mut Option<mpsc::UnboundedReceiver<()>>) -> Option<()> {
    match rx {
        Some(r) => match r.recv().await {
            Some(()) => Some(()),
            None => {
                *rx = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Sends a nudge on `tx` for each `SIGHUP` (the usual way to have a service read its
/// configuration again; `systemctl reload`), from now on: a `SIGHUP` no longer ends the
/// process. Call it inside the runtime, as early as can be. Nothing elsewhere than Unix.
pub fn forward_hangups(tx: mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut hup) => {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        if tx.send(()).is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("SIGHUP will not read the settings again: {e}"),
        }
    }
    #[cfg(not(unix))]
    drop(tx);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Settings {
        Settings::parse(text, Path::new("sickbay.toml")).expect("valid")
    }

    #[test]
    fn notifications_and_the_stack_apply_at_once_the_sweep_needs_a_restart() {
        let old = Settings::default();
        let new = parsed(
            "[notify]\nquiet_minutes = 5\n[stack]\nproject_name = \"shop\"\n\
             [monitoring]\ninterval_seconds = 7\n",
        );
        assert_eq!(applied_live(&old, &new), ["notify", "stack"]);
        assert_eq!(needs_restart(&old, &new), ["monitoring"]);
        assert!(needs_restart(&new, &new).is_empty());
        assert_eq!(sections(&needs_restart(&old, &new)), "[monitoring]");
    }

    #[test]
    fn a_maintenance_window_applies_at_once() {
        let new = parsed(
            "[[maintenance]]\ndays = [\"sat\"]\nstart = \"01:00\"\nend = \"02:00\"\n\
             containers = [\"db\"]\n",
        );
        assert_eq!(applied_live(&Settings::default(), &new), ["maintenance"]);
        assert!(needs_restart(&Settings::default(), &new).is_empty());
    }

    #[tokio::test]
    async fn a_changed_file_is_sent_and_a_broken_one_keeps_the_settings_in_use() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sickbay.toml");
        std::fs::write(&path, "[notify]\nquiet_minutes = 5\n").expect("write");
        let started = read(&path, true).expect("valid");
        let (tx, mut rx) = watch::channel(started.clone());
        let (nudge, nudged) = mpsc::unbounded_channel();
        let task = tokio::spawn(follow(
            ConfigSource::File(path.clone()),
            true,
            started,
            tx,
            Some(nudged),
        ));
        rx.borrow_and_update();
        std::fs::write(&path, "[notify]\nquiet_minutes = 9\n").expect("write");
        nudge.send(()).expect("nudge");
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("sent in time")
            .expect("open");
        assert_eq!(rx.borrow_and_update().notify.quiet_minutes, 9);
        // Broken: nothing is sent.
        std::fs::write(&path, "[notify]\nquiet_minutes = \"soon\"\n").expect("write");
        nudge.send(()).expect("nudge");
        let sent = tokio::time::timeout(Duration::from_millis(600), rx.changed()).await;
        assert!(sent.is_err(), "a broken file must not be applied");
        assert_eq!(rx.borrow().notify.quiet_minutes, 9);
        // Mended, without a nudge: the next look finds it.
        std::fs::write(&path, "[notify]\nquiet_minutes = 3\n\n").expect("write");
        tokio::time::timeout(LOOK_EVERY * 3, rx.changed())
            .await
            .expect("found by the next look")
            .expect("open");
        assert_eq!(rx.borrow().notify.quiet_minutes, 3);
        // Gone, when it was named on the command line: kept, as a broken one.
        std::fs::remove_file(&path).expect("remove");
        nudge.send(()).expect("nudge");
        let sent = tokio::time::timeout(Duration::from_millis(600), rx.changed()).await;
        assert!(
            sent.is_err(),
            "a file named and gone must not become the defaults"
        );
        task.abort();
    }
}
