//! The engine: one task that owns the watched containers' state. Everything reaches it as a
//! typed [`Msg`] over a channel (Docker's events, sweep results, finished heal actions,
//! connection changes); it feeds the pure heal policy, carries out its decisions, and writes
//! every event to the history before anything user-visible refers to it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::clock;
use crate::config::{Policy, Settings};
use crate::docker::{self, ContainerInfo, Docker, DockerEvent, EventKind, StatsSample};
use crate::heal::{Capabilities, ContainerHeal, Death, Decision, Input, Limits};
use crate::logfile::{self, LogFile};
use crate::model::{
    container_verdict, ActionRecord, ContainerId, HealAction, Health, IncidentKind, IncidentStatus,
    RunState, Verdict,
};
use crate::monitor::{self, Sample};
use crate::probe::{ProbeResult, Prober};
use crate::store::{EventRow, MetricRow, Store};

/// What reaches the engine.
#[derive(Debug)]
pub enum Msg {
    Connected(Docker),
    Disconnected(String),
    Event(DockerEvent),
    /// A sweep's samples; `listed_at`: when it listed the containers.
    Swept {
        samples: Vec<Sample>,
        listed_at: Instant,
    },
    /// The inspect of a container first seen in an event (`None`: it could not be inspected).
    FirstSight(ContainerId, Option<Box<Sample>>),
    Sampled(Box<Sample>),
    ActionDone {
        id: ContainerId,
        /// Which of the container's actions this is: a result that comes after its action
        /// timed out (and another began) is dropped.
        seq: u64,
        action: HealAction,
        result: Result<(), String>,
        /// The container that took this one's place (a compose recreate makes a new one).
        replaced_by: Option<ContainerInfo>,
    },
}

/// One container as `status` (and the tray) show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerView {
    pub name: String,
    pub id: String,
    pub state: RunState,
    pub health: Health,
    pub restart_count: i64,
    pub cpu_percent: Option<f64>,
    pub mem_mb: Option<f64>,
    pub response_time_ms: Option<f64>,
    pub http_status: Option<u16>,
    /// `None` for containers that are not meant to run.
    pub verdict: Option<Verdict>,
    /// Where healing stands, when an incident is open.
    pub note: Option<String>,
    pub incident_id: Option<i64>,
}

/// The whole picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusView {
    pub verdict: Verdict,
    pub docker_endpoint: String,
    pub docker_reachable: bool,
    pub docker_error: Option<String>,
    pub containers: Vec<ContainerView>,
    /// Rows of history not yet in the Postgres mirror (when one is configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror_pending: Option<i64>,
    /// Monitoring is paused by the user: no sweeps, no healing, verdict grey.
    pub paused: bool,
    /// Writes to the history that failed since the engine started (each is in the
    /// diagnostic log, with what was lost).
    #[serde(default)]
    pub history_errors: u64,
    /// Restarts Sickbay did not ask for, of containers that were failing, within the heal
    /// window: another healer (autoheal, a second Sickbay, a cron job) may be at work.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_healer: Option<String>,
    /// This Sickbay stands by while another one acts on the same engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing_by: Option<String>,
}

impl StatusView {
    pub fn unreachable(endpoint: String, error: String) -> Self {
        Self {
            verdict: Verdict::Grey,
            docker_endpoint: endpoint,
            docker_reachable: false,
            docker_error: Some(error),
            containers: Vec::new(),
            mirror_pending: None,
            paused: false,
            history_errors: 0,
            other_healer: None,
            standing_by: None,
        }
    }

    /// Another Sickbay acts on the engine; this one watches nothing until it stops.
    pub fn standing_by(endpoint: String, why: String) -> Self {
        Self {
            verdict: Verdict::Grey,
            docker_endpoint: endpoint,
            docker_reachable: false,
            docker_error: None,
            containers: Vec::new(),
            mirror_pending: None,
            paused: false,
            history_errors: 0,
            other_healer: None,
            standing_by: Some(why),
        }
    }

    pub fn new(endpoint: String, containers: Vec<ContainerView>) -> Self {
        let verdict = Verdict::overall(true, containers.iter().filter_map(|c| c.verdict));
        Self {
            verdict,
            docker_endpoint: endpoint,
            docker_reachable: true,
            docker_error: None,
            containers,
            mirror_pending: None,
            paused: false,
            history_errors: 0,
            other_healer: None,
            standing_by: None,
        }
    }
}

/// An incident Sickbay holds open for a container.
#[derive(Debug, Clone)]
struct OpenIncident {
    id: i64,
    kind: IncidentKind,
    status: IncidentStatus,
    details: String,
}

struct Tracked {
    info: ContainerInfo,
    policy: Policy,
    heal: ContainerHeal,
    incident: Option<OpenIncident>,
    prev_stats: Option<StatsSample>,
    last: Option<MetricRow>,
    last_probe: Option<ProbeResult>,
    /// A `stop` or `kill` Sickbay did not send was seen: the next `die` is a user's.
    user_stopping: bool,
    oom_pending: bool,
    /// When Sickbay's current or last action started and ended (wall clock, to compare
    /// with Docker's event times) and ended (monotonic, to discard stale samples).
    acting_since: Option<SystemTime>,
    acted_until: Option<SystemTime>,
    action_ended: Option<Instant>,
    /// When Sickbay started tracking it (a sweep that listed containers before then does not
    /// know it yet).
    since: Instant,
    /// When its last Docker event was handled: a sample taken before then is older news.
    event_at: Option<Instant>,
    /// Numbers Sickbay's actions on it; a result carries its number.
    action_seq: u64,
    /// The last action could not be carried out (its outcome says why, not "ineffective").
    action_failed: bool,
    /// The last `die` was Docker's restart policy at work: the `start` after it is Docker's.
    policy_restarting: bool,
    /// Restarts others made while it was failing (within the heal window).
    others: std::collections::VecDeque<Instant>,
}

impl Tracked {
    fn caps(&self, settings: &Settings) -> Capabilities {
        Capabilities {
            may_heal: self.policy.heal,
            cache_paths: !self.policy.cache_paths.is_empty(),
            has_check: self.info.has_healthcheck || self.policy.health_url.is_some(),
            restart_crashed: settings.heal.restart_crashed,
            steps: self.policy.steps.clone(),
            stop_timeout: Duration::from_secs(self.policy.stop_timeout_seconds),
        }
    }

    /// Sickbay is replacing this container with a new one right now (compose recreate).
    fn being_replaced(&self) -> bool {
        self.heal
            .acting()
            .is_some_and(HealAction::replaces_container)
    }

    /// Whether `labels` are those of the same compose service as this container.
    fn same_service(&self, labels: &HashMap<String, String>) -> bool {
        let key = |l: &HashMap<String, String>| {
            (
                l.get("com.docker.compose.project").cloned(),
                l.get("com.docker.compose.service").cloned(),
            )
        };
        let mine = key(&self.info.labels);
        mine.0.is_some() && mine.1.is_some() && mine == key(labels)
    }

    /// Whether a Docker event at `time_nano` happened before Sickbay's last action began:
    /// older news than what the action's result says.
    fn before_our_action(&self, time_nano: i64) -> bool {
        let Some(since) = self.acting_since else {
            return false;
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(time_nano.max(0) as u64);
        at + Duration::from_millis(500) < since
    }

    /// Whether a Docker event at `time_nano` was caused by Sickbay's own action.
    fn caused_by_us(&self, time_nano: i64) -> bool {
        self.during_our_action(time_nano, Duration::from_millis(500))
    }

    /// Whether `time_nano` falls in Sickbay's current or last action, give or take `slack`
    /// at its end (Docker stamps events on its own clock, and a `die` can be told late).
    fn during_our_action(&self, time_nano: i64, end_slack: Duration) -> bool {
        let Some(since) = self.acting_since else {
            return false;
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(time_nano.max(0) as u64);
        let after_start = at + Duration::from_millis(500) >= since;
        let before_end = match self.acted_until {
            None => true,
            Some(until) => at <= until + end_slack,
        };
        after_start && before_end
    }

    fn view(&self) -> ContainerView {
        let probe_ok = self.last_probe.as_ref().map(ProbeResult::ok);
        let incident = self.incident.as_ref().map(|i| (i.kind, i.status));
        ContainerView {
            name: self.info.name.clone(),
            id: self.info.id.0.clone(),
            state: self.info.state,
            health: self.info.health,
            restart_count: self.info.restart_count,
            cpu_percent: self.last.as_ref().and_then(|m| m.cpu_percent),
            mem_mb: self.last.as_ref().and_then(|m| m.mem_mb),
            response_time_ms: self.last_probe.as_ref().map(|p| p.response_time_ms),
            http_status: self.last_probe.as_ref().and_then(|p| p.status),
            verdict: container_verdict(self.info.state, self.info.health, probe_ok, incident),
            note: self
                .incident
                .as_ref()
                .map(|i| incident_note(i.kind, i.status, self.heal.attempts())),
            incident_id: self.incident.as_ref().map(|i| i.id),
        }
    }
}

/// A handle on a running engine.
pub struct EngineHandle {
    pub status: watch::Receiver<StatusView>,
}

/// What the engine shares with the rest of the app while it runs. Every field is optional:
/// `sickbay watch` alone needs none of them.
#[derive(Default)]
pub struct Links {
    /// The current picture, for the tray, the dashboard and `status`.
    pub status: Option<watch::Sender<StatusView>>,
    /// Every event, sent after it is in the history (the alert watcher, notifications).
    pub events: Option<broadcast::Sender<EventRow>>,
    /// The user's controls (the tray's "Pause monitoring" / "Resume").
    pub control: Option<mpsc::Receiver<Control>>,
    /// Where the engine keeps a small JSON record of what other processes cannot see in the
    /// history (`history_errors`), for `status` and `doctor`.
    pub state_file: Option<PathBuf>,
}

/// A user's control of a running engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// No sweeps and no healing (nothing reaches the heal policy) until `Resume`; the verdict
    /// is grey meanwhile.
    Pause,
    Resume,
}

pub struct Engine {
    settings: Settings,
    limits: Limits,
    store: Store,
    log: Option<LogFile>,
    tracked: HashMap<ContainerId, Tracked>,
    /// Incidents left open by an earlier run, by container name, until a container claims one.
    adopted: HashMap<String, OpenIncident>,
    /// Containers a recreate replaced, and when: a late sample or event of theirs is stale.
    retired: HashMap<ContainerId, Instant>,
    /// Containers first seen in an event and being inspected, with the events that came
    /// meanwhile (a container that dies right after it starts is told in order).
    first_sight: HashMap<ContainerId, Vec<DockerEvent>>,
    docker: Option<Docker>,
    docker_error: Option<String>,
    tx: mpsc::Sender<Msg>,
    docker_tx: watch::Sender<Option<Docker>>,
    status_tx: watch::Sender<StatusView>,
    events_tx: Option<broadcast::Sender<EventRow>>,
    sweep_now: Arc<Notify>,
    paused: Arc<AtomicBool>,
    history: HistoryHealth,
    /// When Docker came back after an outage, until a sweep listed after then is compared
    /// with what was known before (`reconcile`).
    reconnected: Option<Instant>,
}

/// The history writes that failed, kept apart from the containers' state so that a failed
/// write can be counted wherever it happens.
struct HistoryHealth {
    state: EngineState,
    state_file: Option<PathBuf>,
}

impl HistoryHealth {
    /// A write to the history failed: said in the diagnostic log, counted in the status
    /// (`history_errors`) and the state file, so `status` and `doctor` show it.
    fn failed(&mut self, what: &str, e: &dyn std::fmt::Display) {
        tracing::error!("history: {what} failed: {e}");
        self.state.history_errors += 1;
        self.state.last_history_error = Some(format!("{what}: {e}"));
        self.write();
    }

    /// Checks a history write's result (see [`HistoryHealth::failed`]).
    fn check<T, E: std::fmt::Display>(&mut self, what: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.failed(what, &e);
                None
            }
        }
    }

    fn write(&self) {
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

    fn remove(&self) {
        if let Some(path) = &self.state_file {
            let _ = std::fs::remove_file(path);
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

/// Runs the engine until `shutdown` resolves. Everything observed is written as it comes,
/// so stopping loses nothing.
pub async fn run(
    settings: Settings,
    store: Store,
    logs_dir: PathBuf,
    shutdown: impl std::future::Future<Output = ()>,
    links: Links,
) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel::<Msg>(1024);
    let (docker_tx, docker_rx) = watch::channel::<Option<Docker>>(None);
    let status_tx = links.status.unwrap_or_else(|| {
        watch::channel(StatusView::unreachable(
            docker::endpoint(),
            "starting".into(),
        ))
        .0
    });
    let sweep_now = Arc::new(Notify::new());
    let paused = Arc::new(AtomicBool::new(false));
    let mut control = links.control;
    let max_bytes = settings.retention.log_max_mb * 1024 * 1024;
    let log = match LogFile::open(
        &logs_dir.join("monitor.log"),
        max_bytes,
        settings.retention.log_keep,
    ) {
        Ok(l) => Some(l),
        Err(e) => {
            tracing::error!(
                "cannot write {}: {e}",
                logs_dir.join("monitor.log").display()
            );
            None
        }
    };
    let mut engine = Engine {
        limits: Limits::from_settings(&settings),
        settings: settings.clone(),
        store,
        log,
        tracked: HashMap::new(),
        adopted: HashMap::new(),
        retired: HashMap::new(),
        first_sight: HashMap::new(),
        docker: None,
        docker_error: None,
        tx: tx.clone(),
        docker_tx,
        status_tx,
        events_tx: links.events,
        sweep_now: sweep_now.clone(),
        paused: paused.clone(),
        history: HistoryHealth {
            state: EngineState {
                pid: std::process::id(),
                started_at: clock::utc_now(),
                history_errors: 0,
                last_history_error: None,
            },
            state_file: links.state_file,
        },
        reconnected: None,
    };
    engine.history.write();
    engine.adopt_open_incidents();
    engine.apply_retention();
    engine.record(
        "monitor_started",
        None,
        None,
        format!("docker:{}", docker::endpoint()),
    );

    let connection = tokio::spawn(connection_loop(tx.clone()));
    let sweeper = tokio::spawn(sweep_loop(
        settings.clone(),
        docker_rx,
        tx.clone(),
        sweep_now,
        paused,
    ));
    let mut retention = tokio::time::interval(Duration::from_secs(3600));
    retention.tick().await;
    tokio::pin!(shutdown);
    loop {
        let deadline = engine.next_deadline();
        tokio::select! {
            _ = &mut shutdown => break,
            Some(msg) = rx.recv() => engine.handle(msg),
            _ = sleep_until(deadline) => engine.tick(),
            _ = retention.tick() => engine.apply_retention(),
            Some(c) = next_control(&mut control) => engine.control(c),
        }
    }
    connection.abort();
    sweeper.abort();
    // Results that already arrived are still recorded.
    while let Ok(msg) = rx.try_recv() {
        engine.handle(msg);
    }
    engine.record("monitor_stopped", None, None, String::new());
    engine.history.remove();
    Ok(())
}

async fn next_control(control: &mut Option<mpsc::Receiver<Control>>) -> Option<Control> {
    let Some(rx) = control else {
        return std::future::pending().await;
    };
    let c = rx.recv().await;
    if c.is_none() {
        // Every sender is gone: nothing more will come.
        *control = None;
    }
    c
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Keeps a connection to Docker and forwards its events; reconnects with backoff.
async fn connection_loop(tx: mpsc::Sender<Msg>) {
    let mut delay = Duration::from_millis(500);
    loop {
        match Docker::connect().await {
            Ok(d) => {
                delay = Duration::from_millis(500);
                let mut events = d.events();
                if tx.send(Msg::Connected(d.clone())).await.is_err() {
                    return;
                }
                let reason = loop {
                    match events.next().await {
                        Some(Ok(ev)) => {
                            if tx.send(Msg::Event(ev)).await.is_err() {
                                return;
                            }
                        }
                        Some(Err(e)) => break e.to_string(),
                        None => break "the event stream ended".to_string(),
                    }
                };
                // A stream can end while Docker is fine (a proxy's timeout): resubscribe
                // quietly then, and say so only when Docker is really gone.
                if d.ping().await.is_ok() {
                    tracing::debug!("event stream ended ({reason}); resubscribing");
                    continue;
                }
                if tx.send(Msg::Disconnected(reason)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if tx.send(Msg::Disconnected(e.to_string())).await.is_err() {
                    return;
                }
            }
        }
        let jitter = Duration::from_millis(fastrand::u64(0..=delay.as_millis() as u64 / 4));
        tokio::time::sleep(delay + jitter).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

/// Sweeps every interval, and at once when asked (after a (re)connect).
async fn sweep_loop(
    settings: Settings,
    mut docker_rx: watch::Receiver<Option<Docker>>,
    tx: mpsc::Sender<Msg>,
    now: Arc<Notify>,
    paused: Arc<AtomicBool>,
) {
    let prober = Prober::new(Duration::from_secs(
        settings.monitoring.http_timeout_seconds,
    ));
    let mut interval =
        tokio::time::interval(Duration::from_secs(settings.monitoring.interval_seconds));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = now.notified() => {}
            r = docker_rx.changed() => if r.is_err() { return },
        }
        let Some(d) = docker_rx.borrow().clone() else {
            continue;
        };
        if paused.load(Ordering::Relaxed) {
            continue;
        }
        let listed_at = Instant::now();
        let msg = match monitor::sweep(&d, &prober, &settings).await {
            Ok(samples) => Msg::Swept { samples, listed_at },
            Err(e) => Msg::Disconnected(e.to_string()),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

impl Engine {
    fn adopt_open_incidents(&mut self) {
        match self.store.open_incidents() {
            Ok(list) => {
                for i in list {
                    self.adopted
                        .entry(i.container.clone())
                        .or_insert(OpenIncident {
                            id: i.id,
                            kind: i.kind,
                            status: i.status,
                            details: i.details,
                        });
                }
            }
            Err(e) => tracing::error!("cannot read open incidents: {e}"),
        }
    }

    fn apply_retention(&mut self) {
        let r = &self.settings.retention;
        let metrics = clock::utc_ago(Duration::from_secs(r.metrics_days * 86_400));
        let history = clock::utc_ago(Duration::from_secs(r.history_days * 86_400));
        match self.store.apply_retention(&metrics, &history) {
            Ok(0) => {}
            Ok(n) => tracing::info!("rolled {n} metric samples up into hourly averages"),
            Err(e) => tracing::error!("retention: {e}"),
        }
    }

    /// Writes an event to the history, then to `monitor.log` and the diagnostic log.
    fn record(
        &mut self,
        event: &str,
        container: Option<&str>,
        incident: Option<i64>,
        fields: String,
    ) {
        let fields = match container {
            Some(c) if fields.is_empty() => format!("container:{c}"),
            Some(c) => format!("container:{c} {fields}"),
            None => fields,
        };
        let timestamp = clock::utc_now();
        match self
            .store
            .insert_event(&timestamp, event, container, incident, &fields)
        {
            Ok(id) => {
                if let Some(tx) = &self.events_tx {
                    // No receiver is not an error: nobody listens yet.
                    let _ = tx.send(EventRow {
                        id,
                        timestamp,
                        event: event.to_string(),
                        container_name: container.map(str::to_string),
                        incident_id: incident,
                        details: fields.clone(),
                    });
                }
            }
            Err(e) => self.history.failed(&format!("recording {event}"), &e),
        }
        let line = logfile::format_line(&clock::log_stamp(), event, &fields);
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(&line) {
                tracing::error!("cannot write monitor.log: {e}");
            }
        }
        tracing::info!(target: "sickbay::event", "{event} {fields}");
    }

    /// Says so when containers were restarted by others while failing, within the window.
    fn other_healer(&self) -> Option<String> {
        let window = self.limits.window;
        let mut who: Vec<(String, usize)> = self
            .tracked
            .values()
            .map(|t| {
                let n = t.others.iter().filter(|at| at.elapsed() <= window).count();
                (t.info.name.clone(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        if who.is_empty() {
            return None;
        }
        who.sort();
        let list: Vec<String> = who.iter().map(|(n, c)| format!("{n} ({c}×)")).collect();
        Some(format!(
            "restarted by something other than Sickbay while failing, in the last {} min: {}; \
             another healer (autoheal, a second Sickbay, a script) may be at work",
            window.as_secs() / 60,
            list.join(", ")
        ))
    }

    fn next_deadline(&self) -> Option<Instant> {
        if self.paused.load(Ordering::Relaxed) {
            return None;
        }
        self.tracked
            .values()
            .filter_map(|t| t.heal.next_deadline())
            .min()
    }

    fn control(&mut self, c: Control) {
        let pause = c == Control::Pause;
        if self.paused.swap(pause, Ordering::Relaxed) == pause {
            return;
        }
        if pause {
            self.record("monitoring_paused", None, None, String::new());
        } else {
            self.record("monitoring_resumed", None, None, String::new());
            self.sweep_now.notify_one();
        }
        self.publish();
    }

    fn tick(&mut self) {
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        let due: Vec<ContainerId> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.heal.next_deadline().is_some_and(|d| d <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.feed(&id, Input::Tick);
        }
        self.publish();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected(d) => {
                if self.docker.is_none() {
                    let fields = format!("docker:{}", d.endpoint());
                    if self.docker_error.take().is_some() {
                        self.record("docker_reconnected", None, None, fields);
                        self.reconnected = Some(Instant::now());
                    } else {
                        tracing::info!("connected to Docker at {}", d.endpoint());
                    }
                }
                self.docker = Some(d.clone());
                let _ = self.docker_tx.send(Some(d));
                self.sweep_now.notify_one();
            }
            Msg::Disconnected(reason) => {
                if self.docker.take().is_some() || self.docker_error.is_none() {
                    self.record(
                        "docker_unreachable",
                        None,
                        None,
                        format!("docker:{} error:{}", docker::endpoint(), quote(&reason)),
                    );
                }
                self.docker_error = Some(reason);
                let _ = self.docker_tx.send(None);
            }
            Msg::Event(ev) => self.on_event(ev),
            Msg::Swept { samples, listed_at } => {
                let live: std::collections::HashSet<ContainerId> =
                    samples.iter().map(|s| s.info.id.clone()).collect();
                self.reconcile(&samples, listed_at);
                let mut rows = Vec::with_capacity(samples.len());
                for s in samples {
                    rows.extend(self.on_sample(s));
                }
                // Containers gone without a `destroy` we saw (missed while disconnected); not
                // those first tracked after the sweep listed what there was.
                let gone: Vec<ContainerId> = self
                    .tracked
                    .iter()
                    .filter(|(id, t)| {
                        !live.contains(*id) && !t.being_replaced() && t.since < listed_at
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in gone {
                    self.forget(&id);
                }
                let r = self.store.insert_metrics(&rows);
                self.history.check("recording metrics", r);
            }
            Msg::Sampled(s) => self.on_single_sample(*s),
            Msg::FirstSight(id, s) => {
                if let Some(s) = s {
                    self.on_single_sample(*s);
                }
                // What Docker said of it meanwhile, in order, now that it is known.
                for ev in self.first_sight.remove(&id).unwrap_or_default() {
                    if self.tracked.contains_key(&ev.id) {
                        self.on_event(ev);
                    }
                }
            }
            Msg::ActionDone {
                id,
                seq,
                action,
                result,
                replaced_by,
            } => {
                if self.tracked.get(&id).is_some_and(|t| t.action_seq != seq) {
                    tracing::warn!(
                        "the {} of {} ended after its deadline ({result:?}); ignored",
                        action.as_str(),
                        id.short()
                    );
                } else {
                    self.on_action_done(&id, action, result, replaced_by);
                }
            }
        }
        self.publish();
    }

    fn publish(&self) {
        let view = if self.docker.is_none() {
            StatusView::unreachable(
                docker::endpoint(),
                self.docker_error
                    .clone()
                    .unwrap_or_else(|| "connecting".into()),
            )
        } else {
            let mut containers: Vec<ContainerView> =
                self.tracked.values().map(Tracked::view).collect();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            StatusView::new(docker::endpoint(), containers)
        };
        let view = StatusView {
            history_errors: self.history.state.history_errors,
            other_healer: self.other_healer(),
            ..view
        };
        let view = if self.paused.load(Ordering::Relaxed) {
            StatusView {
                verdict: Verdict::Grey,
                paused: true,
                ..view
            }
        } else {
            view
        };
        self.status_tx.send_if_modified(|old| {
            if *old == view {
                false
            } else {
                *old = view;
                true
            }
        });
    }

    /// Starts tracking a container seen for the first time.
    fn track(&mut self, info: ContainerInfo) -> &mut Tracked {
        let id = info.id.clone();
        if !self.tracked.contains_key(&id) {
            let (policy, errors) = Policy::from_labels(&info.labels, &self.settings.heal);
            for e in errors {
                tracing::warn!("container {}: {e}", info.name);
                self.record(
                    "bad_label",
                    Some(&info.name.clone()),
                    None,
                    format!("label:{} problem:{}", e.label, quote(&e.problem)),
                );
            }
            let mut heal = ContainerHeal::default();
            // Restarts made by an earlier run still count against the limit.
            let window = self.limits.window;
            if let Ok(times) = self
                .store
                .restarts_since(&info.name, &clock::utc_ago(window))
            {
                let now_wall = SystemTime::now();
                for t in times.iter().filter_map(|t| clock::parse(t)) {
                    let ago = now_wall.duration_since(t).unwrap_or_default();
                    heal.remember_restart(
                        Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
                    );
                }
            }
            let incident = self.adopted.remove(&info.name);
            self.tracked.insert(
                id.clone(),
                Tracked {
                    info,
                    policy,
                    heal,
                    incident,
                    prev_stats: None,
                    last: None,
                    last_probe: None,
                    user_stopping: false,
                    oom_pending: false,
                    acting_since: None,
                    acted_until: None,
                    action_ended: None,
                    since: Instant::now(),
                    event_at: None,
                    action_seq: 0,
                    action_failed: false,
                    policy_restarting: false,
                    others: std::collections::VecDeque::new(),
                },
            );
        }
        self.tracked.get_mut(&id).expect("just inserted")
    }

    fn forget(&mut self, id: &ContainerId) {
        if let Some(t) = self.tracked.remove(id) {
            if let Some(inc) = t.incident {
                let name = t.info.name.clone();
                let r = self.store.close_incident(inc.id, &clock::utc_now(), false);
                self.history
                    .check(&format!("closing incident {}", inc.id), r);
                self.record(
                    "container_removed",
                    Some(&name),
                    Some(inc.id),
                    String::new(),
                );
            }
        }
    }

    /// One sample outside a sweep, recorded at once.
    fn on_single_sample(&mut self, s: Sample) {
        if let Some(row) = self.on_sample(s) {
            let r = self.store.insert_metrics(&[row]);
            self.history.check("recording metrics", r);
        }
    }

    /// A sample from a sweep (or a single inspect): metrics, then what it says about health.
    fn on_sample(&mut self, s: Sample) -> Option<MetricRow> {
        if self.replacement_in_progress(&s.info.id, &s.info.labels)
            || self.retired.contains_key(&s.info.id)
        {
            // The new container of a recreate under way (it takes the old one's place when it
            // is done), or the old one of a finished recreate, sampled before it went.
            return None;
        }
        let t = self.track(s.info.clone());
        // Taken before its last event was handled: that event is the newer news of its state.
        let outdated = t.event_at.is_some_and(|e| s.at < e);
        if !outdated {
            t.info = s.info;
        }
        let cpu = match (&t.prev_stats, &s.stats) {
            (Some(prev), Some(cur)) => docker::cpu_percent(prev, cur),
            _ => None,
        };
        if s.stats.is_some() {
            t.prev_stats = s.stats;
        }
        if s.probe.is_some() || t.info.state != RunState::Running {
            t.last_probe = s.probe.clone();
        }
        let row = MetricRow {
            timestamp: s.timestamp,
            container_name: t.info.name.clone(),
            container_id: t.info.id.0.clone(),
            state: t.info.state.as_str().to_string(),
            health: t.info.health.as_str().to_string(),
            restart_count: t.info.restart_count,
            cpu_percent: cpu.map(round1),
            mem_mb: s.stats.map(|st| round1(st.mem_bytes as f64 / 1_048_576.0)),
            mem_limit_mb: s
                .stats
                .filter(|st| st.mem_limit_bytes > 0 && st.mem_limit_bytes < u64::MAX / 2)
                .map(|st| round1(st.mem_limit_bytes as f64 / 1_048_576.0)),
            response_time_ms: s.probe.as_ref().map(|p| round1(p.response_time_ms)),
            http_status: s.probe.as_ref().and_then(|p| p.status),
        };
        t.last = Some(row.clone());
        // A sample taken before Sickbay's last action ended says nothing about its effect.
        let stale = outdated || t.heal.is_acting() || t.action_ended.is_some_and(|end| s.at < end);
        if !stale && t.info.state == RunState::Running {
            let id = t.info.id.clone();
            let input = signal(t.info.health, s.probe.as_ref());
            if let Some(input) = input {
                self.feed(&id, input);
            }
        }
        Some(row)
    }

    /// An untracked container that is the new one of a compose recreate under way.
    fn replacement_in_progress(&self, id: &ContainerId, labels: &HashMap<String, String>) -> bool {
        !self.tracked.contains_key(id)
            && self
                .tracked
                .values()
                .any(|t| t.being_replaced() && t.same_service(labels))
    }

    fn on_event(&mut self, ev: DockerEvent) {
        tracing::debug!(
            "docker event {:?} of {} (tracked: {})",
            ev.kind,
            ev.id.short(),
            self.tracked.contains_key(&ev.id)
        );
        if let Some(queue) = self.first_sight.get_mut(&ev.id) {
            queue.push(ev);
            return;
        }
        if !self.tracked.contains_key(&ev.id) {
            if !monitor::watched(&self.settings, &ev.labels)
                || ev.kind == EventKind::Destroy
                || self.retired.contains_key(&ev.id)
                || self.replacement_in_progress(&ev.id, &ev.labels)
            {
                return;
            }
            // First sight (a new container): inspect it, then it is tracked like any other;
            // its events until then wait in `first_sight`.
            if let Some(d) = self.docker.clone() {
                let tx = self.tx.clone();
                let timeout = self.settings.monitoring.http_timeout_seconds;
                self.first_sight.insert(ev.id.clone(), Vec::new());
                tokio::spawn(async move {
                    let prober = Prober::new(Duration::from_secs(timeout));
                    let listed = docker::Listed {
                        id: ev.id.clone(),
                        name: ev.name,
                        labels: ev.labels,
                    };
                    let s = monitor::sample(&d, &prober, &listed).await.ok();
                    let _ = tx.send(Msg::FirstSight(ev.id, s.map(Box::new))).await;
                });
            }
            return;
        }
        let Some(t) = self.tracked.get_mut(&ev.id) else {
            return;
        };
        t.event_at = Some(Instant::now());
        let ours = t.caused_by_us(ev.time_nano);
        let id = ev.id.clone();
        match ev.kind {
            EventKind::Health(h) => {
                t.info.health = h;
                // Sickbay's own action, or news older than it (a lagging event stream). A
                // status after the action is news: Docker stamped it after the action's
                // result came back, and a restart resets the health to `starting`.
                let ours = t.during_our_action(ev.time_nano, Duration::ZERO);
                if ours || t.heal.is_acting() || t.before_our_action(ev.time_nano) {
                    return;
                }
                if t.info.state == RunState::Running || h == Health::Unhealthy {
                    if let Some(input) = signal(h, t.last_probe.as_ref()) {
                        self.feed(&id, input);
                    }
                }
            }
            EventKind::Oom => {
                t.oom_pending = true;
                let name = t.info.name.clone();
                self.record("container_oom", Some(&name), None, String::new());
            }
            EventKind::Stop | EventKind::Kill => {
                if !ours {
                    t.user_stopping = true;
                }
            }
            EventKind::Die { exit_code } => {
                t.info.state = RunState::Exited;
                t.info.exit_code = exit_code;
                if ours {
                    return;
                }
                let by_user = std::mem::take(&mut t.user_stopping);
                let oom = std::mem::take(&mut t.oom_pending);
                let death = Death {
                    exit_code,
                    oom,
                    by_user,
                    restart_policy_handles: !by_user && t.info.restart_policy_handles(exit_code),
                };
                t.policy_restarting = death.restart_policy_handles;
                if by_user {
                    let name = t.info.name.clone();
                    self.record(
                        "container_stopped",
                        Some(&name),
                        None,
                        format!("exit_code:{exit_code}"),
                    );
                }
                self.feed(&id, Input::Died(death));
                // The state after the death (restarting, exited) comes from a fresh inspect.
                self.sample_soon(&id);
            }
            EventKind::Start | EventKind::Restart => {
                t.user_stopping = false;
                t.info.state = RunState::Running;
                let docker_policy = std::mem::take(&mut t.policy_restarting);
                if !ours && !docker_policy && t.incident.is_some() {
                    // Restarted while failing, and not by Sickbay: it counts against the
                    // window like Sickbay's own restarts, and it is not a recovery.
                    // (`docker restart` says `start`, then `restart`: one restart.)
                    let now = Instant::now();
                    let same = ev.kind == EventKind::Restart
                        && t.others
                            .back()
                            .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(10));
                    if !same {
                        t.others.push_back(now);
                        let window = self.limits.window;
                        t.others.retain(|at| now.duration_since(*at) <= window);
                        let count = t.others.len();
                        let name = t.info.name.clone();
                        let incident_id = t.incident.as_ref().map(|i| i.id);
                        self.record(
                            "restarted_by_other",
                            Some(&name),
                            incident_id,
                            format!("restarts_by_others:{count}"),
                        );
                        if count == 2 {
                            tracing::warn!(
                                "{name} was restarted twice within {} minutes by something                                  other than Sickbay while it was failing: another healer                                  (autoheal, a second Sickbay, a script) may be at work",
                                window.as_secs() / 60
                            );
                        }
                        self.feed(&id, Input::RestartedByOther);
                    }
                } else if !ours
                    && !docker_policy
                    && (ev.kind == EventKind::Restart || t.info.restart_policy == "no")
                {
                    self.feed(&id, Input::UserActed);
                }
                self.sample_soon(&id);
            }
            // The old container of a recreate goes away; its incident goes on with the new one.
            EventKind::Destroy if t.being_replaced() => {}
            EventKind::Destroy => self.forget(&id),
        }
    }

    fn sample_soon(&self, id: &ContainerId) {
        let (Some(d), Some(t)) = (self.docker.clone(), self.tracked.get(id)) else {
            return;
        };
        let listed = docker::Listed {
            id: id.clone(),
            name: t.info.name.clone(),
            labels: t.info.labels.clone(),
        };
        let tx = self.tx.clone();
        let timeout = self.settings.monitoring.http_timeout_seconds;
        tokio::spawn(async move {
            let prober = Prober::new(Duration::from_secs(timeout));
            if let Ok(s) = monitor::sample(&d, &prober, &listed).await {
                let _ = tx.send(Msg::Sampled(Box::new(s))).await;
            }
        });
    }

    /// Feeds the policy and carries out what it decides.
    fn feed(&mut self, id: &ContainerId, input: Input) {
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let caps = t.caps(&self.settings);
        let failing_details = match &input {
            Input::Failing { details, .. } => Some(details.clone()),
            _ => None,
        };
        let healthy = input == Input::Healthy;
        let decisions = t
            .heal
            .step(input, &caps, &self.limits, Instant::now(), fastrand::f64());
        if let (Some(d), Some(inc)) = (failing_details, t.incident.as_mut()) {
            inc.details = d;
        }
        // An incident adopted from an earlier run ends when the container is healthy.
        if healthy && decisions.is_empty() && t.heal.incident().is_none() && t.incident.is_some() {
            self.apply(id, Decision::Recovered);
            return;
        }
        for d in decisions {
            self.apply(id, d);
        }
    }

    fn apply(&mut self, id: &ContainerId, decision: Decision) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let name = t.info.name.clone();
        let now = clock::utc_now();
        match decision {
            Decision::Open {
                kind,
                details,
                acting,
            } => {
                let status = if acting {
                    IncidentStatus::Open
                } else {
                    IncidentStatus::Watching
                };
                let incident_id = match &t.incident {
                    Some(old) => {
                        let r = self.store.set_incident_status(old.id, status, &now);
                        self.history
                            .check(&format!("updating incident {}", old.id), r);
                        Ok(old.id)
                    }
                    None => {
                        self.store
                            .open_incident(&now, &name, &t.info.id.0, kind, status, &details)
                    }
                };
                let Some(incident_id) = self
                    .history
                    .check(&format!("opening the incident of {name}"), incident_id)
                else {
                    // Still told in monitor.log, without an incident to point at.
                    self.record(
                        "container_unhealthy",
                        Some(&name),
                        None,
                        format!("{details} incident:unrecorded"),
                    );
                    return;
                };
                t.incident = Some(OpenIncident {
                    id: incident_id,
                    kind,
                    status,
                    details: details.clone(),
                });
                let event = match kind {
                    IncidentKind::Unhealthy | IncidentKind::HttpProbeFailed => {
                        "container_unhealthy"
                    }
                    IncidentKind::Crashed => "container_died",
                    IncidentKind::OomKilled => "container_oom_killed",
                    IncidentKind::RestartLoop => "restart_loop",
                };
                let mut fields = details;
                if !acting {
                    fields.push_str(" heal:off");
                }
                self.record(event, Some(&name), Some(incident_id), fields);
            }
            Decision::Act { action, attempt } => {
                t.action_seq += 1;
                t.action_failed = false;
                let seq = t.action_seq;
                let Some(docker) = self.docker.clone() else {
                    // No Docker, no action: the policy hears it failed and backs off.
                    let _ = self.tx.try_send(Msg::ActionDone {
                        id: id.clone(),
                        seq,
                        action,
                        result: Err("Docker is unreachable".into()),
                        replaced_by: None,
                    });
                    return;
                };
                t.acting_since = Some(SystemTime::now());
                t.acted_until = None;
                if let Some(inc) = t.incident.as_mut() {
                    if inc.status != IncidentStatus::Open {
                        // Acting again after holding off (a person's stop, someone else's
                        // restart).
                        inc.status = IncidentStatus::Open;
                        let r = self
                            .store
                            .set_incident_status(inc.id, IncidentStatus::Open, &now);
                        self.history
                            .check(&format!("updating incident {}", inc.id), r);
                    }
                }
                let incident_id = t.incident.as_ref().map(|i| i.id);
                let paths = t.policy.cache_paths.clone();
                let stop_timeout = t.policy.stop_timeout_seconds;
                let service = crate::stack::Service::of_container(&t.info.labels);
                let service_name = service.as_ref().map(|s| s.service.clone());
                let (event, fields) = match action {
                    HealAction::ClearCache => {
                        ("clearing_cache", format!("paths:{}", paths.join(",")))
                    }
                    HealAction::Restart => ("restarting_container", format!("attempt:{attempt}")),
                    HealAction::Recreate => (
                        "recreating_container",
                        format!("service:{}", service_name.unwrap_or_default()),
                    ),
                    HealAction::Rebuild => (
                        "rebuilding_container",
                        format!("service:{}", service_name.unwrap_or_default()),
                    ),
                };
                self.record(event, Some(&name), incident_id, fields);
                if let Some(iid) = incident_id {
                    let rec = ActionRecord {
                        action,
                        at: now,
                        outcome: "requested".into(),
                    };
                    let r = self
                        .store
                        .add_action(iid, &rec, action == HealAction::Restart);
                    self.history
                        .check(&format!("adding an action to incident {iid}"), r);
                }
                let tx = self.tx.clone();
                let cid = id.clone();
                let work = tokio::spawn(async move {
                    let cid = &cid;
                    match action {
                        HealAction::ClearCache => (clear_cache(&docker, cid, &paths).await, None),
                        HealAction::Restart => (
                            docker
                                .restart(cid, stop_timeout)
                                .await
                                .map_err(|e| e.to_string()),
                            None,
                        ),
                        HealAction::Recreate | HealAction::Rebuild => {
                            recreate(&docker, service, action, &name).await
                        }
                    }
                });
                let cid = id.clone();
                // The result always comes back, also when the action's task panics; one that
                // never comes is the policy's deadline to end (`ActionTimedOut`).
                tokio::spawn(async move {
                    let (result, replaced_by) = match work.await {
                        Ok(done) => done,
                        Err(e) => (
                            Err(format!("the {} task failed: {e}", action.as_str())),
                            None,
                        ),
                    };
                    let _ = tx
                        .send(Msg::ActionDone {
                            id: cid,
                            seq,
                            action,
                            result,
                            replaced_by,
                        })
                        .await;
                });
            }
            Decision::StillFailing { .. } => {
                let details = t
                    .incident
                    .as_ref()
                    .map(|i| i.details.clone())
                    .unwrap_or_default();
                let incident_id = t.incident.as_ref().map(|i| i.id);
                // An action that could not run keeps its "failed: ..." outcome.
                if let Some(iid) = incident_id.filter(|_| !t.action_failed) {
                    let r = self.store.set_last_action_outcome(iid, "ineffective");
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record("container_unhealthy", Some(&name), incident_id, details);
            }
            Decision::ActionTimedOut { action, after } => {
                // Whatever comes of it later is dropped: the policy has moved on.
                t.action_seq += 1;
                t.action_failed = true;
                t.acted_until = Some(SystemTime::now());
                t.action_ended = Some(Instant::now());
                let error = format!("no result within {} s", after.as_secs());
                let incident_id = t.incident.as_ref().map(|i| i.id);
                if let Some(iid) = incident_id {
                    let r = self
                        .store
                        .set_last_action_outcome(iid, &format!("failed: {error}"));
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                tracing::error!("{name}: the {} {error}", action.as_str());
                self.record(
                    "heal_action_failed",
                    Some(&name),
                    incident_id,
                    format!("action:{} error:{}", action.as_str(), quote(&error)),
                );
            }
            Decision::Healed | Decision::Recovered => {
                let healed = decision == Decision::Healed;
                let fields = metrics_fields(t.last.as_ref());
                let incident = t.incident.take();
                let incident_id = incident.as_ref().map(|i| i.id);
                if let Some(inc) = &incident {
                    if healed {
                        let r = self.store.set_last_action_outcome(inc.id, "healed");
                        self.history
                            .check(&format!("updating incident {}", inc.id), r);
                    }
                    let r = self.store.close_incident(inc.id, &now, healed);
                    self.history
                        .check(&format!("closing incident {}", inc.id), r);
                }
                self.record("container_healthy", Some(&name), incident_id, fields);
            }
            Decision::GaveUp(reason) => {
                let incident_id = t.incident.as_ref().map(|i| i.id);
                if let Some(inc) = t.incident.as_mut() {
                    inc.status = IncidentStatus::HealingFailed;
                    let r =
                        self.store
                            .set_incident_status(inc.id, IncidentStatus::HealingFailed, &now);
                    self.history
                        .check(&format!("updating incident {}", inc.id), r);
                }
                self.record(
                    "healing_failed",
                    Some(&name),
                    incident_id,
                    format!("reason:{}", reason.as_str()),
                );
            }
            Decision::RecordDeath => {
                let fields = format!(
                    "exit_code:{} restart_policy:{}",
                    t.info.exit_code, t.info.restart_policy
                );
                let incident_id = t.incident.as_ref().map(|i| i.id);
                self.record("container_died", Some(&name), incident_id, fields);
            }
            Decision::Stand => {
                if let Some(inc) = t.incident.as_mut() {
                    inc.status = IncidentStatus::Watching;
                    let r = self
                        .store
                        .set_incident_status(inc.id, IncidentStatus::Watching, &now);
                    self.history
                        .check(&format!("updating incident {}", inc.id), r);
                }
            }
        }
    }

    fn on_action_done(
        &mut self,
        id: &ContainerId,
        action: HealAction,
        result: Result<(), String>,
        replaced_by: Option<ContainerInfo>,
    ) {
        let mut id = id.clone();
        let mut fields = String::new();
        if let Some(new) = replaced_by.filter(|n| n.id != id) {
            // The new container takes the old one's place: its incident, its heal state.
            if let Some(mut t) = self.tracked.remove(&id) {
                self.tracked.remove(&new.id);
                let now = Instant::now();
                self.retired
                    .retain(|_, at| now.duration_since(*at) < Duration::from_secs(600));
                self.retired.insert(id.clone(), now);
                fields = format!("new_id:{}", new.id.short());
                id = new.id.clone();
                t.info = new;
                t.prev_stats = None;
                t.last_probe = None;
                t.since = now;
                self.tracked.insert(id.clone(), t);
            }
        }
        let id = &id;
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        t.acted_until = Some(SystemTime::now());
        t.action_ended = Some(Instant::now());
        let name = t.info.name.clone();
        let incident_id = t.incident.as_ref().map(|i| i.id);
        match &result {
            Ok(()) => {
                let event = match action {
                    HealAction::ClearCache => "cache_cleared",
                    HealAction::Restart => "container_restarted",
                    HealAction::Recreate => "container_recreated",
                    HealAction::Rebuild => "container_rebuilt",
                };
                if let Some(iid) = incident_id {
                    let r = self.store.set_last_action_outcome(iid, "done");
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record(event, Some(&name), incident_id, fields);
            }
            Err(e) => {
                t.action_failed = true;
                if let Some(iid) = incident_id {
                    let r = self
                        .store
                        .set_last_action_outcome(iid, &format!("failed: {e}"));
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record(
                    "heal_action_failed",
                    Some(&name),
                    incident_id,
                    format!("action:{} error:{}", action.as_str(), quote(e)),
                );
            }
        }
        self.feed(id, Input::ActionFinished(action, result));
        self.sample_soon(id);
    }

    /// After an outage, the first sweep that listed containers once Docker was back tells
    /// what no event did meanwhile: each container known before is compared with what Docker
    /// reports now, and its deaths go to the heal policy as an event's would, recorded with
    /// `seen:after_reconnect`. A container with events handled since the reconnect is left
    /// to them (they tell its news), so no death is counted twice.
    fn reconcile(&mut self, samples: &[Sample], listed_at: Instant) {
        let Some(since) = self.reconnected.filter(|at| listed_at >= *at) else {
            return;
        };
        self.reconnected = None;
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let seen = "seen:after_reconnect";
        for s in samples {
            let id = &s.info.id;
            let Some(t) = self.tracked.get_mut(id) else {
                continue;
            };
            let told = t.event_at.is_some_and(|e| e >= since);
            if told || t.since >= since || t.heal.is_acting() {
                continue;
            }
            let deaths = hidden_deaths(&t.info, &s.info, self.limits.restart_loop_restarts);
            if deaths.is_empty() {
                continue;
            }
            t.info = s.info.clone();
            let caps = t.caps(&self.settings);
            for death in deaths {
                let Some(t) = self.tracked.get_mut(id) else {
                    break;
                };
                let decisions = t.heal.step(
                    Input::Died(death),
                    &caps,
                    &self.limits,
                    Instant::now(),
                    fastrand::f64(),
                );
                for d in decisions {
                    match d {
                        Decision::Open {
                            kind,
                            details,
                            acting,
                        } => self.apply(
                            id,
                            Decision::Open {
                                kind,
                                details: format!("{details} {seen}"),
                                acting,
                            },
                        ),
                        Decision::RecordDeath => {
                            let Some(t) = self.tracked.get(id) else {
                                continue;
                            };
                            // Restarts by Docker's policy: their exit codes are gone.
                            let fields = format!(
                                "restart_policy:{} restart_count:{} {seen}",
                                t.info.restart_policy, t.info.restart_count
                            );
                            let (name, incident) =
                                (t.info.name.clone(), t.incident.as_ref().map(|i| i.id));
                            self.record("container_died", Some(&name), incident, fields);
                        }
                        other => self.apply(id, other),
                    }
                }
            }
        }
    }
}

/// The deaths of a container between two looks that no event told: `before` is what was
/// known, `now` what Docker reports. First the restarts Docker's restart policy made (its
/// restart count grew; at most `cap`, enough for a restart loop), then, when it was meant to
/// run and has exited since with no policy to start it again, that last exit (a clean one,
/// code 0, is no failure to the policy, as with an event). A container started again
/// meanwhile without its restart count growing is not a known death.
fn hidden_deaths(before: &ContainerInfo, now: &ContainerInfo, cap: u32) -> Vec<Death> {
    if before.id != now.id {
        return Vec::new();
    }
    let restarts = (now.restart_count - before.restart_count).clamp(0, i64::from(cap));
    let mut deaths: Vec<Death> = (0..restarts)
        .map(|_| Death {
            exit_code: now.exit_code,
            oom: false,
            by_user: false,
            restart_policy_handles: true,
        })
        .collect();
    let was_up = matches!(before.state, RunState::Running | RunState::Restarting);
    let is_down = matches!(now.state, RunState::Exited | RunState::Dead);
    if was_up && is_down && !now.restart_policy_handles(now.exit_code) {
        deaths.push(Death {
            exit_code: now.exit_code,
            oom: now.oom_killed,
            by_user: false,
            restart_policy_handles: false,
        });
    }
    deaths
}

/// What a running container's checks say: unhealthy, a failed probe, or all passing.
fn signal(health: Health, probe: Option<&ProbeResult>) -> Option<Input> {
    if health == Health::Unhealthy {
        return Some(Input::Failing {
            kind: IncidentKind::Unhealthy,
            details: "health:unhealthy".into(),
        });
    }
    if let Some(p) = probe.filter(|p| !p.ok()) {
        return Some(Input::Failing {
            kind: IncidentKind::HttpProbeFailed,
            details: p.details(),
        });
    }
    match health {
        Health::Starting => None,
        _ => Some(Input::Healthy),
    }
}

/// Recreates a compose service's container (after building its image, for `rebuild`).
/// Returns how it went and the container that now has the name, whatever the outcome: compose
/// may have replaced the container before failing, and the incident follows the new one.
async fn recreate(
    docker: &Docker,
    service: Option<crate::stack::Service>,
    action: HealAction,
    name: &str,
) -> (Result<(), String>, Option<ContainerInfo>) {
    use crate::stack::{self, Op, Tool};
    let Some(service) = service else {
        return (Err("the container is not a compose service".into()), None);
    };
    // Finding compose runs it (`version`): not on the runtime's threads.
    let tool = tokio::task::spawn_blocking(Tool::cached)
        .await
        .ok()
        .flatten();
    let Some(tool) = tool else {
        return (Err(stack::ComposeError::NotInstalled.to_string()), None);
    };
    // The build and the recreate together: a user's start or stop of the stack waits.
    let _held = stack::lock(&service.project).await;
    let build = if action == HealAction::Rebuild {
        let op = Op::Build(service.service.clone());
        stack::run(tool, &service.project, &op, |_| {}).await
    } else {
        Ok(())
    };
    let result = match build {
        Ok(()) => {
            let op = Op::Recreate(service.service);
            stack::run(tool, &service.project, &op, |_| {}).await
        }
        Err(e) => Err(e),
    };
    let now = docker.inspect(&ContainerId(name.to_string())).await;
    let result = match (result, &now) {
        (Err(e), _) => Err(e.to_string()),
        (Ok(()), Err(e)) => Err(format!(
            "the recreated container {name} cannot be found: {e}"
        )),
        (Ok(()), Ok(_)) => Ok(()),
    };
    (result, now.ok())
}

/// Empties each cache folder inside the container, keeping the folder itself. The paths
/// were validated (absolute, no `..`, not a system folder) and are passed as arguments,
/// never spliced into the shell text.
async fn clear_cache(docker: &Docker, id: &ContainerId, paths: &[String]) -> Result<(), String> {
    let script = r#"status=0
for d in "$@"; do
  [ -d "$d" ] || continue
  find "$d" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + || status=1
done
exit $status"#;
    let mut cmd = vec![
        "sh".to_string(),
        "-c".to_string(),
        script.to_string(),
        "sh".to_string(),
    ];
    cmd.extend(paths.iter().cloned());
    match docker.exec(id, cmd).await {
        Ok((0, _)) => Ok(()),
        Ok((code, out)) => Err(format!("exit code {code}: {}", out.trim())),
        Err(e) => Err(e.to_string()),
    }
}

/// Where healing stands, in a few words: "healing (2)", "healing failed".
fn incident_note(kind: IncidentKind, status: IncidentStatus, attempts: u32) -> String {
    match status {
        IncidentStatus::HealingFailed => "healing failed".to_string(),
        IncidentStatus::Watching => format!("{} (not healed)", kind.as_str()),
        _ => format!("healing ({attempts})"),
    }
}

fn metrics_fields(m: Option<&MetricRow>) -> String {
    let mut out = Vec::new();
    if let Some(m) = m {
        if let Some(c) = m.cpu_percent {
            out.push(format!("cpu:{c:.1}"));
        }
        if let Some(mem) = m.mem_mb {
            out.push(format!("mem_mb:{mem:.1}"));
        }
    }
    out.join(" ")
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A value for a `key:value` field: quoted when it has spaces, on one line.
fn quote(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if one_line.contains(' ') || one_line.is_empty() {
        format!("{one_line:?}")
    } else {
        one_line
    }
}

/// A one-off picture of the stack for `sickbay status`: a live look at every watched
/// container (two samples half a second apart, for CPU %) and the open incidents.
pub async fn snapshot(settings: &Settings, store: &Store) -> StatusView {
    let docker = match Docker::connect().await {
        Ok(d) => d,
        Err(e) => return StatusView::unreachable(docker::endpoint(), e.to_string()),
    };
    let prober = Prober::new(Duration::from_secs(
        settings.monitoring.http_timeout_seconds,
    ));
    let first = match monitor::sweep(&docker, &prober, settings).await {
        Ok(s) => s,
        Err(e) => return StatusView::unreachable(docker::endpoint(), e.to_string()),
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = match monitor::sweep(&docker, &prober, settings).await {
        Ok(s) => s,
        Err(e) => return StatusView::unreachable(docker::endpoint(), e.to_string()),
    };
    let open: HashMap<String, crate::model::Incident> = store
        .open_incidents()
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|i| (i.container.clone(), i))
        .collect();
    let prev: HashMap<ContainerId, StatsSample> = first
        .into_iter()
        .filter_map(|s| Some((s.info.id.clone(), s.stats?)))
        .collect();
    let containers = second
        .into_iter()
        .map(|s| {
            let incident = open.get(&s.info.name);
            let probe_ok = s.probe.as_ref().map(ProbeResult::ok);
            ContainerView {
                name: s.info.name.clone(),
                id: s.info.id.0.clone(),
                state: s.info.state,
                health: s.info.health,
                restart_count: s.info.restart_count,
                cpu_percent: match (prev.get(&s.info.id), &s.stats) {
                    (Some(a), Some(b)) => docker::cpu_percent(a, b).map(round1),
                    _ => None,
                },
                mem_mb: s.stats.map(|st| round1(st.mem_bytes as f64 / 1_048_576.0)),
                response_time_ms: s.probe.as_ref().map(|p| round1(p.response_time_ms)),
                http_status: s.probe.as_ref().and_then(|p| p.status),
                verdict: container_verdict(
                    s.info.state,
                    s.info.health,
                    probe_ok,
                    incident.map(|i| (i.kind, i.status)),
                ),
                note: incident.map(|i| incident_note(i.kind, i.status, i.attempts)),
                incident_id: incident.map(|i| i.id),
            }
        })
        .collect();
    StatusView::new(docker.endpoint().to_string(), containers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_turn_into_policy_inputs() {
        let bad = ProbeResult {
            status: Some(503),
            response_time_ms: 3.0,
            error: None,
        };
        let good = ProbeResult {
            status: Some(200),
            ..bad.clone()
        };
        assert!(matches!(
            signal(Health::Unhealthy, Some(&good)),
            Some(Input::Failing {
                kind: IncidentKind::Unhealthy,
                ..
            })
        ));
        assert_eq!(
            signal(Health::None, Some(&bad)),
            Some(Input::Failing {
                kind: IncidentKind::HttpProbeFailed,
                details: "status:503 response_ms:3".into()
            })
        );
        assert_eq!(signal(Health::Healthy, Some(&good)), Some(Input::Healthy));
        assert_eq!(signal(Health::None, None), Some(Input::Healthy));
        assert_eq!(signal(Health::Starting, None), None);
    }

    fn info(state: RunState, restart_count: i64, exit_code: i64, policy: &str) -> ContainerInfo {
        ContainerInfo {
            id: ContainerId("c1".into()),
            name: "web".into(),
            state,
            health: Health::None,
            has_healthcheck: false,
            restart_count,
            oom_killed: false,
            exit_code,
            started_at: String::new(),
            labels: HashMap::new(),
            restart_policy: policy.into(),
            restart_max_retries: 0,
            health_output: None,
            env: Vec::new(),
        }
    }

    fn death(exit_code: i64, restart_policy_handles: bool) -> Death {
        Death {
            exit_code,
            oom: false,
            by_user: false,
            restart_policy_handles,
        }
    }

    #[test]
    fn deaths_an_outage_hid_are_found_by_comparing_before_and_now() {
        use RunState::{Exited, Restarting, Running};
        let up = info(Running, 0, 0, "no");
        // Crashed meanwhile, no restart policy: a death Sickbay handles.
        let crashed = info(Exited, 0, 3, "no");
        assert_eq!(hidden_deaths(&up, &crashed, 5), vec![death(3, false)]);
        let oom = ContainerInfo {
            oom_killed: true,
            ..info(Exited, 0, 137, "no")
        };
        assert_eq!(
            hidden_deaths(&up, &oom, 5),
            vec![Death {
                oom: true,
                ..death(137, false)
            }]
        );
        // A finished job: a clean exit, which the policy ignores, as after an event.
        assert_eq!(
            hidden_deaths(&up, &info(Exited, 0, 0, "no"), 5),
            vec![death(0, false)]
        );
        // Nothing new: still running, or already known to have exited.
        assert!(hidden_deaths(&up, &up, 5).is_empty());
        assert!(hidden_deaths(&crashed, &crashed, 5).is_empty());
        // Restarted twice by Docker's policy meanwhile: two deaths it handled.
        let always = info(Running, 1, 0, "always");
        assert_eq!(
            hidden_deaths(&always, &info(Restarting, 3, 2, "always"), 5),
            vec![death(2, true), death(2, true)]
        );
        // Many restarts: as many as make a restart loop.
        assert_eq!(
            hidden_deaths(&always, &info(Running, 100, 0, "always"), 5).len(),
            5
        );
        // An `always` container exited and not restarting was stopped by someone: no crash.
        assert!(hidden_deaths(&always, &info(Exited, 1, 137, "always"), 5).is_empty());
        // on-failure:2 used up: two restarts Docker made, then the exit nobody restarts.
        let on_failure = |state, count, code| ContainerInfo {
            restart_max_retries: 2,
            ..info(state, count, code, "on-failure")
        };
        assert_eq!(
            hidden_deaths(&on_failure(Running, 0, 0), &on_failure(Exited, 2, 1), 5),
            vec![death(1, true), death(1, true), death(1, false)]
        );
        // Another container under the same name is not the one known.
        let other = ContainerInfo {
            id: ContainerId("c2".into()),
            ..crashed.clone()
        };
        assert!(hidden_deaths(&up, &other, 5).is_empty());
    }

    #[test]
    fn field_values_stay_on_one_line() {
        assert_eq!(quote("boom"), "boom");
        assert_eq!(quote("no such\ncontainer"), "\"no such container\"");
    }
}

#[cfg(test)]
mod control_tests {
    use super::*;

    async fn next_named(rx: &mut broadcast::Receiver<EventRow>, name: &str) -> EventRow {
        loop {
            let row = rx.recv().await.expect("event bus open");
            if row.event == name {
                return row;
            }
        }
    }

    #[tokio::test]
    async fn pausing_greys_the_verdict_and_is_recorded_until_resumed() {
        let logs = tempfile::tempdir().expect("logs dir");
        let (status_tx, mut status_rx) =
            watch::channel(StatusView::unreachable("x".into(), "starting".into()));
        let (events_tx, mut events_rx) = broadcast::channel(64);
        let (control_tx, control_rx) = mpsc::channel(4);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let links = Links {
            status: Some(status_tx),
            events: Some(events_tx),
            control: Some(control_rx),
            state_file: None,
        };
        let engine = tokio::spawn(run(
            Settings::default(),
            Store::in_memory().expect("store"),
            logs.path().to_path_buf(),
            async {
                let _ = stop_rx.await;
            },
            links,
        ));
        let wait = Duration::from_secs(10);
        control_tx.send(Control::Pause).await.expect("send");
        tokio::time::timeout(wait, next_named(&mut events_rx, "monitoring_paused"))
            .await
            .expect("monitoring_paused recorded");
        let paused = status_rx
            .wait_for(|s| s.paused)
            .await
            .expect("status")
            .clone();
        assert_eq!(paused.verdict, Verdict::Grey);
        control_tx.send(Control::Resume).await.expect("send");
        tokio::time::timeout(wait, next_named(&mut events_rx, "monitoring_resumed"))
            .await
            .expect("monitoring_resumed recorded");
        assert!(
            !status_rx
                .wait_for(|s| !s.paused)
                .await
                .expect("status")
                .paused
        );
        stop_tx.send(()).expect("stop");
        engine.await.expect("join").expect("engine ran");
    }
}
