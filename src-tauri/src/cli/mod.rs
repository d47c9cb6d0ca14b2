//! The command line: `sickbay watch | status | incidents | doctor`. Parses, loads the
//! configuration, runs the command and maps failures to exit codes (2: configuration or usage).
//! It holds no domain rule and no SQL: what a command does lives in the modules it calls.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{ConfigSource, Settings};
use crate::domain::event::Event;
use crate::domain::model::Incident;
use crate::engine::{self, StatusView};
use crate::storage::store::Store;
use crate::{docker, paths};

mod doctor;
mod run;

use doctor::doctor;
pub use run::{run_engine, shutdown_signal};

#[derive(Debug, Parser)]
#[command(
    name = "sickbay",
    version,
    about = "Keeps your Docker stack alive: watch, heal, escalate.",
    long_about = "Keeps your Docker stack alive: watches every container (Docker's events and a \
periodic sweep), heals simple failures itself (a cache path cleared, a restart, with backoff \
and limits, each heal verified), and escalates what healing cannot fix: a diagnosis, and one \
command that opens Claude Code on the incident under guardrails. Everything is kept in a local \
SQLite history (mirrored to Postgres when one is set).\n\n\
With no command it is the tray app where there is a desktop (a build with it), and `watch` \
elsewhere.",
    after_long_help = AFTER_HELP
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
        /// A health check: exit 0 when a watcher runs on this data folder and reaches Docker,
        /// else say why and exit 1 (the container image's `HEALTHCHECK`).
        #[arg(long, conflicts_with = "json")]
        check: bool,
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
    /// Leaves a container alone for a while (`sickbay snooze web 1h`, or `--all 30m`): what
    /// it does is recorded and shown, nothing is healed and nothing is notified until then.
    Snooze {
        /// Every container, not one.
        #[arg(long)]
        all: bool,
        /// The container's name, then how long: 30m, 1h, 1h30m, 2d (at most 7 days).
        #[arg(value_name = "CONTAINER DURATION", num_args = 1..=2, required = true)]
        args: Vec<String>,
    },
    /// Ends a container's snooze (or, with `--all`, every snooze).
    Unsnooze {
        #[arg(long)]
        all: bool,
        #[arg(value_name = "CONTAINER", required_unless_present = "all")]
        container: Option<String>,
    },
    /// Starts the compose stack of `[stack] compose_file` (`up -d`).
    Up,
    /// Stops the compose stack (`stop`: nothing is removed, no volume, no container).
    Down,
    /// Runs `sickbay watch` as a systemd service: install, uninstall, status, or print the
    /// unit. A user service by default (`systemctl --user`); `--system` for the machine's.
    Service {
        #[command(subcommand)]
        action: ServiceAction,
    },
    /// Claude Code's PreToolUse hook: reads the tool call as JSON on stdin; exit 2 blocks it.
    #[command(hide = true)]
    Guard,
    /// The dashboard window, as the tray app starts it (its messages on stdin and stdout).
    #[command(hide = true)]
    Dashboard,
    /// Prints the manual page (roff), made from the same definitions as `--help`.
    #[command(hide = true)]
    Manual,
}

/// The end of `--help` and of the manual page.
const AFTER_HELP: &str = "\
Settings: read from --config, else SICKBAY_CONFIG, else the platform's config folder \
(~/.config/sickbay/sickbay.toml on Linux); with none, the defaults apply. The example, with \
every key explained, is sickbay.example.toml.

Data: SICKBAY_DATA_DIR, else ~/.local/share/sickbay on Linux, holds sickbay.db (the history), \
logs/ (monitor.log and the alert logs) and incidents/ (each escalated incident's folder).

Environment: DOCKER_HOST names the Docker engine (default: the local socket or named pipe); \
SICKBAY_POSTGRES_URL the Postgres mirror, over [storage] postgres_url; ANTHROPIC_API_KEY (or \
the variable [diagnosis] api_key_env names) the diagnosis's key, else the system's keychain.

Exit codes: 0 done; 1 failed; 2 the settings or the command line are wrong (the message names \
the file, line and key); 3 from `service status`: no service installed.

Signals: SIGTERM and SIGINT stop `watch` cleanly; SIGHUP reads the settings again.";

/// What `sickbay service` does.
#[derive(Debug, Subcommand)]
pub enum ServiceAction {
    /// Writes the unit (this program, `watch`; the `--config` and `SICKBAY_DATA_DIR` in use),
    /// enables it and starts it.
    Install {
        /// The system's service (root): its own user in the `docker` group, data in
        /// /var/lib/sickbay, settings in /etc/sickbay/sickbay.toml (the example written when
        /// there is none).
        #[arg(long)]
        system: bool,
        /// Enable it, but do not start it now.
        #[arg(long)]
        no_start: bool,
    },
    /// Stops and disables the service and removes its unit; data and settings stay.
    Uninstall {
        #[arg(long)]
        system: bool,
    },
    /// The unit file and what systemd says of the service.
    Status {
        #[arg(long)]
        system: bool,
    },
    /// Prints the unit that `install` writes.
    Unit {
        #[arg(long)]
        system: bool,
    },
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
            // First, so that a reload asked for while it starts (`systemctl reload`) reads the
            // settings instead of ending it.
            let rt = runtime()?;
            let (nudge, nudged) = tokio::sync::mpsc::unbounded_channel();
            {
                let _in = rt.enter();
                crate::config::live::forward_hangups(nudge);
            }
            let (settings, source) = load_settings(cli)?;
            let _guard = crate::telemetry::init(Some(&paths::logs_dir()), "info");
            if let ConfigSource::File(p) = &source {
                tracing::info!("configuration from {}", p.display());
            }
            let store = Store::open(&paths::database_file())?;
            let required = cli.config.is_some();
            rt.block_on(async {
                let (tx, live) = tokio::sync::watch::channel(settings.clone());
                tokio::spawn(crate::config::live::follow(
                    source,
                    required,
                    settings,
                    tx,
                    Some(nudged),
                ));
                run_engine(live, store, shutdown_signal(), engine::Links::default()).await
            })?;
            Ok(())
        }
        Command::Status { check: true, .. } => {
            let published = paths::data_dir().join(engine::published::FILE);
            let Some(view) = engine::published::Published::read(&published).map(|p| p.into_view())
            else {
                return Err(anyhow::anyhow!(
                    "no watcher runs on the data folder {}",
                    paths::data_dir().display()
                )
                .into());
            };
            if !view.docker_reachable {
                return Err(anyhow::anyhow!(
                    "the watcher cannot reach Docker at {}: {}",
                    view.docker_endpoint,
                    view.docker_error.as_deref().unwrap_or("unreachable")
                )
                .into());
            }
            println!(
                "ok: {} ({} containers watched)",
                view.standing_by
                    .as_deref()
                    .map_or("watching", |_| "standing by for another Sickbay"),
                view.containers.len()
            );
            Ok(())
        }
        Command::Status { json, .. } => {
            let (settings, _) = load_settings(cli)?;
            let _guard = crate::telemetry::init(None, "warn");
            let store = Store::open(&paths::database_file())?;
            // The running watcher's picture, else a look of our own.
            let published = paths::data_dir().join(engine::published::FILE);
            // (The watcher's picture carries its `history_errors`; with none running there
            // are none to tell.)
            let mut view = match engine::published::Published::read(&published) {
                Some(p) => p.into_view(),
                None => runtime()?.block_on(engine::snapshot(&settings, &store)),
            };
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
                let watcher = paths::data_dir().join(engine::published::FILE);
                if engine::published::Published::read(&watcher).is_none() {
                    writeln!(
                        out,
                        "no watcher runs on this data folder: nothing new is being recorded"
                    )?;
                }
            }
            Ok(())
        }
        Command::Doctor => doctor(cli),
        Command::Snooze { all, args } => {
            let (container, duration) = match (all, args.as_slice()) {
                (true, [d]) => (None, d),
                (false, [c, d]) => (Some(c.as_str()), d),
                (true, _) => {
                    return Err(anyhow::anyhow!(
                        "with --all, say only how long: sickbay snooze --all 1h"
                    )
                    .into())
                }
                (false, _) => {
                    return Err(anyhow::anyhow!(
                        "say which container and how long: sickbay snooze web 1h (or --all 1h)"
                    )
                    .into())
                }
            };
            snooze(cli, container, Some(duration))
        }
        Command::Unsnooze { all, container } => {
            snooze(cli, container.as_deref().filter(|_| !all), None)
        }
        Command::Up => stack(cli, crate::docker::stack::Op::Up),
        Command::Down => stack(cli, crate::docker::stack::Op::Stop),
        Command::Guard => guard(),
        Command::Manual => {
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut std::io::stdout().lock())?;
            Ok(())
        }
        Command::Service { action } => service(cli, action),
        Command::Dashboard => Err(anyhow::anyhow!(
            "the dashboard is part of the tray app, and this build has none (built without the \
             `gui` feature)"
        )
        .into()),
        Command::Investigate { incident_id } => {
            let (settings, _) = load_settings(cli)?;
            let _guard = crate::telemetry::init(None, "warn");
            let inv = runtime()?.block_on(crate::agent::escalate::investigate(
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

/// Records a snooze (`duration`) or its end (`None`) of `container` (`None`: every one); the
/// running watcher reads it within seconds.
fn snooze(cli: &Cli, container: Option<&str>, duration: Option<&String>) -> Result<(), Failure> {
    use crate::domain::snooze;
    if let Some(c) = container {
        if !crate::domain::model::is_container_name(c) {
            return Err(anyhow::anyhow!(
                "`{}` is not a container name (letters, digits, `_`, `.` and `-`)",
                crate::domain::escape::line(c)
            )
            .into());
        }
    }
    let (settings, _) = load_settings(cli)?;
    let store = Store::open(&paths::database_file())?;
    let who = container.unwrap_or("every container");
    let mut out = std::io::stdout().lock();
    match duration {
        Some(d) => {
            let d = snooze::parse_duration(d).map_err(|e| anyhow::anyhow!("{e}"))?;
            let until = std::time::SystemTime::now() + d;
            crate::storage::journal::snooze(
                &store,
                &paths::logs_dir(),
                &settings.retention,
                container,
                Some(until),
                "cli",
            )?;
            writeln!(
                out,
                "{who} snoozed until {}: what happens is recorded and shown; nothing is healed \
                 and nothing is notified until then (sickbay unsnooze {} ends it sooner)",
                crate::clock::local_hour(until),
                container.unwrap_or("--all")
            )?;
        }
        None => {
            crate::storage::journal::snooze(
                &store,
                &paths::logs_dir(),
                &settings.retention,
                container,
                None,
                "cli",
            )?;
            writeln!(out, "{who}: no longer snoozed; Sickbay heals it again")?;
        }
    }
    Ok(())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_status(out: &mut impl Write, v: &StatusView) -> std::io::Result<()> {
    let at = v
        .as_of
        .as_deref()
        .map(crate::clock::local_time)
        .unwrap_or_default();
    match (v.source, v.watcher_pid) {
        (Some(engine::ViewSource::Watcher), Some(pid)) => {
            writeln!(out, "as seen by the running watcher (pid {pid}) at {at}")?
        }
        (Some(engine::ViewSource::Live), _) => writeln!(
            out,
            "no watcher runs on this data folder: a live look at {at}; nothing is being healed"
        )?,
        _ => {}
    }
    if let Some(why) = &v.standing_by {
        writeln!(out, "standing by: {why}")?;
    }
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

/// `sickbay up` / `sickbay down`: runs compose on the configured stack, printing what
/// compose prints as it goes.
fn stack(cli: &Cli, op: crate::docker::stack::Op) -> Result<(), Failure> {
    use crate::docker::stack::{self, ComposeError};
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
        Ok(_) => crate::domain::guard::check_hook_input(&input),
        Err(e) => {
            crate::domain::guard::Decision::Block(format!("sickbay guard cannot read stdin: {e}"))
        }
    };
    match decision {
        crate::domain::guard::Decision::Allow => Ok(()),
        crate::domain::guard::Decision::Ask(reason) => {
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
        crate::domain::guard::Decision::Block(reason) => {
            eprintln!("{reason}");
            std::process::exit(2);
        }
    }
}

/// Prints a failure once, with its chain, and returns the exit code.
/// `sickbay service ...`.
fn service(cli: &Cli, action: &ServiceAction) -> Result<(), Failure> {
    use crate::service::{self as svc, Scope};
    if !cfg!(target_os = "linux") {
        return Err(anyhow::anyhow!(
            "`sickbay service` writes a systemd unit, and this system has no systemd: start \
             `sickbay watch` with the system's own service manager (launchd, Windows services)"
        )
        .into());
    }
    let scope = |system: bool| if system { Scope::System } else { Scope::User };
    let unit = |system: bool| -> Result<svc::Unit, Failure> {
        let exe = std::env::current_exe()?;
        let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
        let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        Ok(svc::Unit {
            scope: scope(system),
            exe,
            config: cli.config.as_deref().map(absolute),
            data: paths::data_dir_from_env().as_deref().map(absolute),
        })
    };
    let mut out = std::io::stdout().lock();
    match action {
        ServiceAction::Unit { system } => write!(out, "{}", unit(*system)?.text())?,
        ServiceAction::Install { system, no_start } => {
            let done = svc::install(&unit(*system)?, !no_start).map_err(|e| anyhow::anyhow!(e))?;
            writeln!(out, "unit written: {}", done.unit.display())?;
            for w in &done.warnings {
                writeln!(out, "warning: {w}")?;
            }
            if let Some(c) = &done.config_written {
                writeln!(out, "settings written (the example): {}", c.display())?;
            }
            let user = if *system { "" } else { " --user" };
            match done.started {
                Ok(()) if *no_start => writeln!(
                    out,
                    "enabled; start it with: systemctl{user} start {}",
                    svc::UNIT
                )?,
                Ok(()) => writeln!(
                    out,
                    "enabled and started; see it with: sickbay service status{}",
                    if *system { " --system" } else { "" }
                )?,
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "{e}\nthe unit is in place: once systemd runs, `systemctl{user} \
                         daemon-reload && systemctl{user} enable --now {}` starts it",
                        svc::UNIT
                    )
                    .into())
                }
            }
        }
        ServiceAction::Uninstall { system } => {
            match svc::uninstall(scope(*system)).map_err(|e| anyhow::anyhow!(e))? {
                None => writeln!(out, "no Sickbay service is installed")?,
                Some((path, stopped)) => {
                    if let Err(e) = stopped {
                        writeln!(out, "note: {e}")?;
                    }
                    writeln!(
                        out,
                        "removed {} (the data and settings stay)",
                        path.display()
                    )?;
                }
            }
        }
        ServiceAction::Status { system } => {
            let (file, said) = svc::status(scope(*system)).map_err(|e| anyhow::anyhow!(e))?;
            match &file {
                Some(f) => writeln!(out, "unit: {}", f.display())?,
                None => writeln!(out, "unit: not installed")?,
            }
            match said {
                Ok(text) => write!(out, "{text}")?,
                Err(e) => writeln!(out, "systemd: {e}")?,
            }
            if file.is_none() {
                return Err(Failure {
                    code: 3,
                    error: anyhow::anyhow!("no Sickbay service is installed"),
                });
            }
        }
    }
    Ok(())
}

pub fn report(f: Failure) -> ExitCode {
    eprintln!("sickbay: {:#}", f.error);
    ExitCode::from(f.code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_packaged_manual_page_is_the_one_the_program_prints() {
        let mut made = Vec::new();
        clap_mangen::Man::new(<super::Cli as clap::CommandFactory>::command())
            .render(&mut made)
            .expect("render");
        assert_eq!(
            include_str!("../../../packaging/sickbay.1"),
            String::from_utf8_lossy(&made),
            "packaging/sickbay.1 is out of date: write it with `sickbay manual`"
        );
    }
}
