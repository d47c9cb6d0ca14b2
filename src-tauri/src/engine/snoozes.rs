//! Snoozes in the engine: read from the history every few seconds (a `sickbay snooze` from
//! another process, the tray, the dashboard, a notification's button all write there), and a
//! gate before the heal policy: a snoozed container's failures are recorded once per snooze
//! and shown, never healed or notified (no incident opens for them).

use super::*;
use crate::domain::snooze::{SnoozeEvent, Snoozes, LONGEST};

/// Why a container is left alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quiet {
    Snoozed,
    /// A `[[maintenance]]` window is open.
    Maintenance,
}

impl Quiet {
    pub fn as_str(self) -> &'static str {
        match self {
            Quiet::Snoozed => "snoozed",
            Quiet::Maintenance => "maintenance",
        }
    }
}

/// How often the engine reads the snoozes again.
pub(super) const LOOK_EVERY: Duration = Duration::from_secs(2);

impl Engine {
    /// Reads the snoozes in force; a snooze that just began or ended is said.
    pub(super) fn reload_snoozes(&mut self) {
        let now = SystemTime::now();
        let since = clock::utc(now.checked_sub(LONGEST).unwrap_or(SystemTime::UNIX_EPOCH));
        let rows = match self.store.snooze_events(&since) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read the snoozes: {e}");
                return;
            }
        };
        let fresh = Snoozes::from_events(
            rows.iter()
                .map(|(snoozed, container, details)| SnoozeEvent {
                    snoozed: *snoozed,
                    container: container.as_deref(),
                    details,
                }),
            now,
        );
        // Those that ran out while this engine watched are said ended.
        let mut old = std::mem::replace(&mut self.snoozes, fresh);
        for name in old.expire(now) {
            let container = (name != crate::domain::snooze::ALL).then_some(name.as_str());
            self.record(Event::SnoozeEnded, container, None, String::new());
        }
        let changed = old != self.snoozes;
        // What is no longer left alone (a snooze or a window ended) is told again next time.
        let quiet: Vec<bool> = self
            .tracked
            .values()
            .map(|t| !changed && self.quiet(t).is_some())
            .collect();
        for (t, q) in self.tracked.values_mut().zip(quiet) {
            t.snooze_told &= q;
        }
        if changed {
            // Healing resumes for what is no longer snoozed: look at it now.
            self.sweep_now.notify_one();
            self.publish();
        }
    }

    /// Until when `id` is left alone, and why (a snooze, or a maintenance window).
    pub(super) fn snoozed(&self, id: &ContainerId) -> Option<(SystemTime, Quiet)> {
        self.quiet(self.tracked.get(id)?)
    }

    /// Until when `t` is left alone, and why: its snooze (or every container's), else the
    /// maintenance window open now that covers it (the latest end of those).
    pub(super) fn quiet(&self, t: &Tracked) -> Option<(SystemTime, Quiet)> {
        if let Some(until) = self.snoozes.of(&t.info.name) {
            return Some((until, Quiet::Snoozed));
        }
        if self.windows.is_empty() {
            return None;
        }
        let now = chrono::Local::now().naive_local();
        self.windows
            .iter()
            .filter(|w| w.covers(&t.info.name, &t.info.labels))
            .filter_map(|w| w.open_until(now))
            .filter_map(|end| end.and_local_timezone(chrono::Local).earliest())
            .map(SystemTime::from)
            .max()
            .map(|until| (until, Quiet::Maintenance))
    }

    /// Whether `input` is kept from a snoozed container's policy (an action already under way
    /// still ends); its first failure in the snooze is recorded, marked as such.
    pub(super) fn held_by_snooze(&mut self, id: &ContainerId, input: &Input) -> bool {
        let Some((until, why)) = self.snoozed(id) else {
            return false;
        };
        if matches!(input, Input::ActionFinished(..)) {
            return false;
        }
        if let (Some((kind, details)), Some(t)) =
            (observe::failure_of(input), self.tracked.get_mut(id))
        {
            if !std::mem::replace(&mut t.snooze_told, true) {
                let name = t.info.name.clone();
                self.record(
                    observe::failure_event(kind),
                    Some(&name),
                    None,
                    format!(
                        "{details} heal:{} until:{}",
                        why.as_str(),
                        clock::utc(until)
                    ),
                );
            }
        }
        true
    }
}
