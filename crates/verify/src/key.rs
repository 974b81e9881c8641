//! Public keys as cosign users hand them to us, and raw signature verification with them.
//!
//! Data flow: PEM or DER bytes -> [`PublicKey::parse`] reads the SubjectPublicKeyInfo (or a
//! PKCS#1 `RSAPublicKey`), picks the [`KeyAlgorithm`] from its OIDs and has aws-lc validate the
//! key material once -> [`PublicKey::verify`] checks a signature over a message with the one
//! scheme (or the few schemes) that algorithm allows.
//!
//! What we accept mirrors what cosign signs with: ECDSA on P-256/P-384/P-521 with the curve's
//! own hash, Ed25519 (pure), and RSA 2048..=8192 bits with SHA-256 (PKCS#1 v1.5 or PSS).
//! Everything else is refused by name (the OID) rather than guessed at.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;
use aws_lc_rs::signature::{
    self, EcdsaVerificationAlgorithm, ParsedPublicKey, RsaParameters, RsaPssSaltLength,
    UnparsedPublicKey, VerificationAlgorithm,
};
use spki::der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, UintRef};
use spki::der::{Decode, Encode, Reader, TagMode, TagNumber};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

use crate::error::Error;

/// Smallest RSA modulus, in bits, that sigward verifies with.
pub const MIN_RSA_BITS: usize = 2048;

/// Largest RSA modulus, in bits, that sigward verifies with (aws-lc's upper bound).
pub const MAX_RSA_BITS: usize = 8192;

const PEM_LABEL_SPKI: &str = "PUBLIC KEY";
const PEM_LABEL_PKCS1: &str = "RSA PUBLIC KEY";

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const OID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

// PSS signers differ on the salt length: OpenSSL and sigstore-go use the digest length, Go's
// `rsa.PSSSaltLengthAuto` signs with the largest salt that fits. Accept both, nothing else.
const RSA_PSS_SHA256_SALT_MAX: RsaParameters =
    signature::RSA_PSS_2048_8192_SHA256.with_pss_salt_length(RsaPssSaltLength::Max);

/// The signature scheme a [`PublicKey`] verifies with, fixed by the key itself.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 over SHA-256 (cosign's default).
    EcdsaP256Sha256,
    /// ECDSA on P-384 over SHA-384.
    EcdsaP384Sha384,
    /// ECDSA on P-521 over SHA-512.
    EcdsaP521Sha512,
    /// Pure Ed25519 over the whole message.
    Ed25519,
    /// An `rsaEncryption` key: PKCS#1 v1.5 or PSS signatures over SHA-256.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
    /// An `id-RSASSA-PSS` key: PSS signatures over SHA-256 only.
    RsaPss {
        /// Modulus size.
        bits: usize,
    },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EcdsaP256Sha256 => f.write_str("ECDSA P-256 SHA-256"),
            Self::EcdsaP384Sha384 => f.write_str("ECDSA P-384 SHA-384"),
            Self::EcdsaP521Sha512 => f.write_str("ECDSA P-521 SHA-512"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Rsa { bits } => write!(f, "RSA-{bits} SHA-256"),
            Self::RsaPss { bits } => write!(f, "RSASSA-PSS-{bits} SHA-256"),
        }
    }
}

/// A validated public key: its SubjectPublicKeyInfo DER and the algorithm it verifies with.
///
/// Cloning is cheap (shared, immutable). Two keys are equal when their SPKI DER is equal.
#[derive(Clone)]
pub struct PublicKey {
    inner: Arc<Inner>,
}

struct Inner {
    spki_der: Vec<u8>,
    algorithm: KeyAlgorithm,
    /// What aws-lc is handed at verification: the SPKI for EC and Ed25519 keys, the PKCS#1
    /// `RSAPublicKey` for RSA keys (aws-lc would refuse some id-RSASSA-PSS SPKI parameters that
    /// we have already checked ourselves).
    verification_key: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.inner.algorithm)
            .field("key_id", &self.key_id())
            .finish()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.spki_der == other.inner.spki_der
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.inner.spki_der.hash(state);
    }
}

impl PublicKey {
    /// Reads the first PEM block: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    ///
    /// Certificates and private keys are refused: pass a key, not something holding one.
    pub fn from_pem(pem_text: &[u8]) -> Result<Self, Error> {
        check_input_size(pem_text)?;
        let block = pem::parse(pem_text).map_err(|e| malformed(format!("PEM: {e}")))?;
        match block.tag() {
            PEM_LABEL_SPKI => Self::from_spki_der(block.contents()),
            PEM_LABEL_PKCS1 => Self::from_pkcs1_der(block.contents()),
            other => Err(malformed(format!(
                "PEM label {other:?}, expected {PEM_LABEL_SPKI:?} or {PEM_LABEL_PKCS1:?}"
            ))),
        }
    }

    /// Reads a DER SubjectPublicKeyInfo, or a PKCS#1 `RSAPublicKey`.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        check_input_size(der)?;
        match SubjectPublicKeyInfoRef::from_der(der) {
            Ok(spki) => Self::from_spki(der, &spki),
            Err(spki_error) => match parse_pkcs1(der) {
                Ok(()) => Self::from_pkcs1_der(der),
                Err(_) => Err(malformed(format!("DER SubjectPublicKeyInfo: {spki_error}"))),
            },
        }
    }

    /// Reads PEM or DER, telling them apart by the PEM `-----BEGIN ` marker.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        check_input_size(bytes)?;
        if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            Self::from_pem(bytes)
        } else {
            Self::from_der(bytes)
        }
    }

    /// The signature scheme this key verifies with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm
    }

    /// The key as DER SubjectPublicKeyInfo (PKCS#1 input is wrapped as `rsaEncryption`).
    pub fn spki_der(&self) -> &[u8] {
        &self.inner.spki_der
    }

    /// The key as a `PUBLIC KEY` PEM block, byte for byte what Go's `pem.Encode` writes.
    pub fn to_pem(&self) -> String {
        let block = pem::Pem::new(PEM_LABEL_SPKI, self.inner.spki_der.clone());
        pem::encode_config(
            &block,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }

    /// Lower-case hex SHA-256 of the SPKI DER.
    pub fn key_id(&self) -> String {
        let hash = digest::digest(&digest::SHA256, &self.inner.spki_der);
        hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Checks `signature` over `message`.
    ///
    /// ECDSA signatures are ASN.1 DER as cosign writes them; fixed-width `r || s` (IEEE P1363)
    /// is also accepted when its length fits the curve. P-384 and P-521 signatures may hash
    /// with SHA-256 (what cosign and containers/image do with key files) or with the curve's
    /// own hash (SHA-384, SHA-512). RSA (`rsaEncryption`) keys accept
    /// PKCS#1 v1.5 then PSS, both over SHA-256; `id-RSASSA-PSS` keys accept PSS only.
    /// Ed25519 is pure Ed25519 over the message (not Ed25519ph).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let key = self.inner.verification_key.as_slice();
        match self.inner.algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => verify_ecdsa(
                key,
                &signature::ECDSA_P256_SHA256_ASN1,
                &signature::ECDSA_P256_SHA256_FIXED,
                32,
                message,
                signature,
            ),
            // cosign and containers/image sign with SHA-256 whatever the curve; Sigstore's
            // key details pair P-384 with SHA-384 and P-521 with SHA-512. Both are accepted.
            KeyAlgorithm::EcdsaP384Sha384 => verify_ecdsa(
                key,
                &signature::ECDSA_P384_SHA256_ASN1,
                &signature::ECDSA_P384_SHA384_FIXED,
                48,
                message,
                signature,
            )
            .or_else(|_| {
                verify_ecdsa(
                    key,
                    &signature::ECDSA_P384_SHA384_ASN1,
                    &signature::ECDSA_P384_SHA384_FIXED,
                    48,
                    message,
                    signature,
                )
            }),
            KeyAlgorithm::EcdsaP521Sha512 => verify_ecdsa(
                key,
                &signature::ECDSA_P521_SHA256_ASN1,
                &signature::ECDSA_P521_SHA256_FIXED,
                66,
                message,
                signature,
            )
            .or_else(|_| {
                verify_ecdsa(
                    key,
                    &signature::ECDSA_P521_SHA512_ASN1,
                    &signature::ECDSA_P521_SHA512_FIXED,
                    66,
                    message,
                    signature,
                )
            }),
            KeyAlgorithm::Ed25519 => {
                if signature.len() != 64 {
                    return Err(Error::MalformedSignature {
                        reason: format!("Ed25519 signatures are 64 bytes, got {}", signature.len()),
                    });
                }
                verify_with(key, &signature::ED25519, message, signature)
            }
            KeyAlgorithm::Rsa { bits } => {
                check_rsa_signature_len(bits, signature)?;
                verify_with(
                    key,
                    &signature::RSA_PKCS1_2048_8192_SHA256,
                    message,
                    signature,
                )
                .or_else(|_| verify_rsa_pss(key, message, signature))
            }
            KeyAlgorithm::RsaPss { bits } => {
                check_rsa_signature_len(bits, signature)?;
                verify_rsa_pss(key, message, signature)
            }
        }
    }

    fn from_spki_der(der: &[u8]) -> Result<Self, Error> {
        let spki = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|e| malformed(format!("DER SubjectPublicKeyInfo: {e}")))?;
        Self::from_spki(der, &spki)
    }

    fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, Error> {
        parse_pkcs1(pkcs1).map_err(|e| malformed(format!("DER PKCS#1 RSAPublicKey: {e}")))?;
        let bit_string =
            BitStringRef::from_bytes(pkcs1).map_err(|e| malformed(format!("PKCS#1 key: {e}")))?;
        let spki = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: OID_RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            subject_public_key: bit_string,
        };
        let spki_der = spki
            .to_der()
            .map_err(|e| malformed(format!("re-encoding PKCS#1 key as SPKI: {e}")))?;
        let bits = rsa_bits(pkcs1)?;
        Self::build(spki_der, KeyAlgorithm::Rsa { bits }, pkcs1.to_vec())
    }

    fn from_spki(der: &[u8], spki: &SubjectPublicKeyInfoRef<'_>) -> Result<Self, Error> {
        let algorithm = &spki.algorithm;
        let key_bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| malformed("subjectPublicKey BIT STRING has unused bits".to_owned()))?;
        match algorithm.oid {
            OID_EC_PUBLIC_KEY => {
                let curve = algorithm
                    .parameters
                    .ok_or_else(|| malformed("EC key without a namedCurve parameter".to_owned()))?
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|e| {
                        malformed(format!("EC key parameters are not a namedCurve OID: {e}"))
                    })?;
                let algorithm = match curve {
                    OID_P256 => KeyAlgorithm::EcdsaP256Sha256,
                    OID_P384 => KeyAlgorithm::EcdsaP384Sha384,
                    OID_P521 => KeyAlgorithm::EcdsaP521Sha512,
                    other => {
                        return Err(Error::UnsupportedCurve {
                            oid: other.to_string(),
                        })
                    }
                };
                Self::build(der.to_vec(), algorithm, der.to_vec())
            }
            OID_ED25519 => {
                if algorithm.parameters.is_some() {
                    return Err(malformed(
                        "Ed25519 key with algorithm parameters (RFC 8410 forbids them)".to_owned(),
                    ));
                }
                Self::build(der.to_vec(), KeyAlgorithm::Ed25519, der.to_vec())
            }
            OID_RSA_ENCRYPTION => {
                match algorithm.parameters {
                    None => {}
                    Some(p) if p.is_null() => {}
                    Some(_) => {
                        return Err(malformed(
                            "rsaEncryption parameters must be NULL".to_owned(),
                        ))
                    }
                }
                let bits = rsa_bits(key_bits)?;
                Self::build(der.to_vec(), KeyAlgorithm::Rsa { bits }, key_bits.to_vec())
            }
            OID_RSASSA_PSS => {
                if let Some(params) = algorithm.parameters {
                    check_pss_parameters(params)?;
                }
                let bits = rsa_bits(key_bits)?;
                Self::build(
                    der.to_vec(),
                    KeyAlgorithm::RsaPss { bits },
                    key_bits.to_vec(),
                )
            }
            other => Err(Error::UnsupportedKeyAlgorithm {
                oid: other.to_string(),
            }),
        }
    }

    /// Lets aws-lc parse the key material once, so a point off its curve or a broken modulus
    /// is reported here rather than as a failed signature later.
    fn build(
        spki_der: Vec<u8>,
        algorithm: KeyAlgorithm,
        verification_key: Vec<u8>,
    ) -> Result<Self, Error> {
        let alg: &'static dyn VerificationAlgorithm = match algorithm {
            KeyAlgorithm::EcdsaP256Sha256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyAlgorithm::EcdsaP384Sha384 => &signature::ECDSA_P384_SHA384_ASN1,
            KeyAlgorithm::EcdsaP521Sha512 => &signature::ECDSA_P521_SHA512_ASN1,
            KeyAlgorithm::Ed25519 => &signature::ED25519,
            KeyAlgorithm::Rsa { .. } => &signature::RSA_PKCS1_2048_8192_SHA256,
            KeyAlgorithm::RsaPss { .. } => &signature::RSA_PSS_2048_8192_SHA256,
        };
        ParsedPublicKey::new(alg, &verification_key)
            .map_err(|e| malformed(format!("{algorithm} key rejected: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                spki_der,
                algorithm,
                verification_key,
            }),
        })
    }
}

fn malformed(reason: String) -> Error {
    Error::MalformedPublicKey { reason }
}

fn check_input_size(bytes: &[u8]) -> Result<(), Error> {
    let max = sigward_limits::MAX_KEY_FILE_BYTES;
    if u64::try_from(bytes.len()).map_or(true, |len| len > max) {
        return Err(Error::KeyTooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

/// Checks that `der` is exactly one PKCS#1 `RSAPublicKey` (SEQUENCE of two INTEGERs).
fn parse_pkcs1(der: &[u8]) -> Result<(), spki::der::Error> {
    AnyRef::from_der(der)?.sequence(|r| {
        let _modulus = UintRef::decode(r)?;
        let _exponent = UintRef::decode(r)?;
        Ok(())
    })
}

/// Modulus size of a PKCS#1 `RSAPublicKey`, checked against [`MIN_RSA_BITS`]..=[`MAX_RSA_BITS`].
fn rsa_bits(pkcs1: &[u8]) -> Result<usize, Error> {
    let bits = RsaParameters::public_modulus_len(pkcs1)
        .map_err(|_| malformed("RSA key is not a valid PKCS#1 RSAPublicKey".to_owned()))?;
    let bits = usize::try_from(bits).unwrap_or(usize::MAX);
    if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) {
        return Err(Error::UnsupportedRsaKeySize {
            bits,
            min: MIN_RSA_BITS,
            max: MAX_RSA_BITS,
        });
    }
    Ok(bits)
}

/// An `id-RSASSA-PSS` key may restrict its own use (RFC 4055 section 3.1); we verify with
/// SHA-256 and MGF1-SHA-256, so the restriction must name exactly those. Absent fields mean
/// SHA-1, which we refuse.
fn check_pss_parameters(params: AnyRef<'_>) -> Result<(), Error> {
    let (hash, mgf) = params
        .sequence(|r| {
            let hash =
                r.context_specific::<AlgorithmIdentifierRef<'_>>(TagNumber::N0, TagMode::Explicit)?;
            let mgf =
                r.context_specific::<AlgorithmIdentifierRef<'_>>(TagNumber::N1, TagMode::Explicit)?;
            let _salt_length = r.context_specific::<u32>(TagNumber::N2, TagMode::Explicit)?;
            let _trailer_field = r.context_specific::<u32>(TagNumber::N3, TagMode::Explicit)?;
            let mgf_hash = match mgf {
                Some(mgf) => Some((
                    mgf.oid,
                    mgf.parameters
                        .map(|p| p.decode_as::<AlgorithmIdentifierRef<'_>>())
                        .transpose()?
                        .map(|h| h.oid),
                )),
                None => None,
            };
            Ok((hash.map(|h| h.oid), mgf_hash))
        })
        .map_err(|e| malformed(format!("RSASSA-PSS parameters: {e}")))?;
    match hash {
        Some(OID_SHA256) => {}
        Some(other) => {
            return Err(Error::UnsupportedRsaPssParameters {
                reason: format!("hash algorithm {other}"),
            })
        }
        None => {
            return Err(Error::UnsupportedRsaPssParameters {
                reason: "hash algorithm absent (defaults to SHA-1)".to_owned(),
            })
        }
    }
    match mgf {
        Some((OID_MGF1, Some(OID_SHA256))) => Ok(()),
        Some((OID_MGF1, Some(other))) => Err(Error::UnsupportedRsaPssParameters {
            reason: format!("MGF1 hash algorithm {other}"),
        }),
        Some((OID_MGF1, None)) => Err(Error::UnsupportedRsaPssParameters {
            reason: "MGF1 without a hash algorithm".to_owned(),
        }),
        Some((other, _)) => Err(Error::UnsupportedRsaPssParameters {
            reason: format!("mask generation function {other}"),
        }),
        None => Err(Error::UnsupportedRsaPssParameters {
            reason: "mask generation function absent (defaults to MGF1-SHA-1)".to_owned(),
        }),
    }
}

fn verify_with(
    key: &[u8],
    alg: &'static dyn VerificationAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    UnparsedPublicKey::new(alg, key)
        .verify(message, signature)
        .map_err(|_| Error::SignatureMismatch)
}

fn verify_ecdsa(
    key: &[u8],
    asn1: &'static EcdsaVerificationAlgorithm,
    fixed: &'static EcdsaVerificationAlgorithm,
    scalar_len: usize,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Error> {
    let fixed_len = 2 * scalar_len;
    if is_der_ecdsa_signature(signature) {
        let asn1_result = verify_with(key, asn1, message, signature);
        if asn1_result.is_ok() || signature.len() != fixed_len {
            return asn1_result;
        }
    } else if signature.len() != fixed_len {
        return Err(Error::MalformedSignature {
            reason: format!(
                "ECDSA signature of {} bytes is neither DER nor {fixed_len}-byte r||s",
                signature.len()
            ),
        });
    }
    verify_with(key, fixed, message, signature)
}

/// A DER `ECDSA-Sig-Value`: SEQUENCE { r INTEGER, s INTEGER }, nothing after it.
fn is_der_ecdsa_signature(signature: &[u8]) -> bool {
    AnyRef::from_der(signature)
        .and_then(|any| {
            any.sequence(|r| {
                let _r = UintRef::decode(r)?;
                let _s = UintRef::decode(r)?;
                Ok(())
            })
        })
        .is_ok()
}

fn check_rsa_signature_len(bits: usize, signature: &[u8]) -> Result<(), Error> {
    let expected = bits.div_ceil(8);
    if signature.len() != expected {
        return Err(Error::MalformedSignature {
            reason: format!(
                "RSA-{bits} signatures are {expected} bytes, got {}",
                signature.len()
            ),
        });
    }
    Ok(())
}

fn verify_rsa_pss(key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Error> {
    verify_with(
        key,
        &signature::RSA_PSS_2048_8192_SHA256,
        message,
        signature,
    )
    .or_else(|_| verify_with(key, &RSA_PSS_SHA256_SALT_MAX, message, signature))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/data/keys/",
                $name
            ))
            .as_slice()
        };
    }

    const MSG: &[u8] = fixture!("msg.txt");

    struct Case {
        name: &'static str,
        public: &'static [u8],
        signature: &'static [u8],
        algorithm: KeyAlgorithm,
    }

    fn cases() -> Vec<Case> {
        vec![
            Case {
                name: "p256",
                public: fixture!("p256.pub"),
                signature: fixture!("p256.sig"),
                algorithm: KeyAlgorithm::EcdsaP256Sha256,
            },
            Case {
                name: "p384",
                public: fixture!("p384.pub"),
                signature: fixture!("p384.sig"),
                algorithm: KeyAlgorithm::EcdsaP384Sha384,
            },
            Case {
                name: "p521",
                public: fixture!("p521.pub"),
                signature: fixture!("p521.sig"),
                algorithm: KeyAlgorithm::EcdsaP521Sha512,
            },
            Case {
                name: "ed25519",
                public: fixture!("ed25519.pub"),
                signature: fixture!("ed25519.sig"),
                algorithm: KeyAlgorithm::Ed25519,
            },
            Case {
                name: "rsa2048 pkcs1v15",
                public: fixture!("rsa2048.pub"),
                signature: fixture!("rsa2048.pkcs1v15.sig"),
                algorithm: KeyAlgorithm::Rsa { bits: 2048 },
            },
            Case {
                name: "rsa2048 pss",
                public: fixture!("rsa2048.pub"),
                signature: fixture!("rsa2048.pss.sig"),
                algorithm: KeyAlgorithm::Rsa { bits: 2048 },
            },
            Case {
                name: "rsa2048 pss max salt",
                public: fixture!("rsa2048.pub"),
                signature: fixture!("rsa2048.pss-maxsalt.sig"),
                algorithm: KeyAlgorithm::Rsa { bits: 2048 },
            },
            Case {
                name: "rsa2048 pkcs1 public key, pkcs1v15",
                public: fixture!("rsa2048.pkcs1.pub"),
                signature: fixture!("rsa2048.pkcs1v15.sig"),
                algorithm: KeyAlgorithm::Rsa { bits: 2048 },
            },
            Case {
                name: "rsapss2048 without parameters",
                public: fixture!("rsapss2048.pub"),
                signature: fixture!("rsapss2048.sig"),
                algorithm: KeyAlgorithm::RsaPss { bits: 2048 },
            },
            Case {
                name: "rsapss2048 restricted to sha256",
                public: fixture!("rsapss2048-sha256.pub"),
                signature: fixture!("rsapss2048-sha256.sig"),
                algorithm: KeyAlgorithm::RsaPss { bits: 2048 },
            },
        ]
    }

    #[test]
    fn good_signatures_verify() {
        for case in cases() {
            let key = PublicKey::from_pem(case.public).expect(case.name);
            assert_eq!(key.algorithm(), case.algorithm, "{}", case.name);
            key.verify(MSG, case.signature)
                .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        }
    }

    #[test]
    fn wrong_message_is_a_mismatch() {
        for case in cases() {
            let key = PublicKey::from_pem(case.public).unwrap();
            assert_eq!(
                key.verify(b"sigward test message, altered\n", case.signature),
                Err(Error::SignatureMismatch),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn flipped_signature_bit_is_a_mismatch() {
        for case in cases() {
            let key = PublicKey::from_pem(case.public).unwrap();
            let mut signature = case.signature.to_vec();
            // The last byte is inside s (ECDSA), S (Ed25519) or the RSA integer: the framing
            // stays valid, only the value changes.
            *signature.last_mut().unwrap() ^= 0x01;
            assert_eq!(
                key.verify(MSG, &signature),
                Err(Error::SignatureMismatch),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn wrong_key_is_a_mismatch() {
        let cases = cases();
        for signer in &cases {
            for other in &cases {
                let key = PublicKey::from_pem(other.public).unwrap();
                let same_key = key == PublicKey::from_pem(signer.public).unwrap();
                let result = key.verify(MSG, signer.signature);
                if same_key {
                    continue;
                }
                // A signature from another key (same or other algorithm) never verifies; whether it
                // is reported as malformed or as a mismatch depends on whether its shape fits.
                assert!(
                    matches!(
                        result,
                        Err(Error::SignatureMismatch | Error::MalformedSignature { .. })
                    ),
                    "{} signature verified by {} key: {result:?}",
                    signer.name,
                    other.name
                );
            }
        }
    }

    #[test]
    fn signature_from_other_algorithm_of_same_shape_is_a_mismatch() {
        // An Ed25519 signature is 64 bytes, the P1363 length for P-256: must still not verify.
        let key = PublicKey::from_pem(fixture!("p256.pub")).unwrap();
        assert_eq!(
            key.verify(MSG, fixture!("ed25519.sig")),
            Err(Error::SignatureMismatch)
        );
        // A P-256 DER signature checked against P-384: DER parses, verification fails.
        let key = PublicKey::from_pem(fixture!("p384.pub")).unwrap();
        assert_eq!(
            key.verify(MSG, fixture!("p256.sig")),
            Err(Error::SignatureMismatch)
        );
        // A PSS signature offered to an id-RSASSA-PSS key from a different RSA key.
        let key = PublicKey::from_pem(fixture!("rsapss2048.pub")).unwrap();
        assert_eq!(
            key.verify(MSG, fixture!("rsa2048.pss.sig")),
            Err(Error::SignatureMismatch)
        );
    }

    #[test]
    fn rsassa_pss_key_refuses_pkcs1v15_signature_of_same_modulus() {
        // Re-label the rsaEncryption key as id-RSASSA-PSS: same modulus, PSS-only scheme.
        let rsa = PublicKey::from_pem(fixture!("rsa2048.pub")).unwrap();
        let spki = SubjectPublicKeyInfoRef::from_der(rsa.spki_der()).unwrap();
        let pss_spki = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid: OID_RSASSA_PSS,
                parameters: None,
            },
            subject_public_key: spki.subject_public_key,
        }
        .to_der()
        .unwrap();
        let pss = PublicKey::from_der(&pss_spki).unwrap();
        assert_eq!(pss.algorithm(), KeyAlgorithm::RsaPss { bits: 2048 });
        pss.verify(MSG, fixture!("rsa2048.pss.sig")).unwrap();
        assert_eq!(
            pss.verify(MSG, fixture!("rsa2048.pkcs1v15.sig")),
            Err(Error::SignatureMismatch)
        );
    }

    #[test]
    fn truncated_signatures_are_rejected() {
        for case in cases() {
            let key = PublicKey::from_pem(case.public).unwrap();
            for len in 0..case.signature.len() {
                let result = key.verify(MSG, &case.signature[..len]);
                assert!(
                    matches!(
                        result,
                        Err(Error::MalformedSignature { .. } | Error::SignatureMismatch)
                    ),
                    "{} truncated to {len}: {result:?}",
                    case.name
                );
            }
            // Dropping one byte never leaves a well-formed signature for these fixed-size schemes.
            let one_short = &case.signature[..case.signature.len() - 1];
            assert!(
                matches!(
                    key.verify(MSG, one_short),
                    Err(Error::MalformedSignature { .. })
                ),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn ecdsa_accepts_fixed_width_r_s() {
        for (public, signature, scalar_len) in [
            (fixture!("p256.pub"), fixture!("p256.sig"), 32),
            (fixture!("p384.pub"), fixture!("p384.sig"), 48),
            (fixture!("p521.pub"), fixture!("p521.sig"), 66),
        ] {
            let key = PublicKey::from_pem(public).unwrap();
            let fixed = der_to_fixed(signature, scalar_len);
            key.verify(MSG, &fixed).unwrap();
            assert_eq!(
                key.verify(b"other message", &fixed),
                Err(Error::SignatureMismatch)
            );
        }
    }

    fn der_to_fixed(signature: &[u8], scalar_len: usize) -> Vec<u8> {
        let (r, s) = AnyRef::from_der(signature)
            .unwrap()
            .sequence(|rd| Ok((UintRef::decode(rd)?, UintRef::decode(rd)?)))
            .unwrap();
        let mut out = vec![0u8; 2 * scalar_len];
        let (r, s) = (r.as_bytes(), s.as_bytes());
        out[scalar_len - r.len()..scalar_len].copy_from_slice(r);
        out[2 * scalar_len - s.len()..].copy_from_slice(s);
        out
    }

    #[test]
    fn der_and_pem_forms_are_the_same_key() {
        let from_pem = PublicKey::from_pem(fixture!("p256.pub")).unwrap();
        let from_der = PublicKey::from_der(fixture!("p256.pub.der")).unwrap();
        assert_eq!(from_pem, from_der);
        assert_eq!(from_der.spki_der(), fixture!("p256.pub.der"));
        assert_eq!(PublicKey::parse(fixture!("p256.pub")).unwrap(), from_pem);
        assert_eq!(
            PublicKey::parse(fixture!("p256.pub.der")).unwrap(),
            from_pem
        );
    }

    #[test]
    fn pkcs1_public_key_is_wrapped_as_rsa_encryption_spki() {
        let spki = PublicKey::from_pem(fixture!("rsa2048.pub")).unwrap();
        let pkcs1 = PublicKey::from_pem(fixture!("rsa2048.pkcs1.pub")).unwrap();
        assert_eq!(spki, pkcs1);
        assert_eq!(spki.key_id(), pkcs1.key_id());
        // The bare PKCS#1 DER is accepted by from_der too.
        let pkcs1_der = pem::parse(fixture!("rsa2048.pkcs1.pub")).unwrap();
        assert_eq!(PublicKey::from_der(pkcs1_der.contents()).unwrap(), spki);
    }

    #[test]
    fn to_pem_round_trips_byte_for_byte_with_openssl_output() {
        // openssl writes the same framing as Go's pem.Encode: 64 columns, LF line endings.
        for case in cases()
            .iter()
            .filter(|c| !c.name.contains("pkcs1 public key"))
        {
            let key = PublicKey::from_pem(case.public).unwrap();
            assert_eq!(key.to_pem().as_bytes(), case.public, "{}", case.name);
            assert_eq!(PublicKey::from_pem(key.to_pem().as_bytes()).unwrap(), key);
        }
    }

    #[test]
    fn key_id_is_sha256_of_spki_der() {
        let key = PublicKey::from_der(fixture!("p256.pub.der")).unwrap();
        let expected = digest::digest(&digest::SHA256, fixture!("p256.pub.der"));
        let expected: String = expected
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(key.key_id(), expected);
        assert_eq!(key.key_id().len(), 64);
    }

    #[test]
    fn rsa_below_2048_bits_is_refused() {
        assert_eq!(
            PublicKey::from_pem(fixture!("rsa1024.pub")),
            Err(Error::UnsupportedRsaKeySize {
                bits: 1024,
                min: MIN_RSA_BITS,
                max: MAX_RSA_BITS
            })
        );
    }

    #[test]
    fn unsupported_curve_is_named() {
        assert_eq!(
            PublicKey::from_pem(fixture!("secp256k1.pub")),
            Err(Error::UnsupportedCurve {
                oid: "1.3.132.0.10".to_owned()
            })
        );
    }

    #[test]
    fn unsupported_algorithm_is_named() {
        assert_eq!(
            PublicKey::from_pem(fixture!("x25519.pub")),
            Err(Error::UnsupportedKeyAlgorithm {
                oid: "1.3.101.110".to_owned()
            })
        );
    }

    #[test]
    fn rsassa_pss_key_restricted_to_sha512_is_refused() {
        assert_eq!(
            PublicKey::from_pem(fixture!("rsapss2048-sha512.pub")),
            Err(Error::UnsupportedRsaPssParameters {
                reason: "hash algorithm 2.16.840.1.101.3.4.2.3".to_owned()
            })
        );
    }

    #[test]
    fn certificate_and_private_key_pem_are_refused() {
        let cert = b"-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            PublicKey::from_pem(cert),
            Err(Error::MalformedPublicKey { .. })
        ));
        assert!(matches!(
            PublicKey::from_pem(fixture!("p256.key")),
            Err(Error::MalformedPublicKey { .. })
        ));
    }

    #[test]
    fn truncated_pem_never_panics_and_is_refused() {
        for fixture in [
            fixture!("p256.pub"),
            fixture!("ed25519.pub"),
            fixture!("rsa2048.pub"),
        ] {
            // Only the trailing newline is optional.
            let complete = fixture.len() - 1;
            for len in 0..complete {
                let result = PublicKey::parse(&fixture[..len]);
                assert!(result.is_err(), "truncated to {len} bytes: {result:?}");
            }
            assert!(PublicKey::parse(&fixture[..complete]).is_ok());
        }
    }

    #[test]
    fn truncated_der_never_panics_and_is_refused() {
        let der = fixture!("p256.pub.der");
        for len in 0..der.len() {
            assert!(
                matches!(
                    PublicKey::from_der(&der[..len]),
                    Err(Error::MalformedPublicKey { .. })
                ),
                "truncated to {len} bytes"
            );
        }
    }

    #[test]
    fn corrupted_der_never_panics() {
        let der = fixture!("p256.pub.der");
        for i in 0..der.len() {
            for bit in 0..8 {
                let mut corrupted = der.to_vec();
                corrupted[i] ^= 1 << bit;
                // Any outcome but a panic is fine; a changed point must not be accepted as valid
                // unless it is still on the curve, which aws-lc checks.
                let _ = PublicKey::from_der(&corrupted);
            }
        }
    }

    #[test]
    fn ec_point_off_the_curve_is_refused() {
        let mut der = fixture!("p256.pub.der").to_vec();
        let last = der.len() - 1;
        der[last] ^= 0x01;
        assert!(matches!(
            PublicKey::from_der(&der),
            Err(Error::MalformedPublicKey { .. })
        ));
    }

    #[test]
    fn garbage_is_refused() {
        for garbage in [
            &b""[..],
            b"\x00",
            b"not a key",
            b"-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n",
            b"-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
        ] {
            assert!(
                matches!(
                    PublicKey::parse(garbage),
                    Err(Error::MalformedPublicKey { .. })
                ),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn oversized_input_is_refused_before_parsing() {
        let huge = vec![b'A'; usize::try_from(sigward_limits::MAX_KEY_FILE_BYTES).unwrap() + 1];
        assert_eq!(
            PublicKey::parse(&huge),
            Err(Error::KeyTooLarge {
                len: huge.len(),
                max: sigward_limits::MAX_KEY_FILE_BYTES
            })
        );
    }
}
