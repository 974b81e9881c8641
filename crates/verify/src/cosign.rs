//! Cosign's signature format for images: a simple-signing payload plus a base64 signature over
//! its exact bytes (the `dev.cosignproject.cosign/signature` annotation), optionally with a
//! signing certificate and chain (keyless) and a Rekor bundle (`dev.sigstore.cosign/bundle`:
//! the log entry and its signed entry timestamp).
//!
//! Order of checks, each failure its own error: the signature and its evidence verify (against
//! the key alone with [`CosignTrust::KeyWithoutTlogUnsafe`]; otherwise the layer is rewritten as
//! the v0.1 Sigstore bundle it is equivalent to and verified as one: certificate chain, SET,
//! entry-signature consistency, identity) -> the payload parses -> `critical.type` is cosign's
//! -> the signed digest is the image's digest. Only then is a [`VerifiedSignature`] built.

use base64::Engine;
use sigward_limits as limits;

use crate::bundle::{
    verify_bundle, ArtifactInput, BundlePolicy, BundleSigner, CertificateClaim, Matcher,
    TrustMaterial,
};
use crate::payload::{SimpleSigningPayload, COSIGN_SIGNATURE_TYPE};
use crate::{Error, PublicKey};

/// One signature as found in a registry: payload bytes, the base64 signature over them, and
/// the evidence annotations that may travel with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CosignSignature<'a> {
    /// The payload blob, exactly as downloaded.
    pub payload: &'a [u8],
    /// The `dev.cosignproject.cosign/signature` annotation.
    pub signature_base64: &'a str,
    /// The `dev.sigstore.cosign/certificate` annotation (PEM leaf), keyless only.
    pub certificate_pem: Option<&'a str>,
    /// The `dev.sigstore.cosign/chain` annotation (PEM intermediates and root).
    pub chain_pem: Option<&'a str>,
    /// The `dev.sigstore.cosign/bundle` annotation (Rekor entry + SET, JSON).
    pub rekor_bundle: Option<&'a str>,
    /// The `dev.sigstore.cosign/rfc3161timestamp` annotation (`{"SignedRFC3161Timestamp": b64}`).
    pub rfc3161_timestamp: Option<&'a str>,
}

/// What a cosign signature must be verified against.
#[derive(Debug, Clone, Copy)]
pub enum CosignTrust<'a> {
    /// A trusted key, and a Rekor entry proving the signature was logged.
    Key {
        /// The key.
        key: &'a PublicKey,
        /// Trusted Rekor keys (and the rest of the root).
        trust: &'a TrustMaterial,
    },
    /// A trusted key alone: no transparency-log evidence required (`--insecure-ignore-tlog`).
    KeyWithoutTlogUnsafe {
        /// The key.
        key: &'a PublicKey,
    },
    /// A certificate chaining to a customer's CA roots at `now`, for this subject.
    Pki {
        /// The CA roots and intermediates.
        roots: &'a crate::pki::PkiRoots,
        /// The email or hostname required.
        subject: &'a crate::pki::PkiSubject,
        /// The verification time, Unix seconds.
        now: u64,
    },
    /// A Fulcio certificate for this identity and issuer, logged in Rekor.
    Keyless {
        /// Trusted Fulcio CAs, CT logs and Rekor keys.
        trust: &'a TrustMaterial,
        /// The certificate SAN required.
        identity: &'a Matcher,
        /// The OIDC issuer required.
        issuer: &'a Matcher,
        /// Certificate extensions required.
        claims: &'a [(CertificateClaim, String)],
    },
}

/// Who vouched for a verified signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signer {
    /// A public key the caller trusted.
    PublicKey {
        /// Hex SHA-256 of the key's SubjectPublicKeyInfo.
        key_id: String,
    },
    /// A certificate from a customer's PKI.
    Pki {
        /// The email or hostname that matched.
        subject: String,
    },
    /// A Fulcio certificate.
    Certificate {
        /// Its SAN (email or URI).
        identity: String,
        /// Its OIDC issuer.
        issuer: String,
    },
}

/// A signature that passed every check for one image digest. Only this crate can build one,
/// so code that holds one knows the checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    payload: SimpleSigningPayload,
    signer: Signer,
    log: Option<LogEntryRef>,
}

/// Where the signature was logged, when its log entry was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogEntryRef {
    /// The entry's index in the log.
    pub log_index: i64,
    /// The log's integration time (Unix seconds).
    pub integrated_time: i64,
}

impl VerifiedSignature {
    /// The signed payload.
    pub fn payload(&self) -> &SimpleSigningPayload {
        &self.payload
    }
    /// The image manifest digest the signature covers.
    pub fn digest(&self) -> &str {
        &self.payload.critical.image.docker_manifest_digest
    }
    /// The repository or reference the signer named.
    pub fn docker_reference(&self) -> &str {
        &self.payload.critical.identity.docker_reference
    }
    /// Who signed.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// The verified transparency-log entry, if one was required.
    pub fn log_entry(&self) -> Option<LogEntryRef> {
        self.log
    }

    /// Checks that every `required` claim is signed with exactly that value (cosign's `-a`).
    pub fn check_annotations(&self, required: &[(String, String)]) -> Result<(), Error> {
        for (key, expected) in required {
            let found = self.payload.annotation(key);
            if found != Some(expected.as_str()) {
                return Err(Error::AnnotationMismatch {
                    key: key.clone(),
                    expected: expected.clone(),
                    found: found.map(str::to_string),
                });
            }
        }
        Ok(())
    }
}

/// Verifies `signature` against `key` alone (no transparency-log evidence) as a signature of
/// the image manifest `image_digest`.
pub fn verify_with_key(
    signature: CosignSignature<'_>,
    key: &PublicKey,
    image_digest: &str,
) -> Result<VerifiedSignature, Error> {
    verify_cosign_signature(
        signature,
        CosignTrust::KeyWithoutTlogUnsafe { key },
        image_digest,
    )
}

/// Verifies `signature` under `trust` as a signature of the image manifest `image_digest`.
pub fn verify_cosign_signature(
    signature: CosignSignature<'_>,
    trust: CosignTrust<'_>,
    image_digest: &str,
) -> Result<VerifiedSignature, Error> {
    if signature.signature_base64.len() > limits::MAX_SIGNATURE_ANNOTATION_BYTES {
        return Err(Error::MalformedSignature {
            reason: format!(
                "signature annotation is {} bytes, more than the {}-byte limit",
                signature.signature_base64.len(),
                limits::MAX_SIGNATURE_ANNOTATION_BYTES
            ),
        });
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(signature.signature_base64.trim())
        .map_err(|e| Error::MalformedSignature {
            reason: format!("signature annotation is not base64: {e}"),
        })?;
    let (signer, log) = match trust {
        CosignTrust::KeyWithoutTlogUnsafe { key } => {
            key.verify(signature.payload, &raw)?;
            (
                Signer::PublicKey {
                    key_id: key.key_id(),
                },
                None,
            )
        }
        CosignTrust::Key { key, trust } => {
            // The key check first: a wrong key is the more useful message than a log problem.
            key.verify(signature.payload, &raw)?;
            let rekor = signature.rekor_bundle.ok_or(Error::MissingTlogEntry)?;
            let (bundle, log) = legacy_bundle(
                &raw,
                None,
                rekor,
                signature.rfc3161_timestamp,
                signature.payload,
            )?;
            verify_bundle(
                trust,
                &bundle,
                ArtifactInput::Bytes(signature.payload),
                &BundlePolicy::Key(key.clone()),
            )?;
            (
                Signer::PublicKey {
                    key_id: key.key_id(),
                },
                Some(log),
            )
        }
        CosignTrust::Pki {
            roots,
            subject,
            now,
        } => {
            let certificate = signature.certificate_pem.ok_or(Error::MissingCertificate)?;
            let (key, matched) = crate::pki::verify_certificate(
                certificate,
                signature.chain_pem,
                roots,
                subject,
                now,
            )?;
            key.verify(signature.payload, &raw)?;
            (Signer::Pki { subject: matched }, None)
        }
        CosignTrust::Keyless {
            trust,
            identity,
            issuer,
            claims,
        } => {
            let certificate = signature.certificate_pem.ok_or(Error::MissingCertificate)?;
            let rekor = signature.rekor_bundle.ok_or(Error::MissingTlogEntry)?;
            let (bundle, log) = legacy_bundle(
                &raw,
                Some(certificate),
                rekor,
                signature.rfc3161_timestamp,
                signature.payload,
            )?;
            let policy = BundlePolicy::Keyless {
                identity: identity.clone(),
                issuer: issuer.clone(),
                claims: claims.to_vec(),
            };
            let verified = verify_bundle(
                trust,
                &bundle,
                ArtifactInput::Bytes(signature.payload),
                &policy,
            )?;
            let signer = match verified.signer() {
                BundleSigner::Certificate { identity, issuer } => Signer::Certificate {
                    identity: identity.clone(),
                    issuer: issuer.clone(),
                },
                BundleSigner::PublicKey { key_id } => Signer::PublicKey {
                    key_id: key_id.clone(),
                },
            };
            (signer, Some(log))
        }
    };
    let payload = SimpleSigningPayload::parse(signature.payload)?;
    if payload.critical.kind != COSIGN_SIGNATURE_TYPE {
        return Err(Error::WrongPayloadType {
            found: payload.critical.kind,
        });
    }
    if payload.critical.image.docker_manifest_digest != image_digest {
        return Err(Error::SignedDigestMismatch {
            image: image_digest.to_string(),
            signed: payload.critical.image.docker_manifest_digest,
        });
    }
    Ok(VerifiedSignature {
        payload,
        signer,
        log,
    })
}

/// cosign's `dev.sigstore.cosign/bundle` annotation.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundleAnnotation {
    signed_entry_timestamp: String,
    payload: RekorBundlePayload,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorBundlePayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

/// Rewrites a legacy layer as the v0.1 bundle it is equivalent to: message signature over the
/// payload, the leaf certificate (or a key hint), and the Rekor entry with its SET as the
/// inclusion promise. The verifier builds the chain from its own trusted CAs, so the chain
/// annotation is not needed (and not trusted).
pub(crate) fn legacy_bundle(
    signature: &[u8],
    certificate_pem: Option<&str>,
    rekor_annotation: &str,
    rfc3161_timestamp: Option<&str>,
    payload: &[u8],
) -> Result<(sigstore_verify::types::Bundle, LogEntryRef), Error> {
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let malformed = |reason: String| Error::MalformedTlogEntry { reason };
    let annotation: RekorBundleAnnotation =
        serde_json::from_str(rekor_annotation).map_err(|e| {
            malformed(format!(
                "dev.sigstore.cosign/bundle is not cosign's Rekor bundle: {e}"
            ))
        })?;
    let body = base64::engine::general_purpose::STANDARD
        .decode(annotation.payload.body.trim())
        .map_err(|e| malformed(format!("log entry body is not base64: {e}")))?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct EntryKind {
        api_version: String,
        kind: String,
    }
    let kind: EntryKind = serde_json::from_slice(&body)
        .map_err(|e| malformed(format!("log entry body is not a Rekor entry: {e}")))?;
    let log_id = hex_decode(&annotation.payload.log_id)
        .ok_or_else(|| malformed("logID is not hex".into()))?;
    let mut material = serde_json::Map::new();
    match certificate_pem {
        Some(pem_text) => {
            let leaf = pem::parse(pem_text.trim()).map_err(|e| Error::MalformedCertificate {
                reason: format!("dev.sigstore.cosign/certificate: {e}"),
            })?;
            if leaf.tag() != "CERTIFICATE" {
                return Err(Error::MalformedCertificate {
                    reason: format!(
                        "dev.sigstore.cosign/certificate holds a {} block",
                        leaf.tag()
                    ),
                });
            }
            material.insert(
                "x509CertificateChain".into(),
                serde_json::json!({"certificates": [{"rawBytes": b64(leaf.contents())}]}),
            );
        }
        None => {
            material.insert("publicKey".into(), serde_json::json!({"hint": ""}));
        }
    }
    material.insert(
        "tlogEntries".into(),
        serde_json::json!([{
            "logIndex": annotation.payload.log_index.to_string(),
            "logId": {"keyId": b64(&log_id)},
            "kindVersion": {"kind": kind.kind, "version": kind.api_version},
            "integratedTime": annotation.payload.integrated_time.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": annotation.signed_entry_timestamp},
            "canonicalizedBody": annotation.payload.body,
        }]),
    );
    if let Some(annotation) = rfc3161_timestamp {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Timestamp {
            #[serde(rename = "SignedRFC3161Timestamp")]
            signed: String,
        }
        let ts: Timestamp = serde_json::from_str(annotation).map_err(|e| Error::Timestamp {
            reason: format!("dev.sigstore.cosign/rfc3161timestamp is not cosign's timestamp: {e}"),
        })?;
        material.insert(
            "timestampVerificationData".into(),
            serde_json::json!({"rfc3161Timestamps": [{"signedTimestamp": ts.signed}]}),
        );
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, payload);
    let json = serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.bundle+json;version=0.1",
        "verificationMaterial": material,
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest.as_ref())},
            "signature": b64(signature),
        }
    });
    let bundle = crate::bundle::parse_bundle(json.to_string().as_bytes())?;
    Ok((
        bundle,
        LogEntryRef {
            log_index: annotation.payload.log_index,
            integrated_time: annotation.payload.integrated_time,
        },
    ))
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use base64::Engine;

    use super::*;

    const DIGEST: &str = "sha256:857b8cdc1729d81221fa2f2615ae43bc9ca4cab4ba665c3f3ae9fd0e571c5104";

    fn keypair() -> (EcdsaKeyPair, PublicKey) {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let der = pair.public_key().as_der().unwrap();
        let public = PublicKey::from_der(der.as_ref()).unwrap();
        (pair, public)
    }

    fn sign(pair: &EcdsaKeyPair, payload: &[u8]) -> String {
        let sig = pair.sign(&SystemRandom::new(), payload).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }

    #[test]
    fn accepts_a_good_signature_and_reports_the_signer() {
        let (pair, public) = keypair();
        let payload =
            SimpleSigningPayload::new("r.example/app", DIGEST, &[("k".into(), "v".into())])
                .to_bytes();
        let sig = sign(&pair, &payload);
        let v = verify_with_key(
            CosignSignature {
                payload: &payload,
                signature_base64: &sig,
                ..Default::default()
            },
            &public,
            DIGEST,
        )
        .unwrap();
        assert_eq!(v.digest(), DIGEST);
        assert_eq!(v.docker_reference(), "r.example/app");
        assert_eq!(
            v.signer(),
            &Signer::PublicKey {
                key_id: public.key_id()
            }
        );
        v.check_annotations(&[("k".into(), "v".into())]).unwrap();
        assert_eq!(
            v.check_annotations(&[("k".into(), "w".into())]),
            Err(Error::AnnotationMismatch {
                key: "k".into(),
                expected: "w".into(),
                found: Some("v".into())
            })
        );
    }

    #[test]
    fn each_failure_has_its_own_error() {
        let (pair, public) = keypair();
        let (_, other) = keypair();
        let payload = SimpleSigningPayload::new("r.example/app", DIGEST, &[]).to_bytes();
        let sig = sign(&pair, &payload);
        let good = CosignSignature {
            payload: &payload,
            signature_base64: &sig,
            ..Default::default()
        };
        assert_eq!(
            verify_with_key(good, &other, DIGEST),
            Err(Error::SignatureMismatch)
        );
        let other_digest =
            "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        assert_eq!(
            verify_with_key(good, &public, other_digest),
            Err(Error::SignedDigestMismatch {
                image: other_digest.into(),
                signed: DIGEST.into()
            })
        );
        let mut tampered = payload.clone();
        tampered.push(b' ');
        assert_eq!(
            verify_with_key(
                CosignSignature {
                    payload: &tampered,
                    signature_base64: &sig,
                    ..Default::default()
                },
                &public,
                DIGEST
            ),
            Err(Error::SignatureMismatch)
        );
        assert!(matches!(
            verify_with_key(
                CosignSignature {
                    payload: &payload,
                    signature_base64: "@@@",
                    ..Default::default()
                },
                &public,
                DIGEST
            ),
            Err(Error::MalformedSignature { .. })
        ));
        let huge = "A".repeat(limits::MAX_SIGNATURE_ANNOTATION_BYTES + 4);
        assert!(matches!(
            verify_with_key(
                CosignSignature {
                    payload: &payload,
                    signature_base64: &huge,
                    ..Default::default()
                },
                &public,
                DIGEST
            ),
            Err(Error::MalformedSignature { .. })
        ));
        // A signature over something that is not a simple-signing payload.
        let junk = b"{\"hello\":1}";
        let junk_sig = sign(&pair, junk);
        assert!(matches!(
            verify_with_key(
                CosignSignature {
                    payload: junk,
                    signature_base64: &junk_sig,
                    ..Default::default()
                },
                &public,
                DIGEST
            ),
            Err(Error::MalformedPayload { .. })
        ));
        let mut wrong_type = SimpleSigningPayload::new("r", DIGEST, &[]);
        wrong_type.critical.kind = "atomic container signature".into();
        let bytes = wrong_type.to_bytes();
        let s = sign(&pair, &bytes);
        assert_eq!(
            verify_with_key(
                CosignSignature {
                    payload: &bytes,
                    signature_base64: &s,
                    ..Default::default()
                },
                &public,
                DIGEST
            ),
            Err(Error::WrongPayloadType {
                found: "atomic container signature".into()
            })
        );
    }
}
