//! Sickbay's own log files under `logs/` (`monitor.log` and friends): one line per event in
//! the original system's form, `[2025-11-20T10:30:00] container_unhealthy container:web status:503`,
//! rotated by size (`monitor.log.1`, `.2`, ...) with the oldest pruned. Every line is made by
//! [`format_line`], which writes the control characters of its fields visibly: a container's
//! name, label or output cannot end a line early and forge the next one.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::domain::escape;

pub struct LogFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

/// `[local time] event key:value ...`, the original system's line form, on one line: newlines,
/// carriage returns, escape sequences and other control characters in `event` and `fields`
/// are written visibly (`\n`, `\r`, `\x1b`; see [`escape::line`]).
pub fn format_line(stamp: &str, event: &str, fields: &str) -> String {
    let (stamp, event, fields) = (
        escape::line(stamp),
        escape::line(event),
        escape::line(fields),
    );
    if fields.is_empty() {
        format!("[{stamp}] {event}")
    } else {
        format!("[{stamp}] {event} {fields}")
    }
}

impl LogFile {
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            keep,
        })
    }

    /// Appends one line (a newline is added), rotating first when the file is full.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        self.file.write_all(&buf)?;
        self.size += len;
        Ok(())
    }

    fn numbered(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let oldest = self.numbered(self.keep);
        match std::fs::remove_file(&oldest) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("cannot remove {}: {e}", oldest.display()),
                ));
            }
            _ => {}
        }
        for n in (1..self.keep).rev() {
            let from = self.numbered(n);
            if from.exists() {
                std::fs::rename(&from, self.numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, self.numbered(1))?;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_the_original_form() {
        assert_eq!(
            format_line(
                "2025-11-20T10:30:00",
                "container_unhealthy",
                "container:spartan-web status:503"
            ),
            "[2025-11-20T10:30:00] container_unhealthy container:spartan-web status:503"
        );
    }

    #[test]
    fn text_from_a_container_cannot_forge_a_line() {
        let line = format_line(
            "2025-11-20T10:30:00",
            "bad_label",
            "label:sickbay.heal value:restart\n[2020-01-01T00:00:00] healing_failed container:web\r\x1b[2K",
        );
        assert_eq!(
            line,
            "[2025-11-20T10:30:00] bad_label label:sickbay.heal \
             value:restart\\n[2020-01-01T00:00:00] healing_failed container:web\\r\\x1b[2K"
        );
        assert!(!line.chars().any(char::is_control));
    }

    #[test]
    fn a_full_log_rotates_and_the_oldest_is_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("monitor.log");
        let mut log = LogFile::open(&path, 100, 2).unwrap();
        for i in 0..40 {
            log.append(&format!("line {i:04} ...................."))
                .unwrap();
        }
        assert!(path.exists());
        assert!(dir.path().join("monitor.log.1").exists());
        assert!(dir.path().join("monitor.log.2").exists());
        assert!(!dir.path().join("monitor.log.3").exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains("line 0039"));
    }
}
