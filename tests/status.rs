//! `sickbay status` at scale: while a watcher runs it answers from the watcher's own picture
//! (at 500 containers a look of its own took over a minute), and with none it looks itself,
//! in one pass, and says so.

use crate::support::common::*;

/// Runs `sickbay status` (`--json` when asked) with the scenario's data and config, and
/// `DOCKER_HOST` set to `docker_host` when given.
fn status(s: &Scenario, json: bool, docker_host: Option<&str>) -> (bool, String, String) {
    let mut c = s.cmd();
    c.arg("status");
    if json {
        c.arg("--json");
    }
    if let Some(h) = docker_host {
        c.env("DOCKER_HOST", h);
    }
    let out = c.output().expect("run sickbay status");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn status_json(s: &Scenario, docker_host: Option<&str>) -> serde_json::Value {
    let (ok, out, err) = status(s, true, docker_host);
    assert!(ok, "sickbay status --json failed: {err}");
    serde_json::from_str(&out).expect("JSON status")
}

fn container<'a>(v: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    v["containers"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
}

/// Regression: `status` inspected every container itself (two sweeps, with statistics that
/// make Docker wait about a second each), 72 s at 500 containers, while the watcher already
/// knew it all. It now answers from the watcher's picture: shown here by a `status` that
/// cannot reach Docker at all and still shows the containers and the incident.
#[test]
fn status_answers_from_the_running_watcher_without_asking_docker() {
    let mut s = Scenario::new("status-watcher");
    let web = s.container("web", HEALTH_NOT_SICK, "exec sleep 100000");
    let crash = s.container(
        "crash",
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3",
    );
    s.start_watch("");
    s.go_when_watched(&crash);
    wait_until(60, "an incident for the crash", || {
        !s.incidents_of(&crash).is_empty()
    });
    let unreachable = format!("unix://{}/no-docker.sock", s.dir.path().display());
    let mut view = serde_json::Value::Null;
    wait_until(30, "the watcher's picture with both containers", || {
        view = status_json(&s, Some(&unreachable));
        container(&view, &crash).is_some_and(|c| !c["incident_id"].is_null())
            && container(&view, &web).is_some()
    });
    assert_eq!(view["source"], "watcher", "{view}");
    assert_eq!(view["docker_reachable"], true, "the watcher reaches Docker");
    assert!(
        view["watcher_pid"].as_u64().is_some_and(|p| p > 0),
        "{view}"
    );
    assert!(view["as_of"].as_str().is_some(), "{view}");
    assert!(
        view["last_sweep"]["containers"].as_u64() >= Some(2),
        "the watcher's last sweep is shown: {view}"
    );
    let (ok, text, err) = status(&s, false, Some(&unreachable));
    assert!(ok, "{err}");
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.starts_with("as seen by the running watcher (pid ")),
        "{text}"
    );
    assert!(text.contains(&crash), "{text}");
    let out = s.cmd().arg("incidents").output().expect("incidents");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&crash) && !text.contains("no watcher runs"),
        "{text}"
    );

    // Once the watcher stops, `status` looks for itself again.
    assert!(s.stop_watch(), "watch stops cleanly");
    let view = status_json(&s, Some(&unreachable));
    assert_eq!(view["source"], "live", "{view}");
    assert_eq!(view["docker_reachable"], false, "{view}");
}

/// With no watcher, `status` takes one look of its own (Docker's two statistics samples give
/// CPU % in one request) and says that nothing is being healed.
#[test]
fn with_no_watcher_status_looks_itself_and_says_so() {
    let mut s = Scenario::new("status-live");
    let busy = s.container("busy", &["--cpus", "0.2"], "while :; do :; done");
    let idle = s.container("idle", &[], "exec sleep 100000");
    s.config("");
    let view = status_json(&s, None);
    assert_eq!(view["source"], "live", "{view}");
    assert!(view["watcher_pid"].is_null(), "{view}");
    let busy_cpu = container(&view, &busy)
        .and_then(|c| c["cpu_percent"].as_f64())
        .unwrap_or_else(|| panic!("CPU % of the busy container: {view}"));
    assert!(busy_cpu > 1.0, "a busy loop shows CPU use: {view}");
    assert!(
        container(&view, &idle).is_some_and(|c| c["cpu_percent"].as_f64().is_some()),
        "every running container has a CPU figure: {view}"
    );
    assert_eq!(view["last_sweep"]["containers"], 2, "{view}");
    let (ok, text, err) = status(&s, false, None);
    assert!(ok, "{err}");
    assert!(
        text.lines().next().is_some_and(|l| l
            .starts_with("no watcher runs on this data folder: a live look at")
            && l.ends_with("nothing is being healed")),
        "{text}"
    );
    let out = s.cmd().arg("incidents").output().expect("incidents");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.ends_with("no watcher runs on this data folder: nothing new is being recorded\n"),
        "{text}"
    );
}

/// The memory Docker reports for a container (`docker stats`), in MiB.
fn docker_mem_mib(name: &str) -> f64 {
    let usage = docker_ok(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]);
    let used = usage.split('/').next().unwrap_or_default().trim();
    let (n, unit) = used.split_at(used.find(|c: char| c.is_alphabetic()).unwrap_or(used.len()));
    let n: f64 = n
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("docker stats: {usage}"));
    match unit {
        "GiB" => n * 1024.0,
        "KiB" => n / 1024.0,
        "B" => n / 1_048_576.0,
        _ => n,
    }
}

/// Regression: every sweep asked Docker for each running container's statistics, which
/// Docker answers only at its stats collector's next round: a round over 500 containers on a
/// busy daemon took seconds, a live `status` 35 s and a watcher's sweep 19.5 s. CPU and
/// memory now come from the containers' own cgroup files, at once, and the figures are those
/// Docker reports: the live look and the watcher's sweep both say how many they read there.
#[test]
fn cpu_and_memory_are_read_from_the_kernel_as_docker_counts_them() {
    let mut s = Scenario::new("status-cgroup");
    let busy = s.container("busy", &["--cpus", "0.2"], "while :; do :; done");
    // 30 MiB held in the container's memory (its /dev/shm is a tmpfs charged to it).
    let holder = s.container(
        "holder",
        &["--memory", "100m"],
        "dd if=/dev/zero of=/dev/shm/held bs=1M count=30 2>/dev/null; exec sleep 100000",
    );
    let stopped = s.container("stopped", &[], "exit 0");
    wait_until(30, "the holder's 30 MiB", || {
        docker_mem_mib(&holder) >= 30.0
    });
    s.config("");

    let view = status_json(&s, None);
    assert_eq!(view["source"], "live", "{view}");
    assert_eq!(
        view["last_sweep"]["from_cgroups"], 2,
        "both running containers read from their cgroups: {view}"
    );
    let busy_cpu = container(&view, &busy)
        .and_then(|c| c["cpu_percent"].as_f64())
        .unwrap_or_else(|| panic!("CPU % of the busy container: {view}"));
    assert!(
        (5.0..=30.0).contains(&busy_cpu),
        "a busy loop held to 0.2 CPU shows about 20 %: {view}"
    );
    let mem = container(&view, &holder)
        .and_then(|c| c["mem_mb"].as_f64())
        .unwrap_or_else(|| panic!("memory of the holder: {view}"));
    let docker_says = docker_mem_mib(&holder);
    assert!(
        (mem - docker_says).abs() < 2.0 && mem >= 30.0,
        "{mem} MiB shown, Docker says {docker_says} MiB: {view}"
    );
    assert!(
        container(&view, &stopped).is_some_and(|c| c["mem_mb"].is_null()),
        "a stopped container has no figures: {view}"
    );

    s.start_watch("");
    let mut view = serde_json::Value::Null;
    wait_until(
        60,
        "the watcher's sweep, both read from their cgroups",
        || {
            view = status_json(&s, None);
            view["source"] == "watcher"
                && view["last_sweep"]["containers"] == 3
                && view["last_sweep"]["from_cgroups"] == 2
        },
    );
    let mem = container(&view, &holder)
        .and_then(|c| c["mem_mb"].as_f64())
        .unwrap_or_else(|| panic!("memory of the holder: {view}"));
    assert!((mem - docker_mem_mib(&holder)).abs() < 2.0, "{view}");
}
