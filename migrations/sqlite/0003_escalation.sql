-- Escalations: an incident handed to a person and an agent (`sickbay investigate`, or by itself
-- with [escalation] auto_launch), when and how.
ALTER TABLE monitor_incidents ADD COLUMN escalated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE monitor_incidents ADD COLUMN escalated_at TEXT;
ALTER TABLE monitor_incidents ADD COLUMN escalation TEXT;   -- how: "terminal:xterm", "files only: ..."
