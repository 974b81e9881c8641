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

use std::collections::BTreeMap;

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

    /// Verifies that `image` carries at least one signature satisfying `options`.
    pub async fn verify_image(
        &self,
        image: &ImageReference,
        options: &VerifyOptions,
    ) -> Result<ImageVerification, EngineError> {
        let registry_error = |source| EngineError::Registry {
            image: image.to_string(),
            source,
        };
        let digest = self
            .client
            .resolve_digest(image)
            .await
            .map_err(registry_error)?;
        let mut candidates = 0usize;
        let mut failures: Vec<sigward_verify::Error> = Vec::new();
        let mut verified = Vec::new();
        // Signatures in the legacy layout first (where cosign, skopeo and CRI-O put them, and
        // the cheapest to read); referrers only when that yields nothing acceptable.
        if options.predicate_type.is_none() {
            let layers = self
                .client
                .tag_signatures(image, &digest)
                .await
                .map_err(registry_error)?;
            check_layers(
                &layers,
                &digest,
                options,
                &mut candidates,
                &mut verified,
                &mut failures,
            );
            if !verified.is_empty() {
                return Ok(ImageVerification {
                    image: image.clone(),
                    digest,
                    signatures: verified,
                });
            }
        }
        let referrers = self
            .client
            .referrer_evidence(image, &digest)
            .await
            .map_err(registry_error)?;
        if options.predicate_type.is_none() {
            check_layers(
                &referrers.cosign_layers,
                &digest,
                options,
                &mut candidates,
                &mut verified,
                &mut failures,
            );
        }
        for found in &referrers.bundles {
            candidates += 1;
            match check_bundle(&found.bundle, &digest, options) {
                Ok(bundle) => verified.push(ImageSignature {
                    evidence: Evidence::Bundle(bundle),
                    location: SignatureLocation::Referrer {
                        manifest: found.manifest.clone(),
                    },
                }),
                Err(Some(e)) => failures.push(e),
                Err(None) => candidates -= 1,
            }
        }
        if !verified.is_empty() {
            return Ok(ImageVerification {
                image: image.clone(),
                digest,
                signatures: verified,
            });
        }
        match sigward_verify::Error::most_specific(failures) {
            None => Err(EngineError::NoSignatures {
                image: image.to_string(),
                digest: digest.clone(),
                looked_in: match &options.predicate_type {
                    None => format!(
                        "tag {} and OCI referrers",
                        sigward_oci::signatures::signature_tag(&digest)
                    ),
                    Some(p) => format!("OCI referrers, for attestations of type {p}"),
                },
            }),
            Some(reason) => Err(EngineError::NoneVerified {
                image: image.to_string(),
                digest,
                candidates,
                reason,
            }),
        }
    }

    /// Signs `image` with `key`, storing the signature under the tag schema.
    pub async fn sign_image(
        &self,
        image: &ImageReference,
        key: &PrivateKey,
        options: &SignOptions,
    ) -> Result<Vec<SignOutcome>, EngineError> {
        let registry_error = |source| EngineError::Registry {
            image: image.to_string(),
            source,
        };
        // Fetch (not just HEAD) so the bytes are checked against the digest we sign.
        let reference = match (image.digest(), image.tag()) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_string(),
        };
        let top = self
            .client
            .get_manifest(image, &reference)
            .await
            .map_err(registry_error)?;
        let mut targets = vec![top.digest.clone()];
        if let (true, Manifest::Index(index)) = (options.recursive, &top.manifest) {
            if index.manifests.len() > limits::MAX_INDEX_MANIFESTS {
                return Err(EngineError::TooManyManifests {
                    image: image.to_string(),
                    count: index.manifests.len(),
                    limit: limits::MAX_INDEX_MANIFESTS,
                });
            }
            targets.extend(index.manifests.iter().map(|d| d.digest.clone()));
        }
        let public = key.public_key();
        if options.bundle_format {
            return self
                .sign_with_bundles(image, key, options, &top, targets)
                .await;
        }
        let mut outcomes = Vec::new();
        for digest in targets {
            let payload = SimpleSigningPayload::new(
                &docker_reference(image, &digest),
                &digest.to_string(),
                &options.annotations,
            )
            .to_bytes();
            let existing = self
                .client
                .tag_signatures(image, &digest)
                .await
                .map_err(registry_error)?;
            // The same key already signed the same payload (and logged it, if logging is asked
            // for: an unlogged signature does not stand in for a logged one).
            let already = existing.iter().any(|layer| {
                layer.payload == payload
                    && (options.rekor.is_none() || layer.annotation(BUNDLE_ANNOTATION).is_some())
                    && layer.annotation(SIGNATURE_ANNOTATION).is_some_and(|sig| {
                        let sig = CosignSignature {
                            payload: &layer.payload,
                            signature_base64: sig,
                            ..CosignSignature::default()
                        };
                        verify_with_key(sig, &public, &digest.to_string()).is_ok()
                    })
            });
            if already {
                outcomes.push(SignOutcome {
                    digest,
                    signature_manifest: None,
                    already_signed: true,
                });
                continue;
            }
            let signature = key.sign(&payload).map_err(|source| EngineError::Sign {
                image: image.to_string(),
                source,
            })?;
            let mut annotations = BTreeMap::new();
            let signature_base64 = base64_encode(&signature);
            annotations.insert(SIGNATURE_ANNOTATION.to_string(), signature_base64.clone());
            if let Some((certificate, chain)) = &options.certificate {
                annotations.insert(CERTIFICATE_ANNOTATION.to_string(), certificate.clone());
                if let Some(chain) = chain {
                    annotations.insert(CHAIN_ANNOTATION.to_string(), chain.clone());
                }
            }
            if let Some(rekor) = &options.rekor {
                let payload_digest =
                    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &payload);
                let mut sha = [0u8; 32];
                sha.copy_from_slice(payload_digest.as_ref());
                let entry = rekor
                    .upload_hashedrekord(&sha, &signature, &public.to_pem())
                    .await
                    .map_err(|source| EngineError::Sign {
                        image: image.to_string(),
                        source,
                    })?;
                let bundle = entry.cosign_bundle_annotation();
                // Check the log's answer the way a verifier will, before storing anything.
                if let Some(trust) = &options.trust {
                    let evidence = CosignSignature {
                        payload: &payload,
                        signature_base64: &signature_base64,
                        rekor_bundle: Some(&bundle),
                        ..CosignSignature::default()
                    };
                    verify_cosign_signature(
                        evidence,
                        CosignTrust::Key {
                            key: &public,
                            trust,
                        },
                        &digest.to_string(),
                    )
                    .map_err(|reason| EngineError::LogEntryRejected {
                        image: image.to_string(),
                        reason,
                    })?;
                }
                annotations.insert(BUNDLE_ANNOTATION.to_string(), bundle);
            }
            let manifest = self
                .client
                .append_tag_signatures(image, &digest, vec![(payload, annotations)])
                .await
                .map_err(registry_error)?;
            outcomes.push(SignOutcome {
                digest,
                signature_manifest: Some(manifest),
                already_signed: false,
            });
        }
        Ok(outcomes)
    }

    /// Signs each target manifest's bytes (a message signature over its digest), logs it,
    /// and attaches the resulting Sigstore bundle to the manifest as an OCI 1.1 referrer.
    async fn sign_with_bundles(
        &self,
        image: &ImageReference,
        key: &PrivateKey,
        options: &SignOptions,
        top: &sigward_oci::manifest::FetchedManifest,
        targets: Vec<Digest>,
    ) -> Result<Vec<SignOutcome>, EngineError> {
        let registry_error = |source| EngineError::Registry {
            image: image.to_string(),
            source,
        };
        let sign_error = |source| EngineError::Sign {
            image: image.to_string(),
            source,
        };
        let Some(rekor) = &options.rekor else {
            return Err(EngineError::BundleNeedsLog {
                image: image.to_string(),
            });
        };
        if !options.annotations.is_empty() {
            return Err(EngineError::BundleAnnotations {
                image: image.to_string(),
            });
        }
        let public = key.public_key();
        let mut outcomes = Vec::new();
        for digest in targets {
            let fetched = if digest == top.digest {
                top.clone()
            } else {
                self.client
                    .get_manifest(image, &digest.to_string())
                    .await
                    .map_err(registry_error)?
            };
            let Some(sha) = sha256_bytes(&digest) else {
                return Err(EngineError::Sign {
                    image: image.to_string(),
                    source: sigward_sign::Error::UnsupportedKeyType {
                        key_type: format!("manifest digest {digest} is not SHA-256"),
                    },
                });
            };
            // ECDSA and RSA hash the message with SHA-256: this signs the manifest digest.
            let signature = key.sign(&fetched.bytes).map_err(sign_error)?;
            let entry = rekor
                .upload_hashedrekord(&sha, &signature, &public.to_pem())
                .await
                .map_err(sign_error)?;
            let json = sigward_sign::bundle::sigstore_bundle(&signature, &sha, Some(&entry))
                .map_err(sign_error)?;
            if let Some(trust) = &options.trust {
                let bundle = parse_bundle(json.as_bytes()).map_err(|reason| {
                    EngineError::LogEntryRejected {
                        image: image.to_string(),
                        reason,
                    }
                })?;
                verify_bundle(
                    trust,
                    &bundle,
                    ArtifactInput::Sha256(sha),
                    &BundlePolicy::Key(public.clone()),
                )
                .map_err(|reason| EngineError::LogEntryRejected {
                    image: image.to_string(),
                    reason,
                })?;
            }
            let subject = sigward_oci::manifest::Descriptor {
                media_type: fetched.media_type.clone(),
                digest: digest.clone(),
                size: fetched.bytes.len() as u64,
                artifact_type: None,
                annotations: BTreeMap::new(),
                platform: None,
            };
            let mut annotations = BTreeMap::new();
            annotations.insert(
                "dev.sigstore.bundle.content".to_string(),
                "message-signature".to_string(),
            );
            let referrer = self
                .client
                .attach_bundle(image, &subject, json.into_bytes(), annotations)
                .await
                .map_err(registry_error)?;
            outcomes.push(SignOutcome {
                digest,
                signature_manifest: Some(referrer),
                already_signed: false,
            });
        }
        Ok(outcomes)
    }
}

fn check_layers(
    layers: &[SignatureLayer],
    digest: &Digest,
    options: &VerifyOptions,
    candidates: &mut usize,
    verified: &mut Vec<ImageSignature>,
    failures: &mut Vec<sigward_verify::Error>,
) {
    for layer in layers {
        *candidates += 1;
        match check_layer(layer, digest, options) {
            Ok(signature) => verified.push(ImageSignature {
                evidence: Evidence::Cosign(signature),
                location: layer.location.clone(),
            }),
            Err(e) => failures.push(e),
        }
    }
}

/// Verifies a bundle referrer for the image `digest`. `Err(None)` when the bundle is not the
/// kind asked for (an attestation when signatures are wanted, or another predicate type).
fn check_bundle(
    json: &[u8],
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedBundle, Option<sigward_verify::Error>> {
    let Some(trust) = &options.trust else {
        // Bundles carry their log evidence; the insecure key-only mode does not read them.
        return Err(None);
    };
    let bundle = parse_bundle(json).map_err(Some)?;
    let Some(image_digest) = sha256_bytes(digest) else {
        return Err(Some(sigward_verify::Error::UnsupportedBundle {
            reason: format!("image digest {digest} is not SHA-256"),
        }));
    };
    let mut policies: Vec<BundlePolicy> = options
        .keys
        .iter()
        .cloned()
        .map(BundlePolicy::Key)
        .collect();
    policies.extend(options.keyless.iter().map(|k| BundlePolicy::Keyless {
        identity: k.identity.clone(),
        issuer: k.issuer.clone(),
        claims: k.claims.clone(),
    }));
    let mut failures = Vec::new();
    for policy in &policies {
        match verify_bundle(trust, &bundle, ArtifactInput::Sha256(image_digest), policy) {
            Ok(v) => {
                let wanted = match (&options.predicate_type, v.predicate_type()) {
                    (None, None) => true,
                    (None, Some(p)) => p == COSIGN_SIGN_PREDICATE_TYPE,
                    (Some(want), Some(p)) => want == p,
                    (Some(_), None) => false,
                };
                if !wanted {
                    return Err(None);
                }
                if let Some((key, expected)) = options.annotations.first() {
                    return Err(Some(sigward_verify::Error::AnnotationMismatch {
                        key: key.clone(),
                        expected: expected.clone(),
                        found: None,
                    }));
                }
                return Ok(v);
            }
            Err(e) => failures.push(e),
        }
    }
    Err(sigward_verify::Error::most_specific(failures))
}

fn sha256_bytes(digest: &Digest) -> Option<[u8; 32]> {
    if digest.algorithm() != sigward_oci::DigestAlgorithm::Sha256 {
        return None;
    }
    let hex = digest.hex();
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The identity written into a signature. Signed by tag: `name:tag` (the tag defaulting to
/// `latest`), so containers/image's `matchRepoDigestOrExact` accepts pulls by that tag and by
/// digest. Signed by digest only: `name@digest`, which that rule accepts for pulls by digest
/// (cosign writes the bare repository there, which the rule rejects). cosign itself does not
/// check this field.
pub fn docker_reference(image: &ImageReference, digest: &Digest) -> String {
    match (image.tag(), image.digest()) {
        (Some(tag), _) => format!("{}:{}", image.name(), tag),
        (None, Some(_)) => format!("{}@{}", image.name(), digest),
        (None, None) => format!("{}:latest", image.name()),
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn check_layer(
    layer: &SignatureLayer,
    digest: &Digest,
    options: &VerifyOptions,
) -> Result<VerifiedSignature, sigward_verify::Error> {
    let Some(signature_base64) = layer.annotation(SIGNATURE_ANNOTATION) else {
        return Err(sigward_verify::Error::MissingSignature);
    };
    let signature = CosignSignature {
        payload: &layer.payload,
        signature_base64,
        certificate_pem: layer.annotation(CERTIFICATE_ANNOTATION),
        chain_pem: layer.annotation(CHAIN_ANNOTATION),
        rekor_bundle: layer.annotation(BUNDLE_ANNOTATION),
        rfc3161_timestamp: layer.annotation(RFC3161_TIMESTAMP_ANNOTATION),
    };
    let digest = digest.to_string();
    let mut trusts = Vec::new();
    for key in &options.keys {
        trusts.push(match &options.trust {
            Some(trust) => CosignTrust::Key { key, trust },
            None => CosignTrust::KeyWithoutTlogUnsafe { key },
        });
    }
    if let Some(trust) = &options.trust {
        for k in &options.keyless {
            trusts.push(CosignTrust::Keyless {
                trust,
                identity: &k.identity,
                issuer: &k.issuer,
                claims: &k.claims,
            });
        }
    }
    if let Some((roots, subject)) = &options.pki {
        // The one clock read on this path: PKI chains are valid "now", as in containers/image.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        trusts.push(CosignTrust::Pki {
            roots,
            subject,
            now,
        });
    }
    let mut failures = Vec::new();
    for trust in trusts {
        match verify_cosign_signature(signature, trust, &digest) {
            Ok(v) => {
                v.check_annotations(&options.annotations)?;
                return Ok(v);
            }
            Err(e) => failures.push(e),
        }
    }
    Err(sigward_verify::Error::most_specific(failures)
        .unwrap_or(sigward_verify::Error::NoTrustedKey))
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
