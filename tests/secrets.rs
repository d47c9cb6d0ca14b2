//! Secrets in the configuration never reach the screen or a log: a password in
//! `[storage] postgres_url` and a webhook URL whose path is the secret (Slack, Discord, ntfy
//! topics) show masked (`postgres://sickbay:•••@host:port/•••`, `https://hooks.slack.com/•••`).

use crate::support::common::*;
use crate::support::pg::{PgServer, PASSWORD};

const HOOK_SECRET: &str = "T0SICKBAY/B0SICKBAY/xoxSlackPathSecret";

fn hook() -> String {
    format!("https://hooks.slack.com/services/{HOOK_SECRET}")
}

/// Everything a command printed, both streams.
fn all_output(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the Postgres password shows: {text}"
    );
    for part in HOOK_SECRET.split('/') {
        assert!(!text.contains(part), "the webhook's path shows: {text}");
    }
}

#[test]
fn doctor_never_prints_the_postgres_password_or_the_webhook_path() {
    let pg = PgServer::start();
    pg.create_db("history");
    let s = Scenario::new("secrets-doctor");
    s.config(&format!(
        "[storage]\npostgres_url = \"{}\"\n[notify]\nwebhook_url = \"{}\"\nwebhook_format = \"slack\"\n",
        pg.url("history"),
        hook()
    ));
    let out = s
        .cmd()
        .env("RUST_LOG", "debug")
        .arg("doctor")
        .output()
        .expect("run doctor");
    let text = all_output(&out);
    assert_no_secret(&text);
    assert!(
        text.contains(&format!(
            "Postgres mirror postgres://postgres:•••@127.0.0.1:{}/••• reachable",
            pg.port
        )),
        "doctor shows the mirror masked: {text}"
    );
}

/// Pins a configuration error that echoed the value it refused: the webhook URL pasted on
/// the wrong line was printed whole.
#[test]
fn a_configuration_error_echoing_a_webhook_url_masks_it() {
    let s = Scenario::new("secrets-config");
    s.config(&format!("[notify]\ndesktop = \"{}\"\n", hook()));
    let out = s.cmd().arg("doctor").output().expect("run doctor");
    let text = all_output(&out);
    assert!(text.contains("notify.desktop"), "{text}");
    assert_no_secret(&text);
    assert!(text.contains("https://hooks.slack.com/•••"), "{text}");
}

/// Pins the webhook's failure being logged with its whole URL.
#[test]
fn a_failing_webhook_is_logged_without_its_path() {
    let mut s = Scenario::new("secrets-hook");
    let name = s.container(
        "a",
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3",
    );
    // Nothing listens on port 9 of loopback: every post fails.
    let url = format!("http://127.0.0.1:9/services/{HOOK_SECRET}");
    s.start_watch(&format!(
        "[notify]\nwebhook_url = \"{url}\"\nwebhook_format = \"slack\"\ncoalesce_seconds = 1\n"
    ));
    s.go_when_watched(&name);
    let logs = || {
        let files = std::fs::read_dir(s.data().join("logs"))
            .map(|d| {
                d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect::<String>()
            })
            .unwrap_or_default();
        format!("{files}{}", s.watch_stderr())
    };
    wait_until(30, "the failed post logged", || {
        logs().contains("cannot post a notification")
    });
    let text = logs();
    assert_no_secret(&text);
    assert!(text.contains("http://127.0.0.1:9/•••"), "{text}");
    assert!(s.stop_watch());
}
