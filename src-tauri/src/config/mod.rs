//! Configuration: the TOML file → validated [`Settings`], and container labels → per-container
//! [`Policy`]. Precedence is command line > environment > file > defaults, merged in
//! [`Settings::load`]. Every error names the file, line and key (or the container and label).
//! It owns what the `sickbay.*` and `autoheal*` labels mean: every other module asks
//! [`Policy`], and none reads those labels itself. It must not act on containers.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod edit;
mod labels;
pub mod live;
mod locate;

use labels::validate_url;
pub use labels::{selector_matches, validate_cache_path, LabelError, Policy};
use locate::{key_at, locate};

/// The example configuration shipped with Sickbay (and parsed by a test).
pub const EXAMPLE_CONFIG: &str = include_str!("../../../sickbay.example.toml");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub monitoring: Monitoring,
    pub heal: Heal,
    pub retention: Retention,
    pub storage: Storage,
    pub diagnosis: Diagnosis,
    pub escalation: Escalation,
    pub alerts: Alerts,
    pub notify: Notify,
    pub stack: Stack,
    pub metrics: Metrics,
    /// `[[maintenance]]`: scheduled windows when some containers are left alone.
    pub maintenance: Vec<Maintenance>,
    /// Where each value came from, resolved once when the configuration loads.
    #[serde(skip)]
    pub origins: Origins,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Default,
    File,
    Environment,
    CommandLine,
}

/// The origin of every setting that is not a default: dotted keys (`heal.max_attempts`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origins {
    set: HashMap<String, Origin>,
}

impl Origins {
    pub fn of(&self, key: &str) -> Origin {
        self.set.get(key).copied().unwrap_or(Origin::Default)
    }

    fn from_file(text: &str) -> Self {
        let table: toml::Table = text.parse().unwrap_or_default();
        let mut set = HashMap::new();
        for (section, values) in &table {
            if let Some(values) = values.as_table() {
                for key in values.keys() {
                    set.insert(format!("{section}.{key}"), Origin::File);
                }
            }
        }
        Self { set }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Monitoring {
    /// Seconds between two sweeps of every container.
    pub interval_seconds: u64,
    /// Containers inspected at once during a sweep.
    pub concurrency: usize,
    /// Timeout of one HTTP probe (`sickbay.health_url`).
    pub http_timeout_seconds: u64,
    /// Watch only containers carrying all of these labels (`key=value` or `key`).
    pub label_selector: Vec<String>,
    /// A container restarted this many times by Docker within `restart_loop_minutes`
    /// is in a restart loop.
    pub restart_loop_restarts: u32,
    pub restart_loop_minutes: u64,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            interval_seconds: 30,
            concurrency: 16,
            http_timeout_seconds: 5,
            label_selector: Vec::new(),
            restart_loop_restarts: 5,
            restart_loop_minutes: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Heal {
    /// Off: watch and record, never act.
    pub enabled: bool,
    /// Restarts allowed per container within `window_minutes`.
    pub max_attempts: u32,
    pub window_minutes: u64,
    /// CrashLoopBackOff: the wait before a second attempt, doubling up to the maximum.
    pub backoff_initial_seconds: u64,
    pub backoff_max_seconds: u64,
    /// The backoff starts over after a container has been healthy this long.
    pub backoff_reset_minutes: u64,
    /// Seconds Docker waits for a graceful stop before killing, on restart.
    pub stop_timeout_seconds: u64,
    /// How long a heal has to show a passing check before it counts as failed.
    pub verify_seconds: u64,
    /// After an action, a failing HTTP probe counts only after this many seconds (the service
    /// may still be starting; never more than `verify_seconds`); an `unhealthy` health check or a
    /// death ends verification at once.
    pub verify_grace_seconds: u64,
    /// Restart containers that exited with a non-zero code and have no restart policy.
    pub restart_crashed: bool,
    /// The ladder's rungs after the cache clear, for every container (a container's
    /// `sickbay.heal` label wins). `recreate` and `rebuild` apply to compose services only.
    pub steps: Vec<Step>,
    /// Heal along dependencies: a dependent whose failure a failing dependency explains is
    /// held while the dependency is healed, and containers in another's network namespace
    /// follow it. Off: every container is healed on its own.
    pub follow_dependencies: bool,
    /// Compose, an updater or a person replacing containers (create, destroy, rename) is
    /// orchestration, not failure: the project's containers are not healed until this many
    /// seconds pass without such an event.
    pub orchestration_quiet_seconds: u64,
}

impl Default for Heal {
    fn default() -> Self {
        Self {
            enabled: true,
            max_attempts: 3,
            window_minutes: 15,
            backoff_initial_seconds: 10,
            backoff_max_seconds: 300,
            backoff_reset_minutes: 10,
            stop_timeout_seconds: 10,
            verify_seconds: 60,
            verify_grace_seconds: 10,
            restart_crashed: true,
            steps: vec![Step::Restart],
            follow_dependencies: true,
            orchestration_quiet_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Retention {
    /// Raw metric samples older than this are rolled up into hourly averages.
    pub metrics_days: u64,
    /// Hourly averages and events older than this are deleted.
    pub history_days: u64,
    /// `monitor.log` (and the other log files) rotate past this size.
    pub log_max_mb: u64,
    /// Rotated log files kept.
    pub log_keep: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            metrics_days: 7,
            history_days: 90,
            log_max_mb: 10,
            log_keep: 5,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// A Postgres database the history is mirrored to (`SICKBAY_POSTGRES_URL` wins).
    /// Empty: the history stays in the local SQLite file only.
    pub postgres_url: String,
}

impl Storage {
    /// The mirror's URL (the environment's `SICKBAY_POSTGRES_URL` was applied when the
    /// configuration loaded), if one is set.
    pub fn postgres_url(&self) -> Option<String> {
        Some(self.postgres_url.clone()).filter(|u| !u.trim().is_empty())
    }
}

/// Which LLM, if any, adds its reading to the offline diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// The Anthropic Messages API.
    Anthropic,
    /// An OpenAI-compatible `/v1/chat/completions` (Ollama, vLLM, gateways).
    OpenaiCompatible,
    /// Offline diagnosis only; nothing leaves the machine.
    Off,
}

impl Provider {
    /// The name used in the configuration and in `Diagnosis::source`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenaiCompatible => "openai-compatible",
            Provider::Off => "off",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Diagnosis {
    pub provider: Provider,
    /// Empty: the provider's own endpoint (`https://api.anthropic.com`, or
    /// `http://localhost:11434` for openai-compatible). Without the `/v1/...` path.
    pub base_url: String,
    pub model: String,
    /// The NAME of the environment variable holding the API key (never the key itself).
    /// The OS keychain (service `sickbay`, account = this name) is the other source.
    pub api_key_env: String,
    /// The whole LLM call, retries included, ends within this many seconds.
    pub timeout_seconds: u64,
    /// Retries of a 429, 500, 504 or 529 answer.
    pub max_retries: u32,
}

impl Default for Diagnosis {
    fn default() -> Self {
        Self {
            provider: Provider::Anthropic,
            base_url: String::new(),
            model: "claude-haiku-4-5".to_string(),
            api_key_env: "ANTHROPIC_API_KEY".to_string(),
            timeout_seconds: 60,
            max_retries: 3,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Escalation {
    /// Open the terminal by itself when the alert watcher escalates (the original system's
    /// autonomous mode). false: the files are written and the user starts it
    /// (`sickbay investigate`, the tray, the dashboard).
    pub auto_launch: bool,
    /// The agent started in the terminal: a name looked up on PATH (and the usual install
    /// folders, since a tray app lacks the shell's PATH) or an absolute path.
    pub agent_command: String,
    /// `auto`, or a terminal's name (`xterm`, `gnome-terminal`, `konsole`, `kitty`, ...).
    pub terminal: String,
    /// Where the agent starts. Empty: the compose project's folder of the container, else the
    /// incident folder.
    pub workdir: String,
}

/// The shape a webhook accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookFormat {
    /// Sickbay's own JSON: title, text, and every note.
    Json,
    /// ntfy: the text as the body, the title and priority as headers.
    Ntfy,
    /// Slack-compatible incoming webhooks (also Mattermost, Rocket.Chat, ...): `{"text": ...}`.
    Slack,
}

/// One `[[maintenance]]` window (local time): while it is open, the containers it names (or
/// those with one of its labels; neither: every container) are recorded and shown, never
/// healed or notified, as if snoozed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Maintenance {
    /// `["sat", "sun"]`; empty: every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// `"02:00"`; an end before the start runs past midnight.
    pub start: String,
    pub end: String,
    #[serde(default)]
    pub containers: Vec<String>,
    /// `"com.docker.compose.project=shop"`, or a key alone.
    #[serde(default)]
    pub labels: Vec<String>,
}

impl Maintenance {
    pub fn window(&self) -> Result<crate::domain::maintenance::Window, (&'static str, String)> {
        crate::domain::maintenance::Window::parse(
            &self.days,
            &self.start,
            &self.end,
            &self.containers,
            &self.labels,
        )
    }
}

/// `[metrics]`: Prometheus's text format over HTTP, for the monitoring people already run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Metrics {
    /// `127.0.0.1:9464` serves `GET /metrics` there; empty (the default): off.
    pub listen: String,
}

impl Metrics {
    /// The address to serve on, when metrics are on.
    pub fn address(&self) -> Option<std::net::SocketAddr> {
        self.listen.trim().parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Notify {
    /// Desktop notifications from the tray app.
    pub desktop: bool,
    /// Where notifications are posted (no desktop needed). Empty: none.
    pub webhook_url: String,
    pub webhook_format: WebhookFormat,
    /// Also tell the recoveries of failures that were not notified (a notified failure's
    /// recovery is always told).
    pub on_heal: bool,
    /// What happens within this many seconds goes out as one message.
    pub coalesce_seconds: u64,
    /// The same news about one container is told once per this many minutes.
    pub quiet_minutes: u64,
}

impl Default for Notify {
    fn default() -> Self {
        Self {
            desktop: true,
            webhook_url: String::new(),
            webhook_format: WebhookFormat::Json,
            on_heal: false,
            coalesce_seconds: 3,
            quiet_minutes: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Alerts {
    /// Failed heals of one container within `window_minutes` that escalate its incident.
    /// `healing_failed`, a restart loop and an OOM kill escalate at once.
    pub failure_threshold: u32,
    pub window_minutes: u64,
    /// Regular expressions: a line of a container's own log matching one escalates the
    /// container's open incident.
    pub patterns: Vec<String>,
}

impl Default for Alerts {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            window_minutes: 15,
            patterns: [
                "CRITICAL",
                "FATAL",
                "container_unhealthy",
                "healing_failed",
                "auto_heal_failed",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

impl Default for Escalation {
    fn default() -> Self {
        Self {
            auto_launch: false,
            agent_command: "claude".into(),
            terminal: "auto".into(),
            workdir: String::new(),
        }
    }
}

/// The compose stack the tray's "Start stack" / "Stop stack" and `sickbay up` / `down` run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Stack {
    /// The compose file; relative to the configuration file's folder. Empty: no stack.
    pub compose_file: String,
    /// Compose's project name (`-p`). Empty: Compose's own default (the file's folder name).
    pub project_name: String,
}

/// A rung of the heal ladder after the cache clear, in the ladder's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// `docker restart`, with backoff, up to `max_attempts` per window.
    Restart,
    /// Compose: `up -d --force-recreate --no-deps <service>`, once per window.
    Recreate,
    /// Compose: `build <service>`, then recreate, once per window.
    Rebuild,
}

impl Step {
    pub const ALL: [Step; 3] = [Step::Restart, Step::Recreate, Step::Rebuild];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Restart => "restart",
            Self::Recreate => "recreate",
            Self::Rebuild => "rebuild",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Needs the container to be a compose service.
    pub fn needs_compose(self) -> bool {
        self != Self::Restart
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration in {}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ", key `{key}`")?;
        }
        // A message may echo the value it refused: a webhook URL on the wrong line, say.
        write!(f, ": {}", crate::domain::redact::mask_urls(&self.message))
    }
}

/// Where the configuration came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ConfigSource {
    /// No file: built-in defaults.
    Defaults {
        looked_at: PathBuf,
    },
    File(PathBuf),
}

impl ConfigSource {
    /// The file the settings came from, if any.
    /// The file's path: the one read, or where Sickbay looked for one (and writes one).
    pub fn path(&self) -> &Path {
        match self {
            Self::File(p) => p,
            Self::Defaults { looked_at } => looked_at,
        }
    }

    pub fn file(&self) -> Option<&Path> {
        match self {
            Self::File(p) => Some(p),
            Self::Defaults { .. } => None,
        }
    }
}

impl Settings {
    /// Loads the configuration: `explicit` (from `--config` or `SICKBAY_CONFIG`) must exist;
    /// the default path may be absent, in which case the defaults apply.
    pub fn load(explicit: Option<&Path>) -> Result<(Self, ConfigSource), ConfigError> {
        match explicit {
            Some(p) => Self::load_from(p, true),
            None => Self::load_from(&crate::paths::default_config_file(), false),
        }
    }

    /// Loads the configuration file at `path` (at start, and again while Sickbay runs:
    /// `live`): absent, the defaults apply unless it is `required`.
    pub fn load_from(path: &Path, required: bool) -> Result<(Self, ConfigSource), ConfigError> {
        let path = path.to_path_buf();
        let (mut settings, source) = match std::fs::read_to_string(&path) {
            Ok(text) => (Self::parse(&text, &path)?, ConfigSource::File(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                (Self::default(), ConfigSource::Defaults { looked_at: path })
            }
            Err(e) => {
                return Err(ConfigError {
                    path,
                    line: None,
                    key: None,
                    message: format!("cannot read the file: {e}"),
                })
            }
        };
        settings.apply_environment();
        Ok((settings, source))
    }

    /// The environment's overrides of the file (`SICKBAY_POSTGRES_URL`), read here and
    /// nowhere else, with their origin.
    pub(crate) fn apply_environment(&mut self) {
        if let Some(url) = std::env::var("SICKBAY_POSTGRES_URL")
            .ok()
            .filter(|u| !u.trim().is_empty())
        {
            self.storage.postgres_url = url;
            self.origins
                .set
                .insert("storage.postgres_url".into(), Origin::Environment);
        }
    }

    /// Parses and validates a configuration text; `path` is only used in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let settings: Settings = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => {
                    let (line, key) = key_at(text, span.start);
                    (Some(line), key)
                }
                None => (None, None),
            };
            ConfigError {
                path: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let mut settings = settings;
        // A relative compose file is relative to the configuration file.
        let compose = Path::new(&settings.stack.compose_file);
        if compose.is_relative() && !settings.stack.compose_file.trim().is_empty() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                settings.stack.compose_file = dir.join(compose).display().to_string();
            }
        }
        settings
            .validate()
            .map_err(|(section, key, message)| ConfigError {
                path: path.to_path_buf(),
                line: locate(text, section, key),
                key: Some(format!("{section}.{key}")),
                message,
            })?;
        settings.origins = Origins::from_file(text);
        Ok(settings)
    }

    fn validate(&self) -> Result<(), (&'static str, &'static str, String)> {
        fn at_least(
            section: &'static str,
            key: &'static str,
            value: u64,
            min: u64,
        ) -> Result<(), (&'static str, &'static str, String)> {
            if value < min {
                return Err((
                    section,
                    key,
                    format!("must be at least {min}, found {value}"),
                ));
            }
            Ok(())
        }
        let m = &self.monitoring;
        at_least("monitoring", "interval_seconds", m.interval_seconds, 1)?;
        at_least("monitoring", "concurrency", m.concurrency as u64, 1)?;
        at_least(
            "monitoring",
            "http_timeout_seconds",
            m.http_timeout_seconds,
            1,
        )?;
        at_least(
            "monitoring",
            "restart_loop_restarts",
            m.restart_loop_restarts.into(),
            2,
        )?;
        at_least(
            "monitoring",
            "restart_loop_minutes",
            m.restart_loop_minutes,
            1,
        )?;
        for sel in &m.label_selector {
            if sel.trim().is_empty() || sel.starts_with('=') {
                return Err((
                    "monitoring",
                    "label_selector",
                    format!("`{sel}` is not a label (`key` or `key=value`)"),
                ));
            }
        }
        let h = &self.heal;
        at_least("heal", "max_attempts", h.max_attempts.into(), 1)?;
        at_least("heal", "window_minutes", h.window_minutes, 1)?;
        at_least(
            "heal",
            "backoff_initial_seconds",
            h.backoff_initial_seconds,
            1,
        )?;
        if h.backoff_max_seconds < h.backoff_initial_seconds {
            return Err((
                "heal",
                "backoff_max_seconds",
                format!(
                    "must be at least backoff_initial_seconds ({}), found {}",
                    h.backoff_initial_seconds, h.backoff_max_seconds
                ),
            ));
        }
        at_least("heal", "verify_seconds", h.verify_seconds, 1)?;
        at_least(
            "heal",
            "orchestration_quiet_seconds",
            h.orchestration_quiet_seconds,
            1,
        )?;
        for (i, m) in self.maintenance.iter().enumerate() {
            if let Err((key, message)) = m.window() {
                return Err(("maintenance", key, format!("window {}: {message}", i + 1)));
            }
        }
        let listen = self.metrics.listen.trim();
        if !listen.is_empty() && self.metrics.address().is_none() {
            return Err((
                "metrics",
                "listen",
                format!(
                    "must be an address and a port, such as \"127.0.0.1:9464\" (or empty for \
                     no metrics), found {:?}",
                    crate::domain::escape::line(listen)
                ),
            ));
        }
        let r = &self.retention;
        at_least("retention", "metrics_days", r.metrics_days, 1)?;
        at_least("retention", "history_days", r.history_days, r.metrics_days)?;
        at_least("retention", "log_max_mb", r.log_max_mb, 1)?;
        at_least("retention", "log_keep", r.log_keep.into(), 1)?;
        if !self.storage.postgres_url.trim().is_empty() {
            crate::storage::mirror::parse_url(&self.storage.postgres_url)
                .map_err(|e| ("storage", "postgres_url", e.to_string()))?;
        }
        let url = self.notify.webhook_url.trim();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err((
                "notify",
                "webhook_url",
                "must be an http:// or https:// URL".into(),
            ));
        }
        for p in &self.alerts.patterns {
            if let Err(e) = regex::Regex::new(p) {
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string();
                return Err((
                    "alerts",
                    "patterns",
                    format!("`{p}` is not a valid regular expression: {why}"),
                ));
            }
        }
        at_least(
            "alerts",
            "failure_threshold",
            self.alerts.failure_threshold.into(),
            1,
        )?;
        at_least("alerts", "window_minutes", self.alerts.window_minutes, 1)?;
        if self.escalation.agent_command.trim().is_empty() {
            return Err((
                "escalation",
                "agent_command",
                "must name the agent to start (default \"claude\")".into(),
            ));
        }
        if self.escalation.terminal.trim().is_empty() {
            return Err((
                "escalation",
                "terminal",
                "must be \"auto\" or a terminal's name".into(),
            ));
        }
        let steps = &self.heal.steps;
        if steps.is_empty() {
            return Err((
                "heal",
                "steps",
                "must name at least one step (`restart`, `recreate`, `rebuild`); to never act, \
                 set `enabled = false`"
                    .into(),
            ));
        }
        if let Some(dup) = steps
            .iter()
            .enumerate()
            .find(|(i, s)| steps[..*i].contains(s))
        {
            return Err((
                "heal",
                "steps",
                format!("`{}` is listed twice", dup.1.as_str()),
            ));
        }
        let name = &self.stack.project_name;
        if !name.is_empty()
            && (!name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                || !name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'))
        {
            return Err((
                "stack",
                "project_name",
                format!(
                    "`{name}` is not a compose project name (lowercase letters, digits, `-` and \
                     `_`, starting with a letter or digit)"
                ),
            ));
        }
        self.diagnosis.validate()
    }
}

impl Diagnosis {
    fn validate(&self) -> Result<(), (&'static str, &'static str, String)> {
        let bad = |key: &'static str, message: String| Err(("diagnosis", key, message));
        if self.timeout_seconds < 1 {
            return bad("timeout_seconds", "must be at least 1".into());
        }
        if self.max_retries > 10 {
            return bad(
                "max_retries",
                format!("must be at most 10, found {}", self.max_retries),
            );
        }
        if !self.base_url.is_empty() {
            if let Err(problem) = validate_url(&self.base_url) {
                return bad("base_url", problem);
            }
        }
        if self.provider != Provider::Off && self.model.trim().is_empty() {
            return bad("model", "must name a model when a provider is set".into());
        }
        let name = &self.api_key_env;
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || name.starts_with(|c: char| c.is_ascii_digit())
        {
            // The value is not repeated: a key pasted here by mistake must not reach a log.
            return bad(
                "api_key_env",
                "must be the name of an environment variable (letters, digits, `_`), \
                 such as ANTHROPIC_API_KEY, never the key itself"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_knows_where_it_came_from_once_loaded() {
        let text = "[heal]\nmax_attempts = 5\n[notify]\ndesktop = false\n";
        let s = Settings::parse(text, Path::new("sickbay.toml")).expect("valid");
        assert_eq!(s.origins.of("heal.max_attempts"), Origin::File);
        assert_eq!(s.origins.of("notify.desktop"), Origin::File);
        assert_eq!(s.origins.of("heal.window_minutes"), Origin::Default);
        assert_eq!(
            Settings::default().origins.of("heal.max_attempts"),
            Origin::Default
        );
    }

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("sickbay.toml"))
    }

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let s = parse(EXAMPLE_CONFIG).expect("example config parses");
        // Every key is written in the example: the same values, all from the file.
        assert_eq!(s.origins.of("heal.max_attempts"), Origin::File);
        let values = Settings {
            origins: Origins::default(),
            ..s
        };
        assert_eq!(values, Settings::default());
    }

    #[test]
    fn an_empty_file_gives_the_defaults_with_a_30_second_interval() {
        let s = parse("").expect("empty parses");
        assert_eq!(s.monitoring.interval_seconds, 30);
        assert_eq!(s.heal.max_attempts, 3);
        assert_eq!(s.heal.window_minutes, 15);
    }

    #[test]
    fn a_wrong_type_names_the_line_and_the_key() {
        let e = parse("[monitoring]\n\ninterval_seconds = \"often\"\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.key.as_deref(), Some("monitoring.interval_seconds"));
        let msg = e.to_string();
        assert!(
            msg.contains("sickbay.toml, line 3, key `monitoring.interval_seconds`"),
            "{msg}"
        );
    }

    #[test]
    fn a_misspelt_key_is_refused_with_its_name() {
        let e = parse("[heal]\nmax_attempt = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("heal.max_attempt"));
        assert!(e.message.contains("unknown field"), "{}", e.message);
    }

    #[test]
    fn an_out_of_range_value_names_the_line_and_the_key() {
        let e = parse("[monitoring]\ninterval_seconds = 5\n[heal]\n# c\nmax_attempts = 0\n")
            .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key.as_deref(), Some("heal.max_attempts"));
    }

    #[test]
    fn the_diagnosis_section_is_read_and_checked() {
        let s = parse("[diagnosis]\nprovider = \"openai-compatible\"\nmodel = \"llama3.2\"\n")
            .expect("parses");
        assert_eq!(s.diagnosis.provider, Provider::OpenaiCompatible);
        assert_eq!(s.diagnosis.api_key_env, "ANTHROPIC_API_KEY");
        let e = parse("[diagnosis]\nprovider = \"claude\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("diagnosis.provider"));
        assert_eq!(e.line, Some(2));
        let e = parse("[diagnosis]\n\ntimeout_seconds = 0\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("diagnosis.timeout_seconds"));
        assert_eq!(e.line, Some(3));
        let e = parse("[diagnosis]\nbase_url = \"localhost:11434\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("diagnosis.base_url"));
    }

    #[test]
    fn a_key_pasted_into_api_key_env_is_refused_without_repeating_it() {
        let key = "sk-ant-api03-pasted-by-mistake";
        let e = parse(&format!("[diagnosis]\napi_key_env = \"{key}\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("diagnosis.api_key_env"));
        assert_eq!(e.line, Some(2));
        assert!(!e.to_string().contains(key), "{e}");
    }

    #[test]
    fn labels_set_the_policy_and_bad_labels_are_reported_not_fatal() {
        let labels: HashMap<String, String> = [
            ("sickbay.health_url", "http://127.0.0.1:8080/health"),
            ("sickbay.cache_paths", "/tmp/cache, /etc ,relative"),
            ("autoheal.stop.timeout", "3"),
            ("sickbay.enable", "maybe"),
            ("sickbay.depends_on", "db, cache ,$(rm -rf /)"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (p, errs) = Policy::from_labels(&labels, &Heal::default());
        assert!(p.watched && p.heal);
        assert_eq!(
            p.health_url.as_deref(),
            Some("http://127.0.0.1:8080/health")
        );
        assert_eq!(p.cache_paths, vec!["/tmp/cache"]);
        assert_eq!(p.stop_timeout_seconds, 3);
        assert_eq!(p.depends_on, vec!["db", "cache"]);
        let labels_named: Vec<_> = errs.iter().map(|e| e.label.as_str()).collect();
        assert_eq!(
            labels_named,
            vec![
                "sickbay.enable",
                "sickbay.cache_paths",
                "sickbay.cache_paths",
                "sickbay.depends_on"
            ]
        );
    }

    #[test]
    fn heal_steps_come_from_the_label_else_the_config_and_need_compose() {
        let compose = |extra: &[(&str, &str)]| -> HashMap<String, String> {
            [("com.docker.compose.service", "web")]
                .iter()
                .chain(extra)
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let all = Heal {
            steps: vec![Step::Restart, Step::Recreate, Step::Rebuild],
            ..Heal::default()
        };
        // The label wins, in the ladder's order whatever order it is written in.
        let (p, errs) = Policy::from_labels(
            &compose(&[("sickbay.heal", "recreate, restart")]),
            &Heal::default(),
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(p.steps, [Step::Restart, Step::Recreate]);
        // The config's steps for every container; compose steps only for compose services.
        assert_eq!(Policy::from_labels(&compose(&[]), &all).0.steps, all.steps);
        assert_eq!(
            Policy::from_labels(&HashMap::new(), &all).0.steps,
            [Step::Restart]
        );
        // Asked of a container Compose did not create: said, and left out.
        let labels = HashMap::from([("sickbay.heal".to_string(), "restart,rebuild".to_string())]);
        let (p, errs) = Policy::from_labels(&labels, &Heal::default());
        assert_eq!(p.steps, [Step::Restart]);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].problem.contains("compose"), "{}", errs[0]);
        // Unknown steps: the label is reported, the config's steps apply.
        let (p, errs) = Policy::from_labels(&compose(&[("sickbay.heal", "restart,reboot")]), &all);
        assert_eq!(p.steps, all.steps);
        assert!(errs[0].to_string().contains("sickbay.heal=restart,reboot"));
        assert!(errs[0].problem.contains("`recreate`"), "{}", errs[0]);
    }

    #[test]
    fn bad_heal_steps_and_project_names_are_refused_with_their_line() {
        let err = parse("[heal]\nsteps = [\"restart\", \"reboot\"]\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 2"), "{msg}");
        assert!(msg.contains("reboot"), "{msg}");
        let msg = parse("[heal]\nsteps = []\n").unwrap_err().to_string();
        assert!(msg.contains("heal.steps"), "{msg}");
        let msg = parse("[heal]\nsteps = [\"restart\", \"restart\"]\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("listed twice"), "{msg}");
        let msg = parse("[stack]\ncompose_file = \"a.yml\"\nproject_name = \"My App\"\n")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("line 3, key `stack.project_name`"), "{msg}");
    }

    #[test]
    fn a_relative_compose_file_is_relative_to_the_config_file() {
        let s = Settings::parse(
            "[stack]\ncompose_file = \"app/compose.yml\"\n",
            Path::new("/home/u/.config/sickbay/sickbay.toml"),
        )
        .expect("valid");
        assert_eq!(
            s.stack.compose_file,
            "/home/u/.config/sickbay/app/compose.yml"
        );
        let s = Settings::parse(
            "[stack]\ncompose_file = \"/srv/compose.yml\"\n",
            Path::new("/etc/sickbay.toml"),
        )
        .expect("valid");
        assert_eq!(s.stack.compose_file, "/srv/compose.yml");
    }

    #[test]
    fn heal_none_and_autoheal_false_watch_without_acting() {
        for (k, v) in [("sickbay.heal", "none"), ("autoheal", "false")] {
            let labels = HashMap::from([(k.to_string(), v.to_string())]);
            let (p, errs) = Policy::from_labels(&labels, &Heal::default());
            assert!(errs.is_empty());
            assert!(p.watched && !p.heal, "{k}={v}");
        }
        let labels = HashMap::from([("sickbay.enable".to_string(), "false".to_string())]);
        assert!(!Policy::from_labels(&labels, &Heal::default()).0.watched);
    }

    #[test]
    fn cache_paths_that_could_destroy_data_are_refused() {
        for p in ["/", "/var/lib/", "/data", "/a/../etc", "/tmp/*", "tmp"] {
            assert!(validate_cache_path(p).is_err(), "{p} accepted");
        }
        assert!(validate_cache_path("/app/cache").is_ok());
    }

    #[test]
    fn the_selector_needs_every_label() {
        let labels = HashMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "2".to_string()),
        ]);
        assert!(selector_matches(&["a=1".into(), "b".into()], &labels));
        assert!(!selector_matches(&["a=2".into()], &labels));
        assert!(!selector_matches(&["c".into()], &labels));
        assert!(selector_matches(&[], &labels));
    }
}
