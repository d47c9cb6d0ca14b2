//! Sickbay as a systemd service: the unit `sickbay service install` writes passes
//! `systemd-analyze verify`, and its command line, run as written (its `Environment=` and
//! `ExecStart=`), watches this scenario's containers and stops cleanly on systemd's `SIGTERM`.
//! systemd itself is not the machine's init here: `systemctl` is a stand-in on `PATH` that
//! records what it was asked.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::common::*;

/// One systemd word: `"..."` with its escapes, `%%` written once, and `$$` too on a command
/// line (`exec`; `Environment=` expands no `$`).
fn unquoted(word: &str, exec: bool) -> String {
    let inner = word
        .strip_prefix('"')
        .and_then(|w| w.strip_suffix('"'))
        .unwrap_or(word);
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            '%' if chars.peek() == Some(&c) => {
                chars.next();
                out.push(c);
            }
            '$' if exec && chars.peek() == Some(&c) => {
                chars.next();
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A command line of systemd's: words split at spaces outside quotes.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in line.chars() {
        if escaped {
            word.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                word.push(c);
                escaped = true;
            }
            '"' => {
                word.push(c);
                quoted = !quoted;
            }
            ' ' if !quoted => {
                if !word.is_empty() {
                    out.push(unquoted(&std::mem::take(&mut word), true));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(unquoted(&word, true));
    }
    out
}

/// `systemd-analyze verify` of a unit file, without its man page (not installed from source).
fn verify(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("run systemd-analyze (Debian's systemd package)");
    assert!(
        out.status.success(),
        "systemd-analyze verify {}: {}{}",
        unit.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_system_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["service", "unit", "--system"])
        .output()
        .expect("run sickbay");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("SupplementaryGroups=docker\n"), "{text}");
    let unit = dir.path().join("sickbay.service");
    std::fs::write(&unit, &text).expect("write unit");
    verify(&unit);
    // The packages' unit is this one, for /usr/bin/sickbay.
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/sickbay.service"),
    )
    .expect("packaging/sickbay.service");
    let exe = std::fs::canonicalize(BIN).expect("the binary");
    assert_eq!(
        shipped,
        text.replace(&exe.display().to_string(), "/usr/bin/sickbay")
    );
}

#[test]
fn a_user_service_is_installed_runs_as_written_and_is_removed() {
    let mut s = Scenario::new("svc");
    let web = s.container("web", HEALTH_NOT_SICK, "sleep 100000");
    s.config("");
    let xdg = s.dir.path().join("xdg");
    // systemctl's stand-in: records its arguments, succeeds.
    let bin = s.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let calls = s.dir.path().join("systemctl.calls");
    write_script(
        &bin.join("systemctl"),
        &format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\necho 'active'\n",
            calls.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let service = |args: &[&str]| {
        s.cmd()
            .arg("service")
            .args(args)
            .env("XDG_CONFIG_HOME", &xdg)
            .env("PATH", &path)
            .output()
            .expect("run sickbay service")
    };

    let out = service(&["install"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit = xdg.join("systemd/user/sickbay.service");
    assert!(said.contains(&unit.display().to_string()), "{said}");
    let recorded = std::fs::read_to_string(&calls).expect("systemctl was called");
    assert_eq!(
        recorded,
        "--user daemon-reload\n--user enable --now sickbay.service\n"
    );
    let text = std::fs::read_to_string(&unit).expect("unit written");
    verify(&unit);

    // The unit's command line as written: its environment and ExecStart.
    let mut env: Vec<(String, String)> = Vec::new();
    let mut exec = Vec::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("Environment=") {
            let (k, v) = unquoted(v, false)
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .expect("NAME=value");
            env.push((k, v));
        } else if let Some(v) = line.strip_prefix("ExecStart=") {
            exec = words(v);
        }
    }
    let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(names, ["SICKBAY_CONFIG", "SICKBAY_DATA_DIR"], "{text}");
    assert_eq!(exec.last().map(String::as_str), Some("watch"), "{text}");
    let mut child = Command::new(&exec[0])
        .args(&exec[1..])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the unit's ExecStart");
    // Its own picture (the watcher's status file), with the scenario's container healthy.
    let watched = wait_for(30, || {
        s.data().join("status.json").exists()
            && s.log().contains("monitor_started")
            && s.status_of(&web)["health"] == "healthy"
    });
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(watched, "the service watched {web}: {}", s.status_of(&web));
    assert!(
        exit.is_some_and(|st| st.success()),
        "stopped cleanly by SIGTERM: {exit:?}"
    );
    assert!(s.log().contains("monitor_stopped"), "{}", s.log());

    let out = service(&["status"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!("unit: {}", unit.display())) && said.contains("active"),
        "the unit file and systemd's word: {said}"
    );
    let recorded = std::fs::read_to_string(&calls).expect("calls");
    assert!(
        recorded.ends_with("--user status --no-pager --lines=5 sickbay.service\n"),
        "{recorded}"
    );
    let out = service(&["uninstall"]);
    assert!(out.status.success());
    assert!(!unit.exists(), "the unit is removed");
    assert!(
        s.dir.path().join("sickbay.toml").exists(),
        "the settings stay"
    );
    let recorded = std::fs::read_to_string(&calls).expect("calls");
    assert!(
        recorded.ends_with("--user disable --now sickbay.service\n--user daemon-reload\n"),
        "{recorded}"
    );
    let out = service(&["status"]);
    assert_eq!(out.status.code(), Some(3), "not installed: exit code 3");
}
