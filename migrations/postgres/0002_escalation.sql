-- Escalations, as in the local history's 0003_escalation.sql.
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS escalated BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS escalated_at TIMESTAMPTZ;
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS escalation TEXT;
