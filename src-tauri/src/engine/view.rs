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
    /// What it needs, and how Sickbay knows (the dependency graph).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyView>,
    /// Its failure is held for this dependency, which is failing (or being healed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_for: Option<String>,
    /// Snoozed until then (UTC): recorded and shown, not healed, not notified, and it does
    /// not colour the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<String>,
    /// Restarts Sickbay made since it started watching it (Docker's `restart_count` leaves
    /// out those made through its API).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sickbay_restarts: u32,
    /// In a `[[maintenance]]` window until then (UTC): as snoozed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance_until: Option<String>,
    /// Sickbay gave up healing its open incident (`healing_failed`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub gave_up: bool,
    /// In trouble: what is wrong and what Sickbay does about it, in words ("web is unhealthy;
    /// restarted 2 of 3 times"), for the tray and the dashboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standing: Option<String>,
}

impl ContainerView {
    /// With its words (see `standing`), `max_attempts` being `[heal] max_attempts`.
    pub fn worded(self, max_attempts: u32) -> Self {
        Self {
            standing: standing(&self, max_attempts),
            ..self
        }
    }
}

/// A container in trouble (a yellow or red verdict) in words: what is wrong and what Sickbay
/// does about it, with the limit when it is being healed ("restarted 2 of 3 times").
fn standing(c: &ContainerView, max_attempts: u32) -> Option<String> {
    use crate::domain::words::{self, Stand, Trouble};
    if !matches!(c.verdict, Some(Verdict::Yellow | Verdict::Red)) {
        return None;
    }
    let trouble = if c.state != RunState::Running {
        Trouble::Down
    } else if c.health == Health::Unhealthy {
        Trouble::Unhealthy
    } else if c.response_time_ms.is_some() && !crate::docker::probe::answered_ok(c.http_status) {
        // Probed (a timeout has no status), and not a pass.
        Trouble::HttpCheck
    } else {
        Trouble::Failing
    };
    let stand = if let Some(d) = &c.held_for {
        Stand::Held { dependency: d }
    } else if c.gave_up {
        Stand::GaveUp
    } else if let Some(n) = c.healing_attempts {
        Stand::Healing {
            restarts: n,
            of: max_attempts,
        }
    } else {
        Stand::Other(c.note.as_deref().unwrap_or(c.health.as_str()))
    };
    Some(words::standing(&c.name, trouble, &stand))
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A container's line while it is left alone (`quiet`): no verdict, a note that says why and
/// until when.
pub(super) fn left_alone(
    view: ContainerView,
    quiet: Option<(SystemTime, snoozes::Quiet)>,
) -> ContainerView {
    let Some((until, why)) = quiet else {
        return view;
    };
    let hour = clock::local_hour(until);
    let (note, snoozed_until, maintenance_until) = match why {
        snoozes::Quiet::Snoozed => (
            format!("snoozed until {hour}"),
            Some(clock::utc(until)),
            None,
        ),
        snoozes::Quiet::Maintenance => (
            format!("in maintenance until {hour}"),
            None,
            Some(clock::utc(until)),
        ),
    };
    ContainerView {
        verdict: None,
        note: Some(note),
        snoozed_until,
        maintenance_until,
        ..view
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// One edge of the dependency graph, as `status` and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DependencyView {
    pub name: String,
    pub via: Via,
}

/// The graph's facts of one container: what Docker, compose and its labels say it needs.
pub(super) fn facts(info: &ContainerInfo, policy: &Policy) -> Facts {
    Facts {
        id: info.id.clone(),
        name: info.name.clone(),
        network_mode: info.network_mode.clone(),
        compose: crate::docker::stack::Service::of_container(&info.labels)
            .map(|s| (s.project.name.unwrap_or_default(), s.service)),
        compose_depends_on: info.depends_on.clone(),
        label_depends_on: policy.depends_on.clone(),
    }
}

/// Puts each container's dependencies from `graph` in its line.
pub(super) fn with_dependencies(views: &mut [ContainerView], graph: &Graph) {
    for v in views {
        v.depends_on = graph
            .needs(&ContainerId(v.id.clone()))
            .iter()
            .map(|e| DependencyView {
                name: e.name.clone(),
                via: e.via,
            })
            .collect();
    }
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
    /// The engine's last sweep: how many containers, how long it took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sweep: Option<SweepFigures>,
    /// Where this picture comes from, for `sickbay status`: the running watcher's, or a live
    /// look by `status` itself when none runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ViewSource>,
    /// When the picture was taken (UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The process of the watcher (`sickbay watch` or the tray app) whose picture this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watcher_pid: Option<u32>,
}

/// One sweep's size and length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepFigures {
    pub containers: usize,
    /// From listing the containers to the last one's sample.
    pub took_ms: u64,
    /// When the engine had it (UTC).
    pub at: String,
    /// The running containers whose CPU and memory were read from the kernel's cgroup files
    /// (the others' were asked of Docker, which answers at its stats collector's next round).
    #[serde(default)]
    pub from_cgroups: usize,
}

impl SweepFigures {
    /// The figures of a sweep of `samples` that took `took`, now.
    pub fn of(samples: &[monitor::Sample], took: Duration) -> Self {
        Self {
            containers: samples.len(),
            took_ms: took.as_millis() as u64,
            at: clock::utc_now(),
            from_cgroups: samples
                .iter()
                .filter(|s| s.stats.is_some_and(|st| st.from_cgroup))
                .count(),
        }
    }
}

/// Where a [`StatusView`] comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewSource {
    /// The watcher that runs on this data folder, which heals what it sees.
    Watcher,
    /// `status`'s own look: no watcher runs, nothing is being healed.
    Live,
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
            last_sweep: None,
            source: None,
            as_of: None,
            watcher_pid: None,
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
        depends_on: Vec::new(),
        held_for: None,
        snoozed_until: None,
        maintenance_until: None,
        sickbay_restarts: 0,
        gave_up: incident.is_some_and(|(_, _, status, _)| status == IncidentStatus::HealingFailed),
        standing: None,
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

/// A one-off picture of the stack for `sickbay status` when no watcher runs: a live look at
/// every watched container (CPU % from Docker's own two samples) and the open incidents.
pub async fn snapshot(settings: &Settings, store: &Store) -> StatusView {
    StatusView {
        source: Some(ViewSource::Live),
        as_of: Some(clock::utc_now()),
        ..live_look(settings, store).await
    }
}

async fn live_look(settings: &Settings, store: &Store) -> StatusView {
    let docker = match Docker::connect().await {
        Ok(d) => d,
        Err(e) => return StatusView::unreachable(docker::endpoint(), e.to_string()),
    };
    let prober = Prober::new(Duration::from_secs(
        settings.monitoring.http_timeout_seconds,
    ));
    let swept =
        match monitor::sweep(&docker, &prober, settings, docker::Window::TwoSamples, None).await {
            Ok(s) => s,
            Err(e) => return StatusView::unreachable(docker::endpoint(), e.to_string()),
        };
    let figures = SweepFigures::of(&swept.samples, swept.took);
    let open: HashMap<String, crate::domain::model::Incident> = store
        .open_incidents()
        .unwrap_or_default()
        .into_iter()
        .rev()
        .map(|i| (i.container.clone(), i))
        .collect();
    let facts: Vec<Facts> = swept
        .samples
        .iter()
        .map(|s| {
            facts(
                &s.info,
                &Policy::from_labels(&s.info.labels, &settings.heal).0,
            )
        })
        .collect();
    let graph = Graph::build(&facts, &HashMap::new());
    let mut containers: Vec<ContainerView> = swept
        .samples
        .into_iter()
        .map(|s| {
            let cpu = s.stats.and_then(|st| st.own_cpu_percent()).map(round1);
            let mem = s.stats.map(|st| round1(st.mem_bytes as f64 / 1_048_576.0));
            let incident = open
                .get(&s.info.name)
                .map(|i| (i.id, i.kind, i.status, i.attempts));
            container_view(&s.info, cpu, mem, s.probe.as_ref(), incident)
                .worded(settings.heal.max_attempts)
        })
        .collect();
    with_dependencies(&mut containers, &graph);
    StatusView {
        last_sweep: Some(figures),
        ..StatusView::new(docker.endpoint().to_string(), containers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_with_no_answer_is_worded_as_a_failing_http_check() {
        let info = ContainerInfo::for_tests("abc", RunState::Running);
        let timed_out = ProbeResult {
            status: None,
            response_time_ms: 5000.0,
            error: Some("timed out".into()),
        };
        let incident = Some((1, IncidentKind::HttpProbeFailed, IncidentStatus::Open, 1));
        let view = container_view(&info, None, None, Some(&timed_out), incident).worded(3);
        assert_eq!(
            view.standing.as_deref(),
            Some("name-abc fails its HTTP check; restarted 1 of 3 times"),
            "{view:?}"
        );
    }
}
