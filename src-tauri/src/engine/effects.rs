//! The heal policy's decisions carried out: incidents opened and updated, events recorded,
//! actions started (through `executors`) and their results taken back. It never talks to
//! Docker itself.

use super::*;

impl Engine {
    pub(super) fn apply(&mut self, id: &ContainerId, decision: Decision) {
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let name = t.info.name.clone();
        let now = clock::utc_now();
        match decision {
            Decision::Open {
                kind,
                details,
                acting,
            } => {
                let status = if acting {
                    IncidentStatus::Open
                } else {
                    IncidentStatus::Watching
                };
                let incident_id = match &t.incident {
                    Some(old) => {
                        let r = self.store.set_incident_status(old.id, status, &now);
                        self.history
                            .check(&format!("updating incident {}", old.id), r);
                        Ok(old.id)
                    }
                    None => {
                        self.store
                            .open_incident(&now, &name, &t.info.id.0, kind, status, &details)
                    }
                };
                let Some(incident_id) = self
                    .history
                    .check(&format!("opening the incident of {name}"), incident_id)
                else {
                    // Still told in monitor.log, without an incident to point at.
                    self.record(
                        Event::ContainerUnhealthy,
                        Some(&name),
                        None,
                        format!("{details} incident:unrecorded"),
                    );
                    return;
                };
                t.incident = Some(OpenIncident {
                    id: incident_id,
                    kind,
                    status,
                    details: details.clone(),
                });
                if !t.affected.is_empty() {
                    let r = self.store.set_incident_affected(incident_id, &t.affected);
                    self.history
                        .check(&format!("updating incident {incident_id}"), r);
                }
                let event = observe::failure_event(kind);
                let mut fields = details;
                if !acting {
                    fields.push_str(" heal:off");
                }
                self.record(event, Some(&name), Some(incident_id), fields);
            }
            Decision::Act { action, attempt } => {
                t.action_seq += 1;
                let seq = t.action_seq;
                let Some(docker) = self.docker.clone() else {
                    // No Docker, no action: the policy hears it failed and backs off.
                    let _ = self.tx.try_send(Msg::ActionDone {
                        id: id.clone(),
                        seq,
                        action,
                        result: Err("Docker is unreachable".into()),
                        replaced_by: None,
                    });
                    return;
                };
                t.acting_since = Some(SystemTime::now());
                t.acted_until = None;
                if let Some(inc) = t.incident.as_mut() {
                    if inc.status != IncidentStatus::Open {
                        // Acting again after holding off (a person's stop, someone else's
                        // restart).
                        inc.status = IncidentStatus::Open;
                        let r = self
                            .store
                            .set_incident_status(inc.id, IncidentStatus::Open, &now);
                        self.history
                            .check(&format!("updating incident {}", inc.id), r);
                    }
                }
                let incident_id = t.incident.as_ref().map(|i| i.id);
                let paths = t.policy.cache_paths.clone();
                let job = t.job(
                    docker,
                    executors::Work::Heal {
                        action,
                        paths: paths.clone(),
                    },
                );
                let service_name = job.service.as_ref().map(|s| s.service.clone());
                // The request goes first: writing it down (two history writes) never delays it.
                // Its result comes back as a message, after this is recorded.
                executors::spawn(job, self.tx.clone());
                let (event, fields) = match action {
                    HealAction::ClearCache => {
                        (Event::ClearingCache, format!("paths:{}", paths.join(",")))
                    }
                    HealAction::Restart => {
                        (Event::RestartingContainer, format!("attempt:{attempt}"))
                    }
                    HealAction::Recreate => (
                        Event::RecreatingContainer,
                        format!("service:{}", service_name.unwrap_or_default()),
                    ),
                    HealAction::Rebuild => (
                        Event::RebuildingContainer,
                        format!("service:{}", service_name.unwrap_or_default()),
                    ),
                };
                self.record(event, Some(&name), incident_id, fields);
                if let Some(iid) = incident_id {
                    let rec = ActionRecord {
                        action,
                        at: now,
                        outcome: "requested".into(),
                    };
                    let r = self
                        .store
                        .add_action(iid, &rec, action == HealAction::Restart);
                    self.history
                        .check(&format!("adding an action to incident {iid}"), r);
                }
            }
            Decision::StillFailing { .. } => {
                let details = t
                    .incident
                    .as_ref()
                    .map(|i| i.details.clone())
                    .unwrap_or_default();
                let incident_id = t.incident.as_ref().map(|i| i.id);
                if let Some(iid) = incident_id {
                    let r = self.store.set_last_action_outcome(iid, "ineffective");
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record(Event::ContainerUnhealthy, Some(&name), incident_id, details);
            }
            Decision::ActionTimedOut { action, after } => {
                // Whatever comes of it later is dropped: the policy has moved on.
                t.action_seq += 1;
                t.acted_until = Some(SystemTime::now());
                t.action_ended = Some(Instant::now());
                let error = format!("no result within {} s", after.as_secs());
                let incident_id = t.incident.as_ref().map(|i| i.id);
                if let Some(iid) = incident_id {
                    let r = self
                        .store
                        .set_last_action_outcome(iid, &format!("failed: {error}"));
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                tracing::error!("{name}: the {} {error}", action.as_str());
                self.record(
                    Event::HealActionFailed,
                    Some(&name),
                    incident_id,
                    format!("action:{} error:{}", action.as_str(), quote(&error)),
                );
            }
            Decision::Healed | Decision::Recovered => {
                let healed = decision == Decision::Healed;
                let fields = metrics_fields(t.last.as_ref());
                let incident = t.incident.take();
                let incident_id = incident.as_ref().map(|i| i.id);
                if incident_id.is_some() {
                    t.last_incident = incident_id;
                }
                t.affected.clear();
                if let Some(inc) = &incident {
                    if healed {
                        let r = self.store.set_last_action_outcome(inc.id, "healed");
                        self.history
                            .check(&format!("updating incident {}", inc.id), r);
                    }
                    let r = self.store.close_incident(inc.id, &now, healed);
                    self.history
                        .check(&format!("closing incident {}", inc.id), r);
                }
                self.record(Event::ContainerHealthy, Some(&name), incident_id, fields);
                // What was held for it, or lives in its namespace, follows.
                self.dependency_up(id);
            }
            Decision::GaveUp(reason) => {
                let incident_id = t.incident.as_ref().map(|i| i.id);
                if let Some(inc) = t.incident.as_mut() {
                    inc.status = IncidentStatus::HealingFailed;
                    let r =
                        self.store
                            .set_incident_status(inc.id, IncidentStatus::HealingFailed, &now);
                    self.history
                        .check(&format!("updating incident {}", inc.id), r);
                }
                self.record(
                    Event::HealingFailed,
                    Some(&name),
                    incident_id,
                    format!("reason:{}", reason.as_str()),
                );
            }
            Decision::RecordDeath => self.record_death(id, None),
            Decision::Stand => {
                if let Some(inc) = t.incident.as_mut() {
                    inc.status = IncidentStatus::Watching;
                    let r = self
                        .store
                        .set_incident_status(inc.id, IncidentStatus::Watching, &now);
                    self.history
                        .check(&format!("updating incident {}", inc.id), r);
                }
            }
        }
    }

    pub(super) fn on_action_done(
        &mut self,
        id: &ContainerId,
        action: HealAction,
        result: Result<(), String>,
        replaced_by: Option<ContainerInfo>,
    ) {
        let (id, fields) = match replaced_by {
            Some(new) => self.take_place(id, new),
            None => (id.clone(), String::new()),
        };
        let id = &id;
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        t.acted_until = Some(SystemTime::now());
        t.action_ended = Some(Instant::now());
        let name = t.info.name.clone();
        let incident_id = t.incident.as_ref().map(|i| i.id);
        match &result {
            Ok(()) => {
                if action == HealAction::Restart {
                    t.sickbay_restarts += 1;
                }
                let event = match action {
                    HealAction::ClearCache => Event::CacheCleared,
                    HealAction::Restart => Event::ContainerRestarted,
                    HealAction::Recreate => Event::ContainerRecreated,
                    HealAction::Rebuild => Event::ContainerRebuilt,
                };
                if let Some(iid) = incident_id {
                    let r = self.store.set_last_action_outcome(iid, "done");
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record(event, Some(&name), incident_id, fields);
            }
            Err(e) => {
                if let Some(iid) = incident_id {
                    let r = self
                        .store
                        .set_last_action_outcome(iid, &format!("failed: {e}"));
                    self.history.check(&format!("updating incident {iid}"), r);
                }
                self.record(
                    Event::HealActionFailed,
                    Some(&name),
                    incident_id,
                    format!("action:{} error:{}", action.as_str(), quote(e)),
                );
            }
        }
        self.feed(id, Input::ActionFinished(action, result));
        self.sample_soon(id);
    }

    /// The container `new` takes `old`'s place (a compose recreate): its incident, its heal
    /// state, its holds. Returns the id to go on with, and a field saying the new id.
    pub(super) fn take_place(
        &mut self,
        old: &ContainerId,
        new: ContainerInfo,
    ) -> (ContainerId, String) {
        if new.id == *old {
            return (old.clone(), String::new());
        }
        let Some(mut t) = self.tracked.remove(old) else {
            return (old.clone(), String::new());
        };
        self.tracked.remove(&new.id);
        let now = Instant::now();
        self.retired
            .retain(|_, at| now.duration_since(*at) < Duration::from_secs(600));
        self.retired.insert(old.clone(), now);
        self.graph_dirty = true;
        let fields = format!("new_id:{}", new.id.short());
        let id = new.id.clone();
        t.info = new;
        t.prev_stats = None;
        t.last_probe = None;
        t.since = now;
        // A new container: its namespace parent's next replacement is news again.
        t.dangling_told = false;
        self.tracked.insert(id.clone(), t);
        (id, fields)
    }

    /// A death Docker's restart policy handles, recorded; `seen`: found after the fact (an
    /// outage), when its exit code is gone and the restart count tells it instead.
    pub(super) fn record_death(&mut self, id: &ContainerId, seen: Option<&str>) {
        let Some(t) = self.tracked.get(id) else {
            return;
        };
        let fields = match seen {
            None => format!(
                "exit_code:{} restart_policy:{}",
                t.info.exit_code, t.info.restart_policy
            ),
            Some(seen) => format!(
                "restart_policy:{} restart_count:{} {seen}",
                t.info.restart_policy, t.info.restart_count
            ),
        };
        let (name, incident) = (t.info.name.clone(), t.incident.as_ref().map(|i| i.id));
        self.record(Event::ContainerDied, Some(&name), incident, fields);
    }
}
