//! Shared test support: a real `sickbay watch` under test, its data folder, and the test's
//! own containers on the real Docker engine (built from the local busybox image).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sickbay");
pub const IMAGE: &str = "sickbay-test:latest";

/// Health check flags: healthy unless `/run/sick` exists (`/run` is a tmpfs, fresh at each
/// start).
pub const HEALTH_NOT_SICK: &[&str] = &[
    "--tmpfs",
    "/run",
    "--health-cmd",
    "test ! -f /run/sick",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
];

/// Health check flags: healthy unless `/tmp/sick` exists (in the container's own filesystem:
/// it survives restarts).
pub const HEALTH_UNLESS_TMP_SICK: &[&str] = &[
    "--health-cmd",
    "test ! -f /tmp/sick",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
];

/// Health check flags: unhealthy one second after start, whatever happens.
pub const HEALTH_ALWAYS_FAILING: &[&str] = &[
    "--health-cmd",
    "false",
    "--health-interval",
    "1s",
    "--health-retries",
    "1",
];

/// Builds the test image once per test run.
pub fn image() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let st = Command::new("bash")
            .arg(root.join("scripts/test-image.sh"))
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/test-image.sh");
        assert!(st.success(), "scripts/test-image.sh failed");
    });
}

/// Writes an executable script (a stand-in for a program the test cannot run for real).
pub fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write the script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A name unique to this test run.
pub fn unique(prefix: &str) -> String {
    format!(
        "sbt-{prefix}-{}-{:06x}",
        std::process::id(),
        fastrand::u32(..0xff_ffff)
    )
}

pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run docker")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn inspect(name: &str, format: &str) -> String {
    docker_ok(&["inspect", "-f", format, name])
}

/// Polls `cond` every 200 ms until it holds or `secs` pass; the machine is shared, so
/// these limits are generous and never the thing under test.
pub fn wait_until(secs: u64, what: &str, cond: impl FnMut() -> bool) {
    if !wait_for(secs, cond) {
        panic!("timed out after {secs} s waiting for: {what}");
    }
}

/// Whether `cond` came true within `secs` seconds (for a caller that explains a time-out).
pub fn wait_for(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// A test's world: its label, its containers (removed on drop) and its data folder.
pub struct Scenario {
    pub run: String,
    pub dir: tempfile::TempDir,
    containers: Vec<String>,
    watch: Option<Child>,
    /// `[heal]` keys of the test's own, in place of the fast defaults.
    heal: Vec<(String, String)>,
    /// The engine Sickbay talks to (`DOCKER_HOST`); `None`: the machine's default.
    docker_host: Option<String>,
}

impl Scenario {
    pub fn new(prefix: &str) -> Self {
        image();
        Self {
            run: unique(prefix),
            dir: tempfile::tempdir().expect("tempdir"),
            containers: Vec::new(),
            watch: None,
            heal: Vec::new(),
            docker_host: None,
        }
    }

    /// Sets a `[heal]` key for every config written from now on (a TOML value: `1`, `"x"`).
    pub fn set_heal(&mut self, key: &str, value: &str) {
        self.heal.retain(|(k, _)| k != key);
        self.heal.push((key.to_string(), value.to_string()));
    }

    /// Points the `sickbay` commands this scenario runs at another engine (`DOCKER_HOST`).
    pub fn use_docker_host(&mut self, host: &str) {
        self.docker_host = Some(host.to_string());
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A config for fast tests: 2 s sweeps, only this scenario's containers.
    pub fn config(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("sickbay.toml");
        let mut heal: Vec<(String, String)> = [
            ("max_attempts", "2"),
            ("backoff_initial_seconds", "1"),
            ("backoff_max_seconds", "2"),
            ("verify_seconds", "4"),
        ]
        .iter()
        .filter(|(k, _)| !self.heal.iter().any(|(o, _)| o == k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        heal.extend(self.heal.iter().cloned());
        let heal: String = heal.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let text = format!(
            "[monitoring]\ninterval_seconds = 2\nlabel_selector = [\"sickbay.test={}\"]\n\
             [heal]\n{heal}{extra}\n",
            self.run
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Writes a config with `extra` that Sickbay must refuse: `status` exits with the
    /// configuration error's code (2); its message is returned.
    pub fn refused_config(&self, extra: &str) -> String {
        self.config(extra);
        let out = self.cmd().arg("status").output().expect("run sickbay");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "refused with code 2: {err}");
        err
    }

    /// Starts a container of this scenario: `args` go to `docker run` before the image.
    pub fn container(&mut self, suffix: &str, args: &[&str], cmd: &str) -> String {
        let name = format!("{}-{suffix}", self.run);
        let label = format!("sickbay.test={}", self.run);
        let mut all = vec![
            "run",
            "-d",
            "--name",
            &name,
            "--label",
            &label,
            "--label",
            "sickbay.stop_timeout=1",
        ];
        all.extend_from_slice(args);
        all.extend_from_slice(&[IMAGE, "sh", "-c", cmd]);
        docker_ok(&all);
        self.containers.push(name.clone());
        name
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("SICKBAY_DATA_DIR", self.data())
            .env("SICKBAY_CONFIG", self.dir.path().join("sickbay.toml"))
            .env_remove("DOCKER_HOST")
            .env(
                "RUST_LOG",
                std::env::var("SICKBAY_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        if let Some(host) = &self.docker_host {
            c.env("DOCKER_HOST", host);
        }
        c
    }

    pub fn start_watch(&mut self, extra_config: &str) {
        self.spawn_watch(extra_config);
        wait_until(30, "monitor_started in monitor.log", || {
            self.log().contains("monitor_started")
        });
    }

    /// Starts `watch` without waiting for anything.
    pub fn spawn_watch(&mut self, extra_config: &str) {
        self.config(extra_config);
        let child = self
            .cmd()
            .arg("watch")
            .stdout(Stdio::null())
            // A file, not a pipe nobody reads: a full pipe would block the logging thread.
            .stderr(
                std::fs::File::create(self.dir.path().join("watch.stderr")).expect("stderr file"),
            )
            .spawn()
            .expect("start sickbay watch");
        self.watch = Some(child);
    }

    /// Stops `watch` with SIGTERM and returns its exit status success.
    pub fn stop_watch(&mut self) -> bool {
        let Some(mut child) = self.watch.take() else {
            return true;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills `watch` with SIGKILL: no chance to finish anything.
    pub fn kill_watch(&mut self) {
        if let Some(mut child) = self.watch.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// What `watch` wrote to stderr (its diagnostics), for a failure's message.
    pub fn watch_stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("watch.stderr")).unwrap_or_default()
    }

    /// Sends `signal` (`HUP`, ...) to `watch`.
    pub fn signal_watch(&self, signal: &str) {
        let pid = self.watch.as_ref().expect("watch runs").id().to_string();
        let _ = Command::new("kill")
            .args([format!("-{signal}").as_str(), &pid])
            .status();
    }

    /// Whether `watch` is still running.
    pub fn watch_running(&mut self) -> bool {
        self.watch
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Runs `sql` on the scenario's SQLite history and returns the first column of the first row.
    pub fn sqlite_i64(&self, sql: &str) -> i64 {
        let conn =
            rusqlite::Connection::open(self.data().join("sickbay.db")).expect("open sickbay.db");
        conn.busy_timeout(Duration::from_secs(10))
            .expect("busy timeout");
        conn.query_row(sql, [], |r| r.get(0))
            .expect("query sickbay.db")
    }

    /// Once `watch` has sampled `container` (so it follows its events), creates `/tmp/go` in
    /// it: the cue for containers written to wait for it.
    pub fn go_when_watched(&self, container: &str) {
        self.wait_sampled(container);
        docker_ok(&["exec", container, "touch", "/tmp/go"]);
    }

    /// Waits until `watch` has recorded a sample of `container`: it is tracked.
    pub fn wait_sampled(&self, container: &str) {
        wait_until(60, "the container sampled by watch", || {
            self.sqlite_i64(&format!(
                "SELECT COUNT(*) FROM monitor_health_metrics WHERE container_name = '{container}'"
            )) > 0
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data().join("logs/monitor.log")).unwrap_or_default()
    }

    /// The lines of monitor.log that mention `container` (exactly).
    pub fn lines_of(&self, container: &str) -> Vec<String> {
        let needle = format!("container:{container}");
        self.log()
            .lines()
            .filter(|l| l.split_whitespace().any(|w| w == needle))
            .map(str::to_string)
            .collect()
    }

    pub fn count(&self, event: &str, container: &str) -> usize {
        self.lines_of(container)
            .iter()
            .filter(|l| l.split_whitespace().nth(1) == Some(event))
            .count()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cmd().args(args).output().expect("run sickbay");
        assert!(
            out.status.success(),
            "sickbay {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON output")
    }

    /// `container`'s line in `sickbay status --json`, once the watcher's picture has it.
    pub fn status_of(&self, container: &str) -> serde_json::Value {
        let mut line = None;
        wait_until(30, "the container in the watcher's status", || {
            line = self.json(&["status", "--json"])["containers"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["name"] == container).cloned());
            line.is_some()
        });
        line.expect("in status")
    }

    pub fn incidents_of(&self, container: &str) -> Vec<serde_json::Value> {
        self.json(&["incidents", "--json", "--limit", "100"])
            .as_array()
            .expect("a list")
            .iter()
            .filter(|i| i["container"] == container)
            .cloned()
            .collect()
    }
}

impl Drop for Scenario {
    fn drop(&mut self) {
        self.stop_watch();
        if !self.containers.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(self.containers.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}
