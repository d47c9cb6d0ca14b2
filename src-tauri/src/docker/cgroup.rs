//! A running container's CPU and memory counters, read from the kernel's cgroup files when the
//! engine runs on this machine: the same counters Docker's stats endpoint reports, without
//! asking the daemon. Docker answers a stats request only at its stats collector's next round
//! (about a second, however many wait), and a round over hundreds of containers on a busy
//! daemon takes seconds, each one a containerd call per container; reading the files takes
//! microseconds and costs the daemon nothing.
//!
//! A container's cgroup is found from its main process (`State.Pid` of an inspect):
//! `/proc/<pid>/cgroup` names its path in each hierarchy, and `/proc/self/mountinfo` where
//! each hierarchy is mounted (cgroup v1, v2, or both). The path must name the container's id:
//! a process of another PID namespace (Sickbay in a container of its own), a pid the kernel
//! gave to another process since, or a remote engine never match, and the caller asks Docker
//! instead. Linux only; elsewhere [`Cgroups::local`] finds nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StatsSample;
use crate::domain::model::ContainerId;

/// Docker counts system CPU time in clock ticks of 1/100 s (`getSystemCPUUsage`).
const TICKS_PER_SECOND: u64 = 100;

/// Where a host's cgroup hierarchies are mounted, and which containers' files were found.
#[derive(Debug)]
pub struct Cgroups {
    /// The folder holding `proc/` (the filesystem's root, a fixture's folder in unit tests).
    root: PathBuf,
    mounts: Mounts,
    /// Each container's cgroup folders, found for the pid it had (`None`: not readable).
    found: Mutex<HashMap<ContainerId, (u32, Option<Folders>)>>,
    /// The machine's CPU time, read at most every [`SYSTEM_FRESH`]: `/proc/stat` costs more
    /// than a container's files on a machine with many CPUs and interrupts, and the
    /// containers of one sweep share one reading.
    system: Mutex<Option<(Instant, (u64, u32))>>,
    /// The machine's memory (`MemTotal`), read once.
    machine: std::sync::OnceLock<Option<u64>>,
}

/// How long one reading of the machine's CPU time serves: the containers of one sweep are read
/// within a few milliseconds, and a reading that old is at most 1 % off a one-second look's
/// system delta (the container's own counter is always read fresh).
const SYSTEM_FRESH: Duration = Duration::from_millis(10);

#[derive(Debug, Default, Clone)]
struct Mounts {
    /// cgroup v1: each hierarchy's controllers, the root it shows and its mount point.
    v1: Vec<(Vec<String>, String, PathBuf)>,
    /// cgroup v2 (the unified hierarchy): its root and mount point.
    v2: Option<(String, PathBuf)>,
}

/// One container's folders: v1 has one per controller, v2 one for all.
#[derive(Debug, Clone, PartialEq)]
enum Folders {
    V1 { cpuacct: PathBuf, memory: PathBuf },
    V2(PathBuf),
}

impl Cgroups {
    /// The cgroups of this machine's containers, for an engine at `endpoint`: only a local
    /// socket's containers run on this kernel. `None` where nothing can be read (another
    /// platform, a remote engine, no cgroup filesystem).
    pub fn local(endpoint: &str) -> Option<Self> {
        if !cfg!(target_os = "linux") || !endpoint.starts_with("unix://") {
            return None;
        }
        Self::at(Path::new("/"))
    }

    /// The cgroups as a system rooted at `root` shows them (`root/proc/self/mountinfo`).
    fn at(root: &Path) -> Option<Self> {
        let mountinfo = std::fs::read_to_string(root.join("proc/self/mountinfo")).ok()?;
        let mounts = Mounts::parse(&mountinfo, root);
        (!mounts.v1.is_empty() || mounts.v2.is_some()).then(|| Self {
            root: root.to_path_buf(),
            mounts,
            found: Mutex::new(HashMap::new()),
            system: Mutex::new(None),
            machine: std::sync::OnceLock::new(),
        })
    }

    /// The counters of container `id` whose main process is `pid`, now; `None` when its files
    /// cannot be read (then Docker is asked).
    pub fn sample(&self, id: &ContainerId, pid: u32) -> Option<StatsSample> {
        if pid == 0 {
            return None;
        }
        let folders = {
            let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
            match found.get(id) {
                Some((p, f)) if *p == pid => f.clone(),
                _ => {
                    let f = self.folders(id, pid);
                    found.insert(id.clone(), (pid, f.clone()));
                    f
                }
            }
        }?;
        let (system_total_ns, online_cpus) = self.system()?;
        let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let (cpu_total_ns, usage, limit, inactive) = match &folders {
            Folders::V1 { cpuacct, memory } => (
                read(cpuacct, "cpuacct.usage")?.trim().parse::<u64>().ok()?,
                read(memory, "memory.usage_in_bytes")?
                    .trim()
                    .parse::<u64>()
                    .ok()?,
                read(memory, "memory.limit_in_bytes").and_then(|s| s.trim().parse::<u64>().ok()),
                stat_field(&read(memory, "memory.stat")?, "total_inactive_file"),
            ),
            Folders::V2(dir) => (
                stat_field(&read(dir, "cpu.stat")?, "usage_usec")?.saturating_mul(1000),
                read(dir, "memory.current")?.trim().parse::<u64>().ok()?,
                // "max": no limit of its own.
                read(dir, "memory.max").and_then(|s| s.trim().parse().ok()),
                stat_field(&read(dir, "memory.stat")?, "inactive_file"),
            ),
        };
        // As Docker reports it: a container without a limit of its own has the machine's.
        let machine = self.machine_memory();
        let mem_limit_bytes = match (limit, machine) {
            (Some(l), Some(m)) => l.min(m),
            (Some(l), None) => l,
            (None, m) => m.unwrap_or(0),
        };
        Some(StatsSample {
            cpu_total_ns,
            system_total_ns,
            online_cpus,
            // As the docker CLI shows it: the page cache that can be reclaimed is not "used".
            mem_bytes: usage.saturating_sub(inactive.unwrap_or(0)),
            mem_limit_bytes,
            previous: None,
            from_cgroup: true,
        })
    }

    /// Forgets the containers not in `live` (gone, or no longer watched).
    pub fn retain(&self, live: &std::collections::HashSet<&ContainerId>) {
        let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
        found.retain(|id, _| live.contains(id));
    }

    /// The container's folders, from its process's `/proc/<pid>/cgroup`, when they name it.
    fn folders(&self, id: &ContainerId, pid: u32) -> Option<Folders> {
        let text = std::fs::read_to_string(self.root.join(format!("proc/{pid}/cgroup"))).ok()?;
        let mut cpuacct = None;
        let mut memory = None;
        let mut unified = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            // A path that does not name the container is another's (see the module's doc).
            // Its main process may sit in a child of the container's cgroup (systemd in the
            // container, docker:dind's `init`): the container's own is the one named for it.
            let Some(path) = container_scope(path, &id.0) else {
                continue;
            };
            if controllers.is_empty() {
                unified = self
                    .mounts
                    .v2
                    .as_ref()
                    .and_then(|(r, m)| under(r, m, &path));
                continue;
            }
            for c in controllers.split(',') {
                let slot = match c {
                    "cpuacct" => &mut cpuacct,
                    "memory" => &mut memory,
                    _ => continue,
                };
                *slot = self
                    .mounts
                    .v1
                    .iter()
                    .find(|(cs, _, _)| cs.iter().any(|x| x == c))
                    .and_then(|(_, r, m)| under(r, m, &path));
            }
        }
        let folders = match (cpuacct, memory, unified) {
            (Some(cpuacct), Some(memory), _) => Folders::V1 { cpuacct, memory },
            (_, _, Some(dir)) => Folders::V2(dir),
            _ => return None,
        };
        let readable = match &folders {
            Folders::V1 { cpuacct, .. } => cpuacct.join("cpuacct.usage").is_file(),
            Folders::V2(dir) => dir.join("cpu.stat").is_file(),
        };
        readable.then_some(folders)
    }

    /// The machine's CPU time since boot in ns (all CPUs, as Docker counts it: the first seven
    /// fields of `/proc/stat`'s `cpu` line) and its number of CPUs.
    fn system(&self) -> Option<(u64, u32)> {
        let mut cached = self.system.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, v)) = *cached {
            if at.elapsed() < SYSTEM_FRESH {
                return Some(v);
            }
        }
        let text = std::fs::read_to_string(self.root.join("proc/stat")).ok()?;
        let v = system_cpu(&text)?;
        *cached = Some((Instant::now(), v));
        Some(v)
    }

    fn machine_memory(&self) -> Option<u64> {
        *self.machine.get_or_init(|| self.read_machine_memory())
    }

    fn read_machine_memory(&self) -> Option<u64> {
        let text = std::fs::read_to_string(self.root.join("proc/meminfo")).ok()?;
        let kb: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    }
}

/// `/proc/stat`: the machine's CPU time in ns and its number of CPUs.
fn system_cpu(text: &str) -> Option<(u64, u32)> {
    let mut total = None;
    let mut cpus = 0u32;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                let ticks: Option<Vec<u64>> = fields.take(7).map(|f| f.parse().ok()).collect();
                let ticks = ticks.filter(|t| t.len() == 7)?;
                total = Some(
                    ticks
                        .iter()
                        .sum::<u64>()
                        .saturating_mul(1_000_000_000 / TICKS_PER_SECOND),
                );
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    Some((total?, cpus.max(1)))
}

/// A `key value` line's value in a cgroup `*.stat` file.
fn stat_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// `path` up to the component that names container `id` (`/docker/<id>`,
/// `/system.slice/docker-<id>.scope`), leaving out the children under it.
fn container_scope(path: &str, id: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    let at = parts.iter().position(|p| p.contains(id))?;
    Some(parts[..=at].join("/"))
}

/// `path` of a hierarchy mounted at `mount` showing `root`: the folder it is on this system.
fn under(root: &str, mount: &Path, path: &str) -> Option<PathBuf> {
    let rest = if root == "/" {
        path
    } else {
        // At a component's boundary: `/a` holds `/a/b`, not `/ab`.
        let rest = path.strip_prefix(root)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    };
    let rest = rest.trim_start_matches('/');
    // A path out of the hierarchy ("..") is nobody's.
    if rest.split('/').any(|p| p == "..") {
        return None;
    }
    Some(mount.join(rest))
}

impl Mounts {
    /// From `/proc/self/mountinfo`: `id parent dev root point options [tags] - type source
    /// super-options`. Mount points are taken under `sysroot`.
    fn parse(text: &str, sysroot: &Path) -> Self {
        let mut m = Mounts::default();
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (Some(root), Some(point), Some(fstype)) = (left.get(3), left.get(4), right.first())
            else {
                continue;
            };
            let point = sysroot.join(unescape(point).trim_start_matches('/'));
            match *fstype {
                "cgroup2" => m.v2 = Some((unescape(root), point)),
                "cgroup" => {
                    let controllers = right
                        .get(2)
                        .map(|o| {
                            o.split(',')
                                .filter(|c| *c != "rw" && *c != "ro" && !c.contains('='))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default();
                    m.v1.push((controllers, unescape(root), point));
                }
                _ => {}
            }
        }
        m
    }
}

/// mountinfo writes a space, tab, newline and backslash in a path as octal escapes (`\040`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1c0ffee1234567890abcdef4f1c0ffee1234567890abcdef0123456789ab";

    const STAT: &str = "cpu  100 0 50 800 40 5 5 0 0 0\ncpu0 50 0 25 400 20 2 3 0 0 0\n\
                        cpu1 50 0 25 400 20 3 2 0 0 0\nintr 1 2 3\n";

    fn write(root: &Path, path: &str, text: &str) {
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("dirs");
        std::fs::write(p, text).expect("write");
    }

    fn id() -> ContainerId {
        ContainerId(ID.into())
    }

    /// A machine as Debian 12's Docker sees it with cgroup v1 and the cgroupfs driver (and
    /// the unified hierarchy mounted beside, holding no controller).
    fn v1_machine() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        write(
            r,
            "proc/self/mountinfo",
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
             32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n\
             35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
             40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n\
             41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
        );
        write(
            r,
            "proc/4242/cgroup",
            &format!(
                "9:name=systemd:/docker/{ID}\n4:memory:/docker/{ID}\n\
                 3:cpu,cpuacct:/docker/{ID}\n0::/docker/{ID}\n"
            ),
        );
        let cpu = format!("sys/fs/cgroup/cpu,cpuacct/docker/{ID}");
        let mem = format!("sys/fs/cgroup/memory/docker/{ID}");
        write(r, &format!("{cpu}/cpuacct.usage"), "2500000000\n");
        write(r, &format!("{mem}/memory.usage_in_bytes"), "10485760\n");
        write(
            r,
            &format!("{mem}/memory.limit_in_bytes"),
            "9223372036854771712\n",
        );
        write(
            r,
            &format!("{mem}/memory.stat"),
            "cache 4096\ninactive_file 1\ntotal_inactive_file 2097152\n",
        );
        write(r, "proc/stat", STAT);
        write(
            r,
            "proc/meminfo",
            "MemTotal:       24000000 kB\nMemFree: 1 kB\n",
        );
        dir
    }

    #[test]
    fn cgroup_v1_counters_are_read_as_docker_reports_them() {
        let m = v1_machine();
        let c = Cgroups::at(m.path()).expect("cgroups");
        let s = c.sample(&id(), 4242).expect("a sample");
        assert_eq!(s.cpu_total_ns, 2_500_000_000);
        // 1,000 ticks of 1/100 s; two CPUs.
        assert_eq!(s.system_total_ns, 10_000_000_000);
        assert_eq!(s.online_cpus, 2);
        assert_eq!(
            s.mem_bytes,
            8 * 1_048_576,
            "usage less the inactive page cache"
        );
        assert_eq!(
            s.mem_limit_bytes,
            24_000_000 * 1024,
            "no limit: the machine's"
        );
        assert!(s.from_cgroup);
    }

    #[test]
    fn cgroup_v2_counters_are_read_from_the_unified_hierarchy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = dir.path();
        write(
            r,
            "proc/self/mountinfo",
            "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        write(
            r,
            "proc/77/cgroup",
            &format!("0::/system.slice/docker-{ID}.scope\n"),
        );
        let d = format!("sys/fs/cgroup/system.slice/docker-{ID}.scope");
        write(
            r,
            &format!("{d}/cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\n",
        );
        write(r, &format!("{d}/memory.current"), "3145728\n");
        write(r, &format!("{d}/memory.max"), "4194304\n");
        write(
            r,
            &format!("{d}/memory.stat"),
            "anon 1\ninactive_file 1048576\n",
        );
        write(r, "proc/stat", STAT);
        write(r, "proc/meminfo", "MemTotal: 24000000 kB\n");
        let c = Cgroups::at(r).expect("cgroups");
        let s = c.sample(&id(), 77).expect("a sample");
        assert_eq!(s.cpu_total_ns, 1_500_000);
        assert_eq!(s.mem_bytes, 2 * 1_048_576);
        assert_eq!(s.mem_limit_bytes, 4_194_304, "its own limit");
    }

    #[test]
    fn a_process_whose_cgroup_does_not_name_the_container_is_not_read() {
        let m = v1_machine();
        // The pid now belongs to a process outside any container (or of another namespace).
        write(
            m.path(),
            "proc/5000/cgroup",
            "4:memory:/\n3:cpu,cpuacct:/user.slice\n",
        );
        let c = Cgroups::at(m.path()).expect("cgroups");
        assert!(c.sample(&id(), 5000).is_none());
        assert!(c.sample(&id(), 0).is_none(), "not running");
        assert!(c.sample(&id(), 999).is_none(), "no such process");
        // A path that climbs out of the hierarchy is nobody's.
        write(
            m.path(),
            "proc/6000/cgroup",
            &format!("4:memory:/docker/../../{ID}\n3:cpu,cpuacct:/docker/../../{ID}\n"),
        );
        assert!(c.sample(&id(), 6000).is_none());
    }

    #[test]
    fn a_new_pid_is_looked_up_again_and_gone_containers_are_forgotten() {
        let m = v1_machine();
        let c = Cgroups::at(m.path()).expect("cgroups");
        assert!(c.sample(&id(), 999).is_none());
        assert!(c.sample(&id(), 4242).is_some(), "restarted: a new pid");
        c.retain(&std::collections::HashSet::new());
        assert!(c.found.lock().expect("lock").is_empty());
    }

    #[test]
    fn a_main_process_in_a_child_cgroup_is_counted_with_its_whole_container() {
        let m = v1_machine();
        // systemd (or docker:dind's init) in the container: pid 1 in a child of its cgroup.
        write(
            m.path(),
            "proc/7000/cgroup",
            &format!("4:memory:/docker/{ID}/init.scope\n3:cpu,cpuacct:/docker/{ID}/init.scope\n"),
        );
        let c = Cgroups::at(m.path()).expect("cgroups");
        let s = c.sample(&id(), 7000).expect("a sample");
        assert_eq!(
            s.cpu_total_ns, 2_500_000_000,
            "the container's own counters"
        );
        assert_eq!(under("/docker", Path::new("/m"), "/dockerx/a"), None);
        assert_eq!(
            under("/docker", Path::new("/m"), "/docker/a"),
            Some(PathBuf::from("/m/a"))
        );
    }

    #[test]
    fn only_a_local_socket_engine_is_read_from_cgroups() {
        assert!(Cgroups::local("tcp://10.0.0.1:2375").is_none());
        assert!(Cgroups::local("ssh://box").is_none());
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape(r"/sys/fs/my\040cgroup"), "/sys/fs/my cgroup");
        assert_eq!(unescape(r"plain\"), r"plain\");
    }
}
