//! The alert watcher: reads the engine's events and decides when healing has not fixed
//! something, so a person and an agent must look: a `healing_failed`, a restart loop, an OOM
//! kill, or `[alerts] failure_threshold` failed heals of one container within the window. One
//! escalation per incident. The decision is pure ([`AlertWatcher`]); [`run`] writes
//! `logs/alert_watcher.log` and `logs/critical_alerts.log` and escalates.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use crate::config::Settings;
use crate::store::{EventRow, Store};
use crate::{clock, escalate, paths};

/// Why an incident is escalated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    HealingFailed,
    RestartLoop,
    OomKilled,
    /// This many failed heals of the container within the window.
    RepeatedFailures(usize),
}

impl Trigger {
    pub fn as_str(&self) -> String {
        match self {
            Trigger::HealingFailed => "healing_failed".into(),
            Trigger::RestartLoop => "restart_loop".into(),
            Trigger::OomKilled => "oom_killed".into(),
            Trigger::RepeatedFailures(n) => format!("failed_heals:{n}"),
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

    /// Feeds one event; returns the incident to escalate and why, at most once per incident.
    pub fn on_event(&mut self, e: &EventRow, now: Instant) -> Option<(i64, Trigger)> {
        let container = e.container_name.clone()?;
        let trigger = match e.event.as_str() {
            "healing_failed" => Some(Trigger::HealingFailed),
            "restart_loop" => Some(Trigger::RestartLoop),
            "container_oom_killed" => Some(Trigger::OomKilled),
            "container_restarted" => {
                self.restarted.insert(container.clone());
                None
            }
            "container_healthy" => {
                self.restarted.remove(&container);
                None
            }
            "heal_action_failed" => self.failed(&container, now),
            "container_unhealthy" | "container_died" if self.restarted.remove(&container) => {
                self.failed(&container, now)
            }
            _ => None,
        }?;
        let incident = e.incident_id?;
        self.escalated
            .insert(incident)
            .then_some((incident, trigger))
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
/// Escalations are sent on `bus` too, for the notifications.
pub async fn run(
    settings: Settings,
    mut events: broadcast::Receiver<EventRow>,
    bus: broadcast::Sender<EventRow>,
) {
    let mut watcher = AlertWatcher::new(
        settings.alerts.failure_threshold as usize,
        Duration::from_secs(settings.alerts.window_minutes * 60),
    );
    loop {
        let e = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!("the alert watcher missed {n} events (too many at once)");
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if let ("container_healthy", Some(incident)) = (e.event.as_str(), e.incident_id) {
            match escalate::follow_up(incident) {
                Ok(Some(commits)) => note(
                    "alert_watcher.log",
                    &format!(
                        "[{}] resolved incident:{incident} container:{} commits:{}\n",
                        clock::log_stamp(),
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
        note(
            "alert_watcher.log",
            &format!(
                "[{}] escalating incident:{incident} container:{container} trigger:{} event:{}\n",
                clock::log_stamp(),
                trigger.as_str(),
                e.event
            ),
        );
        note(
            "critical_alerts.log",
            &critical_entry(incident, &container, &trigger),
        );
        match escalate::prepare_and_hand_over(&settings, incident, settings.escalation.auto_launch)
            .await
        {
            Ok(inv) => {
                note(
                    "alert_watcher.log",
                    &format!(
                        "[{}] escalated incident:{incident} how:{}{}\n",
                        clock::log_stamp(),
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
                    "alert_watcher.log",
                    &format!(
                        "[{}] escalation of incident:{incident} failed: {err}\n",
                        clock::log_stamp()
                    ),
                );
            }
        }
    }
}

/// The timeline of a critical issue with the pattern analysis over the history.
fn critical_entry(incident: i64, container: &str, trigger: &Trigger) -> String {
    let mut text = format!(
        "[{}] CRITICAL incident:{incident} container:{container} trigger:{}\n",
        clock::log_stamp(),
        trigger.as_str()
    );
    let Ok(store) = Store::open(&paths::database_file()) else {
        return text;
    };
    if let Ok(events) = store.events(Some(incident)) {
        for e in events {
            text.push_str(&format!("  {} {} {}\n", e.timestamp, e.event, e.details));
        }
    }
    for line in store.patterns(container).unwrap_or_default() {
        text.push_str(&format!("  pattern: {line}\n"));
    }
    text
}

fn note(file: &str, line: &str) {
    use std::io::Write;
    let dir = paths::logs_dir();
    let _ = std::fs::create_dir_all(&dir);
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(file))
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        tracing::warn!("cannot write logs/{file}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
