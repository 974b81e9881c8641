#!/usr/bin/env bash
# The whole test suite, as CI runs it: install and start the real peers (registries, cosign,
# skopeo), then lint and run every test against them in one release build.
#   scripts/test.sh            everything
#   scripts/test.sh -- ARGS    extra arguments for `cargo test` (e.g. a test name filter)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

step "toolchain and peers"
bash scripts/peers.sh install
bash scripts/peers.sh start
# shellcheck disable=SC1091
source "${SIGWARD_PEERS_DIR:-$PWD/.peers}/env"
trap 'bash scripts/peers.sh stop >/dev/null 2>&1 || true' EXIT

step "format and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings

step "tests (release build, real peers)"
shift_args=()
if [ "${1:-}" = "--" ]; then shift; shift_args=("$@"); fi
test_log=$(mktemp)
cargo test --workspace --release -- "${shift_args[@]}" 2>&1 | tee "$test_log"

# The soak runs its own test binary directly (not through cargo, which would hold the build
# directory's lock for the whole half hour) in the background while the steps below run.
soak_seconds=${SIGWARD_SOAK_SECONDS:-1800}
step "soak: ${soak_seconds} s of mixed reviews against one server, in the background"
soak_bin=$(cargo test --release -p sigward-cli --test admission --no-run 2>&1 |
    sed -n 's/.*Executable tests\/admission.rs (\(.*\))$/\1/p' | tail -1)
[ -x "$soak_bin" ] || { echo "cannot find the admission test binary" >&2; exit 1; }
soak_bin=$(realpath "$soak_bin")
soak_log=$(mktemp)
(cd crates/cli && SIGWARD_SOAK_SECONDS=$soak_seconds "$soak_bin" soak_ --ignored --nocapture) >"$soak_log" 2>&1 &
soak_pid=$!

step "conformance and mutation summaries (the same tests, output shown)"
cargo test --release -q -p sigward-cli --test conformance conformance_140_of_140 -- --nocapture 2>&1 | grep -E '^sigstore-conformance:'
cargo test --release -q -p sigward-verify --test conformance_mutations -- --nocapture 2>&1 | grep -E '^mutation test:'

step "deployment manifests: strict Kubernetes schemas, kustomize builds, CRDs (and the check's self-test)"
bash scripts/check-deploy.sh
bash scripts/check-deploy.sh --self-test

step "fuzz targets: build, then 5 s of fuzzing each"
bash scripts/fuzz.sh smoke 5

step "soak: its result (waits for the rest of its ${soak_seconds} s)"
if ! wait "$soak_pid"; then
    cat "$soak_log"
    echo "soak FAILED" >&2
    exit 1
fi
grep -E '^(soak|test result)' "$soak_log"
grep -E '^test result:' "$soak_log" >>"$test_log"
rm -f "$soak_log"

# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
rm -f "$test_log"
