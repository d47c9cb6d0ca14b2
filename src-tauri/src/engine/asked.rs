//! What a person asks of the engine for one container: "Restart now" (the dashboard, the
//! tray). Sickbay carries it out as its own action, so Docker's events of it are not taken
//! for a failure or another healer, and counts it as a person taking over: whatever Sickbay
//! had given up on starts afresh, and an open incident's container is verified as after a
//! restart (`Input::PersonRestarted`). While it runs, the policy's timers wait (`tick`).

use super::*;

impl Engine {
    /// Restarts the container named `name` now, for `by` (`dashboard`, `tray`): recorded as
    /// `restart_requested`, then as Sickbay's restarts are. Refused, and recorded as such,
    /// while Sickbay is already acting on it or it is not known.
    pub(super) fn restart_asked(&mut self, name: &str, by: &str) {
        // Only a name Docker allows reaches the history (it is written into fields).
        if !crate::domain::model::is_container_name(name) {
            tracing::warn!("a restart was asked for {name:?}, which is no container name");
            return;
        }
        let by = quote(by);
        let Some(id) = self.id_named(name) else {
            return self.refuse_restart(name, None, &by, "no such container is watched");
        };
        let Some(t) = self.tracked.get(&id) else {
            return;
        };
        let incident = t.incident.as_ref().map(|i| i.id);
        if t.busy() {
            return self.refuse_restart(name, incident, &by, "Sickbay is acting on it now");
        }
        let Some(docker) = self.docker.clone() else {
            return self.refuse_restart(name, incident, &by, "Docker is unreachable");
        };
        let Some(t) = self.tracked.get_mut(&id) else {
            return;
        };
        t.follow_seq += 1;
        t.asked = true;
        t.acting_since = Some(SystemTime::now());
        t.acted_until = None;
        let job = t.job(docker, executors::Work::Asked { by: by.clone() });
        self.record(
            Event::RestartRequested,
            Some(name),
            incident,
            format!("by:{by}"),
        );
        self.record(
            Event::RestartingContainer,
            Some(name),
            incident,
            format!("by:{by}"),
        );
        executors::spawn(job, self.tx.clone());
        self.publish();
    }

    fn refuse_restart(&mut self, name: &str, incident: Option<i64>, by: &str, why: &str) {
        self.record(
            Event::RestartRequested,
            Some(name),
            incident,
            format!("by:{by} refused:{}", quote(why)),
        );
    }

    /// The result of a restart a person asked for.
    pub(super) fn on_asked(
        &mut self,
        id: &ContainerId,
        seq: u64,
        by: &str,
        result: Result<(), String>,
    ) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        if !t.asked || t.follow_seq != seq {
            return;
        }
        t.asked = false;
        t.acted_until = Some(SystemTime::now());
        t.action_ended = Some(Instant::now());
        if result.is_ok() {
            t.info.started_at = clock::utc_now();
            t.sickbay_restarts += 1;
        }
        let name = t.info.name.clone();
        let incident = t.incident.as_ref().map(|i| i.id);
        match result {
            Ok(()) => {
                self.record(
                    Event::ContainerRestarted,
                    Some(&name),
                    incident,
                    format!("by:{by}"),
                );
                self.feed(id, Input::PersonRestarted);
            }
            // Not a failed heal (the alert watcher counts those): the person's request failed.
            Err(e) => self.record(
                Event::RestartRequested,
                Some(&name),
                incident,
                format!("by:{by} error:{}", quote(&e)),
            ),
        }
        self.sample_soon(id);
        self.publish();
    }
}
