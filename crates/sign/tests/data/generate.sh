#!/bin/sh
# Regenerates the encrypted-key fixtures with the real peers (cosign 2.5, skopeo 1.18) that
# scripts/peers.sh installs under .peers/. Keys are random: every run replaces every file.
# Run from this folder: . /work/main/.peers/env && sh generate.sh
set -eu
: "${SIGWARD_TEST_COSIGN:?source .peers/env first}" "${SIGWARD_TEST_SKOPEO:?source .peers/env first}"
printf 'sigward test message\n' > msg.txt

# cosign's own key pair (ECDSA P-256), password "test", and one with the empty password.
rm -f cosign.key cosign.pub cosign-empty.key cosign-empty.pub
COSIGN_PASSWORD=test "$SIGWARD_TEST_COSIGN" generate-key-pair --output-key-prefix cosign
COSIGN_PASSWORD= "$SIGWARD_TEST_COSIGN" generate-key-pair --output-key-prefix cosign-empty
# A blob signature made by cosign with that key (base64 of the ASN.1 DER ECDSA signature).
COSIGN_PASSWORD=test "$SIGWARD_TEST_COSIGN" sign-blob --key cosign.key --tlog-upload=false \
  --output-signature cosign.msg.sig msg.txt

# skopeo's key pair, passphrase "test" from a file.
printf 'test' > skopeo.passphrase
rm -f skopeo.private skopeo.pub
"$SIGWARD_TEST_SKOPEO" generate-sigstore-key --output-prefix skopeo --passphrase-file skopeo.passphrase

# An Ed25519 key made by openssl, encrypted by cosign import-key-pair (password "test").
# (This Debian cosign 2.5 build refuses to import P-384, P-521 and RSA keys with "unsupported
# public key type", so those types only have unencrypted openssl fixtures below.)
openssl genpkey -algorithm ED25519 -out ed25519.pkcs8.pem
rm -f cosign-ed25519.key cosign-ed25519.pub
COSIGN_PASSWORD=test "$SIGWARD_TEST_COSIGN" import-key-pair --key ed25519.pkcs8.pem --output-key-prefix cosign-ed25519

# Unencrypted private keys in the PEM forms cosign import-key-pair reads: PKCS#8, SEC1, PKCS#1.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp384r1 -pkeyopt ec_param_enc:named_curve -out p384.pkcs8.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp521r1 -pkeyopt ec_param_enc:named_curve -out p521.pkcs8.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pkcs8.pem
openssl ec -in p384.pkcs8.pem -out p384.sec1.pem
openssl rsa -in rsa2048.pkcs8.pem -traditional -out rsa2048.pkcs1.pem
# Key types sigward must refuse: X25519 (key agreement only) and RSA below 2048 bits.
openssl genpkey -algorithm X25519 -out x25519.pkcs8.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.pkcs8.pem
chmod 644 ./*
