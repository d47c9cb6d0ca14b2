#!/usr/bin/env bash
# Builds the container image of headless Sickbay (`Dockerfile`): a root filesystem holding
# only the program, the shared libraries it links (as `ldd` lists them) and the CA
# certificates, then `docker build` on it. No registry: nothing is pulled.
#
# Usage: scripts/image.sh [--binary PATH] [--tag NAME] [--save FILE.tar.gz]
#   --binary  a headless `sickbay` to put in it (default: built here, release, without the
#             tray app: cargo build --release --no-default-features)
#   --tag     the image's name (default sickbay:<version>, also tagged sickbay:latest)
#   --save    also write the image as a gzipped `docker save` archive (for `docker load`)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

binary="" tag="" save=""
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --tag) tag="$2"; shift 2 ;;
        --save) save="$2"; shift 2 ;;
        *) die "unknown argument $1 (see the script's first lines)" ;;
    esac
done
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
command -v docker >/dev/null 2>&1 || die "docker is not installed"
certs=/etc/ssl/certs/ca-certificates.crt
[ -f "$certs" ] || die "$certs is missing (Debian's ca-certificates package)"

if [ -z "$binary" ]; then
    log "building headless sickbay (release)"
    cargo build --release --no-default-features --quiet
    binary="${CARGO_TARGET_DIR:-target}/release/sickbay"
fi
[ -x "$binary" ] || die "$binary is not an executable"
links="$(ldd "$binary")"
if grep -qiE 'gtk|webkit' <<< "$links"; then
    die "$binary is the tray app: the image takes the headless build (--no-default-features)"
fi

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
root="$ctx/rootfs"
mkdir -p "$root/usr/bin" "$root/etc/ssl/certs" "$root/data" "$root/etc/sickbay" "$root/tmp" "$root/run/lock"
chmod 1777 "$root/tmp" "$root/run/lock"
# Debug symbols are no use in the image.
strip --strip-debug -o "$root/usr/bin/sickbay" "$binary"
# Every library the loader maps, at the path it maps it from (the loader itself too).
grep -oE '/[^ ]+' <<< "$links" | sort -u | while read -r lib; do
    cp --parents -L "$lib" "$root"
done
cp -L "$certs" "$root/etc/ssl/certs/ca-certificates.crt"
printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
printf 'root:x:0:0:root:/data:/usr/bin/sickbay\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
cp Dockerfile "$ctx/Dockerfile"

tag="${tag:-sickbay:$version}"
log "docker build -t $tag"
docker build --quiet -t "$tag" "$ctx" >/dev/null
case "$tag" in sickbay:*) docker tag "$tag" sickbay:latest ;; esac
if [ -n "$save" ]; then
    docker save "$tag" | gzip -9 > "$save"
    log "saved $save"
fi
docker image inspect -f '{{.Id}} {{.Size}}' "$tag" | awk -v t="$tag" '{printf "image: %s %s, %.1f MB\n", t, $1, $2/1e6}'
