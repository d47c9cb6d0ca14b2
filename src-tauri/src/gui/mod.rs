//! The desktop tray app (the `gui` feature): the same engine as `sickbay watch`, with a tray
//! icon whose colour is the verdict, a menu of every action, and a dashboard window created on
//! demand. The only importer of tauri.

pub mod actions;
pub mod commands;
pub mod dashboard;
pub mod notifications;
pub mod state;
pub mod tray;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{TrayIcon, TrayIconBuilder};
use tauri::{AppHandle, Manager, RunEvent, Runtime};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::cli::{self, Cli, Failure};
use crate::config::Settings;
use crate::docker::stack::{Op, StackStatus};
use crate::domain::model::{Incident, Verdict};
use crate::engine::{self, StatusView};
use crate::storage::store::{EventRow, Store};
use crate::{docker, paths, telemetry};
use dashboard::DashboardProcess;
use state::Shared;
use tray::{Action, Changes, StackState, TrayInput, TrayModel};

/// The Tauri event carrying each new [`StatusView`].
pub const STATUS_EVENT: &str = "status";
/// The Tauri event carrying every recorded event (an [`EventRow`]).
pub const RECORD_EVENT: &str = "event";
/// The Tauri event carrying the one-click stack's progress (a [`StackStatus`]).
pub const STACK_EVENT: &str = "stack";
/// The page's event with the saved sections that apply only at a restart.
pub const RESTART_NEEDED_EVENT: &str = "restart_needed";

fn icon(verdict: Verdict) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match verdict {
        Verdict::Green => include_bytes!("../../../icons/tray-green@2x.png"),
        Verdict::Yellow => include_bytes!("../../../icons/tray-yellow@2x.png"),
        Verdict::Red => include_bytes!("../../../icons/tray-red@2x.png"),
        Verdict::Grey => include_bytes!("../../../icons/tray-grey@2x.png"),
    };
    Image::from_bytes(bytes)
}

/// Each line compose prints changes the stack's status, which carries all of them: while it
/// runs, its readers (the tray, the dashboard) take one update per burst, not one per line.
pub(crate) async fn settle(stack: &watch::Receiver<StackStatus>) {
    if stack.borrow().running.is_some() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// The app's configuration and embedded UI (one copy for the tray app and the dashboard).
pub(crate) fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!()
}

/// Set when this process put `GDK_GL` in its environment (see [`without_opengl`]).
static GDK_GL_OURS: AtomicBool = AtomicBool::new(false);

/// The tray app draws nothing with OpenGL: its icon and menu are GTK's drawing in software. Yet
/// GDK on X11, when it opens the display, asks OpenGL (GLX) which visuals to use, unless an
/// earlier GTK program on the display cached the answer (the root window's `GDK_VISUALS`). A
/// tray app started at login is often the first, and asking loads the OpenGL driver for good:
/// Mesa's llvmpipe maps all of LLVM, about 50 MB resident. `GDK_GL=disable` (unless the user set
/// `GDK_GL`) skips that. Called first, before any thread: a thread reading the environment
/// while it is changed is a data race.
fn without_opengl() {
    #[cfg(all(unix, not(target_os = "macos")))]
    if std::env::var_os("GDK_GL").is_none() {
        std::env::set_var("GDK_GL", "disable");
        GDK_GL_OURS.store(true, Ordering::Relaxed);
    }
}

/// The variables this process set for itself, which a program it starts (the dashboard,
/// which may draw with OpenGL; the investigation's terminal) does not inherit.
pub(crate) fn own_variables() -> impl Iterator<Item = &'static str> {
    GDK_GL_OURS
        .load(Ordering::Relaxed)
        .then_some("GDK_GL")
        .into_iter()
}

/// Quitting: the engine records its last events, then the app exits (or starts again).
pub struct Quit(Mutex<Option<oneshot::Sender<()>>>, AtomicBool);

impl Quit {
    pub fn quit<R: Runtime>(&self, app: &AppHandle<R>) {
        match self.0.lock().ok().and_then(|mut s| s.take()) {
            Some(tx) => {
                let _ = tx.send(());
            }
            None => app.exit(0),
        }
    }

    /// Quits, then starts the app again (which reads its settings anew). Asked twice, once.
    pub fn restart<R: Runtime>(&self, app: &AppHandle<R>) {
        if self.1.swap(true, Ordering::Relaxed) {
            return;
        }
        self.quit(app);
    }

    /// The engine stopped: exit, or start again when asked to.
    fn end<R: Runtime>(&self, app: &AppHandle<R>) {
        if self.1.load(Ordering::Relaxed) {
            relaunch(app);
        }
        app.exit(0)
    }
}

/// Starts this program again, as it was started, with the dashboard open (the restart was
/// asked for there), without the variables this process set for itself (a new one decides
/// them anew), once this one has let go of its single-instance lock; then exits.
fn relaunch<R: Runtime>(app: &AppHandle<R>) {
    tracing::info!("restarting with the new settings");
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("cannot restart: where this program is: {e}");
            return;
        }
    };
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if !args.iter().any(|a| a == "--open-dashboard") {
        args.push("--open-dashboard".into());
    }
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args);
    for v in own_variables() {
        cmd.env_remove(v);
    }
    app.cleanup_before_exit();
    match cmd.spawn() {
        Ok(_) => std::process::exit(0),
        Err(e) => tracing::error!("cannot restart: {e}"),
    }
}

/// Runs the tray app until Quit.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    without_opengl();
    let (settings, source) = cli::load_settings(cli)?;
    let guard = telemetry::init(Some(&paths::logs_dir()), "info");
    let db = paths::database_file();
    let store = Store::open(&db)?;
    let (status_tx, status_rx) = watch::channel(StatusView::unreachable(
        docker::endpoint(),
        "connecting".into(),
    ));
    let (events_tx, _) = broadcast::channel::<EventRow>(256);
    let (control_tx, control_rx) = mpsc::channel(8);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (stack_tx, _) = watch::channel(StackStatus::new(&settings.stack));
    let (requests_tx, mut requests_rx) = mpsc::unbounded_channel::<bool>();
    let (restart_tx, mut restart_rx) = mpsc::unbounded_channel::<()>();
    let (settings_tx, live) = watch::channel(settings.clone());
    let (saved_tx, saved_rx) = mpsc::unbounded_channel::<()>();
    let shared_saved = saved_tx.clone();
    let required = cli.config.is_some();
    let (restart_needed, _) = watch::channel(Vec::<String>::new());
    let stack_configured = crate::docker::stack::Project::from_settings(&settings.stack).is_some();
    let config_file = source.file().map(Path::to_path_buf);
    let dashboard = DashboardProcess::new(dashboard::config_for_child(cli), events_tx.clone());
    let shared = Shared {
        stack: stack_tx,
        stack_requests: requests_tx,
        restart_requests: restart_tx,
        store: Mutex::new(Store::open(&db)?),
        status: status_rx,
        settings: settings_tx.clone(),
        restart_needed: restart_needed.clone(),
        settings_saved: saved_tx,
        source: source.clone(),
        config_required: cli.config.is_some(),
        config_origin: state::config_origin(cli.config.as_ref()),
        control: control_tx,
    };
    let open_at_start = cli.open_dashboard;
    let app = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            dashboard::open(app);
        }))
        .manage(shared)
        .manage(dashboard)
        .manage(Quit(Mutex::new(Some(stop_tx)), AtomicBool::new(false)))
        .setup(move |app| {
            let menu = TrayMenu::new(app.handle())?;
            let tray = TrayIconBuilder::with_id("sickbay")
                .icon(icon(Verdict::Grey)?)
                .menu(&menu.menu)
                .on_menu_event(|app, event| {
                    if let Some(action) = Action::parse(event.id().as_ref()) {
                        actions::handle(app, action);
                    }
                })
                .build(app)?;

            let handle = app.handle().clone();
            let bus = events_tx.clone();
            tauri::async_runtime::spawn(async move {
                let shutdown = async {
                    tokio::select! {
                        _ = stop_rx => {}
                        _ = cli::shutdown_signal() => {}
                    }
                };
                let links = engine::Links {
                    status: Some(status_tx),
                    events: Some(bus),
                    control: Some(control_rx),
                    ..engine::Links::default()
                };
                if let Err(e) = cli::run_engine(live, store, shutdown, links).await {
                    tracing::error!("engine stopped: {e:#}");
                }
                handle.state::<Quit>().end(&handle);
            });

            let handle = app.handle().clone();
            let events = events_tx.subscribe();
            tauri::async_runtime::spawn(render(handle, tray, menu, events));
            let desktop = notifications::Desktop::start();
            app.manage(desktop.clone());
            tauri::async_runtime::spawn(notifications::run(
                desktop,
                settings_tx.subscribe(),
                config_file,
                events_tx.subscribe(),
            ));
            tauri::async_runtime::spawn(apply_settings(
                app.handle().clone(),
                settings.clone(),
                settings_tx.subscribe(),
            ));
            let hangups = shared_saved.clone();
            tauri::async_runtime::spawn(async move {
                crate::config::live::forward_hangups(hangups);
            });
            tauri::async_runtime::spawn(crate::config::live::follow(
                source,
                required,
                settings,
                settings_tx,
                Some(saved_rx),
            ));
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                if restart_rx.recv().await.is_some() {
                    handle.state::<Quit>().restart(&handle);
                }
            });
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                while let Some(start) = requests_rx.recv().await {
                    let op = if start { Op::Up } else { Op::Stop };
                    if let Err(e) = actions::run_stack(&handle, op, false) {
                        tracing::warn!("{e}");
                    }
                }
            });
            if open_at_start {
                dashboard::open(app.handle());
            }
            // Finding compose runs it (`version`): off the menu's thread, before the first click.
            if stack_configured {
                std::thread::spawn(crate::docker::stack::Tool::cached);
            }
            Ok(())
        })
        .build(context())
        .map_err(anyhow::Error::from)?;
    app.run(|_app, event| {
        // A tray app keeps running with no window open.
        if let RunEvent::ExitRequested {
            code: None, api, ..
        } = event
        {
            api.prevent_exit();
        }
    });
    drop(guard);
    Ok(())
}

/// New settings while the app runs (`config::live`): the stack's, for the tray and the
/// dashboard, and the sections that wait for a restart (`started`: what the engine runs with).
async fn apply_settings<R: Runtime>(
    app: AppHandle<R>,
    started: Settings,
    mut live: watch::Receiver<Settings>,
) {
    while live.changed().await.is_ok() {
        let new = live.borrow_and_update().clone();
        let shared = app.state::<Shared>();
        let compose_file = StackStatus::new(&new.stack).compose_file;
        let configured = compose_file.is_some();
        let changed = shared.stack.send_if_modified(|s| {
            let changed = s.compose_file != compose_file;
            s.compose_file = compose_file;
            changed
        });
        if changed && configured {
            std::thread::spawn(crate::docker::stack::Tool::cached);
        }
        shared
            .restart_needed
            .send_replace(crate::config::live::needs_restart(&started, &new));
    }
}

/// The menu's fixed shape: its top-level items never change, only their texts and enabled
/// flags, and the entries of the two submenus.
struct TrayMenu<R: Runtime> {
    menu: Menu<R>,
    status: MenuItem<R>,
    containers: Submenu<R>,
    alerts: Submenu<R>,
    start: MenuItem<R>,
    stop: MenuItem<R>,
    pause: MenuItem<R>,
    stop_and_quit: MenuItem<R>,
}

impl<R: Runtime> TrayMenu<R> {
    fn new(app: &AppHandle<R>) -> tauri::Result<Self> {
        let item = |action: Action, text: &str, enabled: bool| {
            MenuItem::with_id(app, action.id(), text, enabled, None::<&str>)
        };
        let status = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
        let containers = Submenu::with_id(app, "containers", "Containers", true)?;
        let alerts = Submenu::with_id(app, "alerts", "Recent alerts", true)?;
        let start = item(Action::StartStack, "Start stack", false)?;
        let stop = item(Action::StopStack, "Stop stack", false)?;
        let open = item(Action::OpenDashboard, "Open dashboard", true)?;
        let pause = item(Action::TogglePause, "Pause monitoring", true)?;
        let quit = item(Action::Quit, "Quit", true)?;
        let stop_and_quit = item(Action::StopStackAndQuit, "Stop stack and quit", false)?;
        let menu = Menu::with_items(
            app,
            &[
                &status,
                &PredefinedMenuItem::separator(app)?,
                &containers,
                &alerts,
                &PredefinedMenuItem::separator(app)?,
                &start,
                &stop,
                &open,
                &pause,
                &PredefinedMenuItem::separator(app)?,
                &quit,
                &stop_and_quit,
            ],
        )?;
        Ok(Self {
            menu,
            status,
            containers,
            alerts,
            start,
            stop,
            pause,
            stop_and_quit,
        })
    }

    /// Draws `new`, touching only what changed since `old`.
    fn draw(
        &self,
        app: &AppHandle<R>,
        tray: &TrayIcon<R>,
        old: Option<&TrayModel>,
        new: &TrayModel,
    ) -> tauri::Result<()> {
        let c = Changes::between(old, new);
        if c.icon {
            tray.set_icon(Some(icon(new.verdict)?))?;
        }
        if c.status_line {
            self.status.set_text(&new.status_line)?;
        }
        if c.pause_label {
            self.pause.set_text(new.pause_label)?;
        }
        if c.stack_enabled {
            for i in [&self.start, &self.stop, &self.stop_and_quit] {
                i.set_enabled(new.stack_enabled)?;
            }
        }
        if c.containers {
            let items = new
                .containers
                .iter()
                .map(|entry| {
                    let actions = entry
                        .actions
                        .iter()
                        .map(|(action, text)| {
                            MenuItem::with_id(app, action.id(), text, true, None::<&str>)
                        })
                        .collect::<tauri::Result<Vec<_>>>()?;
                    let refs: Vec<&dyn IsMenuItem<R>> =
                        actions.iter().map(|a| a as &dyn IsMenuItem<R>).collect();
                    let sub = Submenu::with_items(app, &entry.line, true, &refs)?;
                    Ok(Box::new(sub) as Box<dyn IsMenuItem<R>>)
                })
                .collect::<tauri::Result<Vec<_>>>()?;
            replace_items(app, &self.containers, items, "No containers")?;
        }
        if c.alerts {
            let items = new
                .alerts
                .iter()
                .map(|a| {
                    MenuItem::with_id(
                        app,
                        Action::Investigate(a.incident_id).id(),
                        &a.label,
                        true,
                        None::<&str>,
                    )
                    .map(|i| Box::new(i) as Box<dyn IsMenuItem<R>>)
                })
                .collect::<tauri::Result<Vec<_>>>()?;
            replace_items(app, &self.alerts, items, "No alerts")?;
        }
        Ok(())
    }
}

/// Swaps a submenu's entries (a disabled `empty` line when there are none).
fn replace_items<R: Runtime>(
    app: &AppHandle<R>,
    submenu: &Submenu<R>,
    mut items: Vec<Box<dyn IsMenuItem<R>>>,
    empty: &str,
) -> tauri::Result<()> {
    for old in submenu.items()? {
        submenu.remove(&old as &dyn IsMenuItem<R>)?;
    }
    if items.is_empty() {
        items.push(Box::new(MenuItem::new(app, empty, false, None::<&str>)?));
    }
    for i in &items {
        submenu.append(i.as_ref())?;
    }
    Ok(())
}

fn recent_incidents<R: Runtime>(app: &AppHandle<R>) -> Vec<Incident> {
    let shared = app.state::<Shared>();
    let incidents = shared
        .store
        .lock()
        .ok()
        .and_then(|s| s.incidents(false, tray::RECENT_ALERTS).ok());
    incidents.unwrap_or_default()
}

/// The renderer: forwards the status and every recorded event to the dashboard, and draws
/// the tray model, skipping updates that change nothing.
async fn render<R: Runtime>(
    app: AppHandle<R>,
    tray: TrayIcon<R>,
    menu: TrayMenu<R>,
    mut events: broadcast::Receiver<EventRow>,
) {
    let mut status_rx = app.state::<Shared>().status.clone();
    let mut stack_rx = app.state::<Shared>().stack.subscribe();
    let mut incidents = recent_incidents(&app);
    let mut shown: Option<TrayModel> = None;
    loop {
        let status = status_rx.borrow_and_update().clone();
        let stack = {
            let s = stack_rx.borrow_and_update();
            StackState {
                configured: s.compose_file.is_some(),
                progress: s.tray_line(),
                failed: s.failure_line(),
            }
        };
        let model = TrayModel::compute(&TrayInput {
            status: &status,
            incidents: &incidents,
            stack: &stack,
        });
        if shown.as_ref() != Some(&model) {
            if let Err(e) = menu.draw(&app, &tray, shown.as_ref(), &model) {
                tracing::warn!("cannot update the tray: {e}");
            }
            shown = Some(model);
        }
        tokio::select! {
            r = status_rx.changed() => {
                if r.is_err() {
                    break;
                }
            }
            r = stack_rx.changed() => {
                if r.is_err() {
                    break;
                }
                settle(&stack_rx).await;
            }
            r = events.recv() => match r {
                Ok(row) => {
                    if row.incident_id.is_some() {
                        incidents = recent_incidents(&app);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => incidents = recent_incidents(&app),
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
}
