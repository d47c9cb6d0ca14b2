//! The history: a local SQLite database (WAL) holding incidents, events and metrics in the
//! original system's tables, and the mirror's outbox. The only importer of rusqlite.
//! Migrations come from `migrations/sqlite/` and are applied at open, tracked by
//! `PRAGMA user_version`.
//!
//! It runs queries and returns plain rows; it decides nothing. Thresholds and their reading
//! belong to the domain modules (`patterns` for the pattern analysis), and the tables the
//! mirror copies are listed in `schema`. SQL text is static, or built only from `schema`'s
//! fixed table map, never from a caller's string.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::domain::model::{ActionRecord, Incident, IncidentKind, IncidentStatus};
use crate::domain::patterns;
use crate::storage::schema::{MirroredTable, Table, MIRRORED};

/// The migrations, in order. A database at `user_version = n` has the first `n` applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/sqlite/0001_history.sql"),
    include_str!("../../../migrations/sqlite/0002_mirror.sql"),
    include_str!("../../../migrations/sqlite/0003_escalation.sql"),
    include_str!("../../../migrations/sqlite/0004_follow_up.sql"),
    include_str!("../../../migrations/sqlite/0005_dependencies.sql"),
    include_str!("../../../migrations/sqlite/0006_snoozes.sql"),
    include_str!("../../../migrations/sqlite/0007_diagnosis.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the history database {path}: {source}")]
    Open {
        path: String,
        source: rusqlite::Error,
    },
    #[error("the history database {path} was written by a newer Sickbay (schema {found}, this one knows {known})")]
    TooNew {
        path: String,
        found: i64,
        known: usize,
    },
    #[error("history database: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// One metric sample of one container.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MetricRow {
    pub timestamp: String,
    pub container_name: String,
    pub container_id: String,
    pub state: String,
    pub health: String,
    pub restart_count: i64,
    pub cpu_percent: Option<f64>,
    pub mem_mb: Option<f64>,
    pub mem_limit_mb: Option<f64>,
    pub response_time_ms: Option<f64>,
    pub http_status: Option<u16>,
}

/// One event as `monitor_events` holds it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventRow {
    pub id: i64,
    pub timestamp: String,
    pub event: String,
    pub container_name: Option<String>,
    pub incident_id: Option<i64>,
    pub details: String,
}

pub struct Store {
    conn: Connection,
}

/// How long a statement waits for another process's write (a migration, the engine's,
/// retention's) before failing with "database is locked".
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Switches the database to write-ahead logging (a no-op when it is already). Turning a new
/// database to WAL needs it to itself for a moment; when another process is opening it too,
/// SQLite may answer "busy" at once instead of waiting, so this tries again for a while.
fn wal(conn: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0)) {
            Ok(_) => return Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(e),
        }
    }
}

fn metric_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MetricRow> {
    Ok(MetricRow {
        timestamp: r.get(0)?,
        container_name: r.get(1)?,
        container_id: r.get(2)?,
        state: r.get(3)?,
        health: r.get(4)?,
        restart_count: r.get(5)?,
        cpu_percent: r.get(6)?,
        mem_mb: r.get(7)?,
        mem_limit_mb: r.get(8)?,
        response_time_ms: r.get(9)?,
        http_status: r.get(10)?,
    })
}

fn new_uid() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent() {
            // Opening the file below says what is wrong when the folder cannot be made.
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::debug!("cannot create {}: {e}", dir.display());
            }
        }
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        wal(&conn).map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        let mut store = Self { conn };
        store.migrate(path)?;
        Ok(store)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        let mut store = Self {
            conn: Connection::open_in_memory()?,
        };
        store.migrate(Path::new(":memory:"))?;
        Ok(store)
    }

    /// Applies the migrations the database lacks. Other processes (`watch`, `status`, the
    /// dashboard) may open a new database at the same moment: each migration runs in a write
    /// transaction that reads the version again once it holds the lock, so a migration another
    /// process has just applied is skipped, never applied twice.
    fn migrate(&mut self, path: &Path) -> Result<(), StoreError> {
        let too_new = |found: i64| StoreError::TooNew {
            path: path.display().to_string(),
            found,
            known: MIGRATIONS.len(),
        };
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version as usize > MIGRATIONS.len() {
            return Err(too_new(version));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if now as usize > MIGRATIONS.len() {
                return Err(too_new(now));
            }
            if now as usize > i {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    pub fn insert_event(
        &self,
        timestamp: &str,
        event: &str,
        container: Option<&str>,
        incident_id: Option<i64>,
        details: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO monitor_events (uid, timestamp, event, container_name, incident_id, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![new_uid(), timestamp, event, container, incident_id, details],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn open_incident(
        &self,
        timestamp: &str,
        container_name: &str,
        container_id: &str,
        kind: IncidentKind,
        status: IncidentStatus,
        details: &str,
    ) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO monitor_incidents
               (uid, timestamp, container_name, container_id, kind, status, details, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?2)",
            params![
                new_uid(),
                timestamp,
                container_name,
                container_id,
                kind.as_str(),
                status.as_str(),
                details
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_incident_status(
        &self,
        id: i64,
        status: IncidentStatus,
        timestamp: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE monitor_incidents SET status = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, status.as_str(), timestamp],
        )?;
        Ok(())
    }

    /// Appends a heal action to the incident; `restart` also counts an attempt.
    pub fn add_action(
        &self,
        id: i64,
        record: &ActionRecord,
        counts_as_attempt: bool,
    ) -> Result<(), StoreError> {
        let actions: String = self.conn.query_row(
            "SELECT actions FROM monitor_incidents WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let mut list: Vec<ActionRecord> = serde_json::from_str(&actions).unwrap_or_default();
        list.push(record.clone());
        let json = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE monitor_incidents
                SET actions = ?2, attempts = attempts + ?3, updated_at = ?4 WHERE id = ?1",
            params![id, json, counts_as_attempt as i64, record.at],
        )?;
        Ok(())
    }

    /// Records the outcome of the last action of the incident.
    /// Where the agent of an escalation works and the commit it starts from.
    pub fn set_escalation_workdir(
        &self,
        id: i64,
        workdir: &str,
        head: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE monitor_incidents SET escalation_workdir = ?2,
                    escalation_head = COALESCE(escalation_head, ?3) WHERE id = ?1",
            params![id, workdir, head],
        )?;
        Ok(())
    }

    /// The escalation's work folder and starting commit, if the incident was escalated.
    pub fn escalation_origin(&self, id: i64) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT escalation_workdir, escalation_head FROM monitor_incidents
                  WHERE id = ?1 AND escalated AND escalation_head IS NOT NULL",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// The likely cause the diagnosis of incident `id` found.
    pub fn set_incident_diagnosis(&self, id: i64, diagnosis: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE monitor_incidents SET diagnosis = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, diagnosis, crate::clock::utc_now()],
        )?;
        Ok(())
    }

    /// The dependents held for incident `id`'s container.
    pub fn set_incident_affected(&self, id: i64, affected: &[String]) -> Result<(), StoreError> {
        let json = serde_json::to_string(affected).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE monitor_incidents SET affected = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, json, crate::clock::utc_now()],
        )?;
        Ok(())
    }

    pub fn set_commits(
        &self,
        id: i64,
        commits: &[crate::domain::model::Commit],
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(commits).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE monitor_incidents SET commits = ?2, updated_at = ?3 WHERE id = ?1",
            params![id, json, crate::clock::utc_now()],
        )?;
        Ok(())
    }

    /// What the history holds of `container` over the pattern analysis' windows (the
    /// analysis itself is `patterns::analyse`).
    pub fn pattern_history(
        &self,
        container: &str,
        since: &patterns::Windows,
    ) -> Result<patterns::History, StoreError> {
        let restarts: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM monitor_events WHERE container_name = ?1 AND timestamp > ?2
               AND event IN ('restarting_container', 'container_died', 'container_oom_killed')",
            params![container, since.restarts_since],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn.prepare(
            "SELECT kind, details, COUNT(*) FROM monitor_incidents
              WHERE container_name = ?1 AND timestamp > ?2
              GROUP BY kind, details ORDER BY COUNT(*) DESC",
        )?;
        let incident_groups = stmt
            .query_map(params![container, since.repeats_since], |r| {
                Ok(patterns::IncidentGroup {
                    kind: r.get(0)?,
                    details: r.get(1)?,
                    count: r.get(2)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let avg_response_ms: Option<f64> = self.conn.query_row(
            "SELECT AVG(response_time_ms) FROM monitor_health_metrics
              WHERE container_name = ?1 AND timestamp > ?2",
            params![container, since.samples_since],
            |r| r.get(0),
        )?;
        let (first_mem_mb, last_mem_mb, mem_limit_mb) = self.conn.query_row(
            "SELECT (SELECT mem_mb FROM monitor_health_metrics WHERE container_name = ?1
                       AND timestamp > ?2 AND mem_mb IS NOT NULL ORDER BY timestamp LIMIT 1),
                    (SELECT mem_mb FROM monitor_health_metrics WHERE container_name = ?1
                       AND timestamp > ?2 AND mem_mb IS NOT NULL ORDER BY timestamp DESC LIMIT 1),
                    (SELECT mem_limit_mb FROM monitor_health_metrics WHERE container_name = ?1
                       AND timestamp > ?2 ORDER BY timestamp DESC LIMIT 1)",
            params![container, since.samples_since],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        Ok(patterns::History {
            restarts,
            incident_groups,
            avg_response_ms,
            first_mem_mb,
            last_mem_mb,
            mem_limit_mb,
        })
    }

    /// Records that the incident was escalated, when and how (the first time wins `at`).
    pub fn mark_escalated(&self, id: i64, at: &str, how: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE monitor_incidents SET escalated = TRUE,
                    escalated_at = COALESCE(escalated_at, ?2), escalation = ?3, updated_at = ?2
              WHERE id = ?1",
            params![id, at, how],
        )?;
        Ok(())
    }

    pub fn set_last_action_outcome(&self, id: i64, outcome: &str) -> Result<(), StoreError> {
        let actions: String = self.conn.query_row(
            "SELECT actions FROM monitor_incidents WHERE id = ?1",
            [id],
            |r| r.get(0),
        )?;
        let mut list: Vec<ActionRecord> = serde_json::from_str(&actions).unwrap_or_default();
        if let Some(last) = list.last_mut() {
            last.outcome = outcome.to_string();
        }
        let json = serde_json::to_string(&list).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "UPDATE monitor_incidents SET actions = ?2 WHERE id = ?1",
            params![id, json],
        )?;
        Ok(())
    }

    pub fn close_incident(
        &self,
        id: i64,
        timestamp: &str,
        auto_healed: bool,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE monitor_incidents
                SET status = 'resolved', closed_at = ?2, auto_healed = ?3, updated_at = ?2
              WHERE id = ?1",
            params![id, timestamp, auto_healed],
        )?;
        Ok(())
    }

    /// Incidents, newest first.
    pub fn incidents(&self, open_only: bool, limit: usize) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, container_name, kind, status, details, timestamp, closed_at, auto_healed,
                    attempts, actions, escalated, escalated_at, escalation, commits, affected, diagnosis
               FROM monitor_incidents
              WHERE NOT ?2 OR closed_at IS NULL
              ORDER BY timestamp DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![limit as i64, open_only], |r| {
            let kind: String = r.get(2)?;
            let status: String = r.get(3)?;
            let actions: String = r.get(9)?;
            Ok(Incident {
                id: r.get(0)?,
                container: r.get(1)?,
                kind: IncidentKind::parse(&kind).unwrap_or(IncidentKind::Unhealthy),
                status: IncidentStatus::parse(&status).unwrap_or(IncidentStatus::Open),
                details: r.get(4)?,
                opened_at: r.get(5)?,
                closed_at: r.get(6)?,
                auto_healed: r.get(7)?,
                attempts: r.get(8)?,
                actions: serde_json::from_str(&actions).unwrap_or_default(),
                escalated: r.get(10)?,
                escalated_at: r.get(11)?,
                escalation: r.get(12)?,
                commits: serde_json::from_str(&r.get::<_, String>(13)?).unwrap_or_default(),
                affected: serde_json::from_str(&r.get::<_, String>(14)?).unwrap_or_default(),
                diagnosis: r.get(15)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        Ok(self
            .incidents(false, usize::MAX >> 1)?
            .into_iter()
            .find(|i| i.id == id))
    }

    /// Open incidents by container name (the newest per container).
    pub fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.incidents(true, 10_000)
    }

    pub fn insert_metrics(&mut self, rows: &[MetricRow]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO monitor_health_metrics
                   (uid, timestamp, container_name, container_id, state, health, restart_count,
                    cpu_percent, mem_mb, mem_limit_mb, response_time_ms, http_status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for m in rows {
                stmt.execute(params![
                    new_uid(),
                    m.timestamp,
                    m.container_name,
                    m.container_id,
                    m.state,
                    m.health,
                    m.restart_count,
                    m.cpu_percent,
                    m.mem_mb,
                    m.mem_limit_mb,
                    m.response_time_ms,
                    m.http_status
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The samples of one container since `since` (a UTC stamp), oldest first: the charts.
    pub fn metrics_since(
        &self,
        container: &str,
        since: &str,
    ) -> Result<Vec<MetricRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT timestamp, container_name, container_id, state, health, restart_count,
                    cpu_percent, mem_mb, mem_limit_mb, response_time_ms, http_status
               FROM monitor_health_metrics
              WHERE container_name = ?1 AND timestamp >= ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![container, since], metric_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Events, oldest first, optionally of one incident.
    pub fn events(&self, incident_id: Option<i64>) -> Result<Vec<EventRow>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, timestamp, event, container_name, incident_id, details FROM monitor_events
              WHERE ?1 IS NULL OR incident_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([incident_id], |r| {
            Ok(EventRow {
                id: r.get(0)?,
                timestamp: r.get(1)?,
                event: r.get(2)?,
                container_name: r.get(3)?,
                incident_id: r.get(4)?,
                details: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The snooze events since `since`, oldest first: (snoozed, container, details).
    pub fn snooze_events(
        &self,
        since: &str,
    ) -> Result<Vec<(bool, Option<String>, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT event, container_name, details FROM monitor_events
              WHERE event IN ('container_snoozed', 'container_unsnoozed') AND timestamp >= ?1
              ORDER BY id",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get::<_, String>(0)? == "container_snoozed",
                r.get(1)?,
                r.get(2)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Timestamps of the restarts of `container` since `since`, Sickbay's and those others
    /// made while it was failing (to seed the limit).
    pub fn restarts_since(&self, container: &str, since: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT timestamp FROM monitor_events
              WHERE event IN ('restarting_container', 'restarted_by_other')
                AND container_name = ?1 AND timestamp >= ?2
              ORDER BY timestamp",
        )?;
        let rows = stmt.query_map(params![container, since], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Containers restarted by something other than Sickbay while failing since `since`,
    /// with how often, most first.
    pub fn restarts_by_others_since(&self, since: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT container_name, COUNT(*) AS n FROM monitor_events
              WHERE event = 'restarted_by_other' AND timestamp >= ?1
              GROUP BY container_name ORDER BY n DESC, container_name",
        )?;
        let rows = stmt.query_map(params![since], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rolls raw samples older than `metrics_cutoff` up into hourly averages and deletes
    /// them; deletes hourly rows and closed incidents' events older than `history_cutoff`.
    /// Returns the number of raw samples rolled up.
    pub fn apply_retention(
        &mut self,
        metrics_cutoff: &str,
        history_cutoff: &str,
    ) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO monitor_health_metrics_hourly
               (hour, container_name, samples, cpu_percent, mem_mb, mem_max_mb, response_time_ms)
             SELECT substr(timestamp, 1, 13) || ':00:00.000Z', container_name, COUNT(*),
                    AVG(cpu_percent), AVG(mem_mb), MAX(mem_mb), AVG(response_time_ms)
               FROM monitor_health_metrics WHERE timestamp < ?1
              GROUP BY 1, 2
             ON CONFLICT (hour, container_name) DO UPDATE SET
               cpu_percent = (cpu_percent * samples + excluded.cpu_percent * excluded.samples)
                             / (samples + excluded.samples),
               mem_mb = (mem_mb * samples + excluded.mem_mb * excluded.samples)
                        / (samples + excluded.samples),
               mem_max_mb = MAX(mem_max_mb, excluded.mem_max_mb),
               response_time_ms = COALESCE((response_time_ms * samples
                                   + excluded.response_time_ms * excluded.samples)
                                   / (samples + excluded.samples), excluded.response_time_ms,
                                   response_time_ms),
               samples = samples + excluded.samples",
            [metrics_cutoff],
        )?;
        let rolled = tx.execute(
            "DELETE FROM monitor_health_metrics WHERE timestamp < ?1",
            [metrics_cutoff],
        )?;
        tx.execute(
            "DELETE FROM monitor_health_metrics_hourly WHERE hour < ?1",
            [history_cutoff],
        )?;
        tx.execute(
            "DELETE FROM monitor_events WHERE timestamp < ?1 AND (incident_id IS NULL OR
               incident_id IN (SELECT id FROM monitor_incidents WHERE closed_at IS NOT NULL))",
            [history_cutoff],
        )?;
        // Outbox entries of rows that no longer exist would send nothing: drop them.
        for t in MIRRORED {
            tx.execute(
                &format!(
                    "DELETE FROM mirror_outbox WHERE tbl = '{0}'
                       AND NOT EXISTS (SELECT 1 FROM {0} WHERE {1} = mirror_outbox.key)",
                    t.name(),
                    t.key()
                ),
                [],
            )?;
        }
        tx.commit()?;
        Ok(rolled)
    }

    /// The number of rows of a table (for `doctor` and tests).
    pub fn count(&self, table: Table) -> Result<i64, StoreError> {
        let sql = match table {
            Table::Incidents => "SELECT COUNT(*) FROM monitor_incidents",
            Table::Events => "SELECT COUNT(*) FROM monitor_events",
            Table::Metrics => "SELECT COUNT(*) FROM monitor_health_metrics",
            Table::MetricsHourly => "SELECT COUNT(*) FROM monitor_health_metrics_hourly",
        };
        Ok(self.conn.query_row(sql, [], |r| r.get(0))?)
    }

    /// The original system's query, to prove it still runs.
    pub fn unhealed_incident_ids(&self) -> Result<Vec<i64>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT * FROM monitor_incidents WHERE auto_healed = false ORDER BY timestamp DESC LIMIT 10;",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// An entry of the mirror's outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub table: String,
    pub key: String,
}

/// What the outbox holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct OutboxState {
    pub pending: i64,
    /// Age of the oldest pending entry, in seconds.
    pub oldest_seconds: Option<f64>,
}

/// The mirror's side of the history: the outbox the triggers of `0002_mirror.sql` fill.
impl Store {
    /// This machine's stable id (made on first use) and its name.
    pub fn host_identity(&self) -> Result<(String, String), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO sickbay_meta (key, value) VALUES ('host_id', ?1)",
            [new_uid()],
        )?;
        let id: String = self.conn.query_row(
            "SELECT value FROM sickbay_meta WHERE key = 'host_id'",
            [],
            |r| r.get(0),
        )?;
        let name = gethostname::gethostname().to_string_lossy().into_owned();
        Ok((id, name))
    }

    /// Starts filling the outbox. The first time, the whole existing history is queued, so a
    /// mirror configured late still receives everything. Returns the rows queued.
    pub fn enable_mirror(&mut self) -> Result<usize, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let enabled: Option<String> = tx
            .query_row(
                "SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if enabled.as_deref() == Some("1") {
            return Ok(0);
        }
        let mut queued = 0;
        for t in MIRRORED {
            queued += tx.execute(
                &format!(
                    "INSERT INTO mirror_outbox (tbl, key) SELECT '{}', {} FROM {} ORDER BY rowid",
                    t.name(),
                    t.key(),
                    t.name()
                ),
                [],
            )?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO sickbay_meta (key, value) VALUES ('mirror_enabled', '1')",
            [],
        )?;
        tx.commit()?;
        Ok(queued)
    }

    /// The oldest `limit` entries of the outbox.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT seq, tbl, key FROM mirror_outbox ORDER BY seq LIMIT ?1")?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok(OutboxEntry {
                seq: r.get(0)?,
                table: r.get(1)?,
                key: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The current rows of `table` with these outbox keys, as one JSON array of objects
    /// (rows deleted since they were queued are simply absent).
    pub fn rows_json(&self, table: &MirroredTable, keys: &[&str]) -> Result<String, StoreError> {
        let fields: Vec<String> = table
            .columns()
            .iter()
            .map(|(c, expr)| format!("'{c}', {expr}"))
            .collect();
        let sql = format!(
            "SELECT json_group_array(json_object({})) FROM {} WHERE {} IN (SELECT value FROM json_each(?1))",
            fields.join(", "),
            table.name(),
            table.key()
        );
        let keys = serde_json::to_string(keys).unwrap_or_else(|_| "[]".into());
        Ok(self.conn.query_row(&sql, [keys], |r| r.get(0))?)
    }

    /// Forgets the outbox entries up to `seq`, once Postgres holds them.
    pub fn outbox_done(&self, seq: i64) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM mirror_outbox WHERE seq <= ?1", [seq])?)
    }

    pub fn outbox_state(&self) -> Result<OutboxState, StoreError> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*),
                    (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - MIN(queued_ms)) / 1000.0
               FROM mirror_outbox",
            [],
            |r| {
                Ok(OutboxState {
                    pending: r.get(0)?,
                    oldest_seconds: r.get(1)?,
                })
            },
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::HealAction;

    fn metric(ts: &str, name: &str, cpu: f64) -> MetricRow {
        MetricRow {
            timestamp: ts.into(),
            container_name: name.into(),
            container_id: "abc".into(),
            state: "running".into(),
            health: "healthy".into(),
            restart_count: 0,
            cpu_percent: Some(cpu),
            mem_mb: Some(10.0),
            mem_limit_mb: None,
            response_time_ms: Some(cpu * 10.0),
            http_status: Some(200),
        }
    }

    #[test]
    fn the_pattern_history_gathers_restarts_repeats_response_times_and_memory() {
        let mut s = Store::in_memory().unwrap();
        let now = std::time::SystemTime::now();
        let ago = |secs: u64| crate::clock::utc(now - std::time::Duration::from_secs(secs));
        let mut rows = Vec::new();
        for (i, mem) in [100.0, 140.0, 190.0, 240.0].iter().enumerate() {
            let mut m = metric(&ago(3000 - i as u64 * 600), "api", 150.0);
            m.mem_mb = Some(*mem);
            m.mem_limit_mb = Some(256.0);
            rows.push(m);
        }
        // Outside every window.
        rows.push(metric(&ago(90_000), "api", 1.0));
        s.insert_metrics(&rows).unwrap();
        for i in 0..3 {
            s.open_incident(
                &ago(600 + i * 60),
                "api",
                "abc",
                IncidentKind::Crashed,
                IncidentStatus::Open,
                "exit_code:137",
            )
            .unwrap();
        }
        s.insert_event(&ago(60), "container_died", Some("api"), None, "")
            .unwrap();
        s.insert_event(&ago(700), "container_died", Some("api"), None, "")
            .unwrap();
        s.insert_event(&ago(60), "container_healthy", Some("api"), None, "")
            .unwrap();
        let windows = patterns::Windows::ending_at(now);
        let h = s.pattern_history("api", &windows).unwrap();
        assert_eq!(
            h,
            patterns::History {
                restarts: 1,
                incident_groups: vec![patterns::IncidentGroup {
                    kind: "crashed".into(),
                    details: "exit_code:137".into(),
                    count: 3,
                }],
                avg_response_ms: Some(1500.0),
                first_mem_mb: Some(100.0),
                last_mem_mb: Some(240.0),
                mem_limit_mb: Some(256.0),
            }
        );
        let p = patterns::analyse(&h).join("\n");
        assert!(p.contains("slow responses: 1500 ms"), "{p}");
        assert!(p.contains("94 % of its 256 MB limit"), "{p}");
        assert_eq!(
            s.pattern_history("quiet", &windows).unwrap(),
            patterns::History::default()
        );
    }

    #[test]
    fn an_incident_is_recorded_with_its_actions_and_closed() {
        let s = Store::in_memory().unwrap();
        let id = s
            .open_incident(
                "2025-11-20T10:30:00.000Z",
                "web",
                "abc",
                IncidentKind::Unhealthy,
                IncidentStatus::Open,
                "status:503",
            )
            .unwrap();
        s.add_action(
            id,
            &ActionRecord {
                action: HealAction::Restart,
                at: "2025-11-20T10:30:05.000Z".into(),
                outcome: "requested".into(),
            },
            true,
        )
        .unwrap();
        s.set_last_action_outcome(id, "ok").unwrap();
        assert_eq!(s.unhealed_incident_ids().unwrap(), vec![id]);
        s.close_incident(id, "2025-11-20T10:30:15.000Z", true)
            .unwrap();
        let inc = s.incident(id).unwrap().unwrap();
        assert_eq!(inc.status, IncidentStatus::Resolved);
        assert!(inc.auto_healed);
        assert_eq!(inc.attempts, 1);
        assert_eq!(inc.actions[0].outcome, "ok");
        assert!(s.unhealed_incident_ids().unwrap().is_empty());
        assert!(s.open_incidents().unwrap().is_empty());
    }

    #[test]
    fn old_samples_are_rolled_up_into_hourly_averages() {
        let mut s = Store::in_memory().unwrap();
        s.insert_metrics(&[
            metric("2025-01-01T10:05:00.000Z", "web", 1.0),
            metric("2025-01-01T10:35:00.000Z", "web", 3.0),
            metric("2025-01-09T10:35:00.000Z", "web", 5.0),
        ])
        .unwrap();
        let rolled = s
            .apply_retention("2025-01-08T00:00:00.000Z", "2024-01-01T00:00:00.000Z")
            .unwrap();
        assert_eq!(rolled, 2);
        assert_eq!(s.count(Table::Metrics).unwrap(), 1);
        let (samples, cpu): (i64, f64) = s
            .conn
            .query_row(
                "SELECT samples, cpu_percent FROM monitor_health_metrics_hourly",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((samples, cpu), (2, 2.0));
    }

    #[test]
    fn reopening_a_database_keeps_its_rows_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sickbay.db");
        {
            let s = Store::open(&path).unwrap();
            s.insert_event(
                "2025-01-01T00:00:00.000Z",
                "container_died",
                Some("web"),
                None,
                "",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(s.count(Table::Events).unwrap(), 1);
    }

    /// Pins the failure where connections opening a new database at once each applied the
    /// first migration (`table monitor_incidents already exists`).
    #[test]
    fn connections_opening_a_new_database_at_once_all_succeed() {
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sickbay.db");
            let start = std::sync::Arc::new(std::sync::Barrier::new(4));
            let openers: Vec<_> = (0..4)
                .map(|_| {
                    let (path, start) = (path.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        let s = Store::open(&path)?;
                        s.host_identity().map(|(id, _)| id)
                    })
                })
                .collect();
            let ids: Vec<String> = openers
                .into_iter()
                .map(|t| t.join().unwrap())
                .collect::<Result<_, _>>()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
            assert!(ids.windows(2).all(|w| w[0] == w[1]), "one host id: {ids:?}");
            let s = Store::open(&path).unwrap();
            assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        }
    }
}
