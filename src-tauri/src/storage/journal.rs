//! Events recorded outside the engine's loop (an escalation, a Sickbay standing by): written
//! the way the engine writes its own, the history first, then `logs/monitor.log`. It decides
//! nothing about what to record.

use std::path::Path;

use crate::clock;
use crate::config::Retention;
use crate::domain::event::Event;
use crate::storage::logfile::{self, LogFile};
use crate::storage::store::{EventRow, Store, StoreError};

/// Records `event` in the history, then in `monitor.log` under `logs`; a log file that cannot
/// be written is said in the diagnostic log (the history has the event).
pub fn record(
    store: &Store,
    logs: &Path,
    retention: &Retention,
    event: Event,
    container: Option<&str>,
    incident: Option<i64>,
    fields: String,
) -> Result<EventRow, StoreError> {
    let now = clock::utc_now();
    let id = store.insert_event(&now, event.as_str(), container, incident, &fields)?;
    let path = logs.join("monitor.log");
    let line = logfile::format_line(&clock::log_stamp(), event.as_str(), &fields);
    if let Err(e) = LogFile::open(
        &path,
        retention.log_max_mb * 1024 * 1024,
        retention.log_keep,
    )
    .and_then(|mut log| log.append(&line))
    {
        tracing::warn!("cannot write {}: {e}", path.display());
    }
    Ok(EventRow {
        id,
        timestamp: now,
        event: event.as_str().to_string(),
        container_name: container.map(str::to_string),
        incident_id: incident,
        details: fields,
    })
}

/// Records a snooze of `container` (`None`: every container) until `until`, or its end
/// (`until` `None`); `by` says who asked (`cli`, `dashboard`). The running engine reads it
/// within seconds (`engine::snoozes`).
pub fn snooze(
    store: &Store,
    logs: &Path,
    retention: &Retention,
    container: Option<&str>,
    until: Option<std::time::SystemTime>,
    by: &str,
) -> Result<EventRow, StoreError> {
    let who = match container {
        Some(c) => format!("container:{c}"),
        None => "all:true".to_string(),
    };
    let (event, fields) = match until {
        Some(t) => (
            Event::ContainerSnoozed,
            format!("{who} until:{} by:{by}", clock::utc(t)),
        ),
        None => (Event::ContainerUnsnoozed, format!("{who} by:{by}")),
    };
    record(store, logs, retention, event, container, None, fields)
}

/// Records that a person acknowledged incident `incident` of `container` with `note` (one line
/// of at most 500 characters, secrets removed; the history keeps it, `incident.md` and the
/// dashboard show it);
/// `by` says where (`dashboard`, `cli`).
pub fn acknowledge(
    store: &Store,
    logs: &Path,
    retention: &Retention,
    incident: i64,
    container: &str,
    note: &str,
    by: &str,
) -> Result<EventRow, StoreError> {
    // What a person types can hold a secret (a password pasted with a command): the rules
    // remove it before anything is written.
    let note = crate::domain::redact::Redactor::new(Vec::new()).redact(note.trim());
    let note: String = crate::domain::escape::line(&note)
        .chars()
        .take(500)
        .collect();
    record(
        store,
        logs,
        retention,
        Event::IncidentAcknowledged,
        Some(container),
        Some(incident),
        format!("container:{container} by:{by} note:{note}"),
    )
}
