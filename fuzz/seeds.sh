#!/usr/bin/env bash
# Regenerates the committed seed corpora in fuzz/corpus/ from the repository's own fixtures.
# Deterministic except the cosign_signature seeds (ECDSA signatures are randomised).
# Needs: openssl, python3, cargo (for examples/cheap_key_file.rs), /work/shared (fixtures and the
# sigstore-conformance vectors). Run from anywhere. The inputs libFuzzer added (SHA-1 names) stay.
set -euo pipefail

fuzz=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$fuzz")
corpus=$fuzz/corpus
cases=${REFERENCE_CASES:-/work/shared/fixtures/reference/cases.tsv}
keys=$root/crates/verify/tests/data/keys
sign=$root/crates/sign/tests/data

seed() { # seed TARGET NAME: stdin -> corpus/TARGET/NAME
    mkdir -p "$corpus/$1"
    cat >"$corpus/$1/$2"
}

# image_reference: inputs from distribution/reference's own tests (cases.tsv, column `input`).
inputs=$(cut -f4 "$cases")
i=0
for input in \
    'test_com' 'test.com:5000' 'test:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' \
    '[2001:db8::1]:5000/repo:tag@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' \
    '[fe80::1%eth0]:5000/repo' 'xn--7o8h.com/myimage:xn--7o8h.com@sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' \
    'b.gcr.io/test.example.com/my-app:test.example.com' 'lowercase:Uppercase' 'Uppercase:tag' \
    'dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c' \
    'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c' \
    'docker.io/library/redis@sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c' \
    'index.docker.io/library/debian' 'gcr.io/library/busybox:latest@sha256:e6693c20186f837fc393390135d8a598a96a833917917789d63766cab6c59582' \
    'validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' \
    'dock..er/docker' '-docker/docker' ':justtag'; do
    if ! grep -qxF -- "$input" <<<"$inputs"; then
        echo "seeds.sh: $input is not an input in $cases" >&2
        exit 1
    fi
    i=$((i + 1))
    printf '%s' "$input" | seed image_reference "$(printf 'cases-%02d' "$i")"
done

# digest: the digests those cases use, one per algorithm, and go-digest's error shapes.
printf '%s' 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c' | seed digest sha256
printf 'sha384:%s' "$(printf 'x' | openssl dgst -sha384 -r | cut -d' ' -f1)" | seed digest sha384
printf 'sha512:%s' "$(printf 'x' | openssl dgst -sha512 -r | cut -d' ' -f1)" | seed digest sha512
printf '%s' 'sha256:ffffffffffffffffffffffffffffffffff' | seed digest short
printf '%s' 'invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff' | seed digest unknown-algorithm
printf '%s' 'sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564' | seed digest well-formed-unsupported

# simple_signing_payload: the payloads in crates/verify/src/payload.rs's tests.
printf '%s' '{"critical":{"identity":{"docker-reference":"127.0.0.1:5443/demo/app"},"image":{"docker-manifest-digest":"sha256:aaaa"},"type":"cosign container image signature"},"optional":{"a":"2","z":"1"}}' | seed simple_signing_payload cosign-annotations
printf '%s' '{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"sha256:aaaa"},"type":"cosign container image signature"},"optional":null}' | seed simple_signing_payload cosign-no-annotations
printf '%s' '{"critical":{"identity":{"docker-reference":"127.0.0.1:5001/test/signed:v1"},"image":{"docker-manifest-digest":"sha256:abcd"},"type":"cosign container image signature"},"optional":{"creator":"containers/image 5.34.2","timestamp":1700000000}}' | seed simple_signing_payload skopeo
printf '%s' '{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":7},"type":"x"}}' | seed simple_signing_payload mistyped-digest

# public_key: every public key fixture, accepted and refused ones.
for f in "$keys"/*.pub "$keys"/p256.pub.der; do
    # shellcheck disable=SC2094 # reads $f, writes corpus/public_key/$(basename $f)
    seed public_key "$(basename "$f")" <"$f"
done

# cosign_signature: "<base64 signature>\n<payload>", signed with crates/verify/tests/data/keys/p256.key,
# the key the target trusts. Digest as in the target; the second seed signs another digest.
digest=sha256:857b8cdc1729d81221fa2f2615ae43bc9ca4cab4ba665c3f3ae9fd0e571c5104
other=sha256:0000000000000000000000000000000000000000000000000000000000000000
for pair in "valid:$digest" "other-digest:$other"; do
    name=${pair%%:*}
    payload='{"critical":{"identity":{"docker-reference":"registry.example/app"},"image":{"docker-manifest-digest":"'"${pair#*:}"'"},"type":"cosign container image signature"},"optional":{"sigward":"fuzz"}}'
    signature=$(printf '%s' "$payload" | openssl dgst -sha256 -sign "$keys/p256.key" | base64 -w0)
    printf '%s\n%s' "$signature" "$payload" | seed cosign_signature "$name"
done
printf '%s\n%s' "$(base64 -w0 <"$keys/p256.sig")" "$(cat "$keys/msg.txt")" | seed cosign_signature not-a-payload

# encrypted_key_file (the target's password is "pw"): cosign's and skopeo's files (password
# "test", so they stop at the MAC after a full-cost scrypt), unencrypted keys of every label,
# and a cheap N = 2^4 file that opens with "pw".
for f in cosign.key cosign-ed25519.key skopeo.private p384.sec1.pem rsa2048.pkcs1.pem ed25519.pkcs8.pem; do
    seed encrypted_key_file "$f" <"$sign/$f"
done
cargo run --quiet --manifest-path "$fuzz/Cargo.toml" --example cheap_key_file -- pw \
    <"$keys/p256.key" | seed encrypted_key_file cheap-n16-pw.key

# manifest: the shapes sigward reads from registries. The first two are from
# crates/oci/tests/hostile_registry.rs and crates/oci/src/manifest.rs; the others follow what
# cosign 2.5 (signature manifest, referrer), docker (v2, manifest list) and OCI indexes push.
config=sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
layer=sha256:$(printf 'layer' | openssl dgst -sha256 -r | cut -d' ' -f1)
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"'"$config"'","size":2},"layers":[]}' | seed manifest oci-manifest
printf '%s' '{"schemaVersion":2,"manifests":[]}' | seed manifest oci-index-no-media-type
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":233,"digest":"'"$layer"'"},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","size":254,"digest":"'"$layer"'","annotations":{"dev.cosignproject.cosign/signature":"'"$(base64 -w0 <"$keys/p256.sig")"'"}}]}' | seed manifest cosign-signature
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"'"$config"'","size":2,"data":"e30="},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"'"$layer"'","size":254}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"'"$digest"'","size":1234},"annotations":{"org.opencontainers.image.created":"2026-01-01T00:00:00Z"}}' | seed manifest oci-referrer
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":1469,"digest":"'"$config"'"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":2207025,"digest":"'"$layer"'"}]}' | seed manifest docker-v2
printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"'"$layer"'","platform":{"architecture":"amd64","os":"linux"}},{"mediaType":"application/vnd.docker.distribution.manifest.v2+json","size":528,"digest":"'"$digest"'","platform":{"architecture":"arm","os":"linux","variant":"v7"}}]}' | seed manifest docker-manifest-list
printf '%s' '{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}' | seed manifest docker-v1-refused

# admission_review: the AdmissionReview fixtures (request-only files wrapped in the v1 envelope).
fixtures=${ADMISSION_FIXTURES:-/work/shared/fixtures/admission}
for f in "$fixtures"/*.json; do
    name=$(basename "$f" .json)
    if python3 -c 'import json,sys; sys.exit(0 if "request" in json.load(open(sys.argv[1])) else 1)' "$f"; then
        seed admission_review "$name" <"$f"
    else
        { printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":'; cat "$f"; printf '}'; } |
            seed admission_review "$name"
    fi
done

# policy_file: the policy crate's test policies (both APIs).
for f in "$root"/crates/policy/tests/data/*.yaml; do
    seed policy_file "$(basename "$f" .yaml)" <"$f"
done

# bundle and cosign_annotations: sigstore-conformance cases. The targets verify against the
# production root that sigward embeds, which must be the conformance suite's copy.
conformance=${CONFORMANCE_VECTORS:-/work/shared/vectors/sigstore-conformance}
cases_dir=$conformance/test/assets/bundle-verify
root_sha=$(sha256sum "$conformance/production-trusted-root/trusted_root.json" | cut -d' ' -f1)
if [[ $root_sha != 6494e21ea73fa7ee769f85f57d5a3e6a08725eae1e38c755fc3517c9e6bc0b66 ]]; then
    echo "seeds.sh: $conformance/production-trusted-root/trusted_root.json is not the root the targets embed" >&2
    exit 1
fi
if [[ $(sha256sum "$cases_dir/a.txt" | cut -d' ' -f1) != a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf ]]; then
    echo "seeds.sh: $cases_dir/a.txt is not the artifact in fuzz_targets/sigstore_fixtures.rs" >&2
    exit 1
fi

# bundle: verified with the production root (v0.1, v0.2, v0.3 message signatures, DSSE, a managed
# key with a TSA timestamp; and bundles each broken in one place), and Rekor v2 / in-toto bundles
# of private roots (they parse, then fail on trust).
for case in happy-path-v0.1 happy-path-v0.2 happy-path-v0.3 happy-path-v0.3-new-mediaType \
    happy-path-intoto-in-dsse-v3 managed-key-happy-path set-invalid-signature_fail \
    inclusion-proof-corrupted-hash_fail checkpoint-wrong-roothash_fail dsse-mismatch-envelope_fail \
    bundle-unknown-version_fail rekor2-happy-path rekor2-dsse-happy-path intoto-with-custom-trust-root; do
    seed bundle "$case" <"$cases_dir/$case/bundle.sigstore.json"
done

# The same evidence in cosign's formats: the blob bundle of `cosign sign-blob --bundle`, and the
# annotations of a signature layer, "<annotations JSON>\n<payload>" (the payload is a.txt).
# Keyless layers carry the leaf and, like cosign's, the Fulcio intermediate and root as chain.
legacy() { # legacy CASE FORMAT
    python3 - "$cases_dir/$1/bundle.sigstore.json" "$conformance/production-trusted-root/trusted_root.json" "$2" <<'PY'
import base64, json, sys

bundle = json.load(open(sys.argv[1]))
root = json.load(open(sys.argv[2]))
material = bundle["verificationMaterial"]
entry = material["tlogEntries"][0]

def pem(raw):
    body = "\n".join(raw[i:i + 64] for i in range(0, len(raw), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"

leaf = (material.get("certificate") or (material.get("x509CertificateChain") or {}).get("certificates", [None])[0])
rekor = {
    "SignedEntryTimestamp": entry["inclusionPromise"]["signedEntryTimestamp"],
    "Payload": {
        "body": entry["canonicalizedBody"],
        "integratedTime": int(entry["integratedTime"]),
        "logIndex": int(entry["logIndex"]),
        "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
    },
}
signature = bundle["messageSignature"]["signature"]
compact = {"separators": (",", ":")}
if sys.argv[3] == "blob":
    out = {"base64Signature": signature, "rekorBundle": rekor}
    if leaf:
        out["cert"] = base64.b64encode(pem(leaf["rawBytes"]).encode()).decode()
    sys.stdout.write(json.dumps(out, **compact))
else:
    annotations = {
        "dev.cosignproject.cosign/signature": signature,
        "dev.sigstore.cosign/bundle": json.dumps(rekor, **compact),
    }
    if leaf:
        fulcio = root["certificateAuthorities"][-1]["certChain"]["certificates"]
        annotations["dev.sigstore.cosign/certificate"] = pem(leaf["rawBytes"])
        annotations["dev.sigstore.cosign/chain"] = "".join(pem(c["rawBytes"]) for c in fulcio)
    stamps = (material.get("timestampVerificationData") or {}).get("rfc3161Timestamps", [])
    if stamps:
        annotations["dev.sigstore.cosign/rfc3161timestamp"] = json.dumps(
            {"SignedRFC3161Timestamp": stamps[0]["signedTimestamp"]}, **compact)
    sys.stdout.write(json.dumps(annotations, **compact) + "\n")
PY
}
legacy happy-path-v0.1 blob | seed bundle cosign-blob-bundle-from-happy-path-v0.1
legacy managed-key-happy-path blob | seed bundle cosign-blob-bundle-from-managed-key-happy-path
for pair in keyless:happy-path-v0.1 keyless-v0.3:happy-path-v0.3 key-with-tsa:managed-key-happy-path \
    keyless-bad-set:set-invalid-signature_fail keyless-bad-signature:signature-mismatch_fail; do
    { legacy "${pair#*:}" layer; cat "$cases_dir/a.txt"; } | seed cosign_annotations "${pair%%:*}"
done
