//! The pattern analysis of one container's history, in words, for `critical_alerts.log`: a
//! restart loop, the same failure repeating, slow responses, memory growing toward its limit.
//!
//! Owns the windows looked back over and the thresholds. Pure: it reads no database and does
//! no I/O; the store gathers a [`History`] over the [`Windows`] it is given, and [`analyse`]
//! turns it into sentences.

use std::time::{Duration, SystemTime};

use crate::clock;

/// Restarts and deaths are counted over this long.
pub const RESTART_WINDOW: Duration = Duration::from_secs(600);
/// Incidents of the same kind and details are compared over this long.
pub const REPEAT_WINDOW: Duration = Duration::from_secs(86_400);
/// Response times and memory are read over this long.
pub const SAMPLE_WINDOW: Duration = Duration::from_secs(3600);

/// An average response time above this is slow (the original system's query).
const SLOW_RESPONSE_MS: f64 = 1000.0;
/// Memory has grown when its last reading is above this multiple of its first...
const MEMORY_GROWTH_RATIO: f64 = 1.2;
/// ...and by more than this many MB.
const MEMORY_GROWTH_MB: f64 = 10.0;
/// The most repeated incident signatures told.
const REPEATS_TOLD: usize = 3;

/// Where the analysis starts looking, as the history's UTC stamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// Start of [`RESTART_WINDOW`].
    pub restarts_since: String,
    /// Start of [`REPEAT_WINDOW`].
    pub repeats_since: String,
    /// Start of [`SAMPLE_WINDOW`].
    pub samples_since: String,
}

impl Windows {
    /// The windows ending at `now`.
    pub fn ending_at(now: SystemTime) -> Self {
        let since = |d: Duration| clock::utc(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
        Self {
            restarts_since: since(RESTART_WINDOW),
            repeats_since: since(REPEAT_WINDOW),
            samples_since: since(SAMPLE_WINDOW),
        }
    }
}

/// Incidents of one kind with the same details.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentGroup {
    pub kind: String,
    pub details: String,
    pub count: i64,
}

/// What the history holds of one container over the [`Windows`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Restarts, deaths and OOM kills since `restarts_since`.
    pub restarts: i64,
    /// Incidents opened since `repeats_since`, grouped by kind and details, most first.
    pub incident_groups: Vec<IncidentGroup>,
    /// The average response time of the samples since `samples_since`.
    pub avg_response_ms: Option<f64>,
    /// The memory of the first and the last sample since `samples_since` that have a reading.
    pub first_mem_mb: Option<f64>,
    pub last_mem_mb: Option<f64>,
    /// The memory limit of the last sample since `samples_since`.
    pub mem_limit_mb: Option<f64>,
}

/// The patterns the history shows, one sentence each; empty when there are none.
pub fn analyse(h: &History) -> Vec<String> {
    let mut out = Vec::new();
    if h.restarts > 0 {
        out.push(format!(
            "restart loop: {} restarts or deaths in 10 minutes",
            h.restarts
        ));
    }
    for g in h
        .incident_groups
        .iter()
        .filter(|g| g.count > 1)
        .take(REPEATS_TOLD)
    {
        out.push(format!(
            "repeated error signature: {} {} incidents ({}) in 24 hours",
            g.count, g.kind, g.details
        ));
    }
    if let Some(ms) = h.avg_response_ms.filter(|ms| *ms > SLOW_RESPONSE_MS) {
        out.push(format!(
            "slow responses: {ms:.0} ms on average over the last hour"
        ));
    }
    if let (Some(first), Some(last)) = (h.first_mem_mb, h.last_mem_mb) {
        if last > first * MEMORY_GROWTH_RATIO && last - first > MEMORY_GROWTH_MB {
            let of_limit = h
                .mem_limit_mb
                .filter(|l| *l > 0.0)
                .map(|l| format!(", {:.0} % of its {l:.0} MB limit", last / l * 100.0))
                .unwrap_or_default();
            out.push(format!(
                "memory growth: {first:.1} MB to {last:.1} MB within the hour{of_limit}"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(kind: &str, details: &str, count: i64) -> IncidentGroup {
        IncidentGroup {
            kind: kind.into(),
            details: details.into(),
            count,
        }
    }

    #[test]
    fn a_quiet_history_shows_no_pattern() {
        assert!(analyse(&History::default()).is_empty());
        let calm = History {
            incident_groups: vec![group("crashed", "exit_code:1", 1)],
            avg_response_ms: Some(1000.0),
            first_mem_mb: Some(100.0),
            last_mem_mb: Some(119.0),
            mem_limit_mb: Some(256.0),
            ..History::default()
        };
        assert!(analyse(&calm).is_empty(), "{:?}", analyse(&calm));
    }

    #[test]
    fn restarts_within_ten_minutes_are_a_restart_loop() {
        let p = analyse(&History {
            restarts: 4,
            ..History::default()
        });
        assert_eq!(p, ["restart loop: 4 restarts or deaths in 10 minutes"]);
    }

    #[test]
    fn only_repeated_signatures_are_told_the_three_most_frequent() {
        let p = analyse(&History {
            incident_groups: vec![
                group("crashed", "exit_code:137", 5),
                group("unhealthy", "status:503", 4),
                group("crashed", "exit_code:1", 3),
                group("unhealthy", "timeout", 2),
                group("crashed", "exit_code:2", 1),
            ],
            ..History::default()
        });
        assert_eq!(
            p,
            [
                "repeated error signature: 5 crashed incidents (exit_code:137) in 24 hours",
                "repeated error signature: 4 unhealthy incidents (status:503) in 24 hours",
                "repeated error signature: 3 crashed incidents (exit_code:1) in 24 hours",
            ]
        );
    }

    #[test]
    fn an_average_over_a_second_is_slow() {
        let p = analyse(&History {
            avg_response_ms: Some(1500.4),
            ..History::default()
        });
        assert_eq!(p, ["slow responses: 1500 ms on average over the last hour"]);
    }

    #[test]
    fn memory_growth_is_told_with_its_share_of_the_limit() {
        let growing = History {
            first_mem_mb: Some(100.0),
            last_mem_mb: Some(240.0),
            mem_limit_mb: Some(256.0),
            ..History::default()
        };
        assert_eq!(
            analyse(&growing),
            ["memory growth: 100.0 MB to 240.0 MB within the hour, 94 % of its 256 MB limit"]
        );
        let unlimited = History {
            mem_limit_mb: None,
            ..growing.clone()
        };
        assert_eq!(
            analyse(&unlimited),
            ["memory growth: 100.0 MB to 240.0 MB within the hour"]
        );
        // 25 % more, but only 5 MB: too small to tell.
        let small = History {
            first_mem_mb: Some(20.0),
            last_mem_mb: Some(25.0),
            ..History::default()
        };
        assert!(analyse(&small).is_empty());
    }

    #[test]
    fn the_windows_end_at_the_time_given() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(2 * 86_400);
        let w = Windows::ending_at(now);
        assert_eq!(w.restarts_since, "1970-01-02T23:50:00.000Z");
        assert_eq!(w.repeats_since, "1970-01-02T00:00:00.000Z");
        assert_eq!(w.samples_since, "1970-01-02T23:00:00.000Z");
    }
}
