#!/usr/bin/env bash
# Installs what building and running Sickbay needs on Debian 12 / Ubuntu 22.04 and later.
#
# Usage: scripts/setup.sh [--test | --headless]
#   (no argument)  build packages (Tauri 2: WebKitGTK 4.1, AppIndicator, ...) and runtime packages
#   --test         also what the test suites use: busybox-static (scripts/test-image.sh),
#                  PostgreSQL, a headless X session with a tray and a notification daemon
#                  (Xvfb, trayer, dunst), WebDriver for WebKitGTK, ImageMagick, xdotool, ...
#   --headless     only what `cargo build --no-default-features` needs (no GTK, no WebKit)
#
# Runs apt-get as root, or through sudo otherwise. Idempotent: when every package is installed
# already it does not touch apt at all and returns at once.
set -euo pipefail

BUILD_PACKAGES=(
    build-essential
    pkg-config
    file
    libssl-dev
    libwebkit2gtk-4.1-dev
    libayatana-appindicator3-dev
    librsvg2-dev
    libxdo-dev
)
HEADLESS_PACKAGES=(
    build-essential
    pkg-config
)
RUNTIME_PACKAGES=(
    libayatana-appindicator3-1
)
TEST_PACKAGES=(
    busybox-static
    postgresql
    xvfb
    xauth
    dbus-x11
    dunst
    libnotify-bin
    webkit2gtk-driver
    systemd
    desktop-file-utils
    xterm
    imagemagick
    xdotool
    x11-utils
    trayer
    curl
    docker-compose
    python3-venv
    iproute2
    gnome-keyring
    libsecret-tools
)

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }

with_tests=0
headless=0
for arg in "$@"; do
    case "$arg" in
        --test) with_tests=1 ;;
        --headless) headless=1 ;;
        -h | --help) usage; exit 0 ;;
        *) printf 'setup: unknown argument: %s\n' "$arg" >&2; usage >&2; exit 2 ;;
    esac
done

# The tests build the tray app too, so --test wins over --headless.
if [ "$with_tests" -eq 1 ]; then
    wanted=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
elif [ "$headless" -eq 1 ]; then
    wanted=("${HEADLESS_PACKAGES[@]}")
else
    wanted=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}")
fi

command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 || {
    printf 'setup: this script needs a Debian or Ubuntu system (dpkg and apt-get)\n' >&2
    exit 1
}

# One dpkg-query for all packages; unknown packages only print to stderr.
declare -A installed=()
while read -r name status; do
    if [ "$status" = "install ok installed" ]; then
        installed["$name"]=1
    fi
done < <(dpkg-query -W -f='${Package} ${Status}\n' "${wanted[@]}" 2>/dev/null || true)

missing=()
for pkg in "${wanted[@]}"; do
    [ -n "${installed[$pkg]:-}" ] || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    printf 'setup: all %d packages are installed\n' "${#wanted[@]}"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    apt() { DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
elif command -v sudo >/dev/null 2>&1; then
    apt() { sudo env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
else
    printf 'setup: need root or sudo to install: %s\n' "${missing[*]}" >&2
    exit 1
fi

printf 'setup: installing %s\n' "${missing[*]}"
apt update
apt install -y "${missing[@]}"
printf 'setup: done\n'
