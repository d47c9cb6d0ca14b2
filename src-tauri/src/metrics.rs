//! Prometheus metrics (`[metrics] listen`): what the engine did, counted from its event bus
//! (every recorded event, after it is in the history) and its status, served as Prometheus's
//! text format on `GET /metrics`. [`Counts`] is the pure part; [`serve`] the small HTTP
//! server. It decides nothing and changes nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, watch};

use crate::domain::event::{field, Event};
use crate::engine::StatusView;
use crate::storage::store::EventRow;

/// The histogram's upper bounds, in seconds.
const BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// What has been counted since the engine started.
#[derive(Debug, Default)]
pub struct Counts {
    verdicts: BTreeMap<&'static str, u64>,
    connected: bool,
    restarts: BTreeMap<(String, &'static str), u64>,
    incidents_opened: u64,
    escalated: u64,
    skipped: BTreeMap<&'static str, u64>,
    /// Open incidents: when their first failure was recorded, until their first action.
    failing_since: HashMap<i64, Option<SystemTime>>,
    latency: Vec<u64>,
    latency_sum: f64,
    latency_count: u64,
}

impl Counts {
    /// Counts one recorded event.
    pub fn push(&mut self, e: &EventRow) {
        let Some(event) = Event::parse(&e.event) else {
            return;
        };
        let container = e.container_name.clone().unwrap_or_default();
        match event {
            Event::ContainerRestarted => {
                *self.restarts.entry((container, "done")).or_default() += 1
            }
            Event::HealActionFailed if field(&e.details, "action") == Some("restart") => {
                *self.restarts.entry((container, "failed")).or_default() += 1
            }
            Event::Escalated => self.escalated += 1,
            Event::HeldForDependency => *self.skipped.entry("dependency").or_default() += 1,
            Event::OrchestrationStarted => *self.skipped.entry("orchestration").or_default() += 1,
            Event::HealingFailed if field(&e.details, "reason") == Some("restart_limit") => {
                *self.skipped.entry("limit").or_default() += 1
            }
            Event::RestartingContainer
            | Event::ClearingCache
            | Event::RecreatingContainer
            | Event::RebuildingContainer => {
                // The first action of an incident: its latency from the recorded failure.
                if let Some(since) = e.incident_id.and_then(|i| self.failing_since.get_mut(&i)) {
                    if let (Some(from), Some(to)) =
                        (since.take(), crate::clock::parse(&e.timestamp))
                    {
                        self.observe(to.duration_since(from).unwrap_or(Duration::ZERO));
                    }
                }
            }
            Event::ContainerHealthy | Event::ContainerRemoved => {
                if let Some(i) = e.incident_id {
                    self.failing_since.remove(&i);
                }
            }
            ev if ev.is_failure() => {
                if field(&e.details, "heal") == Some("snoozed") {
                    *self.skipped.entry("snoozed").or_default() += 1;
                } else if field(&e.details, "heal") == Some("maintenance") {
                    *self.skipped.entry("maintenance").or_default() += 1;
                } else if let Some(i) = e.incident_id {
                    if let std::collections::hash_map::Entry::Vacant(v) =
                        self.failing_since.entry(i)
                    {
                        self.incidents_opened += 1;
                        v.insert(crate::clock::parse(&e.timestamp));
                    } else {
                        // Still failing after an action: the next waits out its backoff.
                        *self.skipped.entry("backoff").or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }

    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        if self.latency.is_empty() {
            self.latency = vec![0; BUCKETS.len()];
        }
        for (i, bound) in BUCKETS.iter().enumerate() {
            if s <= *bound {
                self.latency[i] += 1;
            }
        }
        self.latency_sum += s;
        self.latency_count += 1;
    }

    /// The containers by verdict and the event stream's connection, from the engine's status.
    pub fn set_status(&mut self, v: &StatusView) {
        self.connected = v.docker_reachable;
        self.verdicts.clear();
        for c in &v.containers {
            let verdict = c.verdict.map_or("none", |v| v.as_str());
            *self.verdicts.entry(verdict).or_default() += 1;
        }
    }

    /// Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "sickbay_containers",
            "gauge",
            "Watched containers by verdict.",
        );
        for verdict in ["green", "yellow", "red", "grey", "none"] {
            let n = self.verdicts.get(verdict).copied().unwrap_or(0);
            let _ = writeln!(out, "sickbay_containers{{verdict=\"{verdict}\"}} {n}");
        }
        head(
            &mut out,
            "sickbay_event_stream_connected",
            "gauge",
            "1 while Sickbay is connected to Docker's event stream.",
        );
        let _ = writeln!(
            out,
            "sickbay_event_stream_connected {}",
            u8::from(self.connected)
        );
        head(
            &mut out,
            "sickbay_restarts_total",
            "counter",
            "Restarts Sickbay made, by container and result.",
        );
        for ((container, result), n) in &self.restarts {
            let _ = writeln!(
                out,
                "sickbay_restarts_total{{container=\"{}\",result=\"{result}\"}} {n}",
                label(container)
            );
        }
        head(
            &mut out,
            "sickbay_incidents_opened_total",
            "counter",
            "Incidents opened.",
        );
        let _ = writeln!(
            out,
            "sickbay_incidents_opened_total {}",
            self.incidents_opened
        );
        head(
            &mut out,
            "sickbay_incidents_escalated_total",
            "counter",
            "Incidents escalated to a person and an agent.",
        );
        let _ = writeln!(out, "sickbay_incidents_escalated_total {}", self.escalated);
        head(
            &mut out,
            "sickbay_heals_skipped_total",
            "counter",
            "Heals held back, by reason: snoozed and maintenance (a container's first failure in \
             each), backoff (still failing after an action), limit, dependency, orchestration.",
        );
        for reason in [
            "snoozed",
            "maintenance",
            "backoff",
            "limit",
            "dependency",
            "orchestration",
        ] {
            let n = self.skipped.get(reason).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "sickbay_heals_skipped_total{{reason=\"{reason}\"}} {n}"
            );
        }
        head(
            &mut out,
            "sickbay_unhealthy_to_action_seconds",
            "histogram",
            "From a failure recorded to Sickbay's first action on it.",
        );
        for (i, bound) in BUCKETS.iter().enumerate() {
            let n = self.latency.get(i).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "sickbay_unhealthy_to_action_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "sickbay_unhealthy_to_action_seconds_bucket{{le=\"+Inf\"}} {}\n\
             sickbay_unhealthy_to_action_seconds_sum {}\n\
             sickbay_unhealthy_to_action_seconds_count {}",
            self.latency_count, self.latency_sum, self.latency_count
        );
        out
    }
}

/// A label value as Prometheus's text format writes it.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Serves the metrics on `listen` until the bus closes; a port that cannot be had is said in
/// the diagnostic log, and Sickbay goes on without metrics.
pub async fn serve(
    listen: SocketAddr,
    mut events: broadcast::Receiver<EventRow>,
    mut status: watch::Receiver<StatusView>,
) {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("no metrics: cannot listen on {listen} ([metrics] listen): {e}");
            return;
        }
    };
    tracing::info!("metrics on http://{listen}/metrics");
    let mut counts = Counts::default();
    counts.set_status(&status.borrow());
    loop {
        tokio::select! {
            e = events.recv() => match e {
                Ok(e) => counts.push(&e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("metrics missed {n} events");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            r = status.changed() => {
                if r.is_err() {
                    return;
                }
                counts.set_status(&status.borrow_and_update());
            }
            c = listener.accept() => {
                if let Ok((stream, _)) = c {
                    let body = counts.render();
                    tokio::spawn(answer(stream, body));
                }
            }
        }
    }
}

/// Answers one request: `GET /metrics` with the text, anything else with 404 or 405.
async fn answer(mut stream: tokio::net::TcpStream, body: String) {
    let mut buf = vec![0u8; 8192];
    let mut got = 0;
    let read = async {
        while got < buf.len() {
            match stream.read(&mut buf[got..]).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
            if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return;
    }
    let request = String::from_utf8_lossy(&buf[..got]);
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", body),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "Sickbay serves /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(
        at: &str,
        event: &str,
        container: &str,
        incident: Option<i64>,
        details: &str,
    ) -> EventRow {
        EventRow {
            id: 0,
            timestamp: at.into(),
            event: event.into(),
            container_name: Some(container.into()),
            incident_id: incident,
            details: details.into(),
        }
    }

    #[test]
    fn events_are_counted_as_prometheus_reads_them() {
        let mut c = Counts::default();
        c.push(&ev(
            "2026-12-07T10:00:00.000Z",
            "container_unhealthy",
            "web",
            Some(1),
            "health:unhealthy",
        ));
        c.push(&ev(
            "2026-12-07T10:00:00.300Z",
            "restarting_container",
            "web",
            Some(1),
            "attempt:1",
        ));
        c.push(&ev(
            "2026-12-07T10:00:02.000Z",
            "container_restarted",
            "web",
            Some(1),
            "",
        ));
        c.push(&ev(
            "2026-12-07T10:00:05.000Z",
            "container_unhealthy",
            "web",
            Some(1),
            "health:unhealthy",
        ));
        c.push(&ev(
            "2026-12-07T10:00:15.000Z",
            "heal_action_failed",
            "we\"b",
            Some(1),
            "action:restart error:x",
        ));
        c.push(&ev(
            "2026-12-07T10:00:20.000Z",
            "container_unhealthy",
            "db",
            None,
            "health:unhealthy heal:snoozed until:x",
        ));
        c.push(&ev(
            "2026-12-07T10:00:21.000Z",
            "escalated",
            "web",
            Some(1),
            "how:recorded",
        ));
        c.push(&ev(
            "2026-12-07T10:00:22.000Z",
            "container_died",
            "db",
            None,
            "exit_code:3 heal:maintenance until:x",
        ));
        let text = c.render();
        for line in [
            "sickbay_restarts_total{container=\"web\",result=\"done\"} 1",
            "sickbay_restarts_total{container=\"we\\\"b\",result=\"failed\"} 1",
            "sickbay_incidents_opened_total 1",
            "sickbay_incidents_escalated_total 1",
            "sickbay_heals_skipped_total{reason=\"snoozed\"} 1",
            "sickbay_heals_skipped_total{reason=\"maintenance\"} 1",
            "sickbay_heals_skipped_total{reason=\"backoff\"} 1",
            "sickbay_unhealthy_to_action_seconds_bucket{le=\"0.25\"} 0",
            "sickbay_unhealthy_to_action_seconds_bucket{le=\"0.5\"} 1",
            "sickbay_unhealthy_to_action_seconds_count 1",
            "sickbay_event_stream_connected 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
        }
        assert!(text.contains("# TYPE sickbay_unhealthy_to_action_seconds histogram"));
    }
}
