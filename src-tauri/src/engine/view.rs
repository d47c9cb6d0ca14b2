//! The status as people see it: [`StatusView`] with a [`ContainerView`] per container, built
//! from the engine's state (or, for `sickbay status` with no engine, from one live look). It
//! decides nothing and changes nothing.

use super::*;

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
    /// Restarts made so far while Sickbay is healing it (the note's number, for "2/3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healing_attempts: Option<u32>,
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
            docker_error: None,
            standing_by: Some(why),
            ..Self::unreachable(endpoint, String::new())
        }
    }

    pub fn new(endpoint: String, containers: Vec<ContainerView>) -> Self {
        Self {
            verdict: Verdict::overall(true, containers.iter().filter_map(|c| c.verdict)),
            docker_reachable: true,
            docker_error: None,
            containers,
            ..Self::unreachable(endpoint, String::new())
        }
    }
}

/// One container's line: the one place a [`ContainerView`] is made, from the engine's state
/// or from a live look. `incident`: its id, kind, status and the restarts made in it.
pub(super) fn container_view(
    info: &ContainerInfo,
    cpu_percent: Option<f64>,
    mem_mb: Option<f64>,
    probe: Option<&ProbeResult>,
    incident: Option<(i64, IncidentKind, IncidentStatus, u32)>,
) -> ContainerView {
    ContainerView {
        name: info.name.clone(),
        id: info.id.0.clone(),
        state: info.state,
        health: info.health,
        restart_count: info.restart_count,
        cpu_percent,
        mem_mb,
        response_time_ms: probe.map(|p| round1(p.response_time_ms)),
        http_status: probe.and_then(|p| p.status),
        verdict: container_verdict(
            info.state,
            info.health,
            probe.map(ProbeResult::ok),
            incident.map(|(_, kind, status, _)| (kind, status)),
        ),
        note: incident.map(|(_, kind, status, attempts)| incident_note(kind, status, attempts)),
        healing_attempts: incident
            .filter(|(_, _, status, _)| healing(*status))
            .map(|(.., attempts)| attempts),
        incident_id: incident.map(|(id, ..)| id),
    }
}

/// Where healing stands, in a few words: "healing (2)", "healing failed".
pub(super) fn incident_note(kind: IncidentKind, status: IncidentStatus, attempts: u32) -> String {
    match status {
        IncidentStatus::HealingFailed => "healing failed".to_string(),
        IncidentStatus::Watching => format!("{} (not healed)", kind.as_str()),
        _ => format!("healing ({attempts})"),
    }
}

/// Sickbay is healing the container (not watching it, not given up).
fn healing(status: IncidentStatus) -> bool {
    !matches!(
        status,
        IncidentStatus::HealingFailed | IncidentStatus::Watching
    )
}

pub(super) fn metrics_fields(m: Option<&MetricRow>) -> String {
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

pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
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
    let open: HashMap<String, crate::domain::model::Incident> = store
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
            let cpu = match (prev.get(&s.info.id), &s.stats) {
                (Some(a), Some(b)) => docker::cpu_percent(a, b).map(round1),
                _ => None,
            };
            let mem = s.stats.map(|st| round1(st.mem_bytes as f64 / 1_048_576.0));
            let incident = open
                .get(&s.info.name)
                .map(|i| (i.id, i.kind, i.status, i.attempts));
            container_view(&s.info, cpu, mem, s.probe.as_ref(), incident)
        })
        .collect();
    StatusView::new(docker.endpoint().to_string(), containers)
}
