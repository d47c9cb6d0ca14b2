-- The Postgres mirror's outbox. Triggers add a row here in the same transaction as every insert
-- or update of the history, so nothing is missed even if Sickbay is killed at any moment. The
-- mirror sends the current version of each row and deletes the outbox rows only after Postgres
-- has committed them (idempotent upserts keyed by `uid`), so nothing is doubled either.
--
-- The outbox fills only once a mirror has been configured (`mirror_enabled` in sickbay_meta);
-- enabling it queues the whole existing history once.

CREATE TABLE sickbay_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE mirror_outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    tbl       TEXT    NOT NULL,
    key       TEXT    NOT NULL,                   -- uid, or "hour|container_name" for hourly rows
    queued_ms INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

CREATE TRIGGER mirror_incidents_insert AFTER INSERT ON monitor_incidents
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key) VALUES ('monitor_incidents', NEW.uid); END;
CREATE TRIGGER mirror_incidents_update AFTER UPDATE ON monitor_incidents
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key) VALUES ('monitor_incidents', NEW.uid); END;

CREATE TRIGGER mirror_events_insert AFTER INSERT ON monitor_events
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key) VALUES ('monitor_events', NEW.uid); END;
CREATE TRIGGER mirror_events_update AFTER UPDATE ON monitor_events
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key) VALUES ('monitor_events', NEW.uid); END;

CREATE TRIGGER mirror_metrics_insert AFTER INSERT ON monitor_health_metrics
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key) VALUES ('monitor_health_metrics', NEW.uid); END;

CREATE TRIGGER mirror_hourly_insert AFTER INSERT ON monitor_health_metrics_hourly
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key)
      VALUES ('monitor_health_metrics_hourly', NEW.hour || '|' || NEW.container_name); END;
CREATE TRIGGER mirror_hourly_update AFTER UPDATE ON monitor_health_metrics_hourly
WHEN (SELECT value FROM sickbay_meta WHERE key = 'mirror_enabled') = '1'
BEGIN INSERT INTO mirror_outbox (tbl, key)
      VALUES ('monitor_health_metrics_hourly', NEW.hour || '|' || NEW.container_name); END;
