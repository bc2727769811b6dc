#!/usr/bin/env bash
# Docker's Compose v2 and buildx plugins for a Debian or Armbian bookworm host, whose own
# packages lack them (bookworm's docker-compose is Compose v1, and it has no buildx):
# trixie's docker-compose and docker-buildx, plain Go binaries that need only libc6, are
# fetched with apt through a private state directory (the host's apt sources and package
# list stay untouched) and installed to /usr/local/lib/docker/cli-plugins. Bookworm's
# docker.io engine (20.10) works with them. On trixie, `apt install docker-compose
# docker-buildx` instead. CI installs its plugins with this too.
#
# Usage (as root): bash deploy/compose-plugins.sh   (DEBIAN_MIRROR=URL to name the mirror)
set -euo pipefail

plugins=/usr/local/lib/docker/cli-plugins
apt_dir="$(mktemp -d)"
trap 'rm -rf "$apt_dir"' EXIT
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/x" "$plugins"
# The host's own Debian mirror (deb822 or one-line sources, comments skipped), or
# DEBIAN_MIRROR.
mirror="${DEBIAN_MIRROR:-$({ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null || true; } |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v 'download.docker.com' | head -n1 | tr -d ' ' || true)}"
printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "${mirror:-http://deb.debian.org/debian}" >"$apt_dir/trixie.sources"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/trixie.sources" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o Dir::State::status=/dev/null
    -o APT::Sandbox::User=root -o "APT::Architectures=$(dpkg --print-architecture)")
apt-get "${apt_opts[@]}" update -qq
(cd "$apt_dir" && apt-get "${apt_opts[@]}" download -qq docker-compose docker-buildx)
for deb in "$apt_dir"/*.deb; do dpkg-deb -x "$deb" "$apt_dir/x"; done
install -m 755 "$apt_dir"/x/usr/libexec/docker/cli-plugins/docker-{compose,buildx} "$plugins/"
docker compose version
docker buildx version
