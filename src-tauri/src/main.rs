// No console window for the tray app on Windows release builds.
#![cfg_attr(
    all(not(debug_assertions), feature = "gui"),
    windows_subsystem = "windows"
)]

use std::process::ExitCode;

use clap::Parser;
use sickbay::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = match &cli.command {
        #[cfg(feature = "gui")]
        Some(Command::Dashboard) => {
            return sickbay::gui::dashboard::run(&cli)
                .map_or_else(cli::report, |()| ExitCode::SUCCESS)
        }
        Some(c) => c,
        None if has_display() => return run_tray(&cli),
        None => &Command::Watch,
    };
    match cli::run(&cli, command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => cli::report(f),
    }
}

#[cfg(feature = "gui")]
fn run_tray(cli: &Cli) -> ExitCode {
    match sickbay::gui::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => cli::report(f),
    }
}

#[cfg(not(feature = "gui"))]
fn run_tray(cli: &Cli) -> ExitCode {
    match cli::run(cli, &Command::Watch) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => cli::report(f),
    }
}

/// Whether a desktop session is there for a tray icon.
fn has_display() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return cfg!(feature = "gui");
    }
    cfg!(feature = "gui")
        && ["DISPLAY", "WAYLAND_DISPLAY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()))
}
