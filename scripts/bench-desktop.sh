#!/usr/bin/env bash
# The desktop app's benchmark (run by hand; figures go in the README): time from launch to
# the tray icon on screen, and idle CPU and memory of the whole process tree (the app and its
# WebKit helpers) watching 50 containers, with the dashboard never opened, open, and closed.
# Runs the real app in a virtual X display with a tray host (trayer) and a D-Bus session.
#
# Usage: scripts/bench-desktop.sh   (after cargo build --release, or SICKBAY_APP=path)
set -euo pipefail
cd "$(dirname "$0")/.."
export SICKBAY_APP="$(realpath "${SICKBAY_APP:-${CARGO_TARGET_DIR:-target}/release/sickbay}")"
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1
exec dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" python3 scripts/bench-desktop.py
