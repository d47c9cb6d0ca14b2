-- After an escalation: where the agent worked, the commit it started from, and the commits made
-- there since (listed when the container is healthy again, for the user to review).
ALTER TABLE monitor_incidents ADD COLUMN escalation_workdir TEXT;
ALTER TABLE monitor_incidents ADD COLUMN escalation_head TEXT;
ALTER TABLE monitor_incidents ADD COLUMN commits TEXT NOT NULL DEFAULT '[]';  -- JSON: [{"id","summary"}]
