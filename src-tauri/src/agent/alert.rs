//! The alert watcher: reads the engine's events and decides when healing has not fixed
//! something, so a person and an agent must look: a `healing_failed`, a restart loop, an OOM
//! kill, or `[alerts] failure_threshold` failed heals of one container within the window. One
//! escalation per incident. The decision is pure ([`AlertWatcher`]); [`run`] writes
//! `logs/alert_watcher.log` and `logs/critical_alerts.log` (with the incident's events and the
//! [`patterns`](crate::domain::patterns) analysis) and escalates. It reads the history only through
//! `store` and leaves the pattern analysis' thresholds to `patterns`.
//! It is handed the data folder it works in ([`DataDir`], by `cli::run_engine`): it must not
//! look up the global one, nor write the incident's files itself (escalation does).

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::Path;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use crate::config::Settings;
use crate::domain::event::Event;
use crate::paths::DataDir;
use crate::storage::store::{EventRow, Store};
use crate::{agent::escalate, clock, domain::escape, domain::patterns, storage::logfile};

/// Why an incident is escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    HealingFailed,
    RestartLoop,
    OomKilled,
    /// This many failed heals of the container within the window.
    RepeatedFailures(usize),
    /// A line of the container's own log matched this pattern.
    LogPattern(String),
}

impl Trigger {
    pub fn as_str(&self) -> String {
        match self {
            Trigger::HealingFailed => Event::HealingFailed.as_str().into(),
            Trigger::RestartLoop => "restart_loop".into(),
            Trigger::OomKilled => "oom_killed".into(),
            Trigger::RepeatedFailures(n) => format!("failed_heals:{n}"),
            Trigger::LogPattern(p) => format!("log_pattern:{p}"),
        }
    }
}

/// Counts failed heals per container and picks the events that need a person.
pub struct AlertWatcher {
    threshold: usize,
    window: Duration,
    /// Per container: when its heals failed (a restart that did not hold, or could not run).
    failures: HashMap<String, VecDeque<Instant>>,
    /// Per container: a restart was made and has not been followed by trouble yet.
    restarted: HashSet<String>,
    escalated: HashSet<i64>,
}

impl AlertWatcher {
    pub fn new(threshold: usize, window: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            window,
            failures: HashMap::new(),
            restarted: HashSet::new(),
            escalated: HashSet::new(),
        }
    }

    /// New `[alerts]` limits (the settings changed): the failures seen so far are kept.
    pub fn set_limits(&mut self, threshold: usize, window: Duration) {
        self.threshold = threshold.max(1);
        self.window = window;
    }

    /// Feeds one event; returns the incident to escalate and why, at most once per incident.
    pub fn on_event(&mut self, e: &EventRow, now: Instant) -> Option<(i64, Trigger)> {
        let container = e.container_name.clone()?;
        let trigger = match Event::parse(&e.event)? {
            Event::HealingFailed => Some(Trigger::HealingFailed),
            Event::RestartLoop => Some(Trigger::RestartLoop),
            Event::ContainerOomKilled => Some(Trigger::OomKilled),
            Event::ContainerRestarted | Event::ContainerRecreated | Event::ContainerRebuilt => {
                self.restarted.insert(container.clone());
                None
            }
            Event::ContainerHealthy => {
                self.restarted.remove(&container);
                None
            }
            Event::HealActionFailed => self.failed(&container, now),
            Event::ContainerUnhealthy | Event::ContainerDied
                if self.restarted.remove(&container) =>
            {
                self.failed(&container, now)
            }
            _ => None,
        }?;
        let incident = e.incident_id?;
        self.escalated
            .insert(incident)
            .then_some((incident, trigger))
    }

    /// A matching log line: escalates the container's open incident, if any, once.
    pub fn on_log_match(
        &mut self,
        open_incident: Option<i64>,
        pattern: &str,
    ) -> Option<(i64, Trigger)> {
        let incident = open_incident?;
        self.escalated
            .insert(incident)
            .then(|| (incident, Trigger::LogPattern(pattern.to_string())))
    }

    fn failed(&mut self, container: &str, now: Instant) -> Option<Trigger> {
        let q = self.failures.entry(container.to_string()).or_default();
        q.push_back(now);
        while q
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.window)
        {
            q.pop_front();
        }
        (q.len() >= self.threshold).then_some(Trigger::RepeatedFailures(q.len()))
    }
}

/// Runs the alert watcher on the engine's event bus until the bus closes.
/// Escalations are sent on `bus` too, for the notifications. `live`: the settings, whose
/// `[alerts]`, `[diagnosis]` and `[escalation]` are used as they change.
pub async fn run(
    mut live: watch::Receiver<Settings>,
    data: DataDir,
    mut events: broadcast::Receiver<EventRow>,
    bus: broadcast::Sender<EventRow>,
    status: watch::Receiver<crate::engine::StatusView>,
) {
    let mut settings = live.borrow_and_update().clone();
    let mut watcher = AlertWatcher::new(
        settings.alerts.failure_threshold as usize,
        Duration::from_secs(settings.alerts.window_minutes * 60),
    );
    let (match_tx, mut matches) = tokio::sync::mpsc::channel::<LogMatch>(64);
    let follower = tokio::spawn(watch_logs(
        live.clone(),
        Duration::from_secs(settings.monitoring.interval_seconds),
        settings.monitoring.concurrency,
        status,
        match_tx,
    ));
    let _stop_follower = AbortOnDrop(follower);
    let mut following = true;
    let logs = data.logs_dir();
    loop {
        let e = tokio::select! {
            Ok(()) = live.changed() => {
                settings = live.borrow_and_update().clone();
                watcher.set_limits(
                    settings.alerts.failure_threshold as usize,
                    Duration::from_secs(settings.alerts.window_minutes * 60),
                );
                continue;
            }
            m = matches.recv(), if following => {
                if m.is_none() {
                    following = false;
                }
                if let Some(m) = m {
                    let open = Store::open(&data.database_file())
                        .and_then(|s| s.open_incidents())
                        .ok()
                        .and_then(|list| list.into_iter().find(|i| i.container == m.container))
                        .map(|i| i.id);
                    note(
                        &logs,
                        "alert_watcher.log",
                        "log_pattern",
                        &format!(
                            "container:{} pattern:{} line:{}",
                            m.container, m.pattern, m.line
                        ),
                    );
                    if let Some((incident, trigger)) = watcher.on_log_match(open, &m.pattern) {
                        escalate_now(&settings, &data, &bus, incident, &m.container, &trigger, &m.line).await;
                    }
                }
                continue;
            }
            e = events.recv() => e,
        };
        let e = match e {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("the alert watcher missed {n} events (too many at once)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let ("container_healthy", Some(incident)) = (e.event.as_str(), e.incident_id) {
            match escalate::follow_up(&data, incident) {
                Ok(Some(commits)) => note(
                    &logs,
                    "alert_watcher.log",
                    "resolved",
                    &format!(
                        "incident:{incident} container:{} commits:{}",
                        e.container_name.as_deref().unwrap_or(""),
                        commits.len()
                    ),
                ),
                Ok(None) => {}
                Err(err) => tracing::warn!("cannot follow up incident {incident}: {err}"),
            }
        }
        let Some((incident, trigger)) = watcher.on_event(&e, Instant::now()) else {
            continue;
        };
        let container = e.container_name.clone().unwrap_or_default();
        escalate_now(
            &settings, &data, &bus, incident, &container, &trigger, &e.event,
        )
        .await;
    }
}

/// Escalates `incident`: the alert files, then the incident's folder (and the terminal with
/// `auto_launch`); the `escalated` event goes on `bus`.
async fn escalate_now(
    settings: &Settings,
    data: &DataDir,
    bus: &broadcast::Sender<EventRow>,
    incident: i64,
    container: &str,
    trigger: &Trigger,
    what: &str,
) {
    // Escalated before (by an earlier run, or by hand): once per incident.
    let before = Store::open(&data.database_file())
        .and_then(|s| s.incident(incident))
        .ok()
        .flatten()
        .is_some_and(|i| i.escalated);
    if before {
        return;
    }
    let logs = data.logs_dir();
    note(
        &logs,
        "alert_watcher.log",
        "escalating",
        &format!(
            "incident:{incident} container:{container} trigger:{} event:{what}",
            trigger.as_str(),
        ),
    );
    append(
        &logs,
        "critical_alerts.log",
        &critical_entry(data, incident, container, trigger),
    );
    match escalate::prepare_and_hand_over(settings, data, incident, settings.escalation.auto_launch)
        .await
    {
        Ok(inv) => {
            note(
                &logs,
                "alert_watcher.log",
                "escalated",
                &format!(
                    "incident:{incident} how:{}{}",
                    inv.how,
                    inv.problem
                        .map(|p| format!(" problem:{p}"))
                        .unwrap_or_default()
                ),
            );
            let _ = bus.send(inv.event);
        }
        Err(err) => {
            tracing::error!("cannot escalate incident {incident}: {err}");
            note(
                &logs,
                "alert_watcher.log",
                "escalation",
                &format!("of incident:{incident} failed: {err}"),
            );
        }
    }
}

/// A line of a container's own log that matched an `[alerts] pattern`.
#[derive(Debug)]
struct LogMatch {
    container: String,
    pattern: String,
    /// Redacted against the container's secrets and capped.
    line: String,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn patterns(settings: &Settings) -> Vec<(String, regex::Regex)> {
    // Validated when the configuration was loaded.
    settings
        .alerts
        .patterns
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok().map(|r| (p.clone(), r)))
        .collect()
}

/// Log lines read of one container at most per look (its last ones, when it wrote more).
const LINES_PER_LOOK: usize = 1000;

/// Where the reading of one container's log stands.
struct LogCursor {
    /// Docker's stamp of the last line read (at first, when it was first seen running).
    after: std::time::SystemTime,
    reported: Option<Instant>,
}

/// Reads the new log lines of every running watched container (as the engine's status lists
/// them) every `every`, at most `concurrency` containers at a time, and reports lines matching
/// a pattern, at most one per container every 10 s. A container is read from when it was
/// first seen running. Looking costs a short request per container, where following each log kept
/// a connection (and its buffers) open per container: about 16 MB at 500 containers.
async fn watch_logs(
    mut live: watch::Receiver<Settings>,
    every: Duration,
    concurrency: usize,
    mut status: watch::Receiver<crate::engine::StatusView>,
    tx: tokio::sync::mpsc::Sender<LogMatch>,
) {
    use futures_util::StreamExt;
    let mut patterns = patterns(&live.borrow_and_update());
    let mut read: HashMap<String, LogCursor> = HashMap::new();
    let mut docker: Option<crate::docker::Docker> = None;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let is_running =
        |c: &&crate::engine::ContainerView| c.state == crate::domain::model::RunState::Running;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = status.changed() => {
                if changed.is_err() {
                    return;
                }
                // A container seen running for the first time is read from then on: what it
                // wrote before is not news.
                let now = std::time::SystemTime::now();
                for c in status.borrow_and_update().containers.iter().filter(is_running) {
                    read.entry(c.id.clone()).or_insert(LogCursor {
                        after: now,
                        reported: None,
                    });
                }
                continue;
            }
        }
        if live.has_changed().unwrap_or(false) {
            let none_before = patterns.is_empty();
            patterns = self::patterns(&live.borrow_and_update());
            if none_before {
                // Patterns set while it runs: what the logs said before is not news.
                let now = std::time::SystemTime::now();
                for cursor in read.values_mut() {
                    cursor.after = now;
                }
            }
        }
        let running: HashMap<String, String> = status
            .borrow()
            .containers
            .iter()
            .filter(is_running)
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect();
        read.retain(|id, _| running.contains_key(id));
        if read.is_empty() || patterns.is_empty() {
            continue;
        }
        if docker.is_none() {
            docker = crate::docker::Docker::connect().await.ok();
        }
        let Some(d) = docker.clone() else {
            continue;
        };
        let looks: Vec<(String, String, std::time::SystemTime)> = read
            .iter()
            .filter_map(|(id, c)| Some((id.clone(), running.get(id)?.clone(), c.after)))
            .collect();
        let results: Vec<_> = futures_util::stream::iter(looks)
            .map(|(id, name, after)| {
                let d = d.clone();
                async move {
                    let cid = crate::domain::model::ContainerId(id.clone());
                    let lines = d.logs_since(&cid, after, LINES_PER_LOOK).await;
                    (id, name, after, lines)
                }
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        for (id, name, after, lines) in results {
            let lines = match lines {
                Ok(l) => l,
                Err(e) if e.is_unreachable() => {
                    docker = None;
                    continue;
                }
                Err(_) => continue,
            };
            let Some(cursor) = read.get_mut(&id) else {
                continue;
            };
            let new: Vec<&(std::time::SystemTime, String)> =
                lines.iter().filter(|(at, _)| *at > after).collect();
            if let Some((last, _)) = new.last() {
                cursor.after = *last;
            }
            if cursor
                .reported
                .is_some_and(|t| t.elapsed() < Duration::from_secs(10))
            {
                continue;
            }
            let found = new.iter().find_map(|(_, line)| {
                let (pattern, _) = patterns.iter().find(|(_, r)| r.is_match(line))?;
                Some((pattern.clone(), line.clone()))
            });
            let Some((pattern, line)) = found else {
                continue;
            };
            cursor.reported = Some(Instant::now());
            // The container's secrets, read only when there is a line to tell.
            let cid = crate::domain::model::ContainerId(id.clone());
            let Ok(info) = d.inspect(&cid).await else {
                continue;
            };
            let redactor = crate::domain::redact::Redactor::from_env(&info.env);
            let m = LogMatch {
                container: name,
                pattern,
                line: crate::domain::redact::cap(&redactor.redact(&line), 500),
            };
            if tx.send(m).await.is_err() {
                return;
            }
        }
    }
}

/// The timeline of a critical issue with the pattern analysis over the history: a line in
/// the log files' form, then one indented line per event and per pattern found, each with its
/// control characters written visibly.
fn critical_entry(data: &DataDir, incident: i64, container: &str, trigger: &Trigger) -> String {
    let mut text = logfile::format_line(
        &clock::log_stamp(),
        "CRITICAL",
        &format!(
            "incident:{incident} container:{container} trigger:{}",
            trigger.as_str()
        ),
    );
    text.push('\n');
    let Ok(store) = Store::open(&data.database_file()) else {
        return text;
    };
    let mut indented = |line: String| {
        text.push_str("  ");
        text.push_str(&escape::line(&line));
        text.push('\n');
    };
    if let Ok(events) = store.events(Some(incident)) {
        for e in events {
            indented(format!("{} {} {}", e.timestamp, e.event, e.details));
        }
    }
    let windows = patterns::Windows::ending_at(std::time::SystemTime::now());
    let history = store.pattern_history(container, &windows);
    for line in history.map(|h| patterns::analyse(&h)).unwrap_or_default() {
        indented(format!("pattern: {line}"));
    }
    text
}

/// Appends one line in the log files' form (`[time] event fields`) to `logs/<file>`.
fn note(logs: &Path, file: &str, event: &str, fields: &str) {
    let mut line = logfile::format_line(&clock::log_stamp(), event, fields);
    line.push('\n');
    append(logs, file, &line);
}

/// Appends `text`, whole lines already made safe, to `logs/<file>`.
fn append(dir: &Path, file: &str, line: &str) {
    use std::io::Write;
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(file))
            .and_then(|mut f| f.write_all(line.as_bytes()))
    });
    if let Err(e) = written {
        tracing::warn!("cannot write logs/{file}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{IncidentKind, IncidentStatus};

    /// A data folder of its own with one open incident of `web` and one event on it.
    fn data_with_incident() -> (tempfile::TempDir, DataDir, i64) {
        let tmp = tempfile::tempdir().unwrap();
        let data = DataDir::new(tmp.path());
        let store = Store::open(&data.database_file()).unwrap();
        let id = store
            .open_incident(
                "2025-11-20T10:30:00Z",
                "web",
                "abc",
                IncidentKind::Crashed,
                IncidentStatus::HealingFailed,
                "exit_code:3",
            )
            .unwrap();
        store
            .insert_event(
                "2025-11-20T10:30:00Z",
                "container_died",
                Some("web"),
                Some(id),
                "container:web exit_code:3",
            )
            .unwrap();
        (tmp, data, id)
    }

    #[test]
    fn the_critical_entry_tells_the_incidents_timeline_from_the_history_it_is_given() {
        let (_tmp, data, id) = data_with_incident();
        let text = critical_entry(&data, id, "web", &Trigger::HealingFailed);
        assert!(text.contains("CRITICAL"), "{text}");
        assert!(
            text.contains("  2025-11-20T10:30:00Z container_died container:web exit_code:3\n"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_incident_escalated_before_is_not_escalated_again() {
        let (_tmp, data, id) = data_with_incident();
        Store::open(&data.database_file())
            .unwrap()
            .mark_escalated(id, "2025-11-20T10:31:00Z", "terminal:xterm")
            .unwrap();
        let (bus, mut heard) = broadcast::channel(4);
        let settings = Settings::default();
        escalate_now(
            &settings,
            &data,
            &bus,
            id,
            "web",
            &Trigger::HealingFailed,
            "x",
        )
        .await;
        assert!(heard.try_recv().is_err(), "an escalated event went out");
        assert!(!data.logs_dir().join("alert_watcher.log").exists());
        assert!(!data.logs_dir().join("critical_alerts.log").exists());
    }

    fn ev(event: &str, incident: Option<i64>) -> EventRow {
        EventRow {
            id: 0,
            timestamp: String::new(),
            event: event.into(),
            container_name: Some("web".into()),
            incident_id: incident,
            details: String::new(),
        }
    }

    #[test]
    fn healing_failed_escalates_once_per_incident() {
        let mut w = AlertWatcher::new(2, Duration::from_secs(900));
        let t = Instant::now();
        assert_eq!(
            w.on_event(&ev("healing_failed", Some(7)), t),
            Some((7, Trigger::HealingFailed))
        );
        assert_eq!(w.on_event(&ev("healing_failed", Some(7)), t), None);
        assert_eq!(
            w.on_event(&ev("container_oom_killed", Some(8)), t),
            Some((8, Trigger::OomKilled))
        );
    }

    #[test]
    fn failed_heals_count_up_to_the_threshold_within_the_window() {
        let mut w = AlertWatcher::new(2, Duration::from_secs(60));
        let t = Instant::now();
        // A restart that held: no failure.
        w.on_event(&ev("container_restarted", Some(1)), t);
        assert_eq!(w.on_event(&ev("container_healthy", Some(1)), t), None);
        assert_eq!(w.on_event(&ev("container_unhealthy", Some(2)), t), None);
        // Two restarts that did not hold.
        w.on_event(&ev("container_restarted", Some(2)), t);
        assert_eq!(w.on_event(&ev("container_unhealthy", Some(2)), t), None);
        w.on_event(
            &ev("container_restarted", Some(2)),
            t + Duration::from_secs(10),
        );
        assert_eq!(
            w.on_event(
                &ev("container_unhealthy", Some(2)),
                t + Duration::from_secs(20)
            ),
            Some((2, Trigger::RepeatedFailures(2)))
        );
    }

    #[test]
    fn old_failures_leave_the_window() {
        let mut w = AlertWatcher::new(2, Duration::from_secs(60));
        let t = Instant::now();
        assert_eq!(w.on_event(&ev("heal_action_failed", Some(3)), t), None);
        assert_eq!(
            w.on_event(
                &ev("heal_action_failed", Some(3)),
                t + Duration::from_secs(120)
            ),
            None
        );
        assert_eq!(
            w.on_event(&ev("container_died", Some(3)), t),
            None,
            "no restart before it"
        );
    }
}
