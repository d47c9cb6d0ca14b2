-- Snoozes are events (`container_snoozed` with `until:`, `container_unsnoozed`): the engine
-- reads those of the last days every few seconds, through this index.
CREATE INDEX monitor_events_snoozes ON monitor_events (id)
 WHERE event IN ('container_snoozed', 'container_unsnoozed');
