//! The guardrails an investigating agent runs under, enforced by `sickbay guard`: Claude Code's
//! PreToolUse hook. It reads the tool call as JSON on stdin and answers with an exit code: 0 lets
//! the call through, 2 blocks it (the reason on stderr goes back to the agent). A call it cannot
//! read is blocked too: any other code would let it through.
//!
//! Blocked: deleting Docker volumes in any spelling (`docker volume rm|prune`, `compose down -v`,
//! `--volumes`, `-fv`, `rm -v`), `docker system prune`, removing images, `git push`, writing or
//! editing files that hold secrets (`.env`, keys, credentials) or text carrying secrets, and
//! commands it cannot see through (a variable or substitution where the verb goes). Schema-
//! breaking SQL (`DROP TABLE`, `TRUNCATE`, `ALTER TABLE ... DROP`) is sent to the user for
//! approval. Pure: the `guard` command wires it to stdin and the exit code.

use serde_json::Value;

/// What the hook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The user must approve (Claude Code asks).
    Ask(String),
    Block(String),
}

/// Decides on one PreToolUse call (`{"tool_name": ..., "tool_input": {...}}`).
pub fn check_hook_input(raw: &str) -> Decision {
    let v: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => return Decision::Block(format!("sickbay guard cannot read the tool call: {e}")),
    };
    let Some(tool) = v.get("tool_name").and_then(Value::as_str) else {
        return Decision::Block("sickbay guard: the tool call names no tool_name".into());
    };
    let input = v.get("tool_input").cloned().unwrap_or(Value::Null);
    check_tool(tool, &input)
}

pub fn check_tool(tool: &str, input: &Value) -> Decision {
    match tool {
        "Bash" => match input.get("command").and_then(Value::as_str) {
            Some(cmd) => check_command(cmd),
            None => Decision::Block("sickbay guard: a Bash call without a command".into()),
        },
        "Edit" | "Write" | "MultiEdit" | "NotebookEdit" => check_edit(input),
        "Read" | "Grep" => {
            let path = ["file_path", "path"]
                .iter()
                .find_map(|k| input.get(*k).and_then(Value::as_str))
                .unwrap_or("");
            if is_secret_path(path) {
                block(&format!(
                    "reading {path} (its secrets would reach the model)"
                ))
            } else {
                Decision::Allow
            }
        }
        _ => Decision::Allow,
    }
}

/// File names that hold secrets: never written or edited by the agent.
pub fn is_secret_path(path: &str) -> bool {
    let path = path.trim_matches(|c| c == '"' || c == '\'');
    let lower = path.to_ascii_lowercase().replace('\\', "/");
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let harmless = [".example", ".sample", ".template", ".dist", ".md"];
    if name.starts_with(".env") {
        return !harmless.iter().any(|h| name.ends_with(h));
    }
    if harmless.iter().any(|h| name.ends_with(h)) {
        return false;
    }
    let exact = [
        "id_rsa",
        "id_dsa",
        "id_ecdsa",
        "id_ed25519",
        ".pgpass",
        ".netrc",
        ".git-credentials",
        ".htpasswd",
        ".npmrc",
        ".pypirc",
        "auth.json",
    ];
    let parts = [
        "secret",
        "credential",
        "password",
        "passwd",
        "apikey",
        "api_key",
        "token",
    ];
    let exts = [".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".kdbx"];
    exact.contains(&name)
        || parts.iter().any(|p| name.contains(p))
        || exts.iter().any(|e| name.ends_with(e))
        || lower.ends_with(".aws/credentials")
        || lower.ends_with(".docker/config.json")
        || lower.contains("/.ssh/")
}

/// Text that carries a secret (a key shape, a password assignment, a PEM key).
fn carries_secret(text: &str) -> bool {
    let plain = crate::domain::redact::strip_ansi(text);
    crate::domain::redact::Redactor::new(Vec::new()).redact(&plain) != plain
}

fn check_edit(input: &Value) -> Decision {
    let path = input
        .get("file_path")
        .or_else(|| input.get("notebook_path"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if is_secret_path(path) {
        return Decision::Block(format!(
            "sickbay guard: {path} holds secrets or API keys; Sickbay's rules forbid changing it. \
             Describe the change for the user instead."
        ));
    }
    let mut texts: Vec<&str> = ["content", "new_string", "old_string", "new_source"]
        .iter()
        .filter_map(|k| input.get(*k).and_then(Value::as_str))
        .collect();
    if let Some(edits) = input.get("edits").and_then(Value::as_array) {
        for e in edits {
            for k in ["new_string", "old_string"] {
                if let Some(t) = e.get(k).and_then(Value::as_str) {
                    texts.push(t);
                }
            }
        }
    }
    if texts.iter().any(|t| carries_secret(t)) {
        return Decision::Block(format!(
            "sickbay guard: this edit of {path} adds, changes or removes what looks like a secret \
             (an API key, token or password); Sickbay's rules forbid changing secrets."
        ));
    }
    Decision::Allow
}

/// Decides on a shell command line: every command in it, including those inside `sh -c`,
/// `eval`, `$(...)` and backticks.
pub fn check_command(line: &str) -> Decision {
    let mut ask = None;
    for segment in segments(line) {
        match check_segment(&segment) {
            Decision::Allow => {}
            Decision::Ask(why) => ask = ask.or(Some(why)),
            block @ Decision::Block(_) => return block,
        }
    }
    if let Some(why) = ask {
        return Decision::Ask(why);
    }
    if let Some(why) = schema_breaking(line) {
        return Decision::Ask(why);
    }
    Decision::Allow
}

/// Schema-breaking SQL anywhere in the line: the user decides.
fn schema_breaking(line: &str) -> Option<String> {
    let upper = line.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |a: &str, b: &str| words.windows(2).any(|w| w[0] == a && w[1] == b);
    let breaking = has("DROP", "TABLE")
        || has("DROP", "SCHEMA")
        || has("DROP", "COLUMN")
        || has("DROP", "DATABASE")
        || words.contains(&"TRUNCATE")
        || (has("ALTER", "TABLE") && (words.contains(&"DROP") || words.contains(&"RENAME")));
    breaking.then(|| {
        "sickbay guard: this changes a database schema or deletes its data; the user must approve \
         schema-breaking changes."
            .to_string()
    })
}

/// One simple command, as words (quotes removed), plus its redirect targets.
#[derive(Debug, Default, Clone, PartialEq)]
struct Segment {
    words: Vec<Word>,
    redirects: Vec<Word>,
}

#[derive(Debug, Clone, PartialEq)]
struct Word {
    text: String,
    /// Contains an unquoted or double-quoted `$` or a backtick: its value is unknown.
    dynamic: bool,
}

/// Splits a command line into simple commands; nested command strings (`$(...)`, backticks,
/// `sh -c '...'`, `eval ...`) become segments of their own.
fn segments(line: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    collect(line, &mut out, 0);
    out
}

fn collect(line: &str, out: &mut Vec<Segment>, depth: usize) {
    if depth > 8 {
        out.push(Segment {
            words: vec![Word {
                text: "$(".into(),
                dynamic: true,
            }],
            redirects: Vec::new(),
        });
        return;
    }
    let (segs, nested) = tokenize(line);
    for n in nested {
        collect(&n, out, depth + 1);
    }
    for seg in segs {
        let cmd = command_words(&seg.words);
        let name = cmd.first().map(|w| basename(&w.text)).unwrap_or_default();
        let shells = ["sh", "bash", "dash", "zsh", "ash", "ksh", "busybox"];
        if shells.contains(&name.as_str()) {
            let is_c = |w: &Word| {
                w.text == "-c"
                    || (w.text.starts_with('-') && w.text.ends_with('c') && w.text.len() <= 4)
            };
            if let Some(i) = cmd.iter().position(is_c) {
                if let Some(script) = cmd.get(i + 1) {
                    collect(&script.text, out, depth + 1);
                }
            }
        } else if name == "eval" {
            let script: Vec<&str> = cmd[1..].iter().map(|w| w.text.as_str()).collect();
            collect(&script.join(" "), out, depth + 1);
        }
        out.push(seg);
    }
}

/// A small POSIX-shell tokenizer: quotes, escapes, operators, redirects, `$(...)` and backticks.
fn tokenize(line: &str) -> (Vec<Segment>, Vec<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut segs = Vec::new();
    let mut nested = Vec::new();
    let mut seg = Segment::default();
    let mut word = String::new();
    let mut in_word = false;
    let mut dynamic = false;
    let mut redirect_next = false;
    let mut i = 0;
    let finish_word = |seg: &mut Segment,
                       word: &mut String,
                       in_word: &mut bool,
                       dynamic: &mut bool,
                       redirect_next: &mut bool| {
        if *in_word {
            let w = Word {
                text: std::mem::take(word),
                dynamic: *dynamic,
            };
            if *redirect_next {
                seg.redirects.push(w);
                *redirect_next = false;
            } else {
                seg.words.push(w);
            }
        }
        *in_word = false;
        *dynamic = false;
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                if chars[i + 1] != '\n' {
                    word.push(chars[i + 1]);
                    in_word = true;
                }
                i += 2;
                continue;
            }
            '\'' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '"' => {
                in_word = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    } else if chars[i] == '$' || chars[i] == '`' {
                        dynamic = true;
                        if let Some((inner, end)) = substitution(&chars, i) {
                            nested.push(inner);
                            word.push_str("$(");
                            i = end;
                            continue;
                        }
                    }
                    word.push(chars[i]);
                    i += 1;
                }
            }
            '$' | '`' => {
                in_word = true;
                dynamic = true;
                if let Some((inner, end)) = substitution(&chars, i) {
                    nested.push(inner);
                    word.push_str("$(");
                    i = end;
                    continue;
                }
                word.push(c);
            }
            ';' | '&' | '|' | '\n' | '(' | ')' | '{' | '}' if !in_word || c != '{' && c != '}' => {
                finish_word(
                    &mut seg,
                    &mut word,
                    &mut in_word,
                    &mut dynamic,
                    &mut redirect_next,
                );
                if !seg.words.is_empty() || !seg.redirects.is_empty() {
                    segs.push(std::mem::take(&mut seg));
                }
            }
            '>' | '<' => {
                // `2>`, `&>`: the digits or & before belong to the operator.
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                finish_word(
                    &mut seg,
                    &mut word,
                    &mut in_word,
                    &mut dynamic,
                    &mut redirect_next,
                );
                while i + 1 < chars.len() && matches!(chars[i + 1], '>' | '<' | '&' | '|') {
                    i += 1;
                }
                // `>&2`: a descriptor, not a file.
                if i + 1 < chars.len() && chars[i + 1].is_ascii_digit() && chars[i] == '&' {
                    i += 2;
                    continue;
                }
                redirect_next = c == '>';
            }
            ' ' | '\t' => {
                finish_word(
                    &mut seg,
                    &mut word,
                    &mut in_word,
                    &mut dynamic,
                    &mut redirect_next,
                );
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
        i += 1;
    }
    finish_word(
        &mut seg,
        &mut word,
        &mut in_word,
        &mut dynamic,
        &mut redirect_next,
    );
    if !seg.words.is_empty() || !seg.redirects.is_empty() {
        segs.push(seg);
    }
    (segs, nested)
}

/// `$(...)` or a backtick substitution starting at `i`: its text and the index after it.
fn substitution(chars: &[char], i: usize) -> Option<(String, usize)> {
    if chars[i] == '`' {
        let end = chars[i + 1..].iter().position(|&c| c == '`')? + i + 1;
        return Some((chars[i + 1..end].iter().collect(), end + 1));
    }
    if chars.get(i + 1) != Some(&'(') {
        return None;
    }
    let mut depth = 0;
    for (j, &c) in chars.iter().enumerate().skip(i + 1) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some((chars[i + 2..j].iter().collect(), j + 1));
                }
            }
            _ => {}
        }
    }
    None
}

fn basename(w: &str) -> String {
    w.rsplit('/').next().unwrap_or(w).to_string()
}

/// The words of the command proper: without `VAR=value` prefixes and wrappers such as `sudo`,
/// `env`, `command`, `exec`, `nice`, `time`, `nohup`, `timeout N`, `xargs`.
fn command_words(words: &[Word]) -> &[Word] {
    let mut i = 0;
    while i < words.len() {
        let w = &words[i].text;
        let name = basename(w);
        let is_assignment = w.contains('=')
            && w.split('=').next().is_some_and(|k| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if is_assignment {
            i += 1;
        } else if [
            "sudo", "doas", "env", "command", "exec", "nice", "time", "nohup", "xargs", "stdbuf",
            "ionice", "setsid",
        ]
        .contains(&name.as_str())
        {
            i += 1;
            // Their own options (and sudo's -u USER, timeout's duration).
            while i < words.len() && words[i].text.starts_with('-') {
                let opt = words[i].text.clone();
                i += 1;
                if ["-u", "-g", "-n", "-I", "-C"].contains(&opt.as_str()) && i < words.len() {
                    i += 1;
                }
            }
        } else if name == "timeout" {
            i += 1;
            while i < words.len() && words[i].text.starts_with('-') {
                i += 1;
            }
            i += 1; // the duration
        } else {
            break;
        }
    }
    &words[i.min(words.len())..]
}

fn block(what: &str) -> Decision {
    Decision::Block(format!(
        "sickbay guard: {what} is forbidden while investigating (Sickbay never deletes volumes, \
         images or data, never changes secrets, never pushes). Say what you would run and why; \
         the user decides."
    ))
}

fn check_segment(seg: &Segment) -> Decision {
    for r in &seg.redirects {
        if r.dynamic {
            return block("redirecting output to a file named by a variable");
        }
        if is_secret_path(&r.text) {
            return block(&format!("writing to {}", r.text));
        }
    }
    let words = command_words(&seg.words);
    let Some(first) = words.first() else {
        return Decision::Allow;
    };
    if first.dynamic {
        return block("a command whose name comes from a variable or substitution");
    }
    let name = basename(&first.text);
    let args = &words[1..];
    match name.as_str() {
        "docker" | "podman" | "nerdctl" => check_docker(args),
        "docker-compose" | "podman-compose" => check_compose(args),
        "git" => check_git(args),
        "dropdb" => block("dropping a database"),
        "cat" | "less" | "more" | "head" | "tail" | "grep" | "rg" | "awk" | "strings" | "xxd"
        | "base64" | "od" | "source" | "." | "bat" => {
            match args
                .iter()
                .find(|a| !a.text.starts_with('-') && is_secret_path(&a.text))
            {
                Some(a) => block(&format!(
                    "reading {} (its secrets would reach the model)",
                    a.text
                )),
                None => Decision::Allow,
            }
        }
        "tee" | "sed" | "perl" | "cp" | "mv" | "rm" | "truncate" | "install" | "ln" | "dd"
        | "chmod" | "chown" | "shred" | "rsync" | "scp" => {
            let writes_secret = args.iter().any(|a| {
                let t = a.text.strip_prefix("of=").unwrap_or(&a.text);
                !t.starts_with('-') && is_secret_path(t)
            });
            if writes_secret {
                block(&format!("`{name}` on a file holding secrets"))
            } else {
                Decision::Allow
            }
        }
        _ => Decision::Allow,
    }
}

/// Docker's global options that take a value (before the subcommand).
const DOCKER_VALUE_OPTS: &[&str] = &[
    "-H",
    "--host",
    "-c",
    "--context",
    "--config",
    "-l",
    "--log-level",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// Compose's global options that take a value (before the subcommand).
const COMPOSE_VALUE_OPTS: &[&str] = &[
    "-f",
    "--file",
    "-p",
    "--project-name",
    "--project-directory",
    "--env-file",
    "--profile",
    "--ansi",
    "--parallel",
    "--progress",
    "-H",
    "--host",
    "-c",
    "--context",
    "--log-level",
];

/// The subcommand words after global options; `None` when a variable hides one.
fn after_options<'a>(args: &'a [Word], value_opts: &[&str]) -> Result<&'a [Word], Decision> {
    let mut i = 0;
    while i < args.len() {
        let w = &args[i];
        if w.dynamic {
            return Err(block(
                "a docker or git command whose subcommand comes from a variable",
            ));
        }
        if !w.text.starts_with('-') {
            break;
        }
        let takes_value = value_opts.contains(&w.text.as_str());
        i += 1;
        if takes_value {
            i += 1;
        }
    }
    Ok(&args[i.min(args.len())..])
}

/// Whether option words contain a short or long flag: `-v`, `-fv`, `--volumes`,
/// `--volumes=true`.
fn has_flag(words: &[Word], short: char, long: &str) -> bool {
    words.iter().any(|w| {
        let t = w.text.as_str();
        if let Some(l) = t.strip_prefix("--") {
            let (name, value) = l.split_once('=').unwrap_or((l, "true"));
            return name == long && !matches!(value, "false" | "0");
        }
        t.starts_with('-')
            && t.len() > 1
            && t[1..].chars().all(|c| c.is_ascii_alphabetic())
            && t[1..].contains(short)
    })
}

fn check_docker(args: &[Word]) -> Decision {
    let rest = match after_options(args, DOCKER_VALUE_OPTS) {
        Ok(r) => r,
        Err(d) => return d,
    };
    let Some(sub) = rest.first() else {
        return Decision::Allow;
    };
    let tail = &rest[1..];
    let verb = |i: usize| {
        tail.iter()
            .filter(|w| !w.text.starts_with('-'))
            .nth(i)
            .map(|w| w.text.as_str())
    };
    match sub.text.as_str() {
        "compose" => check_compose(tail),
        "volume" => match verb(0) {
            Some("rm" | "remove" | "prune") => block("deleting Docker volumes"),
            None if tail.iter().any(|w| w.dynamic) => {
                block("a docker volume command hidden in a variable")
            }
            _ => Decision::Allow,
        },
        "system" => match verb(0) {
            Some("prune") => block("`docker system prune`"),
            _ => Decision::Allow,
        },
        "rm" | "container"
            if sub.text == "rm" || matches!(verb(0), Some("rm" | "remove" | "prune")) =>
        {
            if sub.text == "container" && verb(0) == Some("prune") {
                return block("`docker container prune`");
            }
            if has_flag(tail, 'v', "volumes") {
                block("removing a container together with its volumes")
            } else {
                Decision::Allow
            }
        }
        "rmi" => block("removing Docker images"),
        "image" => match verb(0) {
            Some("rm" | "remove" | "prune") => block("removing Docker images"),
            _ => Decision::Allow,
        },
        "stack" => match verb(0) {
            Some("rm" | "remove" | "down") => block("removing a Docker stack"),
            _ => Decision::Allow,
        },
        _ => Decision::Allow,
    }
}

fn check_compose(args: &[Word]) -> Decision {
    let rest = match after_options(args, COMPOSE_VALUE_OPTS) {
        Ok(r) => r,
        Err(d) => return d,
    };
    let Some(sub) = rest.first() else {
        return Decision::Allow;
    };
    let tail = &rest[1..];
    match sub.text.as_str() {
        "down" if has_flag(tail, 'v', "volumes") => {
            block("`compose down` with its volumes (-v/--volumes)")
        }
        "down" if tail.iter().any(|w| w.text.starts_with("--rmi")) => {
            block("`compose down --rmi` (removing images)")
        }
        "rm" if has_flag(tail, 'v', "volumes") => block("`compose rm` with its volumes"),
        _ => Decision::Allow,
    }
}

/// Git's global options that take a value (before the subcommand).
const GIT_VALUE_OPTS: &[&str] = &[
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--exec-path",
];

fn check_git(args: &[Word]) -> Decision {
    let rest = match after_options(args, GIT_VALUE_OPTS) {
        Ok(r) => r,
        Err(d) => return d,
    };
    match rest.first().map(|w| w.text.as_str()) {
        Some("push") => block("`git push`"),
        Some("send-pack" | "subtree") if rest.iter().any(|w| w.text == "push") => {
            block("`git push`")
        }
        Some("send-pack") => block("`git send-pack`"),
        Some("config") if rest.iter().any(|w| w.text.contains("push")) => {
            block("configuring git to push (an alias or hook)")
        }
        _ => Decision::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocked(cmd: &str) -> bool {
        matches!(check_command(cmd), Decision::Block(_))
    }

    #[test]
    fn destructive_docker_commands_are_blocked_in_every_spelling() {
        for cmd in [
            "docker volume rm x",
            "docker volume rm -f data",
            "docker volume prune -f",
            "docker -H unix:///var/run/docker.sock volume rm x",
            "sudo docker volume rm x",
            "DOCKER_HOST=tcp://h docker volume remove x",
            "docker compose down -v",
            "docker compose -f a.yml -p p down --volumes",
            "docker compose down --volumes=true",
            "docker-compose down --volumes",
            "docker-compose down -fv",
            "docker compose down -vt 5",
            "docker compose down --rmi all",
            "cd /srv && docker compose down -v",
            "docker ps; docker volume rm x",
            "true || docker system prune -af",
            "docker system prune",
            "sh -c 'docker volume rm x'",
            "bash -lc \"docker compose down -v\"",
            "eval docker volume rm x",
            "echo $(docker volume rm x)",
            "echo `docker volume prune -f`",
            "docker rm -v web",
            "docker container rm --volumes web",
            "docker container prune -f",
            "docker rmi app:latest",
            "docker image prune -a",
            "V=volume; docker $V rm x",
            "$DOCKER volume rm x",
            "timeout 10 docker volume rm x",
            "/usr/bin/docker volume rm x",
        ] {
            assert!(blocked(cmd), "not blocked: {cmd}");
        }
    }

    #[test]
    fn git_push_is_blocked() {
        for cmd in [
            "git push",
            "git push origin main --force",
            "git -C /srv/app push",
            "git -c user.name=x push origin",
            "cd app; git commit -m x && git push",
            "git config alias.ship push",
        ] {
            assert!(blocked(cmd), "not blocked: {cmd}");
        }
    }

    #[test]
    fn harmless_commands_pass() {
        for cmd in [
            "docker compose logs web",
            "docker compose logs --tail 100 web",
            "docker ps",
            "docker ps -a --format '{{.Names}}'",
            "docker volume ls",
            "docker volume inspect data",
            "docker compose restart web",
            "docker compose up -d --force-recreate web",
            "docker compose down",
            "docker rm web",
            "docker logs web 2>&1 | tail -50",
            "git status && git log --oneline -5",
            "git commit -am 'fix: raise the pool size'",
            "grep -rn 'max_connections' . > /tmp/out.txt",
            "cat docker-compose.yml",
            "echo 'the volume -v flag' | wc -c",
        ] {
            assert_eq!(check_command(cmd), Decision::Allow, "{cmd}");
        }
    }

    #[test]
    fn secrets_are_not_written() {
        for cmd in [
            "echo KEY=x > .env",
            "echo KEY=x >> app/.env.production",
            "printf x | tee secrets.yaml",
            "sed -i 's/a/b/' .env",
            "cp new.pem server.key",
            "rm ~/.aws/credentials",
            "echo x > $FILE",
        ] {
            assert!(blocked(cmd), "not blocked: {cmd}");
        }
        assert_eq!(check_command("cat .env.example"), Decision::Allow);
        assert_eq!(check_command("cp .env.example notes.txt"), Decision::Allow);
    }

    #[test]
    fn edits_of_secret_files_or_secret_values_are_blocked() {
        let edit = |v: serde_json::Value| check_tool("Edit", &v);
        assert!(matches!(
            edit(
                serde_json::json!({"file_path": "/srv/app/.env", "old_string": "a", "new_string": "b"})
            ),
            Decision::Block(_)
        ));
        assert!(matches!(
            check_tool(
                "Write",
                &serde_json::json!({"file_path": "/srv/app/config/credentials.json", "content": "{}"})
            ),
            Decision::Block(_)
        ));
        assert!(matches!(
            edit(
                serde_json::json!({"file_path": "/srv/app/docker-compose.yml",
                "old_string": "ANTHROPIC_API_KEY: sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789",
                "new_string": "ANTHROPIC_API_KEY: sk-ant-api03-zyxwvutsrqponmlkjihgfedcba9876543210"})
            ),
            Decision::Block(_)
        ));
        assert_eq!(
            edit(
                serde_json::json!({"file_path": "/srv/app/docker-compose.yml",
                "old_string": "mem_limit: 256m", "new_string": "mem_limit: 512m"})
            ),
            Decision::Allow
        );
        assert!(matches!(
            check_tool(
                "MultiEdit",
                &serde_json::json!({"file_path": "/srv/app/settings.py",
                "edits": [{"old_string": "x", "new_string": "PASSWORD = 'hunter2hunter2'"}]})
            ),
            Decision::Block(_)
        ));
    }

    #[test]
    fn schema_breaking_sql_asks_the_user() {
        for cmd in [
            "psql -c 'DROP TABLE users'",
            "docker compose exec db psql -U app -c \"alter table users drop column email\"",
            "psql app -c 'TRUNCATE orders'",
        ] {
            assert!(matches!(check_command(cmd), Decision::Ask(_)), "{cmd}");
        }
        assert_eq!(
            check_command("psql -c 'SELECT count(*) FROM pg_stat_activity'"),
            Decision::Allow
        );
        assert!(blocked("dropdb app"));
    }

    #[test]
    fn unreadable_input_is_blocked() {
        assert!(matches!(check_hook_input("not json"), Decision::Block(_)));
        assert!(matches!(check_hook_input("{}"), Decision::Block(_)));
        assert!(matches!(
            check_hook_input(r#"{"tool_name":"Bash","tool_input":{}}"#),
            Decision::Block(_)
        ));
        assert!(matches!(
            check_hook_input(r#"{"tool_name":"Read","tool_input":{"file_path":"/srv/.env"}}"#),
            Decision::Block(_)
        ));
        assert_eq!(
            check_hook_input(r#"{"tool_name":"Read","tool_input":{"file_path":"/srv/app.py"}}"#),
            Decision::Allow
        );
        assert!(blocked("cat .env"));
        assert!(blocked("grep KEY /srv/app/.env.local"));
    }
}
