//! The dashboard runs in a process of its own (`sickbay dashboard`, started by the tray app),
//! so that closing it gives back everything WebKit took: its helper processes and the
//! libraries and heaps it loaded into the process that showed it. The tray app never creates a
//! webview.
//!
//! The two speak JSON lines over the child's standard input and output: the tray app sends
//! [`ToDashboard`] (the status, every recorded event, the stack's progress, "come to the
//! front"), the dashboard sends [`FromDashboard`] (pause or resume, start or stop the stack).
//! The dashboard reads the history from its own SQLite connection. It ends when its window
//! closes or when its input ends (the tray app quit).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{broadcast, mpsc, watch};

use super::commands;
use super::state::{self, Origin, Shared};
use super::{RECORD_EVENT, RESTART_NEEDED_EVENT, STACK_EVENT, STATUS_EVENT};
use crate::cli::{self, Cli, Failure};
use crate::docker::stack::{Op, StackStatus};
use crate::engine::{Control, StatusView};
use crate::storage::store::{EventRow, Store};
use crate::{docker, paths, telemetry};

/// The dashboard window's label (the capability file names it).
pub const DASHBOARD: &str = "dashboard";

/// What the tray app tells its dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ToDashboard {
    Status(StatusView),
    Event(EventRow),
    Stack(StackStatus),
    /// The sections of the saved settings that apply only when Sickbay restarts.
    RestartNeeded(Vec<String>),
    /// Come to the front (the user asked for the dashboard again).
    Focus,
}

/// What the dashboard asks of the tray app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum FromDashboard {
    Control(Control),
    /// `true`: start the stack (`up -d`); `false`: stop it.
    Stack(bool),
    /// Restart the tray app, which reads its settings anew.
    RestartApp,
    /// The configuration file was saved: read it now.
    SettingsSaved,
}

/// One message as one line.
fn encode<T: Serialize>(m: &T) -> Option<String> {
    match serde_json::to_string(m) {
        Ok(mut s) => {
            s.push('\n');
            Some(s)
        }
        Err(e) => {
            tracing::error!("cannot encode a message for the dashboard link: {e}");
            None
        }
    }
}

fn decode<T: for<'de> Deserialize<'de>>(line: &str) -> Option<T> {
    match serde_json::from_str(line) {
        Ok(m) => Some(m),
        Err(e) => {
            // Not ours (a library printing to stdout): said, and skipped.
            let shown: String = line.chars().take(120).collect();
            tracing::warn!("dashboard link: ignoring a line that is not a message ({e}): {shown}");
            None
        }
    }
}

// ---- The tray app's side -------------------------------------------------------------------

/// The tray app's handle on its dashboard process.
pub struct DashboardProcess {
    /// Asks the running dashboard to come to the front; closed when it has ended.
    focus: Mutex<Option<mpsc::UnboundedSender<()>>>,
    /// `--config` for the child, when the tray app was given one on its command line.
    config: Option<PathBuf>,
    events: broadcast::Sender<EventRow>,
}

impl DashboardProcess {
    pub fn new(config: Option<PathBuf>, events: broadcast::Sender<EventRow>) -> Self {
        Self {
            focus: Mutex::new(None),
            config,
            events,
        }
    }
}

/// Brings the dashboard to the front, starting its process if there is none.
pub fn open<R: Runtime>(app: &AppHandle<R>) {
    let state = app.state::<DashboardProcess>();
    let Ok(mut focus) = state.focus.lock() else {
        return;
    };
    if focus.as_ref().is_some_and(|tx| tx.send(()).is_ok()) {
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    *focus = Some(tx);
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot open the dashboard: cannot find this program: {e}");
            return;
        }
    };
    let mut cmd = tokio::process::Command::new(exe);
    for v in super::own_variables() {
        cmd.env_remove(v);
    }
    cmd.arg("dashboard");
    if let Some(c) = &state.config {
        cmd.arg("--config").arg(c);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let events = state.events.subscribe();
    tauri::async_runtime::spawn(serve(app.clone(), cmd, rx, events));
}

/// Runs one dashboard process: feeds it, carries out what it asks, until it ends.
async fn serve<R: Runtime>(
    app: AppHandle<R>,
    mut cmd: tokio::process::Command,
    mut focus: mpsc::UnboundedReceiver<()>,
    mut events: broadcast::Receiver<EventRow>,
) {
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("cannot open the dashboard: cannot start `sickbay dashboard`: {e}");
            return;
        }
    };
    let (Some(mut input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
        return;
    };
    let mut lines = BufReader::new(output).lines();
    let shared = app.state::<Shared>();
    let mut status = shared.status.clone();
    let mut stack = shared.stack.subscribe();
    let mut restart_needed = shared.restart_needed.subscribe();
    let mut pending = vec![
        ToDashboard::Status(status.borrow_and_update().clone()),
        ToDashboard::Stack(stack.borrow_and_update().clone()),
        ToDashboard::RestartNeeded(restart_needed.borrow_and_update().clone()),
    ];
    'run: loop {
        for m in pending.drain(..) {
            let Some(line) = encode(&m) else { continue };
            if input.write_all(line.as_bytes()).await.is_err() {
                break 'run;
            }
        }
        tokio::select! {
            r = status.changed() => match r {
                Ok(()) => pending.push(ToDashboard::Status(status.borrow_and_update().clone())),
                Err(_) => break,
            },
            r = stack.changed() => match r {
                Ok(()) => {
                    super::settle(&stack).await;
                    pending.push(ToDashboard::Stack(stack.borrow_and_update().clone()));
                }
                Err(_) => break,
            },
            r = restart_needed.changed() => match r {
                Ok(()) => pending.push(ToDashboard::RestartNeeded(
                    restart_needed.borrow_and_update().clone(),
                )),
                Err(_) => break,
            },
            e = events.recv() => match e {
                Ok(e) => pending.push(ToDashboard::Event(e)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("the dashboard missed {n} events");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            f = focus.recv() => match f {
                Some(()) => pending.push(ToDashboard::Focus),
                None => break,
            },
            line = lines.next_line() => match line {
                Ok(Some(l)) => {
                    if let Some(m) = decode::<FromDashboard>(&l) {
                        carry_out(&app, m);
                    }
                }
                // Its output ended: it is closing.
                _ => break,
            },
            // It ended (its WebKit helpers may hold its output open a little longer).
            _ = child.wait() => break,
        }
    }
    focus.close();
    drop(input);
    if let Err(e) = child.wait().await {
        tracing::warn!("the dashboard process: {e}");
    }
    // Asked for while it was closing: a new one.
    if focus.try_recv().is_ok() {
        open(&app);
    }
}

fn carry_out<R: Runtime>(app: &AppHandle<R>, m: FromDashboard) {
    match m {
        FromDashboard::Control(c) => {
            if let Err(e) = app.state::<Shared>().control.try_send(c) {
                tracing::warn!("cannot reach the monitor: {e}");
            }
        }
        FromDashboard::Stack(start) => {
            let op = if start { Op::Up } else { Op::Stop };
            if let Err(e) = super::actions::run_stack(app, op, false) {
                tracing::warn!("{e}");
            }
        }
        FromDashboard::RestartApp => app.state::<super::Quit>().restart(app),
        FromDashboard::SettingsSaved => {
            let _ = app.state::<Shared>().settings_saved.send(());
        }
    }
}

// ---- The dashboard's side ------------------------------------------------------------------

/// `sickbay dashboard`: the dashboard window until it is closed or the tray app goes away.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let (settings, source) = cli::load_settings(cli)?;
    // Its diagnostics go to stderr, which is the tray app's.
    let guard = telemetry::init(None, "info");
    let store = Store::open(&paths::database_file())?;
    let (status_tx, status_rx) = watch::channel(StatusView::unreachable(
        docker::endpoint(),
        "connecting".into(),
    ));
    let (stack_tx, _) = watch::channel(StackStatus::new(&settings.stack));
    let (control_tx, control_rx) = mpsc::channel(8);
    let (requests_tx, requests_rx) = mpsc::unbounded_channel();
    let (restart_tx, restart_rx) = mpsc::unbounded_channel();
    let (saved_tx, saved_rx) = mpsc::unbounded_channel();
    let (restart_needed, _) = watch::channel(Vec::new());
    let shared = Shared {
        store: Mutex::new(store),
        status: status_rx,
        settings: watch::channel(settings).0,
        restart_needed: restart_needed.clone(),
        settings_saved: saved_tx,
        source,
        config_required: cli.config.is_some(),
        config_origin: state::config_origin(cli.config.as_ref()),
        control: control_tx,
        stack: stack_tx.clone(),
        stack_requests: requests_tx,
        restart_requests: restart_tx,
    };
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .manage(shared)
        .invoke_handler(commands::handler())
        .setup(move |app| {
            WebviewWindowBuilder::new(app, DASHBOARD, WebviewUrl::App("index.html".into()))
                .title("Sickbay")
                .inner_size(1100.0, 760.0)
                .min_inner_size(640.0, 420.0)
                .build()?;
            tauri::async_runtime::spawn(listen(
                app.handle().clone(),
                status_tx,
                stack_tx,
                restart_needed,
            ));
            tauri::async_runtime::spawn(ask(control_rx, requests_rx, restart_rx, saved_rx));
            Ok(())
        })
        .build(super::context())
        .map_err(anyhow::Error::from)?;
    // Closing the window ends the process (nothing keeps it running).
    app.run(|_, _| {});
    drop(guard);
    Ok(())
}

/// Reads the tray app's messages and hands them to the page; its end ends the dashboard.
async fn listen<R: Runtime>(
    app: AppHandle<R>,
    status: watch::Sender<StatusView>,
    stack: watch::Sender<StackStatus>,
    restart_needed: watch::Sender<Vec<String>>,
) {
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let Some(m) = decode::<ToDashboard>(&line) else {
            continue;
        };
        let emitted = match m {
            ToDashboard::Status(s) => {
                let r = app.emit(STATUS_EVENT, &s);
                status.send_replace(s);
                r
            }
            ToDashboard::Event(e) => app.emit(RECORD_EVENT, &e),
            ToDashboard::Stack(s) => {
                let r = app.emit(STACK_EVENT, &s);
                stack.send_replace(s);
                r
            }
            ToDashboard::RestartNeeded(r) => {
                let e = app.emit(RESTART_NEEDED_EVENT, &r);
                restart_needed.send_replace(r);
                e
            }
            ToDashboard::Focus => {
                if let Some(w) = app.get_webview_window(DASHBOARD) {
                    let _ = w.unminimize();
                    let _ = w.show();
                    let _ = w.set_focus();
                }
                Ok(())
            }
        };
        if let Err(e) = emitted {
            tracing::warn!("cannot update the dashboard: {e}");
        }
    }
    // The tray app quit (or never was): nothing left to show.
    app.exit(0);
}

/// Sends the page's requests (pause, resume, restart a container, start or stop the stack,
/// restart the app) to the tray app.
async fn ask(
    mut control: mpsc::Receiver<Control>,
    mut stack: mpsc::UnboundedReceiver<bool>,
    mut restart: mpsc::UnboundedReceiver<()>,
    mut saved: mpsc::UnboundedReceiver<()>,
) {
    let mut out = tokio::io::stdout();
    loop {
        let m = tokio::select! {
            Some(c) = control.recv() => FromDashboard::Control(c),
            Some(s) = stack.recv() => FromDashboard::Stack(s),
            Some(()) = restart.recv() => FromDashboard::RestartApp,
            Some(()) = saved.recv() => FromDashboard::SettingsSaved,
            else => return,
        };
        let Some(line) = encode(&m) else { continue };
        if out.write_all(line.as_bytes()).await.is_err() || out.flush().await.is_err() {
            return;
        }
    }
}

/// The origin of the tray app's config path, for the child's `--config`: passed on only when
/// it came from the command line (an environment variable reaches the child by itself).
pub fn config_for_child(cli: &Cli) -> Option<PathBuf> {
    (state::config_origin(cli.config.as_ref()) == Origin::CommandLine)
        .then(|| cli.config.clone())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_survive_the_link_and_a_stray_line_is_skipped() {
        let status = StatusView::unreachable("unix:///d".into(), "connecting".into());
        for m in [
            ToDashboard::Status(status),
            ToDashboard::Stack(StackStatus::default()),
            ToDashboard::Focus,
        ] {
            let line = encode(&m).expect("encodes");
            assert!(
                line.ends_with('\n') && !line.trim_end().contains('\n'),
                "{line}"
            );
            assert_eq!(decode::<ToDashboard>(line.trim_end()), Some(m));
        }
        for m in [
            FromDashboard::Control(Control::Pause),
            FromDashboard::Control(Control::Restart {
                container: "web".into(),
                by: "dashboard".into(),
            }),
            FromDashboard::Stack(true),
            FromDashboard::RestartApp,
        ] {
            let line = encode(&m).expect("encodes");
            assert_eq!(decode::<FromDashboard>(line.trim_end()), Some(m));
        }
        assert_eq!(
            encode(&FromDashboard::Control(Control::Resume)).as_deref(),
            Some("{\"type\":\"control\",\"value\":\"resume\"}\n")
        );
        assert_eq!(decode::<FromDashboard>("Gtk-WARNING: something"), None);
    }
}
