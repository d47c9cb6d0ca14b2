//! `[metrics] listen`: a real `sickbay watch` heals a real container, and the test scrapes
//! what Prometheus would.

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::support::common::{docker_ok, inspect, wait_until, Scenario, HEALTH_NOT_SICK};

/// A free port on the loopback interface (bound and let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The answer to `GET path`, or `None` while nothing listens.
fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[test]
fn the_metrics_endpoint_counts_what_a_heal_did() {
    let mut s = Scenario::new("metrics");
    let port = free_port();
    let web = s.container(
        "web",
        HEALTH_NOT_SICK,
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    );
    s.start_watch(&format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n"));
    s.wait_sampled(&web);
    let mut text = String::new();
    wait_until(30, "the stack green in the metrics", || {
        text = get(port, "/metrics").unwrap_or_default();
        has_line(&text, "sickbay_containers{verdict=\"green\"} 1")
    });
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    assert!(
        has_line(&text, "sickbay_event_stream_connected 1"),
        "{text}"
    );
    assert!(
        has_line(&text, "sickbay_incidents_opened_total 0"),
        "{text}"
    );

    docker_ok(&["exec", &web, "touch", "/run/sick"]);
    wait_until(60, "web healed", || s.count("container_healthy", &web) >= 1);
    wait_until(30, "the heal in the metrics", || {
        text = get(port, "/metrics").unwrap_or_default();
        has_line(
            &text,
            &format!("sickbay_restarts_total{{container=\"{web}\",result=\"done\"}} 1"),
        )
    });
    for line in [
        "sickbay_incidents_opened_total 1",
        "sickbay_unhealthy_to_action_seconds_count 1",
        "sickbay_unhealthy_to_action_seconds_bucket{le=\"+Inf\"} 1",
        "sickbay_containers{verdict=\"green\"} 1",
    ] {
        assert!(has_line(&text, line), "{line} in:\n{text}");
    }
    assert_eq!(inspect(&web, "{{.State.Health.Status}}"), "healthy");
    let other = get(port, "/").expect("an answer");
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
    assert!(s.stop_watch(), "watch exits cleanly");
}

#[test]
fn a_metrics_address_that_is_not_one_is_refused_by_name() {
    let s = Scenario::new("metrics-bad");
    let err = s.refused_config("[metrics]\nlisten = \"localhost\"\n");
    assert!(err.contains("metrics.listen"), "{err}");
    assert!(err.contains("127.0.0.1:9464"), "{err}");
}
