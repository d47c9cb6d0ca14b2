//! What the benches against the real Docker engine share: their containers (removed by label,
//! also after a panic), the `sickbay watch` under measure, Docker's own event stream for
//! latencies, and readings of a process's CPU time and memory.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::support::common::BIN;

/// Removes the bench's containers (by label) and stops its watcher, even on panic.
pub struct Cleanup {
    pub label: String,
    pub watch: Option<Child>,
}

impl Cleanup {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_string(),
            watch: None,
        }
    }

    pub fn stop_watch(&mut self) {
        if let Some(mut c) = self.watch.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// Removes the containers carrying `label` (a narrower one than the bench's own, or it).
    pub fn remove(label: &str) {
        let ids = Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label={label}")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let ids: Vec<&str> = ids.split_whitespace().collect();
        for chunk in ids.chunks(100) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk);
            let _ = Command::new("docker").args(&args).output();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop_watch();
        Self::remove(&self.label);
    }
}

/// `sickbay watch` on a data folder and config of the bench's.
pub fn start_watch(data: &Path, config: &Path) -> Child {
    Command::new(BIN)
        .arg("watch")
        .env("SICKBAY_DATA_DIR", data)
        .env("SICKBAY_CONFIG", config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sickbay watch")
}

/// The watcher's history, read-only.
pub fn db(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(
        data.join("sickbay.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the history")
}

/// A history stamp (RFC 3339) in ms since the epoch.
pub fn stamp_ms(ts: &str) -> Option<f64> {
    let t = chrono::DateTime::parse_from_rfc3339(ts).ok()?;
    Some(t.timestamp_nanos_opt()? as f64 / 1e6)
}

/// Docker's events for the bench's containers, streamed live from before the trials (the
/// daemon replays only its last 256 events, and health checks every second overflow that).
pub struct EventStream {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl EventStream {
    /// Docker's events of containers labelled `label`, of the kinds `events`.
    pub fn start(label: &str, events: &[&str]) -> Self {
        let mut args = vec![
            "events".to_string(),
            "--filter".into(),
            format!("label={label}"),
        ];
        for e in events {
            args.extend(["--filter".to_string(), format!("event={e}")]);
        }
        args.extend(["--format".to_string(), "{{json .}}".into()]);
        let mut child = Command::new("docker")
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run docker events");
        let out = child.stdout.take().expect("events stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("events lock").push(line);
            }
        });
        Self { child, lines }
    }

    /// Every event so far: (container name, status, time in ms).
    pub fn all(&self) -> Vec<(String, String, f64)> {
        self.lines
            .lock()
            .expect("events lock")
            .iter()
            .filter_map(|line| {
                let v = serde_json::from_str::<serde_json::Value>(line).ok()?;
                Some((
                    v["Actor"]["Attributes"]["name"].as_str()?.to_string(),
                    v["status"].as_str()?.to_string(),
                    v["timeNano"].as_f64()? / 1e6,
                ))
            })
            .collect()
    }

    /// container name → the time in ms of its first event whose status starts with `status`.
    pub fn first_times(&self, status: &str) -> HashMap<String, f64> {
        let mut first = HashMap::new();
        for (name, s, t) in self.all() {
            if s.starts_with(status) {
                first.entry(name).or_insert(t);
            }
        }
        first
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// A field of `/proc/PID/status` in MB (`VmHWM:`, `VmRSS:`).
pub fn proc_field(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

/// User and system CPU time of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime), counted after the command name.
    f.get(11).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)
}

/// Clock ticks per second.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
