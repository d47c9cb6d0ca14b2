//! A Docker daemon owned by one test, for outages and daemon restarts: the machine's own
//! daemon and its containers are never stopped or touched.
//!
//! It runs in a network namespace of its own (`nsenter --net`, so `--bridge none` cannot
//! remove the machine's `docker0`), with its own config file (`{}`: the machine's
//! `daemon.json` would set a second `data-root`), data root, exec root, pid file and socket,
//! the `vfs` storage driver (no kernel or FUSE overlay needed) and `--live-restore`, so its
//! containers keep running while it is stopped. Dropping it removes its containers, stops
//! it, unmounts what it left under its folders, deletes the namespace and the folders.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::IMAGE;

/// How long a start may take before the test gives up with the daemon's log.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a stop (SIGTERM) may take before the daemon is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// Whether this process may create network namespaces and run a daemon (root). Prints why
/// not, for a test that then skips.
pub fn can_run() -> bool {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if uid != "0" {
        eprintln!(
            "SKIPPED: a private Docker daemon needs root (network namespace, dockerd); uid is {uid:?}"
        );
        return false;
    }
    true
}

pub struct PrivateDocker {
    dir: tempfile::TempDir,
    netns: String,
    daemon: Option<Child>,
    containers: Vec<String>,
}

impl PrivateDocker {
    /// Starts a daemon of the test's own and loads the busybox test image into it.
    pub fn start(prefix: &str) -> Self {
        let netns = super::common::unique(prefix);
        // Short paths: the socket's path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("sbd-")
            .tempdir_in("/tmp")
            .expect("temp folder for the private daemon");
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("write daemon.json");
        for sub in ["data", "exec"] {
            std::fs::create_dir(dir.path().join(sub)).expect("daemon folders");
        }
        let st = Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .expect("run ip netns add");
        assert!(st.success(), "ip netns add {netns} failed");
        let mut d = Self {
            dir,
            netns,
            daemon: None,
            containers: Vec::new(),
        };
        d.start_daemon();
        d.load_image();
        d
    }

    /// `unix://…/d.sock`, for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.path().join("d.sock").display())
    }

    /// A folder on the host for the test's files (bind-mounted into containers).
    pub fn folder(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::create_dir_all(&p).expect("create folder");
        p
    }

    /// The daemon's own log (its stdout and stderr), for a failure's message.
    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    /// `docker` against this daemon only.
    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", self.host())
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run docker")
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} (private daemon) failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn inspect(&self, name: &str, format: &str) -> String {
        self.docker_ok(&["inspect", "-f", format, name])
    }

    /// Starts a container named `name` (removed on drop): `args` go to `docker run` before
    /// the image, `cmd` to `sh -c`. It has no network (the daemon has no bridge).
    pub fn run(&mut self, name: &str, args: &[&str], cmd: &str) {
        let mut all = vec!["run", "-d", "--name", name, "--network", "none"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[IMAGE, "sh", "-c", cmd]);
        self.containers.push(name.to_string());
        self.docker_ok(&all);
    }

    /// Freezes the daemon (SIGSTOP): every API call to it hangs, as with a daemon that
    /// stopped answering. `thaw` (and drop) undo it.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(child) = &self.daemon {
            // nsenter execs dockerd: the child is the daemon.
            let _ = Command::new("kill")
                .args([sig, &child.id().to_string()])
                .status();
        }
    }

    pub fn running(&self) -> bool {
        self.daemon.is_some()
    }

    /// Starts the daemon (again, with the same data) and waits until it answers.
    pub fn start_daemon(&mut self) {
        assert!(
            self.daemon.is_none(),
            "the private daemon is already running"
        );
        if let Err(e) = self.try_start_daemon() {
            panic!("{e}");
        }
    }

    /// Stops the daemon with SIGTERM and waits for it to exit (live-restore: its containers
    /// keep running).
    pub fn stop_daemon(&mut self) {
        if let Err(e) = self.try_stop_daemon() {
            panic!("{e}");
        }
    }

    /// Never panics (also called from `drop`, maybe while a failed test unwinds).
    fn try_start_daemon(&mut self) -> Result<(), String> {
        let p = self.dir.path();
        let log = File::options()
            .create(true)
            .append(true)
            .open(p.join("dockerd.log"))
            .map_err(|e| format!("dockerd.log: {e}"))?;
        let err_log = log.try_clone().map_err(|e| format!("dockerd.log: {e}"))?;
        let path = |s: &str| p.join(s).display().to_string();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.netns))
            .arg("dockerd")
            .args(["--config-file", &path("daemon.json")])
            .args(["--data-root", &path("data")])
            .args(["--exec-root", &path("exec")])
            .args(["--pidfile", &path("dockerd.pid")])
            .args(["--host", &self.host()])
            .args(["--storage-driver", "vfs"])
            .args(["--iptables=false", "--ip-masq=false", "--bridge", "none"])
            .arg("--live-restore")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| format!("cannot run nsenter dockerd: {e}"))?;
        self.daemon = Some(child);
        let started = Instant::now();
        loop {
            if let Some(c) = self.daemon.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    self.daemon = None;
                    return Err(format!(
                        "the private dockerd exited at start ({st}); its log:\n{}",
                        self.daemon_log()
                    ));
                }
            }
            let answered = Command::new("docker")
                .args(["version", "--format", "{{.Server.Version}}"])
                .env("DOCKER_HOST", self.host())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if answered {
                return Ok(());
            }
            if started.elapsed() > START_LIMIT {
                self.kill_daemon();
                return Err(format!(
                    "the private dockerd did not answer within {} s; its log:\n{}",
                    START_LIMIT.as_secs(),
                    self.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn try_stop_daemon(&mut self) -> Result<(), String> {
        let Some(mut child) = self.daemon.take() else {
            return Ok(());
        };
        // nsenter execs dockerd: the child is the daemon.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the private dockerd did not stop within {} s; its log:\n{}",
                    STOP_LIMIT.as_secs(),
                    self.daemon_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn kill_daemon(&mut self) {
        if let Some(mut child) = self.daemon.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `sickbay-test:latest` in this daemon: the same busybox root filesystem as
    /// `scripts/test-image.sh` makes, through `docker import`.
    fn load_image(&self) {
        let rootfs = self.dir.path().join("rootfs");
        let bin = rootfs.join("bin");
        for d in ["bin", "etc", "tmp", "root"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("rootfs folders");
        }
        std::fs::copy("/bin/busybox", bin.join("busybox"))
            .expect("copy /bin/busybox (package busybox-static)");
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet.is_empty() || applet == "busybox" || applet.contains('/') {
                continue;
            }
            std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet link");
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("group");
        let mut tar = Command::new("tar")
            .args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&rootfs)
            .args(["-c", "."])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run tar");
        let out = Command::new("docker")
            .args([
                "import",
                "--change",
                "CMD [\"/bin/sh\"]",
                "--change",
                "ENV PATH=/bin",
                "-",
                IMAGE,
            ])
            .env("DOCKER_HOST", self.host())
            .stdin(tar.stdout.take().expect("tar's output"))
            .output()
            .expect("run docker import");
        let tar_ok = tar.wait().is_ok_and(|s| s.success());
        assert!(
            tar_ok && out.status.success(),
            "docker import into the private daemon failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Mount points under this daemon's folders, deepest first.
    fn mounts(&self) -> Vec<String> {
        let root = self.dir.path().display().to_string();
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = text
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| *p == root || p.starts_with(&format!("{root}/")))
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        points
    }
}

impl Drop for PrivateDocker {
    fn drop(&mut self) {
        // 0. A frozen daemon answers again.
        self.thaw();
        // 1. Its containers, while it runs (started again if the test stopped it).
        if !self.containers.is_empty() {
            if !self.running() {
                if let Err(e) = self.try_start_daemon() {
                    eprintln!("cannot remove the private daemon's containers: {e}");
                }
            }
            if self.running() {
                let mut args = vec!["rm", "-f"];
                args.extend(self.containers.iter().map(String::as_str));
                let _ = self.docker(&args);
            }
        }
        // 2. The daemon.
        if let Err(e) = self.try_stop_daemon() {
            eprintln!("{e}");
        }
        // 3. What it left mounted under its folders.
        for point in self.mounts() {
            let st = Command::new("umount").arg(&point).status();
            if !st.is_ok_and(|s| s.success()) {
                let _ = Command::new("umount").args(["-l", &point]).status();
            }
        }
        // 4. The namespace; 5. the folders (TempDir's own drop).
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.netns])
            .status();
    }
}
