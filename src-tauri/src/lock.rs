//! One Sickbay acts on an engine at a time. Two on one machine watching the same containers
//! (the tray app and a `sickbay watch` service, say) would both heal and undo each other's
//! work: the first takes a lock named after the engine and what it watches, the others stand
//! by and take over when it stops. The lock is the operating system's (`flock` on Unix,
//! `LockFileEx` on Windows), so a process that dies gives it back at once.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Held while this process acts on the engine.
#[derive(Debug)]
pub struct ActingLock {
    _file: File,
    pub path: PathBuf,
}

/// The outcome of one try.
#[derive(Debug)]
pub enum Acquire {
    Acting(ActingLock),
    /// Another process holds it; what it wrote of itself, when it could.
    Held {
        by: Option<String>,
    },
}

/// The lock's name for an engine and a scope: processes watching different containers (other
/// label selectors) do not compete. FNV-1a, so that every build of Sickbay agrees on it.
pub fn key(endpoint: &str, selector: &[String]) -> String {
    let mut selector: Vec<&str> = selector.iter().map(|s| s.trim()).collect();
    selector.sort_unstable();
    let text = format!("{endpoint}\n{}", selector.join("\n"));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Where every user's Sickbay looks for the lock: a folder shared by all users of the machine
/// (`/run/lock` on Linux), else the temporary folder.
pub fn dir() -> PathBuf {
    #[cfg(target_os = "linux")]
    {
        let run_lock = Path::new("/run/lock");
        if run_lock.is_dir() {
            return run_lock.to_path_buf();
        }
    }
    std::env::temp_dir()
}

/// Tries once to become the process that acts on the engine at `endpoint` for `selector`.
/// `me` is written into the lock file for the others to show ("pid 12, data /var/lib/x").
pub fn try_acquire(
    dir: &Path,
    endpoint: &str,
    selector: &[String],
    me: &str,
) -> std::io::Result<Acquire> {
    let path = dir.join(format!("sickbay-{}.lock", key(endpoint, selector)));
    let (mut file, writable) = match open(&path) {
        Ok(f) => f,
        // Made by another user, not readable by this one (an older Sickbay's, under a umask
        // of 0077): that one may act, so this one stands by rather than act beside it.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Ok(Acquire::Held {
                by: Some(format!(
                    "a Sickbay of another user ({} cannot be read by this one)",
                    path.display()
                )),
            })
        }
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => {
            if writable {
                // The others only show it: a failure is said, never fatal.
                let written = file
                    .set_len(0)
                    .and_then(|()| file.seek(SeekFrom::Start(0)).map(|_| ()))
                    .and_then(|()| file.write_all(me.as_bytes()))
                    .and_then(|()| file.flush());
                if let Err(e) = written {
                    tracing::debug!("cannot write {}: {e}", path.display());
                }
            }
            Ok(Acquire::Acting(ActingLock { _file: file, path }))
        }
        Err(TryLockError::WouldBlock) => {
            let mut text = String::new();
            let by = match file.read_to_string(&mut text) {
                // Another process wrote it: shown on one line, control characters dropped.
                Ok(_) if !text.trim().is_empty() => Some(
                    text.trim()
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(200)
                        .collect(),
                ),
                _ => None,
            };
            Ok(Acquire::Held { by })
        }
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Opens the lock file for writing when this user may, else for reading (a lock needs no
/// write access); creates it when it is missing, readable by every user. An existing file is
/// never opened with O_CREAT: in a sticky shared folder Linux refuses that for a file
/// another user owns.
fn open(path: &Path) -> std::io::Result<(File, bool)> {
    for _ in 0..3 {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => {
                readable_by_all(&f, path);
                return Ok((f, true));
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Ok((File::open(path)?, false));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut create = OpenOptions::new();
        create.read(true).write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            create.mode(0o644);
        }
        match create.open(path) {
            Ok(f) => {
                readable_by_all(&f, path);
                return Ok((f, true));
            }
            // Another process created it meanwhile: open it again.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other(format!(
        "cannot open {}",
        path.display()
    )))
}

/// Makes the lock file readable by every user whatever the umask (a service's is often 0077),
/// also one an older Sickbay made: a Sickbay of another user must be able to open it to see
/// it is held. Only its owner can; for the others it is said in the diagnostic log.
fn readable_by_all(f: &File, path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = f.metadata().map(|m| m.permissions().mode() & 0o777);
        if mode.is_ok_and(|m| m & 0o444 != 0o444) {
            if let Err(e) = f.set_permissions(std::fs::Permissions::from_mode(0o644)) {
                tracing::debug!("cannot make {} readable: {e}", path.display());
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (f, path);
}

/// Whether a process with this id runs (Linux: `/proc`; elsewhere assumed, the caller's data
/// being only informative).
pub fn process_alive(pid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        Path::new(&format!("/proc/{pid}")).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_depends_on_the_engine_and_the_scope_not_the_order() {
        let a = vec!["x=1".to_string(), "y=2".to_string()];
        let b = vec!["y=2".to_string(), "x=1".to_string()];
        assert_eq!(
            key("unix:///var/run/docker.sock", &a),
            key("unix:///var/run/docker.sock", &b)
        );
        assert_ne!(
            key("unix:///var/run/docker.sock", &a),
            key("tcp://h:2375", &a)
        );
        assert_ne!(
            key("unix:///var/run/docker.sock", &a),
            key("unix:///var/run/docker.sock", &[])
        );
        // Stable across builds: a tray app and a service built apart must agree.
        assert_eq!(key("e", &[]), "088e5407b539763e");
    }

    #[test]
    fn one_holder_at_a_time_and_the_next_one_takes_over_when_it_goes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sel = vec!["a=b".to_string()];
        let first = try_acquire(dir.path(), "e", &sel, "pid 1, data /one").expect("try");
        let Acquire::Acting(held) = first else {
            panic!("the first one acts: {first:?}")
        };
        match try_acquire(dir.path(), "e", &sel, "pid 2").expect("try") {
            Acquire::Held { by } => assert_eq!(by.as_deref(), Some("pid 1, data /one")),
            other => panic!("the second one stands by: {other:?}"),
        }
        // Another scope is not held.
        assert!(matches!(
            try_acquire(dir.path(), "e", &[], "pid 3").expect("try"),
            Acquire::Acting(_)
        ));
        drop(held);
        assert!(matches!(
            try_acquire(dir.path(), "e", &sel, "pid 2").expect("try"),
            Acquire::Acting(_)
        ));
    }
}
