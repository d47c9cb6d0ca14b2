//! The heal policy: a pure state machine per container that turns what was observed into
//! what to do. It owns the ladder (clear caches → restart → verify), the CrashLoopBackOff
//! backoff, the attempt limit and the never-act rules. Time is passed in, so every rule is
//! unit-tested without Docker; the engine carries the decisions out.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::{self, Step};
use crate::domain::model::{HealAction, IncidentKind, Verdict};

/// Why healing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUpReason {
    /// The ladder's last rung tried in this incident (a restart, a recreate, a rebuild) did
    /// not make the container healthy.
    Ineffective(HealAction),
    /// The container used up its restarts for the window across incidents.
    RestartLimit,
}

impl GiveUpReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ineffective(HealAction::Recreate) => "recreate_ineffective",
            Self::Ineffective(HealAction::Rebuild) => "rebuild_ineffective",
            Self::Ineffective(_) => "restart_ineffective",
            Self::RestartLimit => "restart_limit",
        }
    }
}

/// How a container died, as the engine saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Death {
    pub exit_code: i64,
    pub oom: bool,
    /// A user or compose asked for it (a `stop`/`kill` event preceded the `die`).
    pub by_user: bool,
    /// Docker's own restart policy will start it again.
    pub restart_policy_handles: bool,
}

/// What the engine tells the policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The container is failing a check right now (health check or HTTP probe).
    Failing { kind: IncidentKind, details: String },
    /// The container died.
    Died(Death),
    /// Every check the container has passes (or, without checks, it is running).
    Healthy,
    /// A heal action ended; `Err` holds what went wrong.
    ActionFinished(HealAction, Result<(), String>),
    /// Time passed: timers may be due.
    Tick,
    /// Someone other than Sickbay started or restarted the container while no incident was
    /// open.
    UserActed,
    /// Someone other than Sickbay (a person, another healer, a cron job) restarted the
    /// container while an incident was open: it counts against the window's restarts like one
    /// of Sickbay's, and it is not a recovery until a check passes.
    RestartedByOther,
    /// A person had Sickbay restart the container ("Restart now"): not counted against the
    /// window's restarts; what Sickbay had given up on starts afresh, and an open incident's
    /// container is verified as after a restart (its planned next step is dropped).
    PersonRestarted,
}

/// What the policy asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Record a new incident. `acting` is false when Sickbay only watches.
    Open {
        kind: IncidentKind,
        details: String,
        acting: bool,
    },
    /// Carry out a heal action now. `attempt` counts restarts within the incident.
    Act { action: HealAction, attempt: u32 },
    /// The action in flight sent no result within its deadline: it counts as failed (what
    /// follows comes in the same list).
    ActionTimedOut { action: HealAction, after: Duration },
    /// A heal action finished but the container is still failing.
    StillFailing { action: HealAction },
    /// The container is healthy after Sickbay's action.
    Healed,
    /// The container is healthy again without Sickbay's help (or after a user acted).
    Recovered,
    /// Healing stopped; no more actions until the container recovers or a user acts.
    GaveUp(GiveUpReason),
    /// A crash that Docker's restart policy handles: recorded, not fought.
    RecordDeath,
    /// A user stopped the container: whatever was planned is dropped.
    Stand,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    /// No incident.
    Idle,
    /// Waiting out the backoff before the next action.
    Waiting { until: Instant, next: HealAction },
    /// An action is in flight; without a result by `deadline` it counts as failed.
    Acting {
        action: HealAction,
        deadline: Instant,
    },
    /// The action finished (or someone else restarted the container: `by_other`); waiting
    /// for a passing check until the deadline, or for the first sign it still fails.
    Verifying {
        action: HealAction,
        finished: Instant,
        deadline: Instant,
        by_other: bool,
    },
    /// An incident Sickbay records but does not act on.
    Watching,
    /// The ladder is exhausted.
    GaveUp,
}

/// What the policy knows about a container's checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Sickbay may act on it (not labelled out, healing enabled).
    pub may_heal: bool,
    /// Cache paths to clear as the first rung.
    pub cache_paths: bool,
    /// It has a health check or an HTTP probe, so "healthy" can be observed.
    pub has_check: bool,
    /// Restart a container that crashed and has no restart policy.
    pub restart_crashed: bool,
    /// The rungs after the cache clear (`restart`, then the compose steps `recreate` and
    /// `rebuild`), as the container's policy allows them.
    pub steps: Vec<Step>,
    /// What Docker gives the container to stop gracefully on a restart.
    pub stop_timeout: Duration,
}

/// The policy's state for one container.
#[derive(Debug, Clone)]
pub struct ContainerHeal {
    phase: Phase,
    incident: Option<IncidentKind>,
    /// Restart attempts in the current incident.
    attempts: u32,
    cache_tried: bool,
    /// Times of Sickbay's restarts, for the per-window limit.
    restarts: VecDeque<Instant>,
    /// Consecutive backoff steps; reset after a long healthy spell.
    backoff_step: u32,
    healthy_since: Option<Instant>,
    /// Deaths Docker's restart policy handled, for restart-loop detection.
    deaths: VecDeque<Instant>,
    /// A user acted after Sickbay stopped acting: a new failure starts the ladder again.
    user_reset: bool,
    /// When each container-replacing rung (recreate, rebuild) was last used: once per window.
    replaced: Vec<(HealAction, Instant)>,
    /// The last rung tried in the current incident (not the cache clear).
    last_rung: Option<HealAction>,
}

impl Default for ContainerHeal {
    fn default() -> Self {
        Self {
            phase: Phase::Idle,
            incident: None,
            attempts: 0,
            cache_tried: false,
            restarts: VecDeque::new(),
            backoff_step: 0,
            healthy_since: None,
            deaths: VecDeque::new(),
            user_reset: false,
            replaced: Vec::new(),
            last_rung: None,
        }
    }
}

/// The numbers the policy works with, from `[heal]` and `[monitoring]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_attempts: u32,
    pub window: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub backoff_reset: Duration,
    pub verify: Duration,
    /// After an action, a failing HTTP probe ends verification only once this much time has
    /// passed (the service may still be starting). A Docker health check needs no grace: it
    /// says `starting` until its start period and retries are over.
    pub verify_grace: Duration,
    pub restart_loop_restarts: u32,
    pub restart_loop_window: Duration,
}

impl Limits {
    pub fn from_settings(s: &config::Settings) -> Self {
        let h = &s.heal;
        Self {
            max_attempts: h.max_attempts,
            window: Duration::from_secs(h.window_minutes * 60),
            backoff_initial: Duration::from_secs(h.backoff_initial_seconds),
            backoff_max: Duration::from_secs(h.backoff_max_seconds),
            backoff_reset: Duration::from_secs(h.backoff_reset_minutes * 60),
            verify: Duration::from_secs(h.verify_seconds),
            verify_grace: Duration::from_secs(h.verify_grace_seconds.min(h.verify_seconds)),
            restart_loop_restarts: s.monitoring.restart_loop_restarts,
            restart_loop_window: Duration::from_secs(s.monitoring.restart_loop_minutes * 60),
        }
    }
}

/// How long an action may take before it counts as failed: beyond any time limit of its own
/// (Docker's stop timeout on a restart, compose's limits on a recreate and a build).
pub fn action_deadline(action: HealAction, stop_timeout: Duration) -> Duration {
    // Longer than the Docker adapter's own limit on a request (60 s, plus the stop timeout
    // on a restart), whose error says more: this deadline is for a result that is lost.
    let margin = Duration::from_secs(90);
    // Compose's own limits on a recreate and a build (`stack::Op::time_limit`).
    let recreate = Duration::from_secs(30 * 60);
    let build = Duration::from_secs(60 * 60);
    match action {
        HealAction::ClearCache => margin,
        HealAction::Restart => stop_timeout + margin,
        HealAction::Recreate => recreate + stop_timeout + margin,
        HealAction::Rebuild => build + recreate + stop_timeout + margin,
    }
}

/// CrashLoopBackOff: `initial` doubling per step up to `max`, spread by ±10 % with
/// `jitter` in `[0, 1)`, never above `max`.
pub fn backoff_delay(step: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let base = initial
        .checked_mul(1u32 << step.min(20))
        .unwrap_or(max)
        .min(max);
    let factor = 0.9 + 0.2 * jitter.clamp(0.0, 1.0);
    base.mul_f64(factor).min(max)
}

impl ContainerHeal {
    /// Feeds one input; returns what to do, in order. `jitter` in `[0, 1)` spreads backoff.
    pub fn step(
        &mut self,
        input: Input,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
    ) -> Vec<Decision> {
        self.forget_old(limits, now);
        match input {
            Input::Failing { kind, details } => self.on_failing(kind, details, caps, limits, now),
            Input::Died(death) => self.on_death(death, caps, limits, now),
            Input::Healthy => self.on_healthy(caps, now),
            Input::ActionFinished(action, result) => {
                self.on_action_finished(action, result, caps, limits, now, jitter)
            }
            Input::Tick => self.on_tick(caps, limits, now, jitter),
            Input::RestartedByOther => self.on_restarted_by_other(caps, limits, now),
            Input::PersonRestarted => {
                self.healthy_since = None;
                match self.phase {
                    Phase::Idle | Phase::Acting { .. } => {}
                    Phase::Watching | Phase::GaveUp if !caps.may_heal => {}
                    _ => {
                        if self.phase == Phase::GaveUp {
                            self.start_afresh();
                        }
                        self.verify_restart_by_other(limits, now);
                    }
                }
                vec![]
            }
            Input::UserActed => {
                // A person took over: whatever Sickbay gave up on gets a fresh start, and
                // anything it planned is dropped.
                self.healthy_since = None;
                if matches!(self.phase, Phase::GaveUp | Phase::Watching) && caps.may_heal {
                    self.phase = Phase::Watching;
                    self.start_afresh();
                }
                vec![]
            }
        }
    }

    fn on_restarted_by_other(
        &mut self,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
    ) -> Vec<Decision> {
        self.healthy_since = None;
        match self.phase {
            Phase::Idle | Phase::Acting { .. } => return vec![],
            _ => {}
        }
        // Whoever restarted it, it was restarted: the window's limit counts it, and the
        // backoff grows as if Sickbay had done it.
        self.restarts.push_back(now);
        self.backoff_step += 1;
        let verify = match self.phase {
            Phase::GaveUp => false,
            // Held off for a person's stop: the container is back, so watch what it does.
            Phase::Watching => caps.may_heal,
            _ => true,
        };
        if verify {
            self.verify_restart_by_other(limits, now);
        }
        vec![]
    }

    /// A restart Sickbay did not make: watched as if it had (a passing check by the verify
    /// deadline, or the first sign it still fails).
    fn verify_restart_by_other(&mut self, limits: &Limits, now: Instant) {
        self.phase = Phase::Verifying {
            action: HealAction::Restart,
            finished: now,
            deadline: now + limits.verify,
            by_other: true,
        };
    }

    /// What Sickbay tried and counted is forgotten: the ladder starts again from its first rung.
    fn start_afresh(&mut self) {
        self.attempts = 0;
        self.cache_tried = false;
        self.restarts.clear();
        self.backoff_step = 0;
        self.user_reset = true;
    }

    fn forget_old(&mut self, limits: &Limits, now: Instant) {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > limits.window)
        {
            self.restarts.pop_front();
        }
        self.replaced
            .retain(|(_, t)| now.saturating_duration_since(*t) <= limits.window);
        while self
            .deaths
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > limits.restart_loop_window)
        {
            self.deaths.pop_front();
        }
        if self
            .healthy_since
            .is_some_and(|t| now.saturating_duration_since(t) >= limits.backoff_reset)
        {
            self.backoff_step = 0;
        }
    }

    fn open(
        &mut self,
        kind: IncidentKind,
        details: String,
        acting: bool,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
    ) -> Vec<Decision> {
        self.incident = Some(kind);
        self.attempts = 0;
        self.cache_tried = false;
        self.last_rung = None;
        self.healthy_since = None;
        let mut out = vec![Decision::Open {
            kind,
            details,
            acting,
        }];
        if acting {
            out.extend(self.next_action(caps, limits, now, 0.5, true));
        } else {
            self.phase = Phase::Watching;
        }
        out
    }

    fn on_failing(
        &mut self,
        kind: IncidentKind,
        details: String,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
    ) -> Vec<Decision> {
        self.healthy_since = None;
        match &self.phase {
            Phase::Idle => self.open(kind, details, caps.may_heal, caps, limits, now),
            Phase::Watching if self.user_reset => {
                self.user_reset = false;
                self.next_action(caps, limits, now, 0.5, true)
            }
            // Docker resets a restarted container's health to `starting`: `unhealthy` after
            // a restart is a check that failed again past its start period and retries, so
            // verification ends now (the engine passes on no health status from before).
            // A cache clear restarts nothing, and the status it leaves is the old one until
            // the next check passes: that waits for the deadline.
            Phase::Verifying { action, .. }
                if kind == IncidentKind::Unhealthy && *action != HealAction::ClearCache =>
            {
                self.verification_failed(caps, limits, now, 0.5)
            }
            // A probe that fails once the service had its grace: fresh evidence too.
            Phase::Verifying { finished, .. }
                if kind == IncidentKind::HttpProbeFailed
                    && now >= *finished + limits.verify_grace =>
            {
                self.verification_failed(caps, limits, now, 0.5)
            }
            _ => vec![],
        }
    }

    fn on_death(
        &mut self,
        death: Death,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
    ) -> Vec<Decision> {
        self.healthy_since = None;
        if death.by_user {
            return match self.phase {
                Phase::Idle | Phase::Watching | Phase::GaveUp => vec![],
                _ => {
                    self.phase = Phase::Watching;
                    vec![Decision::Stand]
                }
            };
        }
        if matches!(self.phase, Phase::Acting { .. }) {
            // Sickbay's own restart stops the container: not a crash.
            return vec![];
        }
        if death.restart_policy_handles {
            self.deaths.push_back(now);
            let mut out = vec![Decision::RecordDeath];
            if matches!(self.phase, Phase::Verifying { .. }) {
                // Dead again while a heal is verified: it did not help.
                out.extend(self.verification_failed(caps, limits, now, 0.5));
                return out;
            }
            let looping = self.deaths.len() as u32 >= limits.restart_loop_restarts;
            if looping && self.incident != Some(IncidentKind::RestartLoop) {
                let details = format!(
                    "restarts:{} window_minutes:{}",
                    self.deaths.len(),
                    limits.restart_loop_window.as_secs() / 60
                );
                if self.phase == Phase::Idle || self.phase == Phase::Watching {
                    out.extend(self.open(
                        IncidentKind::RestartLoop,
                        details,
                        false,
                        caps,
                        limits,
                        now,
                    ));
                }
            }
            return out;
        }
        if death.exit_code == 0 && !death.oom {
            // A clean exit is a finished job, not a failure.
            return vec![];
        }
        let kind = if death.oom {
            IncidentKind::OomKilled
        } else {
            IncidentKind::Crashed
        };
        let details = format!("exit_code:{}", death.exit_code);
        match self.phase {
            Phase::Idle => {
                let acting = caps.may_heal && caps.restart_crashed;
                self.open(kind, details, acting, caps, limits, now)
            }
            Phase::Verifying { .. } => self.verification_failed(caps, limits, now, 0.5),
            _ => vec![],
        }
    }

    fn on_healthy(&mut self, caps: &Capabilities, now: Instant) -> Vec<Decision> {
        if self.healthy_since.is_none() {
            self.healthy_since = Some(now);
        }
        let out = match &self.phase {
            Phase::Idle => return vec![],
            Phase::Acting { .. } => return vec![],
            // Without a check, running is not proof: it must stay up until the deadline.
            Phase::Verifying { .. } if !caps.has_check => return vec![],
            Phase::Verifying { by_other: true, .. } => vec![Decision::Recovered],
            Phase::Verifying { .. } => vec![Decision::Healed],
            Phase::Waiting { .. } | Phase::Watching | Phase::GaveUp => {
                if self.incident == Some(IncidentKind::RestartLoop) {
                    // A restart loop is over only once the container stays up a whole window.
                    if !self.deaths.is_empty() {
                        return vec![];
                    }
                }
                vec![Decision::Recovered]
            }
        };
        self.close();
        out
    }

    fn close(&mut self) {
        self.user_reset = false;
        self.phase = Phase::Idle;
        self.incident = None;
        self.attempts = 0;
        self.cache_tried = false;
        self.last_rung = None;
    }

    fn on_action_finished(
        &mut self,
        action: HealAction,
        result: Result<(), String>,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
    ) -> Vec<Decision> {
        if self.acting() != Some(action) {
            return vec![];
        }
        match result {
            Ok(()) => {
                self.phase = Phase::Verifying {
                    action,
                    finished: now,
                    deadline: now + limits.verify,
                    by_other: false,
                };
                vec![]
            }
            // Said by the engine as `heal_action_failed`: not a heal that did not help.
            Err(_) => self.after_failed_action(caps, limits, now, jitter),
        }
    }

    /// An action that could not be carried out (an error, or no result by its deadline): the
    /// next rung, as after a heal that did not help, without calling it one.
    fn after_failed_action(
        &mut self,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
    ) -> Vec<Decision> {
        let action = self.acting().unwrap_or(HealAction::Restart);
        self.next_action(caps, limits, now, jitter, action == HealAction::ClearCache)
    }

    fn on_tick(
        &mut self,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
    ) -> Vec<Decision> {
        match self.phase.clone() {
            Phase::Waiting { until, next } if now >= until => self.act(next, caps, now),
            Phase::Acting { action, deadline } if now >= deadline => {
                let after = action_deadline(action, caps.stop_timeout);
                let mut out = vec![Decision::ActionTimedOut { action, after }];
                out.extend(self.after_failed_action(caps, limits, now, jitter));
                out
            }
            Phase::Verifying {
                deadline, by_other, ..
            } if now >= deadline => {
                if caps.has_check {
                    self.verification_failed(caps, limits, now, jitter)
                } else {
                    // Nothing to check but that it stays up, and it did.
                    self.healthy_since = Some(now);
                    self.close();
                    vec![if by_other {
                        Decision::Recovered
                    } else {
                        Decision::Healed
                    }]
                }
            }
            _ => vec![],
        }
    }

    fn verification_failed(
        &mut self,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
    ) -> Vec<Decision> {
        let (action, ours) = match self.phase {
            Phase::Verifying {
                action, by_other, ..
            } => (action, !by_other),
            Phase::Acting { action, .. } => (action, true),
            _ => (HealAction::Restart, true),
        };
        // Someone else's restart that did not help is not one of Sickbay's heals failing.
        let mut out = if ours {
            vec![Decision::StillFailing { action }]
        } else {
            vec![]
        };
        out.extend(self.next_action(caps, limits, now, jitter, action == HealAction::ClearCache));
        out
    }

    /// Picks the next rung: the cache clear once, then restarts with backoff and a limit,
    /// then (opted in, compose services only) a recreate and a rebuild, once per window each.
    fn next_action(
        &mut self,
        caps: &Capabilities,
        limits: &Limits,
        now: Instant,
        jitter: f64,
        immediate: bool,
    ) -> Vec<Decision> {
        if caps.cache_paths && !self.cache_tried {
            self.cache_tried = true;
            return self.act(HealAction::ClearCache, caps, now);
        }
        let may_restart = caps.steps.contains(&Step::Restart)
            && (self.restarts.len() as u32) < limits.max_attempts;
        if !may_restart {
            for (step, action) in [
                (Step::Recreate, HealAction::Recreate),
                (Step::Rebuild, HealAction::Rebuild),
            ] {
                if caps.steps.contains(&step) && !self.replaced.iter().any(|(a, _)| *a == action) {
                    return self.act(action, caps, now);
                }
            }
            self.phase = Phase::GaveUp;
            let reason = match self.last_rung {
                Some(action) => GiveUpReason::Ineffective(action),
                None => GiveUpReason::RestartLimit,
            };
            return vec![Decision::GaveUp(reason)];
        }
        if immediate && self.backoff_step == 0 {
            return self.act(HealAction::Restart, caps, now);
        }
        let delay = backoff_delay(
            self.backoff_step.saturating_sub(1),
            limits.backoff_initial,
            limits.backoff_max,
            jitter,
        );
        if delay.is_zero() || self.backoff_step == 0 {
            return self.act(HealAction::Restart, caps, now);
        }
        self.phase = Phase::Waiting {
            until: now + delay,
            next: HealAction::Restart,
        };
        vec![]
    }

    fn act(&mut self, action: HealAction, caps: &Capabilities, now: Instant) -> Vec<Decision> {
        match action {
            HealAction::ClearCache => {}
            HealAction::Restart => {
                self.attempts += 1;
                self.restarts.push_back(now);
                self.backoff_step += 1;
            }
            HealAction::Recreate | HealAction::Rebuild => self.replaced.push((action, now)),
        }
        if action != HealAction::ClearCache {
            self.last_rung = Some(action);
        }
        self.phase = Phase::Acting {
            action,
            deadline: now + action_deadline(action, caps.stop_timeout),
        };
        vec![Decision::Act {
            action,
            attempt: self.attempts,
        }]
    }

    /// When the policy next needs a [`Input::Tick`], if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Waiting { until, .. } => Some(until),
            Phase::Acting { deadline, .. } => Some(deadline),
            Phase::Verifying { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// Sickbay is acting on the container right now (its own stop/start events are not news).
    pub fn is_acting(&self) -> bool {
        matches!(self.phase, Phase::Acting { .. })
    }

    /// The action in flight, if any.
    pub fn acting(&self) -> Option<HealAction> {
        match self.phase {
            Phase::Acting { action, .. } => Some(action),
            _ => None,
        }
    }

    /// The incident under way, if any.
    pub fn incident(&self) -> Option<IncidentKind> {
        self.incident
    }

    /// Restarts Sickbay made in the current incident.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Seeds the window with restarts made before Sickbay (re)started.
    pub fn remember_restart(&mut self, at: Instant) {
        self.restarts.push_back(at);
        self.backoff_step += 1;
    }

    /// The container's colour as far as healing goes.
    pub fn verdict(&self) -> Verdict {
        match (&self.phase, self.incident) {
            (Phase::Idle, _) => Verdict::Green,
            (Phase::GaveUp, _) => Verdict::Red,
            (_, Some(IncidentKind::RestartLoop)) => Verdict::Red,
            _ => Verdict::Yellow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::from_settings(&config::Settings::default())
    }

    fn caps() -> Capabilities {
        Capabilities {
            may_heal: true,
            cache_paths: false,
            has_check: true,
            restart_crashed: true,
            steps: vec![Step::Restart],
            stop_timeout: Duration::from_secs(10),
        }
    }

    fn unhealthy() -> Input {
        Input::Failing {
            kind: IncidentKind::Unhealthy,
            details: "health:unhealthy".into(),
        }
    }

    fn restart(attempt: u32) -> Decision {
        Decision::Act {
            action: HealAction::Restart,
            attempt,
        }
    }

    struct Sim {
        h: ContainerHeal,
        caps: Capabilities,
        limits: Limits,
        now: Instant,
    }

    impl Sim {
        fn new(caps: Capabilities) -> Self {
            Self {
                h: ContainerHeal::default(),
                caps,
                limits: limits(),
                now: Instant::now(),
            }
        }
        fn feed(&mut self, input: Input) -> Vec<Decision> {
            self.h.step(input, &self.caps, &self.limits, self.now, 0.5)
        }
        fn advance(&mut self, secs: u64) -> Vec<Decision> {
            self.now += Duration::from_secs(secs);
            self.feed(Input::Tick)
        }
    }

    #[test]
    fn a_persons_restart_drops_the_planned_step_and_is_verified_without_counting() {
        let mut s = Sim::new(caps());
        assert!(s.feed(unhealthy()).contains(&restart(1)));
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.now += Duration::from_secs(2);
        let d = s.feed(unhealthy());
        assert!(
            d.iter().any(|d| matches!(d, Decision::StillFailing { .. })),
            "{d:?}"
        );
        let counted = s.h.restarts.len();
        assert!(s.feed(Input::PersonRestarted).is_empty());
        assert_eq!(
            s.h.restarts.len(),
            counted,
            "a person's restart is not Sickbay's"
        );
        // The backoff's restart does not come: the person's restart is being verified.
        for _ in 0..11 {
            assert!(!s
                .advance(1)
                .iter()
                .any(|d| matches!(d, Decision::Act { .. })));
        }
        assert!(s.feed(Input::Healthy).contains(&Decision::Recovered));
        // Given up on, a person's restart starts afresh.
        let mut g = Sim::new(caps());
        g.h.phase = Phase::GaveUp;
        g.h.attempts = 3;
        g.feed(Input::PersonRestarted);
        assert_eq!(g.h.attempts, 0);
        assert!(matches!(g.h.phase, Phase::Verifying { .. }));
    }

    #[test]
    fn a_healthy_container_is_never_acted_on() {
        let mut s = Sim::new(caps());
        for _ in 0..100 {
            assert!(s.feed(Input::Healthy).is_empty());
            assert!(s.advance(30).is_empty());
        }
        assert_eq!(s.h.verdict(), Verdict::Green);
    }

    #[test]
    fn an_unhealthy_container_is_restarted_at_once_and_healed_when_the_check_passes() {
        let mut s = Sim::new(caps());
        let d = s.feed(unhealthy());
        assert_eq!(
            d,
            vec![
                Decision::Open {
                    kind: IncidentKind::Unhealthy,
                    details: "health:unhealthy".into(),
                    acting: true
                },
                restart(1)
            ]
        );
        assert!(s.h.is_acting());
        assert_eq!(s.h.verdict(), Verdict::Yellow);
        assert!(s
            .feed(Input::ActionFinished(HealAction::Restart, Ok(())))
            .is_empty());
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Healed]);
        assert_eq!(s.h.verdict(), Verdict::Green);
        assert_eq!(s.h.incident(), None);
    }

    #[test]
    fn cache_paths_are_cleared_first_and_a_passing_check_needs_no_restart() {
        let mut s = Sim::new(Capabilities {
            cache_paths: true,
            ..caps()
        });
        let d = s.feed(unhealthy());
        assert_eq!(
            d[1],
            Decision::Act {
                action: HealAction::ClearCache,
                attempt: 0
            }
        );
        s.feed(Input::ActionFinished(HealAction::ClearCache, Ok(())));
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Healed]);
        assert_eq!(s.h.attempts(), 0);
    }

    #[test]
    fn a_cache_clear_that_does_not_help_is_followed_by_a_restart_at_once() {
        let mut s = Sim::new(Capabilities {
            cache_paths: true,
            ..caps()
        });
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::ClearCache, Ok(())));
        let d = s.advance(60);
        assert_eq!(
            d,
            vec![
                Decision::StillFailing {
                    action: HealAction::ClearCache
                },
                restart(1)
            ]
        );
    }

    #[test]
    fn a_container_that_stays_unhealthy_gets_backoff_then_gives_up_after_the_allowed_restarts() {
        let mut s = Sim::new(caps());
        let mut restarts = 0;
        let mut gave_up = None;
        let d = s.feed(unhealthy());
        restarts += d
            .iter()
            .filter(|d| matches!(d, Decision::Act { .. }))
            .count();
        let mut restart_times = vec![s.now];
        for _ in 0..200 {
            let mut d = s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
            for _ in 0..100 {
                if !d.is_empty()
                    && d.iter()
                        .any(|x| !matches!(x, Decision::StillFailing { .. }))
                {
                    break;
                }
                d.extend(s.advance(5));
            }
            for x in &d {
                match x {
                    Decision::Act { .. } => {
                        restarts += 1;
                        restart_times.push(s.now);
                    }
                    Decision::GaveUp(r) => gave_up = Some(*r),
                    _ => {}
                }
            }
            if gave_up.is_some() {
                break;
            }
        }
        assert_eq!(restarts, 3, "max_attempts restarts, no more");
        assert_eq!(
            gave_up,
            Some(GiveUpReason::Ineffective(HealAction::Restart))
        );
        assert_eq!(s.h.verdict(), Verdict::Red);
        // Backoff: the second restart waits ~10 s after the failed verification, the third ~20 s.
        let gap2 = restart_times[2] - restart_times[1];
        let gap1 = restart_times[1] - restart_times[0];
        assert!(gap2 > gap1, "backoff grows: {gap1:?} then {gap2:?}");
        // After giving up, nothing happens however long it stays unhealthy.
        for _ in 0..100 {
            assert!(s.feed(unhealthy()).is_empty());
            assert!(s.advance(60).is_empty());
        }
        // ...until it recovers.
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
        assert_eq!(s.h.verdict(), Verdict::Green);
    }

    /// Runs a container that never gets well until the policy gives up; returns every
    /// action taken, in order, and why it gave up.
    fn until_given_up(s: &mut Sim) -> (Vec<HealAction>, Option<GiveUpReason>) {
        let mut acts = Vec::new();
        let mut pending = s.feed(unhealthy());
        for _ in 0..10_000 {
            for d in std::mem::take(&mut pending) {
                match d {
                    Decision::Act { action, .. } => {
                        acts.push(action);
                        pending.extend(s.feed(Input::ActionFinished(action, Ok(()))));
                    }
                    Decision::GaveUp(r) => return (acts, Some(r)),
                    _ => {}
                }
            }
            pending.extend(s.advance(5));
        }
        (acts, None)
    }

    #[test]
    fn compose_steps_follow_the_restarts_once_each_then_healing_stops() {
        let mut s = Sim::new(Capabilities {
            steps: vec![Step::Restart, Step::Recreate, Step::Rebuild],
            ..caps()
        });
        let (acts, reason) = until_given_up(&mut s);
        use HealAction::*;
        assert_eq!(acts, [Restart, Restart, Restart, Recreate, Rebuild]);
        assert_eq!(reason, Some(GiveUpReason::Ineffective(Rebuild)));
        assert_eq!(reason.map(|r| r.as_str()), Some("rebuild_ineffective"));
        assert_eq!(s.h.attempts(), 3, "attempts count restarts");
    }

    #[test]
    fn a_recreate_that_works_heals_the_incident() {
        let mut s = Sim::new(Capabilities {
            steps: vec![Step::Recreate],
            ..caps()
        });
        let d = s.feed(unhealthy());
        assert_eq!(
            d[1],
            Decision::Act {
                action: HealAction::Recreate,
                attempt: 0
            },
            "without `restart` in the steps, recreate is the first rung"
        );
        // The old container dies during the recreate: Sickbay's own doing, not a crash.
        let death = Death {
            exit_code: 137,
            oom: false,
            by_user: false,
            restart_policy_handles: false,
        };
        assert!(s.feed(Input::Died(death)).is_empty());
        assert!(s
            .feed(Input::ActionFinished(HealAction::Recreate, Ok(())))
            .is_empty());
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Healed]);
        // Within the window a second incident cannot recreate again: healing stops.
        s.advance(60);
        let (acts, reason) = until_given_up(&mut s);
        assert!(acts.is_empty(), "{acts:?}");
        assert_eq!(reason, Some(GiveUpReason::RestartLimit));
        // After the window it may.
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
        s.advance(16 * 60);
        let (acts, _) = until_given_up(&mut s);
        assert_eq!(acts, [HealAction::Recreate]);
    }

    #[test]
    fn compose_steps_run_when_restarts_are_used_up_by_earlier_incidents() {
        let mut s = Sim::new(Capabilities {
            steps: vec![Step::Restart, Step::Recreate],
            ..caps()
        });
        for _ in 0..3 {
            s.h.remember_restart(s.now);
        }
        let (acts, reason) = until_given_up(&mut s);
        assert_eq!(acts, [HealAction::Recreate]);
        assert_eq!(
            reason,
            Some(GiveUpReason::Ineffective(HealAction::Recreate))
        );
    }

    #[test]
    fn backoff_doubles_from_10_seconds_to_a_5_minute_cap_with_jitter() {
        let (i, m) = (Duration::from_secs(10), Duration::from_secs(300));
        assert_eq!(backoff_delay(0, i, m, 0.5), Duration::from_secs(10));
        assert_eq!(backoff_delay(1, i, m, 0.5), Duration::from_secs(20));
        assert_eq!(backoff_delay(4, i, m, 0.5), Duration::from_secs(160));
        assert_eq!(backoff_delay(5, i, m, 0.5), Duration::from_secs(300));
        assert_eq!(backoff_delay(30, i, m, 0.99), Duration::from_secs(300));
        assert_eq!(backoff_delay(0, i, m, 0.0), Duration::from_secs(9));
        assert!(backoff_delay(0, i, m, 0.999) > Duration::from_millis(10_990));
    }

    #[test]
    fn the_backoff_starts_over_after_ten_healthy_minutes() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.feed(Input::Healthy);
        // A second failure soon after waits for the backoff.
        s.advance(60);
        let d = s.feed(unhealthy());
        assert_eq!(d.len(), 1, "opened, restart deferred: {d:?}");
        assert!(s.h.next_deadline().is_some());
        let d = s.advance(11);
        assert_eq!(d, vec![restart(1)]);
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.feed(Input::Healthy);
        // Healthy for more than ten minutes (and out of the 15-minute window): immediate again.
        s.advance(16 * 60);
        s.feed(Input::Healthy);
        let d = s.feed(unhealthy());
        assert_eq!(d.last(), Some(&restart(1)));
    }

    #[test]
    fn the_restart_limit_holds_across_incidents_within_the_window() {
        let mut s = Sim::new(caps());
        for _ in 0..3 {
            s.feed(unhealthy());
            for _ in 0..100 {
                if s.h.is_acting() {
                    break;
                }
                s.advance(1);
            }
            s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
            assert_eq!(s.feed(Input::Healthy), vec![Decision::Healed]);
            s.advance(10);
        }
        let d = s.feed(unhealthy());
        assert_eq!(
            d.last(),
            Some(&Decision::GaveUp(GiveUpReason::RestartLimit))
        );
    }

    #[test]
    fn after_giving_up_a_restart_by_someone_else_counts_and_is_not_a_recovery() {
        let mut s = Sim::new(caps());
        s.limits.max_attempts = 1;
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.now += Duration::from_secs(2);
        let d = s.feed(unhealthy());
        assert_eq!(
            d.last(),
            Some(&Decision::GaveUp(GiveUpReason::Ineffective(
                HealAction::Restart
            )))
        );
        // Another healer restarts it again and again: Sickbay never starts over.
        for _ in 0..20 {
            assert!(s.feed(Input::RestartedByOther).is_empty());
            s.now += Duration::from_secs(3);
            assert!(s.feed(unhealthy()).is_empty());
            assert!(s.advance(60).is_empty());
        }
        assert_eq!(s.h.verdict(), Verdict::Red);
        // It is over when the container is healthy, whoever fixed it.
        assert!(s.feed(Input::RestartedByOther).is_empty());
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
    }

    #[test]
    fn restarts_by_someone_else_count_against_the_window() {
        let mut s = Sim::new(caps());
        s.limits.max_attempts = 3;
        let d = s.feed(unhealthy());
        assert_eq!(d.last(), Some(&restart(1)));
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        // Before Sickbay's backoff is over, someone else restarts it twice; each time it
        // fails again.
        let mut ours = 1;
        let mut gave_up = None;
        for _ in 0..10 {
            s.now += Duration::from_secs(2);
            let mut d = s.feed(unhealthy());
            d.extend(s.feed(Input::RestartedByOther));
            s.now += Duration::from_secs(2);
            d.extend(s.feed(unhealthy()));
            for _ in 0..120 {
                d.extend(s.advance(1));
                if s.h.is_acting() {
                    d.extend(s.feed(Input::ActionFinished(HealAction::Restart, Ok(()))));
                }
            }
            for x in &d {
                match x {
                    Decision::Act { .. } => ours += 1,
                    Decision::GaveUp(r) => gave_up = Some(*r),
                    _ => {}
                }
            }
            if gave_up.is_some() {
                break;
            }
        }
        assert!(gave_up.is_some(), "Sickbay gives up");
        assert!(
            ours < 3,
            "the others' restarts took the window's places: {ours}"
        );
    }

    #[test]
    fn a_restart_by_someone_else_that_works_is_a_recovery_not_a_heal() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.now += Duration::from_secs(2);
        s.feed(unhealthy());
        assert!(s.feed(Input::RestartedByOther).is_empty());
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
        assert_eq!(s.h.incident(), None);
    }

    #[test]
    fn an_unhealthy_check_after_the_restart_ends_verification_at_once() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.now += Duration::from_secs(3);
        let d = s.feed(unhealthy());
        assert_eq!(
            d[0],
            Decision::StillFailing {
                action: HealAction::Restart
            }
        );
        // The next restart waits out the backoff (10 s), not the 60 s verify window.
        assert!(
            matches!(s.h.phase, Phase::Waiting { .. }),
            "{:?}",
            s.h.phase
        );
        let d = s.advance(12);
        assert_eq!(d, vec![restart(2)]);
    }

    #[test]
    fn an_unhealthy_status_left_from_before_a_cache_clear_waits_for_the_deadline() {
        let mut s = Sim::new(Capabilities {
            cache_paths: true,
            ..caps()
        });
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::ClearCache, Ok(())));
        s.now += Duration::from_secs(1);
        assert!(s.feed(unhealthy()).is_empty());
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Healed]);
    }

    #[test]
    fn a_death_the_restart_policy_handles_during_verification_fails_it() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        s.now += Duration::from_secs(1);
        let d = s.feed(Input::Died(Death {
            exit_code: 1,
            oom: false,
            by_user: false,
            restart_policy_handles: true,
        }));
        assert_eq!(
            d[..2],
            [
                Decision::RecordDeath,
                Decision::StillFailing {
                    action: HealAction::Restart
                }
            ]
        );
    }

    #[test]
    fn an_action_without_a_result_counts_as_failed_after_its_deadline() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        assert!(s.h.is_acting());
        // Docker's stop timeout (10 s) plus 90 s: nothing yet.
        assert!(s.advance(99).is_empty());
        assert!(s.h.is_acting());
        let d = s.advance(2);
        assert_eq!(
            d,
            vec![Decision::ActionTimedOut {
                action: HealAction::Restart,
                after: Duration::from_secs(100)
            }]
        );
        assert!(
            matches!(s.h.phase, Phase::Waiting { .. }),
            "{:?}",
            s.h.phase
        );
        assert!(!s.h.is_acting());
        // The lost result arriving late changes nothing.
        assert!(s
            .feed(Input::ActionFinished(HealAction::Restart, Ok(())))
            .is_empty());
    }

    #[test]
    fn action_deadlines_outlast_composes_own_limits() {
        let stop = Duration::from_secs(10);
        let recreate = crate::docker::stack::Op::Recreate("web".into()).time_limit();
        let build = crate::docker::stack::Op::Build("web".into()).time_limit();
        assert!(action_deadline(HealAction::Recreate, stop) > recreate);
        assert!(action_deadline(HealAction::Rebuild, stop) > recreate + build);
        assert!(action_deadline(HealAction::Restart, stop) > stop);
    }

    #[test]
    fn a_container_stopped_by_a_user_is_never_acted_on() {
        let mut s = Sim::new(caps());
        let d = s.feed(Input::Died(Death {
            exit_code: 137,
            oom: false,
            by_user: true,
            restart_policy_handles: false,
        }));
        assert!(d.is_empty());
        for _ in 0..50 {
            assert!(s.advance(60).is_empty());
        }
    }

    #[test]
    fn a_user_stop_during_healing_drops_the_plan() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        let d = s.feed(Input::Died(Death {
            exit_code: 143,
            oom: false,
            by_user: true,
            restart_policy_handles: false,
        }));
        assert_eq!(d, vec![Decision::Stand]);
        for _ in 0..50 {
            assert!(s.advance(60).is_empty());
        }
    }

    #[test]
    fn labelled_out_containers_get_an_incident_but_no_action() {
        let mut s = Sim::new(Capabilities {
            may_heal: false,
            ..caps()
        });
        let d = s.feed(unhealthy());
        assert!(matches!(d[..], [Decision::Open { acting: false, .. }]));
        for _ in 0..50 {
            assert!(s.advance(60).is_empty());
        }
        assert_eq!(s.h.verdict(), Verdict::Yellow);
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
    }

    #[test]
    fn a_crash_without_restart_policy_is_restarted_and_healed_when_it_stays_up() {
        let mut s = Sim::new(Capabilities {
            has_check: false,
            ..caps()
        });
        let d = s.feed(Input::Died(Death {
            exit_code: 1,
            oom: false,
            by_user: false,
            restart_policy_handles: false,
        }));
        assert!(matches!(
            d[..],
            [
                Decision::Open {
                    kind: IncidentKind::Crashed,
                    acting: true,
                    ..
                },
                Decision::Act { .. }
            ]
        ));
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        // Running is not enough right away without a check: it must stay up.
        assert!(s.feed(Input::Healthy).is_empty());
        assert_eq!(s.h.incident(), Some(IncidentKind::Crashed));
        assert_eq!(s.advance(61), vec![Decision::Healed]);
    }

    #[test]
    fn a_clean_exit_is_not_an_incident() {
        let mut s = Sim::new(caps());
        let d = s.feed(Input::Died(Death {
            exit_code: 0,
            oom: false,
            by_user: false,
            restart_policy_handles: false,
        }));
        assert!(d.is_empty());
    }

    #[test]
    fn crashes_the_restart_policy_handles_are_recorded_and_a_loop_becomes_an_incident() {
        let mut s = Sim::new(caps());
        let death = Death {
            exit_code: 1,
            oom: false,
            by_user: false,
            restart_policy_handles: true,
        };
        for _ in 0..4 {
            assert_eq!(
                s.feed(Input::Died(death.clone())),
                vec![Decision::RecordDeath]
            );
            s.now += Duration::from_secs(5);
        }
        let d = s.feed(Input::Died(death.clone()));
        assert!(matches!(
            d[..],
            [
                Decision::RecordDeath,
                Decision::Open {
                    kind: IncidentKind::RestartLoop,
                    acting: false,
                    ..
                }
            ]
        ));
        assert_eq!(s.h.verdict(), Verdict::Red);
        // Never fought: no action however long.
        assert!(s.advance(60).is_empty());
        // Running again is not the end of a loop until it stays up for the window.
        assert!(s.feed(Input::Healthy).is_empty());
        s.now += Duration::from_secs(11 * 60);
        assert_eq!(s.feed(Input::Healthy), vec![Decision::Recovered]);
    }

    #[test]
    fn an_oom_kill_opens_an_oom_incident() {
        let mut s = Sim::new(caps());
        let d = s.feed(Input::Died(Death {
            exit_code: 137,
            oom: true,
            by_user: false,
            restart_policy_handles: false,
        }));
        assert!(matches!(
            d[0],
            Decision::Open {
                kind: IncidentKind::OomKilled,
                ..
            }
        ));
    }

    #[test]
    fn sickbays_own_restart_is_not_a_crash() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        let d = s.feed(Input::Died(Death {
            exit_code: 137,
            oom: false,
            by_user: false,
            restart_policy_handles: false,
        }));
        assert!(d.is_empty());
    }

    #[test]
    fn a_failed_probe_after_the_restart_fails_verification_early() {
        let mut s = Sim::new(caps());
        s.feed(Input::Failing {
            kind: IncidentKind::HttpProbeFailed,
            details: "status:503".into(),
        });
        s.feed(Input::ActionFinished(HealAction::Restart, Ok(())));
        let probe_fails = || Input::Failing {
            kind: IncidentKind::HttpProbeFailed,
            details: "status:503".into(),
        };
        // Within the grace the service may still be starting.
        s.now += Duration::from_secs(2);
        assert!(s.feed(probe_fails()).is_empty());
        s.now += Duration::from_secs(9);
        let d = s.feed(probe_fails());
        assert_eq!(
            d[0],
            Decision::StillFailing {
                action: HealAction::Restart
            }
        );
    }

    #[test]
    fn a_failed_action_counts_as_a_failed_attempt() {
        let mut s = Sim::new(caps());
        s.feed(unhealthy());
        let d = s.feed(Input::ActionFinished(
            HealAction::Restart,
            Err("no such container".into()),
        ));
        // Not a heal that did not help (the engine says the action failed): the next try
        // waits out the backoff.
        assert!(d.is_empty(), "{d:?}");
        assert!(
            matches!(s.h.phase, Phase::Waiting { .. }),
            "{:?}",
            s.h.phase
        );
        // With one restart allowed, the failed one used it up.
        let mut s = Sim::new(caps());
        s.limits.max_attempts = 1;
        s.feed(unhealthy());
        let d = s.feed(Input::ActionFinished(
            HealAction::Restart,
            Err("no such container".into()),
        ));
        assert_eq!(
            d,
            vec![Decision::GaveUp(GiveUpReason::Ineffective(
                HealAction::Restart
            ))]
        );
    }
}
