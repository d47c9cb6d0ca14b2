//! The history's tables as the code names them, and the Postgres mirror's table map: which
//! tables are copied, by which outbox key, with which columns. Shared by the SQLite adapter
//! (`store`, which queues and reads the rows) and the mirror (which writes them to Postgres),
//! so neither depends on the other for it.
//!
//! Pure data: it runs no query and imports no database crate. A table name reaches SQL only
//! through [`Table::name`], a match on this enum, never from a caller's string.

/// A table of the history (`migrations/sqlite/`), with the same name in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Incidents,
    Events,
    Metrics,
    MetricsHourly,
}

impl Table {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Incidents => "monitor_incidents",
            Self::Events => "monitor_events",
            Self::Metrics => "monitor_health_metrics",
            Self::MetricsHourly => "monitor_health_metrics_hourly",
        }
    }
}

/// One table the Postgres mirror copies: how to read its rows as JSON by outbox key. Only this
/// module makes them ([`MIRRORED`]).
pub struct MirroredTable {
    table: Table,
    /// SQLite expression giving the outbox key of a row.
    key: &'static str,
    /// (column, SQLite expression of its JSON value).
    columns: &'static [(&'static str, &'static str)],
}

impl MirroredTable {
    pub fn name(&self) -> &'static str {
        self.table.name()
    }

    /// The SQLite expression giving a row's outbox key (what the triggers of
    /// `0002_mirror.sql` queue).
    pub fn key(&self) -> &'static str {
        self.key
    }

    pub fn column_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns.iter().map(|(c, _)| *c)
    }

    /// (column, SQLite expression of its JSON value), in order.
    pub fn columns(&self) -> &'static [(&'static str, &'static str)] {
        self.columns
    }
}

/// Every table of the history, in the order the mirror sends them (incidents before the
/// events that refer to them).
pub const MIRRORED: &[MirroredTable] = &[
    MirroredTable {
        table: Table::Incidents,
        key: "uid",
        columns: &[
            ("uid", "uid"),
            ("id", "id"),
            ("timestamp", "timestamp"),
            ("container_name", "container_name"),
            ("container_id", "container_id"),
            ("kind", "kind"),
            ("status", "status"),
            ("details", "details"),
            ("closed_at", "closed_at"),
            (
                "auto_healed",
                "json(CASE WHEN auto_healed THEN 'true' ELSE 'false' END)",
            ),
            ("attempts", "attempts"),
            ("actions", "json(actions)"),
            ("updated_at", "updated_at"),
            (
                "escalated",
                "json(CASE WHEN escalated THEN 'true' ELSE 'false' END)",
            ),
            ("escalated_at", "escalated_at"),
            ("escalation", "escalation"),
            ("escalation_workdir", "escalation_workdir"),
            ("escalation_head", "escalation_head"),
            ("commits", "json(commits)"),
            ("affected", "json(affected)"),
            ("diagnosis", "diagnosis"),
        ],
    },
    MirroredTable {
        table: Table::Events,
        key: "uid",
        columns: &[
            ("uid", "uid"),
            ("id", "id"),
            ("timestamp", "timestamp"),
            ("event", "event"),
            ("container_name", "container_name"),
            ("incident_id", "incident_id"),
            ("details", "details"),
        ],
    },
    MirroredTable {
        table: Table::Metrics,
        key: "uid",
        columns: &[
            ("uid", "uid"),
            ("id", "id"),
            ("timestamp", "timestamp"),
            ("container_name", "container_name"),
            ("container_id", "container_id"),
            ("state", "state"),
            ("health", "health"),
            ("restart_count", "restart_count"),
            ("cpu_percent", "cpu_percent"),
            ("mem_mb", "mem_mb"),
            ("mem_limit_mb", "mem_limit_mb"),
            ("response_time_ms", "response_time_ms"),
            ("http_status", "http_status"),
        ],
    },
    MirroredTable {
        table: Table::MetricsHourly,
        key: "hour || '|' || container_name",
        columns: &[
            ("hour", "hour"),
            ("container_name", "container_name"),
            ("samples", "samples"),
            ("cpu_percent", "cpu_percent"),
            ("mem_mb", "mem_mb"),
            ("mem_max_mb", "mem_max_mb"),
            ("response_time_ms", "response_time_ms"),
        ],
    },
];
