//! Every integration test, in one binary (faster to build and run on two cores).

mod cli_config;
mod common;
mod engine_scenarios;
mod pg;
mod postgres_mirror;
