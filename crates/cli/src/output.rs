//! How `sigward verify` reports what verified: cosign's JSON (an array of the signed payloads,
//! so scripts written for cosign keep working) with sigward's fields added, or plain text.
//! Bundles carry no simple-signing payload: their entries have `critical`/`optional` null and
//! a `bundle` object instead.

use serde_json::{json, Value};
use sigward_engine::{Evidence, ImageSignature, ImageVerification};
use sigward_verify::bundle::BundleSigner;
use sigward_verify::cosign::Signer;

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A JSON array on stdout, one object per verified signature.
    Json,
    /// One line per verified signature.
    Text,
}

/// Who signed, in one shape for both kinds of evidence.
struct SignerView {
    json: Value,
    text: String,
    keyless: bool,
}

fn signer(s: &ImageSignature) -> SignerView {
    let key = |key_id: &str| SignerView {
        json: json!({"kind": "public_key", "key_id": key_id}),
        text: format!("key:{key_id}"),
        keyless: false,
    };
    let cert = |identity: &str, issuer: &str| SignerView {
        json: json!({"kind": "certificate", "identity": identity, "issuer": issuer}),
        text: format!("{identity} ({issuer})"),
        keyless: true,
    };
    match &s.evidence {
        Evidence::Cosign(v) => match v.signer() {
            Signer::PublicKey { key_id } => key(key_id),
            Signer::Certificate { identity, issuer } => cert(identity, issuer),
            Signer::Pki { subject } => SignerView {
                json: json!({"kind": "pki", "subject": subject}),
                text: format!("pki:{subject}"),
                keyless: true,
            },
            #[allow(unreachable_patterns)]
            _ => key("unknown"),
        },
        Evidence::Bundle(b) => match b.signer() {
            BundleSigner::PublicKey { key_id } => key(key_id),
            BundleSigner::Certificate { identity, issuer } => cert(identity, issuer),
            #[allow(unreachable_patterns)]
            _ => key("unknown"),
        },
    }
}

fn item_json(v: &ImageVerification, s: &ImageSignature, pinned: &str) -> Value {
    let (critical, optional, tlog, bundle) = match &s.evidence {
        Evidence::Cosign(sig) => (
            json!(sig.payload().critical),
            json!(sig.payload().optional),
            sig.log_entry()
                .map(|l| json!({"log_index": l.log_index, "integrated_time": l.integrated_time})),
            Value::Null,
        ),
        Evidence::Bundle(b) => (
            Value::Null,
            Value::Null,
            Some(json!({"verified": b.tlog_verified(), "integrated_time": b.integrated_time()})),
            json!({"predicate_type": b.predicate_type()}),
        ),
    };
    json!({
        "critical": critical,
        "optional": optional,
        "image": pinned,
        "digest": v.digest.to_string(),
        "signer": signer(s).json,
        "location": s.location,
        "tlog": tlog,
        "bundle": bundle,
    })
}

pub fn print_verification(v: &ImageVerification, format: Format, tlog_checked: bool) {
    let pinned = format!("{}@{}", v.image.name(), v.digest);
    // One write to the unbuffered stderr rather than one per line.
    let mut checks = format!(
        "\nVerification for {pinned} --\nThe following checks were performed on each of these signatures:\n"
    );
    if v.signatures
        .iter()
        .any(|s| matches!(s.evidence, Evidence::Cosign(_)))
    {
        checks.push_str("  - The cosign claims were validated\n");
    }
    if tlog_checked {
        checks
            .push_str("  - Existence of the claims in the transparency log was verified offline\n");
    }
    if v.signatures.iter().any(|s| signer(s).keyless) {
        checks.push_str("  - The code-signing certificate was verified using trusted certificate authority certificates\n");
    } else {
        checks.push_str("  - The signatures were verified against the specified public key\n");
    }
    eprint!("{checks}");
    match format {
        Format::Json => {
            let items: Vec<Value> = v
                .signatures
                .iter()
                .map(|s| item_json(v, s, &pinned))
                .collect();
            println!("{}", Value::Array(items));
        }
        Format::Text => {
            for s in &v.signatures {
                let detail = match &s.evidence {
                    Evidence::Cosign(sig) => {
                        let annotations = sig
                            .payload()
                            .optional
                            .as_ref()
                            .map(|o| {
                                o.iter()
                                    .map(|(k, v)| {
                                        format!(
                                            "{k}={}",
                                            v.as_str()
                                                .map(str::to_string)
                                                .unwrap_or_else(|| v.to_string())
                                        )
                                    })
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_default();
                        format!(
                            "identity={}\tannotations={annotations}",
                            sig.docker_reference()
                        )
                    }
                    Evidence::Bundle(b) => {
                        format!(
                            "bundle\tpredicate={}",
                            b.predicate_type().unwrap_or("(message signature)")
                        )
                    }
                };
                println!("{pinned}\tverified\tsigner={}\t{detail}", signer(s).text);
            }
        }
    }
}
