//! The tray as data: a pure function from the engine's [`StatusView`] (plus the recent
//! incidents and the stack's progress) to what the tray shows, and the [`Action`]s its items
//! stand for. The renderer (in `gui/mod.rs`) only draws it, and skips updates that change
//! nothing. On Linux a tray has no click events and no tooltip, and once a menu is set only
//! its items can change: so the menu has a fixed shape (the same top-level items always) and
//! only texts, enabled flags and the two submenus' entries vary.

use crate::domain::model::{Health, Incident, IncidentStatus, Verdict};
use crate::engine::{ContainerView, StatusView};

/// What a menu item does. Every action of the app is a menu item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    OpenDashboard,
    StartStack,
    StopStack,
    /// Pause or resume, whichever the item says.
    TogglePause,
    Quit,
    StopStackAndQuit,
    /// Open the investigation of an incident ("Recent alerts", a container's submenu).
    Investigate(i64),
    /// A container's submenu: restart it now, snooze it for an hour, end its snooze.
    Restart(String),
    Snooze(String),
    Unsnooze(String),
}

impl Action {
    /// The menu item id that carries the action.
    pub fn id(&self) -> String {
        match self {
            Self::OpenDashboard => "open_dashboard".into(),
            Self::StartStack => "start_stack".into(),
            Self::StopStack => "stop_stack".into(),
            Self::TogglePause => "toggle_pause".into(),
            Self::Quit => "quit".into(),
            Self::StopStackAndQuit => "stop_stack_and_quit".into(),
            Self::Investigate(id) => format!("investigate:{id}"),
            Self::Restart(c) => format!("restart:{c}"),
            Self::Snooze(c) => format!("snooze:{c}"),
            Self::Unsnooze(c) => format!("unsnooze:{c}"),
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        Some(match id {
            "open_dashboard" => Self::OpenDashboard,
            "start_stack" => Self::StartStack,
            "stop_stack" => Self::StopStack,
            "toggle_pause" => Self::TogglePause,
            "quit" => Self::Quit,
            "stop_stack_and_quit" => Self::StopStackAndQuit,
            other => {
                let (kind, arg) = other.split_once(':')?;
                // Container names as Docker allows them, nothing else, reach an action.
                let name = || crate::domain::model::is_container_name(arg).then(|| arg.to_string());
                match kind {
                    "investigate" => Self::Investigate(arg.parse().ok()?),
                    "restart" => Self::Restart(name()?),
                    "snooze" => Self::Snooze(name()?),
                    "unsnooze" => Self::Unsnooze(name()?),
                    _ => return None,
                }
            }
        })
    }
}

/// What the one-click stack is doing, as the tray needs to know it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackState {
    /// A compose file is configured (`[stack] compose_file`).
    pub configured: bool,
    /// A line of progress while `up` / `stop` runs ("Starting stack: web").
    pub progress: Option<String>,
    /// The last run failed: its first line (the dashboard has the whole error).
    pub failed: Option<String>,
}

/// Everything the tray model is computed from.
pub struct TrayInput<'a> {
    pub status: &'a StatusView,
    /// Newest first.
    pub incidents: &'a [Incident],
    pub stack: &'a StackState,
}

/// An entry of "Recent alerts".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub incident_id: i64,
    pub label: String,
}

/// A container's entry in the containers submenu: a submenu of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEntry {
    /// Its state in words: "db: running, healthy", "web is unhealthy; restarted 2 of 3 times".
    pub line: String,
    /// "Restart now", "Snooze 1 h" or "Unsnooze", and "Investigate" while it has an incident.
    pub actions: Vec<(Action, &'static str)>,
}

/// How many incidents "Recent alerts" lists.
pub const RECENT_ALERTS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    /// The icon's colour.
    pub verdict: Verdict,
    /// The disabled first line of the menu: "3 containers healthy", "web is unhealthy;
    /// restarted 2 of 3 times".
    pub status_line: String,
    /// The containers submenu: one entry per container, its state as its text, its actions
    /// inside.
    pub containers: Vec<ContainerEntry>,
    /// "Recent alerts": each opens the investigation of its incident.
    pub alerts: Vec<Alert>,
    /// "Pause monitoring" or "Resume monitoring".
    pub pause_label: &'static str,
    pub stack_enabled: bool,
}

impl TrayModel {
    /// Just the engine's picture: no incidents, no stack configured.
    pub fn from_status(v: &StatusView) -> Self {
        Self::compute(&TrayInput {
            status: v,
            incidents: &[],
            stack: &StackState::default(),
        })
    }

    pub fn compute(input: &TrayInput<'_>) -> Self {
        let v = input.status;
        let verdict = if v.paused { Verdict::Grey } else { v.verdict };
        let status_line = if let Some(p) = &input.stack.progress {
            p.clone()
        } else if v.paused {
            "Monitoring paused".to_string()
        } else if v.standing_by.is_some() {
            "Standing by: another Sickbay acts on these containers".to_string()
        } else if !v.docker_reachable {
            "Docker unreachable".to_string()
        } else {
            let troubled: Vec<String> = v
                .containers
                .iter()
                .filter(|c| in_trouble(c))
                .map(standing)
                .collect();
            let running = v.containers.iter().filter(|c| c.verdict.is_some()).count();
            match troubled.len() {
                // Containers in trouble come first; then a failed start or stop of the stack.
                0 if input.stack.failed.is_some() => input.stack.failed.clone().unwrap_or_default(),
                0 if running == 0 => "No containers running".to_string(),
                0 if running == 1 => "1 container healthy".to_string(),
                0 => format!("{running} containers healthy"),
                1 => troubled[0].clone(),
                n => format!("{n} containers need attention"),
            }
        };
        let containers = v
            .containers
            .iter()
            .map(|c| ContainerEntry {
                line: line(c),
                actions: actions(c),
            })
            .collect();
        let alerts = input
            .incidents
            .iter()
            .take(RECENT_ALERTS)
            .map(|i| Alert {
                incident_id: i.id,
                label: format!(
                    "#{} {}: {} ({})",
                    i.id,
                    i.container,
                    i.kind.as_str(),
                    alert_state(i)
                ),
            })
            .collect();
        Self {
            verdict,
            status_line,
            containers,
            alerts,
            pause_label: if v.paused {
                "Resume monitoring"
            } else {
                "Pause monitoring"
            },
            stack_enabled: input.stack.configured && input.stack.progress.is_none(),
        }
    }
}

fn alert_state(i: &Incident) -> &'static str {
    match (i.closed_at.is_some(), i.status) {
        (true, _) if i.auto_healed => "healed",
        (true, _) => "closed",
        (false, IncidentStatus::HealingFailed) => "healing failed",
        (false, _) => "open",
    }
}

/// A container's line in the containers submenu.
fn line(c: &ContainerView) -> String {
    if in_trouble(c) {
        return standing(c);
    }
    let mut line = format!("{}: {}", c.name, c.state.as_str());
    if c.health != Health::None {
        line.push_str(&format!(", {}", c.health.as_str()));
    }
    if let Some(note) = &c.note {
        line.push_str(&format!(" ({note})"));
    }
    line
}

/// What a person can do with a container from the tray.
fn actions(c: &ContainerView) -> Vec<(Action, &'static str)> {
    let name = c.name.clone();
    let mut actions = vec![(Action::Restart(name.clone()), "Restart now")];
    actions.push(if c.snoozed_until.is_some() {
        (Action::Unsnooze(name), "Unsnooze")
    } else {
        (Action::Snooze(name), "Snooze 1 h")
    });
    if let Some(id) = c.incident_id {
        actions.push((Action::Investigate(id), "Investigate"));
    }
    actions
}

fn in_trouble(c: &ContainerView) -> bool {
    matches!(c.verdict, Some(Verdict::Yellow | Verdict::Red))
}

/// A container in trouble in the engine's words (`ContainerView::standing`, set for every
/// container in trouble).
fn standing(c: &ContainerView) -> String {
    c.standing.clone().unwrap_or_else(|| c.name.clone())
}

/// What the renderer must change to go from `old` to `new` (the menu's shape never changes).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub icon: bool,
    pub status_line: bool,
    pub containers: bool,
    pub alerts: bool,
    pub pause_label: bool,
    pub stack_enabled: bool,
}

impl Changes {
    pub fn between(old: Option<&TrayModel>, new: &TrayModel) -> Self {
        let Some(old) = old else {
            return Self {
                icon: true,
                status_line: true,
                containers: true,
                alerts: true,
                pause_label: true,
                stack_enabled: true,
            };
        };
        Self {
            icon: old.verdict != new.verdict,
            status_line: old.status_line != new.status_line,
            containers: old.containers != new.containers,
            alerts: old.alerts != new.alerts,
            pause_label: old.pause_label != new.pause_label,
            stack_enabled: old.stack_enabled != new.stack_enabled,
        }
    }

    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::RunState;
    use crate::engine::ContainerView;

    fn container(name: &str, verdict: Option<Verdict>, note: Option<&str>) -> ContainerView {
        ContainerView {
            name: name.into(),
            id: "x".into(),
            state: RunState::Running,
            health: Health::Healthy,
            restart_count: 0,
            cpu_percent: None,
            mem_mb: None,
            response_time_ms: None,
            http_status: None,
            verdict,
            note: note.map(str::to_string),
            healing_attempts: note
                .and_then(|n| n.strip_prefix("healing ("))
                .and_then(|n| n.strip_suffix(')'))
                .and_then(|n| n.parse().ok()),
            incident_id: None,
            depends_on: vec![],
            held_for: None,
            snoozed_until: None,
            maintenance_until: None,
            sickbay_restarts: 0,
            gave_up: note == Some("healing failed"),
            standing: None,
        }
        .worded(3)
    }

    fn incident(id: i64, container: &str, closed: bool) -> Incident {
        Incident {
            closed_at: closed.then(|| "2026-01-01T00:01:00Z".into()),
            auto_healed: closed,
            attempts: 1,
            ..Incident::for_tests(id, container)
        }
    }

    #[test]
    fn the_status_line_counts_healthy_containers_and_names_a_sick_one() {
        let green = StatusView::new(
            "unix:///d".into(),
            vec![
                container("a", Some(Verdict::Green), None),
                container("b", Some(Verdict::Green), None),
                container("c", None, None),
            ],
        );
        let m = TrayModel::from_status(&green);
        assert_eq!(m.verdict, Verdict::Green);
        assert_eq!(m.status_line, "2 containers healthy");
        let healing = StatusView::new(
            "unix:///d".into(),
            vec![
                container("db", Some(Verdict::Green), None),
                container("web", Some(Verdict::Yellow), Some("healing (2)")),
            ],
        );
        let m = TrayModel::compute(&TrayInput {
            status: &healing,
            incidents: &[],
            stack: &StackState::default(),
        });
        assert_eq!(m.verdict, Verdict::Yellow);
        assert_eq!(m.status_line, "web is failing; restarted 2 of 3 times");
        let lines: Vec<&str> = m.containers.iter().map(|c| c.line.as_str()).collect();
        assert_eq!(
            lines,
            [
                "db: running, healthy",
                "web is failing; restarted 2 of 3 times"
            ]
        );
        assert_eq!(
            m.containers[1].actions,
            vec![
                (Action::Restart("web".into()), "Restart now"),
                (Action::Snooze("web".into()), "Snooze 1 h"),
            ]
        );
        let down = StatusView::unreachable("unix:///d".into(), "gone".into());
        let m = TrayModel::from_status(&down);
        assert_eq!(m.verdict, Verdict::Grey);
        assert_eq!(m.status_line, "Docker unreachable");
        assert!(m.containers.is_empty());
    }

    #[test]
    fn standing_by_for_another_sickbay_is_grey_and_says_so() {
        let v = StatusView::standing_by("unix:///d".into(), "pid 12 acts".into());
        let m = TrayModel::from_status(&v);
        assert_eq!(m.verdict, Verdict::Grey);
        assert_eq!(
            m.status_line,
            "Standing by: another Sickbay acts on these containers"
        );
    }

    #[test]
    fn paused_monitoring_is_grey_and_offers_resume() {
        let mut v = StatusView::new(
            "unix:///d".into(),
            vec![container("web", Some(Verdict::Red), Some("healing failed"))],
        );
        v.paused = true;
        let m = TrayModel::from_status(&v);
        assert_eq!(m.verdict, Verdict::Grey);
        assert_eq!(m.status_line, "Monitoring paused");
        assert_eq!(m.pause_label, "Resume monitoring");
        v.paused = false;
        let m = TrayModel::from_status(&v);
        assert_eq!(m.verdict, Verdict::Red);
        assert_eq!(m.status_line, "web still fails; Sickbay stopped trying");
        assert_eq!(m.pause_label, "Pause monitoring");
    }

    #[test]
    fn stack_progress_takes_the_status_line_and_disables_the_stack_items() {
        let v = StatusView::new("unix:///d".into(), vec![]);
        let idle = StackState {
            configured: true,
            ..StackState::default()
        };
        let busy = StackState {
            configured: true,
            progress: Some("Starting stack: web".into()),
            failed: None,
        };
        let failed = StackState {
            configured: true,
            progress: None,
            failed: Some("Starting stack failed: port 80 is taken".into()),
        };
        let input = |stack| TrayInput {
            status: &v,
            incidents: &[],
            stack,
        };
        let m = TrayModel::compute(&input(&idle));
        assert!(m.stack_enabled);
        assert_eq!(m.status_line, "No containers running");
        let m = TrayModel::compute(&input(&busy));
        assert!(!m.stack_enabled);
        assert_eq!(m.status_line, "Starting stack: web");
        let m = TrayModel::compute(&input(&failed));
        assert!(m.stack_enabled, "a failed start can be tried again");
        assert_eq!(m.status_line, "Starting stack failed: port 80 is taken");
        // Without a compose file there is nothing to start.
        assert!(!TrayModel::from_status(&v).stack_enabled);
    }

    #[test]
    fn recent_alerts_are_the_newest_incidents_and_open_their_investigation() {
        let v = StatusView::new("unix:///d".into(), vec![]);
        let incidents: Vec<Incident> = (1..=12)
            .rev()
            .map(|i| incident(i, "web", i != 12))
            .collect();
        let m = TrayModel::compute(&TrayInput {
            status: &v,
            incidents: &incidents,
            stack: &StackState::default(),
        });
        assert_eq!(m.alerts.len(), RECENT_ALERTS);
        assert_eq!(m.alerts[0].incident_id, 12);
        assert_eq!(m.alerts[0].label, "#12 web: unhealthy (open)");
        assert_eq!(m.alerts[1].label, "#11 web: unhealthy (healed)");
        let id = Action::Investigate(m.alerts[0].incident_id).id();
        assert_eq!(Action::parse(&id), Some(Action::Investigate(12)));
    }

    #[test]
    fn every_action_round_trips_through_its_menu_id() {
        for a in [
            Action::OpenDashboard,
            Action::StartStack,
            Action::StopStack,
            Action::TogglePause,
            Action::Quit,
            Action::StopStackAndQuit,
            Action::Investigate(7),
            Action::Restart("shop_web_1".into()),
            Action::Snooze("web.2".into()),
            Action::Unsnooze("web-3".into()),
        ] {
            assert_eq!(Action::parse(&a.id()), Some(a));
        }
        assert_eq!(Action::parse("status"), None);
        assert_eq!(Action::parse("investigate:x"), None);
        assert_eq!(
            Action::parse("restart:web; rm -rf /"),
            None,
            "only a name Docker allows"
        );
    }

    #[test]
    fn the_renderer_is_told_only_what_changed() {
        let v = StatusView::new(
            "unix:///d".into(),
            vec![container("a", Some(Verdict::Green), None)],
        );
        let a = TrayModel::from_status(&v);
        assert!(Changes::between(None, &a).any());
        assert!(!Changes::between(Some(&a), &a.clone()).any());
        let mut v2 = v.clone();
        v2.containers[0].state = RunState::Exited;
        v2.containers[0].verdict = None;
        let b = TrayModel::from_status(&v2);
        let c = Changes::between(Some(&a), &b);
        assert!(c.containers && c.status_line);
        assert!(!c.alerts && !c.pause_label && !c.stack_enabled);
    }
}
