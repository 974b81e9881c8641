#!/usr/bin/env bash
# sigward's main job, end to end, on this machine: start a local TLS registry with basic auth,
# push a sample image, generate a key pair, sign the image, verify it (with sigward and with
# cosign), then tamper with the image the way an attacker with push rights would and show the
# verification fail. Last, the admission webhook: `sigward serve` with a ClusterImagePolicy for
# the demo repository answers AdmissionReviews as kube-apiserver sends them: a Deployment of the
# signed image is allowed (and /mutate pins its tag to the verified digest), one of an unsigned
# image is denied. The script exits non-zero if any outcome differs.
#
# SIGWARD_BIN=path/to/sigward runs that binary instead of building one with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

say "Installing and starting the local registry and reference tools (scripts/peers.sh)"
bash scripts/peers.sh install
bash scripts/peers.sh start
# shellcheck disable=SC1091
source "${SIGWARD_PEERS_DIR:-$PWD/.peers}/env"

if [ -n "${SIGWARD_BIN:-}" ]; then
  say "Using $SIGWARD_BIN (SIGWARD_BIN is set: not building)"
  SIGWARD=$SIGWARD_BIN
else
  say "Building sigward (release)"
  cargo build --release -q -p sigward-cli
  SIGWARD=$PWD/target/release/sigward
fi
WORK=$(mktemp -d)
SERVE_PID=
cleanup() {
  if [ -n "$SERVE_PID" ]; then
    kill "$SERVE_PID" 2>/dev/null || true
    wait "$SERVE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
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
  "${AUTH[@]}" "$IMAGE" 2>/dev/null | python3 -m json.tool > "$WORK/cosign.json"
# Not `| head` under pipefail: json.tool exits 32 (EPIPE) when head closes the pipe first.
head -12 "$WORK/cosign.json"

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

say "Admission: a ClusterImagePolicy requiring the demo key's signature for $REG/demo/hello"
# The demo signed with --tlog-upload=false, so the policy has no rekorKeyData (no log entry required).
mkdir "$WORK/policies"
cat > "$WORK/policies/demo.yaml" <<EOF
apiVersion: config.openshift.io/v1
kind: ClusterImagePolicy
metadata:
  name: demo-hello
spec:
  scopes:
    - $REG/demo/hello
  policy:
    rootOfTrust:
      policyType: PublicKey
      publicKey:
        keyData: $(base64 -w0 "$WORK/demo.pub")
    signedIdentity:
      matchPolicy: MatchRepoDigestOrExact
EOF
sed 's/\(keyData: .\{24\}\).*/\1...  (base64 of demo.pub)/' "$WORK/policies/demo.yaml"
"$SIGWARD" policy lint "$WORK/policies"

say "The owner pushes the original back as :v1 (its signature, bound to its digest, is still there); :v2 is never signed"
"$SIGWARD_TEST_SKOPEO" --policy "$SIGWARD_TEST_SKOPEO_POLICY" copy -q --dest-cert-dir "$SIGWARD_TEST_SKOPEO_CERT_DIR" \
  --dest-creds "$SIGWARD_TEST_REGISTRY_USER:$SIGWARD_TEST_REGISTRY_PASSWORD" "oci:$WORK/layout:v1" "docker://$IMAGE"
UNSIGNED=$REG/demo/hello:v2
UNSIGNED_DIGEST=$("$SIGWARD_TEST_MKOCI" "$WORK/unsigned" v2 "never signed $(date +%s%N)")
"$SIGWARD_TEST_SKOPEO" --policy "$SIGWARD_TEST_SKOPEO_POLICY" copy -q --dest-cert-dir "$SIGWARD_TEST_SKOPEO_CERT_DIR" \
  --dest-creds "$SIGWARD_TEST_REGISTRY_USER:$SIGWARD_TEST_REGISTRY_PASSWORD" "oci:$WORK/unsigned:v2" "docker://$UNSIGNED"
echo "$IMAGE -> $DIGEST (signed)"
echo "$UNSIGNED -> $UNSIGNED_DIGEST (not signed)"

say "A throwaway CA and a serving certificate for 127.0.0.1 (openssl)"
TLS=$WORK/tls
mkdir "$TLS"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=sigward demo CA" \
  -keyout "$TLS/ca.key" -out "$TLS/ca.crt" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$TLS/tls.key" -out "$TLS/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$TLS/ext"
openssl x509 -req -in "$TLS/tls.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" -CAcreateserial -days 1 \
  -extfile "$TLS/ext" -out "$TLS/tls.crt" 2>/dev/null
openssl x509 -in "$TLS/tls.crt" -noout -subject -issuer

say "sigward serve: the admission webhook, on a free port of 127.0.0.1"
"$SIGWARD" serve --listen 127.0.0.1:0 --tls-cert "$TLS/tls.crt" --tls-key "$TLS/tls.key" \
  --policy "$WORK/policies" "${AUTH[@]}" 2>"$WORK/serve.log" &
SERVE_PID=$!
# stderr carries one JSON object per line; the address is in {"msg":"listening","address":...}.
listening_address() {
  python3 -c 'import json, sys
for line in open(sys.argv[1]):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    if entry.get("msg") == "listening":
        print(entry["address"])
        break' "$WORK/serve.log"
}
ADDR=
for _ in $(seq 100); do
  ADDR=$(listening_address)
  [ -n "$ADDR" ] && break
  kill -0 "$SERVE_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/serve.log" >&2; echo "sigward serve did not start" >&2; exit 1; }
WEBHOOK=(curl -fsS --cacert "$TLS/ca.crt")
for _ in $(seq 100); do
  "${WEBHOOK[@]}" -o /dev/null "https://$ADDR/readyz" 2>/dev/null && break
  sleep 0.1
done
echo "GET https://$ADDR/readyz: $("${WEBHOOK[@]}" "https://$ADDR/readyz")"

# review UID IMAGE: the AdmissionReview kube-apiserver sends for
# `kubectl create deployment hello -n demo --image IMAGE`, trimmed to the fields that matter.
review() {
  cat <<EOF
{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
 "request": {"uid": "$1", "operation": "CREATE", "namespace": "demo", "name": "hello",
  "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
  "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
  "userInfo": {"username": "demo-user"},
  "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "hello", "namespace": "demo"},
   "spec": {"selector": {"matchLabels": {"app": "hello"}},
    "template": {"metadata": {"labels": {"app": "hello"}},
     "spec": {"containers": [{"name": "hello", "image": "$2"}]}}}}}}
EOF
}
# admit ENDPOINT UID IMAGE: POSTs the review; prints "allowed" or "denied (CODE): MESSAGE", then
# the JSONPatch decoded when there is one. Fails if the answer is not for UID.
admit() {
  review "$2" "$3" | "${WEBHOOK[@]}" -H 'Content-Type: application/json' --data-binary @- "https://$ADDR/$1" |
    python3 -c 'import base64, json, sys
response = json.load(sys.stdin)["response"]
if response["uid"] != sys.argv[1]:
    sys.exit("answer for another uid: %s" % response["uid"])
if response["allowed"]:
    print("allowed")
else:
    print("denied (%d): %s" % (response["status"]["code"], response["status"]["message"]))
if "patch" in response:
    print("%s (decoded):" % response["patchType"])
    print(json.dumps(json.loads(base64.b64decode(response["patch"])), indent=2))' "$2"
}

say "POST /validate: a Deployment running the signed $IMAGE"
admit validate demo-signed "$IMAGE" | tee "$WORK/answer"
[ "$(head -1 "$WORK/answer")" = allowed ] || { echo "UNEXPECTED: the signed image was not allowed" >&2; exit 1; }

say "POST /validate: a Deployment running the unsigned $UNSIGNED"
admit validate demo-unsigned "$UNSIGNED" | tee "$WORK/answer"
grep -q '^denied (403): sigward denied Deployment demo/hello: container "hello" image .*: no signatures found' "$WORK/answer" ||
  { echo "UNEXPECTED: the unsigned image was not denied" >&2; exit 1; }

say "POST /mutate: the signed image again; its tag is pinned to the digest that was verified"
admit mutate demo-pin "$IMAGE" | tee "$WORK/answer"
grep -qF "\"value\": \"$REG/demo/hello@$DIGEST\"" "$WORK/answer" ||
  { echo "UNEXPECTED: /mutate did not pin $IMAGE to $DIGEST" >&2; exit 1; }

say "sigward serve's log (stderr, one JSON object per line)"
cat "$WORK/serve.log"
say "Done"
