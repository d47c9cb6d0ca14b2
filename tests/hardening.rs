//! What breaks where real servers differ from a quiet test engine: checks that fail again
//! during verification, another healer on the same engine, a second Sickbay, a history that
//! refuses writes. Each against the real Docker engine and the real `sickbay` binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::common::*;

/// A check that fails again after the restart ends verification then, not at the end of
/// `verify_seconds`: with a ten-minute window, healing still fails within a minute.
#[test]
fn a_check_that_fails_again_ends_verification_without_waiting_out_the_window() {
    let mut s = Scenario::new("reverify");
    s.set_heal("max_attempts", "1");
    s.set_heal("verify_seconds", "600");
    let name = s.container("web", HEALTH_ALWAYS_FAILING, "exec sleep 100000");
    s.start_watch("");
    wait_until(
        90,
        "healing_failed long before the 600 s verify window ends",
        || s.count("healing_failed", &name) == 1,
    );
    let events: Vec<String> = s
        .lines_of(&name)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let restarted = events
        .iter()
        .position(|e| e == "container_restarted")
        .expect("restarted once");
    assert!(
        events[restarted..]
            .iter()
            .any(|e| e == "container_unhealthy"),
        "the failing check after the restart is told: {events:?}"
    );
    assert_eq!(s.count("restarting_container", &name), 1);
    let incident = &s.incidents_of(&name)[0];
    assert_eq!(incident["status"], "healing_failed", "{incident}");
}

/// Restarts `name` every `every` until `stop` is set, as autoheal or a cron job would.
fn other_healer(
    name: String,
    every: Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(every);
            if docker(&["restart", "-t", "1", &name]).status.success() {
                n += 1;
            }
        }
        n
    })
}

/// Another healer restarting a hopeless container again and again: its restarts count
/// against Sickbay's limit (`restarted_by_other`), so Sickbay restarts it once and gives up,
/// instead of taking each restart as a fresh start and restarting it forever.
#[test]
fn restarts_by_another_healer_count_against_the_limit() {
    let mut s = Scenario::new("otherhealer");
    s.set_heal("max_attempts", "1");
    let name = s.container("web", HEALTH_ALWAYS_FAILING, "exec sleep 100000");
    s.start_watch("");
    s.wait_sampled(&name);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let healer = other_healer(name.clone(), Duration::from_secs(4), stop.clone());
    // The two side by side for 40 s.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40) {
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let theirs = healer.join().expect("the other healer");
    let ours = s.count("restarting_container", &name);
    assert!(theirs >= 5, "the other healer restarted it {theirs} times");
    assert_eq!(
        ours,
        1,
        "Sickbay restarted it once (max_attempts = 1), whatever the other did: {:#?}",
        s.lines_of(&name)
    );
    assert!(
        s.count("restarted_by_other", &name) >= 2,
        "{:#?}",
        s.lines_of(&name)
    );
    assert!(
        s.lines_of(&name)
            .iter()
            .any(|l| l.contains("healing_failed")),
        "{:#?}",
        s.lines_of(&name)
    );
    // The watcher's picture follows the history within a moment.
    let mut status = serde_json::Value::Null;
    wait_until(10, "status red", || {
        status = s.json(&["status", "--json"]);
        status["verdict"] == "red"
    });
    let doctor = s.cmd().arg("doctor").output().expect("doctor");
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("another healer seems to be at work") && text.contains(&name),
        "{text}"
    );
}

fn spawn_watch(s: &Scenario, data: &std::path::Path, stderr: &str) -> Child {
    s.cmd()
        .env("SICKBAY_DATA_DIR", data)
        .arg("watch")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(s.dir.path().join(stderr)).expect("stderr file"))
        .spawn()
        .expect("start sickbay watch")
}

fn log_of(data: &std::path::Path) -> String {
    std::fs::read_to_string(data.join("logs/monitor.log")).unwrap_or_default()
}

fn events_of(data: &std::path::Path, event: &str, name: &str) -> usize {
    log_of(data)
        .lines()
        .filter(|l| {
            l.split_whitespace().nth(1) == Some(event)
                && l.split_whitespace()
                    .any(|w| w == format!("container:{name}"))
        })
        .count()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two Sickbays on one machine watching the same containers of one engine (the tray app and
/// a service, each with its own data folder): one acts, the other stands by and says so, and
/// takes over when the first stops.
#[test]
fn a_second_sickbay_stands_by_and_takes_over_when_the_first_stops() {
    let mut s = Scenario::new("standby");
    s.set_heal("max_attempts", "1");
    let name = s.container("web", HEALTH_ALWAYS_FAILING, "exec sleep 100000");
    s.config("");
    let first_data = s.dir.path().join("first");
    let second_data = s.dir.path().join("second");
    let mut first = Killed(spawn_watch(&s, &first_data, "first.stderr"));
    wait_until(30, "the first one starts", || {
        log_of(&first_data).contains("monitor_started")
    });
    let _second = Killed(spawn_watch(&s, &second_data, "second.stderr"));
    wait_until(30, "the second one stands by", || {
        log_of(&second_data).contains("standing_by")
    });
    let line = log_of(&second_data);
    assert!(
        line.contains(&format!("pid {}", first.0.id())),
        "names the Sickbay that acts: {line}"
    );
    // `status` on the second one's data folder says it stands by (its picture, not a look of
    // its own claiming that nothing watches).
    let mut status = serde_json::Value::Null;
    wait_until(10, "status of the one standing by", || {
        let out = s
            .cmd()
            .env("SICKBAY_DATA_DIR", &second_data)
            .args(["status", "--json"])
            .output()
            .expect("status");
        status = serde_json::from_slice(&out.stdout).unwrap_or_default();
        status["standing_by"].is_string()
    });
    assert_eq!(status["source"], "watcher", "{status}");
    assert!(
        status["standing_by"]
            .as_str()
            .is_some_and(|w| w.contains(&format!("pid {}", first.0.id()))),
        "{status}"
    );
    wait_until(90, "the first one gives up on the container", || {
        events_of(&first_data, "healing_failed", &name) == 1
    });
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(events_of(&first_data, "restarting_container", &name), 1);
    assert_eq!(
        events_of(&second_data, "restarting_container", &name),
        0,
        "the one standing by never acts"
    );
    assert!(!log_of(&second_data).contains("monitor_started"));
    // The first stops: the second takes over.
    let _ = Command::new("kill")
        .args(["-TERM", &first.0.id().to_string()])
        .status();
    let _ = first.0.wait();
    wait_until(30, "the second one takes over", || {
        let log = log_of(&second_data);
        log.contains("taking_over") && log.contains("monitor_started")
    });
    wait_until(60, "the second one watches the container", || {
        events_of(&second_data, "container_unhealthy", &name) > 0
    });
}

/// A history that refuses writes: the failure is counted and shown (`status --json`
/// `history_errors`, `doctor`), `monitor.log` still tells the event, and the watcher goes on.
#[test]
fn history_write_failures_are_counted_and_shown() {
    let mut s = Scenario::new("histerr");
    s.set_heal("max_attempts", "1");
    let name = s.container("web", HEALTH_NOT_SICK, "exec sleep 100000");
    s.start_watch("");
    s.wait_sampled(&name);
    {
        let conn = rusqlite::Connection::open(s.data().join("sickbay.db")).expect("open");
        conn.busy_timeout(Duration::from_secs(10)).expect("busy");
        conn.execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON monitor_incidents
             BEGIN SELECT RAISE(ABORT, 'the disk says no'); END;",
        )
        .expect("add the trigger");
    }
    docker_ok(&["exec", &name, "touch", "/run/sick"]);
    wait_until(60, "status shows the failed write", || {
        s.json(&["status", "--json"])["history_errors"]
            .as_u64()
            .unwrap_or(0)
            >= 1
    });
    assert!(
        s.lines_of(&name)
            .iter()
            .any(|l| l.contains("container_unhealthy") && l.contains("incident:unrecorded")),
        "{}",
        s.log()
    );
    let doctor = s.cmd().arg("doctor").output().expect("doctor");
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("write(s) to the history") && text.contains("the disk says no"),
        "{text}"
    );
    assert!(s.watch_running(), "watch goes on: {}", s.watch_stderr());
    // It is healed all the same.
    wait_until(60, "restarted", || {
        s.count("restarting_container", &name) >= 1
    });
}

/// A service's umask is often 0077 (Sickbay's unit sets it): the lock that keeps two Sickbays
/// from acting on one engine stays readable by every user, so a tray app of another user sees
/// it is held instead of failing to open it and acting too.
#[test]
fn the_lock_is_readable_by_every_user_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scenario::new("umask");
    s.config("");
    let data = s.dir.path().join("data");
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &format!("umask 077; exec '{BIN}' watch")]);
    for (k, v) in s.cmd().get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let watch = Killed(
        cmd.env("SICKBAY_DATA_DIR", &data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sickbay watch"),
    );
    wait_until(30, "it starts", || {
        log_of(&data).contains("monitor_started")
    });
    let me = format!("pid {},", watch.0.id());
    let lock = std::fs::read_dir("/run/lock")
        .expect("/run/lock")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sickbay-"))
                && std::fs::read_to_string(p).is_ok_and(|t| t.starts_with(&me))
        })
        .expect("its lock file in /run/lock");
    let mode = std::fs::metadata(&lock).expect("lock").permissions().mode() & 0o777;
    drop(watch);
    let _ = std::fs::remove_file(&lock);
    assert_eq!(mode, 0o644, "{}: {mode:o}", lock.display());
}
