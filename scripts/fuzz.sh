#!/usr/bin/env bash
# Builds and runs the cargo-fuzz targets in fuzz/ on the stable toolchain.
#
#   scripts/fuzz.sh build                 install cargo-fuzz if missing, build every target
#   scripts/fuzz.sh smoke [SECONDS]       build, then fuzz every target SECONDS (default 10) on a
#                                         temporary copy of its committed corpus; fails on any crash
#   scripts/fuzz.sh run TARGET [SECONDS]  fuzz one target (default 600 s) on a copy of
#                                         fuzz/corpus/TARGET, then merge (-merge=1) what it found
#                                         into fuzz/corpus/TARGET; crashes go to fuzz/artifacts/TARGET
#
# One fuzzer at a time, single process (no -jobs/-workers); on a shared machine, under nice -n 19.
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, -Cpasses=sancov-module);
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
export RUSTC_BOOTSTRAP=1

# libFuzzer flags shared by smoke and run. -timeout: encrypted_key_file legitimately spends up to
# ~1.8 s and ~330 MB in scrypt under ASan at the library's caps (N·r·p <= 2^21, 128·N·r <= 256 MiB),
# 0.4 s on cosign's N = 2^16; only a 10 s stall counts.
LIBFUZZER_FLAGS=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
# Optimised, but with debug assertions and overflow checks: an overflow on hostile input is a
# finding (plain -O would turn them off).
BUILD_FLAGS=(--fuzz-dir fuzz -O --debug-assertions)

log() { printf 'fuzz.sh: %s\n' "$*" >&2; }

targets() { cargo fuzz list --fuzz-dir fuzz; }

ensure_cargo_fuzz() {
    if cargo fuzz --version >/dev/null 2>&1; then
        return
    fi
    log "cargo-fuzz not found, installing it"
    local start=$SECONDS
    cargo install cargo-fuzz --locked
    log "installed $(cargo fuzz --version) in $((SECONDS - start)) s"
}

build() {
    ensure_cargo_fuzz
    local start=$SECONDS
    cargo fuzz build "${BUILD_FLAGS[@]}"
    log "built $(targets | wc -l) targets in $((SECONDS - start)) s"
}

# fuzz TARGET SECONDS CORPUS_DIR ARTIFACT_DIR: runs the binary `build` made, not `cargo fuzz
# run`, so a source edit halfway through a smoke run cannot trigger a rebuild in the middle.
fuzz() {
    local target=$1 seconds=$2 corpus=$3 artifacts=$4
    local host
    host=$(rustc -vV | sed -n 's/^host: //p')
    mkdir -p "$corpus" "$artifacts"
    "fuzz/target/$host/release/$target" "${LIBFUZZER_FLAGS[@]}" \
        -max_total_time="$seconds" -artifact_prefix="$artifacts/" "$corpus"
}

smoke() {
    local seconds=${1:-10}
    build
    local work
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: $work is local and gone by EXIT time
    trap "rm -rf '$work'" EXIT
    local failed=() start=$SECONDS target t0
    for target in $(targets); do
        cp -r "fuzz/corpus/$target" "$work/$target"
        t0=$SECONDS
        if fuzz "$target" "$seconds" "$work/$target" "$work/artifacts/$target" \
            >"$work/$target.log" 2>&1; then
            log "$target: ok in $((SECONDS - t0)) s ($(stat_line "$work/$target.log"))"
        else
            log "$target: FAILED after $((SECONDS - t0)) s:"
            grep -E -A4 'panicked at|ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)' \
                "$work/$target.log" >&2 || true
            tail -n 8 "$work/$target.log" >&2
            mkdir -p "fuzz/artifacts/$target"
            cp "$work/artifacts/$target/"* "$work/$target.log" "fuzz/artifacts/$target/" 2>/dev/null || true
            log "$target: crashing input and full log copied to fuzz/artifacts/$target/"
            failed+=("$target")
        fi
    done
    log "smoke: $(targets | wc -l) targets x ${seconds} s in $((SECONDS - start)) s"
    if ((${#failed[@]})); then
        log "smoke: FAILED: ${failed[*]}"
        return 1
    fi
}

# "N execs, M exec/s, cov C" from libFuzzer's final stats.
stat_line() {
    local runs rate cov
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$1" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$1" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$1" | tail -n 1 || true)
    printf '%s execs, %s exec/s, %s' "${runs:-?}" "${rate:-?}" "${cov:-cov: ?}"
}

# run TARGET SECONDS: fuzzes a copy of the committed corpus, then keeps only what adds coverage:
# `-merge=1 fuzz/corpus/TARGET COPY` adds to the committed corpus (seeds stay) the smallest set
# of the copy's inputs that covers what the committed corpus does not.
run() {
    local target=${1:?usage: fuzz.sh run TARGET [SECONDS]} seconds=${2:-600}
    build
    local host work status=0 before after
    host=$(rustc -vV | sed -n 's/^host: //p')
    work=$(mktemp -d)
    # shellcheck disable=SC2064 # expand now: $work is local and gone by EXIT time
    trap "rm -rf '$work'" EXIT
    cp -r "fuzz/corpus/$target" "$work/corpus"
    before=$(find "fuzz/corpus/$target" -type f | wc -l)
    fuzz "$target" "$seconds" "$work/corpus" "fuzz/artifacts/$target" || status=$?
    log "$target: the run grew the corpus copy to $(find "$work/corpus" -type f | wc -l) files; merging"
    "fuzz/target/$host/release/$target" -merge=1 "${LIBFUZZER_FLAGS[@]}" \
        -artifact_prefix="fuzz/artifacts/$target/" "fuzz/corpus/$target" "$work/corpus" \
        >"$work/merge.log" 2>&1 || { tail -n 20 "$work/merge.log" >&2; return 1; }
    after=$(find "fuzz/corpus/$target" -type f | wc -l)
    log "$target: fuzz/corpus/$target: $before -> $after files ($(du -sh --apparent-size "fuzz/corpus/$target" | cut -f1))"
    return "$status"
}

case ${1:-} in
build) build ;;
smoke) smoke "${2:-10}" ;;
run) run "${2:-}" "${3:-600}" ;;
*)
    sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
