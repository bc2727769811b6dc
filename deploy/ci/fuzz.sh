#!/usr/bin/env bash
# Fuzzing: builds the cargo-fuzz targets of fuzz/ and runs each for a bounded time,
# seeded from the committed corpus in fuzz/corpus/<target>/. New inputs go to a
# temporary copy, so the committed corpus stays as it is. A crash, a panic, a timeout or
# an out-of-memory input fails the step, after every target has had its turn; the input
# is kept under fuzz/artifacts/<target>/ and printed.
#
# FUZZ_SECONDS: seconds per target (default 45). FUZZ_TARGETS: the targets to run
# (default: all of them). FUZZ_TOOLCHAIN: `nightly` or `stable` (default: nightly when
# installed; cargo-fuzz's compiler flags are nightly-only, so stable runs with
# RUSTC_BOOTSTRAP=1).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${FUZZ_SECONDS:-45}"
targets="${FUZZ_TARGETS:-blob event csv request}"
cargo_fuzz_version=0.13.1

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

toolchain="${FUZZ_TOOLCHAIN:-}"
if [ -z "$toolchain" ]; then
    if grep -q '^nightly' <<<"$(rustup toolchain list)"; then toolchain=nightly; else toolchain=stable; fi
fi
case "$toolchain" in
nightly) repro="cargo +nightly fuzz" ;;
stable)
    export RUSTC_BOOTSTRAP=1
    repro="RUSTC_BOOTSTRAP=1 cargo +stable fuzz"
    ;;
*)
    echo "FUZZ_TOOLCHAIN must be nightly or stable, not '$toolchain'" >&2
    exit 2
    ;;
esac
fuzz=(cargo "+$toolchain" fuzz)
echo "$(cargo fuzz --version) on $(rustc "+$toolchain" --version)"

"${fuzz[@]}" build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
for target in $targets; do
    mkdir -p "$work/corpus/$target" "$work/artifacts/$target"
    log="$work/$target.log"
    started=$SECONDS
    # The temporary corpus comes first: libFuzzer adds the inputs it finds to the first one.
    if "${fuzz[@]}" run "$target" "$work/corpus/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
        runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
        rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
        added="$(sed -n 's/^stat::new_units_added: *//p' "$log")"
        echo "fuzz $target: ${runs:-?} runs in $((SECONDS - started)) s (${rate:-?}/s), ${added:-?} new inputs, no crash"
    else
        failed+=("$target")
        echo "fuzz $target: FAILED after $((SECONDS - started)) s; the end of its log:"
        tail -n 60 "$log"
        mkdir -p "fuzz/artifacts/$target"
        for input in "$work/artifacts/$target"/*; do
            [ -e "$input" ] || continue
            cp "$input" "fuzz/artifacts/$target/"
            echo "crashing input: fuzz/artifacts/$target/$(basename "$input") ($(wc -c <"$input") bytes):"
            od -A d -t x1z -v "$input" | head -n 64
            echo "reproduce: $repro run $target fuzz/artifacts/$target/$(basename "$input")"
        done
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]}" >&2
    exit 1
fi
