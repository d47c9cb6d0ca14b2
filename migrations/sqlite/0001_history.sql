-- Sickbay's local history. Table and column names follow the original monitoring system,
-- so its queries run unchanged, for example:
--   SELECT * FROM monitor_incidents WHERE auto_healed = false ORDER BY timestamp DESC LIMIT 10;
-- Timestamps are UTC, RFC 3339 with milliseconds ("2025-11-20T10:30:00.000Z"), so they sort as text.
-- Every row carries a random `uid`: a stable id that survives copying the row elsewhere.

CREATE TABLE monitor_incidents (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uid            TEXT    NOT NULL UNIQUE,
    timestamp      TEXT    NOT NULL,              -- when the incident opened
    container_name TEXT    NOT NULL,
    container_id   TEXT    NOT NULL,
    kind           TEXT    NOT NULL,              -- unhealthy, http_probe_failed, crashed, oom_killed, restart_loop
    status         TEXT    NOT NULL,              -- open, watching, healing_failed, resolved
    details        TEXT    NOT NULL DEFAULT '',   -- what was seen: "status:503", "exit_code:1"
    closed_at      TEXT,
    auto_healed    BOOLEAN NOT NULL DEFAULT FALSE,
    attempts       INTEGER NOT NULL DEFAULT 0,    -- restarts Sickbay made for it
    actions        TEXT    NOT NULL DEFAULT '[]', -- JSON: [{"action","at","outcome"}]
    updated_at     TEXT    NOT NULL
);
CREATE INDEX monitor_incidents_timestamp ON monitor_incidents (timestamp);
CREATE INDEX monitor_incidents_open ON monitor_incidents (container_name) WHERE closed_at IS NULL;

CREATE TABLE monitor_health_metrics (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    uid              TEXT    NOT NULL UNIQUE,
    timestamp        TEXT    NOT NULL,
    container_name   TEXT    NOT NULL,
    container_id     TEXT    NOT NULL,
    state            TEXT    NOT NULL,
    health           TEXT    NOT NULL,
    restart_count    INTEGER NOT NULL DEFAULT 0,
    cpu_percent      REAL,
    mem_mb           REAL,
    mem_limit_mb     REAL,
    response_time_ms REAL,
    http_status      INTEGER
);
CREATE INDEX monitor_health_metrics_timestamp ON monitor_health_metrics (timestamp);
CREATE INDEX monitor_health_metrics_container ON monitor_health_metrics (container_name, timestamp);

-- Raw samples older than the retention are rolled up here, one row per container and hour.
CREATE TABLE monitor_health_metrics_hourly (
    hour             TEXT    NOT NULL,            -- "2025-11-20T10:00:00.000Z"
    container_name   TEXT    NOT NULL,
    samples          INTEGER NOT NULL,
    cpu_percent      REAL,
    mem_mb           REAL,
    mem_max_mb       REAL,
    response_time_ms REAL,
    PRIMARY KEY (hour, container_name)
);

-- Everything that happened, in the vocabulary of logs/monitor.log.
CREATE TABLE monitor_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uid            TEXT    NOT NULL UNIQUE,
    timestamp      TEXT    NOT NULL,
    event          TEXT    NOT NULL,              -- container_unhealthy, restarting_container, ...
    container_name TEXT,
    incident_id    INTEGER REFERENCES monitor_incidents (id),
    details        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX monitor_events_timestamp ON monitor_events (timestamp);
CREATE INDEX monitor_events_incident ON monitor_events (incident_id);
