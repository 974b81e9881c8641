// Copied from the shared peer recipes (shared/peers/test-peers.sh, embedded "verify-bundle.js"; shared/peers/README.md
// section 5). Test infrastructure data: scripts/peers.sh copies it into $SIGWARD_PEERS_DIR/npm; it verifies a Sigstore
// bundle offline with sigstore-js against a custom trusted root (the @sigstore/cli "verify" only takes TUF options):
// sigstore-js offline bundle verification against a custom trusted root:
//   node verify-bundle.js trusted_root.json bundle.json [artifact|""] [SAN] [issuer]
const fs = require('fs');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');
const { toSignedEntity, toTrustMaterial, Verifier } = require('@sigstore/verify');
const [tr, bf, art, san, iss] = process.argv.slice(2);
const trust = toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(fs.readFileSync(tr))));
const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bf)));
const v = new Verifier(trust, { tlogThreshold: 1, ctlogThreshold: 1, tsaThreshold: 0 });
const signer = v.verify(toSignedEntity(bundle, art ? fs.readFileSync(art) : undefined), san ? { subjectAlternativeName: san, extensions: iss ? { issuer: iss } : undefined } : undefined);
console.log('OK', JSON.stringify({ san: signer.identity && signer.identity.subjectAlternativeName, issuer: signer.identity && signer.identity.extensions }));
