//! The engine against the real Docker engine: each scenario asserts what a user sees in
//! `status`, `incidents` and `logs/monitor.log`.

use crate::support::common::*;

/// Unhealthy on its first start only (a marker in the container's own filesystem), healthy
/// after any restart: `/run` is a tmpfs, fresh at each start.
const SICK_UNTIL_RESTARTED: &str =
    "if [ ! -f /marker ]; then touch /marker /run/sick; fi; exec sleep 100000";

#[test]
fn healthy_containers_are_never_touched() {
    let mut s = Scenario::new("healthy");
    let name = s.container(
        "web",
        &["--health-cmd", "true", "--health-interval", "1s"],
        "exec sleep 100000",
    );
    let started = inspect(&name, "{{.State.StartedAt}}");
    s.start_watch("");
    // Three sweeps at least.
    wait_until(60, "three samples of the container", || {
        s.lines_of(&name).is_empty() && {
            let st = s.json(&["status", "--json"]);
            st["containers"][0]["health"] == "healthy"
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(7));
    let status = s.json(&["status", "--json"]);
    assert_eq!(status["verdict"], "green", "{status}");
    assert_eq!(status["containers"][0]["name"], name.as_str());
    assert_eq!(status["containers"][0]["state"], "running");
    assert!(s.incidents_of(&name).is_empty());
    assert_eq!(s.count("restarting_container", &name), 0);
    assert_eq!(
        inspect(&name, "{{.State.StartedAt}}"),
        started,
        "never restarted"
    );
    assert!(s.stop_watch(), "watch exits cleanly on SIGTERM");
    assert!(s.log().trim_end().ends_with("monitor_stopped"));
}

#[test]
fn an_unhealthy_container_is_restarted_and_its_incident_closes_auto_healed() {
    let mut s = Scenario::new("unhealthy");
    let name = s.container("web", HEALTH_NOT_SICK, SICK_UNTIL_RESTARTED);
    s.start_watch("");
    wait_until(90, "the incident closes", || {
        s.incidents_of(&name)
            .first()
            .is_some_and(|i| !i["closed_at"].is_null())
    });
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["kind"], "unhealthy");
    assert_eq!(incident["auto_healed"], true, "{incident}");
    assert_eq!(incident["attempts"], 1);
    assert_eq!(incident["actions"][0]["action"], "restart");
    let events: Vec<String> = s
        .lines_of(&name)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let pos = |e: &str| events.iter().position(|x| x == e);
    let order = [
        pos("container_unhealthy"),
        pos("restarting_container"),
        pos("container_restarted"),
        pos("container_healthy"),
    ];
    assert!(order.iter().all(Option::is_some), "{events:?}");
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in order: {events:?}"
    );
    wait_until(30, "status shows it healthy and green", || {
        let st = s.json(&["status", "--json"]);
        st["verdict"] == "green" && st["containers"][0]["health"] == "healthy"
    });
}

#[test]
fn a_full_cache_is_healed_by_clearing_it_without_a_restart() {
    let mut s = Scenario::new("cache");
    let name = s.container(
        "app",
        &[
            "--label",
            "sickbay.cache_paths=/cache",
            "--health-cmd",
            "test $(ls /cache | wc -l) -lt 3",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
        "mkdir -p /cache/sub && touch /cache/a /cache/b /cache/sub/c; exec sleep 100000",
    );
    let started = inspect(&name, "{{.State.StartedAt}}");
    s.start_watch("");
    wait_until(90, "the incident closes", || {
        s.incidents_of(&name)
            .first()
            .is_some_and(|i| !i["closed_at"].is_null())
    });
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["auto_healed"], true, "{incident}");
    assert_eq!(incident["attempts"], 0, "no restart: {incident}");
    assert_eq!(incident["actions"][0]["action"], "clear_cache");
    assert_eq!(s.count("cache_cleared", &name), 1);
    assert_eq!(s.count("restarting_container", &name), 0);
    assert_eq!(inspect(&name, "{{.State.StartedAt}}"), started);
    // The folder itself stays; only its content went.
    assert_eq!(docker_ok(&["exec", &name, "ls", "-A", "/cache"]), "");
    assert_eq!(
        docker_ok(&["exec", &name, "sh", "-c", "test -d /cache && echo ok"]),
        "ok"
    );
}

#[test]
fn a_container_that_stays_unhealthy_gets_healing_failed_and_no_more_restarts_than_allowed() {
    let mut s = Scenario::new("hopeless");
    let name = s.container("web", HEALTH_ALWAYS_FAILING, "exec sleep 100000");
    s.start_watch("");
    wait_until(120, "healing_failed", || {
        s.count("healing_failed", &name) == 1
    });
    let line = s
        .lines_of(&name)
        .into_iter()
        .find(|l| l.contains("healing_failed"))
        .expect("the line");
    assert!(line.ends_with("reason:restart_ineffective"), "{line}");
    // However long it stays unhealthy, Sickbay does not restart it again.
    std::thread::sleep(std::time::Duration::from_secs(10));
    assert_eq!(
        s.count("restarting_container", &name),
        2,
        "max_attempts = 2"
    );
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["status"], "healing_failed");
    assert_eq!(incident["auto_healed"], false);
    assert_eq!(incident["attempts"], 2);
    // The watcher's picture follows the history within a moment.
    let mut status = serde_json::Value::Null;
    wait_until(10, "status showing healing failed", || {
        status = s.json(&["status", "--json"]);
        status["containers"][0]["note"] == "healing failed"
    });
    assert_eq!(status["verdict"], "red", "{status}");
}

#[test]
fn a_container_stopped_with_docker_stop_is_never_restarted() {
    let mut s = Scenario::new("stopped");
    let name = s.container(
        "worker",
        &["--health-cmd", "true", "--health-interval", "1s"],
        "exec sleep 100000",
    );
    s.start_watch("");
    wait_until(60, "Sickbay sees it", || {
        s.json(&["status", "--json"])["containers"][0]["health"] == "healthy"
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    docker_ok(&["stop", "-t", "1", &name]);
    wait_until(30, "container_stopped", || {
        s.count("container_stopped", &name) == 1
    });
    std::thread::sleep(std::time::Duration::from_secs(10));
    assert_eq!(inspect(&name, "{{.State.Status}}"), "exited");
    assert_eq!(s.count("restarting_container", &name), 0);
    assert!(s.incidents_of(&name).is_empty());
    let status = s.json(&["status", "--json"]);
    assert_eq!(
        status["verdict"], "green",
        "a stopped container does not colour the stack"
    );
}

#[test]
fn a_crashed_container_without_restart_policy_is_restarted_and_healed() {
    let mut s = Scenario::new("crash");
    let name = s.container(
        "job",
        &[],
        "if [ ! -f /marker ]; then touch /marker; sleep 4; exit 3; fi; exec sleep 100000",
    );
    s.start_watch("");
    wait_until(90, "the incident closes", || {
        s.incidents_of(&name)
            .first()
            .is_some_and(|i| !i["closed_at"].is_null())
    });
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["kind"], "crashed");
    assert_eq!(incident["details"], "exit_code:3");
    assert_eq!(incident["auto_healed"], true);
    assert_eq!(inspect(&name, "{{.State.Status}}"), "running");
    assert!(s
        .log()
        .contains(&format!("container_died container:{name} exit_code:3")));
}

#[test]
fn an_http_probe_answering_503_opens_an_incident_and_records_response_times() {
    let mut s = Scenario::new("probe");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").port()
    };
    let publish = format!("127.0.0.1:{port}:8080");
    let url = format!("sickbay.health_url=http://127.0.0.1:{port}/cgi-bin/health");
    let name = s.container(
        "api",
        &["-p", &publish, "--label", &url, "--label", "sickbay.heal=none"],
        "mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho \"Status: 503 Service Unavailable\"\\necho \"Content-Type: text/plain\"\\necho\\necho down\\n' > /www/cgi-bin/health && chmod +x /www/cgi-bin/health && exec httpd -f -p 8080 -h /www",
    );
    s.start_watch("");
    wait_until(60, "container_unhealthy with status:503", || {
        s.lines_of(&name)
            .iter()
            .any(|l| l.contains("container_unhealthy") && l.contains("status:503"))
    });
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["kind"], "http_probe_failed");
    assert!(incident["details"]
        .as_str()
        .unwrap_or("")
        .starts_with("status:503"));
    assert_eq!(
        incident["status"], "watching",
        "sickbay.heal=none: recorded, not acted on"
    );
    // The watcher's picture, written within a moment, shows it too.
    let mut status = serde_json::Value::Null;
    wait_until(10, "status showing the probe's 503", || {
        status = s.json(&["status", "--json"]);
        status["containers"][0]["http_status"] == 503
    });
    let c = &status["containers"][0];
    assert!(c["response_time_ms"].as_f64().is_some(), "{c}");
    assert_eq!(status["verdict"], "yellow");
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert_eq!(s.count("restarting_container", &name), 0);
}

#[test]
fn containers_labelled_out_are_neither_listed_nor_healed() {
    let mut s = Scenario::new("optout");
    let mut args = vec!["--label", "sickbay.enable=false"];
    args.extend_from_slice(HEALTH_ALWAYS_FAILING);
    let name = s.container("legacy", &args, "exec sleep 100000");
    s.start_watch("");
    wait_until(30, "unhealthy in Docker", || {
        inspect(&name, "{{.State.Health.Status}}") == "unhealthy"
    });
    std::thread::sleep(std::time::Duration::from_secs(6));
    let status = s.json(&["status", "--json"]);
    assert_eq!(
        status["containers"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
    assert!(s.lines_of(&name).is_empty());
    assert_eq!(inspect(&name, "{{.RestartCount}}"), "0");
}

#[test]
fn containers_that_crash_right_after_they_start_each_get_an_incident() {
    // The first event of a new container starts an inspect; its death comes before the
    // inspect is back. It must still be told as a death, in order.
    let mut s = Scenario::new("quickcrash");
    s.start_watch("");
    let names: Vec<String> = (0..4)
        .map(|i| {
            s.container(
                &format!("q{i}"),
                &["--label", "sickbay.heal=none"],
                "exit 3",
            )
        })
        .collect();
    for name in &names {
        wait_until(30, "the crash recorded as an incident", || {
            s.incidents_of(name).iter().any(|i| {
                i["details"]
                    .as_str()
                    .is_some_and(|d| d.contains("exit_code:3"))
            })
        });
        assert_eq!(s.count("container_died", name), 1, "{:?}", s.lines_of(name));
    }
    assert!(s.stop_watch(), "watch exits cleanly");
}
