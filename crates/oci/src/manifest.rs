//! OCI and Docker v2 manifests and indexes: the few fields sigward reads and writes.
//!
//! Bodies are kept as the exact bytes the registry sent: a manifest's identity is the digest of
//! those bytes, never of a re-serialisation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Digest, RegistryError};

/// `application/vnd.oci.image.manifest.v1+json`
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// `application/vnd.docker.distribution.manifest.v2+json`
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// `application/vnd.docker.distribution.manifest.list.v2+json`
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// `application/vnd.oci.image.config.v1+json`
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// The empty OCI config descriptor's media type, used by artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Every manifest media type sigward accepts, in the `Accept` header's order of preference.
pub const ACCEPTED_MANIFEST_TYPES: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A content descriptor: what a manifest says about a blob or another manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content's bytes.
    pub digest: Digest,
    /// Size of the referenced content in bytes.
    pub size: u64,
    /// Artifact type of a referenced artifact manifest (referrers listings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations on the descriptor.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Platform of an index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// Platform of one entry of an image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, e.g. `amd64`.
    pub architecture: String,
    /// Operating system, e.g. `linux`.
    pub os: String,
    /// CPU variant, e.g. `v8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// An image manifest (OCI or Docker v2 schema 2; both share these fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type, when the body states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// Artifact type (OCI 1.1 artifacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers, in order.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Manifest annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (OCI) or manifest list (Docker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    /// Always 2.
    pub schema_version: u32,
    /// The index's own media type, when the body states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests listed.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    /// Index annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest as fetched: its exact bytes, media type and digest, and its parsed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedManifest {
    /// The exact bytes the registry sent.
    pub bytes: Vec<u8>,
    /// The media type (from the body, else the `Content-Type` header).
    pub media_type: String,
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The parsed body.
    pub manifest: Manifest,
}

/// A parsed manifest body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Manifest {
    /// A single-platform image (or artifact) manifest.
    Image(Box<ImageManifest>),
    /// A multi-platform index.
    Index(ImageIndex),
}

impl Manifest {
    /// Parses `bytes` as the manifest kind named by `media_type` (the body's own `mediaType`
    /// field wins over the header when both are present and they disagree, the body is rejected).
    pub fn parse(
        bytes: &[u8],
        header_media_type: Option<&str>,
    ) -> Result<(Self, String), RegistryError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Probe {
            media_type: Option<String>,
            manifests: Option<serde_json::Value>,
        }
        let probe: Probe =
            serde_json::from_slice(bytes).map_err(|e| RegistryError::MalformedManifest {
                reason: format!("not a JSON manifest: {e}"),
            })?;
        let header = header_media_type
            .map(|h| h.split(';').next().unwrap_or(h).trim().to_string())
            .filter(|h| {
                !h.is_empty() && h != "application/json" && h != "application/octet-stream"
            });
        let media_type = match (probe.media_type, header) {
            (Some(body), Some(header)) if body != header => {
                return Err(RegistryError::MalformedManifest {
                    reason: format!(
                        "Content-Type {header} disagrees with the body's mediaType {body}"
                    ),
                })
            }
            (Some(body), _) => body,
            (None, Some(header)) => header,
            // OCI allows omitting mediaType; tell the two kinds apart by shape.
            (None, None) if probe.manifests.is_some() => OCI_INDEX.to_string(),
            (None, None) => OCI_MANIFEST.to_string(),
        };
        let malformed = |e: serde_json::Error| RegistryError::MalformedManifest {
            reason: format!("{media_type}: {e}"),
        };
        let manifest = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                Manifest::Image(serde_json::from_slice(bytes).map_err(malformed)?)
            }
            OCI_INDEX | DOCKER_MANIFEST_LIST => {
                Manifest::Index(serde_json::from_slice(bytes).map_err(malformed)?)
            }
            other => {
                return Err(RegistryError::UnsupportedMediaType {
                    media_type: other.to_string(),
                })
            }
        };
        Ok((manifest, media_type))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn parses_oci_manifest_and_index_by_shape() {
        let m = br#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
        let (parsed, mt) = Manifest::parse(m, None).unwrap();
        assert_eq!(mt, OCI_MANIFEST);
        assert!(matches!(parsed, Manifest::Image(_)));
        let i = br#"{"schemaVersion":2,"manifests":[]}"#;
        let (parsed, mt) = Manifest::parse(i, Some("application/json")).unwrap();
        assert_eq!(mt, OCI_INDEX);
        assert!(matches!(parsed, Manifest::Index(_)));
    }

    #[test]
    fn rejects_unknown_media_type() {
        let m = br#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+prettyjws"}"#;
        assert_eq!(
            Manifest::parse(m, None).unwrap_err(),
            RegistryError::UnsupportedMediaType {
                media_type: "application/vnd.docker.distribution.manifest.v1+prettyjws".into()
            }
        );
    }

    #[test]
    fn rejects_header_body_disagreement_and_garbage() {
        let m = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(
            Manifest::parse(m, Some(OCI_MANIFEST)),
            Err(RegistryError::MalformedManifest { .. })
        ));
        for garbage in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"{\"schemaVersion\":2,\"config\":7}",
        ] {
            assert!(Manifest::parse(garbage, None).is_err(), "{garbage:?}");
        }
    }
}
