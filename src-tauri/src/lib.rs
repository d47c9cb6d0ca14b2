//! Sickbay keeps a developer's Docker stack alive: it watches every container, heals simple
//! failures itself, and records the history. See ARCHITECTURE.md for the map.

pub mod alert;
pub mod cli;
pub mod clock;
pub mod config;
pub mod diagnose;
pub mod docker;
pub mod engine;
pub mod escalate;
pub mod escape;
pub mod event;
pub mod guard;
pub mod heal;
pub mod journal;
pub mod keychain;
pub mod llm;
pub mod lock;
pub mod logfile;
pub mod mirror;
pub mod model;
pub mod monitor;
pub mod notify;
pub mod paths;
pub mod patterns;
pub mod probe;
pub mod redact;
pub mod schema;
pub mod stack;
pub mod store;
pub mod telemetry;
pub mod terminal;

#[cfg(feature = "gui")]
pub mod gui;
