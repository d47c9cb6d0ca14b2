#!/usr/bin/env bash
# Builds every way to install Sickbay into dist/, with SHA256SUMS:
#   sickbay_<v>_amd64.deb, sickbay-<v>-1.x86_64.rpm                the tray app (applications menu)
#   sickbay-headless_<v>_amd64.deb, sickbay-headless-<v>-1.x86_64.rpm   `sickbay watch` as a
#                                                                  systemd service, no GTK/WebKit
#   sickbay-<v>-linux-x86_64                                      the headless program alone
#   sickbay-image-<v>.tar.gz                                      the container image (docker load)
# The packages are made by cargo-deb and cargo-generate-rpm (installed from crates.io when
# missing; neither downloads anything while it builds). Release builds: about 15 minutes on
# two cores from a cold cache. scripts/test-packages.sh then installs and tries them.
#
# Usage: scripts/release.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
log() { printf '\n==> release: %s\n' "$*"; }

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
target="${CARGO_TARGET_DIR:-target}"
dist=dist

log "system packages (build and runtime)"
bash scripts/setup.sh
for tool in cargo-deb cargo-generate-rpm; do
    command -v "$tool" >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/$tool" ] \
        || cargo install --locked "$tool"
done
export PATH="$HOME/.cargo/bin:$PATH"

rm -rf "$dist"
mkdir -p "$dist"

# Both builds write $target/release/sickbay: each is packaged before the next build.
log "the tray app: release build, .deb and .rpm"
cargo deb --output "$dist/"
cargo generate-rpm --output "$dist/"

log "headless: release build, .deb and .rpm, the program alone"
cargo deb --variant headless --output "$dist/"
cargo generate-rpm --variant headless --output "$dist/"
cp "$target/release/sickbay" "$dist/sickbay-$version-linux-x86_64"

log "the container image"
bash scripts/image.sh --binary "$target/release/sickbay" --tag "sickbay:$version" \
    --save "$dist/sickbay-image-$version.tar.gz"

(cd "$dist" && sha256sum -- * > SHA256SUMS)
log "done"
ls -l "$dist"
