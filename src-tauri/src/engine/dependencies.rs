//! Healing along dependencies, and orchestration told from failure.
//!
//! - A dependent's failure that a failing dependency explains (`deps::standing`) is held: the
//!   dependent is not healed, the dependency is (also when its own check is failing but not
//!   yet past its retries), and once the dependency is well the dependent gets its own verify
//!   window before anything is done to it. The dependency's incident lists the dependents.
//! - Containers in another's network namespace follow it: restarted when it has a new
//!   namespace, started when they exited with it, recreated through compose when it was
//!   replaced; then their namespace is checked against the parent's.
//! - Compose, an updater or a person replacing containers (a burst of create, destroy and
//!   rename events on a project) is recorded and waited out: nothing of the project is healed
//!   or followed until the burst has been quiet for `orchestration_quiet_seconds`.
//!
//! It decides with `domain::deps` and carries out through the engine's own paths (the heal
//! policy, `executors`); it never talks to Docker on the loop.

use super::*;
use crate::domain::deps::{self, DependencyState, Standing};

/// How long the name of a removed container is kept, to find what replaced it.
const REPLACED_KEPT: Duration = Duration::from_secs(600);

/// A dependent's failure, held for a failing dependency.
#[derive(Debug, Clone)]
pub(super) struct Hold {
    /// The dependency's name (a recreate keeps it, not its id).
    pub(super) cause: String,
    /// The latest failure held, handed to the dependent's own policy if it still fails when
    /// its verify window ends.
    pub(super) failure: Option<(Input, Option<String>)>,
    /// Once the dependency is well: the end of the dependent's own verify window.
    pub(super) verify_until: Option<Instant>,
    /// Sickbay started, restarted or recreated it for its dependency.
    pub(super) followed: bool,
}

/// A burst of orchestration on one project (or one container outside compose).
#[derive(Debug, Clone)]
pub(super) struct Burst {
    last: Instant,
    /// Creates, destroys and renames seen: once they touch two containers it is orchestration
    /// (a lone create is a `docker run`, a lone destroy a `docker rm`).
    changes: u32,
    recorded: bool,
    /// Failures that came meanwhile, looked at again when it is over.
    held: Vec<(ContainerId, Input, Option<String>)>,
    /// The containers its changes were to.
    containers: std::collections::HashSet<ContainerId>,
}

/// What Sickbay does to a dependent for its dependency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// It exited with (or because of) its dependency.
    Start,
    /// It lives in its parent's old network namespace.
    Restart,
    /// Its namespace parent was replaced: `container:<old id>` cannot start again.
    Recreate,
}

impl Follow {
    pub fn as_str(self) -> &'static str {
        match self {
            Follow::Start => "start",
            Follow::Restart => "restart",
            Follow::Recreate => "recreate",
        }
    }
}

/// What a follow came to: the action's result and, for a namespace dependent, whether it
/// now shares its parent's namespace (`None`: it could not be checked).
#[derive(Debug)]
pub struct Followed {
    pub id: ContainerId,
    pub seq: u64,
    pub dependency: String,
    pub action: Follow,
    pub result: Result<(), String>,
    pub namespace: Option<bool>,
    pub replaced_by: Option<ContainerInfo>,
}

/// A failure that could open an incident: a failing check, or a death that is neither a
/// person's nor Docker's restart policy's.
fn is_failure(input: &Input) -> bool {
    match input {
        Input::Failing { .. } => true,
        Input::Died(d) => !d.by_user && !d.restart_policy_handles,
        _ => false,
    }
}

/// Which burst a container belongs to: its compose project, else itself.
fn burst_key(labels: &HashMap<String, String>, name: &str) -> String {
    match crate::docker::stack::Service::of_container(labels).and_then(|s| s.project.name) {
        Some(p) => format!("project:{}", quote(&p)),
        None => format!("container:{}", quote(name)),
    }
}

/// Where a dependency's failure stands for a dependent.
enum Cause {
    Failing(String),
    Unsure(Vec<ContainerId>),
    None,
}

impl Engine {
    fn follows(&self) -> bool {
        self.settings.heal.follow_dependencies
    }

    /// The graph, built again if the containers changed since.
    pub(super) fn refresh_graph(&mut self) {
        if !self.graph_dirty {
            return;
        }
        self.graph_dirty = false;
        let now = Instant::now();
        self.replaced_names
            .retain(|_, (_, at)| now.duration_since(*at) < REPLACED_KEPT);
        let replaced: HashMap<ContainerId, String> = self
            .replaced_names
            .iter()
            .map(|(id, (name, _))| (id.clone(), name.clone()))
            .collect();
        let facts: Vec<deps::Facts> = self
            .tracked
            .values()
            .map(|t| view::facts(&t.info, &t.policy))
            .collect();
        self.graph = deps::Graph::build(&facts, &replaced);
        tracing::debug!(
            "dependency graph of {} containers ({} removed ones remembered)",
            facts.len(),
            replaced.len()
        );
    }

    pub(super) fn id_named(&self, name: &str) -> Option<ContainerId> {
        self.tracked
            .iter()
            .find(|(_, t)| t.info.name == name)
            .map(|(id, _)| id.clone())
    }

    /// A removed container's name, kept to find its replacement.
    pub(super) fn remember_removed(&mut self, id: &ContainerId, name: String) {
        // The first name it was removed under: a late sample may track it again for a moment,
        // under the name compose gave it while moving it aside.
        let name = self
            .replaced_names
            .entry(id.clone())
            .or_insert((name, Instant::now()))
            .0
            .clone();
        // Its dependents' failures go to their own policies now.
        let held: Vec<ContainerId> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.held.as_ref().is_some_and(|h| h.cause == name))
            .map(|(d, _)| d.clone())
            .collect();
        for d in held {
            self.release_to_own_policy(&d);
        }
    }

    /// Whether `id` was removed a moment ago: a late sample or event of it is old news.
    pub(super) fn removed(&self, id: &ContainerId) -> bool {
        self.replaced_names.contains_key(id)
    }

    /// Whether `input` goes to the container's own policy now (`Some`), or is held: for a
    /// failing dependency, while its dependencies are looked at, or while its project is being
    /// orchestrated.
    pub(super) fn route(
        &mut self,
        id: &ContainerId,
        input: Input,
        seen: Option<&str>,
    ) -> Option<Input> {
        let failure = is_failure(&input);
        if self.held_by_burst(id, &input, seen) {
            return None;
        }
        let t = self.tracked.get(id)?;
        if !self.follows() {
            return Some(input);
        }
        if t.held.is_some() {
            if failure {
                if let Some(h) = self.tracked.get_mut(id).and_then(|t| t.held.as_mut()) {
                    h.failure = Some((input, seen.map(str::to_string)));
                }
                return None;
            }
            if input == Input::Healthy {
                self.release_recovered(id);
                return None;
            }
            return Some(input);
        }
        if !t.looking.is_empty() {
            // Waiting for the look: a passing check makes the failures before it old news.
            if let Some(t) = self.tracked.get_mut(id) {
                if input == Input::Healthy {
                    t.looking.retain(|(i, _)| !is_failure(i));
                }
                t.looking.push((input, seen.map(str::to_string)));
            }
            return None;
        }
        if !failure || t.incident.is_some() || t.heal.incident().is_some() {
            return Some(input);
        }
        let died = matches!(input, Input::Died(_));
        match self.cause_of(id, died, false) {
            Cause::Failing(cause) => {
                self.hold(id, &cause, input, seen.map(str::to_string));
                None
            }
            // Without Docker there is nothing to look at: its own failure.
            Cause::Unsure(_) if self.docker.is_none() => Some(input),
            Cause::Unsure(look) => {
                if let Some(t) = self.tracked.get_mut(id) {
                    t.looking.push((input, seen.map(str::to_string)));
                }
                self.look_at_dependencies(id, look);
                None
            }
            Cause::None => Some(input),
        }
    }

    /// Which of `id`'s dependencies explains its failure; `died`: it died (a dependency's
    /// own death may not have been told yet); `fresh`: they were inspected just now.
    fn cause_of(&mut self, id: &ContainerId, died: bool, fresh: bool) -> Cause {
        self.refresh_graph();
        let mut unsure = Vec::new();
        let own = self.tracked.get(id).map(|t| t.info.name.clone());
        for edge in self.graph.needs(id) {
            let Some(d) = self.tracked.get(&edge.on) else {
                continue;
            };
            // A job compose waits to complete (`service_completed_successfully`) is done, not
            // down, once it exited 0.
            if edge.job && d.info.state == RunState::Exited && d.info.exit_code == 0 {
                continue;
            }
            let state = DependencyState {
                state: d.info.state,
                health: d.info.health,
                worth_a_look: d.info.has_healthcheck || died,
                failing_streak: d.info.failing_streak,
                in_trouble: d.incident.is_some()
                    || d.heal.incident().is_some()
                    || d.held.is_some()
                    || d.following.is_some(),
                fresh,
            };
            match deps::standing(&state) {
                Standing::Failing => {
                    // A dependency held for one of its own: the cause is further down. One
                    // held, down the chain, for this very container (a cycle of labels) is
                    // failing because of it: not its cause.
                    let mut cause = d;
                    let mut seen = vec![d.info.name.clone()];
                    let mut round = false;
                    while let Some(h) = cause.held.as_ref() {
                        if Some(&h.cause) == own.as_ref() {
                            round = true;
                            break;
                        }
                        match self.tracked.values().find(|t| t.info.name == h.cause) {
                            Some(next) if !seen.contains(&next.info.name) => {
                                seen.push(next.info.name.clone());
                                cause = next;
                            }
                            _ => break,
                        }
                    }
                    if round {
                        continue;
                    }
                    return Cause::Failing(cause.info.name.clone());
                }
                Standing::Unsure => unsure.push(edge.on.clone()),
                Standing::Fine => {}
            }
        }
        if unsure.is_empty() {
            Cause::None
        } else {
            Cause::Unsure(unsure)
        }
    }

    /// Inspects `dependencies` off the loop; the answer comes back as
    /// `Msg::DependenciesLooked` for `dependent`.
    fn look_at_dependencies(&self, dependent: &ContainerId, dependencies: Vec<ContainerId>) {
        let Some(d) = self.docker.clone() else {
            return;
        };
        let listed: Vec<docker::Listed> = dependencies
            .iter()
            .filter_map(|id| self.tracked.get(id))
            .map(|t| docker::Listed {
                id: t.info.id.clone(),
                name: t.info.name.clone(),
                labels: t.info.labels.clone(),
                status: String::new(),
            })
            .collect();
        let tx = self.tx.clone();
        let dependent = dependent.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            for l in &listed {
                if let Ok(s) = monitor::inspect(&d, l).await {
                    samples.push(s);
                }
            }
            let _ = tx
                .send(Msg::DependenciesLooked { dependent, samples })
                .await;
        });
    }

    /// The fresh look at a failing dependent's dependencies: held for one that is failing,
    /// else its failures go to its own policy.
    pub(super) fn on_dependencies_looked(&mut self, dependent: &ContainerId, samples: Vec<Sample>) {
        for s in samples {
            self.on_single_sample(s);
        }
        let Some(t) = self.tracked.get_mut(dependent) else {
            return;
        };
        let pending = std::mem::take(&mut t.looking);
        if pending.is_empty() {
            return;
        }
        let died = pending.iter().any(|(i, _)| matches!(i, Input::Died(_)));
        let last_failure = pending.iter().rposition(|(i, _)| is_failure(i));
        match (self.cause_of(dependent, died, true), last_failure) {
            (Cause::Failing(cause), Some(at)) => {
                let mut pending = pending;
                let (input, seen) = pending.swap_remove(at);
                self.hold(dependent, &cause, input, seen);
            }
            _ => {
                for (input, seen) in pending {
                    self.step_policy(dependent, input, seen.as_deref());
                }
            }
        }
    }

    /// Holds `id`'s failure for `cause`, and heals the cause if it can be healed: its check
    /// failing, not yet past its retries (or unhealthy, before its own status came). A cause
    /// that is down with nothing to heal (a person stopped it) leaves the dependent an
    /// incident of its own, watching until the cause is back.
    fn hold(&mut self, id: &ContainerId, cause: &str, input: Input, seen: Option<String>) {
        let Some(cause_id) = self.id_named(cause) else {
            self.step_policy(id, input, seen.as_deref());
            return;
        };
        let details = observe::failure_of(&input)
            .map(|(_, d)| d)
            .unwrap_or_default();
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let name = t.info.name.clone();
        t.held = Some(Hold {
            cause: cause.to_string(),
            failure: Some((input.clone(), seen)),
            verify_until: None,
            followed: false,
        });
        let Some(c) = self.tracked.get_mut(&cause_id) else {
            return;
        };
        if !c.affected.contains(&name) {
            c.affected.push(name.clone());
        }
        let affected = c.affected.clone();
        let streak = c.info.failing_streak;
        let can_heal = c.incident.is_none()
            && c.heal.incident().is_none()
            && c.info.state == RunState::Running
            && (streak > 0 || c.info.health == Health::Unhealthy);
        let cause_incident = c.incident.as_ref().map(|i| i.id);
        if let Some(iid) = cause_incident {
            let r = self.store.set_incident_affected(iid, &affected);
            self.history.check(&format!("updating incident {iid}"), r);
        }
        self.record(
            Event::HeldForDependency,
            Some(&name),
            cause_incident,
            format!("dependency:{} {details}", quote(cause)),
        );
        if can_heal {
            let details = format!(
                "health:failing failing_streak:{streak} cause_of:{}",
                affected.join(",")
            );
            self.step_policy(
                &cause_id,
                Input::Failing {
                    kind: IncidentKind::Unhealthy,
                    details,
                },
                None,
            );
        } else if cause_incident.is_none() {
            self.open_waiting_incident(id, &input, cause);
        }
    }

    /// An incident of the dependent's own, watching: what it waits for is down.
    fn open_waiting_incident(&mut self, id: &ContainerId, input: &Input, cause: &str) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let Some((kind, details)) = observe::failure_of(input) else {
            return;
        };
        let details = format!("{details} waiting_for:{}", quote(cause));
        let name = t.info.name.clone();
        let now = clock::utc_now();
        let opened = self.store.open_incident(
            &now,
            &name,
            &t.info.id.0,
            kind,
            IncidentStatus::Watching,
            &details,
        );
        let Some(iid) = self
            .history
            .check(&format!("opening the incident of {name}"), opened)
        else {
            return;
        };
        t.incident = Some(OpenIncident {
            id: iid,
            kind,
            status: IncidentStatus::Watching,
            details: details.clone(),
        });
        self.record(
            observe::failure_event(kind),
            Some(&name),
            Some(iid),
            format!("{details} heal:held"),
        );
    }

    /// A held dependent is well: its hold ends, and an incident of its own closes.
    fn release_recovered(&mut self, id: &ContainerId) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let Some(hold) = t.held.take() else {
            return;
        };
        if t.incident.is_some() && t.heal.incident().is_none() {
            let d = if hold.followed {
                Decision::Healed
            } else {
                Decision::Recovered
            };
            self.apply(id, d);
            return;
        }
        let name = t.info.name.clone();
        let cause_incident = self
            .id_named(&hold.cause)
            .and_then(|c| self.tracked.get(&c))
            .and_then(|c| c.incident.as_ref().map(|i| i.id).or(c.last_incident));
        self.record(
            Event::DependentRecovered,
            Some(&name),
            cause_incident,
            format!("dependency:{}", quote(&hold.cause)),
        );
    }

    /// A held dependent's hold ends with it failing (its verify window is over, or its cause
    /// is gone): its failure goes to its own policy.
    fn release_to_own_policy(&mut self, id: &ContainerId) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let Some(hold) = t.held.take() else {
            return;
        };
        let still = if t.info.state == RunState::Running {
            observe::signal(t.info.health, t.last_probe.as_ref())
        } else {
            hold.failure.as_ref().map(|(i, _)| i.clone())
        };
        match (still, hold.failure) {
            (Some(Input::Healthy), _) => {
                t.held = Some(hold_again(&hold.cause, hold.followed));
                self.release_recovered(id);
            }
            (_, Some((input, seen))) => self.step_policy(id, input, seen.as_deref()),
            _ => {}
        }
    }

    /// Whether the container can be counted on now: running, its check passing (or none),
    /// nothing open about it, nothing being done to it.
    fn is_up(t: &Tracked) -> bool {
        t.info.state == RunState::Running
            && matches!(t.info.health, Health::Healthy | Health::None)
            && t.incident.is_none()
            && t.heal.incident().is_none()
            && !t.busy()
            && t.held.is_none()
    }

    /// `id` may be up again: its held dependents get their verify window (or are started,
    /// restarted or recreated into its namespace), and its namespace dependents that live in
    /// its old namespace are restarted.
    pub(super) fn dependency_up(&mut self, id: &ContainerId) {
        if !self.follows() || self.paused.load(Ordering::Relaxed) {
            return;
        }
        let Some(d) = self.tracked.get(id) else {
            return;
        };
        if !Self::is_up(d) || self.in_burst(&d.info.labels, &d.info.name) {
            if !self.graph.needed_by(id).is_empty() {
                tracing::debug!(
                    "{} is needed but not up: {:?} {:?} incident:{} busy:{} held:{} burst:{}",
                    d.info.name,
                    d.info.state,
                    d.info.health,
                    d.incident.is_some() || d.heal.incident().is_some(),
                    d.busy(),
                    d.held.is_some(),
                    self.in_burst(&d.info.labels, &d.info.name)
                );
            }
            return;
        }
        // The cheap answer for most containers: nothing needs it.
        self.refresh_graph();
        if self.graph.needed_by(id).is_empty() {
            return;
        }
        let Some(d) = self.tracked.get(id) else {
            return;
        };
        let name = d.info.name.clone();
        let started = d.info.started_at.clone();
        // A namespace of its own: `host` and `container:` parents keep theirs across restarts.
        let own_namespace =
            d.info.network_mode != "host" && deps::network_parent(&d.info.network_mode).is_none();
        self.refresh_graph();
        let mut dependents: Vec<ContainerId> = self
            .tracked
            .iter()
            .filter(|(_, t)| t.held.as_ref().is_some_and(|h| h.cause == name))
            .map(|(w, _)| w.clone())
            .collect();
        for w in self.graph.namespace_dependents(id) {
            if !dependents.contains(&w) {
                dependents.push(w);
            }
        }
        let verify = self.limits.verify;
        for w in dependents {
            let in_namespace = self.graph.namespace_parent(&w).is_some_and(|e| e.on == *id);
            let dangling = in_namespace && self.graph.dangling(&w);
            // Not while something is done to it, its project is orchestrated, it is snoozed,
            // its own policy heals it (an incident of its own, not held), or a follow of it
            // failed a moment ago.
            let now = Instant::now();
            let wait = self.tracked.get(&w).is_none_or(|t| {
                t.busy()
                    || self.in_burst(&t.info.labels, &t.info.name)
                    || self.quiet(t).is_some()
                    || (t.held.is_none() && t.heal.incident().is_some())
                    || t.follow_after.is_some_and(|at| at > now)
            });
            let Some(t) = self.tracked.get_mut(&w).filter(|_| !wait) else {
                continue;
            };
            let held = t.held.is_some();
            let down = matches!(
                t.info.state,
                RunState::Exited | RunState::Created | RunState::Dead
            );
            let action = if dangling && (held || t.info.state == RunState::Running || down) {
                if t.dangling_told {
                    None
                } else {
                    Some(Follow::Recreate)
                }
            } else if down && (held || t.info.exit_code == 128) {
                Some(Follow::Start)
            } else if in_namespace
                && own_namespace
                && t.info.state == RunState::Running
                && deps::stranded(&t.info.started_at, &started)
            {
                Some(Follow::Restart)
            } else {
                None
            };
            tracing::debug!(
                "{} is up: {} (held: {held}, down: {down}, in its namespace: {in_namespace}, \
                 dangling: {dangling}) gets {action:?}",
                name,
                t.info.name
            );
            match action {
                Some(a) => self.follow(&w, &name, a),
                None => {
                    if let Some(h) = t.held.as_mut() {
                        if h.verify_until.is_none() {
                            h.verify_until = Some(now + verify);
                        }
                        let well = t.info.state == RunState::Running
                            && observe::signal(t.info.health, t.last_probe.as_ref())
                                == Some(Input::Healthy);
                        if well {
                            self.release_recovered(&w);
                        }
                    }
                }
            }
        }
        // Up with no incident: the dependents held for it are its current ones only.
        let still: Vec<String> = self
            .tracked
            .values()
            .filter(|t| t.held.as_ref().is_some_and(|h| h.cause == name))
            .map(|t| t.info.name.clone())
            .collect();
        if let Some(d) = self.tracked.get_mut(id) {
            d.affected.retain(|a| still.contains(a));
        }
    }

    /// Starts, restarts or recreates `id` for its dependency `dependency`, off the loop.
    fn follow(&mut self, id: &ContainerId, dependency: &str, action: Follow) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let service = crate::docker::stack::Service::of_container(&t.info.labels);
        let name = t.info.name.clone();
        if action == Follow::Recreate && service.is_none() {
            t.dangling_told = true;
            let incident = t.incident.as_ref().map(|i| i.id);
            self.record(
                Event::DependencyFollowFailed,
                Some(&name),
                incident,
                format!(
                    "dependency:{} action:recreate error:{}",
                    quote(dependency),
                    quote(&format!(
                        "its network parent {dependency} was replaced and it is not a compose \
                         service: recreate it with --network container:{dependency}"
                    ))
                ),
            );
            return;
        }
        let Some(docker) = self.docker.clone() else {
            return;
        };
        t.follow_seq += 1;
        t.following = Some(action);
        t.acting_since = Some(SystemTime::now());
        t.acted_until = None;
        if let Some(h) = t.held.as_mut() {
            h.followed = true;
        }
        let parent = self
            .graph
            .namespace_parent(id)
            .filter(|e| e.name == dependency)
            .map(|e| e.on.clone());
        let job = t.job(
            docker,
            executors::Work::Follow {
                action,
                dependency: dependency.to_string(),
                parent,
            },
        );
        let incident = t.incident.as_ref().map(|i| i.id).or_else(|| {
            self.id_named(dependency)
                .and_then(|c| self.tracked.get(&c))
                .and_then(|c| c.incident.as_ref().map(|i| i.id))
        });
        self.record(
            Event::FollowingDependency,
            Some(&name),
            incident,
            format!(
                "dependency:{} action:{}",
                quote(dependency),
                action.as_str()
            ),
        );
        executors::spawn(job, self.tx.clone());
    }

    /// A follow's result: recorded, its namespace check said, and a held dependent's verify
    /// window begun.
    pub(super) fn on_followed(&mut self, f: Followed) {
        if self
            .tracked
            .get(&f.id)
            .is_some_and(|t| t.follow_seq != f.seq)
        {
            return;
        }
        let id = match f.replaced_by {
            Some(new) => self.take_place(&f.id, new).0,
            None => f.id.clone(),
        };
        let verify = self.limits.verify;
        let Some(t) = self.tracked.get_mut(&id) else {
            return;
        };
        t.following = None;
        t.acted_until = Some(SystemTime::now());
        t.action_ended = Some(Instant::now());
        match &f.result {
            Ok(()) => {
                t.follow_failures = 0;
                t.follow_after = None;
                if f.action != Follow::Recreate {
                    // Started now: no longer in the parent's old namespace.
                    t.info.started_at = clock::utc_now();
                    t.sickbay_restarts += 1;
                }
            }
            Err(_) => {
                t.follow_failures += 1;
                let wait = Duration::from_secs(10)
                    .saturating_mul(1 << t.follow_failures.min(5).saturating_sub(1))
                    .min(Duration::from_secs(300));
                t.follow_after = Some(Instant::now() + wait);
            }
        }
        if f.action == Follow::Recreate {
            t.dangling_told = true;
        }
        if let Some(h) = t.held.as_mut() {
            h.verify_until = Some(Instant::now() + verify);
        }
        let name = t.info.name.clone();
        let incident = t.incident.as_ref().map(|i| i.id).or_else(|| {
            self.id_named(&f.dependency)
                .and_then(|c| self.tracked.get(&c))
                .and_then(|c| c.incident.as_ref().map(|i| i.id))
        });
        let dependency = quote(&f.dependency);
        match &f.result {
            Ok(()) => {
                let namespace = match f.namespace {
                    Some(true) => " namespace:shared",
                    Some(false) => " namespace:separate",
                    None if f.action == Follow::Recreate => "",
                    None => " namespace:unchecked",
                };
                if f.namespace == Some(false) {
                    tracing::warn!(
                        "{name} still does not share {} 's network namespace after its {}",
                        f.dependency,
                        f.action.as_str()
                    );
                }
                self.record(
                    Event::DependencyFollowed,
                    Some(&name),
                    incident,
                    format!(
                        "dependency:{dependency} action:{}{namespace}",
                        f.action.as_str()
                    ),
                );
            }
            Err(e) => self.record(
                Event::DependencyFollowFailed,
                Some(&name),
                incident,
                format!(
                    "dependency:{dependency} action:{} error:{}",
                    f.action.as_str(),
                    quote(e)
                ),
            ),
        }
        self.sample_soon(&id);
    }

    /// Holds whose dependent's verify window is over: still failing, it is its own now.
    pub(super) fn end_verify_windows(&mut self, now: Instant) {
        let due: Vec<ContainerId> = self
            .tracked
            .iter()
            .filter(|(_, t)| {
                t.held
                    .as_ref()
                    .and_then(|h| h.verify_until)
                    .is_some_and(|u| u <= now)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.release_to_own_policy(&id);
        }
    }

    /// The soonest a hold's verify window or a burst ends.
    pub(super) fn dependency_deadline(&self) -> Option<Instant> {
        let quiet = Duration::from_secs(self.settings.heal.orchestration_quiet_seconds);
        let holds = self
            .tracked
            .values()
            .filter_map(|t| t.held.as_ref().and_then(|h| h.verify_until));
        let bursts = self.bursts.values().map(|b| b.last + quiet);
        holds.chain(bursts).min()
    }

    /// Docker's news of a project being changed: a create, destroy or rename (not Sickbay's
    /// own recreate) begins or extends a burst; any other event of a project in a burst
    /// extends it.
    pub(super) fn note_orchestration(&mut self, ev: &DockerEvent) {
        let change = matches!(
            ev.kind,
            EventKind::Create | EventKind::Destroy | EventKind::Rename { .. }
        );
        let ours = self
            .tracked
            .get(&ev.id)
            .is_some_and(Tracked::being_replaced)
            || self.replacement_in_progress(&ev.id, &ev.labels)
            || self.retired.contains_key(&ev.id)
            || self.tracked.get(&ev.id).is_some_and(Tracked::busy);
        let key = burst_key(&ev.labels, &ev.name);
        if change && !ours && monitor::watched(&self.settings, &ev.id, &ev.labels) {
            let b = self.bursts.entry(key.clone()).or_insert(Burst {
                last: Instant::now(),
                changes: 0,
                recorded: false,
                held: Vec::new(),
                containers: std::collections::HashSet::new(),
            });
            b.changes += 1;
            b.last = Instant::now();
            b.containers.insert(ev.id.clone());
            // Changes to two containers: one replacing another, or several at once. A
            // one-off container made and removed (`docker run --rm`) is one.
            if b.containers.len() >= 2 {
                self.record_burst(&key);
            }
        } else if let Some(b) = self.bursts.get_mut(&key) {
            b.last = Instant::now();
        }
    }

    /// Whether nothing may be done to `t` now: it is snoozed, or its project is being
    /// orchestrated.
    pub(super) fn frozen(&self, t: &Tracked) -> bool {
        self.quiet(t).is_some() || self.in_burst(&t.info.labels, &t.info.name)
    }

    /// Keeps a failure of a container whose project is being orchestrated for the burst's end
    /// (whatever path it came by: `route`, a release, the heal of a cause).
    pub(super) fn held_by_burst(
        &mut self,
        id: &ContainerId,
        input: &Input,
        seen: Option<&str>,
    ) -> bool {
        // Every sample comes this way: nothing to look up while nothing is orchestrated.
        if !self.orchestrating() {
            return false;
        }
        let Some(t) = self.tracked.get(id) else {
            return false;
        };
        let key = burst_key(&t.info.labels, &t.info.name);
        match self.bursts.get_mut(&key).filter(|b| b.recorded) {
            Some(b) if is_failure(input) => {
                b.held
                    .push((id.clone(), input.clone(), seen.map(str::to_string)));
                true
            }
            Some(_) => matches!(input, Input::Tick),
            None => false,
        }
    }

    /// Whether the container's project is being orchestrated right now.
    fn in_burst(&self, labels: &HashMap<String, String>, name: &str) -> bool {
        self.orchestrating()
            && self
                .bursts
                .get(&burst_key(labels, name))
                .is_some_and(|b| b.recorded)
    }

    /// Whether any project is being orchestrated right now (a burst key costs a parse of the
    /// compose labels: asked only then).
    fn orchestrating(&self) -> bool {
        self.bursts.values().any(|b| b.recorded)
    }

    /// Says a burst began, once.
    fn record_burst(&mut self, key: &str) {
        let Some(b) = self.bursts.get_mut(key) else {
            return;
        };
        if b.recorded {
            return;
        }
        b.recorded = true;
        self.record(
            Event::OrchestrationStarted,
            None,
            None,
            format!("{key} healing:waits"),
        );
    }

    /// Bursts quiet for long enough are over: said, and what they held looked at again.
    pub(super) fn end_bursts(&mut self, now: Instant) {
        let quiet = Duration::from_secs(self.settings.heal.orchestration_quiet_seconds);
        let over: Vec<String> = self
            .bursts
            .iter()
            .filter(|(_, b)| b.last + quiet <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in over {
            let Some(b) = self.bursts.remove(&key) else {
                continue;
            };
            if b.recorded {
                self.record(
                    Event::OrchestrationEnded,
                    None,
                    None,
                    format!("{key} changes:{} healing:resumes", b.changes),
                );
            }
            self.graph_dirty = true;
            if b.recorded {
                self.sweep_now.notify_one();
            }
            // What failed meanwhile and still does is news now (a container replaced or
            // removed meanwhile is not).
            for (id, input, seen) in b.held {
                let Some(t) = self.tracked.get(&id) else {
                    continue;
                };
                let still = match &input {
                    Input::Died(_) => t.info.state != RunState::Running,
                    _ => {
                        t.info.state == RunState::Running
                            && observe::signal(t.info.health, t.last_probe.as_ref())
                                .is_some_and(|i| is_failure(&i))
                    }
                };
                if still {
                    self.feed_seen(&id, input, seen.as_deref());
                }
            }
            let members: Vec<ContainerId> = self
                .tracked
                .iter()
                .filter(|(_, t)| burst_key(&t.info.labels, &t.info.name) == key)
                .map(|(id, _)| id.clone())
                .collect();
            for id in members {
                self.dependency_up(&id);
            }
        }
    }
}

/// A hold put back for [`Engine::release_recovered`] to end.
fn hold_again(cause: &str, followed: bool) -> Hold {
    Hold {
        cause: cause.to_string(),
        failure: None,
        verify_until: None,
        followed,
    }
}
