//! `Engine::sign_image`: the legacy `.sig` layout or Sigstore bundles as referrers.

use std::collections::BTreeMap;

use super::*;

impl Engine {
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
            let Some(sha) = super::verify::sha256_bytes(&digest) else {
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
