//! cosign's blob bundle: what `cosign sign-blob --bundle` wrote before Sigstore bundles
//! (`{"base64Signature", "cert", "rekorBundle"}`). It carries the same evidence as a legacy
//! image signature layer, so it is rewritten as the same v0.1 Sigstore bundle and verified by
//! the one bundle verifier.

use base64::Engine;
use serde::Deserialize;
use sigstore_verify::types::Bundle;

use crate::Error;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CosignBlobBundle {
    base64_signature: String,
    /// base64 of the PEM certificate (keyless), absent for key signatures.
    cert: Option<String>,
    rekor_bundle: Option<serde_json::Value>,
}

/// Whether `json` is a Sigstore bundle (it names its media type) rather than cosign's format.
pub fn is_sigstore_bundle(json: &[u8]) -> bool {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(json)
        .ok()
        .and_then(|p| p.media_type)
        .is_some()
}

/// Rewrites cosign's blob bundle over `blob` as a Sigstore bundle.
pub fn cosign_blob_bundle(json: &[u8], blob: &[u8]) -> Result<Bundle, Error> {
    let parsed: CosignBlobBundle =
        serde_json::from_slice(json).map_err(|e| Error::MalformedBundle {
            reason: format!("neither a Sigstore bundle nor cosign's blob bundle: {e}"),
        })?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let signature =
        b64.decode(parsed.base64_signature.trim())
            .map_err(|e| Error::MalformedSignature {
                reason: format!("base64Signature: {e}"),
            })?;
    let certificate = match &parsed.cert {
        Some(c) if !c.is_empty() => {
            let pem = b64
                .decode(c.trim())
                .map_err(|e| Error::MalformedCertificate {
                    reason: format!("cert is not base64: {e}"),
                })?;
            Some(
                String::from_utf8(pem).map_err(|_| Error::MalformedCertificate {
                    reason: "cert is not PEM text".into(),
                })?,
            )
        }
        _ => None,
    };
    let rekor = parsed.rekor_bundle.ok_or(Error::MissingTlogEntry)?;
    let (bundle, _) = crate::cosign::legacy_bundle(
        &signature,
        certificate.as_deref(),
        &rekor.to_string(),
        None,
        blob,
    )?;
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_formats_apart_and_rejects_garbage() {
        assert!(is_sigstore_bundle(
            br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}"#
        ));
        assert!(!is_sigstore_bundle(br#"{"base64Signature":"AA=="}"#));
        assert!(matches!(
            cosign_blob_bundle(b"[]", b""),
            Err(Error::MalformedBundle { .. })
        ));
        assert_eq!(
            cosign_blob_bundle(br#"{"base64Signature":"AA=="}"#, b""),
            Err(Error::MissingTlogEntry)
        );
        assert!(matches!(
            cosign_blob_bundle(br#"{"base64Signature":"@@","rekorBundle":{}}"#, b""),
            Err(Error::MalformedSignature { .. })
        ));
    }
}
