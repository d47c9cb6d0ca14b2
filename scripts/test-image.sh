#!/usr/bin/env bash
# Builds the local Docker image `sickbay-test:latest` that Sickbay's integration tests run.
#
# The image holds nothing but a static BusyBox (Debian's `busybox-static` package) with a
# symlink for every applet in /bin, so `sh`, `httpd`, `nc`, `wget`, `sleep`... all work,
# and it is made with `docker import`: no registry is needed, nothing is pulled.
#
# Idempotent: the image carries a label hashing the BusyBox binary and this script; when an
# image with the same label already exists the script prints its id and exits at once.
#
# Usage: scripts/test-image.sh        (needs Docker; root, or sudo, only to install busybox-static)
# Environment: SICKBAY_TEST_IMAGE overrides the image name (default sickbay-test:latest).
set -euo pipefail

IMAGE="${SICKBAY_TEST_IMAGE:-sickbay-test:latest}"
LABEL_KEY="dev.sickbay.test-image.content"
BUSYBOX=/bin/busybox

log() { printf 'test-image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

command -v docker >/dev/null 2>&1 || die "docker is not installed"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 \
    || die "cannot reach the Docker daemon (is it running, and may this user use it?)"

# 1. BusyBox, from Debian's busybox-static package.
if [ ! -x "$BUSYBOX" ]; then
    command -v apt-get >/dev/null 2>&1 || die "$BUSYBOX is missing and apt-get is not available"
    log "installing busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y busybox-static; then
        log "install failed; running apt-get update and trying again"
        as_root apt-get update
        as_root apt-get install -y busybox-static
    fi
fi
[ -x "$BUSYBOX" ] || die "$BUSYBOX is still missing after installing busybox-static"

# 2. Up to date already?
script_path="${BASH_SOURCE[0]}"
content="$(cat "$BUSYBOX" "$script_path" | sha256sum | cut -d' ' -f1)"
existing="$(docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$IMAGE" 2>/dev/null || true)"
old_id="$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
if [ -n "$old_id" ] && [ "$existing" = "$content" ]; then
    docker image inspect --format '{{.Id}}' "$IMAGE"
    exit 0
fi

# 3. The root filesystem.
log "building $IMAGE"
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
rootfs="$workdir/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/var/www" "$rootfs/cache" "$rootfs/root" "$rootfs/tmp"
chmod 755 "$rootfs" "$rootfs/bin" "$rootfs/etc" "$rootfs/var" "$rootfs/var/www" "$rootfs/cache" "$rootfs/root"
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
chmod 755 "$rootfs/bin/busybox"
applets=0
while IFS= read -r applet; do
    case "$applet" in
        "" | busybox | */*) continue ;;
    esac
    ln -s busybox "$rootfs/bin/$applet"
    applets=$((applets + 1))
done < <("$BUSYBOX" --list)
[ "$applets" -gt 0 ] || die "busybox --list printed no applets"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\n' >"$rootfs/etc/group"
chmod 644 "$rootfs/etc/passwd" "$rootfs/etc/group"

# 4. Import it. Files are stored as root whoever runs this script.
tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -c . \
    | docker import \
        --change 'CMD ["/bin/sh"]' \
        --change 'ENV PATH=/bin' \
        --change "LABEL $LABEL_KEY=$content" \
        --message "busybox-static with $applets applets, for Sickbay's tests" \
        - "$IMAGE" >/dev/null
new_id="$(docker image inspect --format '{{.Id}}' "$IMAGE")"
# Drop the outdated image unless a container still uses it.
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi
echo "$new_id"
