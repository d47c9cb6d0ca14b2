//! The sweep: every watched container's state, health, restarts, CPU, memory and HTTP probe.
//! Docker's event stream (see [`crate::engine`]) sees failures at once; the sweep fills in
//! metrics and catches what the stream missed.
//! What a container's labels mean is the label policy's ([`crate::config::Policy`]): this
//! module reads no `sickbay.*` label itself.
//!
//! A sweep is a pipeline of two bounded stages. Inspecting costs the daemon work, so at most
//! `[monitoring] concurrency` inspects are in flight. Then statistics and probes: a running
//! container's statistics are read from its cgroup files when the engine runs on this kernel
//! ([`crate::docker::cgroup`]: at once, nothing asked of the daemon). Otherwise Docker answers
//! a stats request at its collector's next round, about once a second, however many are
//! waiting (even one-shot): with 16 in flight, 500 containers took 32 rounds (over 30 s); with
//! [`STATS_IN_FLIGHT`] waiting together they take one or two. Each request in flight is one
//! connection to the daemon, closed when it is answered.
//!
//! The engine's sweeps remember what they inspected ([`Memory`]): a container whose one-line
//! status in Docker's list is what it was when last inspected, and which is not unhealthy, is
//! not inspected again (its state, health, restart count and exit code cannot have changed
//! without that line changing), except once every [`REFRESH_EVERY`] sweeps. At 500 idle
//! containers that leaves about 50 inspects a sweep instead of 500.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::config::{self, Policy, Settings};
use crate::docker::probe::{ProbeResult, Prober};
use crate::docker::{ContainerInfo, Docker, DockerError, Listed, StatsSample, Window};
use crate::domain::model::{ContainerId, Health, RunState};

/// Statistics requests (and HTTP probes) a sweep keeps in flight at most.
pub const STATS_IN_FLIGHT: usize = 256;

/// The same for a one-off look (`status` with no watcher), which waits for two of Docker's
/// rounds: a short-lived process whose connections go with it, so it asks for twice as many
/// at once (each is a file descriptor; 512 stays well under the usual limit of 1,024).
pub const LOOK_STATS_IN_FLIGHT: usize = 512;

/// A container unchanged in Docker's list is inspected again every this many sweeps all the
/// same (each in its own turn, so the inspects spread over the sweeps).
pub const REFRESH_EVERY: u64 = 10;

/// What the engine's sweeps remember of the containers they inspected.
#[derive(Debug, Default)]
pub struct Memory {
    sweeps: u64,
    known: HashMap<ContainerId, Known>,
}

#[derive(Debug)]
struct Known {
    /// The list's status line when it was inspected.
    status: String,
    info: ContainerInfo,
    /// The sweep whose turn it is to inspect it whatever the list says.
    turn: u64,
}

impl Memory {
    /// The last inspect of a listed container, when nothing says it changed since.
    fn unchanged(&self, c: &Listed) -> Option<ContainerInfo> {
        let k = self.known.get(&c.id)?;
        let fresh = !c.status.is_empty()
            && k.status == c.status
            && k.info.health != Health::Unhealthy
            && self.sweeps % REFRESH_EVERY != k.turn;
        fresh.then(|| k.info.clone())
    }

    /// After a sweep: what it inspected, and nothing of containers it no longer lists.
    fn remember(&mut self, listed: &[Listed], samples: &[Sample]) {
        let status: HashMap<&ContainerId, &str> =
            listed.iter().map(|c| (&c.id, c.status.as_str())).collect();
        self.known.retain(|id, _| status.contains_key(id));
        for (i, s) in samples.iter().enumerate() {
            let Some(line) = status.get(&s.info.id) else {
                continue;
            };
            let turn = self
                .known
                .get(&s.info.id)
                .map_or(i as u64 % REFRESH_EVERY, |k| k.turn);
            self.known.insert(
                s.info.id.clone(),
                Known {
                    status: line.to_string(),
                    info: s.info.clone(),
                    turn,
                },
            );
        }
        self.sweeps += 1;
    }
}

/// What one sweep saw of one container.
#[derive(Debug, Clone)]
pub struct Sample {
    pub info: ContainerInfo,
    pub stats: Option<StatsSample>,
    pub probe: Option<ProbeResult>,
    /// When the sample was taken (monotonic and UTC).
    pub at: Instant,
    pub timestamp: String,
}

/// A whole sweep: its samples (by name) and how long it took from listing to the last sample.
#[derive(Debug, Clone)]
pub struct Swept {
    pub samples: Vec<Sample>,
    pub took: Duration,
}

/// Whether Sickbay watches a listed container: it matches the selector, is not opted out, and
/// is not the container Sickbay runs in ([`super::own`]). `sickbay.enable` is read by the
/// label policy ([`Policy::watched`]), not here.
pub fn watched(
    settings: &Settings,
    id: &ContainerId,
    labels: &std::collections::HashMap<String, String>,
) -> bool {
    config::selector_matches(&settings.monitoring.label_selector, labels)
        && Policy::watched(labels)
        && !super::own::is_own(&id.0)
}

/// Inspects one container, with stats and its probe when it runs.
pub async fn sample(docker: &Docker, prober: &Prober, c: &Listed) -> Result<Sample, DockerError> {
    let at = Instant::now();
    let timestamp = crate::clock::utc_now();
    let info = docker.inspect(&c.id).await?;
    Ok(measure(docker, prober, info, at, timestamp, Window::OneShot).await)
}

/// A container's state alone, without waiting for statistics (about a second): its first
/// sight, whose events wait until it is known.
pub async fn inspect(docker: &Docker, c: &Listed) -> Result<Sample, DockerError> {
    let at = Instant::now();
    let timestamp = crate::clock::utc_now();
    Ok(Sample {
        info: docker.inspect(&c.id).await?,
        stats: None,
        probe: None,
        at,
        timestamp,
    })
}

/// The second stage: statistics and the probe of a container that runs.
async fn measure(
    docker: &Docker,
    prober: &Prober,
    info: ContainerInfo,
    at: Instant,
    timestamp: String,
    window: Window,
) -> Sample {
    let running = info.state == RunState::Running;
    // The label policy's checked URL: a bad label is reported by the engine, never probed.
    let url = Policy::read_health_url(&info.labels).ok().flatten();
    let stats_fut = async {
        if running {
            docker.stats(&info, window).await.ok()
        } else {
            None
        }
    };
    let probe_fut = async {
        match (&url, running) {
            (Some(u), true) => Some(prober.probe(u).await),
            _ => None,
        }
    };
    let (stats, probe) = tokio::join!(stats_fut, probe_fut);
    Sample {
        info,
        stats,
        probe,
        at,
        timestamp,
    }
}

/// Samples every watched container: inspects at most `[monitoring] concurrency` at a time,
/// statistics and probes at most [`STATS_IN_FLIGHT`] ([`LOOK_STATS_IN_FLIGHT`] for a one-off
/// look). Containers that vanish during the sweep
/// are skipped. `window`: one-shot statistics (the engine computes CPU % between two sweeps)
/// or Docker's own two samples (a one-off look). `memory`: what earlier sweeps inspected (the
/// engine's), so that only what changed is inspected again; `None` inspects everything.
pub async fn sweep(
    docker: &Docker,
    prober: &Prober,
    settings: &Settings,
    window: Window,
    memory: Option<&mut Memory>,
) -> Result<Swept, DockerError> {
    let start = Instant::now();
    let listed: Vec<Listed> = docker
        .list(&settings.monitoring.label_selector)
        .await?
        .into_iter()
        .filter(|c| watched(settings, &c.id, &c.labels))
        .collect();
    let listed_at = Instant::now();
    let looks: Vec<(ContainerId, Option<ContainerInfo>)> = listed
        .iter()
        .map(|c| (c.id.clone(), memory.as_ref().and_then(|m| m.unchanged(c))))
        .collect();
    let results: Vec<Result<Sample, DockerError>> = futures_util::stream::iter(looks)
        .map(|(id, known)| {
            let docker = docker.clone();
            async move {
                match known {
                    // What the list just said: as new as an inspect.
                    Some(info) => Ok((info, listed_at, crate::clock::utc_now())),
                    None => {
                        let at = Instant::now();
                        let timestamp = crate::clock::utc_now();
                        docker.inspect(&id).await.map(|info| (info, at, timestamp))
                    }
                }
            }
        })
        .buffer_unordered(settings.monitoring.concurrency)
        .map(|r| {
            let (docker, prober) = (docker.clone(), prober.clone());
            async move {
                let (info, at, timestamp) = r?;
                Ok(measure(&docker, &prober, info, at, timestamp, window).await)
            }
        })
        .buffer_unordered(match window {
            Window::OneShot => STATS_IN_FLIGHT,
            Window::TwoSamples => LOOK_STATS_IN_FLIGHT,
        })
        .collect()
        .await;
    let mut samples = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(s) => samples.push(s),
            Err(DockerError::NotFound(_)) => {}
            Err(e) if e.is_unreachable() => return Err(e),
            Err(e) => tracing::warn!("sweep: {e}"),
        }
    }
    samples.sort_by(|a, b| a.info.name.cmp(&b.info.name));
    docker.retain_cgroups(&listed.iter().map(|c| &c.id).collect());
    if let Some(m) = memory {
        m.remember(&listed, &samples);
    }
    Ok(Swept {
        samples,
        took: start.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, status: &str) -> Listed {
        Listed {
            id: ContainerId(id.into()),
            name: id.into(),
            labels: HashMap::new(),
            status: status.into(),
        }
    }

    fn sample(id: &str, health: Health) -> Sample {
        Sample {
            info: ContainerInfo {
                health,
                ..ContainerInfo::for_tests(id, RunState::Running)
            },
            stats: None,
            probe: None,
            at: Instant::now(),
            timestamp: String::new(),
        }
    }

    #[test]
    fn a_container_is_inspected_again_only_when_its_list_line_changes_or_its_turn_comes() {
        let mut m = Memory::default();
        let up = listed("a", "Up 2 hours (healthy)");
        assert!(m.unchanged(&up).is_none(), "never inspected");
        m.remember(std::slice::from_ref(&up), &[sample("a", Health::Healthy)]);
        let mut reused = 0;
        for _ in 0..REFRESH_EVERY {
            if m.unchanged(&up).is_some() {
                reused += 1;
            }
            m.remember(std::slice::from_ref(&up), &[sample("a", Health::Healthy)]);
        }
        assert_eq!(
            reused,
            REFRESH_EVERY - 1,
            "inspected once per {REFRESH_EVERY} sweeps"
        );
        // Restarted (the uptime starts again), or unhealthy: inspected at once.
        assert!(m
            .unchanged(&listed("a", "Up 1 second (health: starting)"))
            .is_none());
        m.remember(std::slice::from_ref(&up), &[sample("a", Health::Unhealthy)]);
        assert!(
            m.unchanged(&up).is_none(),
            "an unhealthy container's check output changes"
        );
        // Gone from the list: forgotten.
        m.remember(&[], &[]);
        assert!(m.unchanged(&up).is_none());
    }
}
