-- As the local history's 0005_dependencies.sql.
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS affected JSONB NOT NULL DEFAULT '[]';
