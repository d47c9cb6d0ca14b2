//! What happens while Docker is unreachable: `sickbay watch` against a daemon of the test's
//! own, stopped and started again mid-test (`--live-restore` keeps its containers running).

use std::time::{Duration, Instant};

use crate::support::common::*;
use crate::support::own_daemon::{can_run, PrivateDocker};

/// Runs until `/cue/die` appears, then exits with `code`; after a restart it stays up (the
/// marker is in the container's own filesystem). `/cue/<name>.exiting` tells the test it is
/// about to exit.
fn until_cue_then_exit(name: &str, code: u8) -> String {
    format!(
        "if [ -f /died-once ]; then exec sleep 100000; fi; \
         while [ ! -f /cue/die ]; do sleep 0.2; done; \
         touch /died-once /cue/{name}.exiting; exit {code}"
    )
}

#[test]
fn a_crash_while_docker_is_down_is_found_and_healed_after_the_reconnect() {
    if !can_run() {
        return;
    }
    let began = Instant::now();
    let mut docker = PrivateDocker::start("outage");
    let mut s = Scenario::new("outage");
    s.use_docker_host(&docker.host());
    let cue = docker.folder("cue");
    let label = format!("sickbay.test={}", s.run);
    let mount = format!("{}:/cue", cue.display());
    let crash = format!("{}-crash", s.run);
    let job = format!("{}-job", s.run);
    for (name, code) in [(&crash, 3), (&job, 0)] {
        docker.run(
            name,
            &[
                "--label",
                &label,
                "--label",
                "sickbay.stop_timeout=1",
                "--restart",
                "no",
                "-v",
                &mount,
            ],
            &until_cue_then_exit(name, code),
        );
    }
    let crash_started = docker.inspect(&crash, "{{.State.StartedAt}}");
    s.start_watch("");
    s.wait_sampled(&crash);
    s.wait_sampled(&job);

    // The outage: Sickbay sees Docker go; both containers exit while it is away.
    docker.stop_daemon();
    wait_until(30, "docker_unreachable in monitor.log", || {
        s.log().contains("docker_unreachable")
    });
    std::fs::write(cue.join("die"), "").expect("the cue");
    wait_until(30, "both containers exiting", || {
        cue.join(format!("{crash}.exiting")).exists() && cue.join(format!("{job}.exiting")).exists()
    });
    std::thread::sleep(Duration::from_millis(500));
    // Sickbay may heal the crash as soon as the daemon answers: no look at it here.
    docker.start_daemon();

    wait_until(60, "docker_reconnected in monitor.log", || {
        s.log().contains("docker_reconnected")
    });
    let found = wait_for(60, || s.count("restarting_container", &crash) > 0);
    let log = s.log();
    assert!(
        found,
        "the crash during the outage was never handled (no restarting_container for {crash}); \
         monitor.log:\n{log}\nwatch's stderr:\n{}",
        s.watch_stderr()
    );

    // What a user sees: the outage, the reconnect, then the death and the restart, in order.
    let event = |l: &str| l.split_whitespace().nth(1).map(str::to_string);
    let pos = |pred: &dyn Fn(&str) -> bool| log.lines().position(pred);
    let unreachable = pos(&|l| event(l).as_deref() == Some("docker_unreachable"));
    let reconnected = pos(&|l| event(l).as_deref() == Some("docker_reconnected"));
    let died = s
        .lines_of(&crash)
        .into_iter()
        .filter(|l| event(l).as_deref() == Some("container_died"))
        .collect::<Vec<_>>();
    assert_eq!(died.len(), 1, "one death, recorded once: {died:?}\n{log}");
    assert!(
        died[0].split_whitespace().any(|w| w == "exit_code:3"),
        "{}",
        died[0]
    );
    assert!(
        died[0]
            .split_whitespace()
            .any(|w| w == "seen:after_reconnect"),
        "how it was found: {}",
        died[0]
    );
    let died_at = pos(&|l| l == died[0]);
    let restarting = pos(&|l| {
        event(l).as_deref() == Some("restarting_container")
            && l.split_whitespace()
                .any(|w| w == format!("container:{crash}"))
    });
    let order = [unreachable, reconnected, died_at, restarting];
    assert!(
        order.iter().all(Option::is_some) && order.windows(2).all(|w| w[0] < w[1]),
        "docker_unreachable, docker_reconnected, container_died, restarting_container in \
         order ({order:?}):\n{log}"
    );

    let incidents = s.incidents_of(&crash);
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["kind"], "crashed", "{}", incidents[0]);
    assert_eq!(incidents[0]["actions"][0]["action"], "restart");

    wait_until(30, "the crashed container runs again", || {
        docker.inspect(&crash, "{{.State.Running}}") == "true"
    });
    assert_ne!(
        docker.inspect(&crash, "{{.State.StartedAt}}"),
        crash_started,
        "started again"
    );
    wait_until(30, "the incident closes healed", || {
        s.incidents_of(&crash)
            .first()
            .is_some_and(|i| !i["closed_at"].is_null() && i["auto_healed"] == true)
    });

    // A job that finished during the outage (exit code 0) is no incident and stays exited.
    assert!(
        s.incidents_of(&job).is_empty(),
        "{:?}",
        s.incidents_of(&job)
    );
    assert_eq!(s.count("container_died", &job), 0, "{}", s.log());
    assert_eq!(s.count("restarting_container", &job), 0, "{}", s.log());
    assert_eq!(
        docker.inspect(&job, "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 0"
    );
    assert!(s.stop_watch(), "watch exits cleanly on SIGTERM");
    eprintln!(
        "outage scenario took {:.1} s",
        began.elapsed().as_secs_f64()
    );
}

/// A restart Docker never answers (the daemon stops answering in the middle of it) fails
/// after the Docker adapter's limit and says so; the watcher goes on, and the container is
/// not left "being healed" forever.
#[test]
fn a_restart_docker_never_answers_fails_and_is_told() {
    if !can_run() {
        return;
    }
    let mut docker = PrivateDocker::start("hung");
    let mut s = Scenario::new("hung");
    s.use_docker_host(&docker.host());
    let label = format!("sickbay.test={}", s.run);
    let name = format!("{}-web", s.run);
    let mut args = vec!["--label", &label, "--label", "sickbay.stop_timeout=5"];
    args.extend_from_slice(HEALTH_ALWAYS_FAILING);
    // `sleep` as the first process ignores SIGTERM: the restart waits out its stop timeout.
    docker.run(&name, &args, "exec sleep 100000");
    s.start_watch("");
    wait_until(60, "the restart asked for", || {
        s.count("restarting_container", &name) >= 1
    });
    docker.freeze();
    wait_until(150, "the restart counted as failed", || {
        s.count("heal_action_failed", &name) >= 1
    });
    let line = s
        .lines_of(&name)
        .into_iter()
        .find(|l| l.contains("heal_action_failed"))
        .expect("the line");
    assert!(line.contains("action:restart"), "{line}");
    let incident = &s.incidents_of(&name)[0];
    let outcome = incident["actions"][0]["outcome"].as_str().unwrap_or("");
    assert!(outcome.starts_with("failed: "), "{incident}");
    assert!(s.watch_running(), "{}", s.watch_stderr());
    docker.thaw();
}
