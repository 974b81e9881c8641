#!/usr/bin/env bash
# Benchmarks behind BENCHMARKS.md: sigward side by side with cosign and sigstore-python on the
# same inputs, against the local peers (plain-HTTP registry, local Sigstore instance, OIDC).
#
#   scripts/bench.sh           full run (about 4 minutes once built; a clean build takes ~3 minutes)
#   scripts/bench.sh --quick   short runs, to check the script works (~70 s once built)
#   --jitter                   also build sigward with AWS_LC_SYS_NO_JITTER_ENTROPY=0 (aws-lc's
#                              CPU-jitter entropy source on, as before .cargo/config.toml turned it
#                              off; own target dir, ~3 minutes more) and add it as a contender:
#                              shows what that one-time entropy collection costs each process
#
# Needs the peers running: scripts/peers.sh install && scripts/peers.sh start.
# Prepares its inputs once (a blob signed by sigstore-python, an image pushed with skopeo and
# signed keyless by cosign, another signed by cosign with a key, its entry in the local Rekor),
# checks every contender verifies them, then measures:
#   A. bundle verification: sigward-bench bundles (in-process, one thread) and whole processes
#      (hyperfine: sigward verify-bundle, sigstore-python verify identity, cosign verify-blob)
#   B. image verification: sigward-bench image (in-process, keyless, cold and warm) and whole
#      processes (hyperfine: sigward verify, cosign verify), keyless and key-signed, each by
#      tag and by digest
#   C. the admission webhook: sigward-bench admission starts `sigward serve` (TLS certificates
#      made with openssl; policies for a key-signed image, for N tags of another, for a Pod of
#      10 more key-signed images, and for B's keyless image) and posts AdmissionReviews to it
#      over HTTPS: warm-cache throughput and latency (closed loop, then open loop at fixed
#      rates), the first review by a fresh process, uncached verdicts (single images by tag
#      and by digest, and Pods of 10 images), memory
# Every figure is printed after the exact command that produced it; hyperfine's JSON and
# Markdown exports stay in the work directory printed at the end.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

die() { printf 'bench.sh: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
# Prints a command exactly as run (shell-quoted); `show` then runs it.
echo_cmd() { printf '$'; printf ' %q' "$@"; printf '\n'; }
show() { echo_cmd "$@"; "$@"; }
load() { printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"; }

QUICK=0 JITTER=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    --jitter) JITTER=1 ;;
    -h | --help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $arg (try --help)" ;;
  esac
done
if ((QUICK)); then
  BUNDLE_SECONDS=2 IMAGE_COUNT=20 RUNS=5 WARMUP=1
  ADM_SECONDS=2 ADM_WARMUP=0.5 ADM_SAMPLES=10 ADM_TAGS=100 ADM_RATES=1000,5000
else
  BUNDLE_SECONDS=10 IMAGE_COUNT=200 RUNS=30 WARMUP=3
  ADM_SECONDS=10 ADM_WARMUP=1 ADM_SAMPLES=100 ADM_TAGS=1000 ADM_RATES=1000,5000,10000,15000
fi
# Images of the Pod whose review verifies them all at once (C, uncached phase).
ADM_POD=10

step "peers"
ENV_FILE="${SIGWARD_PEERS_DIR:-$ROOT/.peers}/env"
[ -f "$ENV_FILE" ] || die "no $ENV_FILE: start the peers first (scripts/peers.sh install && scripts/peers.sh start)"
# shellcheck disable=SC1090
. "$ENV_FILE"
[ -n "${SIGWARD_TEST_SIGSTORE_URL:-}" ] || die "$ENV_FILE has no keyless peers: restart them (scripts/peers.sh start)"
curl -fsS -o /dev/null "http://$SIGWARD_TEST_REGISTRY_HTTP/v2/" \
  || die "the plain-HTTP registry $SIGWARD_TEST_REGISTRY_HTTP does not answer: scripts/peers.sh start"
code=$(curl -s -o /dev/null -w '%{http_code}' "$SIGWARD_TEST_SIGSTORE_URL/" || true)
[ "$code" != 000 ] || die "the Sigstore peer $SIGWARD_TEST_SIGSTORE_URL does not answer: scripts/peers.sh start"
SUITE="${SIGWARD_CONFORMANCE_DIR:-$ROOT/../shared/vectors/sigstore-conformance}"
[ -f "$SUITE/CASES.tsv" ] || die "no sigstore-conformance vectors at $SUITE (set SIGWARD_CONFORMANCE_DIR)"
POD_REVIEW="${SIGWARD_ADMISSION_FIXTURES_DIR:-$ROOT/../shared/fixtures/admission}/01-pod-create.admissionreview.json"
[ -f "$POD_REVIEW" ] || die "no admission fixture $POD_REVIEW (set SIGWARD_ADMISSION_FIXTURES_DIR)"
command -v openssl >/dev/null || die "openssl is missing (scripts/peers.sh install installs it)"
COSIGN=$SIGWARD_TEST_COSIGN
PYSIGSTORE=$SIGWARD_TEST_SIGSTORE_PYTHON
IDENTITY=$SIGWARD_TEST_OIDC_SUBJECT
ISSUER=$SIGWARD_TEST_OIDC_ISSUER
TRUSTED_ROOT=$SIGWARD_TEST_TRUSTED_ROOT
echo "registry $SIGWARD_TEST_REGISTRY_HTTP, Sigstore $SIGWARD_TEST_SIGSTORE_URL, OIDC issuer $ISSUER"

if ! command -v hyperfine >/dev/null; then
  step "hyperfine (apt)"
  [ "$(id -u)" = 0 ] || die "hyperfine is missing: apt-get install hyperfine"
  apt-get install -y -qq hyperfine >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; } \
    || die "apt-get install hyperfine failed"
fi

step "build"
show cargo build --release -p sigward-bench -p sigward-cli
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
SIGWARD=$BIN/sigward
BENCH=$BIN/sigward-bench
if ((JITTER)); then
  NJ_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/jitter/release"
  show env AWS_LC_SYS_NO_JITTER_ENTROPY=0 CARGO_TARGET_DIR="${NJ_BIN%/release}" \
    cargo build --release -p sigward-bench -p sigward-cli
fi

# cosign keyless against the local instance, offline: its trust files instead of TUF. Also set
# for sigward and sigstore-python in hyperfine runs, which ignore them (same environment for all).
export SIGSTORE_ROOT_FILE=$SIGWARD_TEST_FULCIO_ROOT
export SIGSTORE_REKOR_PUBLIC_KEY=$SIGWARD_TEST_REKOR_PUB
export SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=$SIGWARD_TEST_CTLOG_PUB
export DOCKER_CONFIG=/nonexistent-sigward-bench
unset COSIGN_PASSWORD

step "machine"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "nproc: $(nproc); CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); kernel $(uname -r)"
echo "sigward: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates Cargo.toml Cargo.lock || echo ' (+ uncommitted changes)'), $(rustc --version)"
echo "cosign: $(sed -n 's/^cosign_\(.*\)_[a-z0-9]*\.deb$/\1/p' "$SIGWARD_PEERS_DIR/trixie/packages.txt" 2>/dev/null || true) ($("$COSIGN" version 2>/dev/null | sed -n 's/^GoVersion:[[:space:]]*//p'))"
echo "sigstore-python: $("$PYSIGSTORE" --version 2>&1) ($("$(dirname "$PYSIGSTORE")/python" --version 2>&1))"
echo "hyperfine: $(hyperfine --version)"
load

step "inputs (prepared once)"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sigward-bench.XXXXXX")
BLOB=$WORK/blob.txt
BUNDLE=$WORK/blob.sigstore.json
printf 'sigward benchmark blob, %s\n' "$(date -u +%FT%TZ)" >"$BLOB"
# Runs a command with its output kept in $WORK/sign.log and prints the last line it said (all
# of it if it failed). `quietly` prints the command first; `with_token` prints a signing
# command (its ID token shown as TOKEN) and runs it with a fresh token.
logged() {
  if ! "$@" >"$WORK/sign.log" 2>&1; then
    cat "$WORK/sign.log" >&2
    die "failed: $1"
  fi
  tail -1 "$WORK/sign.log"
}
quietly() { echo_cmd "$@"; logged "$@"; }
with_token() {
  local token
  token=$(bash "$SIGWARD_TEST_PEERS_SCRIPT" id-token)
  echo "\$ TOKEN=\$(bash $SIGWARD_TEST_PEERS_SCRIPT id-token)"
  echo_cmd "$@"
  logged "${@/#TOKEN/$token}"
}
# push_image LAYOUT REPO TAG: a fresh one-layer image (its content names REPO) written to the
# OCI layout LAYOUT and pushed with skopeo as REPO:TAG; sets DIGEST.
push_image() {
  echo_cmd "$SIGWARD_TEST_MKOCI" "$1" "$3" "sigward bench $2"
  DIGEST=$("$SIGWARD_TEST_MKOCI" "$1" "$3" "sigward bench $2")
  show "$SIGWARD_TEST_SKOPEO" --policy "$SIGWARD_TEST_SKOPEO_POLICY" copy -q --dest-tls-verify=false \
    "oci:$1:$3" "docker://$2:$3"
}
with_token "$PYSIGSTORE" --trust-config "$SIGWARD_TEST_TRUST_CONFIG" sign --identity-token TOKEN \
  --bundle "$BUNDLE" "$BLOB"
REPO=$SIGWARD_TEST_REGISTRY_HTTP/bench/app-$(date +%s)-$$
push_image "$WORK/layout" "$REPO" v1
with_token "$COSIGN" sign -y --allow-http-registry --fulcio-url "$SIGWARD_TEST_SIGSTORE_URL" \
  --rekor-url "$SIGWARD_TEST_SIGSTORE_URL" --identity-token TOKEN "$REPO@$DIGEST"
IMAGE=$REPO:v1
IMAGE_AT_DIGEST=$REPO@$DIGEST
echo "blob: $BLOB ($(wc -c <"$BLOB") bytes), bundle: $BUNDLE ($(wc -c <"$BUNDLE") bytes)"
echo "image: $IMAGE = $DIGEST, signed keyless by cosign (legacy .sig tag, Fulcio certificate + Rekor SET)"
# B3's key-signed image: signed by cosign with its own key pair and, as cosign does by default,
# logged in the (local) Rekor, so that both verifiers check the signature and the entry's SET,
# offline (sigward takes the Rekor key from --trusted-root, cosign from SIGSTORE_REKOR_PUBLIC_KEY).
KEY_PASSWORD=sigward-bench
quietly env COSIGN_PASSWORD=$KEY_PASSWORD "$COSIGN" generate-key-pair --output-key-prefix "$WORK/cosign"
KEYED_REPO=$SIGWARD_TEST_REGISTRY_HTTP/bench/keyed-$(date +%s)-$$
push_image "$WORK/keyed-layout" "$KEYED_REPO" v1
quietly env COSIGN_PASSWORD=$KEY_PASSWORD "$COSIGN" sign -y --allow-http-registry --key "$WORK/cosign.key" \
  --rekor-url "$SIGWARD_TEST_SIGSTORE_URL" "$KEYED_REPO@$DIGEST"
KEYED_IMAGE=$KEYED_REPO:v1
KEYED_AT_DIGEST=$KEYED_REPO@$DIGEST
echo "key-signed image: $KEYED_IMAGE = $DIGEST, signed by cosign with $WORK/cosign.key (legacy .sig tag, Rekor SET)"

# The contenders, as argument lists (hyperfine gets them joined: no path here has spaces),
# read through namerefs below.
# shellcheck disable=SC2034
{
  SIGWARD_BUNDLE=("$SIGWARD" verify-bundle --bundle "$BUNDLE" --certificate-identity "$IDENTITY"
    --certificate-oidc-issuer "$ISSUER" --trusted-root "$TRUSTED_ROOT" "$BLOB")
  PYTHON_BUNDLE=("$PYSIGSTORE" --trust-config "$SIGWARD_TEST_TRUST_CONFIG" verify identity --offline
    --bundle "$BUNDLE" --cert-identity "$IDENTITY" --cert-oidc-issuer "$ISSUER" "$BLOB")
  COSIGN_BUNDLE=("$COSIGN" verify-blob --new-bundle-format --bundle "$BUNDLE" --trusted-root "$TRUSTED_ROOT"
    --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$ISSUER" "$BLOB")
  KEYLESS_SIGWARD=("$SIGWARD" verify --allow-http-registry --trusted-root "$TRUSTED_ROOT"
    --certificate-identity "$IDENTITY" --certificate-oidc-issuer "$ISSUER")
  KEYLESS_COSIGN=("$COSIGN" verify --allow-http-registry --certificate-identity "$IDENTITY"
    --certificate-oidc-issuer "$ISSUER")
  SIGWARD_IMAGE=("${KEYLESS_SIGWARD[@]}" "$IMAGE")
  COSIGN_IMAGE=("${KEYLESS_COSIGN[@]}" "$IMAGE")
  SIGWARD_IMAGE_DIGEST=("${KEYLESS_SIGWARD[@]}" "$IMAGE_AT_DIGEST")
  COSIGN_IMAGE_DIGEST=("${KEYLESS_COSIGN[@]}" "$IMAGE_AT_DIGEST")
  KEYED_SIGWARD=("$SIGWARD" verify --allow-http-registry --trusted-root "$TRUSTED_ROOT" --key "$WORK/cosign.pub")
  KEYED_COSIGN=("$COSIGN" verify --allow-http-registry --key "$WORK/cosign.pub")
  SIGWARD_KEY_TAG=("${KEYED_SIGWARD[@]}" "$KEYED_IMAGE")
  COSIGN_KEY_TAG=("${KEYED_COSIGN[@]}" "$KEYED_IMAGE")
  SIGWARD_KEY_DIGEST=("${KEYED_SIGWARD[@]}" "$KEYED_AT_DIGEST")
  COSIGN_KEY_DIGEST=("${KEYED_COSIGN[@]}" "$KEYED_AT_DIGEST")
  # NJ_X: sigward command SIGWARD_X from the build with jitter entropy, as an extra hyperfine
  # contender (empty without --jitter).
  for name in BUNDLE IMAGE IMAGE_DIGEST KEY_TAG KEY_DIGEST; do
    declare -n src=SIGWARD_$name dst=NJ_$name
    dst=()
    if ((JITTER)); then dst=(sigward-jitter "$NJ_BIN/sigward ${src[*]:1}"); fi
    unset -n src dst
  done
  NJ_START=()
  if ((JITTER)); then NJ_START=(sigward-jitter "$NJ_BIN/sigward --version"); fi
}

step "every contender verifies the inputs (once, untimed)"
for name in SIGWARD_BUNDLE PYTHON_BUNDLE COSIGN_BUNDLE SIGWARD_IMAGE COSIGN_IMAGE \
  SIGWARD_IMAGE_DIGEST COSIGN_IMAGE_DIGEST SIGWARD_KEY_TAG COSIGN_KEY_TAG SIGWARD_KEY_DIGEST COSIGN_KEY_DIGEST; do
  declare -n cmd=$name
  if out=$("${cmd[@]}" 2>&1 >/dev/null); then
    printf '%-20s ok: %s\n' "$name" "$(tail -1 <<<"$out")"
  else
    printf '%s\n' "$out" >&2
    die "$name does not verify: ${cmd[*]}"
  fi
  unset -n cmd
done

# Registry requests one run of a command makes, from the registry's access log (when the
# peers keep one): shows the contenders do the same registry work. The registry is shared with
# other tests, so only the image's repository and the `/v2/` ping are counted (someone else's
# ping can still slip in). The image is the command's last argument.
REGISTRY_LOG=$SIGWARD_PEERS_DIR/run/registry-http.log
count_requests() {
  local name=$1
  shift
  [ -f "$REGISTRY_LOG" ] || return 0
  local repo=${!#}
  repo=${repo#*/}
  repo=${repo%@*}
  repo=${repo%:*}
  local before lines
  before=$(wc -l <"$REGISTRY_LOG")
  "$@" >/dev/null 2>&1
  sleep 0.3
  lines=$(tail -n "+$((before + 1))" "$REGISTRY_LOG" | grep 'response completed' \
    | grep -E "http.request.uri=\"?/v2/(\"| |$repo/)" || true)
  printf '%-10s %s registry requests:' "$name" "$(grep -c . <<<"$lines" || true)"
  sed -n 's/.*http.request.method=\([A-Z]*\).*http.request.uri="\{0,1\}\([^" ]*\).*/\1 \2/p' <<<"$lines" \
    | sed 's/sha256[-:]\([0-9a-f]\{8\}\)[0-9a-f]*/sha256-\1…/' | tr '\n' ';'
  echo
}

# hyperfine over whole processes; prints its own report, then mean/median/p99 and ratios.
compare() {
  local label=$1
  shift
  local args=()
  while (($#)); do args+=(-n "$1" "$2"); shift 2; done
  show hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS" \
    --export-json "$WORK/$label.json" --export-markdown "$WORK/$label.md" "${args[@]}"
  python3 - "$WORK/$label.json" <<'EOF'
import json, math, sys
results = json.load(open(sys.argv[1]))["results"]
def pct(times, p):
    s = sorted(times)
    return s[max(1, math.ceil(p / 100 * len(s))) - 1]
print(f"{'command':<16} {'mean':>9} {'±σ':>8} {'p50':>9} {'p99':>9} {'min':>9} {'user':>9} {'sys':>9}  runs")
for r in results:
    t = r["times"]
    print(f"{r['command']:<16} {r['mean']*1e3:7.1f}ms {r['stddev']*1e3:6.1f}ms {pct(t,50)*1e3:7.1f}ms "
          f"{pct(t,99)*1e3:7.1f}ms {min(t)*1e3:7.1f}ms {r['user']*1e3:7.1f}ms {r['system']*1e3:7.1f}ms  {len(t)}")
base = results[0]
print(f"time of each command / time of {base['command']} (above 1: {base['command']} is faster):")
for r in results[1:]:
    print(f"  {r['command']}: mean {r['mean']/base['mean']:.2f}, "
          f"p50 {pct(r['times'],50)/pct(base['times'],50):.2f}, "
          f"CPU (user+sys) {(r['user']+r['system'])/(base['user']+base['system']):.2f}")
if len(results[0]["times"]) < 100:
    print(f"  ({len(results[0]['times'])} runs: p99 is the slowest run)")
EOF
}

joined() { local -n a=$1; printf '%s' "${a[*]}"; }

# compare_images LABEL SIGWARD_X NJ_X COSIGN_X: the registry requests of one run of each, then
# hyperfine over sigward (and its build with jitter entropy) and cosign.
compare_images() {
  local label=$1 sw=$2 nj=$3 co=$4
  local -n sw_cmd=$sw nj_cmd=$nj co_cmd=$co
  count_requests sigward "${sw_cmd[@]}"
  count_requests cosign "${co_cmd[@]}"
  load
  compare "$label" sigward "$(joined "$sw")" "${nj_cmd[@]}" cosign "$(joined "$co")"
  load
}

step "A1. bundle verification in-process: sigward-bench bundles"
load
show "$BENCH" bundles --suite "$SUITE" --seconds "$BUNDLE_SECONDS" \
  --bundle "$BUNDLE" --artifact "$BLOB" --trusted-root "$TRUSTED_ROOT" \
  --identity "$IDENTITY" --issuer "$ISSUER" --label "local: sigstore-python bundle"
load

step "A2. bundle verification, whole processes (same bundle, blob and trusted root)"
load
compare bundle sigward "$(joined SIGWARD_BUNDLE)" "${NJ_BUNDLE[@]}" sigstore-python "$(joined PYTHON_BUNDLE)" \
  cosign "$(joined COSIGN_BUNDLE)"
load

step "A3. process start floor (no verification)"
compare startup sigward "$SIGWARD --version" "${NJ_START[@]}" sigstore-python "$PYSIGSTORE --version" \
  cosign "$COSIGN version"

step "B1. keyless image verification in-process: sigward-bench image"
load
show "$BENCH" image --image "$IMAGE" --identity "$IDENTITY" --issuer "$ISSUER" \
  --trusted-root "$TRUSTED_ROOT" --count "$IMAGE_COUNT" --allow-http
if ((JITTER)); then
  show "$NJ_BIN/sigward-bench" image --image "$IMAGE" --identity "$IDENTITY" --issuer "$ISSUER" \
    --trusted-root "$TRUSTED_ROOT" --count "$IMAGE_COUNT" --allow-http
fi
load

step "B2. keyless image verification, whole processes (same image, by tag)"
compare_images image SIGWARD_IMAGE NJ_IMAGE COSIGN_IMAGE

step "B2d. keyless image verification, whole processes (same image, by digest: no tag to resolve)"
compare_images image-digest SIGWARD_IMAGE_DIGEST NJ_IMAGE_DIGEST COSIGN_IMAGE_DIGEST

step "B3. key-signed image verification, whole processes (same image, signed by cosign with a key, Rekor SET checked by both; by tag)"
compare_images key-tag SIGWARD_KEY_TAG NJ_KEY_TAG COSIGN_KEY_TAG

step "B3d. key-signed image verification, whole processes (same image, by digest)"
compare_images key-digest SIGWARD_KEY_DIGEST NJ_KEY_DIGEST COSIGN_KEY_DIGEST

step "C. admission webhook: inputs (prepared once)"
ADM=$WORK/admission
mkdir -p "$ADM/tls" "$ADM/policies"
ADM_PASSWORD=sigward-bench
# A CA and a serving certificate for 127.0.0.1 signed by it, as crates/cli/tests/admission.rs
# makes them (openssl's progress output goes to $ADM/openssl.log).
EC=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
show openssl req -x509 "${EC[@]}" -keyout "$ADM/tls/ca.key" -out "$ADM/tls/ca.crt" -days 2 \
  -subj "/CN=sigward bench CA" 2>>"$ADM/openssl.log"
show openssl req "${EC[@]}" -keyout "$ADM/tls/tls.key" -out "$ADM/tls/tls.csr" \
  -subj "/CN=sigward.sigward-system.svc" 2>>"$ADM/openssl.log"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$ADM/tls/ext"
show openssl x509 -req -in "$ADM/tls/tls.csr" -CA "$ADM/tls/ca.crt" -CAkey "$ADM/tls/ca.key" \
  -CAcreateserial -out "$ADM/tls/tls.crt" -days 2 -extfile "$ADM/tls/ext" 2>>"$ADM/openssl.log"
show env COSIGN_PASSWORD=$ADM_PASSWORD "$SIGWARD" generate-key-pair --output-key-prefix "$ADM/release"
# push_signed REPO TAG: a fresh one-layer image pushed with skopeo and signed by sigward with
# the key above, without transparency log; sets DIGEST and LAYOUT.
push_signed() {
  LAYOUT=$ADM/layout-${1##*/}
  push_image "$LAYOUT" "$1" "$2"
  show env COSIGN_PASSWORD=$ADM_PASSWORD "$SIGWARD" sign --tlog-upload=false --allow-http-registry \
    --key "$ADM/release.key" "$1:$2"
}
KEY_REPO=$SIGWARD_TEST_REGISTRY_HTTP/bench/adm-key-$(date +%s)-$$
push_signed "$KEY_REPO" v1
KEY_IMAGE=$KEY_REPO:v1
KEY_AT_DIGEST=$KEY_REPO@$DIGEST
echo "key-signed image: $KEY_IMAGE = $DIGEST"
# The Pod's images: ADM_POD more repositories, one key-signed image each, listed by tag and by
# digest (one a line) for sigward-bench admission --pod.
POD_PREFIX=$SIGWARD_TEST_REGISTRY_HTTP/bench/adm-pod-$(date +%s)-$$
: >"$ADM/pod-tags.txt"
: >"$ADM/pod-digests.txt"
for ((i = 0; i < ADM_POD; i++)); do
  push_signed "$POD_PREFIX-$i" v1
  echo "$POD_PREFIX-$i:v1" >>"$ADM/pod-tags.txt"
  echo "$POD_PREFIX-$i@$DIGEST" >>"$ADM/pod-digests.txt"
done
echo "pod images by tag ($ADM/pod-tags.txt) and by digest ($ADM/pod-digests.txt):"
paste -d' ' "$ADM/pod-tags.txt" "$ADM/pod-digests.txt" | sed 's/ [^@]*@/ = /'
mapfile -t POD_IMAGES < <(cat "$ADM/pod-tags.txt" "$ADM/pod-digests.txt")
TAGS_REPO=$SIGWARD_TEST_REGISTRY_HTTP/bench/adm-tags-$(date +%s)-$$
push_signed "$TAGS_REPO" t0
# The same manifest under tags t1..t(N-1): one curl over a URL range; the registry stores the
# bytes as sent, so every tag resolves to the digest signed above.
show curl -fsS -o /dev/null -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary "@$LAYOUT/blobs/sha256/${DIGEST#sha256:}" \
  "http://$SIGWARD_TEST_REGISTRY_HTTP/v2/${TAGS_REPO#*/}/manifests/t[1-$((ADM_TAGS - 1))]"
echo "tagged image: $TAGS_REPO:t0 .. t$((ADM_TAGS - 1)) = $DIGEST"
KEY_DATA=$(base64 -w0 "$ADM/release.pub")
# OpenShift's API for the key-signed images (sigward signs repo:tag, which the default
# signedIdentity rule accepts for that tag only: the other tags need MatchRepository), and
# sigstore policy-controller's API for B's keyless image.
cat >"$ADM/policies/key.yaml" <<POLICY
apiVersion: config.openshift.io/v1
kind: ClusterImagePolicy
metadata:
  name: bench-key
spec:
  scopes: ["$KEY_REPO"]
  policy:
    rootOfTrust:
      policyType: PublicKey
      publicKey:
        keyData: $KEY_DATA
---
apiVersion: config.openshift.io/v1
kind: ClusterImagePolicy
metadata:
  name: bench-tags
spec:
  scopes: ["$TAGS_REPO"]
  policy:
    rootOfTrust:
      policyType: PublicKey
      publicKey:
        keyData: $KEY_DATA
    signedIdentity:
      matchPolicy: MatchRepository
POLICY
cat >"$ADM/policies/keyless.yaml" <<POLICY
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: bench-keyless
spec:
  images:
  - glob: "$REPO**"
  authorities:
  - keyless:
      identities:
      - issuer: $ISSUER
        subject: $IDENTITY
POLICY
# The Pod's repositories, same key.
cat >"$ADM/policies/pod.yaml" <<POLICY
apiVersion: config.openshift.io/v1
kind: ClusterImagePolicy
metadata:
  name: bench-pod
spec:
  scopes: [$(sed 's/:v1$//; s/.*/"&"/' "$ADM/pod-tags.txt" | paste -sd, -)]
  policy:
    rootOfTrust:
      policyType: PublicKey
      publicKey:
        keyData: $KEY_DATA
POLICY
echo "policies: $ADM/policies/key.yaml (bench-key, bench-tags), $ADM/policies/keyless.yaml (bench-keyless), $ADM/policies/pod.yaml (bench-pod)"
# Every kind of input is admitted (once, untimed; `policy test` exits 1 on a denial).
show "$SIGWARD" policy test --allow-http-registry --trusted-root "$TRUSTED_ROOT" --policy "$ADM/policies" \
  "$KEY_IMAGE" "$KEY_AT_DIGEST" "$IMAGE" "$IMAGE_AT_DIGEST" "$TAGS_REPO:t0" "$TAGS_REPO:t$((ADM_TAGS - 1))" \
  "${POD_IMAGES[@]}"

step "C. admission webhook: sigward-bench admission"
# The registry's CPU time is printed beside the server's and the client's, when its pid is known.
REGISTRY_PID=()
if [ -f "$SIGWARD_PEERS_DIR/run/registry-http.pid" ]; then
  REGISTRY_PID=(--registry-pid "$(cat "$SIGWARD_PEERS_DIR/run/registry-http.pid")")
fi
load
show "$BENCH" admission --sigward "$SIGWARD" --policy "$ADM/policies" --trusted-root "$TRUSTED_ROOT" \
  --allow-http --tls-cert "$ADM/tls/tls.crt" --tls-key "$ADM/tls/tls.key" --ca "$ADM/tls/ca.crt" \
  --review "$POD_REVIEW" --key-image "$KEY_IMAGE" --keyless-image "$IMAGE" \
  --distinct-prefix "$TAGS_REPO:t" --distinct-count "$ADM_TAGS" \
  --extra-image "key-signed@digest=$KEY_AT_DIGEST" --extra-image "keyless@digest=$IMAGE_AT_DIGEST" \
  --pod "pod-of-$ADM_POD:tags=$ADM/pod-tags.txt" --pod "pod-of-$ADM_POD@digests=$ADM/pod-digests.txt" \
  --open-loop-rates "$ADM_RATES" \
  --seconds "$ADM_SECONDS" --warmup-seconds "$ADM_WARMUP" --samples "$ADM_SAMPLES" "${REGISTRY_PID[@]}"
load

step "done"
echo "hyperfine exports and inputs: $WORK"
