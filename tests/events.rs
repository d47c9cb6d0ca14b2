//! Sickbay's subscription to Docker's events, against the real engine: Docker sends only the
//! events Sickbay acts on, so a health check every second (three `exec_*` events each) costs
//! the watcher nothing.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::support::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_sends_only_the_events_sickbay_acts_on() {
    let mut s = Scenario::new("events");
    let name = s.container("web", HEALTH_NOT_SICK, "exec sleep 100000");
    let client = bollard::Docker::connect_with_local_defaults()
        .expect("the Docker socket")
        .negotiate_version()
        .await
        .expect("Docker answers");
    let mut filters = sickbay::docker::event_filters();
    filters.insert("label".into(), vec![format!("sickbay.test={}", s.run)]);
    let opts = bollard::query_parameters::EventsOptionsBuilder::default()
        .filters(&filters)
        .build();
    let mut stream = client.events(Some(opts));
    // Health checks run every second meanwhile; then the container is killed.
    let killer = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || {
            std::thread::sleep(Duration::from_secs(4));
            docker_ok(&["kill", &name]);
        })
    };
    let mut actions = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !actions.iter().any(|a: &String| a == "die") {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(Some(msg)) = tokio::time::timeout(left, stream.next()).await else {
            break;
        };
        let msg = msg.expect("an event");
        actions.push(msg.action.unwrap_or_default());
    }
    killer.await.expect("kill");
    assert!(
        actions.iter().any(|a| a == "kill") && actions.iter().any(|a| a == "die"),
        "the kill and the death come: {actions:?}"
    );
    let others: Vec<&String> = actions
        .iter()
        .filter(|a| {
            !sickbay::docker::ACTED_ON
                .iter()
                .any(|e| a.as_str() == *e || a.starts_with("health_status"))
        })
        .collect();
    assert!(
        others.is_empty(),
        "events Sickbay does not act on reached it: {others:?} (of {actions:?})"
    );
}
