//! Every integration test, in one binary (faster to build and run on two cores): one module
//! per topic, and `support` for what they share.

mod cli_config;
mod dependencies;
mod diagnosis;
mod docker_outage;
mod engine_scenarios;
mod escalation;
mod events;
mod guard;
mod hardening;
mod history;
mod image;
mod log_lines;
mod metrics;
mod notifications;
mod packaging;
mod postgres_mirror;
mod postgres_tls;
mod secrets;
mod service;
mod snooze;
mod stack;
mod status;
mod support;
