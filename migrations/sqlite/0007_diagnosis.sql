-- The likely cause the diagnosis found when the incident was escalated, on one line (the
-- dashboard shows it; the whole diagnosis is in the incident's incident.md).
ALTER TABLE monitor_incidents ADD COLUMN diagnosis TEXT;
