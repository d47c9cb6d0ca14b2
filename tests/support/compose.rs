//! A compose project of a test's own: its file in the scenario's folder, its containers by
//! service, compose run on it (the `docker compose` plugin, else `docker-compose`), and taken
//! down with its volumes (they are the test's) when the test ends, also when it fails.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use super::common::{docker_ok, Scenario, IMAGE};

/// A service's shell command that runs until it is stopped.
pub const UNTIL_STOPPED: &str = "trap 'exit 0' TERM; while true; do sleep 1; done";

/// A compose service of the test image running `sh -c <command>` (no `"` in it), stopped with
/// a second's grace, labelled for the scenario; `extra`: more of its keys, indented four
/// spaces as compose wants them.
pub fn service(name: &str, run: &str, command: &str, extra: &str) -> String {
    format!(
        r#"  {name}:
    image: {IMAGE}
    command: ["sh", "-c", "{command}"]
    stop_grace_period: 1s
    labels:
      sickbay.test: "{run}"
      sickbay.stop_timeout: "1"
{extra}"#
    )
}

pub struct Project {
    pub file: PathBuf,
    pub project: String,
}

impl Project {
    /// A project named after the scenario, whose compose file is `text` (`compose.yml` in the
    /// scenario's folder).
    pub fn write(s: &Scenario, text: &str) -> Self {
        let file = s.dir.path().join("compose.yml");
        std::fs::write(&file, text).expect("write compose.yml");
        Self {
            file,
            project: s.run.clone(),
        }
    }

    /// `[stack]` for the config: the file by a path relative to the config file.
    pub fn config(&self) -> String {
        format!(
            "[stack]\ncompose_file = \"compose.yml\"\nproject_name = \"{}\"\n",
            self.project
        )
    }

    /// The name of a container of the project (all states), by service.
    pub fn container(&self, service: &str) -> Option<String> {
        let out = docker_ok(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
            "--format",
            "{{.Names}}",
        ]);
        out.lines().next().map(str::to_string)
    }

    /// Runs compose on the project with `args` (after `-p` and `-f`).
    pub fn compose(&self, args: &[&str]) -> Output {
        let file = self.file.display().to_string();
        let mut all = vec!["-p", &self.project, "-f", &file];
        all.extend_from_slice(args);
        let (program, prefix): (&str, &[&str]) = if has_plugin() {
            ("docker", &["compose"])
        } else {
            ("docker-compose", &[])
        };
        Command::new(program)
            .args(prefix)
            .args(&all)
            .output()
            .expect("run compose")
    }

    /// [`Project::compose`] that must succeed.
    pub fn compose_ok(&self, args: &[&str]) {
        let out = self.compose(args);
        assert!(
            out.status.success(),
            "compose {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Whether this machine has compose as Docker's plugin (`docker compose`).
fn has_plugin() -> bool {
    static PLUGIN: OnceLock<bool> = OnceLock::new();
    *PLUGIN.get_or_init(|| {
        Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "-t", "1"]);
    }
}
