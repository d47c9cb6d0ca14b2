//! Maintenance windows (`[[maintenance]]`): scheduled times, in local time, when some
//! containers (by name or label) are left alone as if snoozed: recorded and shown, not healed,
//! not notified. Pure: the time is passed in.

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDateTime, NaiveTime, Weekday};

/// One window, read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The days it opens on (none: every day).
    days: Vec<Weekday>,
    start: NaiveTime,
    end: NaiveTime,
    containers: Vec<String>,
    /// `key=value`, or `key` alone for any value.
    labels: Vec<(String, Option<String>)>,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().get(..3)? {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn time(key: &'static str, s: &str) -> Result<NaiveTime, (&'static str, String)> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| {
        (
            key,
            format!(
                "{key} must be a time of day as HH:MM (\"02:00\", \"23:30\"), found {:?}",
                crate::domain::escape::line(s)
            ),
        )
    })
}

impl Window {
    /// Reads a window; the error names the key that is wrong and says how.
    pub fn parse(
        days: &[String],
        start: &str,
        end: &str,
        containers: &[String],
        labels: &[String],
    ) -> Result<Self, (&'static str, String)> {
        let days = days
            .iter()
            .map(|d| {
                weekday(d).ok_or_else(|| {
                    (
                        "days",
                        format!(
                            "days must name days of the week (\"mon\" ... \"sun\"), found {:?}",
                            crate::domain::escape::line(d)
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (start, end) = (time("start", start)?, time("end", end)?);
        if start == end {
            return Err((
                "end",
                "start and end are the same time: the window would never open".into(),
            ));
        }
        let labels = labels
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.trim().to_string(), Some(v.trim().to_string())),
                None => (l.trim().to_string(), None),
            })
            .collect();
        Ok(Self {
            days,
            start,
            end,
            containers: containers.iter().map(|c| c.trim().to_string()).collect(),
            labels,
        })
    }

    /// Whether it covers the container (no names and no labels: every container).
    pub fn covers(&self, name: &str, labels: &HashMap<String, String>) -> bool {
        if self.containers.is_empty() && self.labels.is_empty() {
            return true;
        }
        self.containers.iter().any(|c| c == name)
            || self.labels.iter().any(|(k, v)| match (labels.get(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            })
    }

    fn on(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    /// When the window open at `now` (local time) closes; `None` when it is not open. A
    /// window whose end is before its start runs past midnight into the next day.
    pub fn open_until(&self, now: NaiveDateTime) -> Option<NaiveDateTime> {
        let (today, t) = (now.date(), now.time());
        if self.start < self.end {
            (self.on(today.weekday()) && self.start <= t && t < self.end)
                .then(|| today.and_time(self.end))
        } else if t >= self.start && self.on(today.weekday()) {
            Some((today + Duration::days(1)).and_time(self.end))
        } else if t < self.end && self.on((today - Duration::days(1)).weekday()) {
            Some(today.and_time(self.end))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        // 2026-12-05 is a Saturday.
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").expect("a time")
    }

    fn window(days: &[&str], start: &str, end: &str) -> Window {
        let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
        Window::parse(
            &days,
            start,
            end,
            &["db".into()],
            &["com.docker.compose.project=shop".into()],
        )
        .expect("a window")
    }

    #[test]
    fn a_window_opens_on_its_days_between_its_times() {
        let w = window(&["sat", "Sunday"], "02:00", "04:00");
        assert_eq!(
            w.open_until(at("2026-12-05 02:30")),
            Some(at("2026-12-05 04:00"))
        );
        assert_eq!(
            w.open_until(at("2026-12-05 04:00")),
            None,
            "closed at its end"
        );
        assert_eq!(w.open_until(at("2026-12-05 01:59")), None);
        assert_eq!(
            w.open_until(at("2026-12-07 02:30")),
            None,
            "not on a Monday"
        );
        let every_day = window(&[], "02:00", "04:00");
        assert!(every_day.open_until(at("2026-12-07 03:00")).is_some());
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_starts() {
        let w = window(&["fri"], "23:00", "01:00");
        // Friday 2026-12-04 23:30, and Saturday 00:30 (the Friday night window).
        assert_eq!(
            w.open_until(at("2026-12-04 23:30")),
            Some(at("2026-12-05 01:00"))
        );
        assert_eq!(
            w.open_until(at("2026-12-05 00:30")),
            Some(at("2026-12-05 01:00"))
        );
        assert_eq!(
            w.open_until(at("2026-12-05 23:30")),
            None,
            "Saturday night is not"
        );
        assert_eq!(
            w.open_until(at("2026-12-04 00:30")),
            None,
            "nor Thursday night"
        );
    }

    #[test]
    fn a_window_covers_its_containers_and_labels_and_bad_ones_say_why() {
        let w = window(&[], "02:00", "04:00");
        let shop: HashMap<String, String> =
            [("com.docker.compose.project".to_string(), "shop".to_string())].into();
        assert!(w.covers("db", &HashMap::new()));
        assert!(w.covers("web", &shop));
        assert!(!w.covers("web", &HashMap::new()));
        let all = Window::parse(&[], "02:00", "04:00", &[], &[]).expect("a window");
        assert!(all.covers("anything", &HashMap::new()));
        let bad = |days: &[&str], start: &str, end: &str| {
            let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
            Window::parse(&days, start, end, &[], &[])
                .expect_err("refused")
                .1
        };
        assert!(bad(&["someday"], "02:00", "04:00").contains("days"));
        assert!(bad(&[], "2am", "04:00").contains("start must be a time of day as HH:MM"));
        assert!(bad(&[], "02:00", "25:00").contains("end"));
        assert!(bad(&[], "02:00", "02:00").contains("never open"));
    }
}
