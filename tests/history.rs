//! The history (`sickbay.db`) made by several `sickbay` processes at once: `watch` and a
//! `status` or `incidents` started together on a new data folder all open it, whichever
//! applies the migrations.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::common::*;

/// How many new data folders the race is run on.
const ROUNDS: usize = 30;

/// Waits for `child` to end, killing it after `secs`.
fn finish(child: Child, secs: u64, what: &str) -> Result<Output, String> {
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output());
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = waiter.join();
            return Err(format!("{what} did not end within {secs} s"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match waiter.join() {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("{what}: cannot wait for it: {e}")),
        Err(_) => Err(format!("{what}: the waiting thread panicked")),
    }
}

fn spawn(s: &Scenario, args: &[&str]) -> Child {
    s.cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sickbay")
}

fn failure(what: &str, out: &Output) -> Option<String> {
    (!out.status.success()).then(|| {
        format!(
            "{what} exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })
}

/// Pins the crash where `watch` (or a `status`/`incidents` beside it) failed with `table
/// monitor_incidents already exists` or `duplicate column name`, having read the schema
/// version before another process applied the same migration; `watch` then exited.
#[test]
fn watch_status_and_incidents_started_together_on_a_new_data_folder_all_succeed() {
    let mut failures: Vec<String> = Vec::new();
    for round in 1..=ROUNDS {
        let mut s = Scenario::new("history-race");
        // As close together as processes can be started (the configuration is written first).
        s.spawn_watch("");
        let incidents = spawn(&s, &["incidents", "--json"]);
        let status = spawn(&s, &["status", "--json"]);
        let other = spawn(&s, &["incidents", "--open"]);

        let mut problems: Vec<String> = Vec::new();
        for (what, child) in [
            ("incidents --json", incidents),
            ("status --json", status),
            ("incidents --open", other),
        ] {
            match finish(child, 60, what) {
                Ok(out) => problems.extend(failure(what, &out)),
                Err(e) => problems.push(e),
            }
        }
        let started = wait_for(60, || {
            s.log().contains("monitor_started") || !s.watch_running()
        });
        if !started || !s.watch_running() || !s.log().contains("monitor_started") {
            let ended = !s.watch_running();
            problems.push(format!(
                "watch {}: {}",
                if ended { "exited" } else { "did not start" },
                s.watch_stderr().trim()
            ));
        } else if !s.stop_watch() {
            problems.push(format!(
                "watch did not stop cleanly: {}",
                s.watch_stderr().trim()
            ));
        }
        if problems.is_empty() {
            let version = s.sqlite_i64("PRAGMA user_version");
            let tables = s.sqlite_i64(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN \
                 ('monitor_incidents', 'monitor_events', 'sickbay_meta', 'mirror_outbox')",
            );
            if version < 4 || tables != 4 {
                problems.push(format!(
                    "the history has schema {version} and {tables} of its 4 main tables"
                ));
            }
        }
        failures.extend(problems.into_iter().map(|p| format!("round {round}: {p}")));
    }
    let rounds_failed = failures
        .iter()
        .filter_map(|f| f.split(':').next())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(
        failures.is_empty(),
        "{rounds_failed} of {ROUNDS} rounds failed:\n{}",
        failures.join("\n")
    );
}
