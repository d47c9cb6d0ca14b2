//! After an outage: what the engine now reports compared with what was known, and the deaths
//! no event told fed to the policy as an event's would.

use super::*;

impl Engine {
    /// After an outage, the first sweep that listed containers once Docker was back tells
    /// what no event did meanwhile: each container known before is compared with what Docker
    /// reports now, and its deaths go to the heal policy as an event's would, recorded with
    /// `seen:after_reconnect`. A container with events handled since the reconnect is left
    /// to them (they tell its news), so no death is counted twice.
    pub(super) fn reconcile(&mut self, samples: &[Sample], listed_at: Instant) {
        let Some(since) = self.reconnected.filter(|at| listed_at >= *at) else {
            return;
        };
        self.reconnected = None;
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        let seen = "seen:after_reconnect";
        for s in samples {
            let id = &s.info.id;
            let Some(t) = self.tracked.get_mut(id) else {
                continue;
            };
            let told = t.event_at.is_some_and(|e| e >= since);
            if told || t.since >= since || t.heal.is_acting() {
                continue;
            }
            let deaths = hidden_deaths(&t.info, &s.info, self.limits.restart_loop_restarts);
            if deaths.is_empty() {
                continue;
            }
            t.info = s.info.clone();
            for death in deaths {
                self.feed_seen(id, Input::Died(death), Some(seen));
            }
        }
    }
}

/// The deaths of a container between two looks that no event told: `before` is what was
/// known, `now` what Docker reports. First the restarts Docker's restart policy made (its
/// restart count grew; at most `cap`, enough for a restart loop), then, when it was meant to
/// run and has exited since with no policy to start it again, that last exit (a clean one,
/// code 0, is no failure to the policy, as with an event). A container started again
/// meanwhile without its restart count growing is not a known death.
pub(super) fn hidden_deaths(before: &ContainerInfo, now: &ContainerInfo, cap: u32) -> Vec<Death> {
    if before.id != now.id {
        return Vec::new();
    }
    let restarts = (now.restart_count - before.restart_count).clamp(0, i64::from(cap));
    let mut deaths: Vec<Death> = (0..restarts)
        .map(|_| Death {
            exit_code: now.exit_code,
            oom: false,
            by_user: false,
            restart_policy_handles: true,
        })
        .collect();
    let was_up = matches!(before.state, RunState::Running | RunState::Restarting);
    let is_down = matches!(now.state, RunState::Exited | RunState::Dead);
    if was_up && is_down && !now.restart_policy_handles(now.exit_code) {
        deaths.push(Death {
            exit_code: now.exit_code,
            oom: now.oom_killed,
            by_user: false,
            restart_policy_handles: false,
        });
    }
    deaths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(state: RunState, restart_count: i64, exit_code: i64, policy: &str) -> ContainerInfo {
        ContainerInfo {
            name: "web".into(),
            restart_count,
            exit_code,
            restart_policy: crate::domain::model::RestartPolicy::from_docker(policy),
            ..ContainerInfo::for_tests("c1", state)
        }
    }

    fn death(exit_code: i64, restart_policy_handles: bool) -> Death {
        Death {
            exit_code,
            oom: false,
            by_user: false,
            restart_policy_handles,
        }
    }

    #[test]
    fn deaths_an_outage_hid_are_found_by_comparing_before_and_now() {
        use RunState::{Exited, Restarting, Running};
        let up = info(Running, 0, 0, "no");
        // Crashed meanwhile, no restart policy: a death Sickbay handles.
        let crashed = info(Exited, 0, 3, "no");
        assert_eq!(hidden_deaths(&up, &crashed, 5), vec![death(3, false)]);
        let oom = ContainerInfo {
            oom_killed: true,
            ..info(Exited, 0, 137, "no")
        };
        assert_eq!(
            hidden_deaths(&up, &oom, 5),
            vec![Death {
                oom: true,
                ..death(137, false)
            }]
        );
        // A finished job: a clean exit, which the policy ignores, as after an event.
        assert_eq!(
            hidden_deaths(&up, &info(Exited, 0, 0, "no"), 5),
            vec![death(0, false)]
        );
        // Nothing new: still running, or already known to have exited.
        assert!(hidden_deaths(&up, &up, 5).is_empty());
        assert!(hidden_deaths(&crashed, &crashed, 5).is_empty());
        // Restarted twice by Docker's policy meanwhile: two deaths it handled.
        let always = info(Running, 1, 0, "always");
        assert_eq!(
            hidden_deaths(&always, &info(Restarting, 3, 2, "always"), 5),
            vec![death(2, true), death(2, true)]
        );
        // Many restarts: as many as make a restart loop.
        assert_eq!(
            hidden_deaths(&always, &info(Running, 100, 0, "always"), 5).len(),
            5
        );
        // An `always` container exited and not restarting was stopped by someone: no crash.
        assert!(hidden_deaths(&always, &info(Exited, 1, 137, "always"), 5).is_empty());
        // on-failure:2 used up: two restarts Docker made, then the exit nobody restarts.
        let on_failure = |state, count, code| ContainerInfo {
            restart_max_retries: 2,
            ..info(state, count, code, "on-failure")
        };
        assert_eq!(
            hidden_deaths(&on_failure(Running, 0, 0), &on_failure(Exited, 2, 1), 5),
            vec![death(1, true), death(1, true), death(1, false)]
        );
        // Another container under the same name is not the one known.
        let other = ContainerInfo {
            id: ContainerId("c2".into()),
            ..crashed.clone()
        };
        assert!(hidden_deaths(&up, &other, 5).is_empty());
    }
}
