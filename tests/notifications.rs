//! Webhook notifications from a live `sickbay watch`: a receiver on loopback records the posts.
//! Two containers failing together make one message; the ntfy and Slack shapes are what those
//! services accept. A webhook set while `watch` runs is used without a restart.

use crate::support::common::*;
use crate::support::http_stand_in::{HttpStandIn, Reply};

fn failing_pair(s: &mut Scenario) -> (String, String) {
    let a = s.container(
        "a",
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3",
    );
    let b = s.container(
        "b",
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 4",
    );
    (a, b)
}

#[test]
fn containers_failing_together_make_one_webhook_post() {
    let receiver = HttpStandIn::start(vec![Reply::json(200, serde_json::json!({}))]);
    let mut s = Scenario::new("hook");
    let (a, b) = failing_pair(&mut s);
    s.start_watch(&format!(
        "[notify]\nwebhook_url = \"{}/hook\"\ncoalesce_seconds = 3\n",
        receiver.base_url
    ));
    s.go_when_watched(&a);
    s.go_when_watched(&b);
    wait_until(30, "a post", || !receiver.requests().is_empty());
    std::thread::sleep(std::time::Duration::from_secs(5));
    let posts = receiver.requests();
    assert_eq!(posts.len(), 1, "coalesced into one: {posts:?}");
    let body = posts[0].json();
    assert_eq!(posts[0].path, "/hook");
    assert_eq!(body["source"], "sickbay");
    assert_eq!(body["failure"], true);
    let names: Vec<&str> = body["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n["container"].as_str())
        .collect();
    assert!(
        names.contains(&a.as_str()) && names.contains(&b.as_str()),
        "{body}"
    );
    assert!(
        body["title"]
            .as_str()
            .unwrap_or("")
            .contains("2 containers"),
        "{body}"
    );
    assert!(s.stop_watch());
}

#[test]
fn ntfy_and_slack_get_their_own_shapes() {
    for format in ["ntfy", "slack"] {
        let receiver = HttpStandIn::start(vec![Reply::json(200, serde_json::json!({}))]);
        let mut s = Scenario::new(&format!("hook-{format}"));
        let name = s.container(
            "a",
            &["--label", "sickbay.heal=none"],
            "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3",
        );
        s.start_watch(&format!(
            "[notify]\nwebhook_url = \"{}/t\"\nwebhook_format = \"{format}\"\ncoalesce_seconds = 1\n",
            receiver.base_url
        ));
        s.go_when_watched(&name);
        wait_until(30, "a post", || !receiver.requests().is_empty());
        let post = &receiver.requests()[0];
        if format == "ntfy" {
            assert!(post.body.contains(&name), "{}", post.body);
            assert!(post.headers["title"].contains(&name), "{:?}", post.headers);
            assert_eq!(post.headers["priority"], "high");
        } else {
            let text = post.json()["text"].as_str().unwrap_or("").to_string();
            assert!(
                text.contains(&format!("{name} crashed (exit code 3)"))
                    && text.contains("Sickbay only watches it"),
                "{text}"
            );
        }
        assert!(s.stop_watch());
    }
}

#[test]
fn a_webhook_set_while_watch_runs_is_used_without_a_restart() {
    let receiver = HttpStandIn::start(vec![Reply::json(200, serde_json::json!({}))]);
    let mut s = Scenario::new("hook-live");
    let name = s.container(
        "a",
        &["--label", "sickbay.heal=none"],
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 3",
    );
    s.start_watch("");
    let mended = format!(
        "[notify]\nwebhook_url = \"{}/hook\"\ncoalesce_seconds = 1\n\
         [retention]\nlog_keep = 7\n",
        receiver.base_url
    );
    // A mistake in the file changes nothing, says where, and stops nothing. (Padded to the
    // mended text's length, for what follows.)
    let broken = "[notify]\ncoalesce_seconds = \"soon\"\n";
    let padding = "#".repeat(mended.len() - broken.len() - 1);
    let path = s.config(&format!("{broken}{padding}\n"));
    wait_until(15, "the refusal in the diagnostics", || {
        s.watch_stderr().contains("the settings in use are kept")
    });
    let err = s.watch_stderr();
    assert!(
        err.contains("sickbay.toml") && err.contains("coalesce_seconds"),
        "{err}"
    );
    // Mended, with a webhook, its size and time the broken one's (as a tool that keeps file
    // times writes it): looking at the file finds no change; `SIGHUP` (a service's reload)
    // reads it.
    let text = std::fs::read_to_string(&path).expect("config");
    let before = std::fs::metadata(&path)
        .expect("config")
        .modified()
        .expect("mtime");
    let prefix = &text[..text.find(broken).expect("the broken part")];
    let new = format!("{prefix}{mended}\n");
    assert_eq!(new.len(), text.len());
    std::fs::write(&path, &new).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&path)
        .and_then(|f| f.set_modified(before))
        .expect("keep the file's time");
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(
        !s.watch_stderr().contains("[retention] take effect"),
        "read without being asked: {}",
        s.watch_stderr()
    );
    s.signal_watch("HUP");
    // The reading says what waits for a restart.
    wait_until(5, "the new settings read on SIGHUP", || {
        s.watch_stderr()
            .contains("[retention] take effect when Sickbay restarts")
    });
    assert!(
        s.watch_running(),
        "SIGHUP ends nothing: {}",
        s.watch_stderr()
    );
    s.go_when_watched(&name);
    wait_until(30, "a post to the webhook set meanwhile", || {
        !receiver.requests().is_empty()
    });
    let body = receiver.requests()[0].json();
    assert_eq!(body["failure"], true, "{body}");
    assert!(
        body["title"].as_str().unwrap_or("").contains(&name),
        "{body}"
    );
    assert!(s.stop_watch());
}
