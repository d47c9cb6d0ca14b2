//! Snoozes (`sickbay snooze` / `unsnooze`) against a real `sickbay watch` and a container of
//! the test's on the real Docker engine.

use std::time::Duration;

use crate::support::common::{docker_ok, inspect, wait_until, Scenario, HEALTH_NOT_SICK};

fn sickbay_ok(s: &Scenario, args: &[&str]) -> String {
    let out = s.cmd().args(args).output().expect("run sickbay");
    assert!(
        out.status.success(),
        "sickbay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn a_snoozed_container_is_recorded_and_shown_but_not_healed_until_unsnoozed() {
    let mut s = Scenario::new("snooze");
    let web = s.container(
        "web",
        HEALTH_NOT_SICK,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    s.start_watch("");
    s.wait_sampled(&web);
    let said = sickbay_ok(&s, &["snooze", &web, "1h"]);
    assert!(said.contains("snoozed until"), "{said}");
    wait_until(30, "the watcher shows the snooze", || {
        s.status_of(&web)["snoozed_until"].is_string()
    });
    let line = s.status_of(&web);
    assert!(
        line["verdict"].is_null(),
        "a snooze does not colour the stack: {line}"
    );
    assert!(
        line["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("snoozed until ")),
        "{line}"
    );

    docker_ok(&["exec", &web, "touch", "/run/sick"]);
    wait_until(30, "web unhealthy", || {
        inspect(&web, "{{.State.Health.Status}}") == "unhealthy"
    });
    wait_until(30, "the failure recorded, marked snoozed", || {
        s.lines_of(&web).iter().any(|l| l.contains("heal:snoozed"))
    });
    // A restart of the watcher keeps the snooze (it is in the history).
    assert!(s.stop_watch(), "watch exits cleanly");
    s.start_watch("");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        s.count("restarting_container", &web),
        0,
        "nothing is healed while snoozed:\n{}",
        s.log()
    );
    assert!(s.incidents_of(&web).is_empty(), "nor an incident opened");
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "unhealthy");

    let said = sickbay_ok(&s, &["unsnooze", &web]);
    assert!(said.contains("no longer snoozed"), "{said}");
    wait_until(60, "web healed once the snooze ended", || {
        s.count("container_restarted", &web) >= 1
    });
    wait_until(30, "web healthy", || {
        inspect(&web, "{{.State.Health.Status}}") == "healthy"
    });
    // Docker's restart count leaves out a restart made through its API; the status has it.
    assert_eq!(inspect(&web, "{{.RestartCount}}"), "0");
    wait_until(30, "Sickbay's restart in the status", || {
        s.status_of(&web)["sickbay_restarts"] == 1
    });
    for event in ["container_snoozed", "container_unsnoozed"] {
        assert_eq!(
            s.count(event, &web),
            1,
            "{event} in the history:\n{}",
            s.log()
        );
    }
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_snooze_that_cannot_be_read_says_why() {
    let s = Scenario::new("snooze-bad");
    s.config("");
    for (args, says) in [
        (vec!["snooze", "web", "8d"], "at most 7 days"),
        (vec!["snooze", "web", "soon"], "not a duration"),
        (vec!["snooze", "we b", "1h"], "not a container name"),
        (vec!["snooze", "--all", "web", "1h"], "with --all"),
    ] {
        let out = s.cmd().args(&args).output().expect("run sickbay");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was taken");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert!(
        !s.data().join("sickbay.db").exists()
            || s.sqlite_i64(
                "SELECT COUNT(*) FROM monitor_events WHERE event = 'container_snoozed'"
            ) == 0,
        "nothing recorded"
    );
}

#[test]
fn a_maintenance_window_leaves_the_containers_it_covers_alone() {
    use chrono::{Duration as Minutes, Local};
    let mut s = Scenario::new("window");
    let loop_ = "trap 'exit 0' TERM; while true; do sleep 1; done";
    let db = s.container("db", HEALTH_NOT_SICK, loop_);
    let web = s.container("web", HEALTH_NOT_SICK, loop_);
    // Open now, for ten minutes (past midnight if need be), over db only.
    let now = Local::now();
    let hhmm = |t: chrono::DateTime<Local>| t.format("%H:%M").to_string();
    s.start_watch(&format!(
        "[[maintenance]]\nstart = \"{}\"\nend = \"{}\"\ncontainers = [\"{db}\"]\n",
        hhmm(now - Minutes::minutes(1)),
        hhmm(now + Minutes::minutes(10))
    ));
    s.wait_sampled(&db);
    s.wait_sampled(&web);
    wait_until(30, "the window in db's status", || {
        s.status_of(&db)["maintenance_until"].is_string()
    });
    let line = s.status_of(&db);
    assert!(
        line["note"]
            .as_str()
            .is_some_and(|n| n.starts_with("in maintenance until ")),
        "{line}"
    );
    assert!(
        s.status_of(&web)["maintenance_until"].is_null(),
        "web is not covered"
    );
    for c in [&db, &web] {
        docker_ok(&["exec", c, "touch", "/run/sick"]);
    }
    wait_until(60, "web, not covered, healed", || {
        s.count("container_restarted", &web) >= 1
    });
    wait_until(30, "db's failure recorded as in maintenance", || {
        s.lines_of(&db)
            .iter()
            .any(|l| l.contains("heal:maintenance"))
    });
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(
        s.count("restarting_container", &db),
        0,
        "nothing is healed in a window:\n{}",
        s.log()
    );
    assert!(s.incidents_of(&db).is_empty());
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_maintenance_window_that_cannot_be_read_is_refused_by_key() {
    let s = Scenario::new("window-bad");
    let err = s.refused_config("[[maintenance]]\nstart = \"2am\"\nend = \"04:00\"\n");
    assert!(
        err.contains("maintenance.start") && err.contains("window 1") && err.contains("HH:MM"),
        "{err}"
    );
}
