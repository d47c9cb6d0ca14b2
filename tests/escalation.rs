//! `sickbay investigate` against the real Docker engine: the incident folder holds the
//! timeline, the container's real log lines with its secrets removed and the guardrails; a real
//! terminal (xterm under Xvfb) starts the agent (a stand-in `claude` that records how it was
//! launched) in the stack's folder; the incident says it was escalated.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::support::common::*;

const DB_PASSWORD: &str = "hunter2-Very-Secret-42";
const API_TOKEN: &str = "tok_9f8e7d6c5b4a3210";

/// A private X display for the terminal, stopped on drop.
struct Display {
    child: Child,
    name: String,
}

impl Display {
    fn start() -> Self {
        let n = 100 + std::process::id() % 400;
        let name = format!(":{n}");
        let child = Command::new("Xvfb")
            .args([&name, "-screen", "0", "1024x768x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (scripts/setup.sh --test installs it)");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        wait_until(20, "the X display", || socket.exists());
        Self { child, name }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in `claude` that records its working directory and arguments.
fn stand_in_agent(dir: &Path) -> (PathBuf, PathBuf) {
    let record = dir.join("agent-record.txt");
    let agent = dir.join("claude");
    write_script(
        &agent,
        &format!(
            "#!/bin/sh\n{{ echo \"cwd:$PWD\"; for a in \"$@\"; do echo \"arg:$a\"; done; }} > '{}.tmp'\nmv '{0}.tmp' '{0}'\n",
            record.display()
        ),
    );
    (agent, record)
}

/// A container that leaks its secrets into its log and dies: an incident Sickbay records
/// without acting (`sickbay.heal=none`).
fn leaky_incident(s: &mut Scenario, extra: &str) -> (String, i64) {
    s.start_watch(extra);
    let name = s.container(
        "db",
        &[
            "--label",
            "sickbay.heal=none",
            "-e",
            &format!("DB_PASSWORD={DB_PASSWORD}"),
            "-e",
            &format!("API_TOKEN={API_TOKEN}"),
        ],
        &format!(
            "echo \"connecting as app with password {DB_PASSWORD}\"; \
             echo \"using token {API_TOKEN}\"; \
             echo 'FATAL: remaining connection slots are reserved for non-replication superuser connections'; \
             while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3"
        ),
    );
    // Dies once Sickbay watches it.
    s.go_when_watched(&name);
    let mut id = 0;
    wait_until(30, "the crash recorded as an incident", || {
        id = s
            .incidents_of(&name)
            .first()
            .and_then(|i| i["id"].as_i64())
            .unwrap_or(0);
        id > 0
    });
    (name, id)
}

#[test]
fn investigate_opens_a_terminal_with_the_agent_and_the_whole_incident() {
    let mut s = Scenario::new("esc");
    let (agent, record) = stand_in_agent(s.dir.path());
    let work = s.dir.path().join("stack");
    std::fs::create_dir_all(&work).expect("work dir");
    let extra = format!(
        "[diagnosis]\nprovider = \"off\"\n[escalation]\nagent_command = \"{}\"\nterminal = \"xterm\"\nworkdir = \"{}\"\n",
        agent.display(),
        work.display()
    );
    let (name, id) = leaky_incident(&mut s, &extra);
    let display = Display::start();

    let out = s
        .cmd()
        .env("DISPLAY", &display.name)
        .args(["investigate", &id.to_string()])
        .output()
        .expect("run investigate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "investigate failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("handed over: terminal:xterm"), "{stdout}");

    // The terminal really ran the agent, in the stack's folder, with the guardrails.
    wait_until(30, "the agent started by xterm", || record.exists());
    let rec = std::fs::read_to_string(&record).expect("the agent's record");
    assert!(rec.contains(&format!("cwd:{}", work.display())), "{rec}");
    let folder = s.data().join("incidents").join(id.to_string());
    let settings = folder.join("settings.json");
    assert!(
        rec.contains(&format!("arg:--settings\narg:{}", settings.display())),
        "{rec}"
    );
    assert!(
        rec.contains("arg:--\narg:Sickbay incident"),
        "the prompt follows --: {rec}"
    );

    // The folder is the user's alone and holds the incident, without the secrets.
    let mode = std::fs::metadata(&folder)
        .expect("folder")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
    let md = std::fs::read_to_string(folder.join("incident.md")).expect("incident.md");
    assert!(
        md.contains("remaining connection slots are reserved"),
        "{md}"
    );
    assert!(
        md.contains("connecting as app with password"),
        "the real log lines are there"
    );
    assert!(md.contains("container_died"), "the timeline is there");
    assert!(md.contains("UNTRUSTED"), "the log is marked untrusted");
    for secret in [DB_PASSWORD, API_TOKEN] {
        assert!(!md.contains(secret), "incident.md leaks {secret}");
        let prompt = std::fs::read_to_string(s.data().join("logs/claude_monitoring_prompt.txt"))
            .expect("the prompt file");
        assert!(!prompt.contains(secret));
    }
    let rules: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&settings).expect("settings")).expect("JSON");
    let deny = rules["permissions"]["deny"].to_string();
    assert!(
        deny.contains("docker volume rm") && deny.contains("git push"),
        "{deny}"
    );
    let hook = rules["hooks"]["PreToolUse"][0]["hooks"][0]["command"].to_string();
    assert!(hook.contains("guard"), "{hook}");

    // Recorded: in the incident, the events and the log files.
    let incident = s
        .incidents_of(&name)
        .into_iter()
        .find(|i| i["id"] == id)
        .expect("incident");
    assert_eq!(incident["escalated"], true);
    assert_eq!(incident["escalation"], "terminal:xterm");
    assert_eq!(s.count("escalated", &name), 1);
    let trigger =
        std::fs::read_to_string(s.data().join("logs/claude_trigger.txt")).expect("trigger");
    assert!(
        trigger.contains(&format!("incident:{id} container:{name}")),
        "{trigger}"
    );
    assert!(s.stop_watch());
}

#[test]
fn without_a_terminal_the_files_are_written_and_the_message_says_what_to_set() {
    let mut s = Scenario::new("esc-noterm");
    let (agent, record) = stand_in_agent(s.dir.path());
    let extra = format!(
        "[diagnosis]\nprovider = \"off\"\n[escalation]\nagent_command = \"{}\"\nterminal = \"no-such-terminal\"\n",
        agent.display()
    );
    let (name, id) = leaky_incident(&mut s, &extra);
    let out = s
        .cmd()
        .args(["investigate", &id.to_string()])
        .output()
        .expect("run investigate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no-such-terminal") && stderr.contains("[escalation] terminal"),
        "{stderr}"
    );
    assert!(s
        .data()
        .join(format!("incidents/{id}/incident.md"))
        .exists());
    assert!(s.data().join("logs/claude_monitoring_prompt.txt").exists());
    assert!(!record.exists(), "no agent without a terminal");
    let incident = s
        .incidents_of(&name)
        .into_iter()
        .find(|i| i["id"] == id)
        .expect("incident");
    assert_eq!(incident["escalation"], "files only");

    // No agent at all: the message says what was looked for and how to set it.
    let out = s
        .cmd()
        .env(
            "SICKBAY_CONFIG",
            s.config("[escalation]\nagent_command = \"no-such-agent\"\n"),
        )
        .args(["investigate", &id.to_string()])
        .output()
        .expect("run investigate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("no-such-agent") && stderr.contains("agent_command"),
        "{stderr}"
    );
    let out = s
        .cmd()
        .args(["investigate", "999999"])
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no incident 999999"));
    assert!(s.stop_watch());
}

#[test]
fn a_container_that_stays_unhealthy_is_escalated_exactly_once() {
    let mut s = Scenario::new("esc-auto");
    let name = s.container(
        "web",
        HEALTH_ALWAYS_FAILING,
        "echo 'listen tcp 0.0.0.0:8080: bind: address already in use'; exec sleep 100000",
    );
    s.start_watch("[diagnosis]\nprovider = \"off\"\n");
    wait_until(120, "healing_failed", || {
        s.count("healing_failed", &name) == 1
    });
    wait_until(30, "the escalation", || s.count("escalated", &name) >= 1);
    // However long it stays unhealthy: one escalation for the incident.
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(s.count("escalated", &name), 1);
    let incidents = s.incidents_of(&name);
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["escalated"], true);
    assert_eq!(
        incidents[0]["escalation"], "recorded",
        "auto_launch is off by default"
    );
    let id = incidents[0]["id"].as_i64().expect("id");

    let logs = s.data().join("logs");
    let read = |f: &str| std::fs::read_to_string(logs.join(f)).unwrap_or_default();
    let watcher = read("alert_watcher.log");
    assert_eq!(
        watcher
            .matches(&format!("escalating incident:{id} "))
            .count(),
        1,
        "{watcher}"
    );
    let critical = read("critical_alerts.log");
    assert!(
        critical.contains(&format!("CRITICAL incident:{id} container:{name}")),
        "{critical}"
    );
    assert!(
        critical.contains("restarting_container"),
        "the timeline: {critical}"
    );
    assert!(
        critical.contains("pattern: restart loop"),
        "the analysis: {critical}"
    );
    assert_eq!(read("claude_trigger.txt").matches(&name).count(), 1);
    let md = std::fs::read_to_string(s.data().join(format!("incidents/{id}/incident.md")))
        .expect("incident.md");
    assert!(md.contains("address already in use"), "{md}");
    assert!(
        md.to_lowercase().contains("port"),
        "the offline diagnosis: {md}"
    );
    assert!(s.stop_watch());
}

/// The real Claude Code CLI under exactly the settings `sickbay investigate` wrote: a stand-in
/// of the Messages API asks it to run each destructive command, then a harmless one.
#[test]
fn the_real_claude_cli_refuses_every_destructive_command_under_sickbays_settings() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cli = Command::new("bash")
        .arg(root.join("scripts/claude-cli.sh"))
        .output()
        .expect("run scripts/claude-cli.sh");
    assert!(
        cli.status.success(),
        "installing the Claude Code CLI failed: {}",
        String::from_utf8_lossy(&cli.stderr)
    );
    let cli = String::from_utf8_lossy(&cli.stdout).trim().to_string();

    let mut s = Scenario::new("esc-cli");
    let extra = "[diagnosis]\nprovider = \"off\"\n[escalation]\nterminal = \"no-such-terminal\"\n";
    let (_, id) = leaky_incident(&mut s, extra);
    let out = s
        .cmd()
        .args(["investigate", &id.to_string()])
        .output()
        .expect("run investigate");
    assert_eq!(out.status.code(), Some(1), "no terminal here: files only");
    let settings = s.data().join(format!("incidents/{id}/settings.json"));
    assert!(settings.exists());

    // What is at stake: a volume of this test's own, and a repository with a remote.
    let volume = format!("{}-vol", s.run);
    docker_ok(&[
        "volume",
        "create",
        "--label",
        &format!("sickbay.test={}", s.run),
        &volume,
    ]);
    let work = s.dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    for args in [
        &["init", "-q"][..],
        &["remote", "add", "origin", "/nonexistent/remote.git"],
    ] {
        assert!(Command::new("git")
            .args(args)
            .current_dir(&work)
            .status()
            .expect("git")
            .success());
    }
    let label = format!("label=sickbay.test={}", s.run);
    let plan = [
        format!("docker volume rm {volume}"),
        format!("docker compose -p {} down -v", s.run),
        format!("docker-compose -p {} down --volumes", s.run),
        format!("docker system prune -f --filter {label}"),
        "git push origin HEAD".to_string(),
        "docker ps".to_string(),
    ];
    let port_file = s.dir.path().join("port");
    let record = s.dir.path().join("requests.jsonl");
    let mut server = Command::new("python3")
        .arg(root.join("tests/agent/messages_stand_in.py"))
        .arg(&port_file)
        .arg(&record)
        .args(&plan)
        .spawn()
        .expect("start the Messages API stand-in");
    wait_until(20, "the stand-in's port", || port_file.exists());
    let port = std::fs::read_to_string(&port_file).expect("port");
    let home = s.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let run = Command::new(&cli)
        .args(["-p", "Investigate the incident.", "--settings"])
        .arg(&settings)
        .args(["--output-format", "json", "--allowedTools", "Bash"])
        .current_dir(&work)
        .env("HOME", &home)
        .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{port}"))
        .env("ANTHROPIC_API_KEY", "sk-ant-stand-in")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .output()
        .expect("run the Claude Code CLI");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        run.status.success(),
        "claude -p failed: {}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );

    // What the CLI sent back after each tool call, from its last request.
    let last = std::fs::read_to_string(&record)
        .expect("requests")
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|r| r["body"]["tools"].is_array())
        .expect("a request with tools");
    let mut results = std::collections::HashMap::new();
    for m in last["body"]["messages"].as_array().expect("messages") {
        for c in m["content"].as_array().into_iter().flatten() {
            if c["type"] == "tool_result" {
                let text = match &c["content"] {
                    serde_json::Value::String(t) => t.clone(),
                    other => other.to_string(),
                };
                results.insert(
                    c["tool_use_id"].as_str().unwrap_or("").to_string(),
                    (c["is_error"] == true, text),
                );
            }
        }
    }
    for (k, cmd) in plan.iter().enumerate() {
        let (is_error, text) = results
            .get(&format!("toolu_{k:04}"))
            .unwrap_or_else(|| panic!("no result for `{cmd}`: {results:?}"));
        if cmd == "docker ps" {
            assert!(
                !is_error && text.contains("CONTAINER ID"),
                "`{cmd}` did not run: {text}"
            );
        } else {
            assert!(
                *is_error && (text.contains("sickbay guard") || text.contains("denied")),
                "`{cmd}` was not refused: {text}"
            );
        }
    }
    docker_ok(&["volume", "inspect", &volume]);
    docker_ok(&["volume", "rm", &volume]);
    assert!(s.stop_watch());
}

#[test]
fn commits_made_after_an_escalation_show_on_the_incident_once_it_is_healthy() {
    let mut s = Scenario::new("esc-loop");
    let work = s.dir.path().join("stack");
    std::fs::create_dir_all(&work).expect("work dir");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=Dev", "-c", "user.email=dev@example.test"])
            .args(args)
            .current_dir(&work)
            .output()
            .expect("git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "before the incident"]);
    // Unhealthy until /tmp/sick is removed; restarts do not help (it is made at each start).
    let name = s.container(
        "api",
        HEALTH_UNLESS_TMP_SICK,
        "touch /tmp/sick; exec sleep 100000",
    );
    s.start_watch(&format!(
        "[diagnosis]\nprovider = \"off\"\n[escalation]\nworkdir = \"{}\"\n",
        work.display()
    ));
    wait_until(120, "the escalation", || s.count("escalated", &name) == 1);

    git(&[
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "fix: stop creating /tmp/sick",
    ]);
    docker_ok(&["exec", &name, "rm", "/tmp/sick"]);
    wait_until(60, "the commits on the incident", || {
        s.incidents_of(&name)
            .first()
            .is_some_and(|i| i["commits"].as_array().is_some_and(|c| !c.is_empty()))
    });
    let incident = &s.incidents_of(&name)[0];
    assert!(incident["closed_at"].is_string(), "resolved: {incident}");
    let commits = incident["commits"].as_array().expect("commits");
    assert_eq!(
        commits.len(),
        1,
        "only the commit made since the escalation: {incident}"
    );
    assert_eq!(commits[0]["summary"], "fix: stop creating /tmp/sick");
    assert!(s.stop_watch());
}

#[test]
fn a_fatal_line_in_the_containers_log_escalates_its_open_incident_once() {
    let mut s = Scenario::new("esc-pattern");
    // Unhealthy and never healed (heal=none): an open incident no failed heal will escalate.
    let mut args = vec![
        "--label",
        "sickbay.heal=none",
        "-e",
        "SESSION_SECRET=s3ss10n-Secret-Value",
    ];
    args.extend_from_slice(HEALTH_ALWAYS_FAILING);
    let name = s.container(
        "worker",
        &args,
        // Its log begins with PostgreSQL's refusal (before Sickbay watches it: no trigger),
        // which the diagnosis of the escalation reads.
        "echo \"FATAL:  remaining connection slots are reserved for non-replication superuser connections\"; \
         while [ ! -f /tmp/go ]; do sleep 0.1; done; \
         for i in 1 2 3; do echo \"FATAL: cannot write with s3ss10n-Secret-Value\"; sleep 1; done; \
         exec sleep 100000",
    );
    s.start_watch("[diagnosis]\nprovider = \"off\"\n");
    wait_until(30, "the open incident", || {
        !s.incidents_of(&name).is_empty()
    });
    s.go_when_watched(&name);
    wait_until(30, "the escalation", || s.count("escalated", &name) == 1);
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(
        s.count("escalated", &name),
        1,
        "one escalation, not one per line"
    );
    let watcher = std::fs::read_to_string(s.data().join("logs/alert_watcher.log")).expect("log");
    assert!(watcher.contains("trigger:log_pattern:FATAL"), "{watcher}");
    assert!(watcher.contains("FATAL: cannot write with"), "{watcher}");
    assert!(
        !watcher.contains("s3ss10n-Secret-Value"),
        "a secret in alert_watcher.log"
    );
    // The diagnosis's likely cause is on the incident (the dashboard shows it).
    let incident = &s.incidents_of(&name)[0];
    assert!(
        incident["diagnosis"]
            .as_str()
            .is_some_and(|d| d.contains("PostgreSQL ran out of connection slots")),
        "{incident}"
    );
    // And on the escalation's event, which the notifications read ("Likely cause: ...").
    let escalated = s
        .lines_of(&name)
        .into_iter()
        .find(|l| l.contains("] escalated "))
        .expect("the escalated line");
    let cause = escalated
        .split_once(" likely_cause:")
        .map(|(_, c)| c)
        .unwrap_or_default();
    assert!(
        cause.contains("PostgreSQL ran out of connection slots"),
        "{escalated}"
    );
    assert!(s.stop_watch());
}
