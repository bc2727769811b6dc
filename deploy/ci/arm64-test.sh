#!/usr/bin/env bash
# arm64 breakage caught before a board sees it: cross-compile the workspace for
# aarch64-unknown-linux-gnu with Debian's cross gcc and run its tests under
# qemu-aarch64-static (user-mode emulation, so the tests start the arm64 service binaries
# and the host's own nats-server and s3s-fs exactly as on x86_64), the Vulkan pass on
# Debian's arm64 lavapipe included.
#
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static, the Rust target
# and the multiarch libc6:arm64, libvulkan1:arm64 and mesa-vulkan-drivers:arm64 (.ci/run
# installs them). The test binaries go through cargo's runner; the arm64 service binaries
# they spawn as child processes run through binfmt_misc. Both find the arm64 loader and
# libraries where a native arm64 Debian has them (/lib/ld-linux-aarch64.so.1,
# /usr/lib/aarch64-linux-gnu), so qemu gets no -L prefix: -L with the cross toolchain's
# loader in front of the multiarch libc makes qemu spin forever at the first thread.
set -euo pipefail
cd "$(dirname "$0")/../.."

triple=aarch64-unknown-linux-gnu
# Debian's arm64 lavapipe: the only driver the loader may use, so the Vulkan tests fail
# (they never skip) unless the emulated pass really runs on it.
lavapipe=/usr/share/vulkan/icd.d/lvp_icd.aarch64.json

for file in /lib/ld-linux-aarch64.so.1 "$lavapipe"; do
    if [ ! -e "$file" ]; then
        echo "missing $file: install libc6:arm64 libvulkan1:arm64 mesa-vulkan-drivers:arm64" >&2
        exit 1
    fi
done

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    # Debian's qemu-user-static registration for aarch64 ELF executables.
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:/usr/bin/qemu-aarch64-static:F' \
        >/proc/sys/fs/binfmt_misc/register
else
    # On, even if a build that must not emulate (image-test.sh) was cut short.
    echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
export VK_DRIVER_FILES="$lavapipe"

# The gateway's system tests give a whole topology of emulated debug binaries render
# deadlines of 3-30 s, which user-mode emulation on two cores cannot meet (the charts
# come, just late), and the single-process tests (browser, http) wait on an emulated debug stack that
# is too slow for them, and the bench's fault suite injects outages into such a stack
# against deadlines of seconds: all three run natively in the main test step. Everything else runs
# here, including the tests that start the arm64 service binaries and the Vulkan tests.
# The Vulkan tests run after the rest, on their own: the emulated million-sample pass
# keeps a core busy for about 5 minutes, and beside it the Binance client tests (whose
# fake server answers within a few hundred milliseconds) would time out.
vulkan='package(waveplot-gpu) or (package(waveplot-prepare) and test(/backend_vulkan/))'
cargo nextest run --workspace --locked --no-fail-fast --target "$triple" \
    -E "not (package(waveplot-gateway) and binary(system))
        and not (package(waveplot-standalone) and kind(test))
        and not (package(waveplot-bench) and kind(test)) and not ($vulkan)" "$@"
cargo nextest run --workspace --locked --no-fail-fast --target "$triple" -E "$vulkan" "$@"
