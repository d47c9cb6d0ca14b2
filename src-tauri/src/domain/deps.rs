//! The dependency graph: which containers a container needs, and how Sickbay knows it.
//! Three sources, strongest first: a network namespace shared with a parent
//! (`HostConfig.NetworkMode = container:<id>`), compose's `depends_on` (service names of the
//! same project), and the explicit label `sickbay.depends_on=name,name` (container names, or
//! services of the same project). Pure: the engine hands it what Docker reported.
//!
//! It also holds the rule that decides whether a dependency is failing ([`standing`]): the
//! cause a dependent's failure is held for, instead of healing the dependent.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::domain::model::{ContainerId, Health, RunState};

/// How a dependency is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The dependent lives in the dependency's network namespace: when the parent's
    /// namespace goes (a restart, a recreate), the dependent is left without a network.
    Network,
    /// Compose's `depends_on`.
    Compose,
    /// The `sickbay.depends_on` label.
    Label,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Network => "network",
            Via::Compose => "compose",
            Via::Label => "label",
        }
    }
}

/// One service a compose service `depends_on`: `job` when compose waits for it to complete
/// (`condition: service_completed_successfully`: a migration, an init job), so that it is done,
/// not down, once it exited 0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Declared {
    pub service: String,
    pub job: bool,
}

/// What the graph needs to know of one container.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub id: ContainerId,
    pub name: String,
    /// Docker's `HostConfig.NetworkMode` (`container:<id>` for a shared namespace).
    pub network_mode: String,
    /// The compose project and service, when it is a compose service.
    pub compose: Option<(String, String)>,
    /// Services of the same project it `depends_on` in compose.
    pub compose_depends_on: Vec<Declared>,
    /// Names from `sickbay.depends_on`.
    pub label_depends_on: Vec<String>,
}

/// One dependency of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub on: ContainerId,
    pub name: String,
    pub via: Via,
    /// A job that runs once: exited 0, it is done (see [`Declared`]).
    pub job: bool,
}

/// The graph of the watched containers.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    needs: HashMap<ContainerId, Vec<Edge>>,
    needed_by: HashMap<ContainerId, Vec<(ContainerId, Via)>>,
    /// Dependents whose namespace parent is gone: the id they name belongs to a container
    /// that was replaced (by `replaced`'s name), so they cannot start again as they are.
    dangling: HashMap<ContainerId, String>,
}

/// The id or name after `container:` in a network mode.
pub fn network_parent(network_mode: &str) -> Option<&str> {
    network_mode
        .strip_prefix("container:")
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

impl Graph {
    /// Builds the graph of `nodes`. `replaced` names containers that are gone, by their old
    /// id: a dependent naming one of them as its namespace parent now needs the container of
    /// that name, and is [`Graph::dangling`].
    pub fn build(nodes: &[Facts], replaced: &HashMap<ContainerId, String>) -> Self {
        let by_name: HashMap<&str, &Facts> = nodes.iter().map(|n| (n.name.as_str(), n)).collect();
        let mut by_service: HashMap<(&str, &str), Vec<&Facts>> = HashMap::new();
        for n in nodes {
            if let Some((p, s)) = &n.compose {
                by_service.entry((p, s)).or_default().push(n);
            }
        }
        let by_id: HashMap<&str, &Facts> = nodes.iter().map(|n| (n.id.0.as_str(), n)).collect();
        // Docker writes the full id; a short one (a hand-made `container:<id12>`) is looked
        // for among all.
        let find_ref = |r: &str| -> Option<&Facts> {
            let r = r.trim_start_matches('/');
            by_id
                .get(r)
                .copied()
                .or_else(|| by_name.get(r).copied())
                .or_else(|| {
                    (r.len() >= 12 && r.len() < 64)
                        .then(|| nodes.iter().find(|n| n.id.0.starts_with(r)))
                        .flatten()
                })
        };
        let mut graph = Graph::default();
        for n in nodes {
            let mut edges: Vec<Edge> = Vec::new();
            let add = |on: &Facts, via: Via, job: bool, edges: &mut Vec<Edge>| {
                if on.id != n.id && !edges.iter().any(|e| e.on == on.id) {
                    edges.push(Edge {
                        on: on.id.clone(),
                        name: on.name.clone(),
                        via,
                        job,
                    });
                }
            };
            if let Some(r) = network_parent(&n.network_mode) {
                match find_ref(r) {
                    Some(parent) => add(parent, Via::Network, false, &mut edges),
                    None => {
                        let old = replaced
                            .iter()
                            .find(|(id, _)| id.0 == r || (r.len() >= 12 && id.0.starts_with(r)));
                        if let Some(parent) = old.and_then(|(_, name)| by_name.get(name.as_str())) {
                            add(parent, Via::Network, false, &mut edges);
                            graph.dangling.insert(n.id.clone(), parent.name.clone());
                        }
                    }
                }
            }
            if let Some((project, _)) = &n.compose {
                for d in &n.compose_depends_on {
                    for on in by_service
                        .get(&(project.as_str(), d.service.as_str()))
                        .into_iter()
                        .flatten()
                    {
                        add(on, Via::Compose, d.job, &mut edges);
                    }
                }
            }
            for name in &n.label_depends_on {
                let service = n.compose.as_ref().and_then(|(p, _)| {
                    by_service
                        .get(&(p.as_str(), name.as_str()))
                        .filter(|v| !v.is_empty())
                });
                match (by_name.get(name.as_str()), service) {
                    (Some(on), _) => add(on, Via::Label, false, &mut edges),
                    (None, Some(list)) => {
                        for on in list {
                            add(on, Via::Label, false, &mut edges);
                        }
                    }
                    (None, None) => {}
                }
            }
            edges.sort_by(|a, b| (a.via, &a.name).cmp(&(b.via, &b.name)));
            for e in &edges {
                graph
                    .needed_by
                    .entry(e.on.clone())
                    .or_default()
                    .push((n.id.clone(), e.via));
            }
            if !edges.is_empty() {
                graph.needs.insert(n.id.clone(), edges);
            }
        }
        graph
    }

    /// What `id` needs, the namespace parent first.
    pub fn needs(&self, id: &ContainerId) -> &[Edge] {
        self.needs.get(id).map_or(&[], Vec::as_slice)
    }

    /// The containers that need `id`, and how.
    pub fn needed_by(&self, id: &ContainerId) -> &[(ContainerId, Via)] {
        self.needed_by.get(id).map_or(&[], Vec::as_slice)
    }

    /// The containers in `id`'s network namespace.
    pub fn namespace_dependents(&self, id: &ContainerId) -> Vec<ContainerId> {
        self.needed_by(id)
            .iter()
            .filter(|(_, via)| *via == Via::Network)
            .map(|(d, _)| d.clone())
            .collect()
    }

    /// `id`'s namespace parent, when it has one Sickbay watches.
    pub fn namespace_parent(&self, id: &ContainerId) -> Option<&Edge> {
        self.needs(id).iter().find(|e| e.via == Via::Network)
    }

    /// Whether `id` names a namespace parent that was replaced: it must be recreated to join
    /// the new one (a `container:<old id>` reference cannot start).
    pub fn dangling(&self, id: &ContainerId) -> bool {
        self.dangling.contains_key(id)
    }
}

/// What the engine knows of a dependency when a dependent fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyState {
    pub state: RunState,
    pub health: Health,
    /// A fresh look may tell more: it has a check (whose failing streak the last sweep may
    /// not show), or the dependent died (and the dependency's own death may not have been
    /// told yet).
    pub worth_a_look: bool,
    /// Docker's count of the dependency's health checks failed in a row
    /// (`State.Health.FailingStreak`), as of `fresh` or the last sweep.
    pub failing_streak: u32,
    /// Sickbay holds an incident open for it, or holds it for a dependency of its own.
    pub in_trouble: bool,
    /// The state was inspected just now (for this decision).
    pub fresh: bool,
}

/// Whether a dependency explains its dependent's failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// It is failing: the dependent's failure is held for it.
    Failing,
    /// It looked well at the last sweep and has a check: look at it again before deciding
    /// (its check may be failing, not yet past its retries).
    Unsure,
    /// It is fine: the dependent's failure is its own.
    Fine,
}

/// The rule: a dependency that is not running, unhealthy, still starting, already in trouble,
/// or whose check is failing but not yet past its retries (`FailingStreak` > 0), is failing.
pub fn standing(d: &DependencyState) -> Standing {
    let down = !matches!(d.state, RunState::Running);
    let unwell = matches!(d.health, Health::Unhealthy | Health::Starting);
    if down || unwell || d.in_trouble || d.failing_streak > 0 {
        Standing::Failing
    } else if d.worth_a_look && !d.fresh {
        Standing::Unsure
    } else {
        Standing::Fine
    }
}

/// Whether a dependent started before its namespace parent's current start: it lives in the
/// parent's old namespace (or none). Times are Docker's RFC 3339 `StartedAt`; an unreadable
/// one says no.
pub fn stranded(dependent_started: &str, parent_started: &str) -> bool {
    let parse = |s: &str| chrono::DateTime::parse_from_rfc3339(s).ok();
    match (parse(dependent_started), parse(parent_started)) {
        (Some(d), Some(p)) => d < p,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(id: &str, name: &str) -> Facts {
        Facts {
            id: ContainerId(id.into()),
            name: name.into(),
            network_mode: "bridge".into(),
            ..Facts::default()
        }
    }

    fn compose(mut f: Facts, project: &str, service: &str, needs: &[&str]) -> Facts {
        f.compose = Some((project.into(), service.into()));
        f.compose_depends_on = needs
            .iter()
            .map(|s| Declared {
                service: s.to_string(),
                job: false,
            })
            .collect();
        f
    }

    fn names(g: &Graph, id: &str) -> Vec<(String, Via)> {
        g.needs(&ContainerId(id.into()))
            .iter()
            .map(|e| (e.name.clone(), e.via))
            .collect()
    }

    const VPN_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn namespace_parents_compose_services_and_labels_make_the_edges() {
        let mut app = compose(facts("2", "shop_app_1"), "shop", "app", &["db"]);
        app.network_mode = format!("container:{VPN_ID}");
        let mut worker = compose(facts("4", "shop_worker_1"), "shop", "worker", &[]);
        worker.label_depends_on = vec!["cache".into(), "redis-outside".into()];
        let nodes = vec![
            compose(facts(VPN_ID, "shop_vpn_1"), "shop", "vpn", &[]),
            app,
            compose(facts("3", "shop_db_1"), "shop", "db", &[]),
            worker,
            compose(facts("5", "shop_cache_1"), "shop", "cache", &[]),
            facts("6", "redis-outside"),
        ];
        let g = Graph::build(&nodes, &HashMap::new());
        assert_eq!(
            names(&g, "2"),
            vec![
                ("shop_vpn_1".to_string(), Via::Network),
                ("shop_db_1".to_string(), Via::Compose)
            ]
        );
        assert_eq!(
            names(&g, "4"),
            vec![
                ("redis-outside".to_string(), Via::Label),
                ("shop_cache_1".to_string(), Via::Label)
            ],
            "a label names a container, or a service of the same project"
        );
        assert_eq!(
            g.namespace_dependents(&ContainerId(VPN_ID.into())),
            vec![ContainerId("2".into())]
        );
        assert_eq!(
            g.namespace_parent(&ContainerId("2".into()))
                .map(|e| e.name.as_str()),
            Some("shop_vpn_1")
        );
        assert!(names(&g, "3").is_empty());
        assert!(!g.dangling(&ContainerId("2".into())));
    }

    #[test]
    fn a_namespace_parent_by_name_or_short_id_is_found_and_no_container_needs_itself() {
        let mut by_name = facts("2", "app");
        by_name.network_mode = "container:vpn".into();
        let mut by_short = facts("3", "side");
        by_short.network_mode = format!("container:{}", &VPN_ID[..12]);
        let mut itself = facts("4", "odd");
        itself.label_depends_on = vec!["odd".into(), "nowhere".into()];
        let g = Graph::build(
            &[facts(VPN_ID, "vpn"), by_name, by_short, itself],
            &HashMap::new(),
        );
        assert_eq!(names(&g, "2"), vec![("vpn".to_string(), Via::Network)]);
        assert_eq!(names(&g, "3"), vec![("vpn".to_string(), Via::Network)]);
        assert!(
            names(&g, "4").is_empty(),
            "unknown names and itself: no edge"
        );
    }

    #[test]
    fn a_dependent_naming_a_replaced_parent_needs_the_new_one_and_dangles() {
        let mut app = facts("2", "app");
        app.network_mode = "container:0123456789abcdef".into();
        let replaced = HashMap::from([(ContainerId("0123456789abcdef".into()), "vpn".into())]);
        let g = Graph::build(&[facts("new", "vpn"), app], &replaced);
        assert_eq!(names(&g, "2"), vec![("vpn".to_string(), Via::Network)]);
        assert!(g.dangling(&ContainerId("2".into())));
        let g = Graph::build(&[facts("new", "vpn")], &replaced);
        assert!(g.needed_by(&ContainerId("new".into())).is_empty());
    }

    #[test]
    fn a_dependency_is_failing_when_down_unwell_in_trouble_or_on_a_failing_streak() {
        let well = DependencyState {
            state: RunState::Running,
            health: Health::Healthy,
            worth_a_look: true,
            failing_streak: 0,
            in_trouble: false,
            fresh: true,
        };
        assert_eq!(standing(&well), Standing::Fine);
        assert_eq!(
            standing(&DependencyState {
                fresh: false,
                ..well
            }),
            Standing::Unsure,
            "a check that may be failing: look again"
        );
        assert_eq!(
            standing(&DependencyState {
                fresh: false,
                worth_a_look: false,
                health: Health::None,
                ..well
            }),
            Standing::Fine,
            "nothing more to learn without a check"
        );
        for failing in [
            DependencyState {
                state: RunState::Exited,
                ..well
            },
            DependencyState {
                health: Health::Unhealthy,
                ..well
            },
            DependencyState {
                health: Health::Starting,
                ..well
            },
            DependencyState {
                failing_streak: 2,
                ..well
            },
            DependencyState {
                in_trouble: true,
                ..well
            },
        ] {
            assert_eq!(standing(&failing), Standing::Failing, "{failing:?}");
        }
    }

    #[test]
    fn a_dependent_started_before_its_parent_is_stranded() {
        let parent = "2026-12-07T10:00:05.123456789Z";
        assert!(stranded("2026-12-07T10:00:01.5Z", parent));
        assert!(!stranded("2026-12-07T10:00:06Z", parent));
        assert!(!stranded("", parent), "unknown: not stranded");
        assert!(!stranded("0001-01-01T00:00:00Z", "garbage"));
    }
}
