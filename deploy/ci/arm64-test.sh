#!/usr/bin/env bash
# arm64 breakage caught before a board sees it: cross-compile the workspace for
# aarch64-unknown-linux-gnu with Debian's cross gcc and run its tests under
# qemu-aarch64-static (user-mode emulation, so the tests start the arm64 service binaries
# and the host's own nats-server and s3s-fs exactly as on x86_64).
#
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static and the Rust
# target (.ci/run installs them). The tests spawn the arm64 service binaries as child
# processes, which the kernel runs through binfmt_misc; the test binaries themselves go
# through cargo's runner.
set -euo pipefail
cd "$(dirname "$0")/../.."

triple=aarch64-unknown-linux-gnu
# Only the cross toolchain's libc, no multiarch libc6:arm64: mixing the two makes qemu's
# -L loader spin forever at the first thread (a known glibc/qemu trap).
sysroot=/usr/aarch64-linux-gnu

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # Debian's qemu-user-static registration for aarch64 ELF executables.
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
        >/proc/sys/fs/binfmt_misc/register
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64-static -L $sysroot"
# Children started through binfmt_misc find the arm64 loader and libc here.
export QEMU_LD_PREFIX="$sysroot"

# The gateway's system tests give a whole topology of emulated debug binaries render
# deadlines of 3-30 s, which user-mode emulation on two cores cannot meet (the charts
# come, just late): they run natively in the main test step. Everything else runs here,
# including the tests that start the arm64 service binaries.
# Left out as well: the Vulkan tests (they need the arm64 Vulkan loader and Mesa, whose
# multiarch packages would bring the second libc that makes qemu hang) and the browser
# tests (an emulated debug standalone stack is too slow for their waits).
cargo nextest run --workspace --locked --no-fail-fast --target "$triple" \
    -E 'not (package(waveplot-gateway) and (binary(system) or binary(browser)))
        and not package(waveplot-gpu)
        and not (package(waveplot-prepare) and test(/backend_vulkan/))' "$@"
