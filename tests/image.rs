//! The container image (`Dockerfile`, `scripts/image.sh`), built from this build's headless
//! binary and run as its README says: the Docker socket mounted, its data in a volume. It heals
//! a container of this test, keeps the history in the volume, reports itself healthy, never
//! watches its own container (labelled in scope on purpose, and in the network namespace of the
//! container it heals, whose hostname file it then sees), and its stop touches nothing else.

use std::path::Path;
use std::process::Command;

use crate::support::common::*;

/// What the test made outside the scenario: the image's container, its volume, the image.
struct Made {
    container: String,
    volume: String,
    image: String,
}

impl Drop for Made {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.container]);
        let _ = docker(&["volume", "rm", "-f", &self.volume]);
        let _ = docker(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn the_image_heals_keeps_its_history_in_the_volume_and_leaves_itself_alone() {
    let mut s = Scenario::new("img");
    let web = s.container("web", HEALTH_NOT_SICK, "sleep 100000");
    // Its settings, in a folder mounted where the image reads them.
    s.config("");
    let made = Made {
        container: format!("{}-sickbay", s.run),
        volume: format!("{}-data", s.run),
        image: format!("sickbay-image-test:{}", s.run),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("bash")
        .arg(root.join("scripts/image.sh"))
        .args(["--binary", BIN, "--tag", &made.image])
        .output()
        .expect("run scripts/image.sh");
    assert!(
        built.status.success(),
        "scripts/image.sh: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let label = format!("sickbay.test={}", s.run);
    let settings = format!("{}:/etc/sickbay:ro", s.dir.path().display());
    let data = format!("{}:/data", made.volume);
    // In scope of its own selector, and opted in over the image's own `sickbay.enable=false`:
    // only recognising itself keeps it from watching itself.
    docker_ok(&[
        "run",
        "-d",
        "--name",
        &made.container,
        "--label",
        &label,
        "--label",
        "sickbay.enable=true",
        // In web's network namespace (a sidecar): the hostname file mounted is web's, and
        // Sickbay must still tell itself from web.
        "--network",
        &format!("container:{web}"),
        "--health-interval",
        "1s",
        "--health-start-period",
        "30s",
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &data,
        "-v",
        &settings,
        &made.image,
    ]);
    let in_image = |args: &[&str]| -> String {
        let mut all = vec!["exec", made.container.as_str(), "/usr/bin/sickbay"];
        all.extend_from_slice(args);
        let out = docker(&all);
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    wait_until(60, "the image's own health check passing", || {
        inspect(&made.container, "{{.State.Health.Status}}") == "healthy"
    });
    wait_until(30, "the web container watched", || {
        in_image(&["status", "--json"]).contains(&format!("\"name\": \"{web}\""))
    });
    let status = in_image(&["status", "--json"]);
    assert!(
        !status.contains(&made.container),
        "it watches itself: {status}"
    );

    // A failing check: healed by a restart (/run is fresh after it), recorded.
    let started = inspect(&web, "{{.State.StartedAt}}");
    docker_ok(&["exec", &web, "touch", "/run/sick"]);
    wait_until(60, "web restarted and healthy", || {
        inspect(&web, "{{.State.StartedAt}}") != started
            && inspect(&web, "{{.State.Health.Status}}") == "healthy"
    });

    // Stopped: it ends cleanly and the other container is as it was.
    let web_started = inspect(&web, "{{.State.StartedAt}}");
    docker_ok(&["stop", "-t", "20", &made.container]);
    assert_eq!(inspect(&made.container, "{{.State.ExitCode}}"), "0");
    assert_eq!(inspect(&web, "{{.State.Status}}"), "running");
    assert_eq!(inspect(&web, "{{.State.StartedAt}}"), web_started);

    // The history is in the volume: read it with the image itself.
    let out = docker(&[
        "run",
        "--rm",
        "-v",
        &data,
        "--entrypoint",
        "/usr/bin/sickbay",
        &made.image,
        "incidents",
        "--json",
    ]);
    let incidents: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("incidents --json from the volume");
    let healed = incidents
        .as_array()
        .expect("a list")
        .iter()
        .find(|i| i["container"] == web.as_str())
        .unwrap_or_else(|| panic!("no incident of {web}: {incidents}"));
    assert_eq!(healed["status"], "resolved", "{healed}");
    assert_eq!(healed["auto_healed"], true, "{healed}");
    assert_eq!(healed["actions"][0]["outcome"], "healed", "{healed}");
    // Nor in its log (read with the test image: the image has no shell).
    let log = docker_ok(&[
        "run",
        "--rm",
        "-v",
        &data,
        IMAGE,
        "cat",
        "/data/logs/monitor.log",
    ]);
    assert!(log.contains(&format!("container:{web}")), "{log}");
    assert!(
        !log.contains(&made.container),
        "its own container is in its log: {log}"
    );
}
