//! Uploading signatures to a Rekor v1 transparency log, as cosign does for key signatures: a
//! `hashedrekord` entry (payload SHA-256, signature, public key), answered with the entry, its
//! index and time, and a signed entry timestamp (SET), which cosign stores on the signature
//! layer as the `dev.sigstore.cosign/bundle` annotation.

use std::collections::BTreeMap;

use base64::Engine;
use serde::Deserialize;
use sigward_http::TlsTrust;
use sigward_limits as limits;

use crate::Error;

/// The public-good Rekor, cosign's default `--rekor-url`.
pub const PUBLIC_GOOD_REKOR_URL: &str = "https://rekor.sigstore.dev";

/// A Rekor v1 client.
#[derive(Debug, Clone)]
pub struct RekorClient {
    http: reqwest::Client,
    url: String,
}

/// A logged entry, as Rekor answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The canonicalized entry body, base64.
    pub body: String,
    /// When the log integrated it (Unix seconds).
    pub integrated_time: i64,
    /// Its index in the log.
    pub log_index: i64,
    /// The log's ID (hex SHA-256 of its public key).
    pub log_id: String,
    /// The signed entry timestamp, base64.
    pub signed_entry_timestamp: String,
    /// The inclusion proof, when the log sent one.
    pub inclusion_proof: Option<InclusionProof>,
}

/// A Merkle inclusion proof with its signed checkpoint, as Rekor v1 answers it (hex hashes).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// The entry's index in the tree the proof is for.
    #[serde(default)]
    pub log_index: i64,
    /// The tree's root hash, hex.
    pub root_hash: String,
    /// The tree's size.
    pub tree_size: i64,
    /// The audit path, hex.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The signed checkpoint (a signed note).
    pub checkpoint: String,
}

impl LogEntry {
    /// cosign's `dev.sigstore.cosign/bundle` annotation for this entry.
    pub fn cosign_bundle_annotation(&self) -> String {
        serde_json::json!({
            "SignedEntryTimestamp": self.signed_entry_timestamp,
            "Payload": {
                "body": self.body,
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            }
        })
        .to_string()
    }
}

impl RekorClient {
    /// A client for the log at `url` (e.g. `https://rekor.sigstore.dev`).
    pub fn new(url: &str, trust: &TlsTrust) -> Result<Self, Error> {
        let fail = |reason: String| Error::Rekor {
            url: url.to_string(),
            reason,
        };
        let tls = sigward_http::tls_config(trust).map_err(fail)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(limits::SIGSTORE_REQUEST_TIMEOUT)
            .user_agent(concat!("sigward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        Ok(RekorClient {
            http,
            url: url.trim_end_matches('/').to_string(),
        })
    }

    /// Logs a signature over a message with SHA-256 digest `digest`, made by the key in
    /// `public_key_pem`.
    pub async fn upload_hashedrekord(
        &self,
        digest: &[u8; 32],
        signature: &[u8],
        public_key_pem: &str,
    ) -> Result<LogEntry, Error> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let entry = serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": hex}},
                "signature": {"content": b64(signature), "publicKey": {"content": b64(public_key_pem.as_bytes())}}
            }
        });
        let fail = |reason: String| Error::Rekor {
            url: self.url.clone(),
            reason,
        };
        let resp = self
            .http
            .post(format!("{}/api/v1/log/entries", self.url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(entry.to_string())
            .send()
            .await
            .map_err(|e| fail(sigward_http::root_cause(&e)))?;
        let status = resp.status();
        let body = sigward_http::read_limited(resp, limits::MAX_SIGSTORE_RESPONSE_BYTES)
            .await
            .map_err(|e| match e {
                sigward_http::BodyError::TooLarge => fail("answer larger than the limit".into()),
                sigward_http::BodyError::Transport(e) => fail(sigward_http::root_cause(&e)),
            })?;
        if status.as_u16() == 409 {
            return Err(fail("this signature is already in the log".into()));
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body);
            return Err(fail(format!(
                "answered {status}: {}",
                text.trim().chars().take(300).collect::<String>()
            )));
        }
        parse_entry(&body).map_err(fail)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryAnswer {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: i64,
    verification: Verification,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    signed_entry_timestamp: Option<String>,
    inclusion_proof: Option<InclusionProof>,
}

/// Rekor answers `{"<uuid>": entry}`.
fn parse_entry(body: &[u8]) -> Result<LogEntry, String> {
    let answer: BTreeMap<String, EntryAnswer> =
        serde_json::from_slice(body).map_err(|e| format!("unreadable answer: {e}"))?;
    let (_, entry) = answer.into_iter().next().ok_or("answer holds no entry")?;
    let set = entry
        .verification
        .signed_entry_timestamp
        .ok_or("answer has no signed entry timestamp")?;
    Ok(LogEntry {
        body: entry.body,
        integrated_time: entry.integrated_time,
        log_index: entry.log_index,
        log_id: entry.log_id,
        signed_entry_timestamp: set,
        inclusion_proof: entry.verification.inclusion_proof,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_rekor_answers_and_writes_cosign_annotations() {
        let answer = br#"{"24296fb24b8ad77a":{"body":"eyJ9","integratedTime":1710869186,"logID":"c0d23d6a","logIndex":79571823,"verification":{"inclusionProof":{"checkpoint":"x","hashes":[],"logIndex":1,"rootHash":"ab","treeSize":2},"signedEntryTimestamp":"TUVZQ0lR"}}}"#;
        let entry = parse_entry(answer).unwrap();
        assert_eq!(entry.log_index, 79571823);
        let annotation: serde_json::Value =
            serde_json::from_str(&entry.cosign_bundle_annotation()).unwrap();
        assert_eq!(annotation["SignedEntryTimestamp"], "TUVZQ0lR");
        assert_eq!(annotation["Payload"]["logID"], "c0d23d6a");
        assert_eq!(annotation["Payload"]["integratedTime"], 1710869186);
        for bad in [
            &b"{}"[..],
            b"[]",
            br#"{"u":{"body":"x"}}"#,
            br#"{"u":{"body":"x","integratedTime":1,"logID":"a","logIndex":1,"verification":{}}}"#,
        ] {
            assert!(parse_entry(bad).is_err());
        }
    }
}
