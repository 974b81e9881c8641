//! Writing signatures over blobs in the two formats verifiers read: cosign's blob bundle
//! (`{"base64Signature", "rekorBundle"}`, what `cosign sign-blob --bundle` writes) and the
//! Sigstore bundle v0.3 (`--new-bundle-format`), for key signatures.

use base64::Engine;

use crate::rekor::LogEntry;
use crate::Error;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn hex_to_b64(hex: &str) -> Result<String, Error> {
    let bad = || Error::Rekor {
        url: String::new(),
        reason: format!("inclusion proof hash {hex:?} is not hex"),
    };
    if !hex.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    Ok(b64(&bytes.ok_or_else(bad)?))
}

/// cosign's blob bundle for a key signature and its log entry.
pub fn cosign_blob_bundle(signature: &[u8], entry: &LogEntry) -> String {
    let rekor: serde_json::Value =
        serde_json::from_str(&entry.cosign_bundle_annotation()).unwrap_or_default();
    serde_json::json!({"base64Signature": b64(signature), "rekorBundle": rekor}).to_string()
}

/// A Sigstore bundle v0.3 for a key signature over a blob with SHA-256 `digest`, with its log
/// entry (a v0.3 bundle needs the inclusion proof), or with none when nothing was logged.
pub fn sigstore_bundle(
    signature: &[u8],
    digest: &[u8; 32],
    entry: Option<&LogEntry>,
) -> Result<String, Error> {
    let mut tlog_entries = Vec::new();
    if let Some(entry) = entry {
        let proof = entry.inclusion_proof.as_ref().ok_or_else(|| Error::Rekor {
            url: String::new(),
            reason: "the log sent no inclusion proof, which a v0.3 bundle needs; write cosign's format instead".into(),
        })?;
        let body: serde_json::Value = base64::engine::general_purpose::STANDARD
            .decode(&entry.body)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let hashes = proof
            .hashes
            .iter()
            .map(|h| hex_to_b64(h))
            .collect::<Result<Vec<_>, _>>()?;
        let log_id = hex_to_b64(&entry.log_id)?;
        tlog_entries.push(serde_json::json!({
            "logIndex": entry.log_index.to_string(),
            "logId": {"keyId": log_id},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "integratedTime": entry.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": entry.signed_entry_timestamp},
            "inclusionProof": {
                "logIndex": proof.log_index.to_string(),
                "rootHash": hex_to_b64(&proof.root_hash)?,
                "treeSize": proof.tree_size.to_string(),
                "hashes": hashes,
                "checkpoint": {"envelope": proof.checkpoint},
            },
            "canonicalizedBody": entry.body,
        }));
    }
    Ok(serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": tlog_entries},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
            "signature": b64(signature),
        }
    })
    .to_string())
}
