#!/usr/bin/env bash
# sigward's main job, end to end, on this machine: start a local TLS registry with basic auth,
# push a sample image, generate a key pair, sign the image, verify it (with sigward and with
# cosign), then tamper with the image the way an attacker with push rights would and show the
# verification fail.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Installing and starting the local registry and reference tools (scripts/peers.sh)"
bash scripts/peers.sh install
bash scripts/peers.sh start
# shellcheck disable=SC1091
source "${SIGWARD_PEERS_DIR:-$PWD/.peers}/env"

say "Building sigward (release)"
cargo build --release -q -p sigward-cli
SIGWARD=$PWD/target/release/sigward
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
REG=$SIGWARD_TEST_REGISTRY_TLS
AUTH=(--registry-cacert "$SIGWARD_TEST_REGISTRY_CA" --registry-username "$SIGWARD_TEST_REGISTRY_USER" --registry-password "$SIGWARD_TEST_REGISTRY_PASSWORD")
CURL=(curl -fsS --cacert "$SIGWARD_TEST_REGISTRY_CA" -u "$SIGWARD_TEST_REGISTRY_USER:$SIGWARD_TEST_REGISTRY_PASSWORD")
IMAGE=$REG/demo/hello:v1

say "Pushing a sample image to $IMAGE"
DIGEST=$("$SIGWARD_TEST_MKOCI" "$WORK/layout" v1 "hello from sigward $(date +%s%N)")
"$SIGWARD_TEST_SKOPEO" --policy "$SIGWARD_TEST_SKOPEO_POLICY" copy -q --dest-cert-dir "$SIGWARD_TEST_SKOPEO_CERT_DIR" \
  --dest-creds "$SIGWARD_TEST_REGISTRY_USER:$SIGWARD_TEST_REGISTRY_PASSWORD" "oci:$WORK/layout:v1" "docker://$IMAGE"
echo "digest: $DIGEST"

say "sigward generate-key-pair"
export COSIGN_PASSWORD=demo-password
"$SIGWARD" generate-key-pair --output-key-prefix "$WORK/demo"
head -2 "$WORK/demo.key"; echo "..."

say "sigward sign"
"$SIGWARD" sign --tlog-upload=false --key "$WORK/demo.key" -a env=demo "${AUTH[@]}" "$IMAGE"

say "sigward verify"
"$SIGWARD" verify --insecure-ignore-tlog --key "$WORK/demo.pub" "${AUTH[@]}" "$IMAGE" | python3 -m json.tool

say "cosign verify (the reference implementation accepts sigward's signature)"
SSL_CERT_FILE=$SIGWARD_TEST_REGISTRY_CA "$SIGWARD_TEST_COSIGN" verify --insecure-ignore-tlog --key "$WORK/demo.pub" \
  "${AUTH[@]}" "$IMAGE" 2>/dev/null | python3 -m json.tool | head -12

say "Tampering: an attacker pushes other content as :v1 and copies the valid signature next to it"
EVIL=$("$SIGWARD_TEST_MKOCI" "$WORK/evil" v1 "malicious payload")
"$SIGWARD_TEST_SKOPEO" --policy "$SIGWARD_TEST_SKOPEO_POLICY" copy -q --dest-cert-dir "$SIGWARD_TEST_SKOPEO_CERT_DIR" \
  --dest-creds "$SIGWARD_TEST_REGISTRY_USER:$SIGWARD_TEST_REGISTRY_PASSWORD" "oci:$WORK/evil:v1" "docker://$IMAGE"
SIG_TYPE=application/vnd.oci.image.manifest.v1+json
"${CURL[@]}" -H "Accept: $SIG_TYPE" "https://$REG/v2/demo/hello/manifests/sha256-${DIGEST#sha256:}.sig" -o "$WORK/sig.json"
"${CURL[@]}" -X PUT -H "Content-Type: $SIG_TYPE" --data-binary "@$WORK/sig.json" \
  "https://$REG/v2/demo/hello/manifests/sha256-${EVIL#sha256:}.sig" -o /dev/null
echo "tag v1 now points at $EVIL"

say "sigward verify refuses the tampered image"
if "$SIGWARD" verify --insecure-ignore-tlog --key "$WORK/demo.pub" "${AUTH[@]}" "$IMAGE" >/dev/null 2>"$WORK/err"; then
  echo "UNEXPECTED: the tampered image verified" >&2
  exit 1
fi
cat "$WORK/err"

say "The original, pinned by digest, still verifies"
"$SIGWARD" verify --insecure-ignore-tlog --output text --key "$WORK/demo.pub" "${AUTH[@]}" "$REG/demo/hello@$DIGEST" 2>/dev/null
say "Done"
