//! The one-click stack (`sickbay up` / `sickbay down`) and the heal ladder's compose steps,
//! against a compose file of test containers on the real Docker engine, run by the compose
//! program this machine has.

use std::process::Output;

use crate::support::common::{docker, docker_ok, inspect, wait_until, Scenario, IMAGE};
use crate::support::compose::Project;

/// The test stack: `web` (health check: healthy unless `/tmp/sick` exists in its own
/// filesystem, which a restart keeps and a recreate does not) with a named volume, and `worker`.
fn write_stack(s: &Scenario, web_labels: &str) -> Project {
    let text = format!(
        r#"version: "2.4"
services:
  web:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; echo web up; while true; do sleep 1; done"]
    stop_grace_period: 1s
    labels:
      sickbay.test: "{run}"
{web_labels}
    healthcheck:
      test: ["CMD-SHELL", "test ! -f /tmp/sick"]
      interval: 1s
      retries: 1
    volumes:
      - data:/data
  worker:
    image: {IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    stop_grace_period: 1s
    labels:
      sickbay.test: "{run}"
volumes:
  data:
"#,
        run = s.run
    );
    Project::write(s, &text)
}

fn sickbay(s: &Scenario, args: &[&str]) -> Output {
    s.cmd().args(args).output().expect("run sickbay")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The scenario's stack with `sickbay.heal=<heal>` on web, started with `sickbay up` and web
/// healthy: the stack, its config, web's name and its container id.
fn healthy_stack(s: &Scenario, heal: &str) -> (Project, String, String, String) {
    let stack = write_stack(s, &format!("      sickbay.heal: \"{heal}\""));
    let cfg = stack.config();
    s.config(&cfg);
    let up = sickbay(s, &["up"]);
    assert!(up.status.success(), "sickbay up: {}", text(&up));
    let web = stack.container("web").expect("web created");
    let id = inspect(&web, "{{.Id}}");
    wait_until(30, "web healthy", || {
        inspect(&web, "{{.State.Health.Status}}") == "healthy"
    });
    (stack, cfg, web, id)
}

/// Waits until `container`'s incident is closed as healed; returns the actions it took.
fn healed_with(s: &Scenario, container: &str, timeout: u64) -> Vec<String> {
    wait_until(timeout, "the incident healed", || {
        s.incidents_of(container)
            .iter()
            .any(|i| i["auto_healed"] == true && !i["closed_at"].is_null())
    });
    let incident = &s.incidents_of(container)[0];
    incident["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["action"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn up_starts_the_stack_and_down_stops_it_removing_nothing() {
    let s = Scenario::new("stack");
    let stack = write_stack(&s, "");
    s.config(&stack.config());

    let up = sickbay(&s, &["up"]);
    assert!(up.status.success(), "sickbay up: {}", text(&up));
    let said = text(&up);
    assert!(said.contains("Starting stack"), "{said}");
    let web = stack.container("web").expect("web created");
    let worker = stack.container("worker").expect("worker created");
    // Compose's own lines, indented under Sickbay's, name what it created.
    for c in [&web, &worker] {
        assert!(
            said.lines()
                .any(|l| l.starts_with("  ") && l.contains(c.as_str())),
            "compose's progress names {c}: {said}"
        );
    }
    for c in [&web, &worker] {
        assert_eq!(inspect(c, "{{.State.Status}}"), "running", "{c}");
    }
    docker_ok(&["exec", &web, "sh", "-c", "echo kept > /data/file"]);
    let web_id = inspect(&web, "{{.Id}}");

    let down = sickbay(&s, &["down"]);
    assert!(down.status.success(), "sickbay down: {}", text(&down));
    assert!(text(&down).contains("Stopping stack"), "{}", text(&down));
    for c in [&web, &worker] {
        assert_eq!(
            inspect(c, "{{.State.Status}}"),
            "exited",
            "{c} is stopped, not removed"
        );
    }
    let volume = format!("{}_data", stack.project);
    assert!(
        docker(&["volume", "inspect", &volume]).status.success(),
        "the volume {volume} is kept"
    );

    let up = sickbay(&s, &["up"]);
    assert!(up.status.success(), "sickbay up again: {}", text(&up));
    assert_eq!(inspect(&web, "{{.State.Status}}"), "running");
    assert_eq!(
        inspect(&web, "{{.Id}}"),
        web_id,
        "the same container started again"
    );
    assert_eq!(
        docker_ok(&["exec", &web, "cat", "/data/file"]).trim(),
        "kept"
    );
}

#[test]
fn a_broken_or_missing_stack_says_what_is_wrong() {
    let s = Scenario::new("stackbad");
    // Not configured: a usage error naming the setting.
    s.config("");
    let out = sickbay(&s, &["up"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("[stack]"), "{}", text(&out));
    assert!(text(&out).contains("compose_file"), "{}", text(&out));

    // A compose file that is not there: named, before compose runs.
    s.config("[stack]\ncompose_file = \"nowhere/compose.yml\"\n");
    let out = sickbay(&s, &["down"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let missing = s.dir.path().join("nowhere/compose.yml");
    assert!(
        text(&out).contains(&missing.display().to_string()),
        "{}",
        text(&out)
    );

    // A compose file compose refuses: its own words reach the user, in full.
    let file = s.dir.path().join("compose.yml");
    std::fs::write(
        &file,
        format!("version: \"2.4\"\nservices:\n  web:\n    image: {IMAGE}\n    bogus_option: 1\n"),
    )
    .expect("write compose.yml");
    s.config(&format!(
        "[stack]\ncompose_file = \"compose.yml\"\nproject_name = \"{}\"\n",
        s.run
    ));
    let out = sickbay(&s, &["up"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("bogus_option"),
        "compose's error is shown: {said}"
    );
    assert!(said.contains("failed"), "{said}");
}

#[test]
fn a_compose_service_that_restarts_cannot_fix_is_recreated_and_healed() {
    let mut s = Scenario::new("recreate");
    let (_stack, cfg, web, old_id) = healthy_stack(&s, "restart,recreate");
    docker_ok(&["exec", &web, "sh", "-c", "echo kept > /data/file"]);

    s.start_watch(&cfg);
    s.wait_sampled(&web);
    // Sick in its own filesystem: a restart keeps the file, a recreate starts clean.
    docker_ok(&["exec", &web, "touch", "/tmp/sick"]);

    let actions = healed_with(&s, &web, 120);
    let events: Vec<String> = s
        .lines_of(&web)
        .iter()
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
        .collect();
    let order = [
        "container_unhealthy",
        "restarting_container",
        "container_restarted",
        "recreating_container",
        "container_recreated",
        "container_healthy",
    ];
    let mut at = 0;
    for e in &events {
        if at < order.len() && *e == order[at] {
            at += 1;
        }
    }
    assert_eq!(at, order.len(), "the ladder in order: {events:?}");
    assert_eq!(
        s.count("restarting_container", &web),
        2,
        "max_attempts restarts first: {events:?}"
    );
    assert_eq!(s.count("container_removed", &web), 0, "{events:?}");

    let new_id = inspect(&web, "{{.Id}}");
    assert_ne!(new_id, old_id, "a new container");
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "healthy");
    assert_eq!(
        docker_ok(&["exec", &web, "cat", "/data/file"]).trim(),
        "kept",
        "the volume's data survives"
    );
    assert_eq!(actions, ["restart", "restart", "recreate"]);
    // The engine follows the new container: it is sampled under its new id.
    wait_until(30, "the new container sampled", || {
        s.sqlite_i64(&format!(
            "SELECT COUNT(*) FROM monitor_health_metrics WHERE container_id = '{new_id}'"
        )) > 0
    });
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_stale_image_is_rebuilt_when_restart_and_recreate_cannot_fix_it() {
    let mut s = Scenario::new("rebuild");
    // The service's image bakes in its source's state: "bad" at first. The developer then
    // fixes the source on disk; only a build puts the fix into the container.
    let context = s.dir.path().join("web");
    std::fs::create_dir_all(&context).expect("context");
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY state /state\n"),
    )
    .expect("Dockerfile");
    std::fs::write(context.join("state"), "bad\n").expect("state");
    let image = format!("{}-web:latest", s.run);
    let file = s.dir.path().join("compose.yml");
    std::fs::write(
        &file,
        format!(
            r#"version: "2.4"
services:
  web:
    build: ./web
    image: {image}
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    stop_grace_period: 1s
    labels:
      sickbay.test: "{run}"
      sickbay.heal: "restart,recreate,rebuild"
    healthcheck:
      test: ["CMD-SHELL", "grep -q good /state"]
      interval: 1s
      retries: 1
"#,
            run = s.run
        ),
    )
    .expect("write compose.yml");
    let stack = Project {
        file,
        project: s.run.clone(),
    };
    let cfg = stack.config();
    s.config(&cfg);
    let up = sickbay(&s, &["up"]);
    assert!(up.status.success(), "sickbay up: {}", text(&up));
    let web = stack.container("web").expect("web created");
    wait_until(30, "web unhealthy", || {
        inspect(&web, "{{.State.Health.Status}}") == "unhealthy"
    });
    std::fs::write(context.join("state"), "good\n").expect("fix the source");

    s.start_watch(&cfg);
    let actions = healed_with(&s, &web, 180);
    assert_eq!(actions, ["restart", "restart", "recreate", "rebuild"]);
    assert_eq!(
        s.count("container_rebuilt", &web),
        1,
        "{:?}",
        s.lines_of(&web)
    );
    assert_eq!(
        docker_ok(&["exec", &web, "cat", "/state"]).trim(),
        "good",
        "the container runs the rebuilt image"
    );
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "healthy");
    assert!(s.stop_watch(), "watch exits cleanly");
    drop(stack);
    let _ = docker(&["rmi", &image]);
}

#[test]
fn a_recreate_that_fails_keeps_the_incident_on_the_container_compose_left() {
    let mut s = Scenario::new("badrecreate");
    let (stack, cfg, web, old_id) = healthy_stack(&s, "recreate");
    // The developer breaks the service's command: a recreate replaces the container, then
    // cannot start the new one.
    let text_now = std::fs::read_to_string(&stack.file).expect("compose.yml");
    let broken = text_now.replacen(
        r#"command: ["sh", "-c", "trap 'exit 0' TERM; echo web up; while true; do sleep 1; done"]"#,
        r#"command: ["/no/such/program"]"#,
        1,
    );
    assert_ne!(broken, text_now, "the web service's command is replaced");
    std::fs::write(&stack.file, broken).expect("write compose.yml");

    s.start_watch(&cfg);
    s.wait_sampled(&web);
    docker_ok(&["exec", &web, "touch", "/tmp/sick"]);
    wait_until(120, "healing_failed", || {
        s.count("healing_failed", &web) == 1
    });
    let new_id = inspect(&web, "{{.Id}}");
    assert_ne!(
        new_id, old_id,
        "compose replaced the container before failing"
    );
    assert_eq!(
        s.count("container_removed", &web),
        0,
        "the incident stays with the container: {:?}",
        s.lines_of(&web)
    );
    let incidents = s.incidents_of(&web);
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(
        incidents[0]["closed_at"].is_null(),
        "still open: {}",
        incidents[0]
    );
    let actions: Vec<&str> = incidents[0]["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(actions, ["recreate"], "once per window: {}", incidents[0]);
    assert!(s.stop_watch(), "watch exits cleanly");
}
