-- An incident healed at its cause: the dependents whose failures were held for it.
ALTER TABLE monitor_incidents ADD COLUMN affected TEXT NOT NULL DEFAULT '[]';  -- JSON: ["name", ...]
