#!/usr/bin/env bash
# Photographs the real app for the README: the tray menu (trayer as the tray host, a click
# with xdotool, ImageMagick's import) and the dashboard, in a virtual X display with a D-Bus
# session of its own, watching three demo containers (one of them made unhealthy).
#
# Usage: scripts/screenshots.sh [OUT_DIR]   (default docs/screenshots; builds with cargo build)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="$(realpath -m "${1:-docs/screenshots}")"
if [ -z "${SICKBAY_APP:-}" ] && [ -z "${SICKBAY_IN_SESSION:-}" ]; then
    cargo build --quiet   # the tray app (a headless build may have replaced the binary)
fi
APP="$(realpath "${SICKBAY_APP:-${CARGO_TARGET_DIR:-target}/debug/sickbay}")"
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1

if [ -z "${SICKBAY_IN_SESSION:-}" ]; then
    export SICKBAY_IN_SESSION=1
    exec dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" bash "$0" "$OUT"
fi

mkdir -p "$OUT"
WORK="$(mktemp -d)"
RUN="$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')"
NAMES=(sbt-demo-web sbt-demo-db sbt-demo-worker)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for n in "${NAMES[@]}"; do docker rm -f "$n" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
for n in "${NAMES[@]}"; do
    docker run -d --name "$n" --label "sbt.demo=$RUN" --label sbt.test=1 \
        --health-cmd 'test ! -f /tmp/sick' --health-interval 1s --health-retries 1 \
        "${SICKBAY_TEST_IMAGE:-sickbay-test:latest}" sleep 100000 >/dev/null
done
printf '[monitoring]\ninterval_seconds = 2\nlabel_selector = ["sbt.demo=%s"]\n' "$RUN" >"$WORK/sickbay.toml"
export SICKBAY_CONFIG="$WORK/sickbay.toml" SICKBAY_DATA_DIR="$WORK/data" HOME="$WORK"

trayer --edge top --align right --widthtype request --height 24 --SetDockType true \
    --transparent false --tint 0x303030 &
PIDS+=($!)
sleep 1
"$APP" >"$WORK/app.log" 2>&1 &
PIDS+=($!)
sleep 6
docker exec sbt-demo-worker touch /tmp/sick
sleep 4

# The tray menu: click the icon at the top right, photograph, crop.
xdotool mousemove 1266 12 click 1
sleep 1.5
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 480x330+800+0 +repage "$OUT/tray-menu.png"
# Its containers submenu: hover the "Containers" item.
xdotool mousemove 1080 65
sleep 1.5
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 760x330+520+0 +repage "$OUT/tray-containers.png"
xdotool key Escape
sleep 0.5

# The dashboard: a second launch hands over to the first, which opens its window.
sleep 20
"$APP" --open-dashboard >/dev/null 2>&1 || true
sleep 5
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 1100x520+0+0 +repage "$OUT/dashboard.png"
echo "screenshots: $OUT/tray-menu.png $OUT/tray-containers.png $OUT/dashboard.png"
