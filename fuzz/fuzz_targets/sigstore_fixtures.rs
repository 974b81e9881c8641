//! What the `bundle` and `cosign_annotations` targets verify against. It matches the
//! sigstore-conformance cases their seeds come from (fuzz/seeds.sh). There is no network and no
//! file I/O: everything below is compiled in.
//!
//! - Trust: the Sigstore public-good production trusted root that sigward embeds
//!   ([`PRODUCTION_TRUSTED_ROOT`]). It is byte-identical (sha256 6494e21e…0b66, checked by
//!   seeds.sh) to `/work/shared/vectors/sigstore-conformance/production-trusted-root/trusted_root.json`,
//!   the root the conformance cases without their own `trusted_root.json` are verified against.
//! - Keyless policy: the conformance default identity and issuer, matched exactly.
//! - Key policy: the managed key of the conformance case `managed-key-happy-path` (`key.pub`).
//! - Artifact: the conformance suite's `a.txt`.
#![allow(dead_code)] // each target uses part of this module

use std::sync::LazyLock;

use sigward_verify::bundle::{BundlePolicy, Matcher, TrustMaterial, PRODUCTION_TRUSTED_ROOT};
use sigward_verify::pki::{PkiRoots, PkiSubject};
use sigward_verify::PublicKey;

pub const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
pub const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// `test/assets/bundle-verify/managed-key-happy-path/key.pub` (ECDSA P-256).
pub const MANAGED_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAExRRST79+PsrRBnGAI4cMu6Omz2Jh
fwlMW+gIutNKVRaMyS4rQKvgngc5p8UbLj55pVHhIoAxi/SRgURZI0J3Xw==
-----END PUBLIC KEY-----
";

/// `test/assets/bundle-verify/a.txt`, the artifact every production-root case signs.
pub const ARTIFACT: &[u8] = b"DO NOT MODIFY ME!\n\nthis is \"a.txt\", a sample input for \
sigstore-conformance's test suite.\n\nDO NOT MODIFY ME!\n";

/// SHA-256 of [`ARTIFACT`]: a0cfc712…01bf.
pub const ARTIFACT_SHA256: [u8; 32] = [
    0xa0, 0xcf, 0xc7, 0x12, 0x71, 0xd6, 0xe2, 0x78, 0xe5, 0x7c, 0xd3, 0x32, 0xff, 0x95, 0x7c, 0x3f,
    0x70, 0x43, 0xfd, 0xda, 0x35, 0x4c, 0x4c, 0xbb, 0x19, 0x0a, 0x30, 0xd5, 0x6e, 0xfa, 0x01, 0xbf,
];

/// The integrated time of `happy-path-v0.1`'s log entry, inside its Fulcio certificate's
/// ten-minute validity: the PKI check's "now", so that certificate chains.
pub const PKI_NOW: u64 = 1_689_177_396;

pub static TRUST: LazyLock<TrustMaterial> = LazyLock::new(|| {
    TrustMaterial::from_trusted_root_json(PRODUCTION_TRUSTED_ROOT.as_bytes())
        .expect("the production trusted root loads")
});

pub static MANAGED_KEY: LazyLock<PublicKey> =
    LazyLock::new(|| PublicKey::parse(MANAGED_KEY_PEM.as_bytes()).expect("the managed key parses"));

pub static IDENTITY_MATCHER: LazyLock<Matcher> =
    LazyLock::new(|| Matcher::Exact(IDENTITY.to_string()));
pub static ISSUER_MATCHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::Exact(ISSUER.to_string()));

pub static KEYLESS_POLICY: LazyLock<BundlePolicy> = LazyLock::new(|| BundlePolicy::Keyless {
    identity: IDENTITY_MATCHER.clone(),
    issuer: ISSUER_MATCHER.clone(),
    claims: Vec::new(),
});

pub static KEY_POLICY: LazyLock<BundlePolicy> =
    LazyLock::new(|| BundlePolicy::Key(MANAGED_KEY.clone()));

/// The production Fulcio CAs as a customer PKI: each chain's last certificate is a root, the
/// others are intermediates.
pub static FULCIO_PKI: LazyLock<PkiRoots> = LazyLock::new(|| {
    let root: serde_json::Value =
        serde_json::from_str(PRODUCTION_TRUSTED_ROOT).expect("the trusted root is JSON");
    let (mut roots, mut intermediates) = (String::new(), String::new());
    for authority in root["certificateAuthorities"]
        .as_array()
        .expect("certificate authorities")
    {
        let chain = authority["certChain"]["certificates"]
            .as_array()
            .expect("a certificate chain");
        for (i, certificate) in chain.iter().enumerate() {
            let base64 = certificate["rawBytes"].as_str().expect("rawBytes");
            let pem = format!("-----BEGIN CERTIFICATE-----\n{base64}\n-----END CERTIFICATE-----\n");
            if i + 1 == chain.len() {
                roots.push_str(&pem);
            } else {
                intermediates.push_str(&pem);
            }
        }
    }
    PkiRoots::from_pem(roots.as_bytes(), intermediates.as_bytes())
        .expect("the Fulcio CAs are valid PKI roots")
});

pub static PKI_SUBJECT: LazyLock<PkiSubject> =
    LazyLock::new(|| PkiSubject::Email("signer@example.com".to_string()));
