-- As the local history's 0004_follow_up.sql.
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS escalation_workdir TEXT;
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS escalation_head TEXT;
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS commits JSONB NOT NULL DEFAULT '[]';
