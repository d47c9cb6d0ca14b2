//! Docker's news into the engine: containers first seen, samples, events, in order, turned
//! into the heal policy's inputs (`feed`). It records what it sees but carries out no
//! decision itself (that is `effects`).

use super::*;

impl Engine {
    /// Starts tracking a container seen for the first time.
    pub(super) fn track(&mut self, info: ContainerInfo) -> &mut Tracked {
        let id = info.id.clone();
        if !self.tracked.contains_key(&id) {
            let (policy, errors) = Policy::from_labels(&info.labels, &self.settings.heal);
            for e in errors {
                tracing::warn!("container {}: {e}", info.name);
                self.record(
                    Event::BadLabel,
                    Some(&info.name.clone()),
                    None,
                    format!("label:{} problem:{}", e.label, quote(&e.problem)),
                );
            }
            let mut heal = ContainerHeal::default();
            // Restarts made by an earlier run still count against the limit.
            let window = self.limits.window;
            if let Ok(times) = self
                .store
                .restarts_since(&info.name, &clock::utc_ago(window))
            {
                let now_wall = SystemTime::now();
                for t in times.iter().filter_map(|t| clock::parse(t)) {
                    let ago = now_wall.duration_since(t).unwrap_or_default();
                    heal.remember_restart(
                        Instant::now().checked_sub(ago).unwrap_or_else(Instant::now),
                    );
                }
            }
            let incident = self.adopted.remove(&info.name);
            self.tracked
                .insert(id.clone(), Tracked::new(info, policy, heal, incident));
            self.graph_dirty = true;
        }
        self.tracked.get_mut(&id).expect("just inserted")
    }

    pub(super) fn forget(&mut self, id: &ContainerId) {
        if let Some(t) = self.tracked.remove(id) {
            self.graph_dirty = true;
            let name = t.former_name.clone().unwrap_or_else(|| t.info.name.clone());
            self.remember_removed(id, name);
            if let Some(inc) = t.incident {
                let name = t.info.name.clone();
                let r = self.store.close_incident(inc.id, &clock::utc_now(), false);
                self.history
                    .check(&format!("closing incident {}", inc.id), r);
                self.record(
                    Event::ContainerRemoved,
                    Some(&name),
                    Some(inc.id),
                    String::new(),
                );
            }
        }
    }

    /// One sample outside a sweep, recorded at once.
    pub(super) fn on_single_sample(&mut self, s: Sample) {
        if let Some(row) = self.on_sample(s) {
            let r = self.store.insert_metrics(&[row]);
            self.history.check("recording metrics", r);
        }
    }

    /// A sample from a sweep (or a single inspect): metrics, then what it says about health.
    pub(super) fn on_sample(&mut self, s: Sample) -> Option<MetricRow> {
        if self.replacement_in_progress(&s.info.id, &s.info.labels)
            || self.retired.contains_key(&s.info.id)
            || (self.removed(&s.info.id) && !self.tracked.contains_key(&s.info.id))
        {
            // The new container of a recreate under way (it takes the old one's place when it
            // is done), or the old one of a finished recreate, sampled before it went.
            return None;
        }
        let t = self.track(s.info.clone());
        // Taken before its last event was handled: that event is the newer news of its state.
        let outdated = t.event_at.is_some_and(|e| s.at < e);
        if !outdated {
            t.info = s.info;
        }
        let cpu = match (&t.prev_stats, &s.stats) {
            (Some(prev), Some(cur)) => docker::cpu_percent(prev, cur),
            _ => None,
        };
        if s.stats.is_some() {
            t.prev_stats = s.stats;
        }
        if s.probe.is_some() || t.info.state != RunState::Running {
            t.last_probe = s.probe.clone();
        }
        let row = MetricRow {
            timestamp: s.timestamp,
            container_name: t.info.name.clone(),
            container_id: t.info.id.0.clone(),
            state: t.info.state.as_str().to_string(),
            health: t.info.health.as_str().to_string(),
            restart_count: t.info.restart_count,
            cpu_percent: cpu.map(round1),
            mem_mb: s.stats.map(|st| round1(st.mem_bytes as f64 / 1_048_576.0)),
            mem_limit_mb: s
                .stats
                .filter(|st| st.mem_limit_bytes > 0 && st.mem_limit_bytes < u64::MAX / 2)
                .map(|st| round1(st.mem_limit_bytes as f64 / 1_048_576.0)),
            response_time_ms: s.probe.as_ref().map(|p| round1(p.response_time_ms)),
            http_status: s.probe.as_ref().and_then(|p| p.status),
        };
        t.last = Some(row.clone());
        // A sample taken before Sickbay's last action ended says nothing about its effect.
        let stale = outdated || t.busy() || t.action_ended.is_some_and(|end| s.at < end);
        if !stale && t.info.state == RunState::Running {
            let id = t.info.id.clone();
            let input = signal(t.info.health, s.probe.as_ref());
            if let Some(input) = input {
                self.feed(&id, input);
            }
            self.dependency_up(&id);
        }
        Some(row)
    }

    /// An untracked container that is the new one of a compose recreate under way.
    pub(super) fn replacement_in_progress(
        &self,
        id: &ContainerId,
        labels: &HashMap<String, String>,
    ) -> bool {
        !self.tracked.contains_key(id)
            && self
                .tracked
                .values()
                .any(|t| t.being_replaced() && t.same_service(labels))
    }

    /// An event from Docker's stream: orchestration is noted, then it is told.
    pub(super) fn on_event(&mut self, ev: DockerEvent) {
        self.note_orchestration(&ev);
        self.tell_event(ev);
    }

    /// An event told to the container it is about (also one replayed after its first sight).
    pub(super) fn tell_event(&mut self, ev: DockerEvent) {
        tracing::debug!(
            "docker event {:?} of {} (tracked: {})",
            ev.kind,
            ev.id.short(),
            self.tracked.contains_key(&ev.id)
        );
        if let Some(queue) = self.first_sight.get_mut(&ev.id) {
            queue.push(ev);
            return;
        }
        if !self.tracked.contains_key(&ev.id) {
            if !monitor::watched(&self.settings, &ev.id, &ev.labels)
                || matches!(ev.kind, EventKind::Destroy | EventKind::Rename { .. })
                || self.retired.contains_key(&ev.id)
                || self.removed(&ev.id)
                || self.replacement_in_progress(&ev.id, &ev.labels)
            {
                return;
            }
            // First sight (a new container): inspect it, then it is tracked like any other;
            // its events until then wait in `first_sight`.
            if let Some(d) = self.docker.clone() {
                let tx = self.tx.clone();
                self.first_sight.insert(ev.id.clone(), Vec::new());
                tokio::spawn(async move {
                    let listed = docker::Listed {
                        id: ev.id.clone(),
                        name: ev.name,
                        labels: ev.labels,
                        status: String::new(),
                    };
                    let s = monitor::inspect(&d, &listed).await.ok();
                    let _ = tx.send(Msg::FirstSight(ev.id, s.map(Box::new))).await;
                });
            }
            return;
        }
        let Some(t) = self.tracked.get_mut(&ev.id) else {
            return;
        };
        t.event_at = Some(Instant::now());
        let ours = t.caused_by_us(ev.time_nano);
        let id = ev.id.clone();
        match ev.kind {
            EventKind::Health(h) => {
                t.info.health = h;
                // Sickbay's own action, or news older than it (a lagging event stream). A
                // status after the action is news: Docker stamped it after the action's
                // result came back, and a restart resets the health to `starting`.
                let ours = t.during_our_action(ev.time_nano, Duration::ZERO);
                if ours || t.busy() || t.before_our_action(ev.time_nano) {
                    return;
                }
                if t.info.state == RunState::Running || h == Health::Unhealthy {
                    if let Some(input) = signal(h, t.last_probe.as_ref()) {
                        self.feed(&id, input);
                    }
                }
                if h == Health::Healthy {
                    self.dependency_up(&id);
                }
            }
            EventKind::Oom => {
                t.oom_pending = true;
                let name = t.info.name.clone();
                self.record(Event::ContainerOom, Some(&name), None, String::new());
            }
            EventKind::Stop | EventKind::Kill => {
                if !ours {
                    t.user_stopping = true;
                }
            }
            EventKind::Die { exit_code } => {
                t.info.state = RunState::Exited;
                t.info.exit_code = exit_code;
                if ours {
                    return;
                }
                let by_user = std::mem::take(&mut t.user_stopping);
                let oom = std::mem::take(&mut t.oom_pending);
                let death = Death {
                    exit_code,
                    oom,
                    by_user,
                    restart_policy_handles: !by_user && t.info.restart_policy_handles(exit_code),
                };
                t.policy_restarting = death.restart_policy_handles;
                if by_user {
                    let name = t.info.name.clone();
                    self.record(
                        Event::ContainerStopped,
                        Some(&name),
                        None,
                        format!("exit_code:{exit_code}"),
                    );
                }
                self.feed(&id, Input::Died(death));
                // The state after the death (restarting, exited) comes from a fresh inspect.
                self.sample_soon(&id);
            }
            EventKind::Start | EventKind::Restart => {
                t.user_stopping = false;
                t.info.state = RunState::Running;
                // Its start as Docker stamped it (a fresh inspect says the same a moment
                // later): a namespace dependent's start is compared with it.
                if ev.kind == EventKind::Start && ev.time_nano > 0 {
                    t.info.started_at = clock::utc(
                        SystemTime::UNIX_EPOCH + Duration::from_nanos(ev.time_nano as u64),
                    );
                }
                let docker_policy = std::mem::take(&mut t.policy_restarting);
                if !ours && !docker_policy && t.incident.is_some() {
                    // Restarted while failing, and not by Sickbay: it counts against the
                    // window like Sickbay's own restarts, and it is not a recovery.
                    // (`docker restart` says `start`, then `restart`: one restart.)
                    let now = Instant::now();
                    let same = ev.kind == EventKind::Restart
                        && t.others
                            .back()
                            .is_some_and(|at| now.duration_since(*at) < Duration::from_secs(10));
                    if !same {
                        t.others.push_back(now);
                        let window = self.limits.window;
                        t.others.retain(|at| now.duration_since(*at) <= window);
                        let count = t.others.len();
                        let name = t.info.name.clone();
                        let incident_id = t.incident.as_ref().map(|i| i.id);
                        self.record(
                            Event::RestartedByOther,
                            Some(&name),
                            incident_id,
                            format!("restarts_by_others:{count}"),
                        );
                        if count == 2 {
                            tracing::warn!(
                                "{name} was restarted twice within {} minutes by something                                  other than Sickbay while it was failing: another healer                                  (autoheal, a second Sickbay, a script) may be at work",
                                window.as_secs() / 60
                            );
                        }
                        self.feed(&id, Input::RestartedByOther);
                    }
                } else if !ours
                    && !docker_policy
                    && (ev.kind == EventKind::Restart
                        || t.info.restart_policy == crate::domain::model::RestartPolicy::No)
                {
                    self.feed(&id, Input::UserActed);
                }
                self.sample_soon(&id);
            }
            // The old container of a recreate goes away; its incident goes on with the new one.
            EventKind::Destroy if t.being_replaced() => {}
            EventKind::Destroy => self.forget(&id),
            EventKind::Rename { old_name } => {
                // Compose v1 moves the old container aside (`<id12>_<name>`) before it
                // removes it: the name it is known by is the one before. Any other rename
                // (Compose v2 names the new container so last) is its name now.
                let aside = ev
                    .name
                    .strip_suffix(old_name.as_str())
                    .and_then(|p| p.strip_suffix('_'))
                    .is_some_and(|p| p.len() == 12 && p.chars().all(|c| c.is_ascii_hexdigit()));
                if aside {
                    t.former_name.get_or_insert(old_name);
                } else {
                    t.info.name = ev.name.clone();
                }
                self.graph_dirty = true;
            }
            // Only a container not yet tracked is created.
            EventKind::Create => {}
        }
    }

    pub(super) fn sample_soon(&self, id: &ContainerId) {
        let (Some(d), Some(t)) = (self.docker.clone(), self.tracked.get(id)) else {
            return;
        };
        let listed = docker::Listed {
            id: id.clone(),
            name: t.info.name.clone(),
            labels: t.info.labels.clone(),
            status: String::new(),
        };
        let tx = self.tx.clone();
        let timeout = self.settings.monitoring.http_timeout_seconds;
        tokio::spawn(async move {
            let prober = Prober::new(Duration::from_secs(timeout));
            if let Ok(s) = monitor::sample(&d, &prober, &listed).await {
                let _ = tx.send(Msg::Sampled(Box::new(s))).await;
            }
        });
    }

    /// Feeds the policy and carries out what it decides.
    pub(super) fn feed(&mut self, id: &ContainerId, input: Input) {
        self.feed_seen(id, input, None);
    }

    /// [`Engine::feed`], for news found other than by an event or a sample (`seen`, e.g.
    /// `seen:after_reconnect`): the incident and the death it opens or records say so.
    pub(super) fn feed_seen(&mut self, id: &ContainerId, input: Input, seen: Option<&str>) {
        if self.paused.load(Ordering::Relaxed) {
            return;
        }
        // Held for a dependency, or for orchestration, or waiting for a look at its
        // dependencies (`dependencies`).
        if let Some(input) = self.route(id, input, seen) {
            self.step_policy(id, input, seen);
        }
    }

    /// Feeds the container's own policy, whatever its dependencies say.
    pub(super) fn step_policy(&mut self, id: &ContainerId, input: Input, seen: Option<&str>) {
        if self.paused.load(Ordering::Relaxed)
            || self.held_by_snooze(id, &input)
            || self.held_by_burst(id, &input, seen)
        {
            return;
        }
        let Some(t) = self.tracked.get_mut(id) else {
            return;
        };
        let caps = t.caps(&self.settings);
        let failing_details = match &input {
            Input::Failing { details, .. } => Some(details.clone()),
            _ => None,
        };
        let healthy = input == Input::Healthy;
        let decisions = t
            .heal
            .step(input, &caps, &self.limits, Instant::now(), fastrand::f64());
        if let (Some(d), Some(inc)) = (failing_details, t.incident.as_mut()) {
            inc.details = d;
        }
        // An incident adopted from an earlier run ends when the container is healthy.
        if healthy && decisions.is_empty() && t.heal.incident().is_none() && t.incident.is_some() {
            self.apply(id, Decision::Recovered);
            return;
        }
        for d in decisions {
            match (d, seen) {
                (
                    Decision::Open {
                        kind,
                        details,
                        acting,
                    },
                    Some(seen),
                ) => self.apply(
                    id,
                    Decision::Open {
                        kind,
                        details: format!("{details} {seen}"),
                        acting,
                    },
                ),
                (Decision::RecordDeath, seen) => self.record_death(id, seen),
                (d, _) => self.apply(id, d),
            }
        }
    }
}

/// A failure input's incident kind and `key:value` details (a person's stop is no failure).
pub(super) fn failure_of(input: &Input) -> Option<(IncidentKind, String)> {
    match input {
        Input::Failing { kind, details } => Some((*kind, details.clone())),
        Input::Died(d) if !d.by_user => Some((
            if d.oom {
                IncidentKind::OomKilled
            } else {
                IncidentKind::Crashed
            },
            format!("exit_code:{}", d.exit_code),
        )),
        _ => None,
    }
}

/// The event that tells a failure of `kind`.
pub(super) fn failure_event(kind: IncidentKind) -> Event {
    match kind {
        IncidentKind::Unhealthy | IncidentKind::HttpProbeFailed => Event::ContainerUnhealthy,
        IncidentKind::Crashed => Event::ContainerDied,
        IncidentKind::OomKilled => Event::ContainerOomKilled,
        IncidentKind::RestartLoop => Event::RestartLoop,
    }
}

/// What a running container's checks say: unhealthy, a failed probe, or all passing.
pub(super) fn signal(health: Health, probe: Option<&ProbeResult>) -> Option<Input> {
    if health == Health::Unhealthy {
        return Some(Input::Failing {
            kind: IncidentKind::Unhealthy,
            details: "health:unhealthy".into(),
        });
    }
    if let Some(p) = probe.filter(|p| !p.ok()) {
        return Some(Input::Failing {
            kind: IncidentKind::HttpProbeFailed,
            details: p.details(),
        });
    }
    match health {
        Health::Starting => None,
        _ => Some(Input::Healthy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_turn_into_policy_inputs() {
        let bad = ProbeResult {
            status: Some(503),
            response_time_ms: 3.0,
            error: None,
        };
        let good = ProbeResult {
            status: Some(200),
            ..bad.clone()
        };
        assert!(matches!(
            signal(Health::Unhealthy, Some(&good)),
            Some(Input::Failing {
                kind: IncidentKind::Unhealthy,
                ..
            })
        ));
        assert_eq!(
            signal(Health::None, Some(&bad)),
            Some(Input::Failing {
                kind: IncidentKind::HttpProbeFailed,
                details: "status:503 response_ms:3".into()
            })
        );
        assert_eq!(signal(Health::Healthy, Some(&good)), Some(Input::Healthy));
        assert_eq!(signal(Health::None, None), Some(Input::Healthy));
        assert_eq!(signal(Health::Starting, None), None);
    }
}
