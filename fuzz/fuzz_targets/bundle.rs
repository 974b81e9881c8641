#![no_main]

use libfuzzer_sys::fuzz_target;
use sigstore_verify::types::VerificationMaterialContent;
use sigward_verify::blob::{cosign_blob_bundle, is_sigstore_bundle};
use sigward_verify::bundle::{parse_bundle, verify_bundle, ArtifactInput};

#[path = "sigstore_fixtures.rs"]
mod fixtures;
use fixtures::{ARTIFACT, ARTIFACT_SHA256, KEYLESS_POLICY, KEY_POLICY, TRUST};

// Input: a bundle file as `sigward verify-blob --bundle` reads it: a Sigstore bundle (v0.1 to
// v0.3, told apart by its mediaType) or cosign's blob bundle. It is verified against the
// production root (see sigstore_fixtures.rs), twice: over the artifact's bytes (verify-blob,
// verify-bundle FILE) and over its SHA-256 digest (image bundles, verify-bundle sha256:...).
fuzz_target!(|bytes: &[u8]| {
    let bundle = if is_sigstore_bundle(bytes) {
        parse_bundle(bytes)
    } else {
        cosign_blob_bundle(bytes, ARTIFACT)
    };
    let Ok(bundle) = bundle else {
        return;
    };
    // As a user would: a key for a key bundle, an identity for a certificate bundle.
    let policy = match bundle.verification_material.content {
        VerificationMaterialContent::PublicKey(_) => &*KEY_POLICY,
        _ => &*KEYLESS_POLICY,
    };
    let by_bytes = verify_bundle(&TRUST, &bundle, ArtifactInput::Bytes(ARTIFACT), policy);
    let by_digest = verify_bundle(
        &TRUST,
        &bundle,
        ArtifactInput::Sha256(ARTIFACT_SHA256),
        policy,
    );
    // The same bundle verified both ways vouches for the same signer, time and content.
    if let (Ok(a), Ok(b)) = (&by_bytes, &by_digest) {
        assert_eq!(a, b);
    }
});
