//! Mutation test over the sigstore-conformance bundles that must verify: every value in every
//! bundle (signatures, certificates, SETs, inclusion proofs, checkpoints, log entry bodies,
//! indices, times, digests, DSSE payloads, timestamps) is corrupted one at a time, and every
//! mutant must be rejected. A mutant that verifies is a check that does not happen.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use sigward_verify::bundle::{
    parse_bundle, verify_bundle, ArtifactInput, BundlePolicy, Matcher, TrustMaterial,
};
use sigward_verify::PublicKey;

fn suite() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigstore-conformance");
    if dir.join("CASES.tsv").exists() {
        return Some(dir);
    }
    let msg = format!(
        "sigstore-conformance vectors not found at {}",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// Every leaf of `v` with its JSON pointer.
fn leaves(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, v)| leaves(v, format!("{path}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{path}/{i}"), out)),
        _ => out.push(path),
    }
}

fn flip(bytes: &[u8], at: usize) -> String {
    let mut bytes = bytes.to_vec();
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x01;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Corrupted copies of a leaf value: bits flipped in decoded base64 (early, middle and near the
/// end, where DER signatures sit), a number changed, each signed line of a checkpoint changed
/// and its signature flipped, or a character changed in other text.
fn corruptions(path: &str, v: &Value) -> Vec<Value> {
    let b64 = base64::engine::general_purpose::STANDARD;
    match v {
        Value::String(s) if path.ends_with("/checkpoint/envelope") => {
            let (body, sigs) = s.split_once("\n\n").expect("a signed note");
            let mut out = Vec::new();
            let lines: Vec<&str> = body.lines().collect();
            for i in 0..lines.len() {
                let mut changed: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                changed[i].push('0');
                out.push(Value::String(format!("{}\n\n{sigs}", changed.join("\n"))));
            }
            // Flip a bit in every signature (log and witness cosignatures alike: the log's is
            // not always first, and a broken witness signature alone is harmless).
            let flipped: String = sigs
                .lines()
                .map(|line| {
                    let (name, sig) = line.rsplit_once(' ').expect("name and signature");
                    let raw = b64.decode(sig).expect("base64 signature");
                    format!("{name} {}\n", flip(&raw, raw.len() - 3))
                })
                .collect();
            out.push(Value::String(format!("{body}\n\n{flipped}")));
            out
        }
        Value::String(s) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            vec![Value::String(
                (s.parse::<u128>().unwrap_or(0) + 1).to_string(),
            )]
        }
        Value::String(s) if s.len() >= 8 && b64.decode(s).is_ok() => {
            let raw = b64.decode(s).unwrap();
            if path.ends_with("/signedTimestamp") {
                // TSTInfo sits near the start, the CMS signature at the end; certificates a
                // token embeds sit in between and are not trusted (the TSA chain comes from
                // the trusted root), so a flip there proves nothing.
                vec![
                    Value::String(flip(&raw, raw.len() / 8)),
                    Value::String(flip(&raw, raw.len() - 3)),
                ]
            } else {
                vec![
                    Value::String(flip(&raw, raw.len() / 8)),
                    Value::String(flip(&raw, raw.len() / 2)),
                    Value::String(flip(&raw, raw.len() - 3)),
                ]
            }
        }
        Value::String(s) if !s.is_empty() => {
            let mut chars: Vec<char> = s.chars().collect();
            let mid = chars.len() / 2;
            chars[mid] = if chars[mid] == 'x' { 'y' } else { 'x' };
            vec![Value::String(chars.into_iter().collect())]
        }
        Value::Number(n) => vec![Value::from(n.as_i64().unwrap_or(0) + 1)],
        Value::Bool(b) => vec![Value::Bool(!b)],
        other => vec![Value::String(format!("{other}x"))],
    }
}

/// Fields no verifier authenticates, each for a stated reason; corrupting them must not matter.
fn unauthenticated(bundle: &Value, path: &str) -> Option<&'static str> {
    if path.ends_with("/publicKey/hint")
        || path.contains("/signatures/") && path.ends_with("/keyid")
    {
        return Some("a key hint: the key comes from the policy");
    }
    // Rekor v2: index, size and root come from the entry and the signed checkpoint; the proof's
    // copies are ignored, and the checkpoint's key hint, not logId, selects the log key.
    let entry = path
        .split("/inclusionProof/")
        .next()
        .unwrap_or(path)
        .trim_end_matches("/logId/keyId");
    let v2 = bundle
        .pointer(&format!("{entry}/kindVersion/version"))
        .and_then(Value::as_str)
        == Some("0.0.2");
    let duplicate = [
        "/inclusionProof/logIndex",
        "/inclusionProof/treeSize",
        "/inclusionProof/rootHash",
        "/logId/keyId",
    ]
    .iter()
    .any(|s| path.ends_with(s));
    (v2 && duplicate).then_some("a Rekor v2 duplicate of a checkpoint-authenticated value")
}

#[test]
fn every_corrupted_field_of_a_valid_bundle_is_rejected() {
    let Some(dir) = suite() else { return };
    let text = std::fs::read_to_string(dir.join("CASES.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (mut cases, mut mutants, mut skipped, mut survivors) = (0, 0, 0, Vec::new());
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f[col("expected")] != "pass" {
            continue;
        }
        let case = f[col("case")];
        let root = f[col("trusted_root")];
        let trust = if root.starts_with("PRODUCTION") {
            TrustMaterial::production().unwrap()
        } else {
            TrustMaterial::from_trusted_root_json(&std::fs::read(dir.join(root)).unwrap()).unwrap()
        };
        let policy = if f[col("key")] != "-" {
            BundlePolicy::Key(
                PublicKey::parse(&std::fs::read(dir.join(f[col("key")])).unwrap()).unwrap(),
            )
        } else {
            BundlePolicy::Keyless {
                identity: Matcher::Exact(f[col("certificate_identity")].to_string()),
                issuer: Matcher::Exact(f[col("certificate_oidc_issuer")].to_string()),
                claims: Vec::new(),
            }
        };
        let artifact = std::fs::read(dir.join(f[col("artifact")])).unwrap();
        let original: Value = serde_json::from_slice(
            &std::fs::read(dir.join(f[col("path")]).join("bundle.sigstore.json")).unwrap(),
        )
        .unwrap();
        // The unmutated bundle verifies, or the test proves nothing.
        let bundle = parse_bundle(original.to_string().as_bytes()).unwrap();
        verify_bundle(&trust, &bundle, ArtifactInput::Bytes(&artifact), &policy)
            .unwrap_or_else(|e| panic!("{case}: the original must verify: {e}"));
        cases += 1;
        let mut paths = Vec::new();
        leaves(&original, String::new(), &mut paths);
        for path in paths {
            if unauthenticated(&original, &path).is_some() {
                skipped += 1;
                continue;
            }
            for (n, value) in corruptions(&path, original.pointer(&path).unwrap())
                .into_iter()
                .enumerate()
            {
                let mut mutant = original.clone();
                *mutant.pointer_mut(&path).unwrap() = value;
                mutants += 1;
                let verified = parse_bundle(mutant.to_string().as_bytes()).and_then(|b| {
                    verify_bundle(&trust, &b, ArtifactInput::Bytes(&artifact), &policy)
                });
                if verified.is_ok() {
                    survivors.push(format!("{case}: {path} (mutant {n})"));
                }
            }
        }
    }
    eprintln!(
        "mutation test: {cases} valid bundles, {mutants} mutants, {} survived, {skipped} unauthenticated fields skipped",
        survivors.len()
    );
    assert!(cases >= 20, "only {cases} pass cases found");
    assert!(
        survivors.is_empty(),
        "mutants that still verify:\n{}",
        survivors.join("\n")
    );
}
