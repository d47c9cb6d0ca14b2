//! Diagnostic logging (tracing): to stderr, and for long-running commands also to a daily
//! file under `logs/` (`sickbay.YYYY-MM-DD.log`, a week kept). Kept apart from `monitor.log`,
//! which holds the events themselves. `RUST_LOG` overrides the level.
//!
//! Messages quote container names, label values and errors from outside: their fields go
//! through [`OneLine`], so a newline or an escape sequence in them is written visibly and
//! cannot forge a line of the log or drive the terminal. Colours only on a terminal.

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{DefaultFields, Writer};
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

use crate::domain::escape;

/// Formats an event's or a span's fields as tracing does by default (`message key=value`),
/// then writes their control characters visibly ([`escape::line`]).
#[derive(Default)]
pub struct OneLine(DefaultFields);

impl<'w> FormatFields<'w> for OneLine {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        let mut raw = String::new();
        self.0.format_fields(Writer::new(&mut raw), fields)?;
        writer.write_str(&escape::line(&raw))
    }
}

/// Keeps the file writer flushing; drop it last.
/// Diagnostic lines waiting for the log file's writer at most.
const LOG_QUEUE_LINES: usize = 4096;

pub struct Guard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

pub fn init(logs_dir: Option<&Path>, default_level: &str) -> Guard {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "{default_level},hyper=warn,reqwest=warn,bollard=warn"
            ))
        })
    };
    let stderr = fmt::layer()
        .fmt_fields(OneLine::default())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let file = logs_dir.and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("sickbay")
            .filename_suffix("log")
            .max_log_files(7)
            .build(dir)
            .ok()
    });
    let (file_layer, guard) = match file {
        Some(appender) => {
            // The writer's queue is allocated whole at start: the default (128,000 lines) took
            // 4 MB of a headless watcher's 30. Lines beyond a full queue are dropped (and
            // counted by tracing-appender), never waited for.
            let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                .buffered_lines_limit(LOG_QUEUE_LINES)
                .lossy(true)
                .finish(appender);
            (
                Some(
                    fmt::layer()
                        .fmt_fields(OneLine::default())
                        .with_writer(writer)
                        .with_ansi(false),
                ),
                Some(guard),
            )
        }
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(filter())
        .with(stderr)
        .with(file_layer)
        .try_init();
    Guard(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_label_value_with_a_newline_stays_on_its_line() {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(
            fmt::layer()
                .fmt_fields(OneLine::default())
                .with_writer(move || sink.clone())
                .with_ansi(false),
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("sweep", container = "web\r\x1b[2K");
            let _in = span.enter();
            let value = "restart\n[2020-01-01T00:00:00] healing_failed container:web";
            tracing::warn!(label = %value, "container {}: bad label `{value}`", "web\u{2028}x");
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(text.ends_with('\n'));
        assert!(
            !text.trim_end_matches('\n').chars().any(escape::is_unsafe),
            "{text:?}"
        );
        assert!(
            text.contains("bad label `restart\\n[2020-01-01T00:00:00] healing_failed"),
            "{text:?}"
        );
        assert!(text.contains("web\\u{2028}x"), "{text:?}");
        // A span's fields too (a `str` field is written as Rust would quote it).
        assert!(text.contains("sweep{container=\"web\\r"), "{text:?}");
    }
}
