//! How `sigward verify` reports what verified: cosign's JSON (an array of the signed payloads,
//! so scripts written for cosign keep working) with sigward's fields added, or plain text.

use serde_json::{json, Value};
use sigward_engine::ImageVerification;
use sigward_verify::cosign::Signer;

/// Output formats of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A JSON array on stdout, one object per verified signature.
    Json,
    /// One line per verified signature.
    Text,
}

fn signer_json(signer: &Signer) -> Value {
    match signer {
        Signer::PublicKey { key_id } => json!({"kind": "public_key", "key_id": key_id}),
        Signer::Certificate { identity, issuer } => {
            json!({"kind": "certificate", "identity": identity, "issuer": issuer})
        }
        #[allow(unreachable_patterns)]
        _ => json!({"kind": "unknown"}),
    }
}

pub fn print_verification(v: &ImageVerification, format: Format, tlog_checked: bool) {
    let pinned = format!("{}@{}", v.image.name(), v.digest);
    eprintln!("\nVerification for {pinned} --");
    eprintln!("The following checks were performed on each of these signatures:");
    eprintln!("  - The cosign claims were validated");
    if tlog_checked {
        eprintln!("  - Existence of the claims in the transparency log was verified offline");
    }
    let keyless = v
        .signatures
        .iter()
        .any(|s| matches!(s.signature.signer(), Signer::Certificate { .. }));
    if keyless {
        eprintln!("  - The code-signing certificate was verified using trusted certificate authority certificates");
    } else {
        eprintln!("  - The signatures were verified against the specified public key");
    }
    match format {
        Format::Json => {
            let items: Vec<Value> = v
                .signatures
                .iter()
                .map(|s| {
                    let payload = s.signature.payload();
                    json!({
                        "critical": payload.critical,
                        "optional": payload.optional,
                        "image": pinned,
                        "digest": v.digest.to_string(),
                        "signer": signer_json(s.signature.signer()),
                        "location": s.location,
                        "tlog": s.signature.log_entry().map(|l| json!({"log_index": l.log_index, "integrated_time": l.integrated_time})),
                    })
                })
                .collect();
            println!("{}", Value::Array(items));
        }
        Format::Text => {
            for s in &v.signatures {
                let signer = match s.signature.signer() {
                    Signer::PublicKey { key_id } => format!("key:{key_id}"),
                    Signer::Certificate { identity, issuer } => format!("{identity} ({issuer})"),
                    #[allow(unreachable_patterns)]
                    _ => "unknown signer".to_string(),
                };
                let annotations = s
                    .signature
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
                println!(
                    "{pinned}\tverified\tsigner={signer}\tidentity={}\tannotations={annotations}",
                    s.signature.docker_reference()
                );
            }
        }
    }
}
