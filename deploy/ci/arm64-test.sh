#!/usr/bin/env bash
# The numerical core on arm64, before a board sees it: cross-compile the crates that
# compute and encode (waveplot-wavelet, waveplot-gpu, waveplot-protocol) for
# aarch64-unknown-linux-gnu with Debian's cross gcc and run their tests under
# qemu-aarch64-static, the Vulkan pass on Debian's arm64 lavapipe included. The services
# on arm64 are image-test.sh's part: it cross-builds the arm64 images through the
# Dockerfile and runs their compose topology under qemu to a first render; compiling and
# emulating the services' own tests here as well put CI too close to its time limit.
#
# Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static, the Rust target
# and the multiarch libc6:arm64, libvulkan1:arm64 and mesa-vulkan-drivers:arm64 (.ci/run
# installs them). No binfmt_misc entry is needed: the test binaries spawn no arm64
# program, and they go through cargo's runner (qemu-aarch64-static), which finds the
# arm64 loader and libraries where a native arm64 Debian has them (/lib/ld-linux-aarch64.so.1,
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

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static
export VK_DRIVER_FILES="$lavapipe"

# About 2 minutes on the 2-core CI machine: 76 s to compile, 40 s of tests (the emulated
# million-sample GPU test is the longest, 39 s).
cargo nextest run --locked --no-fail-fast --target "$triple" \
    -p waveplot-wavelet -p waveplot-gpu -p waveplot-protocol "$@"
