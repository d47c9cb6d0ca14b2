//! What the engine knows of one container ([`Tracked`]) and the rules that order what Docker
//! says about it: which events Sickbay's own actions caused, which news is older than an
//! action. Pure: no Docker, no history.

use super::*;

/// An incident Sickbay holds open for a container.
#[derive(Debug, Clone)]
pub(super) struct OpenIncident {
    pub(super) id: i64,
    pub(super) kind: IncidentKind,
    pub(super) status: IncidentStatus,
    pub(super) details: String,
}

pub(super) struct Tracked {
    pub(super) info: ContainerInfo,
    pub(super) policy: Policy,
    pub(super) heal: ContainerHeal,
    pub(super) incident: Option<OpenIncident>,
    pub(super) prev_stats: Option<StatsSample>,
    pub(super) last: Option<MetricRow>,
    pub(super) last_probe: Option<ProbeResult>,
    /// A `stop` or `kill` Sickbay did not send was seen: the next `die` is a user's.
    pub(super) user_stopping: bool,
    pub(super) oom_pending: bool,
    /// When Sickbay's current or last action started and ended (wall clock, to compare
    /// with Docker's event times) and ended (monotonic, to discard stale samples).
    pub(super) acting_since: Option<SystemTime>,
    pub(super) acted_until: Option<SystemTime>,
    pub(super) action_ended: Option<Instant>,
    /// When Sickbay started tracking it (a sweep that listed containers before then does not
    /// know it yet).
    pub(super) since: Instant,
    /// When its last Docker event was handled: a sample taken before then is older news.
    pub(super) event_at: Option<Instant>,
    /// Numbers Sickbay's actions on it; a result carries its number.
    pub(super) action_seq: u64,
    /// The last `die` was Docker's restart policy at work: the `start` after it is Docker's.
    pub(super) policy_restarting: bool,
    /// Restarts others made while it was failing (within the heal window).
    pub(super) others: std::collections::VecDeque<Instant>,
    /// Its failure is held for a failing dependency (`dependencies`).
    pub(super) held: Option<super::dependencies::Hold>,
    /// Failures waiting for a fresh look at its dependencies.
    pub(super) looking: Vec<(Input, Option<String>)>,
    /// The dependents held for it in its current incident (or the one about to open).
    pub(super) affected: Vec<String>,
    /// Sickbay is starting, restarting or recreating it for a dependency.
    pub(super) following: Option<super::dependencies::Follow>,
    /// Its namespace parent was replaced and it could not be recreated: said once.
    pub(super) dangling_told: bool,
    /// Its name before a rename (compose moves an old container aside before removing it).
    pub(super) former_name: Option<String>,
    /// Its last incident, once closed: a dependent that recovers later points at it.
    pub(super) last_incident: Option<i64>,
    /// Its failure in the current snooze was recorded.
    pub(super) snooze_told: bool,
    /// Follows for a dependency that failed in a row, and when the next may be tried.
    pub(super) follow_failures: u32,
    pub(super) follow_after: Option<Instant>,
    /// Numbers its follows and the restarts people ask for (apart from its heal actions'
    /// `action_seq`).
    pub(super) follow_seq: u64,
    /// Restarts (and starts) Sickbay made of it, heals and follows.
    pub(super) sickbay_restarts: u32,
    /// A restart a person asked for (`asked`) is under way, numbered by `follow_seq`.
    pub(super) asked: bool,
}

impl Tracked {
    pub(super) fn new(
        info: ContainerInfo,
        policy: Policy,
        heal: ContainerHeal,
        incident: Option<OpenIncident>,
    ) -> Self {
        Self {
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
            policy_restarting: false,
            others: std::collections::VecDeque::new(),
            held: None,
            looking: Vec::new(),
            affected: Vec::new(),
            following: None,
            dangling_told: false,
            former_name: None,
            last_incident: None,
            snooze_told: false,
            follow_failures: 0,
            follow_after: None,
            follow_seq: 0,
            sickbay_restarts: 0,
            asked: false,
        }
    }

    pub(super) fn caps(&self, settings: &Settings) -> Capabilities {
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
    pub(super) fn being_replaced(&self) -> bool {
        self.heal
            .acting()
            .is_some_and(HealAction::replaces_container)
            || self.following == Some(super::dependencies::Follow::Recreate)
    }

    /// Whether `labels` are those of the same compose service as this container.
    pub(super) fn same_service(&self, labels: &HashMap<String, String>) -> bool {
        crate::docker::stack::Service::same_service(&self.info.labels, labels)
    }

    /// Whether a Docker event at `time_nano` happened before Sickbay's last action began:
    /// older news than what the action's result says.
    pub(super) fn before_our_action(&self, time_nano: i64) -> bool {
        let Some(since) = self.acting_since else {
            return false;
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_nanos(time_nano.max(0) as u64);
        at + Duration::from_millis(500) < since
    }

    /// Whether a Docker event at `time_nano` was caused by Sickbay's own action.
    pub(super) fn caused_by_us(&self, time_nano: i64) -> bool {
        self.during_our_action(time_nano, Duration::from_millis(500))
    }

    /// Whether `time_nano` falls in Sickbay's current or last action, give or take `slack`
    /// at its end (Docker stamps events on its own clock, and a `die` can be told late).
    pub(super) fn during_our_action(&self, time_nano: i64, end_slack: Duration) -> bool {
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

    /// Its current action (numbered `action_seq`) as a job for `executors`.
    pub(super) fn job(
        &self,
        docker: Docker,
        work: super::executors::Work,
    ) -> super::executors::Job {
        super::executors::Job {
            docker,
            id: self.info.id.clone(),
            seq: match work {
                super::executors::Work::Follow { .. } | super::executors::Work::Asked { .. } => {
                    self.follow_seq
                }
                super::executors::Work::Heal { .. } => self.action_seq,
            },
            stop_timeout: self.policy.stop_timeout_seconds,
            service: crate::docker::stack::Service::of_container(&self.info.labels),
            name: self.info.name.clone(),
            work,
        }
    }

    /// Sickbay is doing something to it: a heal action, a follow for a dependency, or a
    /// restart a person asked for.
    pub(super) fn busy(&self) -> bool {
        self.heal.is_acting() || self.following.is_some() || self.asked
    }

    pub(super) fn view(&self) -> ContainerView {
        let view = container_view(
            &self.info,
            self.last.as_ref().and_then(|m| m.cpu_percent),
            self.last.as_ref().and_then(|m| m.mem_mb),
            self.last_probe.as_ref(),
            self.incident
                .as_ref()
                .map(|i| (i.id, i.kind, i.status, self.heal.attempts())),
        );
        ContainerView {
            held_for: self.held.as_ref().map(|h| h.cause.clone()),
            sickbay_restarts: self.sickbay_restarts,
            ..view
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracked(labels: &[(&str, &str)]) -> Tracked {
        let labels: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let info = ContainerInfo {
            name: "web".into(),
            health: Health::Healthy,
            has_healthcheck: true,
            labels: labels.clone(),
            ..ContainerInfo::for_tests("c1", RunState::Running)
        };
        let (policy, _) = Policy::from_labels(&labels, &crate::config::Heal::default());
        Tracked::new(info, policy, ContainerHeal::default(), None)
    }

    fn nanos(t: SystemTime) -> i64 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .expect("after the epoch")
            .as_nanos() as i64
    }

    #[test]
    fn events_inside_sickbays_action_are_its_own_give_or_take_half_a_second() {
        let mut t = tracked(&[]);
        let start = SystemTime::now();
        assert!(!t.caused_by_us(nanos(start)), "no action yet");
        t.acting_since = Some(start);
        let ms = |m: u64| Duration::from_millis(m);
        // Under way: everything from just before its start on.
        assert!(t.caused_by_us(nanos(start - ms(400))));
        assert!(!t.caused_by_us(nanos(start - ms(600))));
        assert!(t.caused_by_us(nanos(start + ms(60_000))));
        // Ended: up to half a second after its end (a `die` told late).
        let end = start + ms(2_000);
        t.acted_until = Some(end);
        assert!(t.caused_by_us(nanos(end + ms(400))));
        assert!(!t.caused_by_us(nanos(end + ms(600))));
    }

    #[test]
    fn a_health_status_after_the_action_is_news_and_one_before_it_is_old() {
        let mut t = tracked(&[]);
        let start = SystemTime::now();
        let end = start + Duration::from_secs(2);
        t.acting_since = Some(start);
        t.acted_until = Some(end);
        let ms = |m: u64| Duration::from_millis(m);
        // Health statuses get no slack after the end: a restart resets health to `starting`.
        assert!(t.during_our_action(nanos(end), Duration::ZERO));
        assert!(!t.during_our_action(nanos(end + ms(100)), Duration::ZERO));
        // Before the action began (an event stream that lags): older than the action.
        assert!(t.before_our_action(nanos(start - ms(600))));
        assert!(!t.before_our_action(nanos(start - ms(400))));
        assert!(!t.before_our_action(nanos(end + ms(100))));
    }

    #[test]
    fn only_a_container_of_the_same_compose_service_takes_ones_place() {
        let t = tracked(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
        ]);
        let labels = |p: &str, s: &str| -> HashMap<String, String> {
            [
                ("com.docker.compose.project".to_string(), p.to_string()),
                ("com.docker.compose.service".to_string(), s.to_string()),
            ]
            .into_iter()
            .collect()
        };
        assert!(t.same_service(&labels("shop", "web")));
        assert!(!t.same_service(&labels("shop", "db")));
        assert!(!t.same_service(&labels("blog", "web")));
        assert!(
            !tracked(&[]).same_service(&HashMap::new()),
            "not compose at all"
        );
        assert!(!t.being_replaced(), "nothing under way");
    }
}
