//! The tray as data: a pure function from the engine's [`StatusView`] to what the tray shows.
//! The renderer (in `gui/mod.rs`) only draws it, and skips updates that change nothing.
//! On Linux a tray has no click events and no tooltip, so the state shows in the icon's
//! colour and a disabled first menu line.

use crate::engine::StatusView;
use crate::model::Verdict;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrayModel {
    pub verdict: Verdict,
    /// The disabled first line of the menu: "3 containers healthy", "web: healing (2)".
    pub status_line: String,
}

impl TrayModel {
    pub fn from_status(v: &StatusView) -> Self {
        let status_line = if !v.docker_reachable {
            "Docker unreachable".to_string()
        } else {
            let troubled: Vec<String> = v
                .containers
                .iter()
                .filter(|c| matches!(c.verdict, Some(Verdict::Yellow | Verdict::Red)))
                .map(|c| match &c.note {
                    Some(note) => format!("{}: {note}", c.name),
                    None => format!("{}: {}", c.name, c.health.as_str()),
                })
                .collect();
            let running = v.containers.iter().filter(|c| c.verdict.is_some()).count();
            match troubled.len() {
                0 if running == 0 => "No containers running".to_string(),
                0 if running == 1 => "1 container healthy".to_string(),
                0 => format!("{running} containers healthy"),
                1 => troubled[0].clone(),
                n => format!("{n} containers need attention"),
            }
        };
        Self {
            verdict: v.verdict,
            status_line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ContainerView;
    use crate::model::{Health, RunState};

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
            incident_id: None,
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
        assert_eq!(
            TrayModel::from_status(&green),
            TrayModel {
                verdict: Verdict::Green,
                status_line: "2 containers healthy".into()
            }
        );
        let healing = StatusView::new(
            "unix:///d".into(),
            vec![
                container("db", Some(Verdict::Green), None),
                container("web", Some(Verdict::Yellow), Some("healing (2)")),
            ],
        );
        let m = TrayModel::from_status(&healing);
        assert_eq!(m.verdict, Verdict::Yellow);
        assert_eq!(m.status_line, "web: healing (2)");
        let down = StatusView::unreachable("unix:///d".into(), "gone".into());
        assert_eq!(
            TrayModel::from_status(&down),
            TrayModel {
                verdict: Verdict::Grey,
                status_line: "Docker unreachable".into()
            }
        );
    }
}
