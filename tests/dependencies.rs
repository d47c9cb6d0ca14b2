//! Failures that travel along dependencies, on the real Docker engine: containers in another
//! container's network namespace follow it, a stack whose database hangs is healed at the
//! database, and compose replacing containers is not a failure.

use crate::support::common::{
    docker, docker_ok, inspect, wait_for, wait_until, Scenario, HEALTH_NOT_SICK,
};
use crate::support::compose::{service, Project, UNTIL_STOPPED};

/// A server on the loopback interface only: reachable from a container in its namespace.
const LOOPBACK_SERVER: &str = "echo ok > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp";

/// An HTTP request to port 8080 on the container's own loopback interface, answered `ok`
/// (BusyBox's `nc`: its static `wget` cannot be trusted with sockets).
const ASK_LOOPBACK: &str =
    "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 127.0.0.1 8080 | grep -q '^ok'";

/// Whether `container` reaches port 8080 on its own loopback interface (its namespace's).
fn reaches_loopback(container: &str) -> bool {
    docker(&["exec", container, "sh", "-c", ASK_LOOPBACK])
        .status
        .success()
}

fn network_of(parent: &str) -> String {
    format!("container:{parent}")
}

#[test]
fn a_dependent_without_checks_follows_its_network_parent_through_a_heal() {
    let mut s = Scenario::new("ns-heal");
    let vpn = s.container("vpn", HEALTH_NOT_SICK, LOOPBACK_SERVER);
    // No health check: nothing but the namespace tells Sickbay it is stranded.
    let app = s.container(
        "app",
        &["--network", &network_of(&vpn)],
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    wait_until(30, "app reaches vpn's loopback port", || {
        reaches_loopback(&app)
    });
    s.start_watch("");
    s.wait_sampled(&vpn);
    s.wait_sampled(&app);
    let app_view = s.status_of(&app);
    assert_eq!(
        app_view["depends_on"],
        serde_json::json!([{ "name": vpn, "via": "network" }]),
        "status shows the namespace parent: {app_view}"
    );

    docker_ok(&["exec", &vpn, "touch", "/run/sick"]);
    wait_until(60, "vpn restarted by Sickbay", || {
        s.count("container_restarted", &vpn) >= 1
    });
    // The restart gave vpn a new namespace; app is brought into it once vpn is healthy.
    let back = wait_for(60, || reaches_loopback(&app));
    assert!(
        back,
        "app still cannot reach vpn's loopback port after vpn's restart:\n{}",
        s.log()
    );
    wait_until(30, "the follow recorded", || {
        s.count("dependency_followed", &app) == 1
    });
    let followed = s
        .lines_of(&app)
        .into_iter()
        .find(|l| l.contains("dependency_followed"))
        .expect("line");
    assert!(
        followed.contains(&format!("dependency:{vpn}")) && followed.contains("namespace:shared"),
        "{followed}"
    );
    assert_eq!(inspect(&vpn, "{{.State.Health.Status}}"), "healthy");
    assert!(
        s.incidents_of(&app).is_empty(),
        "following its parent is not an incident of app's own"
    );
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_dependent_that_exited_with_its_parent_is_started_when_the_parent_is_back() {
    let mut s = Scenario::new("ns-orphan");
    let vpn = s.container("vpn", &[], LOOPBACK_SERVER);
    // Exits (code 3) when it loses the server it talks to, as a client of a VPN does.
    let app = s.container(
        "app",
        &["--network", &network_of(&vpn)],
        &format!("sleep 2; while {ASK_LOOPBACK}; do sleep 1; done; exit 3"),
    );
    wait_until(30, "app reaches vpn's loopback port", || {
        reaches_loopback(&app)
    });
    s.start_watch("");
    s.wait_sampled(&vpn);
    s.wait_sampled(&app);

    // A person stops the parent: Sickbay leaves it alone, and the dependent exits with it.
    docker_ok(&["kill", &vpn]);
    wait_until(30, "app exited", || {
        inspect(&app, "{{.State.Status}}") == "exited"
    });
    wait_until(30, "app held for vpn", || {
        s.count("held_for_dependency", &app) == 1
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        inspect(&app, "{{.State.Status}}"),
        "exited",
        "nothing starts app while its namespace parent is down"
    );

    docker_ok(&["start", &vpn]);
    let back = wait_for(60, || {
        inspect(&app, "{{.State.Status}}") == "running" && reaches_loopback(&app)
    });
    assert!(
        back,
        "app was not started into vpn's namespace:\n{}",
        s.log()
    );
    assert_eq!(
        s.count("heal_action_failed", &app),
        0,
        "no start was tried while the parent was down:\n{}",
        s.log()
    );
    wait_until(30, "app's incident healed", || {
        s.incidents_of(&app)
            .iter()
            .any(|i| i["auto_healed"] == true && !i["closed_at"].is_null())
    });
    assert!(s.stop_watch(), "watch exits cleanly");
}

/// A database that writes a heartbeat to a volume its three web services read: their checks
/// fail (after 5 s without a beat, at once) before the database's own does (3 s, then five
/// failures in a row).
fn hanging_stack(s: &Scenario) -> Project {
    let beat_younger_than = |secs: u32| {
        format!(
            r#"    volumes: ["beat:/beat"]
    healthcheck:
      test: ["CMD-SHELL", "test $$(( $$(date +%s) - $$(cat /beat/db) )) -lt {secs}"]
      interval: 1s
"#
        )
    };
    let db = service(
        "db",
        &s.run,
        "trap 'exit 0' TERM; while true; do [ -f /run/hang ] || date +%s > /beat/db; sleep 1; done",
        &format!(
            "    tmpfs: [/run]\n{}      retries: 5\n",
            beat_younger_than(3)
        ),
    );
    let webs: String = (1..=3)
        .map(|n| {
            service(
                &format!("web{n}"),
                &s.run,
                UNTIL_STOPPED,
                &format!(
                    "    depends_on: [db]\n{}      retries: 1\n",
                    beat_younger_than(5)
                ),
            )
        })
        .collect();
    Project::write(
        s,
        &format!("version: \"2.4\"\nservices:\n{db}{webs}volumes:\n  beat:\n"),
    )
}

#[test]
fn a_hanging_database_is_healed_and_none_of_the_webs_that_need_it() {
    let mut s = Scenario::new("cause");
    // Verification long enough for a restarted web to be told from a held one.
    s.set_heal("verify_seconds", "30");
    let stack = hanging_stack(&s);
    stack.compose_ok(&["up", "-d"]);
    let names: Vec<String> = ["db", "web1", "web2", "web3"]
        .iter()
        .map(|svc| stack.container(svc).expect("created"))
        .collect();
    let (db, webs) = (&names[0], &names[1..]);
    for n in &names {
        wait_until(60, "the stack healthy", || {
            inspect(n, "{{.State.Health.Status}}") == "healthy"
        });
    }
    s.start_watch("");
    for n in &names {
        s.wait_sampled(n);
    }
    let web1 = s.status_of(&webs[0]);
    assert_eq!(
        web1["depends_on"],
        serde_json::json!([{ "name": db, "via": "compose" }]),
        "compose's depends_on, read from the project's file: {web1}"
    );

    docker_ok(&["exec", db, "touch", "/run/hang"]);
    wait_until(90, "db restarted by Sickbay", || {
        s.count("container_restarted", db) >= 1
    });
    for n in &names {
        wait_until(90, "every service healthy again", || {
            inspect(n, "{{.State.Health.Status}}") == "healthy"
        });
    }
    wait_until(60, "db's incident closed as healed", || {
        s.incidents_of(db)
            .iter()
            .any(|i| i["auto_healed"] == true && !i["closed_at"].is_null())
    });
    let held: Vec<&String> = webs
        .iter()
        .filter(|w| s.count("held_for_dependency", w) > 0)
        .collect();
    assert!(
        !held.is_empty(),
        "the webs that failed were held for db:\n{}",
        s.log()
    );
    for w in webs {
        assert_eq!(
            s.count("restarting_container", w),
            0,
            "{w} was restarted, which cannot help:\n{}",
            s.log()
        );
        assert!(
            s.incidents_of(w).is_empty(),
            "{w} has no incident of its own"
        );
    }
    let incident = &s.incidents_of(db)[0];
    let affected: Vec<String> = incident["affected"]
        .as_array()
        .expect("affected")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for w in &held {
        assert!(affected.contains(w), "{w} in {affected:?}");
    }
    assert!(s.stop_watch(), "watch exits cleanly");
}

/// `db` with a check, `side` in db's network namespace, `web` that depends on db.
fn recreated_stack(s: &Scenario) -> Project {
    let check = "    healthcheck:\n      test: [\"CMD-SHELL\", \"true\"]\n      interval: 1s\n";
    let services = [
        service("db", &s.run, UNTIL_STOPPED, check),
        service(
            "side",
            &s.run,
            UNTIL_STOPPED,
            "    network_mode: \"service:db\"\n",
        ),
        service(
            "web",
            &s.run,
            UNTIL_STOPPED,
            &format!("    depends_on: [db]\n{check}"),
        ),
    ];
    Project::write(
        s,
        &format!("version: \"2.4\"\nservices:\n{}", services.concat()),
    )
}

#[test]
fn compose_replacing_or_removing_containers_is_not_a_failure() {
    let mut s = Scenario::new("orchestrate");
    let stack = recreated_stack(&s);
    stack.compose_ok(&["up", "-d"]);
    s.start_watch("");
    for svc in ["db", "side", "web"] {
        s.wait_sampled(&stack.container(svc).expect("created"));
    }
    stack.compose_ok(&["up", "-d", "--force-recreate", "-t", "1"]);
    wait_until(
        60,
        "the recreate told as orchestration, then its end",
        || s.log().contains("orchestration_ended"),
    );
    let started = s
        .log()
        .lines()
        .find(|l| l.contains("orchestration_started"))
        .map(str::to_string)
        .expect("orchestration_started recorded");
    assert!(started.contains(&format!("project:{}", s.run)), "{started}");
    // A container removed by hand, then the whole project taken down.
    let web = stack.container("web").expect("web");
    docker_ok(&["rm", "-f", &web]);
    stack.compose_ok(&["down", "-t", "1"]);
    wait_until(60, "the removals seen", || {
        s.json(&["status", "--json"])["containers"]
            .as_array()
            .is_some_and(|c| c.is_empty())
    });
    let log = s.log();
    for event in [
        "container_died",
        "container_unhealthy",
        "restarting_container",
        "following_dependency",
        "heal_action_failed",
    ] {
        assert!(
            !log.lines()
                .any(|l| l.split_whitespace().nth(1) == Some(event)),
            "{event} recorded for orchestration:\n{log}"
        );
    }
    let incidents = s.json(&["incidents", "--json", "--limit", "100"]);
    assert_eq!(
        incidents.as_array().map(Vec::len),
        Some(0),
        "no incident: {incidents}"
    );
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_dependent_whose_network_parent_was_replaced_is_recreated_into_the_new_one() {
    let mut s = Scenario::new("ns-recreate");
    s.set_heal("orchestration_quiet_seconds", "2");
    let services = [
        service(
            "vpn",
            &s.run,
            "echo ok > /tmp/index.html; exec httpd -f -p 127.0.0.1:8080 -h /tmp",
            "",
        ),
        service(
            "app",
            &s.run,
            UNTIL_STOPPED,
            "    network_mode: \"service:vpn\"\n",
        ),
    ];
    let stack = Project::write(
        &s,
        &format!("version: \"2.4\"\nservices:\n{}", services.concat()),
    );
    stack.compose_ok(&["up", "-d"]);
    let app = stack.container("app").expect("app");
    wait_until(30, "app reaches vpn's loopback port", || {
        reaches_loopback(&app)
    });
    s.start_watch("");
    s.wait_sampled(&app);
    let before = inspect(&app, "{{.Id}}");

    // vpn alone is replaced: app still names the old vpn's id, and cannot start again as it is.
    stack.compose_ok(&[
        "up",
        "-d",
        "--no-deps",
        "--force-recreate",
        "-t",
        "1",
        "vpn",
    ]);
    // (Compose renames the old container aside while it recreates: a name can vanish.)
    let back = wait_for(90, || {
        stack.container("app").is_some_and(|now| {
            let id = docker(&["inspect", "-f", "{{.Id}}", &now]);
            id.status.success()
                && String::from_utf8_lossy(&id.stdout).trim() != before
                && reaches_loopback(&now)
        })
    });
    assert!(
        back,
        "app was not recreated into the new vpn's namespace:\n{}\n{}",
        s.log(),
        s.watch_stderr()
    );
    let app = stack.container("app").expect("app");
    let recorded = wait_for(30, || s.count("dependency_followed", &app) == 1);
    assert!(recorded, "the recreate recorded once:\n{}", s.log());
    let line = s
        .lines_of(&app)
        .into_iter()
        .find(|l| l.contains("dependency_followed"))
        .expect("line");
    assert!(line.contains("action:recreate"), "{line}");
    assert!(
        s.log().find("orchestration_ended") < s.log().find("following_dependency"),
        "compose's own replacing was waited out first:\n{}",
        s.log()
    );
    assert!(s.stop_watch(), "watch exits cleanly");
}
