#!/bin/sh
# Regenerates every fixture in this folder (keys are random: signatures change on each run).
# Run from this folder: sh generate.sh
set -eu
printf 'sigward test message\n' > msg.txt

# ECDSA: PKCS#8 private key, SPKI public key, ASN.1 DER signature with the curve's cosign hash.
for spec in p256:prime256v1:sha256 p384:secp384r1:sha384 p521:secp521r1:sha512; do
  name=${spec%%:*}; rest=${spec#*:}; curve=${rest%%:*}; md=${rest#*:}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$curve -pkeyopt ec_param_enc:named_curve -out $name.key
  openssl pkey -in $name.key -pubout -out $name.pub
  openssl dgst -$md -sign $name.key -out $name.sig msg.txt
done
openssl pkey -pubin -in p256.pub -outform DER -out p256.pub.der

# Ed25519: pure EdDSA over the message.
openssl genpkey -algorithm ED25519 -out ed25519.key
openssl pkey -in ed25519.key -pubout -out ed25519.pub
openssl pkeyutl -sign -rawin -inkey ed25519.key -in msg.txt -out ed25519.sig

# RSA 2048 (rsaEncryption SPKI): PKCS#1 v1.5 and PSS (salt length = digest length) over SHA-256.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.key
openssl pkey -in rsa2048.key -pubout -out rsa2048.pub
openssl rsa -pubin -in rsa2048.pub -RSAPublicKey_out -out rsa2048.pkcs1.pub
openssl dgst -sha256 -sign rsa2048.key -out rsa2048.pkcs1v15.sig msg.txt
openssl dgst -sha256 -sign rsa2048.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out rsa2048.pss.sig msg.txt
# Go's rsa.PSSSaltLengthAuto signs with the largest salt that fits.
openssl dgst -sha256 -sign rsa2048.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:max -out rsa2048.pss-maxsalt.sig msg.txt

# RSA-PSS 2048 (id-RSASSA-PSS SPKI): without parameters, and restricted to SHA-256 / SHA-512.
openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out rsapss2048.key
openssl pkey -in rsapss2048.key -pubout -out rsapss2048.pub
openssl dgst -sha256 -sign rsapss2048.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out rsapss2048.sig msg.txt
openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha256 \
  -pkeyopt rsa_pss_keygen_mgf1_md:sha256 -pkeyopt rsa_pss_keygen_saltlen:32 -out rsapss2048-sha256.key
openssl pkey -in rsapss2048-sha256.key -pubout -out rsapss2048-sha256.pub
openssl dgst -sha256 -sign rsapss2048-sha256.key -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out rsapss2048-sha256.sig msg.txt
openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_pss_keygen_md:sha512 \
  -pkeyopt rsa_pss_keygen_mgf1_md:sha512 -pkeyopt rsa_pss_keygen_saltlen:64 -out rsapss2048-sha512.key
openssl pkey -in rsapss2048-sha512.key -pubout -out rsapss2048-sha512.pub

# Keys that must be rejected: RSA below 2048 bits, a curve cosign does not use, an encryption-only algorithm.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key
openssl pkey -in rsa1024.key -pubout -out rsa1024.pub
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -pkeyopt ec_param_enc:named_curve -out secp256k1.key
openssl pkey -in secp256k1.key -pubout -out secp256k1.pub
openssl genpkey -algorithm X25519 -out x25519.key
openssl pkey -in x25519.key -pubout -out x25519.pub
# Private keys of the rejected-only keys are not needed.
rm rsa1024.key secp256k1.key x25519.key rsapss2048-sha512.key
