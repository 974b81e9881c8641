#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use sigward_oci::signatures::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, RFC3161_TIMESTAMP_ANNOTATION,
    SIGNATURE_ANNOTATION,
};
use sigward_verify::{verify_cosign_signature, CosignSignature, CosignTrust};

#[path = "sigstore_fixtures.rs"]
mod fixtures;
use fixtures::{
    FULCIO_PKI, IDENTITY_MATCHER, ISSUER_MATCHER, MANAGED_KEY, PKI_NOW, PKI_SUBJECT, TRUST,
};

/// The image digest the payload must name. The seeds' payloads are the conformance artifact
/// (not simple-signing payloads), so they pass every evidence check and stop at the payload.
const DIGEST: &str = "sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf";

// Input: a signature layer's annotations as a compact JSON object (as in the signature
// manifest: signature, certificate, chain, Rekor bundle, RFC 3161 timestamp), one newline, the
// payload blob. The annotations go into a CosignSignature as the engine's check_layer does,
// which is verified under each kind of trust that reads them: key + Rekor, keyless (Fulcio +
// Rekor), and a customer PKI (certificate + chain annotation).
fuzz_target!(|bytes: &[u8]| {
    let (annotations, payload) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let Ok(annotations) = serde_json::from_slice::<BTreeMap<String, String>>(annotations) else {
        return;
    };
    let get = |key: &str| annotations.get(key).map(String::as_str);
    let Some(signature_base64) = get(SIGNATURE_ANNOTATION) else {
        return;
    };
    let signature = CosignSignature {
        payload,
        signature_base64,
        certificate_pem: get(CERTIFICATE_ANNOTATION),
        chain_pem: get(CHAIN_ANNOTATION),
        rekor_bundle: get(BUNDLE_ANNOTATION),
        rfc3161_timestamp: get(RFC3161_TIMESTAMP_ANNOTATION),
    };
    let trusts = [
        CosignTrust::Key {
            key: &MANAGED_KEY,
            trust: &TRUST,
        },
        CosignTrust::Keyless {
            trust: &TRUST,
            identity: &IDENTITY_MATCHER,
            issuer: &ISSUER_MATCHER,
            claims: &[],
        },
        CosignTrust::Pki {
            roots: &FULCIO_PKI,
            subject: &PKI_SUBJECT,
            now: PKI_NOW,
        },
    ];
    for trust in trusts {
        if let Ok(verified) = verify_cosign_signature(signature, trust, DIGEST) {
            assert_eq!(verified.digest(), DIGEST);
        }
    }
});
