#!/usr/bin/env bash
# Locally made stand-ins for the base images deploy/Dockerfile pulls, for a machine that
# reaches Debian's mirror and crates.io but no image registry:
#
#   waveplot-ci/debian:trixie-amd64-TAG   for debian:trixie-slim on linux/amd64
#   waveplot-ci/debian:trixie-arm64-TAG   the same for linux/arm64, made without emulation
#                                         (mmdebstrap's chrootless mode)
#   waveplot-ci/rust:trixie-TAG           for rust:1.95.0-slim-trixie on linux/amd64: trixie
#                                         with gcc, libc6-dev and ca-certificates, and this
#                                         machine's Rust toolchain (its aarch64 target too)
#                                         where the official image has it
#
# Debian's base is minbase, a few packages more than the slim image. The Rust image trusts
# this machine's CA bundle: HTTPS from a container here is trusted only with it. One image
# per architecture and tag, as the engine's image store keeps one platform per tag: pass
# DEBIAN_IMAGE for the target and RUST_IMAGE to the build (`docker buildx build
# --build-arg ...`).
#
# Usage: stand-ins.sh TAG    (prints the three image names, one a line)
# Needs an x86_64 host with docker (buildx), mmdebstrap and rustup, whose default
# toolchain is the Rust version of the Dockerfile's RUST_IMAGE. DEBIAN_MIRROR overrides
# the Debian mirror, else the first one the host's apt sources name.
set -euo pipefail
cd "$(dirname "$0")/../.."

tag="${1:?usage: stand-ins.sh TAG}"
# The official image's version (rust:1.95.0-slim-trixie): the toolchain must match it.
toolchain="$(sed -n 's/^ARG RUST_IMAGE=.*rust:\([0-9.]*\)-.*/\1/p' deploy/Dockerfile)"
have="$(rustc --version | cut -d' ' -f2)"
[ "$have" = "$toolchain" ] || {
    echo "stand-ins.sh: the default Rust toolchain is $have, the Dockerfile's image has $toolchain" >&2
    exit 1
}
mirror="${DEBIAN_MIRROR:-$({ grep -hvE '^[[:space:]]*#' /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null || true; } |
    grep -oE 'https?://[^ ]+/debian/?( |$)' | grep -v 'download.docker.com' | head -n1 | tr -d ' ' || true)}"
mirror="${mirror:-http://deb.debian.org/debian}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Makes image $1 for linux/$2 from the root file system tar on standard input, with the
# Dockerfile lines that follow. `docker import` would do, but before Engine 23 it records
# the engine's architecture whatever the tar holds; a build from scratch runs nothing.
image() {
    local name="$1" arch="$2"
    shift 2
    rm -rf "$work/context"
    mkdir "$work/context"
    cat >"$work/context/rootfs.tar"
    printf '%s\n' "FROM scratch" "ADD rootfs.tar /" "$@" >"$work/context/Dockerfile"
    docker buildx build --builder default --quiet --platform "linux/$arch" -t "$name" --load "$work/context" >/dev/null
    echo "$name"
}

debian() {
    mmdebstrap --quiet --mode=chrootless --variant=minbase --architectures="$1" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        trixie - "$mirror" | image "waveplot-ci/debian:trixie-$1-$tag" "$1" 'CMD ["bash"]'
}

rust() {
    local from
    from="$(rustc --print sysroot)"
    if [ ! -d "$from/lib/rustlib/aarch64-unknown-linux-gnu" ]; then
        rustup target add aarch64-unknown-linux-gnu >&2
    fi
    # The toolchain without its documentation; rustup and its proxies from this machine.
    mmdebstrap --quiet --variant=minbase --include=ca-certificates,gcc,libc6-dev \
        --customize-hook="mkdir -p \"\$1/usr/local/rustup/toolchains\" \"\$1/usr/local/cargo/bin\"" \
        --customize-hook="cp -a '$from/.' \"\$1/usr/local/rustup/toolchains/$toolchain-x86_64-unknown-linux-gnu\"" \
        --customize-hook="rm -rf \"\$1/usr/local/rustup/toolchains/$toolchain-x86_64-unknown-linux-gnu/share/doc\"" \
        --customize-hook="printf 'version = \"12\"\\ndefault_toolchain = \"$toolchain-x86_64-unknown-linux-gnu\"\\nprofile = \"minimal\"\\n' > \"\$1/usr/local/rustup/settings.toml\"" \
        --customize-hook="cp '$(command -v rustup)' \"\$1/usr/local/cargo/bin/rustup\"" \
        --customize-hook="for p in cargo rustc rustdoc; do ln -s rustup \"\$1/usr/local/cargo/bin/\$p\"; done" \
        --customize-hook="cp /etc/ssl/certs/ca-certificates.crt \"\$1/etc/ssl/certs/ca-certificates.crt\"" \
        --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
        trixie - "$mirror" |
        image "waveplot-ci/rust:trixie-$tag" amd64 \
            'ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo' \
            'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            'CMD ["bash"]'
}

debian amd64
debian arm64
rust
