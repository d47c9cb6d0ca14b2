//! Desktop notifications: the engine's events, coalesced like every other channel
//! ([`notify::coalesce`]) and shown only after they are in the history. A failure's
//! notification carries an "Investigate" action where the notification server advertises
//! actions (Linux servers such as GNOME's, KDE's or dunst); invoking it opens the
//! investigation of its incident, and its "Snooze 1 h" leaves the containers it tells of alone
//! for an hour. Elsewhere the tray's "Recent alerts" is the way.
//!
//! One task shows them all ([`Desktop`]). On Linux and the BSDs it talks to the freedesktop
//! notification server itself, over one D-Bus connection (zbus) kept for the app's life, on
//! the app's async runtime: a notification waiting for its action costs an entry in a table,
//! not a thread and a connection of its own (the server may keep a failure's notification for
//! as long as nobody closes it: dunst never times a critical one out). At most
//! [`MAX_WAITING`] wait; the oldest beyond that is closed, so no button on screen is dead.
//! macOS and Windows: notify-rust, without actions.

use std::path::PathBuf;

use tokio::sync::{broadcast, mpsc, watch};

use crate::config::Settings;
use crate::notify::{self, Message};
use crate::storage::store::EventRow;

/// How many shown notifications at most wait for their "Investigate" action.
pub const MAX_WAITING: usize = 16;

/// The notifications' one deliverer: what is handed to it is shown in order, from a task of
/// its own (talking to the notification server takes a round trip).
#[derive(Clone)]
pub struct Desktop {
    requests: mpsc::UnboundedSender<Shown>,
}

/// One notification to show.
#[derive(Debug)]
// macOS and Windows show neither urgency nor actions.
#[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
struct Shown {
    title: String,
    /// Already cut to what a notification server shows.
    body: String,
    failure: bool,
    investigate: Option<Investigate>,
}

/// What the "Investigate" action of a notification opens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(not(all(unix, not(target_os = "macos"))), allow(dead_code))]
struct Investigate {
    incident: i64,
    /// The containers whose failures it tells ("Snooze 1 h" leaves them alone).
    containers: Vec<String>,
    /// The configuration file the investigation is to use.
    config: Option<PathBuf>,
}

impl Desktop {
    /// Starts the deliverer on the app's async runtime.
    pub fn start() -> Self {
        let (requests, rx) = mpsc::unbounded_channel();
        tauri::async_runtime::spawn(serve(rx));
        Self { requests }
    }

    /// A failure told without an action (the stack's start or stop failed, ...).
    pub fn plain(&self, title: String, text: String) {
        self.send(Shown {
            title,
            body: body_text(&text),
            failure: true,
            investigate: None,
        });
    }

    /// One coalesced message; a failure's offers to investigate its first incident.
    fn message(&self, m: Message, config: Option<PathBuf>) {
        let containers = m.failing_containers();
        let investigate = m
            .failure
            .then(|| m.incident_to_investigate())
            .flatten()
            .map(|incident| Investigate {
                incident,
                containers,
                config,
            });
        self.send(Shown {
            body: body_text(&m.text),
            title: m.title,
            failure: m.failure,
            investigate,
        });
    }

    fn send(&self, shown: Shown) {
        if self.requests.send(shown).is_err() {
            tracing::warn!("cannot show a desktop notification: the app is stopping");
        }
    }
}

/// Shows the coalesced notifications of the engine's events until the event bus closes.
/// `config`: the configuration file the investigation is to use.
/// `[notify] desktop` is read for each message (`config::live`).
pub async fn run(
    desktop: Desktop,
    live: watch::Receiver<Settings>,
    config: Option<PathBuf>,
    events: broadcast::Receiver<EventRow>,
) {
    notify::coalesce(live, events, |settings, m| {
        if settings.desktop {
            desktop.message(m, config.clone());
        }
        std::future::ready(())
    })
    .await
}

#[cfg(all(unix, not(target_os = "macos")))]
use xdg::serve;

/// The freedesktop notification server, over one D-Bus connection.
#[cfg(all(unix, not(target_os = "macos")))]
mod xdg {
    use std::collections::{HashMap, VecDeque};
    use std::pin::Pin;

    use futures_util::{Stream, StreamExt};
    use tokio::sync::mpsc;
    use zbus::Variant;

    use super::{Investigate, Shown, MAX_WAITING};

    /// The actions' ids, as the notification server reports them back.
    const INVESTIGATE: &str = "investigate";
    const SNOOZE: &str = "snooze";
    /// The id of a click on the notification's body (freedesktop's convention).
    const DEFAULT: &str = "default";

    /// The Desktop Notifications Specification's interface, the part Sickbay uses.
    #[zbus::proxy(
        interface = "org.freedesktop.Notifications",
        default_service = "org.freedesktop.Notifications",
        default_path = "/org/freedesktop/Notifications"
    )]
    trait Notifications {
        #[allow(clippy::too_many_arguments)]
        fn notify(
            &self,
            app_name: &str,
            replaces_id: u32,
            app_icon: &str,
            summary: &str,
            body: &str,
            actions: &[&str],
            hints: HashMap<&str, Variant<'_>>,
            expire_timeout: i32,
        ) -> zbus::Result<u32>;

        fn close_notification(&self, id: u32) -> zbus::Result<()>;

        fn get_capabilities(&self) -> zbus::Result<Vec<String>>;

        #[zbus(signal)]
        fn action_invoked(&self, id: u32, action_key: String) -> zbus::Result<()>;

        #[zbus(signal)]
        fn notification_closed(&self, id: u32, reason: u32) -> zbus::Result<()>;
    }

    /// What the server tells of a notification it showed.
    enum Signal {
        Action(u32, String),
        Closed(u32),
    }

    /// The connection, kept while it works.
    struct Server {
        proxy: NotificationsProxy<'static>,
        signals: Pin<Box<dyn Stream<Item = Signal> + Send>>,
    }

    impl Server {
        async fn connect() -> zbus::Result<Self> {
            let connection = zbus::Connection::session().await?;
            let proxy = NotificationsProxy::builder(&connection)
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await?;
            let actions = proxy.receive_action_invoked().await?.filter_map(|s| {
                let a = s.args().ok().map(|a| Signal::Action(a.id, a.action_key));
                std::future::ready(a)
            });
            let closed = proxy
                .receive_notification_closed()
                .await?
                .filter_map(|s| std::future::ready(s.args().ok().map(|a| Signal::Closed(a.id))));
            Ok(Self {
                proxy,
                signals: Box::pin(futures_util::stream::select(actions, closed)),
            })
        }
    }

    /// Shows one; its id, if it waits for an action.
    async fn notify(proxy: &NotificationsProxy<'_>, n: &Shown) -> zbus::Result<Option<u32>> {
        // Asked each time: the server may change during a session.
        let caps = proxy.get_capabilities().await.unwrap_or_default();
        let has = |c: &str| caps.iter().any(|x| x == c);
        let body = if has("body-markup") {
            // Container names and compose output are text, never markup.
            escape_markup(&n.body)
        } else {
            n.body.clone()
        };
        let waits = n.investigate.is_some() && has("actions");
        // `default` is a click on the notification itself, where the server supports it.
        let actions: &[&str] = if waits {
            &[
                DEFAULT,
                "Investigate",
                INVESTIGATE,
                "Investigate",
                SNOOZE,
                "Snooze 1 h",
            ]
        } else {
            &[]
        };
        let (icon, urgency) = if n.failure {
            ("dialog-warning", 2u8) // critical
        } else {
            ("dialog-information", 1u8) // normal
        };
        let hints = HashMap::from([("urgency", Variant::U8(urgency))]);
        let id = proxy
            .notify("Sickbay", 0, icon, &n.title, &body, actions, hints, -1)
            .await?;
        Ok(waits.then_some(id))
    }

    /// Whether an error says the connection itself is gone (not that the server refused).
    fn connection_lost(e: &zbus::Error) -> bool {
        !matches!(e, zbus::Error::MethodError(..) | zbus::Error::FDO(_))
    }

    /// The notifications shown that wait for their action, oldest first.
    #[derive(Debug, Default)]
    pub(super) struct Waiting(VecDeque<(u32, Investigate)>);

    impl Waiting {
        /// Records one; the id of the oldest, when it is one too many (to be closed).
        pub(super) fn insert(&mut self, id: u32, investigate: Investigate) -> Option<u32> {
            // A server may give an id again once its notification is gone.
            self.0.retain(|(i, _)| *i != id);
            self.0.push_back((id, investigate));
            (self.0.len() > MAX_WAITING)
                .then(|| self.0.pop_front().map(|(i, _)| i))
                .flatten()
        }

        /// The investigation of `id`, which waits no more.
        pub(super) fn take(&mut self, id: u32) -> Option<Investigate> {
            let at = self.0.iter().position(|(i, _)| *i == id)?;
            self.0.remove(at).map(|(_, inv)| inv)
        }

        pub(super) fn len(&self) -> usize {
            self.0.len()
        }
    }

    enum Next {
        Request(Option<Shown>),
        Signal(Option<Signal>),
    }

    /// Shows what comes in and carries out the actions invoked, until the app stops.
    pub(super) async fn serve(mut requests: mpsc::UnboundedReceiver<Shown>) {
        let mut server: Option<Server> = None;
        let mut waiting = Waiting::default();
        loop {
            let next = {
                let signal = async {
                    match server.as_mut() {
                        Some(s) => s.signals.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    r = requests.recv() => Next::Request(r),
                    s = signal => Next::Signal(s),
                }
            };
            match next {
                Next::Request(None) => return,
                Next::Request(Some(n)) => {
                    let Some(id) = show(&mut server, &n).await else {
                        continue;
                    };
                    if let Some(investigate) = n.investigate {
                        let oldest = waiting.insert(id, investigate);
                        if let (Some(old), Some(s)) = (oldest, server.as_ref()) {
                            // Its button would do nothing now: the tray's "Recent alerts" has it.
                            let proxy = &s.proxy;
                            if let Err(e) = proxy.close_notification(old).await {
                                tracing::debug!("cannot close notification {old}: {e}");
                            }
                        }
                    }
                    tracing::debug!("{} notification(s) wait for an action", waiting.len());
                }
                Next::Signal(Some(Signal::Action(id, action))) if action == SNOOZE => {
                    if let Some(Investigate {
                        containers, config, ..
                    }) = waiting.take(id)
                    {
                        for c in containers {
                            tracing::info!("notification: snooze {c} for an hour");
                            if let Err(e) = crate::gui::actions::snooze(&c, config.as_deref()) {
                                tracing::error!("cannot snooze {c}: {e}");
                            }
                        }
                    }
                }
                Next::Signal(Some(Signal::Action(id, action))) => {
                    if action != INVESTIGATE && action != DEFAULT {
                        continue;
                    }
                    if let Some(Investigate {
                        incident, config, ..
                    }) = waiting.take(id)
                    {
                        tracing::info!("notification: investigate incident {incident}");
                        if let Err(e) =
                            crate::gui::actions::investigate(incident, config.as_deref())
                        {
                            tracing::error!(
                                "cannot open the investigation of incident {incident}: {e}"
                            );
                        }
                    }
                }
                Next::Signal(Some(Signal::Closed(id))) => {
                    waiting.take(id);
                }
                Next::Signal(None) => {
                    // The bus went away, and the server's notifications with it.
                    tracing::warn!("the desktop notifications' D-Bus connection closed");
                    server = None;
                    waiting = Waiting::default();
                }
            }
        }
    }

    /// Shows `n`, connecting first when there is no connection (again, once, if it was lost).
    /// The notification's id if it waits for an action.
    async fn show(server: &mut Option<Server>, n: &Shown) -> Option<u32> {
        for attempt in 0..2 {
            if server.is_none() {
                match Server::connect().await {
                    Ok(s) => *server = Some(s),
                    Err(e) => {
                        tracing::warn!("cannot show a desktop notification: {e}");
                        return None;
                    }
                }
            }
            let proxy = &server.as_ref()?.proxy;
            match notify(proxy, n).await {
                Ok(id) => return id,
                Err(e) if attempt == 0 && connection_lost(&e) => {
                    tracing::debug!("desktop notifications: reconnecting after {e}");
                    *server = None;
                }
                Err(e) => {
                    tracing::warn!("cannot show a desktop notification: {e}");
                    return None;
                }
            }
        }
        None
    }

    /// The text as the freedesktop body markup shows it, unchanged.
    pub(super) fn escape_markup(text: &str) -> String {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    }
}

/// macOS and Windows: a notification without actions (notify-rust cannot report the click
/// back there); the tray's "Recent alerts" opens the investigation.
#[cfg(not(all(unix, not(target_os = "macos"))))]
async fn serve(mut requests: mpsc::UnboundedReceiver<Shown>) {
    while let Some(n) = requests.recv().await {
        // Showing blocks until the system has the notification.
        let shown = tokio::task::spawn_blocking(move || {
            notify_rust::Notification::new()
                .appname("Sickbay")
                .summary(&n.title)
                .body(&n.body)
                .show()
                .map(|_| ())
        })
        .await;
        match shown {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot show a desktop notification: {e}"),
            Err(e) => tracing::warn!("cannot show a desktop notification: {e}"),
        }
    }
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
            xdg::escape_markup("exit <3> & <b>bold</b>"),
            "exit &lt;3&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        );
    }

    #[cfg(all(unix, not(target_os = "macos")))]
    #[test]
    fn at_most_so_many_notifications_wait_and_the_oldest_goes_first() {
        let inv = |incident| Investigate {
            incident,
            containers: vec!["web".into()],
            config: None,
        };
        let mut w = xdg::Waiting::default();
        for id in 1..=MAX_WAITING as u32 {
            assert_eq!(w.insert(id, inv(i64::from(id))), None);
        }
        assert_eq!(w.len(), MAX_WAITING);
        // One more: the oldest is to be closed.
        assert_eq!(w.insert(100, inv(100)), Some(1));
        assert_eq!(w.len(), MAX_WAITING);
        assert_eq!(w.take(1), None, "closed, no longer waiting");
        // An action or a close ends the wait of that one only, once.
        assert_eq!(w.take(2), Some(inv(2)));
        assert_eq!(w.take(2), None);
        assert_eq!(w.take(100), Some(inv(100)));
        // An id given again (its notification gone) is the newer notification's.
        assert_eq!(w.insert(3, inv(33)), None);
        assert_eq!(w.take(3), Some(inv(33)));
        assert_eq!(w.take(3), None);
        assert_eq!(w.len(), MAX_WAITING - 3);
    }
}
