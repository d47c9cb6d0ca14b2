//! Webhook notifications from a live `sickbay watch`: a receiver on loopback records the posts.
//! Two containers failing together make one message; the ntfy and Slack shapes are what those
//! services accept.

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
