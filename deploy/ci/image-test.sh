#!/usr/bin/env bash
# The images as a board's user builds them: deploy/Dockerfile's own stages, from locally
# made stand-ins for its two base images (stand-ins.sh), since no registry is reachable.
#
#   1. linux/amd64: the three images built natively by the release bake file
#      (docker-bake.hcl; `docker compose build` runs the same stages), and
#      compose-test.sh runs the whole topology on them;
#   2. linux/arm64: the three images cross-built, with no emulator for aarch64 registered
#      while they build (binfmt_misc's entry off): nothing runs on the target platform;
#      every binary is aarch64, gateway and plotter static;
#   3. with qemu-aarch64 registered (binfmt_misc), compose-test.sh brings the topology up
#      with the arm64 images (nats and the store native) and renders once.
#
# Prints each build's time and each image's size. Removes every image it made and leaves
# binfmt_misc as it found it, also on failure.
#
# Needs an x86_64 host, root (binfmt_misc), what compose-test.sh and stand-ins.sh need,
# buildx, file, and qemu-user-static's binfmt entry (/usr/lib/binfmt.d/qemu-aarch64.conf);
# .ci/run installs them.
set -euo pipefail
cd "$(dirname "$0")/../.."

run_id="img$$"
binfmt=/proc/sys/fs/binfmt_misc
entry="$binfmt/qemu-aarch64"
made_mount=
made_entry=
entry_was=
images=()
work="$(mktemp -d)"

log() { printf '[image-test %(%T)T] %s\n' -1 "$*"; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
    local rc=$?
    trap - EXIT
    set +e
    for image in "${images[@]}"; do docker image rm -f "$image" >/dev/null 2>&1; done
    rm -rf "$work"
    if [ -n "$made_entry" ]; then
        echo -1 >"$entry" || log "could not remove the qemu-aarch64 entry of binfmt_misc"
    elif [ -n "$entry_was" ]; then
        echo "$entry_was" >"$entry" || log "could not restore the qemu-aarch64 entry of binfmt_misc"
    fi
    if [ -n "$made_mount" ]; then
        umount "$binfmt" || log "could not unmount binfmt_misc"
    fi
    if [ "$rc" -eq 0 ]; then log "passed"; else log "failed"; fi
    exit "$rc"
}
trap cleanup EXIT
# A signal exits through the cleanup too, so the emulator is never left switched off.
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Whether the kernel would run an aarch64 binary through an emulator.
emulating() { [ -e "$entry" ] && head -n1 "$entry" | grep -qx enabled; }

if [ -e "$entry" ]; then
    entry_was="$(head -n1 "$entry" | sed 's/enabled/1/; s/disabled/0/')"
fi

log "stand-ins for the base images"
images+=("waveplot-ci/debian:trixie-amd64-$run_id" "waveplot-ci/debian:trixie-arm64-$run_id"
    "waveplot-ci/rust:trixie-$run_id")
made="$(bash deploy/ci/stand-ins.sh "$run_id")" || fail "stand-ins.sh"
mapfile -t stand_ins <<<"$made"
[ "${#stand_ins[@]}" -eq 3 ] || fail "stand-ins.sh made: ${stand_ins[*]}"
debian_amd64="${stand_ins[0]}" debian_arm64="${stand_ins[1]}" rust="${stand_ins[2]}"

# The release profile's optimisation and debug information in these images. They are
# built to check the stages and the topology, not the code's speed: opt-level 1 and no
# debug information spare most of LLVM's work, the larger part of a release build. Set
# WAVEPLOT_IMAGE_OPT_LEVEL=3 WAVEPLOT_IMAGE_DEBUG=line-tables-only for the images a
# board builds.
opt_level="${WAVEPLOT_IMAGE_OPT_LEVEL:-1}"
debug="${WAVEPLOT_IMAGE_DEBUG:-0}"

# build ARCH DEBIAN_IMAGE: the three images for linux/ARCH, tagged ARCH-RUN_ID, by the
# release bake file, for one platform into the local engine.
build() {
    local arch="$1" start=$SECONDS
    for target in prepare plotter gateway; do images+=("waveplot/$target:$arch-$run_id"); done
    if ! REGISTRY=waveplot TAG="$arch-$run_id" docker buildx bake --builder default --progress plain \
        -f deploy/docker-bake.hcl --set "*.platform=linux/$arch" \
        --set "*.args.RUST_IMAGE=$rust" --set "*.args.DEBIAN_IMAGE=$2" \
        --set "*.args.CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt_level" \
        --set "*.args.CARGO_PROFILE_RELEASE_DEBUG=$debug" --load >"$work/$arch.log" 2>&1; then
        tail -n 60 "$work/$arch.log"
        fail "the linux/$arch build"
    fi
    log "    linux/$arch: built in $((SECONDS - start)) s"
    docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep ":$arch-$run_id " | sed 's/^/    /'
}

# check_binaries ARCH: each image's binary is for ARCH; gateway and plotter are static.
check_binaries() {
    local arch="$1" want container kind
    want="$([ "$arch" = arm64 ] && echo 'ARM aarch64' || echo 'x86-64')"
    for target in prepare plotter gateway; do
        container="$(docker create --platform "linux/$arch" "waveplot/$target:$arch-$run_id")"
        if ! docker cp "$container:/usr/local/bin/$target" "$work/$target" >/dev/null; then
            docker rm "$container" >/dev/null
            fail "no /usr/local/bin/$target in waveplot/$target:$arch-$run_id"
        fi
        docker rm "$container" >/dev/null
        kind="$(file -L "$work/$target")"
        [[ "$kind" == *"$want"* ]] || fail "$target for $arch is: $kind"
        if [ "$target" != prepare ] && [[ "$kind" == *"dynamically linked"* ]]; then
            fail "$target for $arch is not static: $kind"
        fi
    done
    log "    linux/$arch: the binaries are $want; gateway and plotter static"
}

log "linux/amd64, built natively through the Dockerfile's stages"
build amd64 "$debian_amd64"
check_binaries amd64
WAVEPLOT_TAG="amd64-$run_id" WAVEPLOT_CI_BASE="$debian_amd64" bash deploy/ci/compose-test.sh

log "linux/arm64, cross-built with no emulator registered"
if emulating; then
    echo 0 >"$entry"
fi
build arm64 "$debian_arm64"
check_binaries arm64

log "the arm64 images under qemu-aarch64 (binfmt_misc)"
if ! mountpoint -q "$binfmt"; then
    mount -t binfmt_misc binfmt_misc "$binfmt"
    made_mount=1
fi
if [ -e "$entry" ]; then
    echo 1 >"$entry"
else
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register"
    made_entry=1
fi
emulating || fail "qemu-aarch64 is not registered with binfmt_misc"
WAVEPLOT_TAG="arm64-$run_id" WAVEPLOT_CI_BASE="$debian_amd64" WAVEPLOT_CI_SCOPE=first-render \
    bash deploy/ci/compose-test.sh
