//! The desktop tray app (the `gui` feature): the same engine as `sickbay watch`, with a tray
//! icon whose colour is the verdict. The only importer of tauri.

pub mod tray;

use std::sync::Mutex;

use tauri::image::Image;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::RunEvent;
use tokio::sync::{oneshot, watch};

use crate::cli::{self, Cli, Failure};
use crate::engine::{self, StatusView};
use crate::model::Verdict;
use crate::store::Store;
use crate::{docker, paths, telemetry};
use tray::TrayModel;

fn icon(verdict: Verdict) -> tauri::Result<Image<'static>> {
    let bytes: &'static [u8] = match verdict {
        Verdict::Green => include_bytes!("../../../icons/tray-green@2x.png"),
        Verdict::Yellow => include_bytes!("../../../icons/tray-yellow@2x.png"),
        Verdict::Red => include_bytes!("../../../icons/tray-red@2x.png"),
        Verdict::Grey => include_bytes!("../../../icons/tray-grey@2x.png"),
    };
    Image::from_bytes(bytes)
}

/// Runs the tray app until Quit.
pub fn run(cli: &Cli) -> Result<(), Failure> {
    let (settings, _) = cli::load_settings(cli)?;
    let guard = telemetry::init(Some(&paths::logs_dir()), "info");
    let store = Store::open(&paths::database_file())?;
    let (status_tx, mut status_rx) = watch::channel(StatusView::unreachable(
        docker::endpoint(),
        "connecting".into(),
    ));
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let stop_tx = Mutex::new(Some(stop_tx));
    let app = tauri::Builder::default()
        .setup(move |app| {
            let status_item = MenuItem::with_id(app, "status", "Starting…", false, None::<&str>)?;
            let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
            let menu = Menu::with_items(
                app,
                &[&status_item, &PredefinedMenuItem::separator(app)?, &quit],
            )?;
            let tray = TrayIconBuilder::with_id("sickbay")
                .icon(icon(Verdict::Grey)?)
                .menu(&menu)
                .on_menu_event(move |app, event| {
                    if event.id() == "quit" {
                        // The engine records its last events, then the app exits (below).
                        match stop_tx.lock().ok().and_then(|mut s| s.take()) {
                            Some(tx) => {
                                let _ = tx.send(());
                            }
                            None => app.exit(0),
                        }
                    }
                })
                .build(app)?;

            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let shutdown = async {
                    tokio::select! {
                        _ = stop_rx => {}
                        _ = cli::shutdown_signal() => {}
                    }
                };
                let links = engine::Links {
                    status: Some(status_tx),
                    ..Default::default()
                };
                if let Err(e) = cli::run_engine(settings, store, shutdown, links).await {
                    tracing::error!("engine stopped: {e:#}");
                }
                handle.exit(0);
            });

            // The renderer: draws the model, skipping updates that change nothing.
            tauri::async_runtime::spawn(async move {
                let mut shown: Option<TrayModel> = None;
                loop {
                    let model = TrayModel::from_status(&status_rx.borrow_and_update());
                    if shown.as_ref() != Some(&model) {
                        if shown.as_ref().map(|s| s.verdict) != Some(model.verdict) {
                            if let Ok(img) = icon(model.verdict) {
                                let _ = tray.set_icon(Some(img));
                            }
                        }
                        let _ = status_item.set_text(&model.status_line);
                        shown = Some(model);
                    }
                    if status_rx.changed().await.is_err() {
                        break;
                    }
                }
            });
            Ok(())
        })
        .build(tauri::generate_context!())
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
