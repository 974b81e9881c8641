//! The "simple signing" payload that cosign and containers/image sign: it names the image's
//! manifest digest (`critical.image.docker-manifest-digest`) and, informatively, the repository
//! it was signed for (`critical.identity.docker-reference`), plus free-form `optional` claims
//! (cosign's `-a key=value` annotations, containers/image's creator and timestamp).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// `critical.type` of every cosign container image signature.
pub const COSIGN_SIGNATURE_TYPE: &str = "cosign container image signature";

/// A simple-signing payload, as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleSigningPayload {
    /// The claims a verifier must check.
    pub critical: Critical,
    /// Free-form claims (`null` when there are none, as cosign writes it).
    pub optional: Option<Map<String, Value>>,
}

/// The `critical` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// Which repository the signer meant.
    pub identity: Identity,
    /// Which manifest was signed.
    pub image: SignedImage,
    /// Always [`COSIGN_SIGNATURE_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The repository (cosign) or tagged reference (containers/image) signed for.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedImage {
    /// The signed manifest digest, `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigningPayload {
    /// The payload for signing `digest` of `docker_reference`, with `annotations` as optional claims.
    pub fn new(docker_reference: &str, digest: &str, annotations: &[(String, String)]) -> Self {
        let optional = if annotations.is_empty() {
            None
        } else {
            Some(
                annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        SimpleSigningPayload {
            critical: Critical {
                identity: Identity {
                    docker_reference: docker_reference.to_string(),
                },
                image: SignedImage {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: COSIGN_SIGNATURE_TYPE.to_string(),
            },
            optional,
        }
    }

    /// The exact bytes to sign: compact JSON, keys in cosign's order, optional keys sorted.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain strings and maps of JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses signed bytes. Every critical field must be present with the right type; unknown
    /// fields are tolerated (cosign adds none, other signers may).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::MalformedPayload {
            reason: e.to_string(),
        })
    }

    /// The string value of optional claim `key`, if it is a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.optional.as_ref()?.get(key)?.as_str()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cosign_byte_layout() {
        let p = SimpleSigningPayload::new(
            "127.0.0.1:5443/demo/app",
            "sha256:aaaa",
            &[("z".into(), "1".into()), ("a".into(), "2".into())],
        );
        assert_eq!(
            String::from_utf8(p.to_bytes()).unwrap(),
            r#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5443/demo/app"},"image":{"docker-manifest-digest":"sha256:aaaa"},"type":"cosign container image signature"},"optional":{"a":"2","z":"1"}}"#
        );
        let none = SimpleSigningPayload::new("r", "sha256:aaaa", &[]);
        assert!(String::from_utf8(none.to_bytes())
            .unwrap()
            .ends_with(r#""optional":null}"#));
    }

    #[test]
    fn parses_skopeo_payload() {
        let p = SimpleSigningPayload::parse(br#"{"critical":{"identity":{"docker-reference":"127.0.0.1:5001/test/signed:v1"},"image":{"docker-manifest-digest":"sha256:abcd"},"type":"cosign container image signature"},"optional":{"creator":"containers/image 5.34.2","timestamp":1700000000}}"#).unwrap();
        assert_eq!(p.critical.image.docker_manifest_digest, "sha256:abcd");
        assert_eq!(p.annotation("creator"), Some("containers/image 5.34.2"));
        assert_eq!(p.annotation("timestamp"), None);
    }

    #[test]
    fn rejects_missing_or_mistyped_critical_fields() {
        for bad in [
            &br#"{"critical":{"identity":{"docker-reference":"r"},"type":"cosign container image signature"},"optional":null}"#[..],
            br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":7},"type":"x"}}"#,
            br#"{"optional":{}}"#,
            b"",
            b"\xff\xfe",
            b"[1,2]",
        ] {
            assert!(matches!(SimpleSigningPayload::parse(bad), Err(Error::MalformedPayload { .. })), "{bad:?}");
        }
    }
}
