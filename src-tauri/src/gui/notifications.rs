//! Desktop notifications (notify-rust): the engine's events, coalesced like every other
//! channel ([`notify::coalesce`]) and shown only after they are in the history. A failure's
//! notification carries an "Investigate" action where the notification server advertises
//! actions (Linux servers such as GNOME's, KDE's or dunst); invoking it opens the
//! investigation of its incident. Elsewhere the tray's "Recent alerts" is the way.

use std::path::PathBuf;

use tokio::sync::broadcast;

use crate::config::Notify;
use crate::notify::{self, Message};
use crate::storage::store::EventRow;

/// The action's id, as the notification server reports it back.
#[cfg(all(unix, not(target_os = "macos")))]
const INVESTIGATE: &str = "investigate";
/// The id of a click on the notification's body (freedesktop's convention).
#[cfg(all(unix, not(target_os = "macos")))]
const DEFAULT: &str = "default";

/// Shows the coalesced notifications until the event bus closes.
/// `config`: the configuration file the investigation is to use.
pub async fn run(settings: Notify, config: Option<PathBuf>, events: broadcast::Receiver<EventRow>) {
    if !settings.desktop {
        return;
    }
    notify::coalesce(&settings, events, |m| {
        show(m, config.clone());
        std::future::ready(())
    })
    .await
}

/// Shows one coalesced message; a failure's offers to investigate its first incident.
fn show(m: Message, config: Option<PathBuf>) {
    let investigate = m
        .failure
        .then(|| m.incident_to_investigate())
        .flatten()
        .map(|incident| (incident, config));
    spawn_delivery(m.title, m.text, m.failure, investigate);
}

/// A failure told without an action (the stack's start or stop failed, ...).
pub fn plain(title: String, text: String) {
    spawn_delivery(title, text, true, None);
}

/// Delivers from a thread of its own: talking to the notification server blocks, and waiting
/// for the user's click blocks until the notification is closed.
fn spawn_delivery(
    title: String,
    text: String,
    failure: bool,
    investigate: Option<(i64, Option<PathBuf>)>,
) {
    let spawned = std::thread::Builder::new()
        .name("notification".into())
        .spawn(move || {
            if let Err(e) = deliver(&title, &text, failure, investigate) {
                tracing::warn!("cannot show a desktop notification: {e}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot show a desktop notification: {e}");
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn deliver(
    title: &str,
    text: &str,
    failure: bool,
    investigate: Option<(i64, Option<PathBuf>)>,
) -> Result<(), notify_rust::error::Error> {
    use notify_rust::{Notification, Urgency};
    // Asked each time: the server may change during a session.
    let caps = notify_rust::get_capabilities().unwrap_or_default();
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut body = body_text(text);
    if has("body-markup") {
        // Container names and compose output are text, never markup.
        body = escape_markup(&body);
    }
    let mut n = Notification::new();
    n.appname("Sickbay")
        .summary(title)
        .body(&body)
        .icon(if failure {
            "dialog-warning"
        } else {
            "dialog-information"
        })
        .urgency(if failure {
            Urgency::Critical
        } else {
            Urgency::Normal
        });
    let actions = investigate.filter(|_| has("actions"));
    if actions.is_some() {
        // `default` is a click on the notification itself, where the server supports it.
        n.action(DEFAULT, "Investigate");
        n.action(INVESTIGATE, "Investigate");
    }
    let handle = n.show()?;
    if let Some((incident, config)) = actions {
        // Blocks until the user acts or the notification closes.
        handle.wait_for_action(|action| {
            if action == INVESTIGATE || action == DEFAULT {
                tracing::info!("notification: investigate incident {incident}");
                if let Err(e) = super::actions::investigate(incident, config.as_deref()) {
                    tracing::error!("cannot open the investigation of incident {incident}: {e}");
                }
            }
        });
    }
    Ok(())
}

#[cfg(not(all(unix, not(target_os = "macos"))))]
fn deliver(
    title: &str,
    text: &str,
    _failure: bool,
    _investigate: Option<(i64, Option<PathBuf>)>,
) -> Result<(), notify_rust::error::Error> {
    // macOS and Windows: a notification without actions (notify-rust cannot report the click
    // back there); the tray's "Recent alerts" opens the investigation.
    notify_rust::Notification::new()
        .appname("Sickbay")
        .summary(title)
        .body(&body_text(text))
        .show()
        .map(|_| ())
}

/// The text as the freedesktop body markup shows it, unchanged.
#[cfg(all(unix, not(target_os = "macos")))]
fn escape_markup(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Notification servers show a few lines: the text is cut, never the title.
fn body_text(text: &str) -> String {
    const MAX_LINES: usize = 8;
    const MAX_CHARS: usize = 600;
    let mut lines: Vec<&str> = text.lines().take(MAX_LINES).collect();
    let more = text.lines().count() > MAX_LINES;
    if more {
        lines.push("… (the dashboard has the rest)");
    }
    let joined = lines.join("\n");
    if joined.chars().count() > MAX_CHARS {
        let cut: String = joined.chars().take(MAX_CHARS - 1).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_text_is_cut_with_a_pointer_to_the_dashboard() {
        let text: Vec<String> = (1..=20).map(|i| format!("line {i}")).collect();
        let body = body_text(&text.join("\n"));
        assert!(body.starts_with("line 1\nline 2"), "{body}");
        assert!(!body.contains("line 9"), "{body}");
        assert!(body.ends_with("the dashboard has the rest)"), "{body}");
        let long = "x".repeat(5000);
        assert_eq!(body_text(&long).chars().count(), 600);
        assert_eq!(body_text("short"), "short");
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn markup_in_a_text_is_shown_as_text() {
        assert_eq!(
            escape_markup("exit <3> & <b>bold</b>"),
            "exit &lt;3&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        );
    }
}
