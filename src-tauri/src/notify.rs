//! Notifications of what needs a person: a new incident, a failed heal, an escalation (and,
//! if asked, a successful heal). [`Coalescer`] is the pure part, shared by every channel: what
//! arrives within a few seconds goes out as one message, and a flapping container does not
//! notify again for the same thing within the quiet period. [`run_webhook`] posts the messages
//! to `[notify] webhook_url` as plain JSON, ntfy or Slack-compatible JSON.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::config::{Notify, Settings, WebhookFormat};
use crate::domain::event::Event;
use crate::domain::words::{self, Told};
use crate::storage::store::EventRow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Incident,
    HealFailed,
    Escalated,
    Healed,
}

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    pub kind: Kind,
    pub container: String,
    pub incident_id: Option<i64>,
    pub event: String,
    pub details: String,
    pub timestamp: String,
    /// Restarts Sickbay made in the incident so far.
    pub restarts: u32,
    /// A recovery: how long the incident lasted, in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lasted_seconds: Option<u64>,
}

impl Note {
    /// The note in words (`domain::words`).
    fn told(&self) -> Told<'_> {
        Told {
            container: &self.container,
            event: Event::parse(&self.event).unwrap_or(Event::ContainerUnhealthy),
            details: &self.details,
            incident: self.incident_id,
            restarts: self.restarts,
            lasted: self.lasted_seconds.map(Duration::from_secs),
        }
    }
}

/// What the coalescer knows of an incident it saw open.
#[derive(Debug, Clone)]
struct Seen {
    opened: Option<SystemTime>,
    restarts: u32,
    /// A failure of it was told: its recovery is told too.
    told: bool,
}

/// What goes out at once.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    pub title: String,
    pub text: String,
    pub notes: Vec<Note>,
    /// A failure is among the notes (Investigate makes sense).
    pub failure: bool,
}

impl Message {
    /// The incident an "Investigate" action opens: the first failure's.
    pub fn incident_to_investigate(&self) -> Option<i64> {
        self.notes
            .iter()
            .filter(|n| n.kind != Kind::Healed)
            .find_map(|n| n.incident_id)
    }

    /// The containers a "Snooze 1 h" action leaves alone: those whose failures it tells.
    pub fn failing_containers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .notes
            .iter()
            .filter(|n| n.kind != Kind::Healed)
            .map(|n| n.container.clone())
            .collect();
        names.dedup();
        names
    }
}

pub struct Coalescer {
    window: Duration,
    quiet: Duration,
    on_heal: bool,
    pending: Vec<Note>,
    first_at: Option<Instant>,
    last_sent: HashMap<(String, Kind), Instant>,
    incidents: HashMap<i64, Seen>,
}

impl Coalescer {
    pub fn new(window: Duration, quiet: Duration, on_heal: bool) -> Self {
        Self {
            window,
            quiet,
            on_heal,
            pending: Vec::new(),
            first_at: None,
            last_sent: HashMap::new(),
            incidents: HashMap::new(),
        }
    }

    /// New timings (the settings changed); what is pending and what was told are kept.
    pub fn set(&mut self, window: Duration, quiet: Duration, on_heal: bool) {
        self.window = window;
        self.quiet = quiet;
        self.on_heal = on_heal;
    }

    pub fn push(&mut self, e: &EventRow, now: Instant) {
        let Some(container) = e.container_name.clone() else {
            return;
        };
        let Some(event) = Event::parse(&e.event) else {
            return;
        };
        let mut restarts = 0;
        let mut lasted = None;
        let kind = match (event, e.incident_id) {
            (Event::RestartingContainer, Some(id)) => {
                if let Some(s) = self.incidents.get_mut(&id) {
                    s.restarts += 1;
                }
                return;
            }
            (Event::HealingFailed, id) => {
                restarts = id
                    .and_then(|i| self.incidents.get(&i))
                    .map_or(0, |s| s.restarts);
                Kind::HealFailed
            }
            (Event::Escalated, _) => Kind::Escalated,
            (Event::ContainerHealthy, Some(id)) => {
                let seen = self.incidents.remove(&id).unwrap_or(Seen {
                    opened: None,
                    restarts: 0,
                    told: false,
                });
                // A failure told is followed by its recovery, once; others only if asked.
                if !seen.told && !self.on_heal {
                    return;
                }
                restarts = seen.restarts;
                lasted = seen
                    .opened
                    .zip(crate::clock::parse(&e.timestamp))
                    .and_then(|(o, h)| h.duration_since(o).ok())
                    .map(|d| d.as_secs());
                // Not held back by an earlier recovery's quiet period.
                self.last_sent.remove(&(container.clone(), Kind::Healed));
                Kind::Healed
            }
            // The events that open an incident (its first event).
            (ev, Some(id)) if ev.is_failure() => {
                if self.incidents.contains_key(&id) {
                    return; // the same incident again
                }
                self.incidents.insert(
                    id,
                    Seen {
                        opened: crate::clock::parse(&e.timestamp),
                        restarts: 0,
                        told: false,
                    },
                );
                Kind::Incident
            }
            _ => return,
        };
        // A flapping container: the same news about it once per quiet period.
        let key = (container.clone(), kind);
        if self
            .last_sent
            .get(&key)
            .is_some_and(|t| now.duration_since(*t) < self.quiet)
        {
            return;
        }
        self.last_sent.insert(key, now);
        self.first_at.get_or_insert(now);
        if kind == Kind::Incident {
            if let Some(s) = e.incident_id.and_then(|i| self.incidents.get_mut(&i)) {
                s.told = true;
            }
        }
        self.pending.push(Note {
            kind,
            container,
            incident_id: e.incident_id,
            event: e.event.clone(),
            details: e.details.clone(),
            timestamp: e.timestamp.clone(),
            restarts,
            lasted_seconds: lasted,
        });
    }

    /// When the pending notes are due.
    pub fn due(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.window)
    }

    /// The pending notes as one message, once the window has passed: the failures first, and
    /// the recoveries as a message of their own (due at once after it).
    pub fn flush(&mut self, now: Instant) -> Option<Message> {
        if self.due().is_none_or(|d| now < d) {
            return None;
        }
        let failing = self.pending.iter().any(|n| n.kind != Kind::Healed);
        let (notes, rest): (Vec<Note>, Vec<Note>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|n| (n.kind != Kind::Healed) == failing);
        self.pending = rest;
        if self.pending.is_empty() {
            self.first_at = None;
        }
        let mut names: Vec<&str> = notes.iter().map(|n| n.container.as_str()).collect();
        names.dedup();
        let title = match (notes.as_slice(), failing) {
            ([], _) => return None,
            ([n], _) => words::headline(&n.told()),
            (_, true) => format!(
                "{} containers need attention: {}",
                names.len(),
                names.join(", ")
            ),
            (_, false) => format!(
                "{} containers are healthy again: {}",
                names.len(),
                names.join(", ")
            ),
        };
        let text = notes
            .iter()
            .map(|n| words::sentence(&n.told()))
            .collect::<Vec<_>>()
            .join("\n");
        Some(Message {
            title: format!("Sickbay: {title}"),
            text,
            notes,
            failure: failing,
        })
    }
}

/// The request body and headers a webhook of `format` accepts.
pub fn webhook_payload(
    format: WebhookFormat,
    m: &Message,
    host: &str,
) -> (String, Vec<(&'static str, String)>) {
    match format {
        WebhookFormat::Json => (
            serde_json::json!({
                "source": "sickbay",
                "host": host,
                "title": m.title,
                "text": m.text,
                "failure": m.failure,
                "notes": m.notes,
            })
            .to_string(),
            vec![("content-type", "application/json".into())],
        ),
        WebhookFormat::Slack => (
            serde_json::json!({ "text": format!("*{}*\n{}", m.title, m.text) }).to_string(),
            vec![("content-type", "application/json".into())],
        ),
        WebhookFormat::Ntfy => (
            m.text.clone(),
            vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("title", m.title.clone()),
                (
                    "priority",
                    if m.failure { "high" } else { "default" }.into(),
                ),
                (
                    "tags",
                    if m.failure {
                        "rotating_light"
                    } else {
                        "white_check_mark"
                    }
                    .into(),
                ),
            ],
        ),
    }
}

/// Coalesces the engine's events into [`Message`]s and hands each to `send` with the
/// `[notify]` settings in force, until the bus closes. Every channel (webhook, desktop) runs
/// on this; new settings (`config::live`) apply from the next event.
pub async fn coalesce<F, Fut>(
    mut live: watch::Receiver<Settings>,
    mut events: broadcast::Receiver<EventRow>,
    mut send: F,
) where
    F: FnMut(Notify, Message) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let timings = |n: &Notify| {
        (
            Duration::from_secs(n.coalesce_seconds),
            Duration::from_secs(n.quiet_minutes * 60),
            n.on_heal,
        )
    };
    let mut settings = live.borrow_and_update().notify.clone();
    let (window, quiet, on_heal) = timings(&settings);
    let mut c = Coalescer::new(window, quiet, on_heal);
    loop {
        let due = c.due();
        let event = tokio::select! {
            e = events.recv() => Some(e),
            _ = sleep_until(due) => None,
        };
        if live.has_changed().unwrap_or(false) {
            settings = live.borrow_and_update().notify.clone();
            let (window, quiet, on_heal) = timings(&settings);
            c.set(window, quiet, on_heal);
        }
        match event {
            Some(Ok(e)) => c.push(&e, Instant::now()),
            Some(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!("notifications missed {n} events");
            }
            Some(Err(broadcast::error::RecvError::Closed)) => return,
            None => {}
        }
        if let Some(m) = c.flush(Instant::now()) {
            send(settings.clone(), m).await;
        }
    }
}

/// Posts the coalesced notifications of the engine's events to the webhook until the bus
/// closes. Failures are logged, never fatal.
pub async fn run_webhook(live: watch::Receiver<Settings>, events: broadcast::Receiver<EventRow>) {
    let host = gethostname::gethostname().to_string_lossy().into_owned();
    // Made at the first message to post (most setups have no webhook).
    let mut client: Option<reqwest::Client> = None;
    coalesce(live, events, |settings, m| {
        let url = settings.webhook_url.trim().to_string();
        // The path of a Slack, Discord or ntfy URL is the secret: messages show it masked.
        let shown = crate::domain::redact::mask(&url);
        let req = if url.is_empty() {
            None
        } else {
            if client.is_none() {
                client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| tracing::error!("no webhook notifications: {e}"))
                    .ok();
            }
            client.as_ref().map(|c| {
                let (body, headers) = webhook_payload(settings.webhook_format, &m, &host);
                headers
                    .into_iter()
                    .fold(c.post(&url).body(body), |r, (k, v)| r.header(k, v))
            })
        };
        async move {
            let Some(req) = req else {
                return;
            };
            match req.send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(
                    "the webhook {shown} answered {} to a notification",
                    r.status()
                ),
                Err(e) => tracing::warn!(
                    "cannot post a notification to the webhook {shown}: {}",
                    crate::domain::redact::mask_urls(&e.to_string())
                ),
            }
        }
    })
    .await
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: &str, container: &str, incident: Option<i64>) -> EventRow {
        EventRow {
            id: 0,
            timestamp: "2026-01-01T00:00:00.000Z".into(),
            event: event.into(),
            container_name: Some(container.into()),
            incident_id: incident,
            details: format!("container:{container}"),
        }
    }

    #[test]
    fn containers_failing_together_make_one_message() {
        let mut c = Coalescer::new(Duration::from_secs(3), Duration::from_secs(600), false);
        let t = Instant::now();
        c.push(&ev("container_unhealthy", "web", Some(1)), t);
        c.push(
            &ev("container_died", "db", Some(2)),
            t + Duration::from_secs(1),
        );
        c.push(
            &ev("container_unhealthy", "web", Some(1)),
            t + Duration::from_secs(1),
        );
        assert_eq!(c.flush(t + Duration::from_secs(2)), None, "not yet due");
        let m = c.flush(t + Duration::from_secs(3)).expect("one message");
        assert_eq!(m.notes.len(), 2);
        assert_eq!(m.title, "Sickbay: 2 containers need attention: web, db");
        assert_eq!(
            m.text,
            "web is unhealthy. Sickbay is restarting it. (incident 1)\n\
             db crashed (exit code ?). Sickbay is starting it again. (incident 2)"
        );
        assert!(m.failure);
        assert_eq!(c.flush(t + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_flapping_container_notifies_once_per_quiet_period() {
        let mut c = Coalescer::new(Duration::from_secs(1), Duration::from_secs(600), false);
        let t = Instant::now();
        for (i, at) in [0u64, 30, 60, 90].iter().enumerate() {
            let now = t + Duration::from_secs(*at);
            c.push(&ev("container_unhealthy", "web", Some(i as i64 + 1)), now);
            c.push(&ev("container_healthy", "web", Some(i as i64 + 1)), now);
        }
        let first = c.flush(t + Duration::from_secs(1)).expect("the first flap");
        assert_eq!(first.notes.len(), 1);
        let recovered = c.flush(t + Duration::from_secs(1)).expect("its recovery");
        assert_eq!(recovered.notes.len(), 1);
        assert!(!recovered.failure);
        assert_eq!(
            c.flush(t + Duration::from_secs(200)),
            None,
            "later flaps stay quiet, and so do their recoveries"
        );
        c.push(
            &ev("container_unhealthy", "web", Some(9)),
            t + Duration::from_secs(700),
        );
        assert!(
            c.flush(t + Duration::from_secs(701)).is_some(),
            "after the quiet period"
        );
    }

    #[test]
    fn investigate_opens_the_first_failures_incident_and_a_heal_has_none() {
        let t = Instant::now();
        let mut c = Coalescer::new(Duration::ZERO, Duration::ZERO, true);
        c.push(&ev("container_unhealthy", "web", Some(4)), t);
        c.push(&ev("container_died", "db", Some(5)), t);
        let m = c.flush(t).expect("a message");
        assert!(m.failure);
        assert_eq!(m.incident_to_investigate(), Some(4));
        c.push(&ev("container_healthy", "web", Some(4)), t);
        let m = c.flush(t).expect("a message");
        assert!(!m.failure);
        assert_eq!(m.incident_to_investigate(), None);
    }

    #[test]
    fn heals_are_told_only_when_asked() {
        let t = Instant::now();
        let mut quiet = Coalescer::new(Duration::ZERO, Duration::ZERO, false);
        quiet.push(&ev("container_healthy", "web", Some(1)), t);
        assert_eq!(quiet.flush(t), None);
        let mut told = Coalescer::new(Duration::ZERO, Duration::ZERO, true);
        told.push(&ev("container_healthy", "web", Some(1)), t);
        let m = told.flush(t).expect("a heal");
        assert_eq!(m.title, "Sickbay: web is healthy again");
        assert!(!m.failure);
    }

    #[test]
    fn a_told_failure_is_followed_by_its_recovery_once_in_a_message_of_its_own() {
        let t = Instant::now();
        let at = |secs: u64, mut e: EventRow| {
            e.timestamp = crate::clock::utc(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
            );
            e
        };
        // Heals are not asked for: a recovery is told because its failure was.
        let mut c = Coalescer::new(Duration::from_secs(3), Duration::from_secs(600), false);
        c.push(&at(0, ev("container_unhealthy", "web", Some(1))), t);
        c.push(&at(1, ev("restarting_container", "web", Some(1))), t);
        c.push(&at(30, ev("restarting_container", "web", Some(1))), t);
        c.push(&at(185, ev("container_healthy", "web", Some(1))), t);
        c.push(&at(185, ev("container_died", "db", Some(2))), t);
        let failure = c
            .flush(t + Duration::from_secs(3))
            .expect("the failures first");
        assert!(failure.failure);
        assert_eq!(failure.notes.len(), 2, "{failure:?}");
        let recovery = c
            .flush(t + Duration::from_secs(3))
            .expect("then the recovery");
        assert!(!recovery.failure);
        assert_eq!(recovery.title, "Sickbay: web is healthy again");
        assert_eq!(
            recovery.text,
            "web is healthy again after 2 restarts, 3 min. (incident 1)"
        );
        assert_eq!(c.flush(t + Duration::from_secs(10)), None, "once");
    }

    #[test]
    fn each_webhook_format_has_its_shape() {
        let mut c = Coalescer::new(Duration::ZERO, Duration::ZERO, false);
        let t = Instant::now();
        c.push(&ev("healing_failed", "web", Some(4)), t);
        let m = c.flush(t).unwrap();
        let (body, headers) = webhook_payload(WebhookFormat::Slack, &m, "box");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(v["text"]
            .as_str()
            .unwrap()
            .contains("web is still failing. Sickbay has stopped trying; Investigate opens"));
        assert_eq!(headers[0].1, "application/json");
        let (body, headers) = webhook_payload(WebhookFormat::Ntfy, &m, "box");
        assert!(body.starts_with("web is still failing"), "{body}");
        assert!(body.ends_with("(incident 4)"), "{body}");
        assert!(headers.contains(&("title", "Sickbay: web is still failing".to_string())));
        assert!(headers.contains(&("priority", "high".to_string())));
        let (body, _) = webhook_payload(WebhookFormat::Json, &m, "box");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["host"], "box");
        assert_eq!(v["notes"][0]["kind"], "heal_failed");
        assert_eq!(v["notes"][0]["incident_id"], 4);
    }
}
