//! The command line with good and bad configuration, and with Docker out of reach.

use std::process::Stdio;

use crate::support::common::*;

#[test]
fn a_malformed_config_fails_with_exit_code_2_naming_file_line_and_key() {
    let s = Scenario::new("badcfg");
    let err = refused(
        &s,
        "[monitoring]\ninterval_seconds = 5\n[heal]\nmax_attempts = \"three\"\n",
    );
    let path = s.dir.path().join("refused.toml");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("line 4"), "{err}");
    assert!(err.contains("heal.max_attempts"), "{err}");
}

#[test]
fn an_unknown_key_is_refused_by_name() {
    let s = Scenario::new("typo");
    let err = refused(&s, "[heal]\nmax_atempts = 3\n");
    assert!(
        err.contains("line 2") && err.contains("heal.max_atempts"),
        "{err}"
    );
}

#[test]
fn a_missing_config_file_named_on_the_command_line_is_an_error() {
    let s = Scenario::new("nocfg");
    let path = s.dir.path().join("nowhere.toml");
    let out = s
        .cmd()
        .args(["--config", path.to_str().expect("utf-8"), "doctor"])
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(0));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("nowhere.toml"), "{all}");
}

#[test]
fn with_no_config_file_at_all_the_defaults_apply() {
    let s = Scenario::new("defaults");
    let out = s
        .cmd()
        .env_remove("SICKBAY_CONFIG")
        .env("HOME", s.dir.path())
        .env("XDG_CONFIG_HOME", s.dir.path().join("config"))
        .arg("doctor")
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("using the defaults"), "{text}");
    assert!(out.status.success(), "{text}");
}

#[test]
fn the_shipped_example_config_passes_doctor() {
    let s = Scenario::new("example");
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sickbay.example.toml");
    let out = s
        .cmd()
        .args(["--config", example.to_str().expect("utf-8"), "doctor"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with("[ok  ] configuration")),
        "{text}"
    );
}

#[test]
fn an_unreachable_docker_gives_grey_and_no_crash() {
    let s = Scenario::new("nodocker");
    s.config("");
    let out = s
        .cmd()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .args(["status", "--json"])
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["verdict"], "grey");
    assert_eq!(v["docker_reachable"], false);

    let mut child = s
        .cmd()
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .arg("watch")
        .stderr(Stdio::null())
        .spawn()
        .expect("start watch");
    wait_until(30, "docker_unreachable", || {
        s.log().contains("docker_unreachable")
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(child.try_wait().expect("wait").is_none(), "still running");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let st = child.wait().expect("exit");
    assert!(st.success(), "clean exit on SIGTERM: {st:?}");
    assert!(s.log().trim_end().ends_with("monitor_stopped"));
    assert_eq!(
        s.log().matches("docker_unreachable").count(),
        1,
        "said once, not per retry"
    );
}

#[test]
fn an_invalid_alert_pattern_is_refused_naming_the_pattern_and_line() {
    let s = Scenario::new("badpattern");
    let err = refused(
        &s,
        "[alerts]\nfailure_threshold = 2\npatterns = [\"FATAL\", \"(unclosed\"]\n",
    );
    assert!(
        err.contains("line 3") && err.contains("alerts.patterns"),
        "{err}"
    );
    assert!(
        err.contains("`(unclosed` is not a valid regular expression"),
        "{err}"
    );
    let err = refused(&s, "[notify]\nwebhook_url = \"ftp://example.test/x\"\n");
    assert!(
        err.contains("line 2") && err.contains("notify.webhook_url"),
        "{err}"
    );
}

/// Runs `status` with the configuration `text`; asserts exit code 2 and returns stderr.
fn refused(s: &Scenario, text: &str) -> String {
    let path = s.dir.path().join("refused.toml");
    std::fs::write(&path, text).expect("write");
    let out = s
        .cmd()
        .args(["--config", path.to_str().expect("utf-8"), "status"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{text}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}
