//! Diagnostic logging (tracing): to stderr, and for long-running commands also to a daily
//! file under `logs/` (`sickbay.log.YYYY-MM-DD`, a week kept). Kept apart from `monitor.log`,
//! which holds the events themselves. `RUST_LOG` overrides the level.

use std::path::Path;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter};

/// Keeps the file writer flushing; drop it last.
pub struct Guard(#[allow(dead_code)] Option<tracing_appender::non_blocking::WorkerGuard>);

pub fn init(logs_dir: Option<&Path>, default_level: &str) -> Guard {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "{default_level},hyper=warn,reqwest=warn,bollard=warn"
            ))
        })
    };
    let stderr = fmt::layer().with_writer(std::io::stderr).with_target(false);
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
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                Some(fmt::layer().with_writer(writer).with_ansi(false)),
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
