//! Words a person reads: what happened, what Sickbay did, what it does next, and what the
//! person can do. The one place notifications (desktop and webhook) get their titles and
//! sentences; the log files keep the original system's `key:value` form. Pure.

use std::time::Duration;

use crate::domain::event::{field, tail, Event};

/// What there is to say about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told<'a> {
    pub container: &'a str,
    pub event: Event,
    /// The event's `key:value` fields, as recorded.
    pub details: &'a str,
    pub incident: Option<i64>,
    /// Restarts Sickbay made in the incident so far.
    pub restarts: u32,
    /// How long the incident lasted (a recovery), when known.
    pub lasted: Option<Duration>,
}

/// `40 s`, `3 min`, `1 h 5 min`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=89 => format!("{s} s"),
        90..=3599 => format!("{} min", (s + 30) / 60),
        _ => {
            let (h, m) = (s / 3600, (s % 3600 + 30) / 60);
            if m == 0 {
                format!("{h} h")
            } else {
                format!("{h} h {m} min")
            }
        }
    }
}

fn restarts(n: u32) -> String {
    match n {
        1 => "1 restart".to_string(),
        n => format!("{n} restarts"),
    }
}

/// The few words of a title: "web is unhealthy", "web needs you".
pub fn headline(t: &Told) -> String {
    let c = t.container;
    match t.event {
        Event::ContainerUnhealthy if field(t.details, "status").is_some() => {
            format!("{c} fails its HTTP check")
        }
        Event::ContainerUnhealthy => format!("{c} is unhealthy"),
        Event::ContainerDied => format!("{c} crashed"),
        Event::ContainerOomKilled => format!("{c} ran out of memory"),
        Event::RestartLoop => format!("{c} keeps crashing"),
        Event::HealingFailed => format!("{c} is still failing"),
        Event::Escalated => format!("{c} needs you"),
        Event::ContainerHealthy => format!("{c} is healthy again"),
        other => format!("{c}: {}", other.as_str().replace('_', " ")),
    }
}

/// The sentence of a notification: what happened, what Sickbay did and does next, and what
/// the person can do; the incident's number at its end, "(incident 4)".
pub fn sentence(t: &Told) -> String {
    let c = t.container;
    let incident = t
        .incident
        .map(|i| format!(" (incident {i})"))
        .unwrap_or_default();
    let watched_only = field(t.details, "heal") == Some("off");
    let next = if watched_only {
        "Sickbay only watches it (healing is off for it).".to_string()
    } else if let Some(affected) = field(t.details, "cause_of") {
        format!(
            "{} need it and fail with it: Sickbay restarts {c} and holds them.",
            affected.replace(',', ", ")
        )
    } else {
        "Sickbay is restarting it.".to_string()
    };
    let what = match t.event {
        Event::ContainerUnhealthy => {
            match (field(t.details, "status"), field(t.details, "error")) {
                (Some(status), _) => format!("{c} answers its HTTP check with {status}. {next}"),
                (None, Some(_)) => format!("{c} does not answer its HTTP check. {next}"),
                _ => format!("{}. {next}", headline(t)),
            }
        }
        Event::ContainerDied => {
            let code = field(t.details, "exit_code").unwrap_or("?");
            let next = if watched_only {
                next
            } else {
                "Sickbay is starting it again.".to_string()
            };
            format!("{c} crashed (exit code {code}). {next}")
        }
        Event::ContainerOomKilled => {
            format!("{c} ran out of memory and was killed. Sickbay is starting it again.")
        }
        Event::RestartLoop => format!(
            "{c} keeps crashing and Docker keeps restarting it. Sickbay leaves that to Docker; \
             Investigate opens Claude Code on it."
        ),
        Event::HealingFailed => {
            let after = match field(t.details, "reason") {
                Some("recreate_ineffective") => " after a recreate".to_string(),
                Some("rebuild_ineffective") => " after a rebuild".to_string(),
                Some("restart_limit") => " and has used up its restarts for now".to_string(),
                _ if t.restarts > 0 => format!(" after {}", restarts(t.restarts)),
                _ => String::new(),
            };
            format!(
                "{c} is still failing{after}. Sickbay has stopped trying; Investigate opens \
                 Claude Code on it."
            )
        }
        Event::Escalated => {
            let cause = tail(t.details, "likely_cause")
                .map(|c| format!(" Likely cause: {}.", c.trim_end_matches('.')))
                .unwrap_or_default();
            format!(
                "{c} needs you: Sickbay could not heal it.{cause} Investigate opens Claude Code \
                 on it, with what Sickbay saw and tried."
            )
        }
        Event::ContainerHealthy => match (t.restarts, t.lasted) {
            (0, Some(d)) => format!("{c} is healthy again, {} after it failed.", duration(d)),
            (0, None) => format!("{c} is healthy again."),
            (n, Some(d)) => format!(
                "{c} is healthy again after {}, {}.",
                restarts(n),
                duration(d)
            ),
            (n, None) => format!("{c} is healthy again after {}.", restarts(n)),
        },
        other => format!("{c}: {}.", other.as_str().replace('_', " ")),
    };
    format!("{what}{incident}")
}

/// What is wrong with a container, as the tray says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trouble {
    Down,
    Unhealthy,
    HttpCheck,
    Failing,
}

/// Where Sickbay stands with a container in trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stand<'a> {
    /// Healing it: `restarts` so far, of at most `of` (0: not known).
    Healing { restarts: u32, of: u32 },
    /// It gave up.
    GaveUp,
    /// Its failure waits for a failing dependency.
    Held { dependency: &'a str },
    /// Something else, in the engine's words.
    Other(&'a str),
}

/// A container's trouble and what Sickbay does about it, for the tray's status line and its
/// containers: "web is unhealthy; restarted 2 of 3 times", "web still fails; Sickbay stopped
/// trying".
pub fn standing(container: &str, trouble: Trouble, stand: &Stand) -> String {
    let c = container;
    let what = match trouble {
        Trouble::Down => "is down",
        Trouble::Unhealthy => "is unhealthy",
        Trouble::HttpCheck => "fails its HTTP check",
        Trouble::Failing => "is failing",
    };
    match stand {
        Stand::Healing { restarts: 0, .. } => format!("{c} {what}; Sickbay is healing it"),
        Stand::Healing { restarts, of } if *of > 0 => {
            format!("{c} {what}; restarted {restarts} of {of} times")
        }
        Stand::Healing { restarts, .. } => format!("{c} {what}; restarted {}", times(*restarts)),
        Stand::GaveUp => format!("{c} still fails; Sickbay stopped trying"),
        Stand::Held { dependency } => format!("{c} {what}; waits for {dependency}"),
        Stand::Other(note) => format!("{c} {what} ({note})"),
    }
}

fn times(n: u32) -> String {
    match n {
        1 => "once".to_string(),
        2 => "twice".to_string(),
        n => format!("{n} times"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(event: Event, details: &'static str) -> Told<'static> {
        Told {
            container: "web",
            event,
            details,
            incident: Some(4),
            restarts: 0,
            lasted: None,
        }
    }

    #[test]
    fn failures_say_what_happened_and_what_sickbay_does_next() {
        assert_eq!(
            sentence(&told(
                Event::ContainerUnhealthy,
                "container:web health:unhealthy"
            )),
            "web is unhealthy. Sickbay is restarting it. (incident 4)"
        );
        assert_eq!(
            sentence(&told(Event::ContainerUnhealthy, "status:503 response_ms:3")),
            "web answers its HTTP check with 503. Sickbay is restarting it. (incident 4)"
        );
        assert_eq!(
            sentence(&told(Event::ContainerDied, "exit_code:3 heal:off")),
            "web crashed (exit code 3). Sickbay only watches it (healing is off for it). \
             (incident 4)"
        );
        assert_eq!(
            sentence(&told(
                Event::ContainerUnhealthy,
                "health:failing failing_streak:2 cause_of:api,worker"
            )),
            "web is unhealthy. api, worker need it and fail with it: Sickbay restarts web and \
             holds them. (incident 4)"
        );
        assert_eq!(
            headline(&told(Event::ContainerUnhealthy, "status:503")),
            "web fails its HTTP check"
        );
    }

    #[test]
    fn giving_up_and_escalating_say_what_the_person_can_do_never_the_machine_form() {
        let failed = Told {
            restarts: 2,
            ..told(Event::HealingFailed, "reason:restart_ineffective")
        };
        assert_eq!(
            sentence(&failed),
            "web is still failing after 2 restarts. Sickbay has stopped trying; Investigate \
             opens Claude Code on it. (incident 4)"
        );
        let escalated = sentence(&told(Event::Escalated, "incident:4 how:recorded"));
        assert!(
            escalated.contains("Investigate opens Claude Code"),
            "{escalated}"
        );
        assert!(!escalated.contains("how:"), "{escalated}");
        let diagnosed = sentence(&told(
            Event::Escalated,
            "incident:4 how:recorded likely_cause:PostgreSQL has no free connection slots \
             (offline, confidence 90 %)",
        ));
        assert_eq!(
            diagnosed,
            "web needs you: Sickbay could not heal it. Likely cause: PostgreSQL has no free \
             connection slots (offline, confidence 90 %). Investigate opens Claude Code on it, \
             with what Sickbay saw and tried. (incident 4)"
        );
        assert_eq!(headline(&told(Event::Escalated, "")), "web needs you");
    }

    #[test]
    fn the_tray_says_what_is_wrong_and_what_sickbay_does() {
        let healing = |restarts, of| Stand::Healing { restarts, of };
        assert_eq!(
            standing("web", Trouble::Unhealthy, &healing(2, 3)),
            "web is unhealthy; restarted 2 of 3 times"
        );
        assert_eq!(
            standing("web", Trouble::Down, &healing(0, 3)),
            "web is down; Sickbay is healing it"
        );
        assert_eq!(
            standing("web", Trouble::HttpCheck, &healing(2, 0)),
            "web fails its HTTP check; restarted twice"
        );
        assert_eq!(
            standing("web", Trouble::Unhealthy, &Stand::GaveUp),
            "web still fails; Sickbay stopped trying"
        );
        assert_eq!(
            standing("web", Trouble::Unhealthy, &Stand::Held { dependency: "db" }),
            "web is unhealthy; waits for db"
        );
    }

    #[test]
    fn a_recovery_says_how_long_and_how_many_restarts() {
        let healed = Told {
            restarts: 2,
            lasted: Some(Duration::from_secs(185)),
            ..told(Event::ContainerHealthy, "cpu:1.0")
        };
        assert_eq!(
            sentence(&healed),
            "web is healthy again after 2 restarts, 3 min. (incident 4)"
        );
        let by_itself = Told {
            lasted: Some(Duration::from_secs(40)),
            ..told(Event::ContainerHealthy, "")
        };
        assert_eq!(
            sentence(&by_itself),
            "web is healthy again, 40 s after it failed. (incident 4)"
        );
        assert_eq!(duration(Duration::from_secs(3900)), "1 h 5 min");
        assert_eq!(duration(Duration::from_secs(7200)), "2 h");
    }
}
