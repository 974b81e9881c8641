#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use sigward_verify::{verify_with_key, CosignSignature, PublicKey};

/// The key that signed the seeds in corpus/cosign_signature (see fuzz/seeds.sh).
const KEY_PEM: &[u8] = include_bytes!("../../crates/verify/tests/data/keys/p256.pub");
const DIGEST: &str = "sha256:857b8cdc1729d81221fa2f2615ae43bc9ca4cab4ba665c3f3ae9fd0e571c5104";

static KEY: LazyLock<PublicKey> =
    LazyLock::new(|| PublicKey::parse(KEY_PEM).expect("the fixture key parses"));

// Input: signature annotation, one newline, payload bytes.
fuzz_target!(|bytes: &[u8]| {
    let (signature, payload) = match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let Ok(signature_base64) = std::str::from_utf8(signature) else {
        return;
    };
    let _ = verify_with_key(
        CosignSignature {
            payload,
            signature_base64,
            // verify_with_key checks the key alone; certificate and Rekor evidence are unused.
            ..CosignSignature::default()
        },
        &KEY,
        DIGEST,
    );
});
