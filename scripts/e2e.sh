#!/usr/bin/env bash
# End-to-end tests of the desktop app: the real app (built by `cargo build`) in a virtual X
# display and a D-Bus session of its own, against the real Docker engine. The dashboard is
# driven through tauri-driver and Debian's WebKitWebDriver (installs tauri-driver when missing);
# the desktop notifications go to dunst, and their Investigate action opens a real xterm.
#
# Usage: scripts/e2e.sh   (after scripts/setup.sh --test and scripts/test-image.sh; builds the app
#        with `cargo build` unless SICKBAY_APP names a binary)
# Artifacts (screenshots, the app's output, the notifications seen on the bus):
# $SICKBAY_ARTIFACTS, default artifacts/e2e.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v tauri-driver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
    echo "e2e: installing tauri-driver" >&2
    cargo install tauri-driver --locked
fi
export PATH="$HOME/.cargo/bin:$PATH"
if [ -z "${SICKBAY_APP:-}" ]; then
    # The tray app: a headless build (--no-default-features) may have replaced the binary.
    cargo build --quiet
    SICKBAY_APP="${CARGO_TARGET_DIR:-target}/debug/sickbay"
fi
export SICKBAY_APP
export SICKBAY_ARTIFACTS="${SICKBAY_ARTIFACTS:-artifacts/e2e}"
[ -x "$SICKBAY_APP" ] || { echo "e2e: $SICKBAY_APP is missing: run cargo build first" >&2; exit 1; }

# WebKitGTK under Xvfb: no compositing, no DMA-BUF renderer, no accessibility bus.
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1
for script in dashboard notifications; do
    dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" python3 "tests/e2e/$script.py"
done
