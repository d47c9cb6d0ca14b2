#!/usr/bin/env bash
# The desktop app's benchmark (run by hand; figures go in the README): time from launch to
# the tray icon on screen, and idle CPU, memory and threads of the whole process tree (the app
# and its WebKit helpers) watching 50 containers: with the dashboard never opened; after five of
# the containers failed, one at a time (five critical notifications, which dunst keeps until they
# are closed) and the tray menu was opened; with the dashboard open; and closed again. Then where
# the tray app's own memory is (its smaps) in each state.
# Runs the real app in a virtual X display with a tray host (trayer), a notification server
# (dunst) and a D-Bus session, each launch as the first GTK program on the display. The
# containers it starts carry a label of the run's own, and are removed at the end, also on failure.
#
# Usage: scripts/bench-desktop.sh   (after cargo build --release, or SICKBAY_APP=path)
set -euo pipefail
cd "$(dirname "$0")/.."
export SICKBAY_APP="$(realpath "${SICKBAY_APP:-${CARGO_TARGET_DIR:-target}/release/sickbay}")"
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1
exec dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" python3 scripts/bench-desktop.py
