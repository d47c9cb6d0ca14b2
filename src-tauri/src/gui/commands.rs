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
use crate::domain::model::Incident;
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
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingRow {
    pub key: String,
    pub value: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    pub config_file: String,
    pub config_file_exists: bool,
    pub config_origin: Origin,
    pub data_dir: String,
    pub data_dir_origin: Origin,
    pub rows: Vec<SettingRow>,
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
                Ok(IncidentView {
                    incident,
                    events,
                    diagnosis,
                })
            })
            .collect()
    }

    pub fn settings_view(&self) -> SettingsView {
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
            rows: {
                let mut rows = setting_rows(&self.settings);
                rows.push(SettingRow {
                    key: "docker.host".into(),
                    value: crate::docker::endpoint(),
                    origin: if crate::docker::endpoint_from_env().is_some() {
                        Origin::Environment
                    } else {
                        Origin::Default
                    },
                });
                rows
            },
        }
    }
}

/// Every key of the effective configuration, and where its value came from.
pub fn setting_rows(settings: &Settings) -> Vec<SettingRow> {
    let effective = toml::Table::try_from(settings).unwrap_or_default();
    let mut rows = Vec::new();
    for (section, values) in &effective {
        let Some(values) = values.as_table() else {
            continue;
        };
        for (key, value) in values {
            let key = format!("{section}.{key}");
            rows.push(SettingRow {
                origin: settings.origins.of(&key),
                key,
                // A password in `storage.postgres_url`, a webhook's secret path: masked.
                value: match value.as_str() {
                    Some(text) => {
                        toml::Value::String(crate::domain::redact::mask(text)).to_string()
                    }
                    None => value.to_string(),
                },
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
    let store = shared.store.lock().map_err(store_err)?;
    crate::storage::journal::snooze(
        &store,
        &paths::logs_dir(),
        &shared.settings.retention,
        Some(&container),
        until,
        "dashboard",
    )
    .map(|_| ())
    .map_err(store_err)
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
        _status: watch::Sender<StatusView>,
        app: tauri::App<tauri::test::MockRuntime>,
    }

    fn fixture(store: Store, source: ConfigSource, settings: Settings) -> Fixture {
        let (control_tx, control_rx) = mpsc::channel(4);
        let (status_tx, status_rx) = watch::channel(StatusView::new("unix:///d".into(), vec![]));
        let settings_stack = settings.stack.clone();
        let shared = Shared {
            store: Mutex::new(store),
            status: status_rx,
            settings,
            source,
            config_origin: Origin::CommandLine,
            control: control_tx,
            stack: watch::channel(StackStatus::new(&settings_stack)).0,
            stack_requests: mpsc::unbounded_channel().0,
        };
        let app = mock_builder()
            .manage(shared)
            .invoke_handler(handler())
            .build(mock_context(noop_assets()))
            .expect("mock app");
        Fixture {
            _control: control_rx,
            _status: status_tx,
            app,
        }
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
        let id = store
            .open_incident(
                &now,
                "web",
                "abc",
                IncidentKind::Unhealthy,
                IncidentStatus::Open,
                "status:503",
            )
            .expect("incident");
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
    fn pausing_from_the_dashboard_reaches_the_engine() {
        let mut f = fixture(
            Store::in_memory().expect("store"),
            ConfigSource::Defaults {
                looked_at: "/x".into(),
            },
            Settings::default(),
        );
        call(&f.app, "set_paused", serde_json::json!({ "paused": true }));
        call(&f.app, "set_paused", serde_json::json!({ "paused": false }));
        assert_eq!(f._control.try_recv().ok(), Some(Control::Pause));
        assert_eq!(f._control.try_recv().ok(), Some(Control::Resume));
    }
}
