//! The composition root: how `watch` and the tray app run Sickbay (the engine, the alert
//! watcher, the webhook, the mirror, the one-acting-Sickbay lock) and stop it. It holds no
//! rule of its own: each part decides in its module.

use super::*;

/// Runs the engine, with the alert watcher on its events and the Postgres mirror beside it
/// when one is configured, until
/// `shutdown`; then the mirror sends what is pending (the engine's last events included).
/// The one way both `watch` and the tray app run Sickbay. `live`: the settings, and each new
/// version of them while it runs (`config::live::follow`); the engine, the mirror and the
/// metrics server keep those they started with, the rest reads them as it goes.
pub async fn run_engine(
    live: tokio::sync::watch::Receiver<Settings>,
    store: Store,
    shutdown: impl std::future::Future<Output = ()>,
    links: engine::Links,
) -> anyhow::Result<()> {
    let settings = live.borrow().clone();
    let mut links = links;
    links.settings.get_or_insert_with(|| live.clone());
    let bus = links
        .events
        .get_or_insert_with(|| tokio::sync::broadcast::channel(1024).0)
        .clone();
    let status_tx = links.status.get_or_insert_with(|| {
        tokio::sync::watch::channel(engine::StatusView::unreachable(
            docker::endpoint(),
            "starting".into(),
        ))
        .0
    });
    let status = status_tx.subscribe();
    // The picture `sickbay status` answers from, standing by included; a JoinSet aborts it
    // on every way out (its own guard then removes the file).
    let mut publisher = tokio::task::JoinSet::new();
    publisher.spawn(engine::published::keep(
        paths::data_dir().join(engine::published::FILE),
        status_tx.subscribe(),
    ));
    let alerts = tokio::spawn(crate::agent::alert::run(
        live.clone(),
        paths::DataDir::current(),
        bus.subscribe(),
        bus.clone(),
        status,
    ));
    let webhook = tokio::spawn(crate::notify::run_webhook(live.clone(), bus.subscribe()));
    let mut metrics = tokio::task::JoinSet::new();
    if let Some(listen) = settings.metrics.address() {
        metrics.spawn(crate::metrics::serve(
            listen,
            bus.subscribe(),
            status_tx.subscribe(),
        ));
    }
    let mirror = crate::storage::mirror::Running::start(
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
    drop(publisher);
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
    let r = crate::storage::journal::record(
        store,
        &logs,
        &settings.retention,
        event,
        None,
        None,
        fields,
    );
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
