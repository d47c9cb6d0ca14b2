//! What the dashboard may call (Tauri commands): the engine's picture, the history (a
//! connection of its own) and the effective configuration, read from [`Shared`]
//! (`gui::state`). It holds no state of its own and must not carry out actions itself
//! (`gui::actions` does).

use std::time::Duration;

use serde::Serialize;
use tauri::{Runtime, State};

use super::state::{Origin, Shared};
use crate::config::{ConfigSource, Settings};
use crate::docker::stack::StackStatus;
use crate::docker::Docker;
use crate::domain::event::Event;
use crate::domain::model::{ContainerId, Incident};
use crate::engine::{Control, StatusView};
use crate::storage::store::{EventRow, MetricRow};
use crate::{clock, paths};

/// An incident with its timeline: what happened and what was tried.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub events: Vec<EventRow>,
    /// The diagnosis, when one was recorded.
    pub diagnosis: Option<String>,
    /// People's acknowledgements of it, oldest first.
    pub acknowledged: Vec<Acknowledgement>,
}

/// A person's acknowledgement of an incident, with their note.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Acknowledgement {
    pub at: String,
    pub note: String,
}

/// The lines a container's log tail shows at most.
pub const TAIL_LINES: usize = 1000;

/// A piece of a container's log for the dashboard's tail.
#[derive(Debug, Clone, Serialize)]
pub struct LogTail {
    pub lines: Vec<LogLine>,
    /// The newest line's stamp (ns since the epoch), for the next call's `after`.
    pub cursor: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub at: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub origin: Origin,
    /// The value as a person edits it (text unquoted, a list as TOML writes it); `None` where
    /// the app does not edit it: a secret shown masked, a value the environment sets, a
    /// `[[maintenance]]` window.
    pub edit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub config_file: String,
    pub config_file_exists: bool,
    pub config_origin: Origin,
    pub data_dir: String,
    pub data_dir_origin: Origin,
    pub rows: Vec<SettingRow>,
    /// The sections saved since Sickbay started that apply only when it restarts.
    pub restart_needed: Vec<String>,
}

type CmdResult<T> = Result<T, String>;

fn store_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Shared {
    pub fn incidents(&self, limit: usize) -> CmdResult<Vec<IncidentView>> {
        let store = self.store.lock().map_err(store_err)?;
        store
            .incidents(false, limit)
            .map_err(store_err)?
            .into_iter()
            .map(|incident| {
                let events = store.events(Some(incident.id)).map_err(store_err)?;
                let diagnosis = incident.diagnosis.clone();
                let acknowledged = events
                    .iter()
                    .filter(|e| e.event == Event::IncidentAcknowledged.as_str())
                    .filter_map(|e| {
                        Some(Acknowledgement {
                            at: e.timestamp.clone(),
                            note: crate::domain::event::note(&e.details)?.to_string(),
                        })
                    })
                    .collect();
                Ok(IncidentView {
                    incident,
                    events,
                    diagnosis,
                    acknowledged,
                })
            })
            .collect()
    }

    pub fn settings_view(&self) -> SettingsView {
        // The file as it is now (it may have been edited by hand since this process started).
        if let Ok(now) = crate::config::live::read(self.source.path(), self.config_required) {
            self.settings.send_if_modified(|s| {
                let changed = *s != now;
                *s = now;
                changed
            });
        }
        let (path, exists) = match &self.source {
            ConfigSource::File(p) => (p.clone(), true),
            ConfigSource::Defaults { looked_at } => (looked_at.clone(), false),
        };
        let data_from_env = paths::data_dir_from_env().is_some();
        SettingsView {
            config_file: path.display().to_string(),
            config_file_exists: exists,
            config_origin: self.config_origin,
            data_dir: paths::data_dir().display().to_string(),
            data_dir_origin: if data_from_env {
                Origin::Environment
            } else {
                Origin::Default
            },
            rows: setting_rows(&self.settings.borrow()),
            restart_needed: self.restart_needed.borrow().clone(),
        }
    }
}

/// Every key of the effective configuration, and where its value came from; then the Docker
/// endpoint (`DOCKER_HOST`).
pub fn setting_rows(settings: &Settings) -> Vec<SettingRow> {
    let mut rows = config_rows(settings);
    rows.push(SettingRow {
        key: "docker.host".into(),
        value: crate::docker::endpoint(),
        origin: if crate::docker::endpoint_from_env().is_some() {
            Origin::Environment
        } else {
            Origin::Default
        },
        edit: None,
    });
    rows
}

/// Every key of the configuration file's settings.
fn config_rows(settings: &Settings) -> Vec<SettingRow> {
    let effective = toml::Table::try_from(settings).unwrap_or_default();
    let mut rows = Vec::new();
    for (section, values) in &effective {
        let Some(values) = values.as_table() else {
            continue;
        };
        for (key, value) in values {
            let key = format!("{section}.{key}");
            let origin = settings.origins.of(&key);
            // A password in `storage.postgres_url`, a webhook's secret path: masked.
            let (shown, masked) = match value.as_str() {
                Some(text) => {
                    let m = crate::domain::redact::mask(text);
                    (toml::Value::String(m.clone()).to_string(), m != text)
                }
                None => (value.to_string(), false),
            };
            let edit = (!masked && origin != Origin::Environment).then(|| match value {
                toml::Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            rows.push(SettingRow {
                origin,
                key,
                value: shown,
                edit,
            });
        }
    }
    rows
}

#[tauri::command]
pub fn status(shared: State<'_, Shared>) -> StatusView {
    shared.status.borrow().clone()
}

#[tauri::command]
pub fn incidents(shared: State<'_, Shared>, limit: Option<usize>) -> CmdResult<Vec<IncidentView>> {
    shared.incidents(limit.unwrap_or(50).min(500))
}

/// The last hour of samples of one container (the charts).
#[tauri::command]
pub fn metrics(shared: State<'_, Shared>, container: String) -> CmdResult<Vec<MetricRow>> {
    let since = clock::utc_ago(Duration::from_secs(3600));
    shared
        .store
        .lock()
        .map_err(store_err)?
        .metrics_since(&container, &since)
        .map_err(store_err)
}

#[tauri::command]
pub fn settings(shared: State<'_, Shared>) -> SettingsView {
    shared.settings_view()
}

#[tauri::command]
pub fn set_paused(shared: State<'_, Shared>, paused: bool) -> CmdResult<()> {
    let c = if paused {
        Control::Pause
    } else {
        Control::Resume
    };
    shared
        .control
        .try_send(c)
        .map_err(|e| format!("the monitor is not running: {e}"))
}

/// "Restart now": the running engine restarts the container as its own action, recorded
/// with `by:dashboard`.
#[tauri::command]
pub fn restart(shared: State<'_, Shared>, container: String) -> CmdResult<()> {
    shared.restart(container, "dashboard")
}

#[tauri::command]
pub fn investigate(shared: State<'_, Shared>, incident: i64) -> CmdResult<()> {
    super::actions::investigate(incident, shared.source.file()).map_err(|e| e.to_string())
}

/// Snoozes a container for `minutes` ("Snooze 1 h"), or ends its snooze (`minutes` absent):
/// written to the history, which the running engine reads within seconds.
#[tauri::command]
pub fn snooze(shared: State<'_, Shared>, container: String, minutes: Option<u64>) -> CmdResult<()> {
    let until = match minutes {
        Some(m) if m == 0 || Duration::from_secs(m * 60) > crate::domain::snooze::LONGEST => {
            return Err(format!(
                "a snooze of {m} minutes: at most 7 days, at least 1 minute"
            ))
        }
        Some(m) => Some(std::time::SystemTime::now() + Duration::from_secs(m * 60)),
        None => None,
    };
    shared.snooze(&container, until, "dashboard")
}

/// Acknowledges incident `incident` with `note` ("looking at it", "a disk filled up; cleared"):
/// kept in the history with the incident (and so in its `incident.md` and the Postgres mirror).
#[tauri::command]
pub fn acknowledge(shared: State<'_, Shared>, incident: i64, note: String) -> CmdResult<()> {
    shared.acknowledge(&paths::logs_dir(), incident, &note)
}

impl Shared {
    /// Asks the engine to restart `container` now, as Sickbay's own action (`by`: where it
    /// was asked, "dashboard" or "tray").
    pub fn restart(&self, container: String, by: &str) -> CmdResult<()> {
        if !crate::domain::model::is_container_name(&container) {
            return Err(format!("not a container name: {container:?}"));
        }
        self.control
            .try_send(Control::Restart {
                container,
                by: by.into(),
            })
            .map_err(|e| format!("the monitor is not running: {e}"))
    }

    /// Snoozes `container` until then, or ends its snooze (`None`): written to the history,
    /// which the running engine reads within seconds.
    pub fn snooze(
        &self,
        container: &str,
        until: Option<std::time::SystemTime>,
        by: &str,
    ) -> CmdResult<()> {
        let store = self.store.lock().map_err(store_err)?;
        crate::storage::journal::snooze(
            &store,
            &paths::logs_dir(),
            &self.settings.borrow().retention,
            Some(container),
            until,
            by,
        )
        .map(|_| ())
        .map_err(store_err)
    }

    /// Records the acknowledgement (`logs`: the folder of `monitor.log`).
    pub fn acknowledge(&self, logs: &std::path::Path, incident: i64, note: &str) -> CmdResult<()> {
        if note.trim().is_empty() {
            return Err("an acknowledgement needs a note: what you found or are doing".into());
        }
        let store = self.store.lock().map_err(store_err)?;
        let found = store
            .incident(incident)
            .map_err(store_err)?
            .ok_or_else(|| format!("there is no incident {incident}"))?;
        crate::storage::journal::acknowledge(
            &store,
            logs,
            &self.settings.borrow().retention,
            incident,
            &found.container,
            note,
            "dashboard",
        )
        .map(|_| ())
        .map_err(store_err)
    }
}

/// The dashboard process's one Docker client: the log tail asks every 2 s, and connecting
/// negotiates the API version each time. A connection that failed is tried again next time.
async fn docker() -> Result<&'static Docker, crate::docker::DockerError> {
    static DOCKER: tokio::sync::OnceCell<Docker> = tokio::sync::OnceCell::const_new();
    DOCKER.get_or_try_init(Docker::connect).await
}

/// A container's log for the dashboard's live tail: its last [`TAIL_LINES`] lines, or those
/// written after `after` (the cursor the last call returned), with the container's secrets
/// removed and ANSI codes stripped (the page shows them as plain text).
#[tauri::command]
pub async fn logs(container: String, after: Option<String>) -> CmdResult<LogTail> {
    use std::time::{SystemTime, UNIX_EPOCH};
    let after: Option<u64> = match after.as_deref() {
        Some(a) => Some(a.parse().map_err(|_| format!("not a log cursor: {a}"))?),
        None => None,
    };
    let docker = docker().await.map_err(|e| e.to_string())?;
    let info = docker
        .inspect(&ContainerId(container))
        .await
        .map_err(|e| e.to_string())?;
    let since = after.map_or(UNIX_EPOCH, |n| UNIX_EPOCH + Duration::from_nanos(n));
    let lines = docker
        .logs_since(&info.id, since, TAIL_LINES)
        .await
        .map_err(|e| e.to_string())?;
    let nanos = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    };
    let redactor = crate::domain::redact::Redactor::from_env(&info.env);
    // Docker's `since` is whole seconds: the lines of that second already shown are dropped.
    let fresh: Vec<(SystemTime, String)> = lines
        .into_iter()
        .filter(|(t, _)| after.is_none_or(|a| nanos(*t) > a))
        .collect();
    let cursor = fresh.last().map(|(t, _)| nanos(*t)).or(after).unwrap_or(0);
    Ok(LogTail {
        lines: fresh
            .into_iter()
            .map(|(t, l)| LogLine {
                at: clock::utc(t),
                text: redactor.redact(&l),
            })
            .collect(),
        cursor: cursor.to_string(),
    })
}

/// What saving settings came to: the file written and its settings, row by row, and the
/// sections whose change applied at once.
#[derive(Debug, Clone, Serialize)]
pub struct Saved {
    pub config_file: String,
    pub rows: Vec<SettingRow>,
    /// Changed sections now in force (`config::live::LIVE`); the others wait for a restart,
    /// which the tray app says (the `restart_needed` event).
    pub applied: Vec<String>,
}

/// Writes `changes` into the configuration file (made where Sickbay looks for it when there is
/// none), its comments and layout kept, checked as the loader checks it: a refused change
/// writes nothing and says which key and why. The tray app reads the file at once: what can
/// change while it runs does (`config::live`), the rest from its next start (`restart_app`).
#[tauri::command]
pub fn save_settings(
    shared: State<'_, Shared>,
    changes: Vec<crate::config::edit::Change>,
) -> CmdResult<Saved> {
    let path = shared.source.path().to_path_buf();
    let (before, settings) =
        crate::config::edit::apply(&path, &changes).map_err(|e| e.to_string())?;
    let applied = crate::config::live::applied_live(&before, &settings);
    let rows = setting_rows(&settings);
    shared.settings.send_replace(settings);
    let _ = shared.settings_saved.send(());
    Ok(Saved {
        config_file: path.display().to_string(),
        rows,
        applied,
    })
}

/// A compose project Sickbay sees by its containers' labels (the first-run setup offers it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FoundProject {
    pub name: String,
    pub dir: Option<String>,
    pub files: Vec<String>,
    pub containers: usize,
    pub running: usize,
}

/// What the first-run setup found on the engine.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub endpoint: String,
    pub error: Option<String>,
    pub containers: usize,
    pub projects: Vec<FoundProject>,
}

/// The engine, its containers and the compose projects it runs, for the first-run setup.
#[tauri::command]
pub async fn discover() -> Found {
    let endpoint = crate::docker::endpoint();
    let listed = match docker().await {
        Ok(d) => d.list(&[]).await,
        Err(e) => Err(e),
    };
    match listed {
        Ok(list) => Found {
            endpoint,
            error: None,
            containers: list.len(),
            projects: projects(&list),
        },
        Err(e) => Found {
            endpoint,
            error: Some(e.to_string()),
            containers: 0,
            projects: Vec::new(),
        },
    }
}

/// The compose projects of `listed`, by name.
fn projects(listed: &[crate::docker::Listed]) -> Vec<FoundProject> {
    let mut found: std::collections::BTreeMap<String, FoundProject> = Default::default();
    for c in listed {
        let Some(service) = crate::docker::stack::Service::of_container(&c.labels) else {
            continue;
        };
        let Some(name) = service.project.name.clone() else {
            continue;
        };
        let p = found.entry(name.clone()).or_insert_with(|| FoundProject {
            name,
            dir: service
                .project
                .dir
                .as_ref()
                .map(|d| d.display().to_string()),
            files: service
                .project
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            containers: 0,
            running: 0,
        });
        p.containers += 1;
        if c.status.starts_with("Up") {
            p.running += 1;
        }
    }
    found.into_values().collect()
}

/// Stores the diagnosis's API key in the OS keychain, under the account `[diagnosis]
/// api_key_env` names (where the diagnosis looks for it); the key is never shown or logged.
/// Says where it went.
#[tauri::command]
pub async fn store_api_key(shared: State<'_, Shared>, key: String) -> CmdResult<String> {
    let key = key.trim().to_string();
    if key.is_empty() || key.chars().any(char::is_whitespace) {
        return Err("an API key is one word: paste it without spaces".into());
    }
    let account = shared.settings.borrow().diagnosis.api_key_env.clone();
    let stored = account.clone();
    tokio::task::spawn_blocking(move || crate::agent::keychain::store(&stored, &key))
        .await
        .map_err(|e| e.to_string())??;
    Ok(format!(
        "stored in the keychain, service {}, account {account}",
        crate::agent::keychain::SERVICE
    ))
}

/// Restarts the tray app (and so this dashboard), which reads its settings anew.
#[tauri::command]
pub fn restart_app(shared: State<'_, Shared>) -> CmdResult<()> {
    shared
        .restart_requests
        .send(())
        .map_err(|_| "the tray app is gone".to_string())
}

#[tauri::command]
pub fn stack(shared: State<'_, Shared>) -> StackStatus {
    shared.stack.borrow().clone()
}

/// Starts (`up -d`) or stops (`stop`) the stack; progress comes as `stack` events.
#[tauri::command]
pub fn stack_run(shared: State<'_, Shared>, start: bool) -> CmdResult<()> {
    shared
        .stack_requests
        .send(start)
        .map_err(|_| "the tray app is gone".to_string())
}

#[tauri::command]
pub fn autostart<R: Runtime>(app: tauri::AppHandle<R>) -> CmdResult<bool> {
    super::actions::autostart(&app)
}

#[tauri::command]
pub fn set_autostart<R: Runtime>(app: tauri::AppHandle<R>, enabled: bool) -> CmdResult<()> {
    super::actions::set_autostart(&app, enabled)
}

/// The commands, for the app and for the tests' mock runtime.
pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        status,
        incidents,
        metrics,
        settings,
        set_paused,
        investigate,
        snooze,
        acknowledge,
        logs,
        restart,
        save_settings,
        restart_app,
        discover,
        store_api_key,
        stack,
        stack_run,
        autostart,
        set_autostart
    ]
}

#[cfg(all(test, feature = "mock-runtime"))]
mod tests {
    use super::*;
    use crate::domain::model::{ActionRecord, HealAction, IncidentKind, IncidentStatus};
    use crate::storage::store::Store;
    use std::sync::Mutex;
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{get_ipc_response, mock_builder, mock_context, noop_assets, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindowBuilder;
    use tokio::sync::{mpsc, watch};

    struct Fixture {
        _control: mpsc::Receiver<Control>,
        saved: mpsc::UnboundedReceiver<()>,
        _status: watch::Sender<StatusView>,
        app: tauri::App<tauri::test::MockRuntime>,
    }

    fn fixture(store: Store, source: ConfigSource, settings: Settings) -> Fixture {
        let (control_tx, control_rx) = mpsc::channel(4);
        let (status_tx, status_rx) = watch::channel(StatusView::new("unix:///d".into(), vec![]));
        let settings_stack = settings.stack.clone();
        let (saved_tx, saved) = mpsc::unbounded_channel();
        let shared = Shared {
            store: Mutex::new(store),
            status: status_rx,
            settings: watch::channel(settings).0,
            restart_needed: watch::channel(Vec::new()).0,
            settings_saved: saved_tx,
            source,
            config_required: false,
            config_origin: Origin::CommandLine,
            control: control_tx,
            stack: watch::channel(StackStatus::new(&settings_stack)).0,
            stack_requests: mpsc::unbounded_channel().0,
            restart_requests: mpsc::unbounded_channel().0,
        };
        let app = mock_builder()
            .manage(shared)
            .invoke_handler(handler())
            .build(mock_context(noop_assets()))
            .expect("mock app");
        Fixture {
            _control: control_rx,
            saved,
            _status: status_tx,
            app,
        }
    }

    /// An open incident of `web` (unhealthy, `status:503`), opened now.
    fn web_incident(store: &mut Store) -> i64 {
        store
            .open_incident(
                &clock::utc_now(),
                "web",
                "abc",
                IncidentKind::Unhealthy,
                IncidentStatus::Open,
                "status:503",
            )
            .expect("incident")
    }

    /// The commands on an empty history with the default settings.
    fn plain_fixture() -> Fixture {
        fixture(
            Store::in_memory().expect("store"),
            ConfigSource::Defaults {
                looked_at: "/x".into(),
            },
            Settings::default(),
        )
    }

    fn call(
        app: &tauri::App<tauri::test::MockRuntime>,
        cmd: &str,
        args: serde_json::Value,
    ) -> serde_json::Value {
        let webview = match tauri::Manager::get_webview_window(app, "dashboard") {
            Some(w) => w,
            None => WebviewWindowBuilder::new(app, "dashboard", Default::default())
                .build()
                .expect("mock window"),
        };
        get_ipc_response(
            &webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(args),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .expect("command succeeds")
        .deserialize::<serde_json::Value>()
        .expect("json")
    }

    #[test]
    fn incidents_come_with_their_timeline_and_metrics_with_the_last_hour() {
        let mut store = Store::in_memory().expect("store");
        let now = clock::utc_now();
        let id = web_incident(&mut store);
        store
            .insert_event(
                &now,
                "container_unhealthy",
                Some("web"),
                Some(id),
                "container:web",
            )
            .expect("event");
        store
            .add_action(
                id,
                &ActionRecord {
                    action: HealAction::Restart,
                    at: now.clone(),
                    outcome: "ok".into(),
                },
                true,
            )
            .expect("action");
        store
            .insert_event(
                &now,
                "restarting_container",
                Some("web"),
                Some(id),
                "container:web attempt:1",
            )
            .expect("event");
        let row = MetricRow {
            timestamp: now.clone(),
            container_name: "web".into(),
            container_id: "abc".into(),
            state: "running".into(),
            health: "healthy".into(),
            restart_count: 1,
            cpu_percent: Some(2.5),
            mem_mb: Some(12.0),
            mem_limit_mb: None,
            response_time_ms: Some(4.0),
            http_status: Some(200),
        };
        let old = MetricRow {
            timestamp: clock::utc_ago(Duration::from_secs(7200)),
            ..row.clone()
        };
        store.insert_metrics(&[old, row]).expect("metrics");
        let f = fixture(
            store,
            ConfigSource::Defaults {
                looked_at: "/nowhere/sickbay.toml".into(),
            },
            Settings::default(),
        );

        let list = call(&f.app, "incidents", serde_json::json!({}));
        let first = &list[0];
        assert_eq!(first["id"], id);
        assert_eq!(first["container"], "web");
        assert_eq!(first["kind"], "unhealthy");
        assert_eq!(first["actions"][0]["action"], "restart");
        let names: Vec<&str> = first["events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["event"].as_str().expect("name"))
            .collect();
        assert_eq!(names, ["container_unhealthy", "restarting_container"]);

        let samples = call(&f.app, "metrics", serde_json::json!({ "container": "web" }));
        let samples = samples.as_array().expect("samples");
        assert_eq!(samples.len(), 1, "only the last hour: {samples:?}");
        assert_eq!(samples[0]["cpu_percent"], 2.5);

        let status = call(&f.app, "status", serde_json::json!({}));
        assert_eq!(status["verdict"], "green");
        assert_eq!(status["paused"], false);
    }

    #[test]
    fn settings_say_where_each_value_came_from() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sickbay.toml");
        let text = "[monitoring]\ninterval_seconds = 7\n";
        std::fs::write(&path, text).expect("write");
        let settings = Settings::parse(text, &path).expect("parse");
        let f = fixture(
            Store::in_memory().expect("store"),
            ConfigSource::File(path.clone()),
            settings,
        );
        let v = call(&f.app, "settings", serde_json::json!({}));
        assert_eq!(v["config_file"], path.display().to_string());
        assert_eq!(v["config_file_exists"], true);
        assert_eq!(v["config_origin"], "command_line");
        let rows = v["rows"].as_array().expect("rows");
        let row = |key: &str| {
            rows.iter()
                .find(|r| r["key"] == key)
                .unwrap_or_else(|| panic!("{key} missing from {rows:?}"))
                .clone()
        };
        assert_eq!(row("monitoring.interval_seconds")["value"], "7");
        assert_eq!(row("monitoring.interval_seconds")["origin"], "file");
        assert_eq!(row("monitoring.concurrency")["origin"], "default");
        assert_eq!(row("heal.max_attempts")["origin"], "default");
    }

    #[test]
    fn settings_never_show_the_postgres_password_or_the_webhook_path() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("sickbay.toml");
        let text = "[storage]\n\
                    postgres_url = \"postgres://sickbay:pg-s3cret@db.example:5432/teamdb7\"\n\
                    [notify]\n\
                    webhook_url = \"https://hooks.slack.com/services/T0SB/B0SB/slackS3cret\"\n";
        std::fs::write(&path, text).expect("write");
        let settings = Settings::parse(text, &path).expect("parse");
        let f = fixture(
            Store::in_memory().expect("store"),
            ConfigSource::File(path.clone()),
            settings,
        );
        let v = call(&f.app, "settings", serde_json::json!({}));
        let shown = v.to_string();
        for secret in ["pg-s3cret", "teamdb7", "T0SB", "B0SB", "slackS3cret"] {
            assert!(!shown.contains(secret), "{secret} shows: {shown}");
        }
        let rows = v["rows"].as_array().expect("rows");
        let row = |key: &str| {
            rows.iter()
                .find(|r| r["key"] == key)
                .unwrap_or_else(|| panic!("{key} missing from {rows:?}"))
                .clone()
        };
        assert_eq!(
            row("storage.postgres_url")["value"],
            "\"postgres://sickbay:•••@db.example:5432/•••\""
        );
        assert_eq!(row("storage.postgres_url")["origin"], "file");
        assert_eq!(
            row("notify.webhook_url")["value"],
            "\"https://hooks.slack.com/•••\""
        );
        assert_eq!(row("notify.webhook_format")["value"], "\"json\"");
    }

    #[test]
    fn an_acknowledgement_is_kept_with_its_incident_and_an_empty_note_is_refused() {
        let mut store = Store::in_memory().expect("store");
        let id = web_incident(&mut store);
        let f = fixture(
            store,
            ConfigSource::Defaults {
                looked_at: "/x".into(),
            },
            Settings::default(),
        );
        let logs = tempfile::tempdir().expect("logs");
        let shared = tauri::Manager::state::<Shared>(&f.app);
        assert!(shared
            .acknowledge(logs.path(), id, "  ")
            .is_err_and(|e| e.contains("needs a note")));
        assert!(shared
            .acknowledge(logs.path(), 999, "x")
            .is_err_and(|e| e == "there is no incident 999"));
        shared
            .acknowledge(
                logs.path(),
                id,
                "the disk filled up\nI cleared it, token=abc123def456",
            )
            .expect("acknowledged");
        let list = call(&f.app, "incidents", serde_json::json!({}));
        let acks = &list[0]["acknowledged"];
        assert_eq!(acks.as_array().map(Vec::len), Some(1), "{list}");
        let note = acks[0]["note"].as_str().expect("note");
        assert!(
            note.starts_with("the disk filled up\\nI cleared it"),
            "{note}"
        );
        assert!(
            !note.contains("abc123def456"),
            "a secret in a note is removed: {note}"
        );
        let log = std::fs::read_to_string(logs.path().join("monitor.log")).expect("monitor.log");
        assert_eq!(log.lines().count(), 1, "one line: {log}");
        assert!(
            log.contains("incident_acknowledged container:web by:dashboard note:"),
            "{log}"
        );
    }

    #[test]
    fn the_setup_finds_compose_projects_by_their_containers_labels() {
        let listed = |name: &str, project: Option<&str>, status: &str| crate::docker::Listed {
            id: crate::domain::model::ContainerId(name.into()),
            name: name.into(),
            labels: project
                .map(|p| {
                    [
                        ("com.docker.compose.project", p),
                        ("com.docker.compose.service", name),
                        ("com.docker.compose.project.working_dir", "/src/shop"),
                        ("com.docker.compose.project.config_files", "compose.yml"),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
                })
                .unwrap_or_default(),
            status: status.into(),
        };
        let found = projects(&[
            listed("web", Some("shop"), "Up 2 hours"),
            listed("db", Some("shop"), "Exited (0) 1 hour ago"),
            listed("lonely", None, "Up 1 minute"),
        ]);
        assert_eq!(
            found,
            [FoundProject {
                name: "shop".into(),
                dir: Some("/src/shop".into()),
                files: vec!["/src/shop/compose.yml".into()],
                containers: 2,
                running: 1,
            }]
        );
    }

    #[test]
    fn restart_now_from_the_dashboard_reaches_the_engine() {
        let mut f = plain_fixture();
        call(&f.app, "restart", serde_json::json!({ "container": "web" }));
        assert_eq!(
            f._control.try_recv().ok(),
            Some(Control::Restart {
                container: "web".into(),
                by: "dashboard".into()
            })
        );
    }

    #[test]
    fn pausing_from_the_dashboard_reaches_the_engine() {
        let mut f = plain_fixture();
        call(&f.app, "set_paused", serde_json::json!({ "paused": true }));
        call(&f.app, "set_paused", serde_json::json!({ "paused": false }));
        assert_eq!(f._control.try_recv().ok(), Some(Control::Pause));
        assert_eq!(f._control.try_recv().ok(), Some(Control::Resume));
    }

    #[test]
    fn saved_settings_say_what_is_in_use_now_and_the_tray_app_is_told() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("sickbay.toml");
        std::fs::write(&file, "# mine\n[notify]\nquiet_minutes = 5\n").expect("write");
        let mut f = fixture(
            Store::in_memory().expect("store"),
            ConfigSource::File(file.clone()),
            Settings::parse("[notify]\nquiet_minutes = 5\n", &file).expect("valid"),
        );
        let saved = call(
            &f.app,
            "save_settings",
            serde_json::json!({ "changes": [
                { "key": "notify.quiet_minutes", "value": "9" },
                { "key": "monitoring.interval_seconds", "value": "7" },
            ] }),
        );
        assert_eq!(saved["applied"], serde_json::json!(["notify"]), "{saved}");
        assert_eq!(f.saved.try_recv().ok(), Some(()), "the tray app is told");
        let view = call(&f.app, "settings", serde_json::json!({}));
        let row = |key: &str| {
            view["rows"]
                .as_array()
                .expect("rows")
                .iter()
                .find(|r| r["key"] == key)
                .map(|r| r["value"].clone())
        };
        assert_eq!(row("notify.quiet_minutes"), Some(serde_json::json!("9")));
        assert_eq!(
            row("monitoring.interval_seconds"),
            Some(serde_json::json!("7"))
        );
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            text.starts_with("# mine\n[notify]\nquiet_minutes = 9\n"),
            "{text}"
        );
    }

    #[test]
    fn the_trays_snooze_and_restart_act_in_the_app_itself_and_say_tray() {
        use crate::gui::tray::Action;
        let mut f = plain_fixture();
        let handle = f.app.handle().clone();
        crate::gui::actions::handle(&handle, Action::Snooze("web".into()));
        crate::gui::actions::handle(&handle, Action::Restart("web".into()));
        let shared = tauri::Manager::state::<Shared>(&f.app);
        let rows = shared
            .store
            .lock()
            .expect("store")
            .snooze_events("2000-01-01T00:00:00Z")
            .expect("snoozes");
        assert_eq!(rows.len(), 1, "{rows:?}");
        let (snoozed, container, details) = &rows[0];
        assert!(*snoozed);
        assert_eq!(container.as_deref(), Some("web"));
        assert!(details.contains("by:tray"), "{details}");
        assert_eq!(
            f._control.try_recv().ok(),
            Some(Control::Restart {
                container: "web".into(),
                by: "tray".into()
            })
        );
    }
}
