//! The Docker adapter: the only importer of bollard. It turns the engine's API into the
//! domain's plain types (and Docker's strings into the domain's enums, here and nowhere else).
//! It is the one reader of `DOCKER_HOST` ([`endpoint_from_env`]). It must not decide anything
//! about containers: that is the engine's and the heal policy's.

pub mod cgroup;
pub mod monitor;
pub mod own;
pub mod probe;
pub mod stack;

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use bollard::query_parameters::{
    EventsOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    LogsOptionsBuilder, RestartContainerOptionsBuilder, StartContainerOptions, StatsOptionsBuilder,
};
use bollard::Docker as Bollard;
use futures_util::{Stream, StreamExt};

use crate::domain::model::{ContainerId, Health, RestartPolicy, RunState};
use stack::Service;

/// How long a connection attempt (and the version negotiation) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Seconds bollard waits for any one request; restarts add their stop timeout.
const REQUEST_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("Docker is unreachable at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("Docker refused: {0}")]
    Refused(String),
}

impl DockerError {
    fn from_bollard(endpoint: &str, e: bollard::errors::Error) -> Self {
        use bollard::errors::Error as E;
        match e {
            E::DockerResponseServerError {
                status_code: 404,
                message,
            } => Self::NotFound(message),
            E::DockerResponseServerError {
                status_code,
                message,
            } => Self::Refused(format!("{message} (HTTP {status_code})")),
            other => Self::Unreachable {
                endpoint: endpoint.to_string(),
                reason: other.to_string(),
            },
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// What one inspect tells about a container.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerInfo {
    pub id: ContainerId,
    pub name: String,
    pub state: RunState,
    pub health: Health,
    pub has_healthcheck: bool,
    pub restart_count: i64,
    pub oom_killed: bool,
    pub exit_code: i64,
    pub started_at: String,
    pub labels: HashMap<String, String>,
    pub restart_policy: RestartPolicy,
    pub restart_max_retries: i64,
    /// The last health check's output, when it failed.
    pub health_output: Option<String>,
    /// `KEY=value`: only to know which values are secrets (never shown or sent).
    pub env: Vec<String>,
    /// `HostConfig.NetworkMode`: `container:<id>` when it lives in another's namespace.
    pub network_mode: String,
    /// Health checks failed in a row (`State.Health.FailingStreak`): above zero, the check
    /// is failing though not yet past its retries.
    pub failing_streak: u32,
    /// The compose services it depends on (its compose file's `depends_on` and `links`).
    pub depends_on: Vec<stack::Declared>,
    /// Its main process (`State.Pid`; 0 when it does not run), whose cgroup holds its counters.
    pub pid: u32,
}

impl ContainerInfo {
    /// Whether Docker itself will start this container again after it exits with `exit_code`.
    pub fn restart_policy_handles(&self, exit_code: i64) -> bool {
        match self.restart_policy {
            RestartPolicy::Always | RestartPolicy::UnlessStopped => true,
            RestartPolicy::OnFailure => {
                exit_code != 0
                    && (self.restart_max_retries == 0
                        || self.restart_count < self.restart_max_retries)
            }
            RestartPolicy::No => false,
        }
    }
}

#[cfg(test)]
impl ContainerInfo {
    /// A container as unit tests need one: named `name-<id>`, no health check, no labels.
    pub fn for_tests(id: &str, state: RunState) -> Self {
        Self {
            id: ContainerId(id.into()),
            name: format!("name-{id}"),
            state,
            health: Health::None,
            has_healthcheck: false,
            restart_count: 0,
            oom_killed: false,
            exit_code: 0,
            started_at: String::new(),
            labels: HashMap::new(),
            restart_policy: RestartPolicy::No,
            restart_max_retries: 0,
            health_output: None,
            env: Vec::new(),
            network_mode: "default".into(),
            failing_streak: 0,
            depends_on: Vec::new(),
            pid: 0,
        }
    }
}

/// A listed container: enough to decide whether to watch it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub id: ContainerId,
    pub name: String,
    pub labels: HashMap<String, String>,
    /// Docker's one-line status ("Up 2 hours (healthy)", "Exited (3) 5 seconds ago"): it
    /// changes whenever the state, the health or the uptime's first figure does.
    pub status: String,
}

/// One stats sample's raw counters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StatsSample {
    pub cpu_total_ns: u64,
    pub system_total_ns: u64,
    pub online_cpus: u32,
    pub mem_bytes: u64,
    pub mem_limit_bytes: u64,
    /// The previous sample's counters (Docker's `precpu_stats`, or the cgroup read a second
    /// before), with [`Window::TwoSamples`].
    pub previous: Option<(u64, u64)>,
    /// Read from the kernel's cgroup files ([`cgroup`]), not asked of Docker.
    pub from_cgroup: bool,
}

/// How much a stats request waits for: Docker's collector samples every container about once
/// a second, and answers at its next round either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// One sample (`one-shot`): CPU % comes from two of them, a sweep apart.
    OneShot,
    /// Two samples a round apart (Docker's `precpu_stats`), so one request gives CPU %.
    TwoSamples,
}

impl StatsSample {
    /// CPU % between Docker's two samples, when the request asked for them.
    pub fn own_cpu_percent(&self) -> Option<f64> {
        let (cpu_total_ns, system_total_ns) = self.previous?;
        let prev = StatsSample {
            cpu_total_ns,
            system_total_ns,
            ..*self
        };
        cpu_percent(&prev, self)
    }
}

/// CPU % between two samples, as `docker stats` computes it (100 % = one core).
pub fn cpu_percent(prev: &StatsSample, cur: &StatsSample) -> Option<f64> {
    let cpu = cur.cpu_total_ns.checked_sub(prev.cpu_total_ns)?;
    let sys = cur.system_total_ns.checked_sub(prev.system_total_ns)?;
    if sys == 0 {
        return None;
    }
    Some(cpu as f64 / sys as f64 * f64::from(cur.online_cpus.max(1)) * 100.0)
}

/// What Docker reported on its event stream about a container.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Die {
        exit_code: i64,
    },
    Oom,
    Health(Health),
    Start,
    Restart,
    Stop,
    Kill,
    Destroy,
    /// A container made (compose, an updater, a person replacing one).
    Create,
    /// A container renamed (compose moves the old one aside before it recreates).
    Rename {
        old_name: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DockerEvent {
    pub id: ContainerId,
    pub name: String,
    pub kind: EventKind,
    pub labels: HashMap<String, String>,
    /// When Docker says it happened, in nanoseconds since the epoch.
    pub time_nano: i64,
}

/// The container events Sickbay acts on (`map_event` reads each): the subscription asks Docker
/// for these only, so the three `exec_*` events every health check makes never leave the
/// daemon. `health_status` matches every status (Docker compares it by prefix).
pub const ACTED_ON: &[&str] = &[
    "die",
    "oom",
    "start",
    "restart",
    "stop",
    "kill",
    "destroy",
    "create",
    "rename",
    "health_status",
];

/// The filters of Sickbay's event subscription: containers' events, only those it acts on.
pub fn event_filters() -> HashMap<String, Vec<String>> {
    HashMap::from([
        ("type".to_string(), vec!["container".to_string()]),
        (
            "event".to_string(),
            ACTED_ON.iter().map(|e| e.to_string()).collect(),
        ),
    ])
}

/// Maps one of Docker's event messages to the domain, if it is one Sickbay cares about.
fn map_event(msg: bollard::models::EventMessage) -> Option<DockerEvent> {
    let action = msg.action?;
    let actor = msg.actor?;
    let id = actor.id?;
    let attrs = actor.attributes.unwrap_or_default();
    let kind = match action.as_str() {
        "die" => EventKind::Die {
            exit_code: attrs
                .get("exitCode")
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1),
        },
        "oom" => EventKind::Oom,
        "start" => EventKind::Start,
        "restart" => EventKind::Restart,
        "stop" => EventKind::Stop,
        "kill" => EventKind::Kill,
        "destroy" => EventKind::Destroy,
        "create" => EventKind::Create,
        "rename" => EventKind::Rename {
            old_name: attrs
                .get("oldName")
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
        },
        a if a.starts_with("health_status") => {
            let status = a.split_once(':').map(|(_, s)| s.trim());
            EventKind::Health(Health::from_docker(status))
        }
        _ => return None,
    };
    let name = attrs.get("name").cloned().unwrap_or_else(|| id.clone());
    let labels = attrs
        .into_iter()
        .filter(|(k, _)| !matches!(k.as_str(), "name" | "image" | "exitCode" | "oldName"))
        .collect();
    Some(DockerEvent {
        id: ContainerId(id),
        name,
        kind,
        labels,
        time_nano: msg.time_nano.unwrap_or_default(),
    })
}

/// The Docker endpoint in use: `DOCKER_HOST`, else the platform's default.
pub fn endpoint() -> String {
    endpoint_from_env().unwrap_or_else(|| default_endpoint().to_string())
}

/// `DOCKER_HOST`, when set and not blank: the one reader of that variable (the dashboard asks
/// it where the endpoint came from).
pub fn endpoint_from_env() -> Option<String> {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
}

#[cfg(unix)]
fn default_endpoint() -> &'static str {
    "unix:///var/run/docker.sock"
}

#[cfg(windows)]
fn default_endpoint() -> &'static str {
    "npipe:////./pipe/docker_engine"
}

/// A connected client. Cheap to clone.
#[derive(Clone)]
pub struct Docker {
    client: Bollard,
    endpoint: String,
    /// The containers' cgroup files, when the engine runs on this machine's kernel.
    cgroups: Option<std::sync::Arc<cgroup::Cgroups>>,
}

impl std::fmt::Debug for Docker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Docker({})", self.endpoint)
    }
}

/// The engine's identity, for `doctor`.
#[derive(Debug, Clone)]
pub struct EngineVersion {
    pub version: String,
    pub api_version: String,
}

pub type EventStream = Pin<Box<dyn Stream<Item = Result<DockerEvent, DockerError>> + Send>>;

impl Docker {
    /// Connects to the endpoint and agrees on an API version the engine speaks (old engines
    /// speak older versions than bollard asks for by default).
    pub async fn connect() -> Result<Self, DockerError> {
        let endpoint = endpoint();
        let unreachable = |reason: String| DockerError::Unreachable {
            endpoint: endpoint.clone(),
            reason,
        };
        let client = connect_to(&endpoint).map_err(|e| unreachable(e.to_string()))?;
        let client = tokio::time::timeout(CONNECT_TIMEOUT, client.negotiate_version())
            .await
            .map_err(|_| unreachable("no answer within 5 s".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let cgroups = cgroup::Cgroups::local(&endpoint).map(std::sync::Arc::new);
        let docker = Self {
            client,
            endpoint,
            cgroups,
        };
        // Before anything is watched: the container this process runs in, if any.
        own::resolve(&docker).await;
        Ok(docker)
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn err(&self, e: bollard::errors::Error) -> DockerError {
        DockerError::from_bollard(&self.endpoint, e)
    }

    pub async fn version(&self) -> Result<EngineVersion, DockerError> {
        let v = self.client.version().await.map_err(|e| self.err(e))?;
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api_version: self.client.client_version().to_string(),
        })
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        self.client.ping().await.map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every container, running or not, that carries all the `labels` (`key` or `key=value`;
    /// none: every container). Docker filters them, so containers of other projects on the
    /// same engine cost nothing.
    pub async fn list(&self, labels: &[String]) -> Result<Vec<Listed>, DockerError> {
        let mut filters: HashMap<String, Vec<String>> = HashMap::new();
        for l in labels {
            let l = match l.split_once('=') {
                Some((k, v)) => format!("{}={}", k.trim(), v.trim()),
                None => l.trim().to_string(),
            };
            filters.entry("label".into()).or_default().push(l);
        }
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .client
            .list_containers(Some(opts))
            .await
            .map_err(|e| self.err(e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_string())
                    .unwrap_or_else(|| id.clone());
                Some(Listed {
                    id: ContainerId(id),
                    name,
                    labels: c.labels.unwrap_or_default(),
                    status: c.status.unwrap_or_default(),
                })
            })
            .collect())
    }

    pub async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo, DockerError> {
        let c = self
            .client
            .inspect_container(&id.0, None::<InspectContainerOptions>)
            .await
            .map_err(|e| self.err(e))?;
        let state = c.state.unwrap_or_default();
        let config = c.config.unwrap_or_default();
        let host = c.host_config.unwrap_or_default();
        let network_mode = host.network_mode.unwrap_or_default();
        let policy = host.restart_policy.unwrap_or_default();
        let health = state.health.unwrap_or_default();
        let health_status = health.status.map(|s| s.to_string());
        let failing_streak = health
            .failing_streak
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0);
        let health_output = health
            .log
            .and_then(|log| log.into_iter().last())
            .filter(|r| r.exit_code.unwrap_or(0) != 0)
            .and_then(|r| r.output)
            .map(|o| o.trim().to_string());
        let labels = config.labels.clone().unwrap_or_default();
        // A broken compose file is said once per version of it (`declared_dependencies`).
        let depends_on = Service::of_container(&labels)
            .and_then(|s| s.depends_on(&labels).ok())
            .unwrap_or_default();
        let has_healthcheck = config
            .healthcheck
            .and_then(|h| h.test)
            .is_some_and(|t| t.first().is_some_and(|s| s != "NONE"));
        Ok(ContainerInfo {
            id: ContainerId(c.id.unwrap_or_else(|| id.0.clone())),
            name: c
                .name
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_else(|| id.0.clone()),
            state: RunState::from_docker(
                &state
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "unknown".into()),
            ),
            health: Health::from_docker(health_status.as_deref()),
            has_healthcheck,
            restart_count: c.restart_count.unwrap_or(0),
            oom_killed: state.oom_killed.unwrap_or(false),
            exit_code: state.exit_code.unwrap_or(0),
            started_at: state.started_at.unwrap_or_default(),
            labels,
            restart_policy: RestartPolicy::from_docker(
                &policy.name.map(|n| n.to_string()).unwrap_or_default(),
            ),
            restart_max_retries: policy.maximum_retry_count.unwrap_or(0),
            health_output,
            env: config.env.unwrap_or_default(),
            network_mode,
            failing_streak,
            depends_on,
            pid: state.pid.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
        })
    }

    /// The last `lines` lines the container wrote (stdout and stderr), oldest first.
    pub async fn logs_tail(
        &self,
        id: &ContainerId,
        lines: usize,
    ) -> Result<Vec<String>, DockerError> {
        let text = self.logs(id, lines, None).await?;
        Ok(text.lines().map(str::to_string).collect())
    }

    /// The last `lines` lines of the container's log (stdout and stderr, with Docker's
    /// stamps), of those written since `since` (whole seconds) when given, as one text.
    async fn logs(
        &self,
        id: &ContainerId,
        lines: usize,
        since: Option<i32>,
    ) -> Result<String, DockerError> {
        let mut opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .tail(&lines.to_string());
        if let Some(secs) = since {
            opts = opts.since(secs);
        }
        let mut stream = self.client.logs(&id.0, Some(opts.build()));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text.push_str(&chunk.map_err(|e| self.err(e))?.to_string());
        }
        Ok(text)
    }

    /// The container's log lines written since `since` (whole seconds: Docker's stamps tell
    /// the lines of that second apart), at most the last `lines` of them, each with Docker's
    /// stamp. Docker finds them from the end of its log, so a look costs the same however long
    /// the log is.
    pub async fn logs_since(
        &self,
        id: &ContainerId,
        since: std::time::SystemTime,
        lines: usize,
    ) -> Result<Vec<(std::time::SystemTime, String)>, DockerError> {
        let secs = since
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i32::try_from(d.as_secs()).unwrap_or(i32::MAX))
            .unwrap_or(0);
        let text = self.logs(id, lines, Some(secs)).await?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (stamp, line) = l.split_once(' ').unwrap_or((l, ""));
                Some((crate::clock::parse(stamp)?, line.to_string()))
            })
            .collect())
    }

    /// One statistics sample of a running container: from its cgroup files when the engine
    /// runs on this kernel (at once, or two a second apart for [`Window::TwoSamples`]), else
    /// from Docker (see [`Window`] for what that waits for).
    pub async fn stats(
        &self,
        c: &ContainerInfo,
        window: Window,
    ) -> Result<StatsSample, DockerError> {
        if let Some(cg) = &self.cgroups {
            if let Some(first) = cg.sample(&c.id, c.pid) {
                if window == Window::OneShot {
                    return Ok(first);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(second) = cg.sample(&c.id, c.pid) {
                    return Ok(StatsSample {
                        previous: Some((first.cpu_total_ns, first.system_total_ns)),
                        ..second
                    });
                }
            }
        }
        self.api_stats(&c.id, window).await
    }

    /// Forgets the cgroup files of containers not in `live`.
    pub fn retain_cgroups(&self, live: &std::collections::HashSet<&ContainerId>) {
        if let Some(cg) = &self.cgroups {
            cg.retain(live);
        }
    }

    /// One stats sample asked of Docker.
    async fn api_stats(
        &self,
        id: &ContainerId,
        window: Window,
    ) -> Result<StatsSample, DockerError> {
        let opts = StatsOptionsBuilder::default()
            .stream(false)
            .one_shot(window == Window::OneShot)
            .build();
        let mut stream = self.client.stats(&id.0, Some(opts));
        let s = match stream.next().await {
            Some(r) => r.map_err(|e| self.err(e))?,
            None => return Err(DockerError::NotFound(id.0.clone())),
        };
        let cpu = s.cpu_stats.unwrap_or_default();
        let previous = s.precpu_stats.and_then(|p| {
            let total = p.cpu_usage.and_then(|u| u.total_usage)?;
            let system = p.system_cpu_usage?;
            (window == Window::TwoSamples && system > 0).then_some((total, system))
        });
        let mem = s.memory_stats.unwrap_or_default();
        let stats = mem.stats.unwrap_or_default();
        // As the docker CLI does: the page cache that can be reclaimed is not "used".
        let cache = stats
            .get("inactive_file")
            .or_else(|| stats.get("total_inactive_file"))
            .copied()
            .unwrap_or(0);
        Ok(StatsSample {
            cpu_total_ns: cpu.cpu_usage.and_then(|u| u.total_usage).unwrap_or(0),
            system_total_ns: cpu.system_cpu_usage.unwrap_or(0),
            online_cpus: cpu.online_cpus.unwrap_or(1),
            mem_bytes: mem.usage.unwrap_or(0).saturating_sub(cache),
            mem_limit_bytes: mem.limit.unwrap_or(0),
            previous,
            from_cgroup: false,
        })
    }

    /// Docker's container events, from now on.
    pub fn events(&self) -> EventStream {
        let opts = EventsOptionsBuilder::default()
            .filters(&event_filters())
            .build();
        let endpoint = self.endpoint.clone();
        Box::pin(self.client.events(Some(opts)).filter_map(move |r| {
            let out = match r {
                Ok(msg) => map_event(msg).map(Ok),
                Err(e) => Some(Err(DockerError::from_bollard(&endpoint, e))),
            };
            std::future::ready(out)
        }))
    }

    /// Restarts a container, giving it `stop_timeout` seconds to stop gracefully.
    pub async fn restart(&self, id: &ContainerId, stop_timeout: u64) -> Result<(), DockerError> {
        let t = i32::try_from(stop_timeout).unwrap_or(i32::MAX);
        let opts = RestartContainerOptionsBuilder::default().t(t).build();
        tokio::time::timeout(
            Duration::from_secs(stop_timeout + REQUEST_TIMEOUT_SECS),
            self.client.restart_container(&id.0, Some(opts)),
        )
        .await
        .map_err(|_| DockerError::Refused("the restart did not finish in time".into()))?
        .map_err(|e| self.err(e))
    }

    /// Starts a stopped container.
    pub async fn start(&self, id: &ContainerId) -> Result<(), DockerError> {
        self.client
            .start_container(&id.0, None::<StartContainerOptions>)
            .await
            .map_err(|e| self.err(e))
    }

    /// Runs `cmd` inside the container and returns its exit code and combined output.
    pub async fn exec(
        &self,
        id: &ContainerId,
        cmd: Vec<String>,
    ) -> Result<(i64, String), DockerError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let exec = self
            .client
            .create_exec(
                &id.0,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| self.err(e))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = self
            .client
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| self.err(e))?
        {
            let collect = async {
                while let Some(Ok(chunk)) = out.next().await {
                    if output.len() < 4096 {
                        output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS), collect).await;
        }
        let inspect = self
            .client
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| self.err(e))?;
        Ok((inspect.exit_code.unwrap_or(-1), output))
    }
}

#[cfg(unix)]
fn connect_to(endpoint: &str) -> Result<Bollard, bollard::errors::Error> {
    if let Some(path) = endpoint.strip_prefix("unix://") {
        return Bollard::connect_with_unix(
            path,
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        );
    }
    connect_other(endpoint)
}

#[cfg(windows)]
fn connect_to(endpoint: &str) -> Result<Bollard, bollard::errors::Error> {
    if endpoint.starts_with("npipe://") {
        return Bollard::connect_with_named_pipe(
            endpoint,
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        );
    }
    connect_other(endpoint)
}

fn connect_other(endpoint: &str) -> Result<Bollard, bollard::errors::Error> {
    if endpoint.starts_with("tcp://") || endpoint.starts_with("http://") {
        return Bollard::connect_with_http(
            endpoint,
            REQUEST_TIMEOUT_SECS,
            bollard::API_DEFAULT_VERSION,
        );
    }
    Bollard::connect_with_host(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(action: &str) -> bollard::models::EventMessage {
        bollard::models::EventMessage {
            action: Some(action.into()),
            actor: Some(bollard::models::EventActor {
                id: Some("c1".into()),
                attributes: Some(HashMap::from([("name".into(), "web".into())])),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_subscription_asks_for_exactly_the_events_that_are_read() {
        for action in ACTED_ON {
            let action = if *action == "health_status" {
                "health_status: unhealthy"
            } else {
                action
            };
            assert!(
                map_event(message(action)).is_some(),
                "{action} is asked for but not read"
            );
        }
        for action in [
            "exec_create: sh",
            "exec_start: sh",
            "exec_die",
            "pause",
            "attach",
        ] {
            assert!(
                map_event(message(action)).is_none(),
                "{action} is read but not asked for"
            );
        }
    }

    #[test]
    fn cpu_percent_is_the_share_of_system_time_times_cores() {
        let prev = StatsSample {
            cpu_total_ns: 1_000,
            system_total_ns: 10_000,
            online_cpus: 2,
            ..Default::default()
        };
        let cur = StatsSample {
            cpu_total_ns: 1_500,
            system_total_ns: 20_000,
            online_cpus: 2,
            ..Default::default()
        };
        assert_eq!(cpu_percent(&prev, &cur), Some(10.0));
        // A restarted container's counters go back to zero: no figure rather than nonsense.
        assert_eq!(cpu_percent(&cur, &prev), None);
        // Docker's own previous sample, when the request asked for two.
        let both = StatsSample {
            previous: Some((1_000, 10_000)),
            ..cur
        };
        assert_eq!(both.own_cpu_percent(), Some(10.0));
        assert_eq!(cur.own_cpu_percent(), None, "one-shot: no previous sample");
    }

    #[test]
    fn docker_events_map_to_the_domain() {
        use bollard::models::{EventActor, EventMessage};
        let msg = |action: &str, attrs: &[(&str, &str)]| EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(
                    attrs
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
            }),
            time_nano: Some(42),
            ..Default::default()
        };
        let e = map_event(msg(
            "die",
            &[("exitCode", "137"), ("name", "web"), ("app", "x")],
        ))
        .unwrap();
        assert_eq!(e.kind, EventKind::Die { exit_code: 137 });
        assert_eq!(e.name, "web");
        assert_eq!(e.labels.get("app").map(String::as_str), Some("x"));
        let e = map_event(msg("health_status: unhealthy", &[])).unwrap();
        assert_eq!(e.kind, EventKind::Health(Health::Unhealthy));
        assert!(map_event(msg("exec_start: sh", &[])).is_none());
    }

    #[test]
    fn restart_policies_are_read_as_docker_applies_them() {
        let mut c = ContainerInfo {
            exit_code: 1,
            ..ContainerInfo::for_tests("a", RunState::Exited)
        };
        assert!(!c.restart_policy_handles(1));
        c.restart_policy = RestartPolicy::OnFailure;
        assert!(c.restart_policy_handles(1));
        assert!(!c.restart_policy_handles(0));
        c.restart_max_retries = 3;
        c.restart_count = 3;
        assert!(!c.restart_policy_handles(1));
        c.restart_policy = RestartPolicy::UnlessStopped;
        assert!(c.restart_policy_handles(0));
    }
}
