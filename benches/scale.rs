//! Scale: what watching 5, 50 and 500 containers costs, side by side in one run, against the
//! real Docker engine (not a timed test: it prints figures for the README).
//! Run: `cargo bench --no-default-features --bench scale` (`SICKBAY_SCALE=5,50,500` sets the
//! sizes; `SICKBAY_SCALE_IDLE_SECONDS` the idle window, 90 by default).
//!
//! Each size is that many idle containers with a health check every 30 s, plus `TRIALS`
//! containers that can be made unhealthy (a check every second, 1 s stop timeout), watched by
//! the release `sickbay watch` at its defaults (30 s sweeps). Measured:
//! - sweep: the watcher's own `last_sweep` (from listing to the last sample), median of the
//!   sweeps in the idle window;
//! - idle CPU and peak RSS (VmHWM) of the watcher over the idle window;
//! - `status --json` and `incidents --json` wall time while it runs (median of 5), and
//!   `status --json` with no watcher (median of 3);
//! - unhealthy → kill: from Docker's `health_status: unhealthy` to Docker's `kill` of
//!   Sickbay's restart (both Docker's own stamps), each trial container made unhealthy in
//!   turn while all the others run.
//!
//! Then 50 containers whose checks run every 5 s: idle CPU and peak RSS.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[allow(dead_code)]
#[path = "../tests/support/mod.rs"]
mod support;

#[allow(dead_code)]
mod common;

use common::{
    clock_ticks, cpu_ticks, db, median, percentile, proc_field, stamp_ms, start_watch, Cleanup,
};
use support::common::{docker_ok as docker, wait_until, BIN, HEALTH_NOT_SICK, IMAGE};

const TRIALS: usize = 10;
const WORKERS: usize = 6;

/// Starts `n` idle containers labelled `label` and `group`, with a health check every
/// `check_every`, `WORKERS` `docker run`s at a time.
fn start_idle(label: &str, group: &str, prefix: &str, from: usize, n: usize, check_every: &str) {
    let names: Vec<String> = (from..from + n).map(|i| format!("{prefix}-{i}")).collect();
    std::thread::scope(|s| {
        for chunk in names.chunks(n.div_ceil(WORKERS).max(1)) {
            s.spawn(move || {
                for name in chunk {
                    docker(&[
                        "run",
                        "-d",
                        "--name",
                        name,
                        "--label",
                        label,
                        "--label",
                        group,
                        "--health-cmd",
                        "true",
                        "--health-interval",
                        check_every,
                        IMAGE,
                        "sleep",
                        "1000000",
                    ]);
                }
            });
        }
    });
}

fn sickbay(args: &[&str], data: &Path, config: &Path) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(BIN)
        .args(args)
        .env("SICKBAY_DATA_DIR", data)
        .env("SICKBAY_CONFIG", config)
        .env("RUST_LOG", "error")
        .output()
        .expect("run sickbay");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "sickbay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (took, String::from_utf8_lossy(&out.stdout).to_string())
}

fn status(data: &Path, config: &Path) -> (Duration, serde_json::Value) {
    let (took, out) = sickbay(&["status", "--json"], data, config);
    (took, serde_json::from_str(&out).expect("status JSON"))
}

/// Wall times of `n` runs of a command, in ms.
fn timed(n: usize, mut run: impl FnMut() -> Duration) -> Vec<f64> {
    (0..n).map(|_| run().as_secs_f64() * 1000.0).collect()
}

struct Figures {
    size: String,
    sweep_ms: Vec<f64>,
    cpu: f64,
    hwm: f64,
    status_ms: Vec<f64>,
    incidents_ms: Vec<f64>,
    live_ms: Vec<f64>,
    kill_ms: Vec<f64>,
    /// The kill latency's two parts: Docker's `unhealthy` to Sickbay's `restarting_container`
    /// stamp (the event's delivery and Sickbay's decision), and that stamp to Docker's `kill`
    /// (the restart request in the daemon).
    decide_ms: Vec<f64>,
    daemon_ms: Vec<f64>,
    /// The daemon alone, with no watcher running: a restart request sent straight to its
    /// socket to Docker's `kill`.
    alone_ms: Vec<f64>,
}

/// Now, in ms since the epoch.
fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// Sends `POST /containers/NAME/restart?t=1` to the daemon's socket and waits for its answer;
/// returns when the request was sent (ms since the epoch).
fn raw_restart(name: &str) -> f64 {
    use std::io::{Read, Write};
    let socket = std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| "/var/run/docker.sock".into());
    let mut conn = std::os::unix::net::UnixStream::connect(&socket).expect("the Docker socket");
    let request = format!(
        "POST /containers/{name}/restart?t=1 HTTP/1.1\r\nHost: docker\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let sent = now_ms();
    conn.write_all(request.as_bytes())
        .expect("send the restart");
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 204"),
        "restart {name}: {answer}"
    );
    sent
}

/// Sickbay's stamp of its latest `restarting_container` of `name`, in ms since the epoch.
fn restart_stamp(data: &Path, name: &str) -> Option<f64> {
    let ts: String = db(data)
        .query_row(
            "SELECT MAX(timestamp) FROM monitor_events
              WHERE event = 'restarting_container' AND container_name = ?1",
            [name],
            |r| r.get(0),
        )
        .ok()?;
    stamp_ms(&ts)
}

/// Watches what runs now (`expected` containers) and measures.
fn measure(
    size: String,
    cleanup: &mut Cleanup,
    dir: &Path,
    config: &Path,
    expected: usize,
    trials: &[String],
    idle_seconds: u64,
) -> Figures {
    let data = dir.join(format!("data-{}", size.replace(' ', "-")));
    cleanup.watch = Some(start_watch(&data, config));
    let pid = cleanup
        .watch
        .as_ref()
        .map(std::process::Child::id)
        .expect("pid");
    wait_until(300, "the watcher's first sweep of every container", || {
        let (_, v) = status(&data, config);
        v["source"] == "watcher" && v["last_sweep"]["containers"].as_u64() >= Some(expected as u64)
    });
    // Idle: CPU time over the window, and the sweeps it made.
    let clk = clock_ticks();
    let t0 = cpu_ticks(pid);
    let w0 = Instant::now();
    let mut sweeps = std::collections::BTreeMap::new();
    while w0.elapsed() < Duration::from_secs(idle_seconds) {
        std::thread::sleep(Duration::from_secs(5));
        let v: serde_json::Value = std::fs::read_to_string(data.join("status.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let s = &v["view"]["last_sweep"];
        if let (Some(at), Some(ms)) = (s["at"].as_str(), s["took_ms"].as_f64()) {
            sweeps.insert(at.to_string(), ms);
        }
    }
    let cpu = (cpu_ticks(pid) - t0) as f64 / clk / w0.elapsed().as_secs_f64() * 100.0;
    let status_ms = timed(5, || status(&data, config).0);
    let incidents_ms = timed(5, || sickbay(&["incidents", "--json"], &data, config).0);

    // Unhealthy → kill, one trial container after another.
    let events = common::EventStream::start(&cleanup.label, &["health_status", "kill"]);
    std::thread::sleep(Duration::from_secs(1));
    let mut kill_ms = Vec::new();
    let (mut decide_ms, mut daemon_ms) = (Vec::new(), Vec::new());
    for name in trials {
        wait_until(60, "the trial container healthy", || {
            docker(&["inspect", "-f", "{{.State.Health.Status}}", name]) == "healthy"
        });
        let touched = now_ms();
        docker(&["exec", name, "touch", "/run/sick"]);
        let mut latency = None;
        wait_until(60, "Sickbay's restart of the unhealthy container", || {
            let all = events.all();
            let mine = all.iter().filter(|(n, _, t)| n == name && *t >= touched);
            let unhealthy = mine
                .clone()
                .find(|(_, s, _)| s == "health_status: unhealthy")
                .map(|(_, _, t)| *t);
            let kill = unhealthy.and_then(|u| {
                mine.clone()
                    .find(|(_, s, t)| s == "kill" && *t >= u)
                    .map(|(_, _, t)| *t)
            });
            latency = unhealthy.zip(kill);
            latency.is_some()
        });
        if let Some((u, k)) = latency {
            kill_ms.push(k - u);
            if let Some(r) = restart_stamp(&data, name).filter(|r| *r >= touched) {
                decide_ms.push(r - u);
                daemon_ms.push(k - r);
            }
        }
    }
    drop(events);
    let hwm = proc_field(pid, "VmHWM:");
    cleanup.stop_watch();
    let live_ms = timed(3, || status(&data, config).0);
    // The same restarts with no watcher: what the daemon itself takes at this size.
    let kills = common::EventStream::start(&cleanup.label, &["kill"]);
    std::thread::sleep(Duration::from_secs(1));
    let mut alone_ms = Vec::new();
    for name in trials.iter().take(5) {
        let sent = raw_restart(name);
        let mut kill = None;
        wait_until(60, "Docker's kill of the restart", || {
            kill = kills
                .all()
                .into_iter()
                .find(|(n, s, t)| n == name && s == "kill" && *t >= sent - 5.0)
                .map(|(_, _, t)| t);
            kill.is_some()
        });
        alone_ms.extend(kill.map(|k| k - sent));
    }
    drop(kills);
    kill_ms.sort_by(f64::total_cmp);
    Figures {
        size,
        sweep_ms: sweeps.into_values().collect(),
        cpu,
        hwm,
        status_ms,
        incidents_ms,
        live_ms,
        kill_ms,
        decide_ms,
        daemon_ms,
        alone_ms,
    }
}

fn main() {
    support::common::image();
    let started = Instant::now();
    let sizes: Vec<usize> = std::env::var("SICKBAY_SCALE")
        .unwrap_or_else(|_| "5,50,500".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle_seconds: u64 = std::env::var("SICKBAY_SCALE_IDLE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90);
    let run = format!("scale-{}", std::process::id());
    let label = format!("sickbay.bench={run}");
    let mut cleanup = Cleanup::new(&label);
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("sickbay.toml");
    std::fs::write(
        &config,
        format!("[monitoring]\nlabel_selector = [\"{label}\"]\n"),
    )
    .expect("config");

    // The trial containers, there at every size.
    let trials: Vec<String> = (0..TRIALS).map(|i| format!("{run}-trial-{i}")).collect();
    for name in &trials {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &label,
            "--label",
            "sickbay.stop_timeout=1",
        ];
        args.extend_from_slice(HEALTH_NOT_SICK);
        args.extend_from_slice(&[IMAGE, "sleep", "1000000"]);
        docker(&args);
    }
    let mut figures = Vec::new();
    let mut idle = 0;
    for &n in &sizes {
        let group = format!("sickbay.bench.group={run}-idle");
        start_idle(
            &label,
            &group,
            &format!("{run}-idle"),
            idle,
            n - idle.min(n),
            "30s",
        );
        idle = idle.max(n);
        figures.push(measure(
            format!("{n}"),
            &mut cleanup,
            dir.path(),
            &config,
            idle + TRIALS,
            &trials,
            idle_seconds,
        ));
    }
    // 50 containers whose checks run every 5 s.
    Cleanup::remove(&format!("sickbay.bench.group={run}-idle"));
    let group = format!("sickbay.bench.group={run}-often");
    start_idle(&label, &group, &format!("{run}-often"), 0, 50, "5s");
    figures.push(measure(
        "50, checks every 5 s".into(),
        &mut cleanup,
        dir.path(),
        &config,
        50 + TRIALS,
        &trials,
        idle_seconds,
    ));
    drop(cleanup);

    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "\n| containers (+{TRIALS} trial) | sweep, median | `status` with a watcher | \
         `incidents` | `status`, no watcher | idle CPU ({idle_seconds} s) | peak RSS | \
         unhealthy → kill p50 / p95 | of which Sickbay / the daemon, p50 | the daemon alone, p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for f in &figures {
        let mut kill = f.kill_ms.clone();
        kill.sort_by(f64::total_cmp);
        println!(
            "| {} | {:.0} ms ({} sweeps) | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} % | {:.1} MB | \
             {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.0} ms |",
            f.size,
            median(&f.sweep_ms),
            f.sweep_ms.len(),
            median(&f.status_ms),
            median(&f.incidents_ms),
            median(&f.live_ms),
            f.cpu,
            f.hwm,
            percentile(&kill, 0.5),
            percentile(&kill, 0.95),
            median(&f.decide_ms),
            median(&f.daemon_ms),
            median(&f.alone_ms),
        );
    }
    println!(
        "\n({nproc} cores; medians: sweeps of the idle window, 5 `status` and `incidents`, 3 \
         `status` with no watcher; {TRIALS} kill trials per size; bench ran {:.0} s)",
        started.elapsed().as_secs_f64()
    );
}
