//! Snoozes: "leave web alone for an hour, I am working on it". While a container is snoozed,
//! Sickbay records and shows what it sees, heals nothing and notifies nothing. A snooze is an
//! event in the history (`container_snoozed` with `until:`, `container_unsnoozed`), so it
//! survives a restart and reaches the Postgres mirror with the rest; [`Snoozes::from_events`]
//! folds those events into the snoozes in force. Pure: times are passed in.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The longest snooze: a longer one is a `sickbay.enable=false` label, not a snooze.
pub const LONGEST: Duration = Duration::from_secs(7 * 24 * 3600);

/// What a snooze event names: one container, or every container.
pub const ALL: &str = "*";

/// Reads a duration such as `90s`, `30m`, `1h`, `1h30m` or `2d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("a duration is needed, such as 30m, 1h or 1h30m".into());
    }
    let mut total = 0u64;
    let mut number = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => {
                return Err(format!(
                    "`{}` is not a duration: use a number and s, m, h or d (30m, 1h, 1h30m)",
                    crate::domain::escape::line(t)
                ))
            }
        };
        let n: u64 = number.parse().map_err(|_| {
            format!(
                "`{}` is not a duration: a number goes before each unit (1h30m)",
                crate::domain::escape::line(t)
            )
        })?;
        number.clear();
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !number.is_empty() {
        return Err(format!(
            "`{}` has no unit at its end: say 30m, 1h or 90s",
            crate::domain::escape::line(t)
        ));
    }
    let d = Duration::from_secs(total);
    if d.is_zero() {
        return Err("a snooze of no time: say how long, such as 30m or 1h".into());
    }
    if d > LONGEST {
        return Err(format!(
            "a snooze lasts at most {} days; to leave a container alone for good, label it \
             sickbay.enable=false (or sickbay.heal=none)",
            LONGEST.as_secs() / 86_400
        ));
    }
    Ok(d)
}

/// The snoozes in force: by container name (or [`ALL`]), until when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snoozes {
    until: HashMap<String, SystemTime>,
}

/// One snooze event as the history holds it: which event, the container (or none for all),
/// its `key:value` fields, and when.
pub struct SnoozeEvent<'a> {
    pub snoozed: bool,
    pub container: Option<&'a str>,
    pub details: &'a str,
}

impl Snoozes {
    /// Folds snooze events, oldest first, into the snoozes still in force at `now`. An
    /// unsnooze of every container ends every snooze.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = SnoozeEvent<'a>>,
        now: SystemTime,
    ) -> Self {
        let mut until: HashMap<String, SystemTime> = HashMap::new();
        for e in events {
            let who = e.container.unwrap_or(ALL).to_string();
            if e.snoozed {
                let end =
                    crate::domain::event::field(e.details, "until").and_then(crate::clock::parse);
                if let Some(end) = end {
                    until.insert(who, end);
                }
            } else if who == ALL {
                until.clear();
            } else {
                until.remove(&who);
            }
        }
        until.retain(|_, end| *end > now);
        Self { until }
    }

    /// Until when `name` is snoozed (its own snooze or one of every container, the later).
    pub fn of(&self, name: &str) -> Option<SystemTime> {
        [self.until.get(name), self.until.get(ALL)]
            .into_iter()
            .flatten()
            .max()
            .copied()
    }

    /// The soonest end of a snooze.
    pub fn next_end(&self) -> Option<SystemTime> {
        self.until.values().min().copied()
    }

    /// Those ended by `now`, removed and returned (their names).
    pub fn expire(&mut self, now: SystemTime) -> Vec<String> {
        let ended: Vec<String> = self
            .until
            .iter()
            .filter(|(_, end)| **end <= now)
            .map(|(n, _)| n.clone())
            .collect();
        for n in &ended {
            self.until.remove(n);
        }
        ended
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 1h30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        for bad in ["", "1", "h", "1x", "0m", "8d", "1h 30m"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse_duration("8d")
            .unwrap_err()
            .contains("sickbay.enable=false"));
        assert!(parse_duration("1h\u{1b}[31m")
            .unwrap_err()
            .contains("\\x1b"));
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    fn until(secs: u64) -> String {
        format!("until:{} by:cli", crate::clock::utc(at(secs)))
    }

    #[test]
    fn snooze_events_fold_into_the_snoozes_in_force() {
        let (web, db) = (until(3600), until(60));
        let all = until(7200);
        let events = vec![
            SnoozeEvent {
                snoozed: true,
                container: Some("web"),
                details: &web,
            },
            SnoozeEvent {
                snoozed: true,
                container: Some("db"),
                details: &db,
            },
        ];
        let s = Snoozes::from_events(events, at(0));
        assert_eq!(s.of("web"), Some(at(3600)));
        assert_eq!(s.of("db"), Some(at(60)));
        assert_eq!(s.of("cache"), None);
        assert_eq!(s.next_end(), Some(at(60)));
        // Past its end it is gone; an unsnooze ends it; one of all covers everyone.
        let later = Snoozes::from_events(
            vec![
                SnoozeEvent {
                    snoozed: true,
                    container: Some("db"),
                    details: &db,
                },
                SnoozeEvent {
                    snoozed: true,
                    container: Some("web"),
                    details: &web,
                },
                SnoozeEvent {
                    snoozed: false,
                    container: Some("web"),
                    details: "by:cli",
                },
                SnoozeEvent {
                    snoozed: true,
                    container: None,
                    details: &all,
                },
            ],
            at(120),
        );
        assert_eq!(later.of("db"), Some(at(7200)), "every container's snooze");
        assert_eq!(later.of("web"), Some(at(7200)));
        let mut ended = Snoozes::from_events(
            vec![
                SnoozeEvent {
                    snoozed: true,
                    container: None,
                    details: &all,
                },
                SnoozeEvent {
                    snoozed: false,
                    container: None,
                    details: "",
                },
            ],
            at(0),
        );
        assert!(ended.is_empty(), "unsnoozing all ends all");
        let mut s = Snoozes::from_events(
            vec![SnoozeEvent {
                snoozed: true,
                container: Some("db"),
                details: &db,
            }],
            at(0),
        );
        assert!(s.expire(at(30)).is_empty());
        assert_eq!(s.expire(at(61)), vec!["db".to_string()]);
        assert!(s.is_empty());
        assert!(ended.expire(at(0)).is_empty());
    }
}
