#!/usr/bin/env bash
# Installs and tries what scripts/release.sh put in dist/, on this machine, then removes it:
#   the tray app's .deb: installs with apt-get, runs from /usr/bin (--version, doctor, and the
#     app itself in a virtual display: its dashboard renders), its desktop entry passes
#     desktop-file-validate, its icons and manual page are in place, and it uninstalls leaving
#     nothing behind;
#   the headless .deb: its unit passes systemd-analyze verify (installed, with its manual page)
#     and its command line runs as the unit writes it (here with a configuration that watches
#     no container: the machine's containers are not this script's), purged afterwards;
#   the .rpm files: their contents and requirements listed (rpm -qp: Debian can read them);
#   the image archive: docker load, then the image runs (--version) and is removed.
# Needs root (apt-get, dpkg). Writes its report to dist/test-packages.txt.
#
# Usage: scripts/test-packages.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dist=dist
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
report="$dist/test-packages.txt"
[ "$(id -u)" -eq 0 ] || { echo "test-packages: run as root (apt-get, dpkg)" >&2; exit 1; }
[ -f "$dist/SHA256SUMS" ] || { echo "test-packages: no $dist/: run scripts/release.sh" >&2; exit 1; }
# What it installs and removes must not be there already (it is not this script's to remove).
for pkg in sickbay sickbay-headless; do
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        echo "test-packages: $pkg is installed on this machine: remove it first" >&2; exit 1
    fi
done
# The image's tag is removed afterwards only when this script made it (release.sh tags it too).
had_image=0
docker image inspect "sickbay:$version" >/dev/null 2>&1 && had_image=1
exec > >(tee "$report") 2>&1
step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'FAILED: %s\n' "$*"; exit 1; }
export DEBIAN_FRONTEND=noninteractive
tmp="$(mktemp -d)"
cleanup() {
    apt-get purge -y -q sickbay sickbay-headless >/dev/null 2>&1 || true
    [ "$had_image" -eq 1 ] || docker rmi -f "sickbay:$version" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

date -u +"%Y-%m-%dT%H:%M:%SZ on $(. /etc/os-release; echo "$PRETTY_NAME")"
step "checksums"
(cd "$dist" && sha256sum -c SHA256SUMS)
apt-get install -y -q desktop-file-utils rpm systemd man-db util-linux xvfb xauth dbus-x11 \
    xdotool imagemagick >/dev/null

step "the tray app's .deb"
deb="$(ls "$dist"/sickbay_"$version"-*.deb)"
dpkg-deb --info "$deb" | sed -n '/Package:/,/Description:/p'
apt-get install -y -q "./$deb" | tail -1
[ "$(command -v sickbay)" = /usr/bin/sickbay ] || fail "sickbay is not /usr/bin/sickbay"
sickbay --version
HOME="$tmp/home" SICKBAY_DATA_DIR="$tmp/data" sickbay doctor || true
desktop-file-validate /usr/share/applications/sickbay.desktop || fail "the desktop entry"
echo "desktop entry: valid"
for size in 32 48 64 128 256 512; do
    [ -f "/usr/share/icons/hicolor/${size}x${size}/apps/sickbay.png" ] || fail "no ${size}px icon"
done
echo "icons: 32 48 64 128 256 512"
man -w sickbay
# The installed tray app, its dashboard open, in a virtual display of its own: the page (built
# into the program) renders. An engine it cannot reach, so it touches no container.
cat > "$tmp/gui.sh" <<'GUI'
export WEBKIT_DISABLE_COMPOSITING_MODE=1 WEBKIT_DISABLE_DMABUF_RENDERER=1 NO_AT_BRIDGE=1
/usr/bin/sickbay --open-dashboard > "$T/gui.log" 2>&1 &
pid=$!
for _ in $(seq 1 60); do
    xdotool search --name '^Sickbay$' >/dev/null 2>&1 && break
    sleep 0.5
done
sleep 4
import -window root "$T/dashboard.png"
kill "$pid"; wait "$pid" || true
GUI
T="$tmp" HOME="$tmp/home" SICKBAY_DATA_DIR="$tmp/gui-data" DOCKER_HOST="unix://$tmp/none.sock" \
    dbus-run-session -- xvfb-run -a -s "-screen 0 1280x800x24" bash "$tmp/gui.sh"
colors="$(convert "$tmp/dashboard.png" -crop 1100x700+0+0 -format %k info:)"
cp "$tmp/dashboard.png" "$dist/test-packages-dashboard.png"
[ "$colors" -gt 50 ] || fail "the dashboard did not render ($colors colours in its window)"
echo "the installed tray app's dashboard rendered ($colors colours; $dist/test-packages-dashboard.png)"
files="$(dpkg -L sickbay)"
apt-get remove -y -q sickbay | tail -1
[ ! -e /usr/bin/sickbay ] || fail "/usr/bin/sickbay is still there"
left=0
while read -r f; do [ -f "$f" ] && { echo "left behind: $f"; left=1; }; done <<< "$files"
[ "$left" -eq 0 ] || fail "files left behind"
echo "removed: nothing left behind"

step "the headless .deb"
deb="$(ls "$dist"/sickbay-headless_"$version"-*.deb)"
apt-get install -y -q "./$deb" | tail -1
sickbay --version
links="$(ldd /usr/bin/sickbay)"
! grep -qiE 'gtk|webkit' <<< "$links" || fail "the headless program links GTK or WebKit"
unit=/lib/systemd/system/sickbay.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/sickbay.service
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
echo "systemd-analyze verify $unit: ok"
systemd-analyze security --offline=yes "$unit" 2>/dev/null | tail -1
getent passwd sickbay >/dev/null || fail "no user sickbay"
echo "user: $(getent passwd sickbay)"
[ "$(stat -c '%U:%G %a' /etc/sickbay/sickbay.toml)" = "root:sickbay 640" ] \
    || fail "/etc/sickbay/sickbay.toml is $(stat -c '%U:%G %a' /etc/sickbay/sickbay.toml)"
echo "settings: /etc/sickbay/sickbay.toml (a conffile, root:sickbay 640)"
# The unit's command line as written, as its user and groups (User=, Group=,
# SupplementaryGroups=), with a configuration of this script's that watches no container.
printf '[monitoring]\nlabel_selector = ["sickbay.test-packages=none"]\n' > "$tmp/sickbay.toml"
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
mkdir -p "$tmp/data"
chown sickbay:sickbay "$tmp/data"
chmod 755 "$tmp"
env -i PATH=/usr/bin:/bin SICKBAY_CONFIG="$tmp/sickbay.toml" SICKBAY_DATA_DIR="$tmp/data" \
    setpriv --reuid=sickbay --regid=sickbay --groups=docker -- $exec_start > "$tmp/watch.log" 2>&1 &
pid=$!
healthy=0
for _ in $(seq 1 50); do
    if SICKBAY_CONFIG="$tmp/sickbay.toml" SICKBAY_DATA_DIR="$tmp/data" sickbay status --check 2>/dev/null; then
        healthy=1; break
    fi
    sleep 0.2
done
[ "$healthy" -eq 1 ] || { cat "$tmp/watch.log"; fail "not healthy within 10 s"; }
kill -HUP "$pid"; sleep 0.5; kill -0 "$pid" || fail "SIGHUP ended it"
kill -TERM "$pid"; wait "$pid" || fail "it did not stop cleanly on SIGTERM"
echo "ExecStart ($exec_start) as user sickbay in group docker: reached Docker, reloaded on SIGHUP, stopped cleanly on SIGTERM"
apt-get purge -y -q sickbay-headless | tail -1
[ ! -e "$unit" ] && [ ! -e /usr/bin/sickbay ] && [ ! -e /etc/sickbay/sickbay.toml ] \
    || fail "the headless package left files behind"
echo "purged: nothing left behind but the system user sickbay (Debian leaves system users)"

step "the .rpm files"
for rpm in "$dist"/*.rpm; do
    echo "$rpm"
    rpm -qp --queryformat '  %{NAME} %{VERSION}-%{RELEASE} %{ARCH}, %{SIZE} bytes\n' "$rpm" 2>/dev/null
    rpm -qpl "$rpm" 2>/dev/null | sed 's/^/  /'
    rpm -qpR "$rpm" 2>/dev/null | grep -v '^rpmlib' | sed 's/^/  requires /'
done

step "the container image"
docker load -i "$dist/sickbay-image-$version.tar.gz"
docker run --rm "sickbay:$version" --version || fail "the image does not run"
docker image inspect -f '{{.Size}}' "sickbay:$version" | awk '{printf "image size: %.1f MB\n", $1/1e6}'

step "all packages installed, ran and were removed"
