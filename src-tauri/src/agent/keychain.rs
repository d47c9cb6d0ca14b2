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
    let child = match cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot run the keychain tool: {e}")),
    };
    let out = finish(child)?;
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !secret.is_empty()).then_some(secret))
}

/// Stores `secret` for `account` (replacing what was there): the secret goes to the tool on
/// its standard input, never on a command line or in a log. macOS's `security` only takes it as
/// an argument (`-w`), briefly visible to the user's own processes. Blocking.
pub fn store(account: &str, secret: &str) -> Result<(), String> {
    use std::io::Write;
    let (mut cmd, on_stdin) = if cfg!(target_os = "macos") {
        let mut c = Command::new("security");
        c.args([
            "add-generic-password",
            "-U",
            "-s",
            SERVICE,
            "-a",
            account,
            "-w",
            secret,
        ]);
        (c, false)
    } else if cfg!(unix) {
        let mut c = Command::new("secret-tool");
        c.args([
            "store", "--label", SERVICE, "service", SERVICE, "account", account,
        ]);
        (c, true)
    } else {
        return Err(
            "no keychain tool on this platform: set the environment variable instead".into(),
        );
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "no keychain tool found (secret-tool, from libsecret-tools on Debian and Ubuntu)"
                    .to_string()
            }
            _ => format!("cannot run the keychain tool: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        if on_stdin {
            stdin
                .write_all(secret.as_bytes())
                .map_err(|e| format!("the keychain tool: {e}"))?;
        }
    }
    let out = finish(child)?;
    if out.status.success() {
        return Ok(());
    }
    // What the tool says, without the secret should it echo it.
    let said = String::from_utf8_lossy(&out.stderr).replace(secret, "•••");
    Err(format!("the keychain refused: {}", said.trim()))
}

/// The keychain tool's output once it has ended, waiting at most [`TIMEOUT`].
fn finish(mut child: std::process::Child) -> Result<std::process::Output, String> {
    wait(&mut child)?;
    child
        .wait_with_output()
        .map_err(|e| format!("the keychain tool: {e}"))
}

/// Waits for the keychain tool to end, at most [`TIMEOUT`] (it may wait on a locked keyring).
fn wait(child: &mut std::process::Child) -> Result<(), String> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return Ok(()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the keychain tool did not answer within {} s (a locked keyring waiting for \
                     its password?)",
                    TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("the keychain tool: {e}")),
        }
    }
}
