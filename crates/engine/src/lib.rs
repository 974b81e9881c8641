//! The one pipeline behind `sigward sign`, `sigward verify` and (later) the admission webhook.
//!
//! Verify: image reference -> digest (no request when pinned) -> candidate signatures, source by
//! source (the `.sig` tag, then OCI referrers), stopping at the first source that yields a
//! signature passing every check -> [`ImageVerification`], or the most specific reason none did.
//!
//! Sign: image reference -> manifest (fetched, so its bytes are checked against the digest) ->
//! one simple-signing payload per manifest (the index's platform manifests too with
//! `recursive`) -> signature -> appended to the `.sig` manifest unless the same key already
//! signed the same payload.

pub mod admission;
mod flight;
pub mod policies;
mod sign;
pub mod stats;
mod verify;

pub use admission::{Enforcer, EnforcerConfig, ImageVerdict, NoMatch, Outcome, PolicyVerdict};
pub use flight::{FlightCache, Lookup};
pub use policies::{CompiledPolicies, LoadError};
pub use sign::docker_reference;

use serde::Serialize;
use sigward_limits as limits;
use sigward_oci::manifest::Manifest;
use sigward_oci::signatures::{SignatureLayer, SignatureLocation, SIGNATURE_ANNOTATION};
use sigward_oci::{Digest, ImageReference, RegistryClient, RegistryError};
use sigward_sign::rekor::RekorClient;
use sigward_sign::PrivateKey;
use std::sync::Arc;

use sigward_oci::signatures::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, RFC3161_TIMESTAMP_ANNOTATION,
};
use sigward_verify::bundle::{
    parse_bundle, verify_bundle, ArtifactInput, BundlePolicy, CertificateClaim, Matcher,
    TrustMaterial, VerifiedBundle, COSIGN_SIGN_PREDICATE_TYPE,
};
use sigward_verify::cosign::{
    verify_cosign_signature, verify_with_key, CosignSignature, CosignTrust, VerifiedSignature,
};
use sigward_verify::payload::SimpleSigningPayload;
use sigward_verify::pki::{PkiRoots, PkiSubject};
use sigward_verify::PublicKey;

/// Why an image could not be signed or verified.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The registry failed us.
    #[error("{image}: {source}")]
    Registry {
        /// The image concerned.
        image: String,
        /// What the registry did.
        source: RegistryError,
    },
    /// No signature exists in any place sigward looks.
    #[error("{image}: no signatures found for {digest} (looked in {looked_in})")]
    NoSignatures {
        /// The image concerned.
        image: String,
        /// Its digest.
        digest: Digest,
        /// The places consulted.
        looked_in: String,
    },
    /// Signatures exist but none passed; `reason` is the most specific failure.
    #[error("{image}: none of {candidates} signature(s) of {digest} verified: {reason}")]
    NoneVerified {
        /// The image concerned.
        image: String,
        /// Its digest.
        digest: Digest,
        /// How many candidates were checked.
        candidates: usize,
        /// The most specific failure among them.
        reason: sigward_verify::Error,
    },
    /// Signing failed.
    #[error("{image}: signing failed: {source}")]
    Sign {
        /// The image concerned.
        image: String,
        /// What the signer said.
        source: sigward_sign::Error,
    },
    /// The transparency log's answer did not verify: nothing was stored.
    #[error(
        "{image}: the transparency log's entry for the new signature does not verify: {reason}"
    )]
    LogEntryRejected {
        /// The image concerned.
        image: String,
        /// Why.
        reason: sigward_verify::Error,
    },
    /// A Sigstore bundle v0.3 carries an inclusion proof, so it needs the transparency log.
    #[error("{image}: the bundle format needs the transparency log: drop --tlog-upload=false")]
    BundleNeedsLog {
        /// The image concerned.
        image: String,
    },
    /// A message-signature bundle signs the manifest only: it has no place for claims.
    #[error(
        "{image}: -a annotations are signed only in the legacy layout, not with --bundle-format"
    )]
    BundleAnnotations {
        /// The image concerned.
        image: String,
    },
    /// An index lists more manifests than sigward follows.
    #[error("{image}: index lists {count} manifests, more than the limit of {limit}")]
    TooManyManifests {
        /// The image concerned.
        image: String,
        /// How many it lists.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

impl EngineError {
    /// The message without the leading image name (for reports that name the image already).
    pub fn reason(&self) -> String {
        let text = self.to_string();
        let image = match self {
            Self::Registry { image, .. }
            | Self::NoSignatures { image, .. }
            | Self::NoneVerified { image, .. }
            | Self::Sign { image, .. }
            | Self::LogEntryRejected { image, .. }
            | Self::BundleNeedsLog { image }
            | Self::BundleAnnotations { image }
            | Self::TooManyManifests { image, .. } => image,
        };
        match text.strip_prefix(&format!("{image}: ")) {
            Some(rest) => rest.to_owned(),
            None => text,
        }
    }
}

/// A keyless signer: the certificate identity and OIDC issuer required.
#[derive(Debug, Clone)]
pub struct KeylessIdentity {
    /// The certificate SAN (email or URI).
    pub identity: Matcher,
    /// The OIDC issuer.
    pub issuer: Matcher,
    /// Certificate extensions that must hold exactly these values.
    pub claims: Vec<(CertificateClaim, String)>,
}

/// Who must have signed, and with what evidence.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trusted public keys: a signature verifying with any of them is accepted.
    pub keys: Vec<PublicKey>,
    /// Trusted keyless identities.
    pub keyless: Vec<KeylessIdentity>,
    /// A customer PKI: certificates chaining to these roots, for this subject.
    pub pki: Option<(Arc<PkiRoots>, PkiSubject)>,
    /// Trust material for transparency-log and certificate checks. `None` means key signatures
    /// are accepted without log evidence (`--insecure-ignore-tlog`); keyless needs it.
    pub trust: Option<Arc<TrustMaterial>>,
    /// Optional claims every accepted signature must carry (`-a key=value`).
    pub annotations: Vec<(String, String)>,
    /// Verify attestations of this in-toto predicate type instead of signatures.
    pub predicate_type: Option<String>,
}

/// What was verified.
#[derive(Debug, Clone)]
pub enum Evidence {
    /// A cosign simple-signing signature (legacy layout or cosign referrer).
    Cosign(VerifiedSignature),
    /// A Sigstore bundle attached as a referrer.
    Bundle(VerifiedBundle),
}

/// A verified signature or attestation and where it was found.
#[derive(Debug, Clone)]
pub struct ImageSignature {
    /// What was verified.
    pub evidence: Evidence,
    /// Where it was stored.
    pub location: SignatureLocation,
}

/// The outcome of a successful verification.
#[derive(Debug, Clone)]
pub struct ImageVerification {
    /// The image as the user named it.
    pub image: ImageReference,
    /// The digest that was verified.
    pub digest: Digest,
    /// Every signature that passed, from the places consulted.
    pub signatures: Vec<ImageSignature>,
}

/// What signing did to one manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignOutcome {
    /// The signed manifest digest.
    pub digest: Digest,
    /// The `.sig` manifest now holding the signature.
    pub signature_manifest: Option<Digest>,
    /// True when an identical signature by the same key was already there.
    pub already_signed: bool,
}

/// What to put in a signature.
#[derive(Debug, Clone, Default)]
pub struct SignOptions {
    /// Optional claims (`-a key=value`).
    pub annotations: Vec<(String, String)>,
    /// Also sign every manifest an index lists.
    pub recursive: bool,
    /// Log each signature in this transparency log and store the entry with it.
    pub rekor: Option<RekorClient>,
    /// Trust material to check the log's answer against before anything is stored.
    pub trust: Option<Arc<TrustMaterial>>,
    /// Store a Sigstore bundle (v0.3) as an OCI 1.1 referrer instead of the `.sig` tag layout.
    pub bundle_format: bool,
    /// A certificate for the signing key (PEM; e.g. from a customer CA) and its chain, attached
    /// to each signature as cosign's certificate and chain annotations.
    pub certificate: Option<(String, Option<String>)>,
}

/// The pipeline, sharing one registry client (and so its connections and tokens).
#[derive(Debug, Clone)]
pub struct Engine {
    client: RegistryClient,
}

impl Engine {
    /// An engine over `client`.
    pub fn new(client: RegistryClient) -> Self {
        Engine { client }
    }

    /// The registry client.
    pub fn client(&self) -> &RegistryClient {
        &self.client
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn docker_reference_follows_what_was_signed() {
        let d = Digest::parse(
            "sha256:857b8cdc1729d81221fa2f2615ae43bc9ca4cab4ba665c3f3ae9fd0e571c5104",
        )
        .unwrap();
        let r = |s: &str| ImageReference::parse(s).unwrap();
        assert_eq!(
            docker_reference(&r("reg.example/app:v1"), &d),
            "reg.example/app:v1"
        );
        assert_eq!(
            docker_reference(&r("reg.example/app"), &d),
            "reg.example/app:latest"
        );
        assert_eq!(
            docker_reference(&r(&format!("reg.example/app@{d}")), &d),
            format!("reg.example/app@{d}")
        );
        assert_eq!(
            docker_reference(&r(&format!("reg.example/app:v2@{d}")), &d),
            "reg.example/app:v2"
        );
        // For a recursive signature the child digest is named.
        let child = Digest::sha256_of(b"child");
        assert_eq!(
            docker_reference(&r(&format!("reg.example/app@{d}")), &child),
            format!("reg.example/app@{child}")
        );
    }
}
