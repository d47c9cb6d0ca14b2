//! What the tray's items and the dashboard's buttons do, in one place: each [`Action`] is
//! handled by [`handle`].

use std::path::Path;

use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_autostart::ManagerExt;

use super::state::Shared;
use super::tray::Action;
use super::Quit;
use crate::docker::stack::{self, Op};
use crate::engine::Control;

pub fn handle<R: Runtime>(app: &AppHandle<R>, action: Action) {
    match action {
        Action::OpenDashboard => super::dashboard::open(app),
        Action::TogglePause => {
            let shared = app.state::<Shared>();
            let c = if shared.status.borrow().paused {
                Control::Resume
            } else {
                Control::Pause
            };
            if let Err(e) = shared.control.try_send(c) {
                tracing::warn!("cannot reach the monitor: {e}");
            }
        }
        Action::StartStack | Action::StopStack | Action::StopStackAndQuit => {
            let (op, quit) = match action {
                Action::StartStack => (Op::Up, false),
                Action::StopStack => (Op::Stop, false),
                _ => (Op::Stop, true),
            };
            if let Err(e) = run_stack(app, op, quit) {
                tracing::warn!("{e}");
            }
        }
        Action::Investigate(id) => {
            let shared = app.state::<Shared>();
            if let Err(e) = investigate(id, shared.source.file()) {
                tracing::error!("cannot open the investigation of incident {id}: {e}");
            }
        }
        Action::Quit => app.state::<Quit>().quit(app),
        Action::Restart(container) => {
            if let Err(e) = app.state::<Shared>().restart(container, "tray") {
                tracing::warn!("{e}");
            }
        }
        // Written to the history here, as the dashboard does; the engine reads it within
        // seconds.
        Action::Snooze(container) => {
            let until = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
            if let Err(e) = app
                .state::<Shared>()
                .snooze(&container, Some(until), "tray")
            {
                tracing::error!("cannot snooze {container}: {e}");
            }
        }
        Action::Unsnooze(container) => {
            if let Err(e) = app.state::<Shared>().snooze(&container, None, "tray") {
                tracing::error!("cannot unsnooze {container}: {e}");
            }
        }
    }
}

/// Runs compose on the configured stack in the background: its progress goes to the shared
/// [`stack::StackStatus`] (the tray's status line, the dashboard), a failure also to a
/// notification. `quit` quits the app once it is done (whatever the outcome: the user asked
/// to quit). Refused while another run is under way.
pub fn run_stack<R: Runtime>(app: &AppHandle<R>, op: Op, quit: bool) -> Result<(), String> {
    let shared = app.state::<Shared>();
    let stack_settings = shared.settings.borrow().stack.clone();
    let (tool, project) = match stack::configured(&stack_settings) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            shared.stack.send_modify(|s| s.finish(&op, &Err(e)));
            if quit {
                app.state::<Quit>().quit(app);
            }
            return Err(msg);
        }
    };
    let mut began = false;
    shared.stack.send_if_modified(|s| {
        began = s.begin(&op);
        began
    });
    if !began {
        return Err("the stack is already being started or stopped".into());
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        // After a heal step's compose run on the same project, never beside it.
        let _held = stack::lock(&project).await;
        let shared = app.state::<Shared>();
        let result = stack::run(tool, &project, &op, |line| {
            shared.stack.send_modify(|s| s.line(line.to_string()));
        })
        .await;
        match &result {
            Ok(()) => tracing::info!("{}: done", op.doing()),
            Err(e) => {
                tracing::error!("{} failed: {e}", op.doing());
                if let Some(desktop) = app.try_state::<super::notifications::Desktop>() {
                    desktop.plain(format!("Sickbay: {} failed", op.doing()), e.to_string());
                }
            }
        }
        shared.stack.send_modify(|s| s.finish(&op, &result));
        if quit {
            app.state::<Quit>().quit(&app);
        }
    });
    Ok(())
}

/// Opens the investigation of an incident: `sickbay investigate <id>` in a process of its own,
/// with the configuration file this app runs with.
pub fn investigate(incident: i64, config: Option<&Path>) -> std::io::Result<()> {
    run_own(&["investigate", &incident.to_string()], config)
}

/// Snoozes `container` for an hour, as `sickbay snooze <container> 1h` does.
pub fn snooze(container: &str, config: Option<&Path>) -> std::io::Result<()> {
    run_own(&["snooze", container, "1h"], config)
}

/// Runs this executable with `args` (and the app's configuration file) in the background.
fn run_own(args: &[&str], config: Option<&Path>) -> std::io::Result<()> {
    let exe = std::env::current_exe()?;
    let mut cmd = std::process::Command::new(exe);
    for v in super::own_variables() {
        cmd.env_remove(v);
    }
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    // Its report goes nowhere: this process's stdout may be the dashboard's link.
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()?;
    // Reap it when it ends.
    std::thread::spawn(move || child.wait());
    Ok(())
}

pub fn autostart<R: Runtime>(app: &AppHandle<R>) -> Result<bool, String> {
    app.autolaunch().is_enabled().map_err(|e| e.to_string())
}

pub fn set_autostart<R: Runtime>(app: &AppHandle<R>, enabled: bool) -> Result<(), String> {
    let launcher = app.autolaunch();
    let r = if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    };
    r.map_err(|e| format!("cannot change start at login: {e}"))
}
