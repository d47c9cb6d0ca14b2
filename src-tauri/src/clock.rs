//! Timestamps in the two forms Sickbay writes: UTC RFC 3339 with milliseconds for the
//! history (sorts as text, one zone everywhere), and local time to the second for the log
//! files, as the original system wrote them.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Local, SecondsFormat, Utc};

/// `2025-11-20T10:30:00.123Z`
pub fn utc(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn utc_now() -> String {
    utc(SystemTime::now())
}

/// The UTC stamp of `ago` before now.
pub fn utc_ago(ago: Duration) -> String {
    utc(SystemTime::now()
        .checked_sub(ago)
        .unwrap_or(SystemTime::UNIX_EPOCH))
}

/// `2025-11-20T10:30:00`, local time.
pub fn log_stamp() -> String {
    Local::now().format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A UTC stamp (see [`utc`]) as local time to the second, for people; the stamp as it is
/// when it does not parse.
pub fn local_time(stamp: &str) -> String {
    DateTime::parse_from_rfc3339(stamp)
        .map(|t| {
            t.with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|_| stamp.to_string())
}

/// `14:30`: a time of today, local, for people ("snoozed until 14:30"); with the date when it
/// is not today.
pub fn local_hour(t: SystemTime) -> String {
    let t = DateTime::<Local>::from(t);
    if t.date_naive() == Local::now().date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M").to_string()
    }
}

/// Parses a stamp written by [`utc`] (or Docker's RFC 3339 times).
pub fn parse(s: &str) -> Option<SystemTime> {
    DateTime::parse_from_rfc3339(s).ok().map(SystemTime::from)
}
