#!/usr/bin/env bash
# Sets up what Sickbay needs on a fresh Debian or Ubuntu machine, builds it, and runs it:
# the tray app where there is a display, `sickbay watch` otherwise. Extra arguments go to
# sickbay (for example `bash scripts/run.sh status`).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  bash scripts/setup.sh
  cargo build --release --features custom-protocol
else
  bash scripts/setup.sh --headless
  cargo build --release --no-default-features
fi
exec "${CARGO_TARGET_DIR:-target}/release/sickbay" "$@"
