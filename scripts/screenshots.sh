#!/usr/bin/env bash
# Photographs the real app for the README: the tray menu (trayer as the tray host, a click
# with xdotool, ImageMagick's import) and the dashboard, in a virtual X display with a D-Bus
# session of its own, watching a demo compose stack of three containers (started with `sickbay
# up`; web and worker depend on db; web is made unhealthy, worker is snoozed), then the
# first run's setup (no configuration file) on the same engine.
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
PROJECT=demo
PIDS=()
compose() {
    if docker compose version >/dev/null 2>&1; then docker compose "$@"; else docker-compose "$@"; fi
}
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    compose -p "$PROJECT" -f "$WORK/compose.yml" down -v -t 1 >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
{
    printf 'version: "2.4"\nservices:\n'
    for s in web db worker; do
        printf '  %s:\n    image: %s\n' "$s" "${SICKBAY_TEST_IMAGE:-sickbay-test:latest}"
        printf '    command: ["sleep", "100000"]\n    stop_grace_period: 1s\n'
        [ "$s" = db ] || printf '    depends_on: [db]\n'
        printf '    labels:\n      sbt.demo: "%s"\n      sbt.test: "1"\n' "$RUN"
        printf '    healthcheck:\n      test: ["CMD-SHELL", "test ! -f /tmp/sick"]\n'
        printf '      interval: 1s\n      retries: 1\n'
    done
} >"$WORK/compose.yml"
printf '[monitoring]\ninterval_seconds = 2\nlabel_selector = ["sbt.demo=%s"]\n[stack]\ncompose_file = "compose.yml"\nproject_name = "%s"\n' \
    "$RUN" "$PROJECT" >"$WORK/sickbay.toml"
export SICKBAY_CONFIG="$WORK/sickbay.toml" SICKBAY_DATA_DIR="$WORK/data" HOME="$WORK"
"$APP" up >/dev/null 2>&1
service() {
    docker ps --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1" --format '{{.Names}}'
}
WORKER="$(service worker)"
WEB="$(service web)"

trayer --edge top --align right --widthtype request --height 24 --SetDockType true \
    --transparent false --tint 0x303030 &
PIDS+=($!)
sleep 1
"$APP" >"$WORK/app.log" 2>&1 &
PIDS+=($!)
sleep 6
docker exec "$WEB" touch /tmp/sick
"$APP" snooze "$WORKER" 1h >/dev/null
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
convert "$WORK/root.png" -crop 900x330+380+0 +repage "$OUT/tray-containers.png"
# A container's own submenu: hover the unhealthy web's entry.
xdotool mousemove 640 90
sleep 1
xdotool mousemove 650 92
sleep 1.5
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 1280x330+0+0 +repage "$OUT/tray-container-actions.png"
xdotool key Escape
sleep 0.5

# The dashboard: a second launch hands over to the first, which opens its window.
sleep 20
"$APP" --open-dashboard >/dev/null 2>&1 || true
sleep 5
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 1100x520+0+0 +repage "$OUT/dashboard.png"
# The db's log, live (its "Log" button: the window is at the screen's top left).
docker exec "$(service db)" sh -c 'for l in "starting PostgreSQL 15" "listening on IPv4 address 0.0.0.0, port 5432" \
    "database system is ready to accept connections"; do echo "$l" >/proc/1/fd/1; done'
xdotool mousemove 217 259 click 1
xdotool mousemove 1090 740
sleep 4
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 1100x760+0+0 +repage "$OUT/dashboard-log.png"
# Its settings, edited in place.
xdotool mousemove 283 153 click 1
xdotool mousemove 1090 740
sleep 2
import -window root "$WORK/root.png"
convert "$WORK/root.png" -crop 1100x560+0+0 +repage "$OUT/dashboard-settings.png"
# The first run's setup: the app with no configuration file finds the engine and the demo
# project. On its defaults it watches every container of the engine, so the picture is taken
# only where the demo stack's containers are the only ones.
mine="$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | wc -l)"
if [ "$(docker ps -aq | wc -l)" -eq "$mine" ]; then
    for p in "${PIDS[@]:1}"; do kill "$p" 2>/dev/null || true; done
    sleep 2
    docker exec "$WEB" rm -f /tmp/sick
    "$APP" unsnooze "$WORKER" >/dev/null
    sleep 3
    (unset SICKBAY_CONFIG; HOME="$WORK/first" XDG_CONFIG_HOME="$WORK/first/config" \
        SICKBAY_DATA_DIR="$WORK/first/data" exec "$APP" --open-dashboard >"$WORK/first.log" 2>&1) &
    PIDS+=($!)
    sleep 8
    xdotool mousemove 1090 790
    import -window root "$WORK/root.png"
    convert "$WORK/root.png" -crop 1100x760+0+0 +repage "$OUT/dashboard-setup.png"
    echo "screenshots: $OUT/dashboard-setup.png"
else
    echo "screenshots: no picture of the first run's setup: the engine runs containers of others"
fi
echo "screenshots: $OUT/tray-menu.png $OUT/tray-containers.png $OUT/tray-container-actions.png $OUT/dashboard.png $OUT/dashboard-log.png $OUT/dashboard-settings.png"
