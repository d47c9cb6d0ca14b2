#!/usr/bin/env bash
# Sets up everything the tests need on a fresh Debian or Ubuntu machine, then runs every test:
# formatting and lints, unit tests, and the integration tests against the real Docker engine.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step() { printf '\n==> %s\n' "$*"; }

step "system packages"
bash scripts/setup.sh --test

step "test image"
bash scripts/test-image.sh

step "formatting"
cargo fmt --all -- --check

step "lints (headless and tray builds)"
cargo clippy --no-default-features --all-targets -- -D warnings
cargo clippy --all-targets --features mock-runtime -- -D warnings

step "tray app builds"
cargo build

step "tests"
cargo test --no-default-features --lib --bins --tests
cargo test --lib --features mock-runtime
bash scripts/e2e.sh   # the dashboard end to end: Xvfb, D-Bus, tauri-driver, WebKitWebDriver

