#!/usr/bin/env bash
# CI fuzzing: every cargo-fuzz target of this directory replays its seed
# corpus and its regressions, then runs for a bounded time. Fails on any
# crash, leak of a panic, or hang. Needs only the stable toolchain:
# RUSTC_BOOTSTRAP=1 lets it accept the nightly flags cargo-fuzz passes.
#
#   FUZZ_SECONDS   seconds of fuzzing per target (default 15; 0 = replay only)
#                  (cold, on two cores: about 4 minutes of build, then about
#                  FUZZ_SECONDS + 3 seconds per target)
#   FUZZ_TARGETS   space-separated targets (default: all of `cargo fuzz list`)
#
# New inputs found during the run go to a scratch directory, never into
# corpus/: growing the seed corpus is a decision made by hand (README.md).
set -euo pipefail
cd "$(dirname "$0")"

export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-15}

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

# No sanitizer: the code under test is safe Rust (unsafe_code is denied in
# the workspace); what the targets look for are panics, failed checks and
# hangs. 16 codegen units keep the cold build short.
build_flags=(--sanitizer none --codegen-units 16)

start=$(date +%s)
cargo fuzz build "${build_flags[@]}"
echo "fuzz build: $(($(date +%s) - start)) s"

targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

failed=()
for t in $targets; do
    mkdir -p "regressions/$t" "$scratch/$t"
    log="$scratch/$t.log"
    # Replay: every seed and regression input once.
    if ! cargo fuzz run "${build_flags[@]}" "$t" "corpus/$t" "regressions/$t" \
        -- -runs=0 -timeout=20 >"$log" 2>&1; then
        echo "== $t: replay FAILED"
        tail -n 40 "$log"
        failed+=("$t")
        continue
    fi
    if [ "$seconds" -gt 0 ]; then
        # The seeds are read too, the new inputs written to the scratch
        # directory (the first one given).
        dict=()
        if [ -f "dict/$t.dict" ]; then dict=(-dict="dict/$t.dict"); fi
        if ! cargo fuzz run "${build_flags[@]}" "$t" "$scratch/$t" "corpus/$t" "regressions/$t" \
            -- -max_total_time="$seconds" -timeout=20 -max_len=8192 "${dict[@]}" \
            -print_final_stats=1 >"$log" 2>&1; then
            echo "== $t: fuzzing FAILED (the input is in fuzz/artifacts/$t/)"
            tail -n 60 "$log"
            failed+=("$t")
            continue
        fi
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(sed -n 's/.*\(cov: [0-9]*\).*corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1 corpus \2/p' "$log" | tail -n 1)
    echo "fuzz $t: ${runs:-0} runs in ${seconds} s (${rate:-0}/s), ${corpus:-corpus ?}"
done

echo "fuzzing: $(($(date +%s) - start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzzing failed: ${failed[*]}"
    exit 1
fi
