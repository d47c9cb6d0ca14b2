//! Every integration test, in one binary (faster to build and run on two cores).

mod cli_config;
mod common;
mod diagnosis;
mod docker_outage;
mod engine_scenarios;
mod escalation;
mod guard;
mod hardening;
mod history;
mod llm_server;
mod log_lines;
mod notifications;
mod own_daemon;
mod pg;
mod postgres_mirror;
mod postgres_tls;
mod secrets;
mod stack;
