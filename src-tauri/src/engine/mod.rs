//! The engine: one task that owns the watched containers' state. Everything reaches it as a
//! typed [`Msg`] over a channel (Docker's events, sweep results, finished heal actions,
//! connection changes); it feeds the pure heal policy, carries out its decisions, and writes
//! every event to the history before anything user-visible refers to it.
//!
//! The parts, by job:
//! - this file: the loop and its messages ([`Msg`], [`Links`], [`Control`]), the connection
//!   and sweep tasks, recording events, publishing the status;
//! - `tracked`: what the engine knows of one container and the ordering rules that decide
//!   which news is newer (first sight, Sickbay's own actions, retired containers);
//! - `observe`: Docker's events and samples turned into the heal policy's inputs;
//! - `effects`: the policy's decisions carried out (incidents, events) and actions' results;
//! - `executors`: the heal actions themselves, run off the loop (restart, cache clear, compose
//!   recreate and rebuild);
//! - `reconcile`: what an outage hid, found after a reconnect;
//! - `history`: failed history writes, counted and shown;
//! - `view`: the status as `status`, the tray and the dashboard show it.
//!
//! It must not talk to Docker on its own loop (every call runs in a task that answers with a
//! [`Msg`]), nor let anything but [`Msg`] and [`Control`] change its state.

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
use crate::docker::monitor::{self, Sample};
use crate::docker::probe::{ProbeResult, Prober};
use crate::docker::{self, ContainerInfo, Docker, DockerEvent, EventKind, StatsSample};
use crate::domain::deps::{Facts, Graph, Via};
use crate::domain::event::{quote, Event};
use crate::domain::heal::{Capabilities, ContainerHeal, Death, Decision, Input, Limits};
use crate::domain::model::{
    container_verdict, ActionRecord, ContainerId, HealAction, Health, IncidentKind, IncidentStatus,
    RunState, Verdict,
};
use crate::storage::logfile::{self, LogFile};
use crate::storage::store::{EventRow, MetricRow, Store};

mod asked;
mod dependencies;
mod effects;
mod executors;
mod history;
mod observe;
pub mod published;
mod reconcile;
mod snoozes;
mod tracked;
mod view;

pub use history::EngineState;
use history::HistoryHealth;
use tracked::{OpenIncident, Tracked};
use view::{container_view, metrics_fields, round1};
pub use view::{snapshot, ContainerView, DependencyView, StatusView, SweepFigures, ViewSource};

/// Samples of a sweep taken in between two looks at the engine's other messages: an event
/// that comes while a sweep of 500 containers is taken in waits for this many at most.
const SWEEP_CHUNK: usize = 25;

/// What reaches the engine.
#[derive(Debug)]
pub enum Msg {
    Connected(Docker),
    Disconnected(String),
    Event(DockerEvent),
    /// A sweep's samples; `listed_at`: when it listed the containers; `took`: from listing
    /// to its last sample.
    Swept {
        samples: Vec<Sample>,
        listed_at: Instant,
        took: Duration,
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
    /// A fresh look at a failing container's dependencies (`dependencies`).
    DependenciesLooked {
        dependent: ContainerId,
        samples: Vec<Sample>,
    },
    /// A dependent started, restarted or recreated for its dependency.
    Followed(Box<dependencies::Followed>),
    /// A restart a person asked for (`Control::Restart`) is done.
    Asked {
        id: ContainerId,
        seq: u64,
        by: String,
        result: Result<(), String>,
    },
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
    /// The settings as the file changes (`config::live`): the engine takes the
    /// `[[maintenance]]` windows from each new version; the rest waits for a restart.
    pub settings: Option<watch::Receiver<Settings>>,
}

/// A user's control of a running engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// No sweeps and no healing (nothing reaches the heal policy) until `Resume`; the verdict
    /// is grey meanwhile.
    Pause,
    Resume,
    /// Restart this container now ("Restart now" in the dashboard or the tray; `by` says
    /// where): a person took over, so what Sickbay had given up on starts afresh.
    Restart {
        container: String,
        by: String,
    },
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
    /// A sweep being taken in, a chunk at a time between other messages.
    sweep: Option<SweepInTake>,
    /// The last sweep's size and length, for the status.
    last_sweep: Option<SweepFigures>,
    /// Which container needs which (built again when `graph_dirty`).
    graph: Graph,
    graph_dirty: bool,
    /// Removed containers' names by their old id, and when: a dependent that names one as
    /// its namespace parent needs what took its place.
    replaced_names: HashMap<ContainerId, (String, Instant)>,
    /// Projects being orchestrated (compose, an updater, a person replacing containers).
    bursts: HashMap<String, dependencies::Burst>,
    /// The snoozes in force (read from the history every `snoozes::LOOK_EVERY`).
    snoozes: crate::domain::snooze::Snoozes,
    /// The `[[maintenance]]` windows.
    windows: Vec<crate::domain::maintenance::Window>,
}

/// What remains of a sweep the engine is taking in.
struct SweepInTake {
    samples: std::vec::IntoIter<Sample>,
    live: std::collections::HashSet<ContainerId>,
    listed_at: Instant,
    figures: SweepFigures,
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
    let mut links_settings = links.settings;
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
    let mut engine = Engine::new(
        settings.clone(),
        store,
        log,
        tx.clone(),
        docker_tx,
        status_tx,
        links.events,
        links.state_file,
    );
    engine.sweep_now = sweep_now.clone();
    engine.paused = paused.clone();
    engine.history.write();
    engine.adopt_open_incidents();
    engine.apply_retention();
    engine.record(
        Event::MonitorStarted,
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
    engine.reload_snoozes();
    let mut snoozes = tokio::time::interval(snoozes::LOOK_EVERY);
    snoozes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        if engine.sweep.is_some() {
            // What came meanwhile goes first (an event's heal decision never waits behind a
            // sweep), then the sweep's next chunk.
            while let Ok(msg) = rx.try_recv() {
                engine.handle(msg);
            }
            engine.take_in_sweep();
            tokio::task::yield_now().await;
            continue;
        }
        let deadline = engine.next_deadline();
        tokio::select! {
            _ = &mut shutdown => break,
            Some(msg) = rx.recv() => engine.handle(msg),
            _ = sleep_until(deadline) => engine.tick(),
            _ = retention.tick() => engine.apply_retention(),
            _ = snoozes.tick() => engine.reload_snoozes(),
            Some(c) = next_control(&mut control) => engine.control(c),
            Some(s) = next_settings(&mut links_settings) => engine.set_windows(&s),
        }
    }
    connection.abort();
    sweeper.abort();
    // Results that already arrived are still recorded.
    while let Ok(msg) = rx.try_recv() {
        engine.handle(msg);
    }
    engine.finish_sweep();
    engine.record(Event::MonitorStopped, None, None, String::new());
    engine.history.remove();
    Ok(())
}

/// The next version of the settings (never, once the sender is gone).
async fn next_settings(rx: &mut Option<watch::Receiver<Settings>>) -> Option<Settings> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    if r.changed().await.is_err() {
        *rx = None;
        return None;
    }
    let s = r.borrow_and_update().clone();
    Some(s)
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
    let mut memory = monitor::Memory::default();
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
        let msg = match monitor::sweep(
            &d,
            &prober,
            &settings,
            docker::Window::OneShot,
            Some(&mut memory),
        )
        .await
        {
            Ok(monitor::Swept { samples, took }) => Msg::Swept {
                samples,
                listed_at,
                took,
            },
            Err(e) => Msg::Disconnected(e.to_string()),
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// The `[[maintenance]]` windows of `settings` (checked when they were loaded).
fn windows(settings: &Settings) -> Vec<crate::domain::maintenance::Window> {
    settings
        .maintenance
        .iter()
        .filter_map(|m| m.window().ok())
        .collect()
}

impl Engine {
    /// The `[[maintenance]]` windows of new settings, in force at once.
    fn set_windows(&mut self, settings: &Settings) {
        self.windows = windows(settings);
        self.reload_snoozes();
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        settings: Settings,
        store: Store,
        log: Option<LogFile>,
        tx: mpsc::Sender<Msg>,
        docker_tx: watch::Sender<Option<Docker>>,
        status_tx: watch::Sender<StatusView>,
        events_tx: Option<broadcast::Sender<EventRow>>,
        state_file: Option<PathBuf>,
    ) -> Self {
        let windows = windows(&settings);
        Self {
            limits: Limits::from_settings(&settings),
            settings,
            store,
            log,
            tracked: HashMap::new(),
            adopted: HashMap::new(),
            retired: HashMap::new(),
            first_sight: HashMap::new(),
            docker: None,
            docker_error: None,
            tx,
            docker_tx,
            status_tx,
            events_tx,
            sweep_now: Arc::new(Notify::new()),
            paused: Arc::new(AtomicBool::new(false)),
            history: HistoryHealth {
                state: EngineState {
                    pid: std::process::id(),
                    started_at: clock::utc_now(),
                    history_errors: 0,
                    last_history_error: None,
                },
                state_file,
            },
            reconnected: None,
            sweep: None,
            last_sweep: None,
            graph: Graph::default(),
            graph_dirty: false,
            replaced_names: HashMap::new(),
            bursts: HashMap::new(),
            snoozes: Default::default(),
            windows,
        }
    }

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
        event: Event,
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
            .insert_event(&timestamp, event.as_str(), container, incident, &fields)
        {
            Ok(id) => {
                if let Some(tx) = &self.events_tx {
                    // No receiver is not an error: nobody listens yet.
                    let _ = tx.send(EventRow {
                        id,
                        timestamp,
                        event: event.as_str().to_string(),
                        container_name: container.map(str::to_string),
                        incident_id: incident,
                        details: fields.clone(),
                    });
                }
            }
            Err(e) => self.history.failed(&format!("recording {event}"), &e),
        }
        let line = logfile::format_line(&clock::log_stamp(), event.as_str(), &fields);
        if let Some(log) = &mut self.log {
            if let Err(e) = log.append(&line) {
                tracing::error!("cannot write monitor.log: {e}");
            }
        }
        tracing::info!(target: "sickbay::domain::event", "{event} {fields}");
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
        // A snoozed container's timers wait for the snooze's end, an orchestrated one's for
        // the burst's.
        self.tracked
            .values()
            .filter_map(|t| t.heal.next_deadline().filter(|_| !self.frozen(t)))
            .chain(self.dependency_deadline())
            .min()
    }

    fn control(&mut self, c: Control) {
        if let Control::Restart { container, by } = c {
            self.restart_asked(&container, &by);
            return;
        }
        let pause = c == Control::Pause;
        if self.paused.swap(pause, Ordering::Relaxed) == pause {
            return;
        }
        if pause {
            self.record(Event::MonitoringPaused, None, None, String::new());
        } else {
            self.record(Event::MonitoringResumed, None, None, String::new());
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
            // A person's restart under way: the policy's timers wait for its result.
            .filter(|(_, t)| {
                t.heal.next_deadline().is_some_and(|d| d <= now) && !self.frozen(t) && !t.asked
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.feed(&id, Input::Tick);
        }
        self.end_verify_windows(now);
        self.end_bursts(now);
        self.publish();
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Connected(d) => {
                if self.docker.is_none() {
                    let fields = format!("docker:{}", d.endpoint());
                    if self.docker_error.take().is_some() {
                        self.record(Event::DockerReconnected, None, None, fields);
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
                        Event::DockerUnreachable,
                        None,
                        None,
                        format!("docker:{} error:{}", docker::endpoint(), quote(&reason)),
                    );
                }
                self.docker_error = Some(reason);
                let _ = self.docker_tx.send(None);
            }
            Msg::Event(ev) => self.on_event(ev),
            Msg::Swept {
                samples,
                listed_at,
                took,
            } => {
                // One still being taken in (the engine fell a whole sweep behind): done first.
                self.finish_sweep();
                let live = samples.iter().map(|s| s.info.id.clone()).collect();
                self.reconcile(&samples, listed_at);
                self.sweep = Some(SweepInTake {
                    figures: SweepFigures::of(&samples, took),
                    samples: samples.into_iter(),
                    live,
                    listed_at,
                });
                self.take_in_sweep();
            }
            Msg::Sampled(s) => self.on_single_sample(*s),
            Msg::FirstSight(id, s) => {
                if let Some(s) = s {
                    self.on_single_sample(*s);
                }
                // What Docker said of it meanwhile, in order, now that it is known.
                for ev in self.first_sight.remove(&id).unwrap_or_default() {
                    if self.tracked.contains_key(&ev.id) {
                        self.tell_event(ev);
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
            Msg::DependenciesLooked { dependent, samples } => {
                self.on_dependencies_looked(&dependent, samples)
            }
            Msg::Followed(f) => self.on_followed(*f),
            Msg::Asked {
                id,
                seq,
                by,
                result,
            } => self.on_asked(&id, seq, &by, result),
        }
        self.publish();
    }

    /// Takes in the next chunk of the sweep under way ([`SWEEP_CHUNK`] samples, their metrics
    /// written together); after the last, forgets what the sweep no longer listed.
    fn take_in_sweep(&mut self) {
        let Some(sweep) = &mut self.sweep else {
            return;
        };
        let chunk: Vec<Sample> = sweep.samples.by_ref().take(SWEEP_CHUNK).collect();
        let done = sweep.samples.len() == 0;
        let rows: Vec<MetricRow> = chunk
            .into_iter()
            .filter_map(|s| self.on_sample(s))
            .collect();
        if !rows.is_empty() {
            let r = self.store.insert_metrics(&rows);
            self.history.check("recording metrics", r);
        }
        if !done {
            return;
        }
        let Some(sweep) = self.sweep.take() else {
            return;
        };
        // Containers gone without a `destroy` we saw (missed while disconnected); not those
        // first tracked after the sweep listed what there was.
        let gone: Vec<ContainerId> = self
            .tracked
            .iter()
            .filter(|(id, t)| {
                !sweep.live.contains(*id) && !t.being_replaced() && t.since < sweep.listed_at
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.forget(&id);
        }
        self.last_sweep = Some(sweep.figures);
        self.publish();
    }

    /// Takes in the rest of the sweep under way, if any, at once.
    fn finish_sweep(&mut self) {
        while self.sweep.is_some() {
            self.take_in_sweep();
        }
    }

    fn publish(&mut self) {
        self.refresh_graph();
        let view = if self.docker.is_none() {
            StatusView::unreachable(
                docker::endpoint(),
                self.docker_error
                    .clone()
                    .unwrap_or_else(|| "connecting".into()),
            )
        } else {
            let mut containers: Vec<ContainerView> = self
                .tracked
                .values()
                .map(|t| {
                    view::left_alone(t.view(), self.quiet(t))
                        .worded(self.settings.heal.max_attempts)
                })
                .collect();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            view::with_dependencies(&mut containers, &self.graph);
            StatusView::new(docker::endpoint(), containers)
        };
        let view = StatusView {
            history_errors: self.history.state.history_errors,
            other_healer: self.other_healer(),
            last_sweep: self.last_sweep.clone(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ..Links::default()
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

/// The ordering rules, without Docker: the engine fed messages by hand.
#[cfg(test)]
mod ordering_tests {
    use super::*;

    fn engine() -> Engine {
        let (tx, _rx) = mpsc::channel(64);
        let (docker_tx, _) = watch::channel(None);
        let (status_tx, _) = watch::channel(StatusView::unreachable("x".into(), "test".into()));
        Engine::new(
            Settings::default(),
            Store::in_memory().expect("store"),
            None,
            tx,
            docker_tx,
            status_tx,
            None,
            None,
        )
    }

    fn info(id: &str, state: RunState) -> ContainerInfo {
        ContainerInfo::for_tests(id, state)
    }

    fn sample(info: ContainerInfo, at: Instant) -> Sample {
        Sample {
            info,
            stats: None,
            probe: None,
            at,
            timestamp: clock::utc_now(),
        }
    }

    fn event(id: &str, kind: EventKind) -> DockerEvent {
        DockerEvent {
            id: ContainerId(id.into()),
            name: format!("name-{id}"),
            kind,
            labels: HashMap::new(),
            time_nano: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64),
        }
    }

    fn events(e: &Engine) -> Vec<String> {
        e.store
            .events(None)
            .expect("events")
            .into_iter()
            .map(|r| r.event)
            .collect()
    }

    /// A running container `id` with `labels`, and the compose dependencies `declared`.
    fn with(
        id: &str,
        state: RunState,
        exit_code: i64,
        labels: &[(&str, &str)],
        declared: &[(&str, bool)],
    ) -> ContainerInfo {
        ContainerInfo {
            exit_code,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            depends_on: declared
                .iter()
                .map(|(s, job)| crate::docker::stack::Declared {
                    service: s.to_string(),
                    job: *job,
                })
                .collect(),
            ..info(id, state)
        }
    }

    fn died(id: &str, code: i64) -> DockerEvent {
        event(id, EventKind::Die { exit_code: code })
    }

    #[test]
    fn a_restart_a_person_asks_for_is_recorded_refused_when_it_cannot_be_done_and_counted() {
        let mut e = engine();
        let details = |e: &Engine, event: &str| -> Vec<String> {
            e.store
                .events(None)
                .expect("events")
                .into_iter()
                .filter(|r| r.event == event)
                .map(|r| r.details)
                .collect()
        };
        e.restart_asked("nobody", "dashboard");
        assert_eq!(
            details(&e, "restart_requested"),
            ["container:nobody by:dashboard refused:\"no such container is watched\""]
        );
        e.on_sample(sample(info("a", RunState::Running), Instant::now()));
        e.restart_asked("name-a", "tray");
        assert!(
            details(&e, "restart_requested")[1].ends_with("refused:\"Docker is unreachable\""),
            "{:?}",
            details(&e, "restart_requested")
        );
        // While it runs (as `restart_asked` leaves it), a second ask is refused; its result,
        // numbered, is recorded once, and a stale one is dropped.
        let id = ContainerId("a".into());
        let t = e.tracked.get_mut(&id).expect("tracked");
        t.follow_seq = 1;
        t.asked = true;
        e.restart_asked("name-a", "dashboard");
        assert!(details(&e, "restart_requested")[2]
            .ends_with("refused:\"Sickbay is acting on it now\""));
        e.on_asked(&id, 0, "dashboard", Ok(()));
        assert!(details(&e, "container_restarted").is_empty(), "stale");
        e.on_asked(&id, 1, "dashboard", Ok(()));
        e.on_asked(&id, 1, "dashboard", Ok(()));
        assert_eq!(
            details(&e, "container_restarted"),
            ["container:name-a by:dashboard"]
        );
        assert_eq!(e.tracked[&id].view().sickbay_restarts, 1);
        assert!(!e.tracked[&id].busy());
        // A restart Docker refused: said as the request's error, not counted as Sickbay's
        // restart, and another may be asked for.
        let t = e.tracked.get_mut(&id).expect("tracked");
        t.follow_seq = 2;
        t.asked = true;
        e.on_asked(&id, 2, "tray", Err("no such container".into()));
        assert!(
            details(&e, "restart_requested")[3].ends_with("by:tray error:\"no such container\"")
        );
        assert_eq!(details(&e, "container_restarted").len(), 1);
        assert_eq!(e.tracked[&id].view().sickbay_restarts, 1);
        assert!(!e.tracked[&id].asked && !e.tracked[&id].busy());
    }

    #[test]
    fn a_dependency_down_holds_its_dependent_but_never_round_a_cycle() {
        let mut e = engine();
        let at = Instant::now();
        // a needs b and b needs a (labels can say so); b is down.
        e.on_sample(sample(
            with(
                "a",
                RunState::Running,
                0,
                &[("sickbay.depends_on", "name-b")],
                &[],
            ),
            at,
        ));
        e.on_sample(sample(
            with(
                "b",
                RunState::Exited,
                3,
                &[("sickbay.depends_on", "name-a")],
                &[],
            ),
            at,
        ));
        e.on_event(died("a", 3));
        let a = &e.tracked[&ContainerId("a".into())];
        assert_eq!(a.held.as_ref().map(|h| h.cause.as_str()), Some("name-b"));
        assert!(events(&e).contains(&"held_for_dependency".to_string()));
        // b's own death: a is held for b, so b is the cause, and b is its own.
        e.on_event(died("b", 3));
        let b = &e.tracked[&ContainerId("b".into())];
        assert!(b.held.is_none(), "b is not held for itself round the cycle");
        assert!(b.heal.incident().is_some(), "b is healed on its own");
    }

    #[test]
    fn a_compose_job_that_completed_is_done_and_holds_nothing() {
        let mut e = engine();
        let at = Instant::now();
        let compose = |service: &'static str| {
            [
                ("com.docker.compose.project", "shop"),
                ("com.docker.compose.service", service),
            ]
        };
        e.on_sample(sample(
            with("m", RunState::Exited, 0, &compose("migrate"), &[]),
            at,
        ));
        e.on_sample(sample(
            with("d", RunState::Exited, 0, &compose("db"), &[]),
            at,
        ));
        e.on_sample(sample(
            with(
                "w",
                RunState::Running,
                0,
                &compose("web"),
                &[("migrate", true)],
            ),
            at,
        ));
        e.on_sample(sample(
            with("x", RunState::Running, 0, &compose("api"), &[("db", false)]),
            at,
        ));
        e.on_event(died("w", 3));
        e.on_event(died("x", 3));
        let w = &e.tracked[&ContainerId("w".into())];
        assert!(
            w.held.is_none(),
            "a finished job is not its failure's cause"
        );
        assert!(w.heal.incident().is_some());
        let x = &e.tracked[&ContainerId("x".into())];
        assert_eq!(
            x.held.as_ref().map(|h| h.cause.as_str()),
            Some("name-d"),
            "a stopped service is"
        );
    }

    #[test]
    fn events_that_come_while_a_new_container_is_inspected_wait_and_follow_in_order() {
        let mut e = engine();
        // First seen in an event: being inspected.
        e.first_sight.insert(ContainerId("a".into()), Vec::new());
        e.on_event(event("a", EventKind::Die { exit_code: 3 }));
        assert!(e.tracked.is_empty(), "not tracked before its inspect");
        // The inspect saw it running (before it died): then the death is told.
        e.handle(Msg::FirstSight(
            ContainerId("a".into()),
            Some(Box::new(sample(
                info("a", RunState::Running),
                Instant::now(),
            ))),
        ));
        assert!(e.first_sight.is_empty());
        let t = e.tracked.get(&ContainerId("a".into())).expect("tracked");
        assert_eq!(t.info.state, RunState::Exited);
        assert!(
            events(&e).contains(&"container_died".to_string()),
            "{:?}",
            events(&e)
        );
        assert_eq!(e.store.open_incidents().expect("open").len(), 1);
    }

    #[test]
    fn a_sample_taken_before_the_last_event_does_not_undo_it() {
        let mut e = engine();
        let before = Instant::now();
        e.on_sample(sample(info("b", RunState::Running), before));
        e.on_event(event("b", EventKind::Die { exit_code: 0 }));
        // A sweep that looked before the `die` arrives after it.
        e.on_sample(sample(info("b", RunState::Running), before));
        let t = e.tracked.get(&ContainerId("b".into())).expect("tracked");
        assert_eq!(
            t.info.state,
            RunState::Exited,
            "the event is the newer news"
        );
        // A sample taken after it does count.
        e.on_sample(sample(info("b", RunState::Running), Instant::now()));
        let t = e.tracked.get(&ContainerId("b".into())).expect("tracked");
        assert_eq!(t.info.state, RunState::Running);
    }

    #[test]
    fn a_retired_containers_late_samples_and_events_are_dropped() {
        let mut e = engine();
        e.retired.insert(ContainerId("old".into()), Instant::now());
        e.on_sample(sample(info("old", RunState::Running), Instant::now()));
        e.on_event(event("old", EventKind::Start));
        assert!(e.tracked.is_empty());
        assert!(e.first_sight.is_empty());
    }

    #[test]
    fn a_death_is_handled_before_the_rest_of_a_sweep_of_500_containers() {
        let mut e = engine();
        let at = Instant::now();
        let samples: Vec<Sample> = (0..500)
            .map(|i| sample(info(&format!("c{i:03}"), RunState::Running), at))
            .collect();
        e.handle(Msg::Swept {
            samples,
            listed_at: at,
            took: Duration::from_millis(1200),
        });
        // Taken in a chunk at a time: the engine is free for the next message at once.
        assert!(e.sweep.is_some(), "the sweep is not taken in whole");
        assert_eq!(e.tracked.len(), SWEEP_CHUNK);
        // A container of the first chunk dies: told now, not after 475 more samples.
        e.handle(Msg::Event(event("c000", EventKind::Die { exit_code: 3 })));
        assert!(e.sweep.is_some());
        assert!(
            events(&e).contains(&"container_died".to_string()),
            "{:?}",
            events(&e)
        );
        assert_eq!(e.store.open_incidents().expect("open").len(), 1);
        e.finish_sweep();
        assert_eq!(e.tracked.len(), 500);
        let sweep = e.last_sweep.clone().expect("the sweep's figures");
        assert_eq!((sweep.containers, sweep.took_ms), (500, 1200));
        assert_eq!(e.status_tx.borrow().last_sweep, Some(sweep));
        let rows: i64 = e
            .store
            .count(crate::storage::schema::Table::Metrics)
            .expect("count");
        assert_eq!(rows, 500, "every sample's metrics are written");
    }

    #[test]
    fn a_sweep_forgets_only_containers_it_could_have_listed() {
        let mut e = engine();
        let listed_at = Instant::now();
        // Tracked after the sweep listed: the sweep could not know it.
        std::thread::sleep(Duration::from_millis(5));
        e.on_sample(sample(info("new", RunState::Running), Instant::now()));
        e.handle(Msg::Swept {
            samples: Vec::new(),
            listed_at,
            took: Duration::ZERO,
        });
        assert!(e.tracked.contains_key(&ContainerId("new".into())));
        // A later sweep that does not list it: gone.
        e.handle(Msg::Swept {
            samples: Vec::new(),
            listed_at: Instant::now(),
            took: Duration::ZERO,
        });
        assert!(e.tracked.is_empty());
    }
}
