//! The sweep: every watched container's state, health, restarts, CPU, memory and HTTP probe,
//! inspected with bounded concurrency. Docker's event stream (see [`crate::engine`]) sees
//! failures at once; the sweep fills in metrics and catches what the stream missed.
//! What a container's labels mean is the label policy's ([`crate::config::Policy`]): this
//! module reads no `sickbay.*` label itself.

use std::time::Instant;

use futures_util::StreamExt;

use crate::config::{self, Policy, Settings};
use crate::docker::probe::{ProbeResult, Prober};
use crate::docker::{ContainerInfo, Docker, DockerError, Listed, StatsSample};
use crate::domain::model::RunState;

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

/// Whether Sickbay watches a listed container: it matches the selector and is not opted out.
/// `sickbay.enable` is read by the label policy ([`Policy::watched`]), not here.
pub fn watched(settings: &Settings, labels: &std::collections::HashMap<String, String>) -> bool {
    config::selector_matches(&settings.monitoring.label_selector, labels) && Policy::watched(labels)
}

/// Inspects one container, with stats and its probe when it runs.
pub async fn sample(docker: &Docker, prober: &Prober, c: &Listed) -> Result<Sample, DockerError> {
    let at = Instant::now();
    let timestamp = crate::clock::utc_now();
    let info = docker.inspect(&c.id).await?;
    let running = info.state == RunState::Running;
    // The label policy's checked URL: a bad label is reported by the engine, never probed.
    let url = Policy::read_health_url(&info.labels).ok().flatten();
    let stats_fut = async {
        if running {
            docker.stats(&c.id).await.ok()
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
    Ok(Sample {
        info,
        stats,
        probe,
        at,
        timestamp,
    })
}

/// Samples every watched container, at most `concurrency` at a time. Containers that
/// vanish during the sweep are skipped.
pub async fn sweep(
    docker: &Docker,
    prober: &Prober,
    settings: &Settings,
) -> Result<Vec<Sample>, DockerError> {
    let listed: Vec<Listed> = docker
        .list()
        .await?
        .into_iter()
        .filter(|c| watched(settings, &c.labels))
        .collect();
    let results: Vec<Result<Sample, DockerError>> = futures_util::stream::iter(listed)
        .map(|c| {
            let (docker, prober) = (docker.clone(), prober.clone());
            async move { sample(&docker, &prober, &c).await }
        })
        .buffer_unordered(settings.monitoring.concurrency)
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
    Ok(samples)
}
