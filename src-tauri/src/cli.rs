//! The command line: `sickbay watch | status | incidents | doctor`. Parses, loads the
//! configuration, runs the command and maps failures to exit codes (2: configuration or usage).
//! It holds no domain rule and no SQL: what a command does lives in the modules it calls.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigSource, Settings};
use crate::engine::{self, StatusView};
use crate::event::Event;
use crate::model::Incident;
use crate::store::Store;
use crate::{docker, paths};

#[derive(Debug, Parser)]
#[command(
    name = "sickbay",
    version,
    about = "Keeps your Docker stack alive: watch, heal, escalate."
)]
pub struct Cli {
    /// Configuration file (default: the platform's config folder, `sickbay/sickbay.toml`).
    #[arg(long, global = true, env = "SICKBAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Open the dashboard window at start (tray app).
    #[arg(long, global = true)]
    pub open_dashboard: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Monitor and heal in the foreground until interrupted.
    Watch,
    /// Each container's state, health, restarts, CPU, memory and response time, and the verdict.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// The incident history, newest first.
    Incidents {
        #[arg(long)]
        json: bool,
        /// Only incidents that are not closed.
        #[arg(long)]
        open: bool,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Checks what Sickbay needs and says what to do about what is missing.
    Doctor,
    /// Opens a terminal running Claude Code on an incident, with its timeline, logs and
    /// diagnosis, under Sickbay's guardrails.
    Investigate {
        /// The incident's id (`sickbay incidents` lists them).
        incident_id: i64,
    },
    /// Starts the compose stack of `[stack] compose_file` (`up -d`).
    Up,
    /// Stops the compose stack (`stop`: nothing is removed, no volume, no container).
    Down,
    /// Claude Code's PreToolUse hook: reads the tool call as JSON on stdin; exit 2 blocks it.
    #[command(hide = true)]
    Guard,
    /// The dashboard window, as the tray app starts it (its messages on stdin and stdout).
    #[command(hide = true)]
    Dashboard,
}

/// An error with the exit code it maps to.
pub struct Failure {
    pub code: u8,
    pub error: anyhow::Error,
}

impl<E: Into<anyhow::Error>> From<E> for Failure {
    fn from(e: E) -> Self {
        let error = e.into();
        let code = if error.downcast_ref::<crate::config::ConfigError>().is_some() {
            2
        } else {
            1
        };
        Self { code, error }
    }
}

pub fn load_settings(cli: &Cli) -> Result<(Settings, ConfigSource), Failure> {
    Ok(Settings::load(cli.config.as_deref())?)
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Runs a headless command.
pub fn run(cli: &Cli, command: &Command) -> Result<(), Failure> {
    match command {
        Command::Watch => {
            let (settings, source) = load_settings(cli)?;
            let _guard = crate::telemetry::init(Some(&paths::logs_dir()), "info");
            if let ConfigSource::File(p) = &source {
                tracing::info!("configuration from {}", p.display());
            }
            let store = Store::open(&paths::database_file())?;
            runtime()?.block_on(run_engine(
                settings,
                store,
                shutdown_signal(),
                engine::Links::default(),
            ))?;
            Ok(())
        }
        Command::Status { json } => {
            let (settings, _) = load_settings(cli)?;
            let _guard = crate::telemetry::init(None, "warn");
            let store = Store::open(&paths::database_file())?;
            let mut view = runtime()?.block_on(engine::snapshot(&settings, &store));
            if let Some(state) = engine::EngineState::read(&paths::data_dir().join("engine.json")) {
                view.history_errors = state.history_errors;
            }
            if settings.storage.postgres_url().is_some() {
                view.mirror_pending = Some(store.outbox_state()?.pending);
            }
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &view)?;
                writeln!(out)?;
            } else {
                print_status(&mut out, &view)?;
            }
            Ok(())
        }
        Command::Incidents { json, open, limit } => {
            let _ = load_settings(cli)?;
            let store = Store::open(&paths::database_file())?;
            let list = store.incidents(*open, *limit)?;
            let mut out = std::io::stdout().lock();
            if *json {
                serde_json::to_writer_pretty(&mut out, &list)?;
                writeln!(out)?;
            } else {
                print_incidents(&mut out, &list)?;
            }
            Ok(())
        }
        Command::Doctor => doctor(cli),
        Command::Up => stack(cli, crate::stack::Op::Up),
        Command::Down => stack(cli, crate::stack::Op::Stop),
        Command::Guard => guard(),
        Command::Dashboard => Err(anyhow::anyhow!(
            "the dashboard is part of the tray app, and this build has none (built without the \
             `gui` feature)"
        )
        .into()),
        Command::Investigate { incident_id } => {
            let (settings, _) = load_settings(cli)?;
            let _guard = crate::telemetry::init(None, "warn");
            let inv = runtime()?.block_on(crate::escalate::investigate(
                &settings,
                &paths::DataDir::current(),
                *incident_id,
            ))?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "incident {}: {}",
                inv.incident_id,
                inv.incident_md.display()
            )?;
            writeln!(out, "settings (guardrails): {}", inv.settings.display())?;
            writeln!(out, "prompt: {}", inv.prompt.display())?;
            writeln!(out, "working directory: {}", inv.workdir.display())?;
            writeln!(out, "handed over: {}", inv.how)?;
            match inv.problem {
                None => Ok(()),
                Some(p) => Err(Failure {
                    code: 1,
                    error: anyhow::anyhow!(p),
                }),
            }
        }
    }
}

/// Runs the engine, with the alert watcher on its events and the Postgres mirror beside it
/// when one is configured, until
/// `shutdown`; then the mirror sends what is pending (the engine's last events included).
/// The one way both `watch` and the tray app run Sickbay.
pub async fn run_engine(
    settings: Settings,
    store: Store,
    shutdown: impl std::future::Future<Output = ()>,
    links: engine::Links,
) -> anyhow::Result<()> {
    let mut links = links;
    let bus = links
        .events
        .get_or_insert_with(|| tokio::sync::broadcast::channel(1024).0)
        .clone();
    let status = links
        .status
        .get_or_insert_with(|| {
            tokio::sync::watch::channel(engine::StatusView::unreachable(
                docker::endpoint(),
                "starting".into(),
            ))
            .0
        })
        .subscribe();
    let alerts = tokio::spawn(crate::alert::run(
        settings.clone(),
        paths::DataDir::current(),
        bus.subscribe(),
        bus.clone(),
        status,
    ));
    let webhook = tokio::spawn(crate::notify::run_webhook(
        settings.notify.clone(),
        bus.subscribe(),
    ));
    let mirror = crate::mirror::Running::start(
        settings.storage.postgres_url(),
        paths::database_file(),
        None,
    );
    tokio::pin!(shutdown);
    let mut store = store;
    let Some(acting) = stand_by(&settings, &mut store, links.status.as_ref(), &mut shutdown).await
    else {
        // Stopped while standing by.
        alerts.abort();
        webhook.abort();
        if let Some(m) = mirror {
            m.stop().await;
        }
        return Ok(());
    };
    links.state_file = Some(paths::data_dir().join("engine.json"));
    let result = engine::run(settings, store, paths::logs_dir(), &mut shutdown, links).await;
    drop(acting);
    alerts.abort();
    webhook.abort();
    if let Some(m) = mirror {
        m.stop().await;
    }
    result
}

/// Waits until this process may act on the engine: another Sickbay watching the same
/// containers of the same engine acts meanwhile, and this one says it stands by (in
/// `monitor.log`, the history and the status) and takes over when the other stops. `None`:
/// `shutdown` came first. A lock that cannot be taken at all (no writable folder) is said in
/// the diagnostic log, and this process acts.
async fn stand_by(
    settings: &Settings,
    // `&mut`: a shared `&Store` is not `Send`, and this future runs on the tray's runtime.
    store: &mut Store,
    status: Option<&tokio::sync::watch::Sender<engine::StatusView>>,
    shutdown: &mut (impl std::future::Future<Output = ()> + Unpin),
) -> Option<Option<crate::lock::ActingLock>> {
    use crate::lock::{self, Acquire};
    let endpoint = docker::endpoint();
    let selector = &settings.monitoring.label_selector;
    let me = format!(
        "pid {}, data {}",
        std::process::id(),
        paths::data_dir().display()
    );
    let mut stood_by = false;
    loop {
        match lock::try_acquire(&lock::dir(), &endpoint, selector, &me) {
            Ok(Acquire::Acting(l)) => {
                if stood_by {
                    note_event(settings, store, Event::TakingOver, String::new());
                }
                return Some(Some(l));
            }
            Ok(Acquire::Held { by }) => {
                if !stood_by {
                    stood_by = true;
                    let other = by.unwrap_or_else(|| "another process".into());
                    let why = format!(
                        "another Sickbay ({other}) acts on {endpoint} for the same containers; \
                         this one stands by and takes over when it stops"
                    );
                    tracing::warn!("{why}");
                    note_event(
                        settings,
                        store,
                        Event::StandingBy,
                        format!("docker:{endpoint} other:{:?}", other),
                    );
                    if let Some(tx) = status {
                        let _ = tx.send(engine::StatusView::standing_by(endpoint.clone(), why));
                    }
                }
            }
            Err(e) => {
                tracing::warn!(
                    "cannot take the lock that keeps two Sickbays from acting on one engine \
                     ({e}); acting anyway"
                );
                return Some(None);
            }
        }
        tokio::select! {
            _ = &mut *shutdown => return None,
            _ = tokio::time::sleep(std::time::Duration::from_secs(2)) => {}
        }
    }
}

/// An event outside the engine's run, written like the engine's: history, then monitor.log.
fn note_event(settings: &Settings, store: &Store, event: Event, fields: String) {
    let logs = paths::logs_dir();
    let r = crate::journal::record(store, &logs, &settings.retention, event, None, None, fields);
    if let Err(e) = r {
        tracing::error!("history: recording {event} failed: {e}");
    }
}

/// Resolves on SIGINT or SIGTERM (Ctrl+C on Windows).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_status(out: &mut impl Write, v: &StatusView) -> std::io::Result<()> {
    if !v.docker_reachable {
        writeln!(
            out,
            "verdict: grey (Docker unreachable at {})",
            v.docker_endpoint
        )?;
        if let Some(e) = &v.docker_error {
            writeln!(out, "  {e}")?;
        }
        return Ok(());
    }
    writeln!(
        out,
        "{:<28} {:<10} {:<10} {:>8} {:>7} {:>9} {:>8}  {:<7} NOTE",
        "CONTAINER", "STATE", "HEALTH", "RESTARTS", "CPU %", "MEM MB", "HTTP MS", "VERDICT"
    )?;
    for c in &v.containers {
        writeln!(
            out,
            "{:<28} {:<10} {:<10} {:>8} {:>7} {:>9} {:>8}  {:<7} {}",
            c.name,
            c.state.as_str(),
            c.health.as_str(),
            c.restart_count,
            opt(c.cpu_percent, 1),
            opt(c.mem_mb, 1),
            opt(c.response_time_ms, 0),
            c.verdict.map(|v| v.as_str()).unwrap_or("-"),
            c.note.as_deref().unwrap_or("")
        )?;
    }
    writeln!(out, "verdict: {}", v.verdict)
}

fn print_incidents(out: &mut impl Write, list: &[Incident]) -> std::io::Result<()> {
    if list.is_empty() {
        return writeln!(out, "no incidents");
    }
    writeln!(
        out,
        "{:>5}  {:<24} {:<18} {:<15} {:<24} {:<24} {:<6} {:>3}  ACTIONS",
        "ID", "CONTAINER", "KIND", "STATUS", "OPENED", "CLOSED", "HEALED", "TRY"
    )?;
    for i in list {
        let actions: Vec<String> = i
            .actions
            .iter()
            .map(|a| format!("{}:{}", a.action.as_str(), a.outcome))
            .collect();
        writeln!(
            out,
            "{:>5}  {:<24} {:<18} {:<15} {:<24} {:<24} {:<6} {:>3}  {}",
            i.id,
            i.container,
            i.kind.as_str(),
            i.status.as_str(),
            i.opened_at,
            i.closed_at.as_deref().unwrap_or("-"),
            if i.auto_healed { "yes" } else { "no" },
            i.attempts,
            actions.join(", ")
        )?;
    }
    Ok(())
}

/// One line of `doctor`'s report.
struct Check {
    ok: bool,
    essential: bool,
    what: String,
    advice: Option<String>,
}

fn doctor(cli: &Cli) -> Result<(), Failure> {
    let mut checks = Vec::new();
    match load_settings(cli) {
        Ok((_, ConfigSource::File(p))) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!("configuration {} is valid", p.display()),
            advice: None,
        }),
        Ok((_, ConfigSource::Defaults { looked_at })) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "no configuration file at {}: using the defaults",
                looked_at.display()
            ),
            advice: None,
        }),
        Err(f) => checks.push(Check {
            ok: false,
            essential: true,
            what: format!("{:#}", f.error),
            advice: Some("fix the file, or see sickbay.example.toml for every key".into()),
        }),
    }
    let rt = runtime()?;
    let endpoint = docker::endpoint();
    match rt.block_on(async {
        let d = docker::Docker::connect().await?;
        d.version().await
    }) {
        Ok(v) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "Docker reachable at {endpoint}: engine {}, API {}",
                v.version, v.api_version
            ),
            advice: None,
        }),
        Err(e) => checks.push(Check {
            ok: false,
            essential: true,
            what: e.to_string(),
            advice: Some(
                "start the Docker daemon, check that your user may use its socket \
                 (the `docker` group), or set DOCKER_HOST"
                    .into(),
            ),
        }),
    }
    checks.push(match crate::stack::Tool::detect() {
        Some(c) => Check {
            ok: true,
            essential: false,
            what: format!("compose available: {c}"),
            advice: None,
        },
        None => Check {
            ok: false,
            essential: false,
            what: "compose not found (neither `docker compose` nor `docker-compose`)".into(),
            advice: Some("install the Docker Compose plugin or docker-compose".into()),
        },
    });
    if let Ok((settings, _)) = load_settings(cli) {
        if let Some(project) = crate::stack::Project::from_settings(&settings.stack) {
            let file = project.files[0].display().to_string();
            let missing = !project.missing_files().is_empty();
            checks.push(Check {
                ok: !missing,
                essential: false,
                what: if missing {
                    format!("the stack's compose file {file} does not exist")
                } else {
                    format!("stack: {file}")
                },
                advice: missing.then(|| "fix `[stack] compose_file`".to_string()),
            });
        }
        checks.push(
            match rt.block_on(crate::llm::describe(&settings.diagnosis)) {
                Ok(what) => Check {
                    ok: true,
                    essential: false,
                    what,
                    advice: None,
                },
                Err(what) => Check {
                    ok: false,
                    essential: false,
                    what,
                    advice: Some("only the offline diagnosis will be made".into()),
                },
            },
        );
    }
    let data = paths::data_dir();
    checks.push(match writable(&data) {
        Ok(()) => Check {
            ok: true,
            essential: true,
            what: format!("data directory {} is writable", data.display()),
            advice: None,
        },
        Err(e) => Check {
            ok: false,
            essential: true,
            what: format!("data directory {} is not writable: {e}", data.display()),
            advice: Some("fix its permissions or set SICKBAY_DATA_DIR".into()),
        },
    });
    match Store::open(&paths::database_file()) {
        Ok(s) => checks.push(Check {
            ok: true,
            essential: true,
            what: format!(
                "history {} (schema {}, {} incidents)",
                paths::database_file().display(),
                s.schema_version().unwrap_or(0),
                s.count(crate::schema::Table::Incidents).unwrap_or(0)
            ),
            advice: None,
        }),
        Err(e) => checks.push(Check {
            ok: false,
            essential: true,
            what: e.to_string(),
            advice: Some("move the file aside; Sickbay starts a new one".into()),
        }),
    }
    if let Some(state) = engine::EngineState::read(&paths::data_dir().join("engine.json")) {
        checks.push(Check {
            ok: state.history_errors == 0,
            essential: false,
            what: match &state.last_history_error {
                None => format!(
                    "the running watcher (pid {}) has written every event to the history",
                    state.pid
                ),
                Some(last) => format!(
                    "the running watcher (pid {}) failed {} write(s) to the history; the last: {last}",
                    state.pid, state.history_errors
                ),
            },
            advice: (state.history_errors > 0).then(|| {
                "see the diagnostic log (logs/sickbay.log.*); check the disk and the file's \
                 permissions"
                    .to_string()
            }),
        });
    }
    if let Ok(store) = Store::open(&paths::database_file()) {
        let since = crate::clock::utc_ago(std::time::Duration::from_secs(3600));
        if let Ok(others) = store.restarts_by_others_since(&since) {
            if !others.is_empty() {
                let list: Vec<String> = others.iter().map(|(n, c)| format!("{n} ({c}×)")).collect();
                checks.push(Check {
                    ok: false,
                    essential: false,
                    what: format!(
                        "another healer seems to be at work: restarted by something other than \
                         Sickbay while failing, in the last hour: {}",
                        list.join(", ")
                    ),
                    advice: Some(
                        "stop the other healer (autoheal, a second Sickbay on another machine, \
                         a cron job): its restarts count against Sickbay's limits"
                            .into(),
                    ),
                });
            }
        }
    }
    if let Ok((settings, _)) = load_settings(cli) {
        checks.push(acting_check(&settings));
    }
    if let Some(url) = load_settings(cli)
        .ok()
        .and_then(|(s, _)| s.storage.postgres_url())
    {
        checks.push(mirror_check(&rt, &url));
    }
    let mut out = std::io::stdout().lock();
    let mut failed = false;
    for c in &checks {
        let mark = if c.ok {
            "ok  "
        } else if c.essential {
            "FAIL"
        } else {
            "warn"
        };
        writeln!(out, "[{mark}] {}", c.what)?;
        if let Some(a) = &c.advice {
            writeln!(out, "       → {a}")?;
        }
        failed |= !c.ok && c.essential;
    }
    if failed {
        return Err(Failure {
            code: 1,
            error: anyhow::anyhow!("some essential checks failed"),
        });
    }
    Ok(())
}

/// Whether this process would act on the engine or stand by for another Sickbay.
fn acting_check(settings: &Settings) -> Check {
    use crate::lock::{self, Acquire};
    let endpoint = docker::endpoint();
    let me = format!("pid {} (sickbay doctor)", std::process::id());
    match lock::try_acquire(
        &lock::dir(),
        &endpoint,
        &settings.monitoring.label_selector,
        &me,
    ) {
        Ok(Acquire::Acting(_)) => Check {
            ok: true,
            essential: false,
            what: "no other Sickbay acts on these containers now".into(),
            advice: None,
        },
        Ok(Acquire::Held { by }) => Check {
            ok: true,
            essential: false,
            what: format!(
                "a Sickbay acts on these containers now ({}); another one started with this \
                 configuration stands by until it stops",
                by.unwrap_or_else(|| "another process".into())
            ),
            advice: None,
        },
        Err(e) => Check {
            ok: false,
            essential: false,
            what: format!("cannot check for another Sickbay: {e}"),
            advice: Some(format!(
                "make {} writable: two Sickbays could both act",
                lock::dir().display()
            )),
        },
    }
}

/// The Postgres mirror's line of `doctor`: reachable, schema version, rows pending, lag.
fn mirror_check(rt: &tokio::runtime::Runtime, url: &str) -> Check {
    let target = match crate::mirror::Target::parse(url) {
        Ok(t) => t,
        Err(e) => {
            return Check {
                ok: false,
                essential: false,
                what: format!("Postgres mirror: {e}"),
                advice: Some("fix [storage] postgres_url or SICKBAY_POSTGRES_URL".into()),
            }
        }
    };
    let st = rt.block_on(crate::mirror::check(&target, &paths::database_file()));
    let backlog = format!(
        "{} rows pending{}",
        st.pending,
        st.lag_seconds
            .map(|l| format!(", oldest {l:.0} s old"))
            .unwrap_or_default()
    );
    match st.error {
        None => Check {
            ok: true,
            essential: false,
            what: format!(
                "Postgres mirror {} reachable: schema {}, {backlog}",
                st.target,
                st.schema_version.unwrap_or(0)
            ),
            advice: None,
        },
        Some(e) => Check {
            ok: false,
            essential: false,
            what: format!("{e} ({backlog}; the history keeps growing locally)"),
            // A TLS failure says which sslmode to set; the rest is the server or the login.
            advice: Some(st.advice.unwrap_or_else(|| {
                "check the server, the database name, the user and its password \
                 (SICKBAY_POSTGRES_PASSWORD, PGPASSWORD or the keychain)"
                    .into()
            })),
        },
    }
}

fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(".sickbay-write-test");
    std::fs::write(&probe, b"ok")?;
    std::fs::remove_file(probe)
}

/// `sickbay up` / `sickbay down`: runs compose on the configured stack, printing what
/// compose prints as it goes.
fn stack(cli: &Cli, op: crate::stack::Op) -> Result<(), Failure> {
    use crate::stack::{self, ComposeError};
    let (settings, _) = load_settings(cli)?;
    let (tool, project) = stack::configured(&settings.stack).map_err(|e| Failure {
        code: if matches!(e, ComposeError::NotConfigured) {
            2
        } else {
            1
        },
        error: e.into(),
    })?;
    let files: Vec<String> = project
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    eprintln!("{}: {} (with {tool})", op.doing(), files.join(", "));
    let result = runtime()?.block_on(stack::run(tool, &project, &op, |line| {
        eprintln!("  {line}")
    }));
    match result {
        Ok(()) => {
            eprintln!("{}: done", op.doing());
            Ok(())
        }
        // Its output is on the screen already.
        Err(ComposeError::Failed {
            command, status, ..
        }) => Err(anyhow::anyhow!("`{command}` failed ({status}); its output is above").into()),
        Err(ComposeError::TimedOut {
            command, minutes, ..
        }) => Err(anyhow::anyhow!(
            "`{command}` did not finish within {minutes} minutes and was stopped; its output is \
             above"
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// The PreToolUse hook: exit 0 lets the tool call through, exit 2 blocks it with the reason on
/// stderr (also when stdin cannot be read); "ask" goes back as the hook's JSON answer.
fn guard() -> Result<(), Failure> {
    use std::io::Read;
    let mut input = String::new();
    let decision = match std::io::stdin().take(4 << 20).read_to_string(&mut input) {
        Ok(_) => crate::guard::check_hook_input(&input),
        Err(e) => crate::guard::Decision::Block(format!("sickbay guard cannot read stdin: {e}")),
    };
    match decision {
        crate::guard::Decision::Allow => Ok(()),
        crate::guard::Decision::Ask(reason) => {
            let answer = serde_json::json!({
                "hookSpecificOutput": {
                    "hookEventName": "PreToolUse",
                    "permissionDecision": "ask",
                    "permissionDecisionReason": reason,
                }
            });
            println!("{answer}");
            Ok(())
        }
        crate::guard::Decision::Block(reason) => {
            eprintln!("{reason}");
            std::process::exit(2);
        }
    }
}

/// Prints a failure once, with its chain, and returns the exit code.
pub fn report(f: Failure) -> ExitCode {
    eprintln!("sickbay: {:#}", f.error);
    ExitCode::from(f.code)
}
