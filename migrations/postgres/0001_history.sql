-- Sickbay's history as mirrored to Postgres: the same tables and column names as the local
-- SQLite history (and the original monitoring system), so its queries run unchanged, e.g.
--   SELECT * FROM monitor_incidents WHERE auto_healed = false ORDER BY timestamp DESC LIMIT 10;
-- Many machines can write to one database: each row carries the machine it came from
-- (`host_id`, `host_name`), and `uid` (unique everywhere) is the key the mirror upserts by.
-- `id` is the row's id on its own machine.

CREATE TABLE IF NOT EXISTS sickbay_hosts (
    host_id    TEXT PRIMARY KEY,
    host_name  TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS monitor_incidents (
    uid            TEXT PRIMARY KEY,
    host_id        TEXT NOT NULL,
    host_name      TEXT NOT NULL,
    id             BIGINT NOT NULL,
    timestamp      TIMESTAMPTZ NOT NULL,
    container_name TEXT NOT NULL,
    container_id   TEXT NOT NULL,
    kind           TEXT NOT NULL,
    status         TEXT NOT NULL,
    details        TEXT NOT NULL DEFAULT '',
    closed_at      TIMESTAMPTZ,
    auto_healed    BOOLEAN NOT NULL DEFAULT false,
    attempts       INTEGER NOT NULL DEFAULT 0,
    actions        JSONB NOT NULL DEFAULT '[]',
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS monitor_incidents_timestamp ON monitor_incidents (timestamp);
CREATE INDEX IF NOT EXISTS monitor_incidents_host ON monitor_incidents (host_id, id);

CREATE TABLE IF NOT EXISTS monitor_health_metrics (
    uid              TEXT PRIMARY KEY,
    host_id          TEXT NOT NULL,
    host_name        TEXT NOT NULL,
    id               BIGINT NOT NULL,
    timestamp        TIMESTAMPTZ NOT NULL,
    container_name   TEXT NOT NULL,
    container_id     TEXT NOT NULL,
    state            TEXT NOT NULL,
    health           TEXT NOT NULL,
    restart_count    BIGINT NOT NULL DEFAULT 0,
    cpu_percent      DOUBLE PRECISION,
    mem_mb           DOUBLE PRECISION,
    mem_limit_mb     DOUBLE PRECISION,
    response_time_ms DOUBLE PRECISION,
    http_status      INTEGER
);
CREATE INDEX IF NOT EXISTS monitor_health_metrics_timestamp
    ON monitor_health_metrics (timestamp);
CREATE INDEX IF NOT EXISTS monitor_health_metrics_container
    ON monitor_health_metrics (container_name, timestamp);

CREATE TABLE IF NOT EXISTS monitor_health_metrics_hourly (
    host_id          TEXT NOT NULL,
    host_name        TEXT NOT NULL,
    hour             TIMESTAMPTZ NOT NULL,
    container_name   TEXT NOT NULL,
    samples          BIGINT NOT NULL,
    cpu_percent      DOUBLE PRECISION,
    mem_mb           DOUBLE PRECISION,
    mem_max_mb       DOUBLE PRECISION,
    response_time_ms DOUBLE PRECISION,
    PRIMARY KEY (host_id, hour, container_name)
);

CREATE TABLE IF NOT EXISTS monitor_events (
    uid            TEXT PRIMARY KEY,
    host_id        TEXT NOT NULL,
    host_name      TEXT NOT NULL,
    id             BIGINT NOT NULL,
    timestamp      TIMESTAMPTZ NOT NULL,
    event          TEXT NOT NULL,
    container_name TEXT,
    incident_id    BIGINT,
    details        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS monitor_events_timestamp ON monitor_events (timestamp);
