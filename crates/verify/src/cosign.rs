//! Cosign's signature format for images: a simple-signing payload plus a base64 signature over
//! its exact bytes (the `dev.cosignproject.cosign/signature` annotation). Verified against a
//! public key here; certificates and transparency-log evidence come with keyless support.
//!
//! Order of checks, each failure its own error: signature decodes -> signature verifies over
//! the payload bytes -> payload parses -> `critical.type` is cosign's -> the signed digest is
//! the image's digest. Only then is a [`VerifiedSignature`] built.

use base64::Engine;
use sigward_limits as limits;

use crate::payload::{SimpleSigningPayload, COSIGN_SIGNATURE_TYPE};
use crate::{Error, PublicKey};

/// One signature as found in a registry: payload bytes and the base64 signature over them.
#[derive(Debug, Clone, Copy)]
pub struct CosignSignature<'a> {
    /// The payload blob, exactly as downloaded.
    pub payload: &'a [u8],
    /// The `dev.cosignproject.cosign/signature` annotation.
    pub signature_base64: &'a str,
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
}

/// A signature that passed every check for one image digest. Only this crate can build one,
/// so code that holds one knows the checks ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    payload: SimpleSigningPayload,
    signer: Signer,
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

/// Verifies `signature` against `key` as a signature of the image manifest `image_digest`.
pub fn verify_with_key(
    signature: CosignSignature<'_>,
    key: &PublicKey,
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
    key.verify(signature.payload, &raw)?;
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
        signer: Signer::PublicKey {
            key_id: key.key_id(),
        },
    })
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
                    signature_base64: &sig
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
                    signature_base64: "@@@"
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
                    signature_base64: &huge
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
                    signature_base64: &junk_sig
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
                    signature_base64: &s
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
