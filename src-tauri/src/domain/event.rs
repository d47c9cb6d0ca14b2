//! The vocabulary of what happens: every event Sickbay records, with its one written form (the
//! original system's names, as in `monitor.log` and `monitor_events.event`). The engine records
//! [`Event`]s; the alert watcher, the notifications and the tray read them back with
//! [`Event::parse`]. Pure: it formats no line and knows no container.

use std::fmt;

/// One kind of event. Its written form never changes: the history and the log files of earlier
/// runs, and the queries people run on them, use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    MonitorStarted,
    MonitorStopped,
    MonitoringPaused,
    MonitoringResumed,
    DockerUnreachable,
    DockerReconnected,
    /// Another Sickbay acts on the same containers; this one waits.
    StandingBy,
    /// The other one stopped; this one acts now.
    TakingOver,
    BadLabel,
    ContainerUnhealthy,
    ContainerDied,
    ContainerOom,
    ContainerOomKilled,
    RestartLoop,
    ContainerStopped,
    ContainerRemoved,
    ContainerHealthy,
    ClearingCache,
    CacheCleared,
    RestartingContainer,
    ContainerRestarted,
    RecreatingContainer,
    ContainerRecreated,
    RebuildingContainer,
    ContainerRebuilt,
    HealActionFailed,
    HealingFailed,
    /// Restarted, while failing, by something other than Sickbay.
    RestartedByOther,
    Escalated,
    /// A dependent's failure is explained by a failing dependency: it is held, not healed,
    /// while the dependency is healed.
    HeldForDependency,
    /// A held dependent is healthy again once its dependency was.
    DependentRecovered,
    /// Sickbay starts, restarts or recreates a dependent because of its dependency (back up,
    /// or in a new network namespace).
    FollowingDependency,
    DependencyFollowed,
    DependencyFollowFailed,
    /// Compose, an updater or a person is replacing a project's containers: nothing is
    /// healed until it is over.
    OrchestrationStarted,
    OrchestrationEnded,
    /// A person asked Sickbay to leave a container (or every one) alone until a time.
    ContainerSnoozed,
    ContainerUnsnoozed,
    /// A snooze reached its end.
    SnoozeEnded,
    /// A person acknowledged an incident, with a note (`by:` who, `note:` the rest of the
    /// line).
    IncidentAcknowledged,
    /// A person asked Sickbay to restart a container now (`by:` where they asked).
    RestartRequested,
}

impl Event {
    pub const ALL: [Event; 41] = [
        Self::MonitorStarted,
        Self::MonitorStopped,
        Self::MonitoringPaused,
        Self::MonitoringResumed,
        Self::DockerUnreachable,
        Self::DockerReconnected,
        Self::StandingBy,
        Self::TakingOver,
        Self::BadLabel,
        Self::ContainerUnhealthy,
        Self::ContainerDied,
        Self::ContainerOom,
        Self::ContainerOomKilled,
        Self::RestartLoop,
        Self::ContainerStopped,
        Self::ContainerRemoved,
        Self::ContainerHealthy,
        Self::ClearingCache,
        Self::CacheCleared,
        Self::RestartingContainer,
        Self::ContainerRestarted,
        Self::RecreatingContainer,
        Self::ContainerRecreated,
        Self::RebuildingContainer,
        Self::ContainerRebuilt,
        Self::HealActionFailed,
        Self::HealingFailed,
        Self::RestartedByOther,
        Self::Escalated,
        Self::HeldForDependency,
        Self::DependentRecovered,
        Self::FollowingDependency,
        Self::DependencyFollowed,
        Self::DependencyFollowFailed,
        Self::OrchestrationStarted,
        Self::OrchestrationEnded,
        Self::ContainerSnoozed,
        Self::ContainerUnsnoozed,
        Self::SnoozeEnded,
        Self::IncidentAcknowledged,
        Self::RestartRequested,
    ];

    /// The written form, in `monitor.log` and the history.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::MonitorStarted => "monitor_started",
            Self::MonitorStopped => "monitor_stopped",
            Self::MonitoringPaused => "monitoring_paused",
            Self::MonitoringResumed => "monitoring_resumed",
            Self::DockerUnreachable => "docker_unreachable",
            Self::DockerReconnected => "docker_reconnected",
            Self::StandingBy => "standing_by",
            Self::TakingOver => "taking_over",
            Self::BadLabel => "bad_label",
            Self::ContainerUnhealthy => "container_unhealthy",
            Self::ContainerDied => "container_died",
            Self::ContainerOom => "container_oom",
            Self::ContainerOomKilled => "container_oom_killed",
            Self::RestartLoop => "restart_loop",
            Self::ContainerStopped => "container_stopped",
            Self::ContainerRemoved => "container_removed",
            Self::ContainerHealthy => "container_healthy",
            Self::ClearingCache => "clearing_cache",
            Self::CacheCleared => "cache_cleared",
            Self::RestartingContainer => "restarting_container",
            Self::ContainerRestarted => "container_restarted",
            Self::RecreatingContainer => "recreating_container",
            Self::ContainerRecreated => "container_recreated",
            Self::RebuildingContainer => "rebuilding_container",
            Self::ContainerRebuilt => "container_rebuilt",
            Self::HealActionFailed => "heal_action_failed",
            Self::HealingFailed => "healing_failed",
            Self::RestartedByOther => "restarted_by_other",
            Self::Escalated => "escalated",
            Self::HeldForDependency => "held_for_dependency",
            Self::DependentRecovered => "dependent_recovered",
            Self::FollowingDependency => "following_dependency",
            Self::DependencyFollowed => "dependency_followed",
            Self::DependencyFollowFailed => "dependency_follow_failed",
            Self::OrchestrationStarted => "orchestration_started",
            Self::OrchestrationEnded => "orchestration_ended",
            Self::ContainerSnoozed => "container_snoozed",
            Self::ContainerUnsnoozed => "container_unsnoozed",
            Self::SnoozeEnded => "snooze_ended",
            Self::IncidentAcknowledged => "incident_acknowledged",
            Self::RestartRequested => "restart_requested",
        }
    }

    /// The event written as `s`, if Sickbay knows it.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// A container starts failing: what opens an incident.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Self::ContainerUnhealthy
                | Self::ContainerDied
                | Self::ContainerOomKilled
                | Self::RestartLoop
        )
    }
}

/// The value of `key` in an event's `key:value` fields (quotes kept off), as they are
/// recorded: `field("exit_code:3 heal:off", "heal") == Some("off")`.
pub fn field<'a>(details: &'a str, key: &str) -> Option<&'a str> {
    details
        .split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim_matches('"'))
}

/// A value for a `key:value` field: quoted when it has spaces, on one line.
pub fn quote(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if one_line.contains(' ') || one_line.is_empty() {
        format!("{one_line:?}")
    } else {
        one_line
    }
}

/// The value of a field that ends an event's fields and may hold spaces (a note, a likely
/// cause): the rest of the line after `key:`.
pub fn tail<'a>(details: &'a str, key: &str) -> Option<&'a str> {
    let head = format!("{key}:");
    if let Some(rest) = details.strip_prefix(&head) {
        return Some(rest);
    }
    details.split_once(&format!(" {head}")).map(|(_, n)| n)
}

/// An acknowledgement's note: the rest of its fields after `note:`, which it ends with.
pub fn note(details: &str) -> Option<&str> {
    tail(details, "note")
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_from_its_written_form_and_the_forms_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert!(seen.insert(e.as_str()), "{e} twice");
            assert!(
                e.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{e}"
            );
        }
        assert_eq!(Event::parse("no_such_event"), None);
    }

    #[test]
    fn a_field_is_read_by_its_whole_key() {
        let d = "container:web exit_code:3 heal:off until:2026-12-07T10:00:00Z";
        assert_eq!(field(d, "heal"), Some("off"));
        assert_eq!(field(d, "until"), Some("2026-12-07T10:00:00Z"));
        assert_eq!(field(d, "code"), None, "not a key's tail");
        assert_eq!(field(d, "exit"), None, "nor its head");
        assert_eq!(field("error:\"boom\"", "error"), Some("boom"));
    }

    #[test]
    fn a_note_is_the_rest_of_the_fields() {
        let d = "container:web by:dashboard note:looking at it, by:me (see #4)";
        assert_eq!(note(d), Some("looking at it, by:me (see #4)"));
        assert_eq!(
            field(d, "by"),
            Some("dashboard"),
            "the note's words come after"
        );
        assert_eq!(note("container:web"), None);
        assert_eq!(
            tail(
                "incident:4 how:recorded likely_cause:disk full (offline)",
                "likely_cause"
            ),
            Some("disk full (offline)")
        );
    }
}
