//! Docker Compose, run as a program: the one-click stack (`sickbay up` / `sickbay down`, the
//! tray's "Start stack" / "Stop stack") and the heal ladder's `recreate` and `rebuild` steps.
//! Compose is found as the plugin (`docker compose`) where it exists, else the standalone
//! `docker-compose`. Stopping is `stop`: never `down`, never `-v`, so no container, network or
//! volume is removed. Recreating keeps volumes (Compose carries anonymous volumes over to the
//! new container, and named volumes are not touched).
//!
//! It is also the one reader of the `com.docker.compose.*` labels ([`Service::of_container`],
//! [`Service::same_service`]): no other module reads them. It must not decide when to act
//! (that is the heal policy's) nor talk to the Docker API.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::config;
pub use crate::domain::deps::Declared;

/// The compose program found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    program: String,
    /// Arguments before compose's own (`compose` for the plugin).
    prefix: Vec<String>,
    pub version: String,
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.command_name(), self.version)
    }
}

impl Tool {
    /// `docker compose` or `docker-compose`.
    pub fn command_name(&self) -> String {
        std::iter::once(self.program.as_str())
            .chain(self.prefix.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Looks for the plugin, then the standalone program.
    pub fn detect() -> Option<Tool> {
        let version = |program: &str, args: &[&str]| {
            std::process::Command::new(program)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        if let Some(v) = version("docker", &["compose", "version", "--short"]) {
            return Some(Tool {
                program: "docker".into(),
                prefix: vec!["compose".into()],
                version: v,
            });
        }
        version("docker-compose", &["version", "--short"]).map(|v| Tool {
            program: "docker-compose".into(),
            prefix: Vec::new(),
            version: v,
        })
    }

    /// [`Tool::detect`], once per process once found (looked for again while it is missing:
    /// it may be installed meanwhile).
    pub fn cached() -> Option<&'static Tool> {
        static TOOL: OnceLock<Tool> = OnceLock::new();
        if let Some(t) = TOOL.get() {
            return Some(t);
        }
        let found = Tool::detect()?;
        Some(TOOL.get_or_init(|| found))
    }
}

/// A compose project: its files, and optionally its name, folder and env files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub files: Vec<PathBuf>,
    pub name: Option<String>,
    pub dir: Option<PathBuf>,
    /// `--env-file`s it was started with (Compose v2 labels them): a recreate without them
    /// could give the service other variables, other volume paths among them.
    pub env_files: Vec<PathBuf>,
}

/// A compose service of a running container, from the labels Compose puts on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub project: Project,
    pub service: String,
}

impl Project {
    /// The stack of `[stack]`, when a compose file is configured.
    pub fn from_settings(stack: &config::Stack) -> Option<Project> {
        if stack.compose_file.trim().is_empty() {
            return None;
        }
        Some(Project {
            files: vec![PathBuf::from(&stack.compose_file)],
            name: Some(stack.project_name.clone()).filter(|n| !n.is_empty()),
            dir: None,
            env_files: Vec::new(),
        })
    }

    /// Which project this is, as compose names it: the name, else the compose file's folder.
    fn key(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            self.files
                .first()
                .and_then(|f| f.parent()?.file_name())
                .map(|d| d.to_string_lossy().to_lowercase())
                .unwrap_or_default()
        })
    }

    fn args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = Vec::new();
        if let Some(n) = &self.name {
            out.extend(["-p".into(), n.into()]);
        }
        if let Some(d) = &self.dir {
            out.extend(["--project-directory".into(), d.into()]);
        }
        for f in &self.files {
            out.extend(["-f".into(), f.into()]);
        }
        for f in &self.env_files {
            out.extend(["--env-file".into(), f.into()]);
        }
        out
    }

    /// The files that do not exist, for an error that names them before compose runs.
    pub fn missing_files(&self) -> Vec<&Path> {
        self.files
            .iter()
            .map(PathBuf::as_path)
            .filter(|f| !f.exists())
            .collect()
    }
}

impl Service {
    /// The service a container belongs to, from `com.docker.compose.*` labels. `None` for a
    /// container Compose did not create.
    pub fn of_container(labels: &HashMap<String, String>) -> Option<Service> {
        let label = |k: &str| labels.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
        let project = label("com.docker.compose.project")?;
        let service = label("com.docker.compose.service")?;
        let dir = label("com.docker.compose.project.working_dir").map(PathBuf::from);
        // Compose v1 writes the files relative to the working folder, v2 absolute.
        let paths = |key: &str| -> Vec<PathBuf> {
            label(key)
                .map(|fs| {
                    fs.split(',')
                        .map(str::trim)
                        .filter(|f| !f.is_empty())
                        .map(|f| match &dir {
                            Some(d) if Path::new(f).is_relative() => d.join(f),
                            _ => PathBuf::from(f),
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let files = paths("com.docker.compose.project.config_files");
        let env_files = paths("com.docker.compose.project.environment_file");
        Some(Service {
            project: Project {
                files,
                name: Some(project.to_string()),
                dir,
                env_files,
            },
            service: service.to_string(),
        })
    }

    /// The services this one `depends_on` (or `links` to) in compose: Compose v2's
    /// `com.docker.compose.depends_on` label when there is one, else the project's compose
    /// files (Compose v1 labels no dependencies), read once per file version. `Err` names the
    /// file and the line compose's YAML is broken at.
    pub fn depends_on(&self, labels: &HashMap<String, String>) -> Result<Vec<Declared>, String> {
        if let Some(v) = labels.get("com.docker.compose.depends_on") {
            // `db:service_started:false,migrate:service_completed_successfully:true`
            let mut out: Vec<Declared> = v
                .split(',')
                .filter_map(|d| {
                    let mut parts = d.split(':').map(str::trim);
                    let service = parts.next().filter(|s| !s.is_empty())?;
                    Some(Declared {
                        service: service.to_string(),
                        job: parts.next() == Some(COMPLETED),
                    })
                })
                .collect();
            out.sort();
            out.dedup();
            return Ok(out);
        }
        let mut out = Vec::new();
        for file in &self.project.files {
            let declared = declared_dependencies(file)?;
            out.extend(declared.get(&self.service).cloned().unwrap_or_default());
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether two containers are the same compose service (the same project and service
    /// labels): a recreate's new container and the old one. False unless both are compose
    /// services.
    pub fn same_service(a: &HashMap<String, String>, b: &HashMap<String, String>) -> bool {
        match (Self::of_container(a), Self::of_container(b)) {
            (Some(a), Some(b)) => a.project.name == b.project.name && a.service == b.service,
            _ => false,
        }
    }
}

/// The largest compose file read for its dependencies.
const MAX_COMPOSE_FILE: u64 = 1024 * 1024;

/// Each service's dependencies in one compose file, cached by the file's modification time.
fn declared_dependencies(file: &Path) -> Result<Arc<HashMap<String, Vec<Declared>>>, String> {
    type Parsed = Result<Arc<HashMap<String, Vec<Declared>>>, String>;
    type Cache = std::sync::Mutex<HashMap<PathBuf, (std::time::SystemTime, Parsed)>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    // The path comes from a container's labels: only a regular file of a compose file's size.
    let meta =
        std::fs::metadata(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    if !meta.is_file() || meta.len() > MAX_COMPOSE_FILE {
        return Err(format!(
            "{} is not a compose file (not a regular file of at most 1 MiB)",
            file.display()
        ));
    }
    let modified = meta
        .modified()
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let cache = CACHE.get_or_init(Default::default);
    if let Some((at, parsed)) = cache.lock().ok().and_then(|c| c.get(file).cloned()) {
        if at == modified {
            return parsed;
        }
    }
    let parsed = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))
        .and_then(|text| parse_dependencies(&text).map_err(|e| format!("{}: {e}", file.display())))
        .map(Arc::new);
    if let Err(e) = &parsed {
        tracing::warn!("compose dependencies unknown: {e}");
    }
    if let Ok(mut c) = cache.lock() {
        c.insert(file.to_path_buf(), (modified, parsed.clone()));
    }
    parsed
}

/// Compose's condition for a dependency that runs once and exits (a migration, an init job).
const COMPLETED: &str = "service_completed_successfully";

/// `services.<name>.depends_on` (a list, or a map of conditions) and `links` (`service` or
/// `service:alias`) of a compose file's text.
pub fn parse_dependencies(text: &str) -> Result<HashMap<String, Vec<Declared>>, String> {
    use serde_yaml_ng::Value;
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(l) => format!("line {}, column {}: {e}", l.line(), l.column()),
        None => e.to_string(),
    })?;
    let mut out = HashMap::new();
    let Some(services) = doc.get("services").and_then(Value::as_mapping) else {
        return Ok(out);
    };
    let declared = |v: Option<&Value>| -> Vec<Declared> {
        let plain = |s: &str| Declared {
            service: s.split(':').next().unwrap_or(s).trim().to_string(),
            job: false,
        };
        match v {
            Some(Value::Sequence(list)) => {
                list.iter().filter_map(Value::as_str).map(plain).collect()
            }
            Some(Value::Mapping(map)) => map
                .iter()
                .filter_map(|(k, cond)| {
                    Some(Declared {
                        service: k.as_str()?.to_string(),
                        job: cond.get("condition").and_then(Value::as_str) == Some(COMPLETED),
                    })
                })
                .collect(),
            _ => Vec::new(),
        }
    };
    for (name, def) in services {
        let Some(name) = name.as_str() else {
            continue;
        };
        let mut needs = declared(def.get("depends_on"));
        needs.extend(declared(def.get("links")));
        needs.retain(|n| !n.service.is_empty() && n.service != name);
        needs.sort();
        needs.dedup_by(|a, b| a.service == b.service);
        if !needs.is_empty() {
            out.insert(name.to_string(), needs);
        }
    }
    Ok(out)
}

/// What to ask of compose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `up -d`: create and start every service.
    Up,
    /// `stop`: stop every service, removing nothing.
    Stop,
    /// `up -d --force-recreate --no-deps <service>`.
    Recreate(String),
    /// `build <service>`.
    Build(String),
}

impl Op {
    fn args(&self) -> Vec<String> {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Op::Up => v(&["up", "-d"]),
            Op::Stop => v(&["stop"]),
            Op::Recreate(s) => {
                let mut a = v(&["up", "-d", "--force-recreate", "--no-deps"]);
                a.push(s.clone());
                a
            }
            Op::Build(s) => vec!["build".into(), s.clone()],
        }
    }

    /// How long compose may take before it is stopped: a hung pull or build must not leave
    /// the stack's buttons, or a container's healing, waiting forever.
    pub fn time_limit(&self) -> std::time::Duration {
        let minutes = match self {
            Op::Stop => 10,
            Op::Up | Op::Recreate(_) => 30,
            Op::Build(_) => 60,
        };
        std::time::Duration::from_secs(minutes * 60)
    }

    /// What the op is doing, for a progress line ("Starting stack").
    pub fn doing(&self) -> String {
        match self {
            Op::Up => "Starting stack".into(),
            Op::Stop => "Stopping stack".into(),
            Op::Recreate(s) => format!("Recreating {s}"),
            Op::Build(s) => format!("Building {s}"),
        }
    }
}

/// Why a compose command did not do its job. The texts are shown to the user as they are.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error(
        "no stack is configured: set `compose_file` in the `[stack]` section of the configuration"
    )]
    NotConfigured,
    #[error("Docker Compose is not installed: neither `docker compose` nor `docker-compose` was found (install the Docker Compose plugin or docker-compose)")]
    NotInstalled,
    #[error("the compose file {} does not exist (`[stack] compose_file`)", .0.display())]
    MissingFile(PathBuf),
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` did not finish within {minutes} minutes and was stopped:\n{output}")]
    TimedOut {
        command: String,
        minutes: u64,
        output: String,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        command: String,
        status: String,
        output: String,
    },
}

/// Holds `project` for one compose run (or a heal step's build and recreate together) at a
/// time in this process: a user's "Stop stack" waits for a recreate under way instead of
/// racing it, and the last one asked for is what stays.
pub async fn lock(project: &Project) -> tokio::sync::OwnedMutexGuard<()> {
    type Locks = std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;
    static LOCKS: OnceLock<Locks> = OnceLock::new();
    let lock = {
        let mut locks = LOCKS
            .get_or_init(Locks::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        locks.entry(project.key()).or_default().clone()
    };
    lock.lock_owned().await
}

/// Runs `op` on `project` and waits for it. Every line compose prints goes to `progress` as
/// it comes; a failure carries the command and everything it printed.
pub async fn run(
    tool: &Tool,
    project: &Project,
    op: &Op,
    mut progress: impl FnMut(&str),
) -> Result<(), ComposeError> {
    if let Some(f) = project.missing_files().first() {
        return Err(ComposeError::MissingFile(f.to_path_buf()));
    }
    let mut args: Vec<OsString> = tool.prefix.iter().map(OsString::from).collect();
    args.extend(["--ansi".into(), "never".into()]);
    args.extend(project.args());
    args.extend(op.args().into_iter().map(OsString::from));
    let command = std::iter::once(tool.program.clone())
        .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ");
    let mut child = tokio::process::Command::new(&tool.program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ComposeError::Spawn {
            command: command.clone(),
            source,
        })?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward_lines(out, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward_lines(err, tx.clone()));
    }
    drop(tx);
    let mut output = Vec::new();
    let limit = op.time_limit();
    let waited = tokio::time::timeout(limit, async {
        while let Some(line) = rx.recv().await {
            progress(&line);
            output.push(line);
        }
        child.wait().await
    })
    .await;
    let status = match waited {
        Ok(status) => status.map_err(|source| ComposeError::Spawn {
            command: command.clone(),
            source,
        })?,
        // Dropping the child kills it (`kill_on_drop`).
        Err(_) => {
            return Err(ComposeError::TimedOut {
                command,
                minutes: limit.as_secs() / 60,
                output: output.join("\n"),
            })
        }
    };
    if status.success() {
        return Ok(());
    }
    Err(ComposeError::Failed {
        command,
        status: match status.code() {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        },
        output: output.join("\n"),
    })
}

/// Sends each line of `r` (split on `\n` or `\r`, blank ones dropped) until it ends.
async fn forward_lines(r: impl AsyncRead + Unpin, tx: mpsc::UnboundedSender<String>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                for part in String::from_utf8_lossy(&buf).split(['\r', '\n']) {
                    let line = part.trim_end();
                    if !line.trim().is_empty() && tx.send(line.to_string()).is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// The stack of `[stack]` with the compose program, or why there is none.
pub fn configured(stack: &config::Stack) -> Result<(&'static Tool, Project), ComposeError> {
    let project = Project::from_settings(stack).ok_or(ComposeError::NotConfigured)?;
    let tool = Tool::cached().ok_or(ComposeError::NotInstalled)?;
    Ok((tool, project))
}

/// Where the one-click stack stands, for the tray and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StackStatus {
    /// The compose file of `[stack]`, when one is configured.
    pub compose_file: Option<String>,
    /// What is running now ("Starting stack"), if anything.
    pub running: Option<String>,
    /// Everything compose printed in the current or last run (the last [`OUTPUT_LINES`]).
    pub output: Vec<String>,
    /// How the last run ended, when it has: `ok` and a line saying what was done or, on
    /// failure, the whole error.
    pub ok: Option<bool>,
    pub message: Option<String>,
}

/// Lines of compose's output kept for the dashboard.
pub const OUTPUT_LINES: usize = 2000;

impl StackStatus {
    pub fn new(stack: &config::Stack) -> Self {
        Self {
            compose_file: Project::from_settings(stack).map(|p| p.files[0].display().to_string()),
            ..Self::default()
        }
    }

    /// Marks `op` as started, unless something runs already (then `false`).
    pub fn begin(&mut self, op: &Op) -> bool {
        if self.running.is_some() {
            return false;
        }
        *self = Self {
            compose_file: self.compose_file.take(),
            running: Some(op.doing()),
            ..Self::default()
        };
        true
    }

    pub fn line(&mut self, line: String) {
        if self.output.len() >= OUTPUT_LINES {
            self.output.remove(0);
        }
        self.output.push(line);
    }

    pub fn finish(&mut self, op: &Op, result: &Result<(), ComposeError>) {
        self.running = None;
        self.ok = Some(result.is_ok());
        self.message = Some(match result {
            Ok(()) => format!("{}: done", op.doing()),
            Err(e) => format!("{} failed: {e}", op.doing()),
        });
    }

    /// One line for the tray: the running op with compose's last line, or a failure.
    pub fn tray_line(&self) -> Option<String> {
        if let Some(op) = &self.running {
            return Some(match self.output.last() {
                Some(l) => format!("{op}: {}", shorten(l.trim(), 60)),
                None => format!("{op}…"),
            });
        }
        None
    }

    /// The first line of the last failure, for the tray (the dashboard shows it whole).
    pub fn failure_line(&self) -> Option<String> {
        match (self.ok, &self.message) {
            (Some(false), Some(m)) => Some(shorten(m.lines().next().unwrap_or(m), 80)),
            _ => None,
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max - 1).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_files_name_each_services_dependencies() {
        let text = r#"
version: "2.4"
x-common: &common
  image: app
services:
  db:
    <<: *common
  web:
    <<: *common
    depends_on: [db, cache]
  worker:
    depends_on:
      db:
        condition: service_healthy
      migrate:
        condition: service_completed_successfully
    links: ["cache:redis", "web"]
  cache:
    image: redis
"#;
        let deps = parse_dependencies(text).expect("parsed");
        let names = |s: &str| -> Vec<(String, bool)> {
            deps[s].iter().map(|d| (d.service.clone(), d.job)).collect()
        };
        let plain = |s: &str| (s.to_string(), false);
        assert_eq!(names("web"), vec![plain("cache"), plain("db")]);
        assert_eq!(
            names("worker"),
            vec![
                plain("cache"),
                plain("db"),
                ("migrate".to_string(), true),
                plain("web")
            ]
        );
        assert!(!deps.contains_key("db"));
        let broken = parse_dependencies("services:\n  web:\n    depends_on: [db\n  x: 1\n")
            .expect_err("broken YAML");
        assert!(broken.contains("line "), "{broken}");
    }

    #[test]
    fn compose_v2_labels_its_dependencies_and_v1_is_read_from_the_files() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("docker-compose.yml"),
            "services:\n  web:\n    depends_on: [db]\n  db: {}\n",
        )
        .expect("write");
        let mut labels: HashMap<String, String> = [
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
            (
                "com.docker.compose.project.config_files",
                "docker-compose.yml",
            ),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        labels.insert(
            "com.docker.compose.project.working_dir".into(),
            dir.path().display().to_string(),
        );
        let web = Service::of_container(&labels).expect("a service");
        let service = |s: &str, job: bool| Declared {
            service: s.into(),
            job,
        };
        assert_eq!(web.depends_on(&labels), Ok(vec![service("db", false)]));
        labels.insert(
            "com.docker.compose.depends_on".into(),
            "redis:service_started:false,migrate:service_completed_successfully:true".into(),
        );
        assert_eq!(
            web.depends_on(&labels),
            Ok(vec![service("migrate", true), service("redis", false)])
        );
        labels.remove("com.docker.compose.depends_on");
        std::fs::write(dir.path().join("docker-compose.yml"), "services: [\n").expect("write");
        // A newer version of the file is read again.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let f = std::fs::File::options()
            .write(true)
            .open(dir.path().join("docker-compose.yml"))
            .expect("open");
        f.set_modified(later).expect("touch");
        let err = web.depends_on(&labels).expect_err("broken file");
        assert!(
            err.contains("docker-compose.yml") && err.contains("line"),
            "{err}"
        );
    }
    use std::time::Duration;

    /// A project's compose arguments as text.
    fn words(p: &Project) -> Vec<String> {
        p.args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_compose_container_names_its_service_and_files() {
        // Compose v1 writes the files relative to the working folder.
        let s = Service::of_container(&labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
            ("com.docker.compose.project.working_dir", "/src/shop"),
            (
                "com.docker.compose.project.config_files",
                "docker-compose.yml,/abs/override.yml",
            ),
        ]))
        .expect("a compose service");
        assert_eq!(s.service, "web");
        assert_eq!(s.project.name.as_deref(), Some("shop"));
        assert_eq!(
            s.project.files,
            [
                PathBuf::from("/src/shop/docker-compose.yml"),
                PathBuf::from("/abs/override.yml")
            ]
        );
        let args = words(&s.project);
        assert_eq!(
            args,
            [
                "-p",
                "shop",
                "--project-directory",
                "/src/shop",
                "-f",
                "/src/shop/docker-compose.yml",
                "-f",
                "/abs/override.yml"
            ]
        );
    }

    #[test]
    fn a_recreate_keeps_the_env_files_the_project_was_started_with() {
        let s = Service::of_container(&labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "db"),
            ("com.docker.compose.project.working_dir", "/src/shop"),
            (
                "com.docker.compose.project.config_files",
                "/src/shop/compose.yml",
            ),
            (
                "com.docker.compose.project.environment_file",
                "/src/shop/.env.prod",
            ),
        ]))
        .expect("a compose service");
        let args = words(&s.project);
        assert!(
            args.windows(2)
                .any(|w| w == ["--env-file", "/src/shop/.env.prod"]),
            "{args:?}"
        );
    }

    #[tokio::test]
    async fn one_compose_run_at_a_time_per_project() {
        let stack = |file: &str, name: &str| {
            Project::from_settings(&config::Stack {
                compose_file: file.into(),
                project_name: name.into(),
            })
            .expect("configured")
        };
        // Named by its folder, as compose does, it is the project its containers name.
        let a = stack("/srv/shop/compose.yml", "");
        let same = Service::of_container(&labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
        ]))
        .expect("service")
        .project;
        let held = lock(&a).await;
        let waiting = tokio::time::timeout(Duration::from_millis(100), lock(&same)).await;
        assert!(waiting.is_err(), "the same project waits");
        let other = tokio::time::timeout(
            Duration::from_millis(100),
            lock(&stack("/srv/blog/compose.yml", "")),
        )
        .await;
        assert!(other.is_ok(), "another project does not");
        drop(held);
        let after = tokio::time::timeout(Duration::from_millis(100), lock(&same)).await;
        assert!(after.is_ok(), "free again once the first run is done");
    }

    #[test]
    fn the_same_service_is_the_same_project_and_service_whatever_the_files() {
        let old = labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
            ("com.docker.compose.project.config_files", "/a/compose.yml"),
        ]);
        let new = labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "web"),
        ]);
        let other = labels(&[
            ("com.docker.compose.project", "shop"),
            ("com.docker.compose.service", "db"),
        ]);
        assert!(Service::same_service(&old, &new));
        assert!(!Service::same_service(&old, &other));
        assert!(!Service::same_service(&HashMap::new(), &HashMap::new()));
    }

    #[test]
    fn a_container_compose_did_not_create_has_no_service() {
        assert_eq!(Service::of_container(&labels(&[("app", "x")])), None);
        assert_eq!(
            Service::of_container(&labels(&[("com.docker.compose.project", "shop")])),
            None
        );
    }

    #[test]
    fn stopping_never_removes_anything() {
        for op in [
            Op::Up,
            Op::Stop,
            Op::Recreate("web".into()),
            Op::Build("web".into()),
        ] {
            let args = op.args();
            for bad in ["down", "rm", "-v", "--volumes", "--rmi", "-V"] {
                assert!(!args.iter().any(|a| a == bad), "{op:?} passes {bad}");
            }
        }
        assert_eq!(Op::Stop.args(), ["stop"]);
        assert_eq!(
            Op::Recreate("db".into()).args(),
            ["up", "-d", "--force-recreate", "--no-deps", "db"]
        );
    }

    #[test]
    fn the_status_follows_a_run_and_keeps_a_failure_whole() {
        let mut st = StackStatus::new(&config::Stack {
            compose_file: "/srv/compose.yml".into(),
            project_name: String::new(),
        });
        assert_eq!(st.tray_line(), None);
        assert!(st.begin(&Op::Up));
        assert!(!st.begin(&Op::Stop), "one run at a time");
        assert_eq!(st.tray_line().as_deref(), Some("Starting stack…"));
        st.line("Creating shop_web_1 ... done".into());
        assert_eq!(
            st.tray_line().as_deref(),
            Some("Starting stack: Creating shop_web_1 ... done")
        );
        let err = ComposeError::Failed {
            command: "docker-compose up -d".into(),
            status: "exit code 1".into(),
            output: "line one\nERROR: port is already allocated".into(),
        };
        st.finish(&Op::Up, &Err(err));
        assert_eq!(st.tray_line(), None);
        let msg = st.message.clone().expect("message");
        assert!(msg.contains("ERROR: port is already allocated"), "{msg}");
        assert_eq!(
            st.failure_line().as_deref(),
            Some("Starting stack failed: `docker-compose up -d` failed (exit code 1):")
        );
        assert_eq!(st.compose_file.as_deref(), Some("/srv/compose.yml"));
        // A new run starts clean.
        assert!(st.begin(&Op::Stop));
        assert!(st.output.is_empty() && st.ok.is_none() && st.failure_line().is_none());
        for i in 0..OUTPUT_LINES + 5 {
            st.line(format!("{i}"));
        }
        assert_eq!(st.output.len(), OUTPUT_LINES);
        assert_eq!(st.output[0], "5");
    }

    #[test]
    fn no_compose_file_means_no_stack() {
        let mut s = config::Stack::default();
        assert_eq!(Project::from_settings(&s), None);
        s.compose_file = "/srv/app/compose.yml".into();
        s.project_name = "app".into();
        let p = Project::from_settings(&s).expect("configured");
        assert_eq!(p.name.as_deref(), Some("app"));
        assert_eq!(p.missing_files(), [Path::new("/srv/app/compose.yml")]);
    }
}
