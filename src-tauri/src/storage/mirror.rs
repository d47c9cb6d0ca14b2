//! The Postgres mirror: copies the local history (SQLite) to a Postgres database, so several
//! machines can keep their history in one place. The only importer of tokio-postgres. It
//! reads SQLite only through `store` and takes the list of tables and columns it copies from
//! `schema`; it must not touch the local database itself.
//! It owns the Postgres connection string's parsing ([`parse_url`], which the configuration
//! uses to check `[storage] postgres_url`), and must not import the configuration: it is handed
//! its URL, so that `config` → `mirror` is the only way between the two.
//!
//! Nothing lost, nothing doubled: SQLite triggers queue every inserted or updated row in an
//! outbox in the same transaction as the row (`migrations/sqlite/0002_mirror.sql`); the mirror
//! sends the rows' current versions in batches as idempotent upserts keyed by `uid`, and
//! forgets outbox entries only after Postgres has committed them. A crash at any moment sends
//! some rows twice at worst, which the upsert absorbs; an outage leaves the outbox growing
//! until Postgres is back.
//!
//! TLS follows libpq's `sslmode` (see [`tls`]), so a URL `psql` accepts connects here too.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio_postgres::config::Host;
use tokio_postgres::Client;

use crate::storage::schema::{MirroredTable, MIRRORED};
use crate::storage::store::{Store, StoreError};

mod tls;
pub use tls::{RootCert, SslMode, TlsOptions};

/// The Postgres schema, applied in order at connect and recorded in `sickbay_schema`.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_history.sql"),
    include_str!("../../../migrations/postgres/0002_escalation.sql"),
    include_str!("../../../migrations/postgres/0003_follow_up.sql"),
    include_str!("../../../migrations/postgres/0004_dependencies.sql"),
    include_str!("../../../migrations/postgres/0005_diagnosis.sql"),
];

/// Outbox entries sent per round trip.
const BATCH: usize = 5000;
/// How often the outbox is looked at when it was empty.
const POLL: Duration = Duration::from_millis(500);
/// How long a clean shutdown may spend sending what is pending.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);
/// Serialises schema migrations of machines connecting at the same time.
const MIGRATION_LOCK: i64 = 0x51c4_ba70;

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("the Postgres URL {0}")]
    Url(String),
    #[error("cannot reach the Postgres mirror {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("TLS with the Postgres mirror {target} failed: {reason}")]
    Tls {
        target: String,
        reason: String,
        /// Which setting to change (`sslmode`, `sslrootcert`, the server's).
        advice: String,
    },
    #[error("the Postgres mirror {target} refused {what}: {reason}")]
    Query {
        target: String,
        what: String,
        reason: String,
    },
    #[error("the local history: {0}")]
    Store(#[from] StoreError),
    #[error("the Postgres schema is version {found}, newer than this Sickbay knows ({known}): upgrade Sickbay")]
    TooNew { found: i64, known: usize },
}

impl MirrorError {
    /// What to do about it, where the error knows better than "check the server".
    pub fn advice(&self) -> Option<&str> {
        match self {
            Self::Tls { advice, .. } => Some(advice),
            _ => None,
        }
    }

    /// The message and its advice in one line, for a log.
    fn with_advice(&self) -> String {
        match self.advice() {
            Some(a) => format!("{self}; {a}"),
            None => self.to_string(),
        }
    }
}

/// A connection string checked: tokio-postgres's part and libpq's TLS options.
pub struct Conninfo {
    pub config: tokio_postgres::Config,
    pub tls: TlsOptions,
}

/// Where the mirror goes: a parsed connection string whose secrets never show.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    tls: TlsOptions,
    connector: tokio_postgres_rustls::MakeRustlsConnect,
    /// The connection string masked (`redact::mask`): what messages show.
    shown: String,
}

impl Target {
    /// Parses `url` (`postgres://user[:password]@host[:port]/db?...` or `key=value` form). A
    /// missing password is taken from `SICKBAY_POSTGRES_PASSWORD`, `PGPASSWORD`, or the
    /// system keychain (service `sickbay`, account `postgres`), in that order.
    pub fn parse(url: &str) -> Result<Self, MirrorError> {
        let Conninfo { mut config, tls } = parse_url(url)?;
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(
            tls.client_config().map_err(MirrorError::Url)?,
        );
        if config.get_password().is_none() {
            let from_env = ["SICKBAY_POSTGRES_PASSWORD", "PGPASSWORD"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|p| !p.is_empty()));
            if let Some(p) = from_env.or_else(keychain_password) {
                config.password(p);
            }
        }
        config.connect_timeout(Duration::from_secs(10));
        config.application_name("sickbay");
        Ok(Self {
            config,
            tls,
            connector,
            shown: crate::domain::redact::mask(url.trim()),
        })
    }

    /// Connects as the URL's `sslmode` says; `allow` tries plain text first and TLS when the
    /// server refuses it (libpq).
    async fn connect(&self) -> Result<Client, MirrorError> {
        use tokio_postgres::config::SslMode as Wire;
        let first = match self.tls.effective_mode() {
            SslMode::Disable | SslMode::Allow => Wire::Disable,
            SslMode::Prefer => Wire::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Wire::Require,
        };
        let client = match self.connect_as(first).await {
            Err(e) if self.tls.mode == SslMode::Allow && e.as_db_error().is_some() => {
                tracing::debug!("{self} refused plain text ({}); trying TLS", reason(&e));
                self.connect_as(Wire::Require).await
            }
            other => other,
        };
        client.map_err(|e| self.connect_error(&e))
    }

    async fn connect_as(
        &self,
        mode: tokio_postgres::config::SslMode,
    ) -> Result<Client, tokio_postgres::Error> {
        let mut config = self.config.clone();
        config.ssl_mode(mode);
        let (client, connection) = config.connect(self.connector.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("the Postgres connection ended: {e}");
            }
        });
        Ok(client)
    }

    /// A failed connection, named a TLS failure when TLS was the cause.
    fn connect_error(&self, e: &tokio_postgres::Error) -> MirrorError {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(name)) => name.clone(),
            #[cfg(unix)]
            Some(Host::Unix(path)) => path.display().to_string(),
            None => String::new(),
        };
        match tls::explain(e, &self.tls, &host) {
            Some(f) => MirrorError::Tls {
                target: self.to_string(),
                reason: f.reason,
                advice: f.advice,
            },
            None => MirrorError::Connect {
                target: self.to_string(),
                reason: reason(e),
            },
        }
    }

    fn query_error(&self, what: &str, e: &tokio_postgres::Error) -> MirrorError {
        MirrorError::Query {
            target: self.to_string(),
            what: what.to_string(),
            reason: reason(e),
        }
    }
}

/// Checks a connection string without looking for its password or reading its files (for
/// the configuration). libpq's `sslmode` and `sslrootcert` are taken off for [`TlsOptions`].
pub fn parse_url(url: &str) -> Result<Conninfo, MirrorError> {
    let (rest, tls) = tls::split_options(url.trim()).map_err(MirrorError::Url)?;
    // The parser's message never repeats the URL, so the password stays out.
    let config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| MirrorError::Url(format!("is not valid: {e}")))?;
    if config.get_hosts().is_empty() {
        return Err(MirrorError::Url("names no host".into()));
    }
    if config.get_dbname().is_none() {
        return Err(MirrorError::Url(
            "names no database (postgres://user@host/DATABASE)".into(),
        ));
    }
    Ok(Conninfo { config, tls })
}

/// The connection string masked: `postgres://user:•••@host:port/•••`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}

/// The error and its causes in one line ("db error: FATAL: password authentication failed
/// for user ...", "error connecting to server: Connection refused ..."), URLs masked.
fn reason(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return crate::domain::redact::mask_urls(&format!("{}: {}", db.severity(), db.message()));
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    crate::domain::redact::mask_urls(&text)
}

/// The password kept in the system keychain (account `postgres`), if any.
fn keychain_password() -> Option<String> {
    crate::agent::keychain::lookup("postgres").ok().flatten()
}

/// How the mirror stands, for `doctor`, `status` and the tray.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MirrorStatus {
    pub target: String,
    pub reachable: bool,
    pub error: Option<String>,
    /// What to change, when the error says (a TLS failure: which `sslmode` to set).
    pub advice: Option<String>,
    pub schema_version: Option<i64>,
    pub pending: i64,
    /// Age of the oldest row not yet in Postgres, in seconds.
    pub lag_seconds: Option<f64>,
    /// Rows sent since start.
    pub sent: u64,
}

/// The mirror's connection: the schema applied, this machine registered, statements ready.
pub struct Session {
    client: Client,
    target: Target,
    host_id: String,
    host_name: String,
    upserts: Vec<(&'static MirroredTable, tokio_postgres::Statement)>,
    pub schema_version: i64,
}

impl Session {
    /// Connects, applies the schema migrations and registers this machine.
    pub async fn open(target: &Target, store: &Store) -> Result<Self, MirrorError> {
        let mut client = target.connect().await?;
        let version = migrate(&mut client, target).await?;
        let (host_id, host_name) = store.host_identity()?;
        client
            .execute(
                "INSERT INTO sickbay_hosts (host_id, host_name) VALUES ($1, $2)
                 ON CONFLICT (host_id) DO UPDATE SET host_name = EXCLUDED.host_name,
                                                     last_seen = now()",
                &[&host_id, &host_name],
            )
            .await
            .map_err(|e| target.query_error("registering this machine", &e))?;
        let mut upserts = Vec::new();
        for t in MIRRORED {
            let stmt = client
                .prepare(&upsert_sql(t))
                .await
                .map_err(|e| target.query_error(&format!("the upsert into {}", t.name()), &e))?;
            upserts.push((t, stmt));
        }
        Ok(Self {
            client,
            target: target.clone(),
            host_id,
            host_name,
            upserts,
            schema_version: version,
        })
    }

    /// Sends one batch of the outbox; returns how many entries it covered (0: empty).
    pub async fn send_batch(&mut self, store: &Store) -> Result<usize, MirrorError> {
        let entries = store.outbox_batch(BATCH)?;
        let Some(last) = entries.last().map(|e| e.seq) else {
            return Ok(0);
        };
        // Newest state of each row once, table by table in the order of MIRRORED.
        let mut keys: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for e in &entries {
            keys.entry(e.table.as_str()).or_default().push(&e.key);
        }
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| self.target.query_error("a transaction", &e))?;
        for (table, stmt) in &self.upserts {
            let Some(ks) = keys.get_mut(table.name()) else {
                continue;
            };
            ks.sort_unstable();
            ks.dedup();
            let json = store.rows_json(table, ks)?;
            tx.execute(stmt, &[&json, &self.host_id, &self.host_name])
                .await
                .map_err(|e| MirrorError::Query {
                    target: self.target.to_string(),
                    what: format!("rows of {}", table.name()),
                    reason: reason(&e),
                })?;
        }
        tx.commit()
            .await
            .map_err(|e| self.target.query_error("the commit", &e))?;
        store.outbox_done(last)?;
        Ok(entries.len())
    }

    /// Sends everything pending.
    pub async fn drain(&mut self, store: &Store) -> Result<u64, MirrorError> {
        let mut sent = 0;
        loop {
            let n = self.send_batch(store).await?;
            if n == 0 {
                return Ok(sent);
            }
            sent += n as u64;
            // Leave room for the rest of the app between batches of a long catch-up.
            tokio::task::yield_now().await;
        }
    }
}

/// `INSERT ... SELECT FROM json_populate_recordset(...) ON CONFLICT DO UPDATE`: one statement
/// per batch and table, whatever the number of rows.
fn upsert_sql(t: &MirroredTable) -> String {
    let cols: Vec<String> = t.column_names().map(|c| format!("\"{c}\"")).collect();
    let conflict = if t.column_names().any(|c| c == "uid") {
        "uid".to_string()
    } else {
        // The hourly roll-up: one row per machine, hour and container.
        "host_id, hour, container_name".to_string()
    };
    let updates: Vec<String> = t
        .column_names()
        .filter(|c| !conflict.split(", ").any(|k| k == *c))
        .map(|c| format!("\"{c}\" = EXCLUDED.\"{c}\""))
        .chain(std::iter::once(
            "host_name = EXCLUDED.host_name".to_string(),
        ))
        .collect();
    format!(
        "INSERT INTO {name} (host_id, host_name, {cols})
         SELECT $2::text, $3::text, {cols} FROM json_populate_recordset(NULL::{name}, $1::text::json)
         ON CONFLICT ({conflict}) DO UPDATE SET {updates}",
        name = t.name(),
        cols = cols.join(", "),
        updates = updates.join(", ")
    )
}

/// Applies the schema migrations Postgres does not have yet; returns the schema version.
async fn migrate(client: &mut Client, target: &Target) -> Result<i64, MirrorError> {
    let err = |what: &str, e: tokio_postgres::Error| target.query_error(what, &e);
    let tx = client
        .transaction()
        .await
        .map_err(|e| err("a transaction", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| err("the migration lock", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sickbay_schema (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )
    .await
    .map_err(|e| {
        err(
            "creating sickbay_schema (does the user own the database?)",
            e,
        )
    })?;
    let row = tx
        .query_one("SELECT COALESCE(MAX(version), 0) FROM sickbay_schema", &[])
        .await
        .map_err(|e| err("reading the schema version", e))?;
    let found: i32 = row.get(0);
    let found = i64::from(found);
    if found as usize > MIGRATIONS.len() {
        return Err(MirrorError::TooNew {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = (i + 1) as i32;
        tx.batch_execute(sql)
            .await
            .map_err(|e| err(&format!("schema migration {version}"), e))?;
        tx.execute(
            "INSERT INTO sickbay_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(|e| err("recording the schema version", e))?;
    }
    tx.commit().await.map_err(|e| err("the migration", e))?;
    Ok(MIGRATIONS.len() as i64)
}

/// Runs the mirror until `shutdown` resolves, then sends what is pending (at most
/// [`FLUSH_TIMEOUT`]). Reconnects with backoff; never stops the rest of Sickbay.
pub async fn run(
    target: Target,
    db: &Path,
    shutdown: impl Future<Output = ()>,
    status: Option<watch::Sender<MirrorStatus>>,
) -> Result<(), MirrorError> {
    tokio::pin!(shutdown);
    // The engine may be opening the same file: a busy database is retried, not fatal.
    let mut attempts = 0;
    let store = loop {
        let opened = Store::open(db).and_then(|mut s| s.enable_mirror().map(|n| (s, n)));
        match opened {
            Ok((store, queued)) => {
                if queued > 0 {
                    tracing::info!("mirror enabled: {queued} rows of history queued for {target}");
                }
                break store;
            }
            Err(e) if attempts < 10 => {
                attempts += 1;
                tracing::debug!("the mirror waits for the history: {e}");
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let status = status.unwrap_or_else(|| watch::channel(MirrorStatus::default()).0);
    let publish = |store: &Store, f: &dyn Fn(&mut MirrorStatus)| {
        let outbox = store.outbox_state().unwrap_or_default();
        status.send_modify(|s| {
            s.target = target.to_string();
            s.pending = outbox.pending;
            s.lag_seconds = outbox.oldest_seconds;
            f(s);
        });
    };
    let mut delay = Duration::from_secs(1);
    let mut last_error = String::new();
    loop {
        let session = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            s = Session::open(&target, &store) => s,
        };
        let mut session = match session {
            Ok(s) => {
                tracing::info!("mirroring the history to {target}");
                delay = Duration::from_secs(1);
                last_error.clear();
                let v = s.schema_version;
                publish(&store, &|st| {
                    st.reachable = true;
                    st.error = None;
                    st.advice = None;
                    st.schema_version = Some(v);
                });
                s
            }
            Err(e) => {
                let msg = e.to_string();
                if msg != last_error {
                    tracing::warn!(
                        "{}; the history stays local until it is reachable",
                        e.with_advice()
                    );
                    last_error = msg.clone();
                }
                let advice = e.advice().map(str::to_string);
                publish(&store, &|st| {
                    st.reachable = false;
                    st.error = Some(msg.clone());
                    st.advice = advice.clone();
                });
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        // Connected: drain, then poll the outbox.
        let failure = loop {
            match session.drain(&store).await {
                Ok(n) => {
                    publish(&store, &|st| st.sent += n);
                }
                Err(e) => break e,
            }
            tokio::select! {
                _ = &mut shutdown => {
                    let flushed = tokio::time::timeout(FLUSH_TIMEOUT, session.drain(&store)).await;
                    match flushed {
                        Ok(Ok(n)) => tracing::info!("mirror flushed {n} rows at shutdown"),
                        Ok(Err(e)) => tracing::warn!("mirror flush at shutdown: {e}"),
                        Err(_) => tracing::warn!(
                            "mirror flush at shutdown took over {} s; the rest is sent at next start",
                            FLUSH_TIMEOUT.as_secs()
                        ),
                    }
                    return Ok(());
                }
                _ = tokio::time::sleep(POLL) => {}
            }
        };
        let msg = failure.to_string();
        tracing::warn!("{msg}; reconnecting");
        last_error = msg.clone();
        publish(&store, &|st| {
            st.reachable = false;
            st.error = Some(msg.clone());
        });
    }
}

/// A mirror running beside the engine, on a thread of its own (a long catch-up never takes
/// time from the monitor).
pub struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    done: tokio::sync::oneshot::Receiver<()>,
}

impl Running {
    /// Starts the mirror when the configuration names one (`url`: `[storage] postgres_url`,
    /// handed in by the caller, so that the mirror needs nothing of the configuration).
    pub fn start(
        url: Option<String>,
        db: std::path::PathBuf,
        status: Option<watch::Sender<MirrorStatus>>,
    ) -> Option<Self> {
        let url = url?;
        let target = match Target::parse(&url) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!("no Postgres mirror: {e}");
                return None;
            }
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("sickbay-mirror".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("no Postgres mirror: cannot start its runtime: {e}");
                        return;
                    }
                };
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = rt.block_on(run(target, &db, shutdown, status)) {
                    tracing::error!("the Postgres mirror stopped: {e}");
                }
                let _ = finished.send(());
            });
        if let Err(e) = spawned {
            tracing::error!("no Postgres mirror: cannot start its thread: {e}");
            return None;
        }
        Some(Self { stop, done })
    }

    /// Sends what is pending (bounded by [`FLUSH_TIMEOUT`]) and stops.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.done.await;
    }
}

/// What `doctor` reports: connects once, reads the schema version and the outbox.
pub async fn check(target: &Target, db: &Path) -> MirrorStatus {
    let mut st = MirrorStatus {
        target: target.to_string(),
        ..Default::default()
    };
    match Store::open(db) {
        Ok(store) => {
            let outbox = store.outbox_state().unwrap_or_default();
            st.pending = outbox.pending;
            st.lag_seconds = outbox.oldest_seconds;
            match Session::open(target, &store).await {
                Ok(s) => {
                    st.reachable = true;
                    st.schema_version = Some(s.schema_version);
                }
                Err(e) => {
                    st.advice = e.advice().map(str::to_string);
                    st.error = Some(e.to_string());
                }
            }
        }
        Err(e) => st.error = Some(e.to_string()),
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows() {
        let t = Target::parse("postgres://sick:s3cr3t-pw@db.example:5433/history").unwrap();
        let shown = format!("{t} {t:?}");
        assert!(!shown.contains("s3cr3t-pw"), "{shown}");
        assert_eq!(t.to_string(), "postgres://sick:•••@db.example:5433/•••");
    }

    #[test]
    fn a_url_without_database_or_host_is_refused_clearly() {
        let e = Target::parse("postgres://sick:pw@db.example:5433").unwrap_err();
        assert!(e.to_string().contains("names no database"), "{e}");
        let e = Target::parse("postgres://u:topsecret@[bad").unwrap_err();
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }

    #[test]
    fn the_upsert_updates_every_column_but_the_key() {
        let sql = upsert_sql(&MIRRORED[0]);
        assert!(sql.contains("ON CONFLICT (uid) DO UPDATE SET"));
        assert!(sql.contains("\"auto_healed\" = EXCLUDED.\"auto_healed\""));
        assert!(!sql.contains("\"uid\" = EXCLUDED"));
        let hourly = MIRRORED
            .iter()
            .find(|t| t.name() == "monitor_health_metrics_hourly")
            .unwrap();
        let sql = upsert_sql(hourly);
        assert!(sql.contains("ON CONFLICT (host_id, hour, container_name)"));
        assert!(sql.contains("\"samples\" = EXCLUDED.\"samples\""));
    }
}
