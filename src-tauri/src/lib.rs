//! Sickbay keeps a developer's Docker stack alive: it watches every container, heals simple
//! failures itself, and records the history. See ARCHITECTURE.md for the map.

pub mod agent;
pub mod cli;
pub mod clock;
pub mod config;
pub mod docker;
pub mod domain;
pub mod engine;
pub mod lock;
pub mod metrics;
pub mod notify;
pub mod paths;
pub mod service;
pub mod storage;
pub mod telemetry;

#[cfg(feature = "gui")]
pub mod gui;
