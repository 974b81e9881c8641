//! Private keys and raw signing, matching what cosign produces with the same key.
//!
//! Data flow: DER (PKCS#8, or SEC1 / PKCS#1 for keys imported from elsewhere) -> the algorithm
//! is read from the key's own OIDs -> aws-lc loads and checks the key pair -> [`PrivateKey::sign`]
//! with the one scheme cosign uses for that key type. The matching
//! [`sigward_verify::PublicKey`] is derived once at load, so a signer and its verifier can never
//! disagree about the algorithm.

use std::fmt;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair, RsaKeyPair,
};
use sigward_verify::{KeyAlgorithm, PublicKey};
use spki::der::asn1::{AnyRef, ObjectIdentifier, OctetStringRef, UintRef};
use spki::der::{Decode, Reader, TagMode, TagNumber};
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::error::Error;

const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.35");
const OID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// A private key that signs as cosign does: ECDSA (P-256/SHA-256, P-384/SHA-384,
/// P-521/SHA-512, ASN.1 DER signatures), pure Ed25519, or RSA PKCS#1 v1.5 with SHA-256.
///
/// `Debug` shows the algorithm and public key id, never key material.
pub struct PrivateKey {
    signer: Signer,
    public_key: PublicKey,
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.public_key.algorithm())
            .field("key_id", &self.public_key.key_id())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// A fresh ECDSA P-256 key, the type `cosign generate-key-pair` makes.
    pub fn generate_ecdsa_p256() -> Result<Self, Error> {
        let key_pair =
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_ASN1_SIGNING).map_err(|_| {
                Error::CryptoFailure {
                    operation: "generating an ECDSA P-256 key",
                }
            })?;
        Self::with_public_key(Signer::Ecdsa(key_pair))
    }

    /// Reads an unencrypted PKCS#8 `PrivateKeyInfo` (v1 or v2), as found inside cosign's
    /// encrypted key files and in `PRIVATE KEY` PEM blocks.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        let (algorithm, private_key) =
            read_pkcs8(der).map_err(|e| malformed(format!("PKCS#8 PrivateKeyInfo: {e}")))?;
        match algorithm.oid {
            OID_EC_PUBLIC_KEY => {
                let curve = algorithm
                    .parameters
                    .ok_or_else(|| malformed("PKCS#8 EC key without a named curve".to_owned()))?
                    .decode_as::<ObjectIdentifier>()
                    .map_err(|e| malformed(format!("PKCS#8 EC key curve: {e}")))?;
                let alg = ecdsa_signing_algorithm(curve)?;
                let key_pair = EcdsaKeyPair::from_pkcs8(alg, der)
                    .map_err(|e| malformed(format!("PKCS#8 EC key rejected: {e}")))?;
                Self::with_public_key(Signer::Ecdsa(key_pair))
            }
            OID_ED25519 => {
                // Go writes Ed25519 PKCS#8 v1 (no public key), OpenSSL too; v2 is checked.
                let key_pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| malformed(format!("PKCS#8 Ed25519 key rejected: {e}")))?;
                Self::with_public_key(Signer::Ed25519(key_pair))
            }
            OID_RSA_ENCRYPTION => {
                check_rsa_private_key_size(private_key)?;
                let key_pair = RsaKeyPair::from_pkcs8(der)
                    .map_err(|e| malformed(format!("PKCS#8 RSA key rejected: {e}")))?;
                Self::with_public_key(Signer::Rsa(key_pair))
            }
            other => Err(Error::UnsupportedKeyType {
                key_type: format!("private key algorithm OID {other}"),
            }),
        }
    }

    /// Reads a SEC1 `ECPrivateKey` (PEM `EC PRIVATE KEY`); the curve must be named in it.
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, Error> {
        let curve = read_sec1_curve(der)
            .map_err(|e| malformed(format!("SEC1 ECPrivateKey: {e}")))?
            .ok_or_else(|| malformed("SEC1 ECPrivateKey does not name its curve".to_owned()))?;
        let alg = ecdsa_signing_algorithm(curve)?;
        let key_pair = EcdsaKeyPair::from_private_key_der(alg, der)
            .map_err(|e| malformed(format!("SEC1 EC key rejected: {e}")))?;
        Self::with_public_key(Signer::Ecdsa(key_pair))
    }

    /// Reads a PKCS#1 `RSAPrivateKey` (PEM `RSA PRIVATE KEY`).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, Error> {
        check_rsa_private_key_size(der)?;
        let key_pair = RsaKeyPair::from_der(der)
            .map_err(|e| malformed(format!("PKCS#1 RSA key rejected: {e}")))?;
        Self::with_public_key(Signer::Rsa(key_pair))
    }

    /// The public half, ready to verify what [`PrivateKey::sign`] produces.
    pub fn public_key(&self) -> PublicKey {
        self.public_key.clone()
    }

    /// The signature scheme this key signs with.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.public_key.algorithm()
    }

    /// Signs `message`: ECDSA gives ASN.1 DER over the curve's hash, Ed25519 is pure, RSA is
    /// PKCS#1 v1.5 over SHA-256.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::CryptoFailure {
            operation: "signing",
        };
        match &self.signer {
            // cosign and containers/image hash with SHA-256 for every curve; aws-lc has no
            // P-384 + SHA-256 signer, so that one pair goes through RustCrypto's p384.
            Signer::Ecdsa(_) if self.algorithm() == KeyAlgorithm::EcdsaP384Sha384 => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                use p384::pkcs8::DecodePrivateKey;
                let der = self.to_pkcs8_der()?;
                let signing = p384::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|_| {
                    Error::CryptoFailure {
                        operation: "loading the P-384 key",
                    }
                })?;
                let prehash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, message);
                let sig: p384::ecdsa::Signature =
                    signing
                        .sign_prehash(prehash.as_ref())
                        .map_err(|_| Error::CryptoFailure {
                            operation: "signing",
                        })?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Signer::Ecdsa(key) => Ok(key
                .sign(&SystemRandom::new(), message)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            Signer::Ed25519(key) => Ok(key.try_sign(message).map_err(failed)?.as_ref().to_vec()),
            Signer::Rsa(key) => {
                let mut signature = vec![0u8; key.public_modulus_len()];
                key.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(failed)?;
                Ok(signature)
            }
        }
    }

    /// PKCS#8 v1 DER, as Go's `x509.MarshalPKCS8PrivateKey` writes it (what cosign encrypts).
    pub(crate) fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let failed = |_| Error::CryptoFailure {
            operation: "encoding the private key as PKCS#8",
        };
        let der = match &self.signer {
            Signer::Ecdsa(key) => {
                Zeroizing::new(key.to_pkcs8v1().map_err(failed)?.as_ref().to_vec())
            }
            Signer::Ed25519(key) => {
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(failed)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            Signer::Rsa(key) => {
                let der: Pkcs8V1Der<'static> = key.as_der().map_err(failed)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
        };
        Ok(der)
    }

    fn with_public_key(signer: Signer) -> Result<Self, Error> {
        let failed = |_| Error::CryptoFailure {
            operation: "encoding the public key",
        };
        let spki = match &signer {
            Signer::Ecdsa(key) => key.public_key().as_der().map_err(failed)?,
            Signer::Ed25519(key) => key.public_key().as_der().map_err(failed)?,
            Signer::Rsa(key) => key.public_key().as_der().map_err(failed)?,
        };
        let public_key = PublicKey::from_der(spki.as_ref()).map_err(|e| match e {
            sigward_verify::Error::UnsupportedKeyAlgorithm { .. }
            | sigward_verify::Error::UnsupportedCurve { .. }
            | sigward_verify::Error::UnsupportedRsaKeySize { .. } => Error::UnsupportedKeyType {
                key_type: e.to_string(),
            },
            other => malformed(format!("public half of the key: {other}")),
        })?;
        Ok(Self { signer, public_key })
    }
}

fn malformed(reason: String) -> Error {
    Error::MalformedKeyFile { reason }
}

fn ecdsa_signing_algorithm(
    curve: ObjectIdentifier,
) -> Result<&'static EcdsaSigningAlgorithm, Error> {
    match curve {
        OID_P256 => Ok(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
        OID_P384 => Ok(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
        OID_P521 => Ok(&signature::ECDSA_P521_SHA256_ASN1_SIGNING),
        other => Err(Error::UnsupportedKeyType {
            key_type: format!("elliptic curve OID {other}"),
        }),
    }
}

/// The algorithm and the inner private key bytes of a PKCS#8 `PrivateKeyInfo` /
/// `OneAsymmetricKey` (RFC 5958); attributes and the v2 public key are skipped.
fn read_pkcs8(der: &[u8]) -> Result<(AlgorithmIdentifierRef<'_>, &[u8]), spki::der::Error> {
    AnyRef::from_der(der)?.sequence(|r| {
        let _version = u8::decode(r)?;
        let algorithm = AlgorithmIdentifierRef::decode(r)?;
        let private_key = OctetStringRef::decode(r)?;
        while !r.is_finished() {
            let _optional_field = AnyRef::decode(r)?;
        }
        Ok((algorithm, private_key.as_bytes()))
    })
}

/// The namedCurve of a SEC1 `ECPrivateKey` (RFC 5915), if it carries one.
fn read_sec1_curve(der: &[u8]) -> Result<Option<ObjectIdentifier>, spki::der::Error> {
    AnyRef::from_der(der)?.sequence(|r| {
        let _version = u8::decode(r)?;
        let _private_key = OctetStringRef::decode(r)?;
        let curve = r.context_specific::<ObjectIdentifier>(TagNumber::N0, TagMode::Explicit)?;
        while !r.is_finished() {
            let _public_key = AnyRef::decode(r)?;
        }
        Ok(curve)
    })
}

/// Refuses RSA keys outside sigward's accepted sizes by name, before aws-lc gives a vaguer error.
fn check_rsa_private_key_size(pkcs1: &[u8]) -> Result<(), Error> {
    let modulus = AnyRef::from_der(pkcs1)
        .and_then(|any| {
            any.sequence(|r| {
                let _version = u8::decode(r)?;
                let modulus = UintRef::decode(r)?;
                while !r.is_finished() {
                    let _field = AnyRef::decode(r)?;
                }
                Ok(modulus)
            })
        })
        .map_err(|e| malformed(format!("PKCS#1 RSAPrivateKey: {e}")))?;
    let bytes = modulus.as_bytes();
    let bits = match bytes.first() {
        Some(&first) => (bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize),
        None => 0,
    };
    let accepted = sigward_verify::key::MIN_RSA_BITS..=sigward_verify::key::MAX_RSA_BITS;
    if !accepted.contains(&bits) {
        return Err(Error::UnsupportedKeyType {
            key_type: format!(
                "RSA-{bits} (accepted: {}..={} bits)",
                accepted.start(),
                accepted.end()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::KeySize;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/", $name)).as_slice()
        };
    }

    fn pem_der(text: &[u8]) -> Vec<u8> {
        pem::parse(text).unwrap().into_contents()
    }

    fn assert_signs_and_verifies(key: &PrivateKey) {
        let message = b"sigward sign test";
        let signature = key.sign(message).unwrap();
        let public = key.public_key();
        public.verify(message, &signature).unwrap();
        assert_eq!(
            public.verify(b"another message", &signature),
            Err(sigward_verify::Error::SignatureMismatch)
        );
    }

    #[test]
    fn generated_p256_key_signs_and_verifies() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        assert_eq!(key.algorithm(), KeyAlgorithm::EcdsaP256Sha256);
        assert_signs_and_verifies(&key);
    }

    #[test]
    fn ecdsa_signatures_are_asn1_der() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let signature = key.sign(b"m").unwrap();
        assert_eq!(signature[0], 0x30, "DER SEQUENCE");
        assert!(signature.len() <= 72);
    }

    #[test]
    fn every_supported_type_round_trips_through_pkcs8() {
        let rng = SystemRandom::new();
        let ec = |alg| {
            EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .unwrap()
                .as_ref()
                .to_vec()
        };
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let rsa: Pkcs8V1Der<'static> = rsa.as_der().unwrap();
        let cases = [
            (
                ec(&signature::ECDSA_P256_SHA256_ASN1_SIGNING),
                KeyAlgorithm::EcdsaP256Sha256,
            ),
            (
                ec(&signature::ECDSA_P384_SHA384_ASN1_SIGNING),
                KeyAlgorithm::EcdsaP384Sha384,
            ),
            (
                ec(&signature::ECDSA_P521_SHA512_ASN1_SIGNING),
                KeyAlgorithm::EcdsaP521Sha512,
            ),
            (
                Ed25519KeyPair::generate_pkcs8(&rng)
                    .unwrap()
                    .as_ref()
                    .to_vec(),
                KeyAlgorithm::Ed25519,
            ),
            (rsa.as_ref().to_vec(), KeyAlgorithm::Rsa { bits: 2048 }),
        ];
        for (der, algorithm) in cases {
            let key = PrivateKey::from_pkcs8_der(&der).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            assert_signs_and_verifies(&key);
            let again = PrivateKey::from_pkcs8_der(&key.to_pkcs8_der().unwrap()).unwrap();
            assert_eq!(again.public_key(), key.public_key(), "{algorithm}");
        }
    }

    #[test]
    fn openssl_pkcs8_keys_load() {
        for (text, algorithm) in [
            (fixture!("p384.pkcs8.pem"), KeyAlgorithm::EcdsaP384Sha384),
            (fixture!("p521.pkcs8.pem"), KeyAlgorithm::EcdsaP521Sha512),
            (fixture!("ed25519.pkcs8.pem"), KeyAlgorithm::Ed25519),
            (
                fixture!("rsa2048.pkcs8.pem"),
                KeyAlgorithm::Rsa { bits: 2048 },
            ),
        ] {
            let key = PrivateKey::from_pkcs8_der(&pem_der(text)).unwrap();
            assert_eq!(key.algorithm(), algorithm);
            assert_signs_and_verifies(&key);
        }
    }

    #[test]
    fn sec1_and_pkcs1_forms_match_their_pkcs8_originals() {
        let sec1 = PrivateKey::from_sec1_der(&pem_der(fixture!("p384.sec1.pem"))).unwrap();
        let pkcs8 = PrivateKey::from_pkcs8_der(&pem_der(fixture!("p384.pkcs8.pem"))).unwrap();
        assert_eq!(sec1.public_key(), pkcs8.public_key());
        assert_signs_and_verifies(&sec1);

        let pkcs1 = PrivateKey::from_pkcs1_der(&pem_der(fixture!("rsa2048.pkcs1.pem"))).unwrap();
        let pkcs8 = PrivateKey::from_pkcs8_der(&pem_der(fixture!("rsa2048.pkcs8.pem"))).unwrap();
        assert_eq!(pkcs1.public_key(), pkcs8.public_key());
        assert_signs_and_verifies(&pkcs1);
    }

    #[test]
    fn x25519_is_an_unsupported_key_type() {
        assert_eq!(
            PrivateKey::from_pkcs8_der(&pem_der(fixture!("x25519.pkcs8.pem"))).unwrap_err(),
            Error::UnsupportedKeyType {
                key_type: "private key algorithm OID 1.3.101.110".to_owned()
            }
        );
    }

    #[test]
    fn rsa_1024_is_an_unsupported_key_type() {
        assert_eq!(
            PrivateKey::from_pkcs8_der(&pem_der(fixture!("rsa1024.pkcs8.pem"))).unwrap_err(),
            Error::UnsupportedKeyType {
                key_type: "RSA-1024 (accepted: 2048..=8192 bits)".to_owned()
            }
        );
    }

    #[test]
    fn truncated_pkcs8_never_panics_and_is_malformed() {
        let der = pem_der(fixture!("p384.pkcs8.pem"));
        for len in 0..der.len() {
            assert!(
                matches!(
                    PrivateKey::from_pkcs8_der(&der[..len]),
                    Err(Error::MalformedKeyFile { .. })
                ),
                "truncated to {len}"
            );
        }
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let key = PrivateKey::generate_ecdsa_p256().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.starts_with("PrivateKey { algorithm: EcdsaP256Sha256, key_id: "));
        let der = key.to_pkcs8_der().unwrap();
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        assert!(!debug.contains(&hex[hex.len() - 16..]));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod cosign_hash_tests {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA256_ASN1, ECDSA_P521_SHA256_ASN1};

    use super::*;

    /// cosign and containers/image verify key signatures over SHA-256 on every curve.
    #[test]
    fn p384_and_p521_sign_over_sha256_like_cosign() {
        let rng = SystemRandom::new();
        for (alg, verify_alg, point_len) in [
            (
                &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                &ECDSA_P384_SHA256_ASN1,
                97,
            ),
            (
                &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                &ECDSA_P521_SHA256_ASN1,
                133,
            ),
        ] {
            let der = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
            let key = PrivateKey::from_pkcs8_der(der.as_ref()).unwrap();
            let sig = key.sign(b"payload").unwrap();
            let spki = key.public_key().spki_der().to_vec();
            let point = &spki[spki.len() - point_len..];
            UnparsedPublicKey::new(verify_alg, point)
                .verify(b"payload", &sig)
                .unwrap();
            key.public_key().verify(b"payload", &sig).unwrap();
        }
    }
}
