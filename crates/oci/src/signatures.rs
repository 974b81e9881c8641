//! Where cosign-format signatures live in a registry, and how to read and write them.
//!
//! Two places, consulted in this order (the first is where cosign, skopeo and CRI-O put
//! signatures by default, and costs the fewest round trips):
//! 1. the tag schema: tag `sha256-<hex>.sig` in the image's repository holds an image manifest
//!    whose layers are simple-signing payloads, each carrying its signature as an annotation;
//! 2. OCI 1.1 referrers of the image with cosign's signature artifact type, through the
//!    referrers API, or the `sha256-<hex>` index tag on registries without it.

use std::collections::BTreeMap;

use serde::Serialize;
use sigward_limits as limits;

use crate::manifest::{
    Descriptor, FetchedManifest, ImageIndex, ImageManifest, Manifest, OCI_CONFIG, OCI_INDEX,
    OCI_MANIFEST,
};
use crate::{Digest, ImageReference, RegistryClient, RegistryError};

/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Annotation holding the base64 signature over the layer's payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Annotation holding a PEM signing certificate (keyless).
pub const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// Annotation holding the PEM certificate chain (keyless).
pub const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// Annotation holding an RFC 3161 timestamp over the signature (`{"SignedRFC3161Timestamp"}`).
pub const RFC3161_TIMESTAMP_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";
/// Annotation holding the Rekor bundle (SET) JSON.
pub const BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// Media types and artifact types of Sigstore bundles start with this.
pub const SIGSTORE_BUNDLE_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.bundle";
/// Artifact type of a cosign signature stored as an OCI 1.1 referrer.
pub const COSIGN_SIGNATURE_ARTIFACT_TYPE: &str = "application/vnd.dev.cosign.artifact.sig.v1+json";

/// The tag holding the signatures of `digest`: `sha256-<hex>.sig`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}.sig", referrers_tag(digest))
}

/// The OCI 1.1 referrers fallback tag of `digest`: `sha256-<hex>`.
pub fn referrers_tag(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// Where a signature was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignatureLocation {
    /// A layer of the `sha256-<hex>.sig` manifest.
    Tag {
        /// The tag.
        tag: String,
    },
    /// A layer of a referrer manifest.
    Referrer {
        /// The referrer manifest's digest.
        manifest: Digest,
    },
}

/// One candidate signature as downloaded: not verified, just bounded and digest-checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The payload blob's bytes.
    pub payload: Vec<u8>,
    /// The layer descriptor (digest, size, annotations).
    pub descriptor: Descriptor,
    /// Where it came from.
    pub location: SignatureLocation,
}

impl SignatureLayer {
    /// The value of annotation `key` on the layer.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.descriptor.annotations.get(key).map(String::as_str)
    }
}

/// What the referrers of an image hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferrerEvidence {
    /// Simple-signing layers of cosign signature artifacts.
    pub cosign_layers: Vec<SignatureLayer>,
    /// Sigstore bundles (JSON bytes, not yet verified).
    pub bundles: Vec<BundleReferrer>,
}

/// A Sigstore bundle found as a referrer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleReferrer {
    /// The referrer manifest holding it.
    pub manifest: Digest,
    /// The bundle JSON.
    pub bundle: Vec<u8>,
}

/// The signature manifest found under `sha256-<hex>.sig`, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureManifest {
    /// Its parsed body.
    pub manifest: ImageManifest,
}

impl RegistryClient {
    /// The `sha256-<hex>.sig` manifest of `digest` in `image`'s repository, if there is one.
    pub async fn signature_manifest(
        &self,
        image: &ImageReference,
        digest: &Digest,
    ) -> Result<Option<SignatureManifest>, RegistryError> {
        let tag = signature_tag(digest);
        match self.get_manifest_if_exists(image, &tag).await? {
            None => Ok(None),
            Some(fetched) => match fetched.manifest {
                Manifest::Image(manifest) => Ok(Some(SignatureManifest {
                    manifest: *manifest,
                })),
                Manifest::Index(_) => Err(RegistryError::MalformedManifest {
                    reason: format!("{tag} is an index, not a signature manifest"),
                }),
            },
        }
    }

    /// Signatures stored under the tag schema (`sha256-<hex>.sig`).
    pub async fn tag_signatures(
        &self,
        image: &ImageReference,
        digest: &Digest,
    ) -> Result<Vec<SignatureLayer>, RegistryError> {
        let Some(sig) = self.signature_manifest(image, digest).await? else {
            return Ok(Vec::new());
        };
        let location = SignatureLocation::Tag {
            tag: signature_tag(digest),
        };
        self.download_signature_layers(image, &sig.manifest, location)
            .await
    }

    /// Evidence stored as OCI 1.1 referrers (through the referrers API or, where the registry
    /// has none, the `sha256-<hex>` index tag), from one listing: cosign signature artifacts
    /// (simple-signing layers) and Sigstore bundles.
    pub async fn referrer_evidence(
        &self,
        image: &ImageReference,
        digest: &Digest,
    ) -> Result<ReferrerEvidence, RegistryError> {
        let referrers = self.referrers(image, digest, None).await?;
        too_many(image, referrers.len())?;
        let mut evidence = ReferrerEvidence::default();
        for descriptor in referrers {
            let artifact_type = descriptor.artifact_type.as_deref().unwrap_or("");
            let cosign = artifact_type == COSIGN_SIGNATURE_ARTIFACT_TYPE;
            // Some writers leave the fallback index entry's artifactType empty or "empty":
            // only the manifest itself says what it is.
            let maybe_bundle = artifact_type.starts_with(SIGSTORE_BUNDLE_TYPE_PREFIX)
                || artifact_type.is_empty()
                || artifact_type == crate::manifest::OCI_EMPTY;
            if !cosign && !maybe_bundle {
                continue;
            }
            let fetched = self
                .get_manifest(image, &descriptor.digest.to_string())
                .await?;
            let Manifest::Image(manifest) = fetched.manifest else {
                continue;
            };
            if cosign {
                let location = SignatureLocation::Referrer {
                    manifest: descriptor.digest.clone(),
                };
                evidence.cosign_layers.extend(
                    self.download_signature_layers(image, &manifest, location)
                        .await?,
                );
                too_many(image, evidence.cosign_layers.len())?;
                continue;
            }
            let is_bundle = manifest
                .artifact_type
                .as_deref()
                .or(Some(manifest.config.media_type.as_str()))
                .is_some_and(|t| t.starts_with(SIGSTORE_BUNDLE_TYPE_PREFIX))
                || manifest
                    .layers
                    .iter()
                    .any(|l| l.media_type.starts_with(SIGSTORE_BUNDLE_TYPE_PREFIX));
            if !is_bundle {
                continue;
            }
            for layer in manifest
                .layers
                .iter()
                .filter(|l| l.media_type.starts_with(SIGSTORE_BUNDLE_TYPE_PREFIX))
            {
                if layer.size > limits::MAX_BLOB_BYTES {
                    return Err(RegistryError::TooLarge {
                        registry: image.domain().to_string(),
                        what: format!("bundle {}", layer.digest),
                        limit: limits::MAX_BLOB_BYTES,
                    });
                }
                let bundle = self
                    .get_blob(image, &layer.digest, limits::MAX_BLOB_BYTES)
                    .await?;
                evidence.bundles.push(BundleReferrer {
                    manifest: descriptor.digest.clone(),
                    bundle,
                });
                too_many(image, evidence.bundles.len())?;
            }
        }
        Ok(evidence)
    }

    /// Referrers of `digest` (optionally of one artifact type): the API, else the fallback tag.
    pub async fn referrers(
        &self,
        image: &ImageReference,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>, RegistryError> {
        if let Some(index) = self.referrers_api(image, digest, artifact_type).await? {
            return Ok(index.manifests);
        }
        let tag = referrers_tag(digest);
        let Some(fetched) = self.get_manifest_if_exists(image, &tag).await? else {
            return Ok(Vec::new());
        };
        let Manifest::Index(index) = fetched.manifest else {
            return Err(RegistryError::MalformedManifest {
                reason: format!("referrers tag {tag} is not an index"),
            });
        };
        Ok(index
            .manifests
            .into_iter()
            .filter(|d| artifact_type.is_none_or(|t| d.artifact_type.as_deref() == Some(t)))
            .collect())
    }

    async fn download_signature_layers(
        &self,
        image: &ImageReference,
        manifest: &ImageManifest,
        location: SignatureLocation,
    ) -> Result<Vec<SignatureLayer>, RegistryError> {
        let mut out = Vec::new();
        let layers: Vec<_> = manifest
            .layers
            .iter()
            .filter(|l| l.media_type == SIMPLE_SIGNING_MEDIA_TYPE)
            .collect();
        too_many(image, layers.len())?;
        for layer in layers {
            if layer.size > limits::MAX_BLOB_BYTES {
                return Err(RegistryError::TooLarge {
                    registry: image.domain().to_string(),
                    what: format!("signature payload {}", layer.digest),
                    limit: limits::MAX_BLOB_BYTES,
                });
            }
            let payload = self
                .get_blob(image, &layer.digest, limits::MAX_BLOB_BYTES)
                .await?;
            out.push(SignatureLayer {
                payload,
                descriptor: layer.clone(),
                location: location.clone(),
            });
        }
        Ok(out)
    }

    /// Appends `new_layers` (payload bytes + layer annotations) to the `sha256-<hex>.sig`
    /// manifest of `digest`, creating it if needed, and pushes blobs, config and manifest.
    /// Layers already present (same payload and annotations) are not added twice.
    /// Returns the digest of the signature manifest written.
    pub async fn append_tag_signatures(
        &self,
        image: &ImageReference,
        digest: &Digest,
        new_layers: Vec<(Vec<u8>, BTreeMap<String, String>)>,
    ) -> Result<Digest, RegistryError> {
        let existing = self.signature_manifest(image, digest).await?;
        let mut layers = existing.map(|s| s.manifest.layers).unwrap_or_default();
        for (payload, annotations) in new_layers {
            let payload_digest = Digest::sha256_of(&payload);
            let duplicate = layers
                .iter()
                .any(|l| l.digest == payload_digest && l.annotations == annotations);
            if duplicate {
                continue;
            }
            let size = payload.len() as u64;
            self.push_blob(image, payload).await?;
            layers.push(Descriptor {
                media_type: SIMPLE_SIGNING_MEDIA_TYPE.to_string(),
                digest: payload_digest,
                size,
                artifact_type: None,
                annotations,
                platform: None,
            });
        }
        // A manifest sigward itself could no longer verify is not written.
        too_many(image, layers.len())?;
        let config = signature_config(&layers);
        let config_digest = self.push_blob(image, config.clone()).await?;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            artifact_type: None,
            config: Descriptor {
                media_type: OCI_CONFIG.to_string(),
                digest: config_digest,
                size: config.len() as u64,
                artifact_type: None,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers,
            subject: None,
            annotations: BTreeMap::new(),
        };
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| RegistryError::MalformedManifest {
                reason: format!("cannot serialise signature manifest: {e}"),
            })?;
        self.put_manifest(image, &signature_tag(digest), bytes, OCI_MANIFEST)
            .await
    }
}

/// The OCI empty descriptor's content: `{}`.
const EMPTY_JSON: &[u8] = b"{}";

impl RegistryClient {
    /// Attaches a Sigstore bundle to `subject` as an OCI 1.1 referrer (artifact type and layer
    /// media type `application/vnd.dev.sigstore.bundle.v0.3+json`, as @sigstore/oci and cosign
    /// write it). Where the registry has no referrers API, the referrer is also listed in the
    /// `sha256-<hex>` fallback index. Returns the referrer manifest's digest.
    pub async fn attach_bundle(
        &self,
        image: &ImageReference,
        subject: &Descriptor,
        bundle: Vec<u8>,
        annotations: BTreeMap<String, String>,
    ) -> Result<Digest, RegistryError> {
        const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
        let bundle_size = bundle.len() as u64;
        let bundle_digest = self.push_blob(image, bundle).await?;
        let config_digest = self.push_blob(image, EMPTY_JSON.to_vec()).await?;
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            artifact_type: Some(BUNDLE_V03.to_string()),
            config: Descriptor {
                media_type: crate::manifest::OCI_EMPTY.to_string(),
                digest: config_digest,
                size: EMPTY_JSON.len() as u64,
                artifact_type: None,
                annotations: BTreeMap::new(),
                platform: None,
            },
            layers: vec![Descriptor {
                media_type: BUNDLE_V03.to_string(),
                digest: bundle_digest,
                size: bundle_size,
                artifact_type: None,
                annotations: BTreeMap::new(),
                platform: None,
            }],
            subject: Some(subject.clone()),
            annotations: annotations.clone(),
        };
        let bytes =
            serde_json::to_vec(&manifest).map_err(|e| RegistryError::MalformedManifest {
                reason: format!("cannot serialise the referrer manifest: {e}"),
            })?;
        let size = bytes.len() as u64;
        let (digest, indexed) = self
            .put_manifest_by_digest(image, bytes, OCI_MANIFEST)
            .await?;
        if !indexed {
            // No referrers API: list the referrer in the fallback index (OCI 1.1 distribution spec).
            let tag = referrers_tag(&subject.digest);
            let mut index = match self.get_manifest_if_exists(image, &tag).await? {
                Some(FetchedManifest {
                    manifest: Manifest::Index(index),
                    ..
                }) => index,
                Some(_) => {
                    return Err(RegistryError::MalformedManifest {
                        reason: format!("referrers tag {tag} is not an index"),
                    })
                }
                None => ImageIndex {
                    schema_version: 2,
                    media_type: Some(OCI_INDEX.to_string()),
                    manifests: Vec::new(),
                    annotations: BTreeMap::new(),
                },
            };
            if !index.manifests.iter().any(|d| d.digest == digest) {
                index.manifests.push(Descriptor {
                    media_type: OCI_MANIFEST.to_string(),
                    digest: digest.clone(),
                    size,
                    artifact_type: Some(BUNDLE_V03.to_string()),
                    annotations,
                    platform: None,
                });
                too_many(image, index.manifests.len())?;
                let bytes =
                    serde_json::to_vec(&index).map_err(|e| RegistryError::MalformedManifest {
                        reason: format!("cannot serialise the referrers index: {e}"),
                    })?;
                self.put_manifest(image, &tag, bytes, OCI_INDEX).await?;
            }
        }
        Ok(digest)
    }
}

/// Refuses, rather than silently truncates, more signatures than sigward examines.
fn too_many(image: &ImageReference, count: usize) -> Result<(), RegistryError> {
    if count > limits::MAX_SIGNATURES_PER_IMAGE {
        return Err(RegistryError::TooManySignatures {
            registry: image.domain().to_string(),
            image: image.name(),
            count,
            limit: limits::MAX_SIGNATURES_PER_IMAGE,
        });
    }
    Ok(())
}

/// The config blob cosign writes for a signature manifest: an OCI image config whose
/// `rootfs.diff_ids` are the payload digests (the layers are uncompressed).
pub fn signature_config(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
    let config = serde_json::json!({
        "architecture": "",
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {}
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let d = Digest::parse(
            "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        assert_eq!(
            signature_tag(&d),
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"
        );
        assert_eq!(
            referrers_tag(&d),
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
        );
    }
}
