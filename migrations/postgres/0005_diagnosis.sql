-- As the local history's 0007_diagnosis.sql.
ALTER TABLE monitor_incidents ADD COLUMN IF NOT EXISTS diagnosis TEXT;
