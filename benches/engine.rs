//! The engine's benchmark, against the real Docker engine (not a timed test: it prints
//! figures for the README). Run: `cargo bench --no-default-features --bench engine`.
//!
//! 1. Latency from Docker's `health_status: unhealthy` event to Sickbay's restart request.
//! 2. Latency from Docker's `die` event to the incident row.
//! 3. Idle CPU and peak RSS of `sickbay watch` watching 50 containers at the default interval.
//! 4. Time from a container's first failed check to its escalation, for containers no heal
//!    fixes, with the default heal and alert settings.
//! 5. A database that hangs under three web services that need it: time from the hang to all
//!    four healthy, Sickbay (healing the cause) against restarting every unhealthy container
//!    (`follow_dependencies = false`), alternating in the same run.
//!
//! `SICKBAY_BENCH_ONLY=dependencies` runs the fifth alone.

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

// The integration tests' support tree, shared as source: its helpers need
// `CARGO_BIN_EXE_sickbay`, which Cargo sets only when it compiles integration tests and
// benches, so they cannot live in the library.
#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
mod common;

use common::{cpu_ticks, db, percentile, proc_field, stamp_ms, start_watch, Cleanup, EventStream};
use support::common::{
    docker_ok as docker, wait_until, HEALTH_NOT_SICK, HEALTH_UNLESS_TMP_SICK, IMAGE,
};

const TRIALS: usize = 20;
const IDLE_CONTAINERS: usize = 50;
const IDLE_SECONDS: u64 = 120;
const HOPELESS: usize = 5;
/// Trials of each way in the dependency phase.
const HANG_TRIALS: usize = 4;

/// Starts a labelled container of the test image running `sh -c cmd`.
fn start_container(name: &str, label: &str, args: &[&str], cmd: &str) {
    let mut all = vec!["run", "-d", "--name", name, "--label", label];
    all.extend_from_slice(args);
    all.extend_from_slice(&[IMAGE, "sh", "-c", cmd]);
    docker(&all);
}

fn count(data: &Path, sql: &str) -> i64 {
    if !data.join("sickbay.db").exists() {
        return 0;
    }
    db(data).query_row(sql, [], |r| r.get(0)).unwrap_or(0)
}

/// container name → milliseconds since the epoch, from a query returning (name, timestamp).
fn times(data: &Path, sql: &str) -> HashMap<String, f64> {
    let conn = db(data);
    let mut stmt = conn.prepare(sql).expect("query");
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("rows");
    rows.filter_map(Result::ok)
        .filter_map(|(name, ts)| Some((name, stamp_ms(&ts)?)))
        .collect()
}

fn latencies(docker_times: &HashMap<String, f64>, ours: &HashMap<String, f64>) -> Vec<f64> {
    let mut v: Vec<f64> = ours
        .iter()
        .filter_map(|(name, t)| Some(t - docker_times.get(name)?))
        .collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Per container, from Docker's first `docker_status` event to Sickbay's first `event`.
fn event_latencies(
    events: &EventStream,
    data: &Path,
    docker_status: &str,
    event: &str,
) -> Vec<f64> {
    latencies(
        &events.first_times(docker_status),
        &times(
            data,
            &format!(
                "SELECT container_name, MIN(timestamp) FROM monitor_events
                  WHERE event = '{event}' GROUP BY container_name"
            ),
        ),
    )
}

/// One hang of the database under three webs: the time from the hang to all four healthy,
/// and how many restarts the webs got. `follow`: Sickbay heals along dependencies.
fn hang_trial(run: &str, label: &str, dir: &Path, trial: usize, follow: bool) -> (f64, i64) {
    let name = |n: &str| format!("{run}-hang{trial}-{n}");
    let trial_label = format!("sickbay.bench.trial={run}-{trial}");
    let mut cleanup = Cleanup::new(&trial_label);
    let beat = dir.join(format!("beat-{trial}"));
    std::fs::create_dir_all(&beat).expect("beat folder");
    let volume = format!("{}:/beat", beat.display());
    let check = |secs: u32| format!("test $(( $(date +%s) - $(cat /beat/db) )) -lt {secs}");
    let (db_check, web_check) = (check(3), check(5));
    let common = [
        "--label",
        &trial_label,
        "--label",
        "sickbay.stop_timeout=1",
        "-v",
        &volume,
        "--health-interval",
        "1s",
    ];
    let mut db_args: Vec<&str> = common.to_vec();
    db_args.extend([
        "--tmpfs",
        "/run",
        "--health-cmd",
        &db_check,
        "--health-retries",
        "5",
    ]);
    start_container(
        &name("db"),
        label,
        &db_args,
        "trap 'exit 0' TERM; while true; do [ -f /run/hang ] || date +%s > /beat/db; sleep 1; done",
    );
    let needs = format!("sickbay.depends_on={}", name("db"));
    let webs: Vec<String> = (1..=3).map(|i| name(&format!("web{i}"))).collect();
    for w in &webs {
        let mut args: Vec<&str> = common.to_vec();
        args.extend([
            "--label",
            &needs,
            "--health-cmd",
            &web_check,
            "--health-retries",
            "1",
        ]);
        start_container(
            w,
            label,
            &args,
            "trap 'exit 0' TERM; while true; do sleep 1; done",
        );
    }
    let all: Vec<String> = std::iter::once(name("db"))
        .chain(webs.iter().cloned())
        .collect();
    let healthy =
        |n: &String| docker(&["inspect", "-f", "{{.State.Health.Status}}", n]) == "healthy";
    wait_until(60, "the stack healthy", || all.iter().all(healthy));
    let data = dir.join(format!("hang-{trial}"));
    let config = dir.join(format!("hang-{trial}.toml"));
    std::fs::write(
        &config,
        format!(
            "[monitoring]\nlabel_selector = [\"{trial_label}\"]\n\
             [heal]\nfollow_dependencies = {follow}\n"
        ),
    )
    .expect("config");
    cleanup.watch = Some(start_watch(&data, &config));
    wait_until(60, "every container sampled", || {
        count(
            &data,
            "SELECT COUNT(DISTINCT container_name) FROM monitor_health_metrics",
        ) >= 4
    });
    let hung = Instant::now();
    docker(&["exec", &name("db"), "touch", "/run/hang"]);
    // Unhealthy first (the webs' checks fail within seconds), then all healthy again.
    wait_until(60, "a web unhealthy", || !webs.iter().all(healthy));
    wait_until(300, "all four healthy again", || all.iter().all(healthy));
    let took = hung.elapsed().as_secs_f64();
    let web_restarts = webs
        .iter()
        .map(|w| {
            count(
                &data,
                &format!(
                    "SELECT COUNT(*) FROM monitor_events WHERE event = 'restarting_container' \
                      AND container_name = '{w}'"
                ),
            )
        })
        .sum();
    cleanup.stop_watch();
    (took, web_restarts)
}

/// Phase 5: [`hang_trial`] both ways, alternating.
fn dependency_phase(run: &str, label: &str, dir: &Path) {
    let mut sickbay = Vec::new();
    let mut each = Vec::new();
    for trial in 0..HANG_TRIALS * 2 {
        let follow = trial % 2 == 0;
        let (took, restarts) = hang_trial(run, label, dir, trial, follow);
        if follow {
            sickbay.push((took, restarts));
        } else {
            each.push((took, restarts));
        }
    }
    println!(
        "\n| a database hangs under 3 web services ({HANG_TRIALS} trials each way) | hang → all healthy, median | min – max | web restarts |"
    );
    println!("|---|---|---|---|");
    for (what, v) in [
        ("Sickbay: the cause healed, the webs held", &sickbay),
        (
            "every unhealthy container restarted (`follow_dependencies = false`)",
            &each,
        ),
    ] {
        let mut t: Vec<f64> = v.iter().map(|(t, _)| *t).collect();
        t.sort_by(f64::total_cmp);
        let restarts: Vec<String> = v.iter().map(|(_, r)| r.to_string()).collect();
        println!(
            "| {what} | {:.1} s | {:.1} – {:.1} s | {} |",
            common::median(&t),
            t[0],
            t[t.len() - 1],
            restarts.join(", ")
        );
    }
}

fn main() {
    support::common::image();
    let started = Instant::now();
    let run = format!("bench-{}", std::process::id());
    let label = format!("sickbay.bench={run}");
    if std::env::var("SICKBAY_BENCH_ONLY").as_deref() == Ok("dependencies") {
        let _cleanup = Cleanup::new(&label);
        let dir = tempfile::tempdir().expect("tempdir");
        dependency_phase(&run, &label, dir.path());
        println!("\n(bench ran {:.0} s)", started.elapsed().as_secs_f64());
        return;
    }
    let mut cleanup = Cleanup::new(&label);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let config = dir.path().join("sickbay.toml");
    std::fs::write(
        &config,
        format!("[monitoring]\nlabel_selector = [\"{label}\"]\n"),
    )
    .expect("config");

    // Phase 1 and 2: latency trials.
    let events = EventStream::start(&label, &["health_status", "die"]);
    let mut sick = Vec::new();
    let mut crash = Vec::new();
    for i in 0..TRIALS {
        let name = format!("{run}-sick-{i}");
        let mut args = vec!["--label", "sickbay.stop_timeout=1"];
        args.extend_from_slice(HEALTH_NOT_SICK);
        start_container(&name, &label, &args, "exec sleep 100000");
        sick.push(name);
        let name = format!("{run}-crash-{i}");
        start_container(
            &name,
            &label,
            &["--label", "sickbay.heal=none"],
            "while [ ! -f /tmp/crash ]; do sleep 0.05; done; exit 3",
        );
        crash.push(name);
    }
    cleanup.watch = Some(start_watch(&data, &config));
    wait_until(120, "the first sweep of every container", || {
        count(
            &data,
            "SELECT COUNT(DISTINCT container_name) FROM monitor_health_metrics",
        ) >= (2 * TRIALS) as i64
    });
    wait_until(120, "every health check healthy", || {
        sick.iter()
            .all(|n| docker(&["inspect", "-f", "{{.State.Health.Status}}", n]) == "healthy")
    });
    for (s, c) in sick.iter().zip(&crash) {
        docker(&["exec", s, "touch", "/run/sick"]);
        docker(&["exec", c, "touch", "/tmp/crash"]);
        std::thread::sleep(Duration::from_millis(300));
    }
    wait_until(
        180,
        "a restart request for every unhealthy container",
        || {
            count(
            &data,
            "SELECT COUNT(DISTINCT container_name) FROM monitor_events WHERE event = 'restarting_container'",
        ) >= TRIALS as i64
            && count(
                &data,
                "SELECT COUNT(*) FROM monitor_incidents WHERE kind = 'crashed'",
            ) >= TRIALS as i64
        },
    );
    let heal = event_latencies(
        &events,
        &data,
        "health_status: unhealthy",
        "restarting_container",
    );
    let die = latencies(
        &events.first_times("die"),
        &times(
            &data,
            "SELECT container_name, MIN(timestamp) FROM monitor_incidents
              WHERE kind = 'crashed' GROUP BY container_name",
        ),
    );
    drop(events);
    cleanup.stop_watch();
    drop(cleanup);

    // Phase 3: idle cost with 50 containers at the default interval.
    let mut cleanup = Cleanup::new(&label);
    let data = dir.path().join("idle");
    for i in 0..IDLE_CONTAINERS {
        start_container(&format!("{run}-idle-{i}"), &label, &[], "exec sleep 100000");
    }
    cleanup.watch = Some(start_watch(&data, &config));
    let pid = cleanup.watch.as_ref().map(Child::id).expect("pid");
    wait_until(120, "the first sweep of 50 containers", || {
        count(&data, "SELECT COUNT(*) FROM monitor_health_metrics") >= IDLE_CONTAINERS as i64
    });
    let clk = common::clock_ticks();
    let t0 = cpu_ticks(pid);
    let w0 = Instant::now();
    std::thread::sleep(Duration::from_secs(IDLE_SECONDS));
    let cpu = (cpu_ticks(pid) - t0) as f64 / clk / w0.elapsed().as_secs_f64() * 100.0;
    let hwm = proc_field(pid, "VmHWM:");
    let rss = proc_field(pid, "VmRSS:");
    drop(cleanup);

    // Phase 4: containers no heal fixes, default settings; a process that stops on SIGTERM
    // (as services do), a health check every second.
    let mut cleanup = Cleanup::new(&label);
    let data = dir.path().join("hopeless");
    let events = EventStream::start(&label, &["health_status", "die"]);
    let hopeless: Vec<String> = (0..HOPELESS)
        .map(|i| format!("{run}-hopeless-{i}"))
        .collect();
    for name in &hopeless {
        start_container(
            name,
            &label,
            HEALTH_UNLESS_TMP_SICK,
            "trap 'exit 0' TERM; while true; do sleep 0.2; done",
        );
    }
    cleanup.watch = Some(start_watch(&data, &config));
    wait_until(120, "the first sweep of the hopeless containers", || {
        count(
            &data,
            "SELECT COUNT(DISTINCT container_name) FROM monitor_health_metrics",
        ) >= HOPELESS as i64
    });
    wait_until(60, "every hopeless container healthy first", || {
        hopeless
            .iter()
            .all(|n| docker(&["inspect", "-f", "{{.State.Health.Status}}", n]) == "healthy")
    });
    // Sick for good: a file in the image's own filesystem survives every restart.
    for name in &hopeless {
        docker(&["exec", name, "touch", "/tmp/sick"]);
    }
    wait_until(300, "every hopeless container escalated", || {
        count(
            &data,
            "SELECT COUNT(DISTINCT container_name) FROM monitor_events WHERE event = 'escalated'",
        ) >= HOPELESS as i64
    });
    let escalation = event_latencies(&events, &data, "health_status: unhealthy", "escalated");
    drop(events);
    drop(cleanup);

    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    println!("\n| measure ({TRIALS} trials each, {nproc} cores) | median | p95 | max | target |");
    println!("|---|---|---|---|---|");
    for (what, v) in [
        ("`health_status: unhealthy` → restart request", &heal),
        ("`die` → incident row", &die),
    ] {
        assert!(v.len() >= TRIALS, "{what}: only {} trials matched", v.len());
        println!(
            "| {what} | {:.0} ms | {:.0} ms | {:.0} ms | p95 < 500 ms |",
            percentile(v, 0.5),
            percentile(v, 0.95),
            v[v.len() - 1]
        );
    }
    assert!(
        escalation.len() >= HOPELESS,
        "escalation: only {} matched",
        escalation.len()
    );
    println!(
        "| first `unhealthy` → escalation, no heal helps, default settings ({HOPELESS} containers) \
         | {:.1} s | {:.1} s | {:.1} s | < 30 s |",
        percentile(&escalation, 0.5) / 1000.0,
        percentile(&escalation, 0.95) / 1000.0,
        escalation[escalation.len() - 1] / 1000.0
    );
    println!(
        "\n| `sickbay watch`, {IDLE_CONTAINERS} containers, 30 s interval, {IDLE_SECONDS} s | figure | target |"
    );
    println!("|---|---|---|");
    println!("| idle CPU | {cpu:.2} % of one core | < 0.5 % |");
    println!("| peak RSS (VmHWM) | {hwm:.1} MB | < 30 MB |");
    println!("| RSS at the end | {rss:.1} MB | |");
    dependency_phase(&run, &label, dir.path());
    println!("\n(bench ran {:.0} s)", started.elapsed().as_secs_f64());
}
