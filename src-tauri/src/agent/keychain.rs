//! The OS keychain, read through the system's own command-line tool (no C library linked):
//! `secret-tool` (libsecret) on Linux and the BSDs, `security` on macOS. Windows: not
//! supported (environment variables are the way there). Entries live under the service
//! [`SERVICE`], one account per secret (`ANTHROPIC_API_KEY`, `postgres`, ...).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const SERVICE: &str = "sickbay";

/// How long the keychain tool may take (it may wait on a locked keyring).
const TIMEOUT: Duration = Duration::from_secs(5);

/// The secret stored for `account`. `Ok(None)`: no entry, or no keychain tool. Blocking.
pub fn lookup(account: &str) -> Result<Option<String>, String> {
    let mut cmd = if cfg!(target_os = "macos") {
        let mut c = Command::new("security");
        c.args(["find-generic-password", "-s", SERVICE, "-a", account, "-w"]);
        c
    } else if cfg!(unix) {
        let mut c = Command::new("secret-tool");
        c.args(["lookup", "service", SERVICE, "account", account]);
        c
    } else {
        return Ok(None);
    };
    let mut child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot run the keychain tool: {e}")),
    };
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the keychain tool did not answer within {} s",
                    TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("the keychain tool: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("the keychain tool: {e}"))?;
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !secret.is_empty()).then_some(secret))
}
