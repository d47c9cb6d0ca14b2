//! Every integration test, in one binary (faster to build and run on two cores).

mod cli_config;
mod common;
mod diagnosis;
mod engine_scenarios;
mod escalation;
mod guard;
mod llm_server;
mod notifications;
mod pg;
mod postgres_mirror;
mod postgres_tls;
mod secrets;
mod stack;
