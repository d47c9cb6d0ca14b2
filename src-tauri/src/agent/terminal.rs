//! Opening a terminal that runs a script Sickbay wrote (the launch script of an investigation),
//! per platform. Only the script's path goes on the command line: no untrusted text.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// A terminal program and the arguments that make it run the script (which comes last).
struct Candidate {
    name: &'static str,
    args: &'static [&'static str],
}

#[cfg(all(unix, not(target_os = "macos")))]
const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "xdg-terminal-exec",
        args: &[],
    },
    Candidate {
        name: "x-terminal-emulator",
        args: &["-e"],
    },
    Candidate {
        name: "gnome-terminal",
        args: &["--"],
    },
    Candidate {
        name: "konsole",
        args: &["-e"],
    },
    Candidate {
        name: "xfce4-terminal",
        args: &["-x"],
    },
    Candidate {
        name: "kitty",
        args: &[],
    },
    Candidate {
        name: "alacritty",
        args: &["-e"],
    },
    Candidate {
        name: "wezterm",
        args: &["start", "--"],
    },
    Candidate {
        name: "foot",
        args: &[],
    },
    Candidate {
        name: "xterm",
        args: &["-e"],
    },
];

#[cfg(target_os = "macos")]
const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "Terminal",
        args: &[],
    },
    Candidate {
        name: "iTerm",
        args: &[],
    },
];

#[cfg(windows)]
const CANDIDATES: &[Candidate] = &[
    Candidate {
        name: "wt.exe",
        args: &["new-tab", "cmd", "/k"],
    },
    Candidate {
        name: "cmd.exe",
        args: &["/c", "start", "", "cmd", "/k"],
    },
];

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(
        "no terminal found (looked for {looked_for}); set [escalation] terminal to one you have, \
         or $TERMINAL"
    )]
    NotFound { looked_for: String },
    #[error("the terminal {terminal} did not start: {reason}")]
    Failed { terminal: String, reason: String },
}

/// Finds `name` on PATH and in the folders where tools are usually installed (a tray app
/// started by the desktop does not have the shell's PATH). Absolute paths are taken as is.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return is_executable(p).then(|| p.to_path_buf());
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf()) {
        for d in [
            ".local/bin",
            ".claude/local",
            ".npm-global/bin",
            "bin",
            ".cargo/bin",
        ] {
            dirs.push(home.join(d));
        }
    }
    for d in ["/usr/local/bin", "/opt/homebrew/bin", "/usr/bin", "/bin"] {
        dirs.push(PathBuf::from(d));
    }
    let exts: &[&str] = if cfg!(windows) {
        &["", ".exe", ".cmd", ".bat"]
    } else {
        &[""]
    };
    dirs.iter()
        .flat_map(|d| exts.iter().map(move |e| d.join(format!("{name}{e}"))))
        .find(|c| is_executable(c))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Opens a terminal running `script`; returns the terminal's name. `choice` is `auto` or a
/// terminal's name.
pub fn open(choice: &str, script: &Path) -> Result<String, TerminalError> {
    let mut tried = Vec::new();
    let mut plan: Vec<(String, PathBuf, Vec<OsString>)> = Vec::new();
    let with_script = |args: &[&str]| {
        let mut v: Vec<OsString> = args.iter().map(OsString::from).collect();
        v.push(script.as_os_str().to_os_string());
        v
    };
    if choice != "auto" {
        let known = CANDIDATES.iter().find(|c| c.name == choice);
        let args = known.map_or(&["-e"][..], |c| c.args);
        tried.push(choice.to_string());
        if let Some(p) = find_app(choice) {
            plan.push((choice.to_string(), p, with_script(args)));
        }
    } else {
        #[cfg(all(unix, not(target_os = "macos")))]
        if let Some(t) = std::env::var("TERMINAL")
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            tried.push(format!("$TERMINAL ({t})"));
            if let Some(p) = find_program(&t) {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(t);
                let args = CANDIDATES
                    .iter()
                    .find(|c| c.name == name)
                    .map_or(&["-e"][..], |c| c.args);
                plan.push((name, p, with_script(args)));
            }
        }
        for c in CANDIDATES {
            tried.push(c.name.to_string());
            if let Some(p) = find_app(c.name) {
                plan.push((c.name.to_string(), p, with_script(c.args)));
            }
        }
    }
    let Some((name, program, args)) = plan.into_iter().next() else {
        return Err(TerminalError::NotFound {
            looked_for: tried.join(", "),
        });
    };
    let mut cmd = launcher(&program, &name, args);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TerminalError::Failed {
            terminal: name.clone(),
            reason: e.to_string(),
        })?;
    // A terminal that cannot start (no display, bad flags) fails at once; one that starts
    // keeps running, or hands over to its server and exits 0.
    std::thread::sleep(Duration::from_millis(400));
    if let Ok(Some(status)) = child.try_wait() {
        if !status.success() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return Err(TerminalError::Failed {
                terminal: name,
                reason: format!("{status}: {}", err.trim()),
            });
        }
    }
    Ok(name)
}

/// Where a terminal app lives: on macOS an application bundle opened with `open -a`.
fn find_app(name: &str) -> Option<PathBuf> {
    #[cfg(target_os = "macos")]
    {
        let bundle = PathBuf::from(format!("/Applications/{name}.app"));
        let system = PathBuf::from(format!("/System/Applications/Utilities/{name}.app"));
        if bundle.exists() || system.exists() {
            return Some(PathBuf::from("/usr/bin/open"));
        }
    }
    find_program(name)
}

fn launcher(program: &Path, name: &str, args: Vec<OsString>) -> Command {
    let mut cmd = Command::new(program);
    if cfg!(target_os = "macos") && program.ends_with("open") {
        cmd.arg("-a").arg(name);
    }
    cmd.args(args);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_terminal_names_what_was_looked_for() {
        let e = open("no-such-terminal-xyz", Path::new("/tmp/x.sh")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no-such-terminal-xyz"), "{text}");
        assert!(text.contains("[escalation] terminal"), "{text}");
    }

    #[test]
    fn programs_are_found_on_path_and_absolute_paths_are_checked() {
        #[cfg(unix)]
        {
            assert!(find_program("sh").is_some());
            assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
            assert!(find_program("/nonexistent/sh").is_none());
        }
        assert!(find_program("no-such-program-xyz").is_none());
    }
}
