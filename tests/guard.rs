//! `sickbay guard`, the PreToolUse hook, run as Claude Code runs it: the tool call as JSON on
//! stdin, exit 2 (reason on stderr) to block.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::common::BIN;

fn hook(input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("guard")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sickbay guard");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write the tool call");
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn bash(command: &str) -> (i32, String, String) {
    hook(&serde_json::json!({"tool_name": "Bash", "tool_input": {"command": command}}).to_string())
}

#[test]
fn the_hook_blocks_destructive_commands_and_lets_others_through() {
    for cmd in [
        "docker volume rm x",
        "docker compose down -v",
        "docker-compose down --volumes",
        "git push",
        "docker system prune -af",
    ] {
        let (code, _, err) = bash(cmd);
        assert_eq!(code, 2, "{cmd} was let through");
        assert!(
            err.contains("forbidden"),
            "{cmd}: the reason is on stderr: {err}"
        );
    }
    let (code, out, err) = bash("docker compose logs web");
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn the_hook_blocks_what_it_cannot_read_and_asks_about_schema_changes() {
    let (code, _, err) = hook("{not json");
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the tool call"), "{err}");
    let (code, out, _) = bash("psql -c 'DROP TABLE orders'");
    assert_eq!(code, 0);
    let answer: serde_json::Value = serde_json::from_str(&out).expect("a JSON answer");
    assert_eq!(answer["hookSpecificOutput"]["permissionDecision"], "ask");
    let (code, _, _) = hook(
        &serde_json::json!({"tool_name": "Write", "tool_input": {"file_path": "/srv/app/.env", "content": "A=1"}})
            .to_string(),
    );
    assert_eq!(code, 2, "writing .env was let through");
}
