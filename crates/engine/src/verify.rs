//! `Engine::verify_image`: discovery source by source, and the checks of each candidate.

use super::*;

impl Engine {
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

pub(crate) fn sha256_bytes(digest: &Digest) -> Option<[u8; 32]> {
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
