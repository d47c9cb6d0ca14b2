//! The domain's nouns: containers as Sickbay sees them, their verdicts, incidents and the
//! events that make up the history. Pure data: no I/O crate is imported here, so every
//! other module (and the tests) can construct these values freely. Docker's state strings
//! become a [`RunState`] here only (`RunState::from_docker`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Docker's rule for container names (and compose's for services): `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
/// A name that passes is safe on a log line, in a prompt and on a command line.
pub fn is_container_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 255
}

/// Docker's container id (the full hex id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContainerId(pub String);

impl ContainerId {
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(12)]
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// What Docker does when a container exits (its restart policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    No,
    Always,
    UnlessStopped,
    OnFailure,
}

impl RestartPolicy {
    /// Docker's name (`HostConfig.RestartPolicy.Name`); empty or unknown is `no`.
    pub fn from_docker(name: &str) -> Self {
        match name {
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" => Self::OnFailure,
            _ => Self::No,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::Always => "always",
            Self::UnlessStopped => "unless-stopped",
            Self::OnFailure => "on-failure",
        }
    }
}

impl std::fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A container's lifecycle state. Docker's status strings are mapped here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl RunState {
    pub fn from_docker(s: &str) -> Self {
        match s {
            "created" => Self::Created,
            "running" => Self::Running,
            "paused" => Self::Paused,
            "restarting" => Self::Restarting,
            "removing" => Self::Removing,
            "exited" => Self::Exited,
            "dead" => Self::Dead,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Restarting => "restarting",
            Self::Removing => "removing",
            Self::Exited => "exited",
            Self::Dead => "dead",
            Self::Unknown => "unknown",
        }
    }
}

/// The state of a container's Docker health check, if it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No health check is configured.
    None,
    /// In the health check's start period: never acted on.
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn from_docker(s: Option<&str>) -> Self {
        match s {
            Some("starting") => Self::Starting,
            Some("healthy") => Self::Healthy,
            Some("unhealthy") => Self::Unhealthy,
            _ => Self::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Starting => "starting",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

/// The overall colour of the stack (and of one container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything watched is healthy.
    Green,
    /// Something is degraded or being healed.
    Yellow,
    /// Healing failed (or cannot help): a person is needed.
    Red,
    /// Docker is unreachable, so nothing is known.
    Grey,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
            Self::Grey => "grey",
        }
    }

    /// The verdict for the stack given each watched container's verdict.
    pub fn overall(docker_reachable: bool, containers: impl IntoIterator<Item = Verdict>) -> Self {
        if !docker_reachable {
            return Self::Grey;
        }
        containers.into_iter().fold(Self::Green, |acc, v| match v {
            Self::Grey => acc,
            v => acc.max(v),
        })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    /// Docker's health check reports unhealthy.
    Unhealthy,
    /// The HTTP probe from `sickbay.health_url` fails (non-2xx or no answer).
    HttpProbeFailed,
    /// The container exited with a non-zero code, and nobody asked it to stop.
    Crashed,
    /// The kernel killed the container for memory.
    OomKilled,
    /// Docker's restart policy keeps restarting a crashing container.
    RestartLoop,
}

impl IncidentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unhealthy => "unhealthy",
            Self::HttpProbeFailed => "http_probe_failed",
            Self::Crashed => "crashed",
            Self::OomKilled => "oom_killed",
            Self::RestartLoop => "restart_loop",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Unhealthy,
            Self::HttpProbeFailed,
            Self::Crashed,
            Self::OomKilled,
            Self::RestartLoop,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where an incident stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Seen, and healing is under way or waiting for its backoff.
    Open,
    /// Sickbay does not act on it (labels, restart policy, a restart loop): a record only.
    Watching,
    /// The heal ladder is exhausted; Sickbay stopped acting until the container recovers.
    HealingFailed,
    /// The container is healthy again.
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Watching => "watching",
            Self::HealingFailed => "healing_failed",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Open,
            Self::Watching,
            Self::HealingFailed,
            Self::Resolved,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One action of the heal ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealAction {
    ClearCache,
    Restart,
    /// A compose service's container replaced by a new one (`up -d --force-recreate`).
    Recreate,
    /// A compose service's image built again, then its container recreated.
    Rebuild,
}

impl HealAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClearCache => "clear_cache",
            Self::Restart => "restart",
            Self::Recreate => "recreate",
            Self::Rebuild => "rebuild",
        }
    }

    /// The container is replaced by a new one (a new id): Compose recreates it.
    pub fn replaces_container(self) -> bool {
        matches!(self, Self::Recreate | Self::Rebuild)
    }
}

/// An incident as the history holds it (`monitor_incidents`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: i64,
    pub container: String,
    pub kind: IncidentKind,
    pub status: IncidentStatus,
    /// What was observed, in the log's `key:value` form (`status:503`, `exit_code:1`).
    pub details: String,
    pub opened_at: String,
    pub closed_at: Option<String>,
    pub auto_healed: bool,
    pub attempts: u32,
    /// The heal actions taken, in order, with their outcome.
    pub actions: Vec<ActionRecord>,
    /// Handed to a person and an agent (`sickbay investigate`), when and how.
    pub escalated: bool,
    pub escalated_at: Option<String>,
    pub escalation: Option<String>,
    /// Commits made in the escalation's work folder since it began, listed once the
    /// container is healthy again, for the user to review.
    pub commits: Vec<Commit>,
    /// Healed at its cause: the dependents whose failures were held for this container.
    #[serde(default)]
    pub affected: Vec<String>,
    /// The likely cause the diagnosis found at the escalation, on one line.
    #[serde(default)]
    pub diagnosis: Option<String>,
}

#[cfg(test)]
impl Incident {
    /// An open `unhealthy` incident as unit tests need one: nothing tried, nothing escalated.
    pub fn for_tests(id: i64, container: &str) -> Self {
        Self {
            id,
            container: container.into(),
            kind: IncidentKind::Unhealthy,
            status: IncidentStatus::Open,
            details: String::new(),
            opened_at: "2026-01-01T00:00:00Z".into(),
            closed_at: None,
            auto_healed: false,
            attempts: 0,
            actions: vec![],
            escalated: false,
            escalated_at: None,
            escalation: None,
            commits: vec![],
            affected: vec![],
            diagnosis: None,
        }
    }
}

/// A commit made while an incident was investigated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub id: String,
    pub summary: String,
}

/// One heal action taken for an incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    pub action: HealAction,
    pub at: String,
    /// `ok`, or what went wrong.
    pub outcome: String,
}

/// A container's colour from what is seen of it and its open incident, if any. `None` for
/// containers that are not meant to run (stopped by a user, created, paused): they do not
/// colour the stack.
pub fn container_verdict(
    state: RunState,
    health: Health,
    probe_ok: Option<bool>,
    incident: Option<(IncidentKind, IncidentStatus)>,
) -> Option<Verdict> {
    match incident {
        Some((_, IncidentStatus::HealingFailed)) | Some((IncidentKind::RestartLoop, _)) => {
            Some(Verdict::Red)
        }
        Some((_, IncidentStatus::Resolved)) | None => match state {
            RunState::Running if health == Health::Unhealthy || probe_ok == Some(false) => {
                Some(Verdict::Yellow)
            }
            RunState::Running => Some(Verdict::Green),
            RunState::Restarting => Some(Verdict::Yellow),
            _ => None,
        },
        Some(_) => Some(Verdict::Yellow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_takes_the_worst_colour_and_grey_when_docker_is_unreachable() {
        use Verdict::*;
        assert_eq!(Verdict::overall(true, []), Green);
        assert_eq!(Verdict::overall(true, [Green, Yellow, Green]), Yellow);
        assert_eq!(Verdict::overall(true, [Yellow, Red]), Red);
        assert_eq!(Verdict::overall(false, [Green]), Grey);
    }

    #[test]
    fn a_container_is_coloured_by_its_checks_and_its_incident() {
        use IncidentKind as K;
        use IncidentStatus as S;
        let v = container_verdict;
        assert_eq!(
            v(RunState::Running, Health::Healthy, None, None),
            Some(Verdict::Green)
        );
        assert_eq!(
            v(RunState::Running, Health::None, Some(false), None),
            Some(Verdict::Yellow)
        );
        assert_eq!(
            v(
                RunState::Running,
                Health::Unhealthy,
                None,
                Some((K::Unhealthy, S::Open))
            ),
            Some(Verdict::Yellow)
        );
        assert_eq!(
            v(
                RunState::Running,
                Health::Unhealthy,
                None,
                Some((K::Unhealthy, S::HealingFailed))
            ),
            Some(Verdict::Red)
        );
        assert_eq!(
            v(
                RunState::Restarting,
                Health::None,
                None,
                Some((K::RestartLoop, S::Watching))
            ),
            Some(Verdict::Red)
        );
        assert_eq!(v(RunState::Exited, Health::None, None, None), None);
    }
}
