//! The one error type of `sigward-verify`.

/// Why a key could not be read or a signature could not be verified.
///
/// Each variant names one failure precisely enough for a test to assert it and for an operator to
/// act on it; `Display` is written for the operator.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a well-formed public key (bad PEM framing, bad DER, wrong PEM label,
    /// a point not on its curve...).
    #[error("malformed public key: {reason}")]
    MalformedPublicKey {
        /// What was wrong, for a human.
        reason: String,
    },

    /// The key file is larger than any public key sigward accepts.
    #[error("public key input is {len} bytes, above the limit of {max} bytes")]
    KeyTooLarge {
        /// Size of the input.
        len: usize,
        /// `sigward_limits::MAX_KEY_FILE_BYTES`.
        max: u64,
    },

    /// The SubjectPublicKeyInfo names a key algorithm sigward does not verify with.
    #[error("unsupported public key algorithm (OID {oid})")]
    UnsupportedKeyAlgorithm {
        /// Dotted form of the algorithm OID.
        oid: String,
    },

    /// An elliptic-curve key is on a curve other than P-256, P-384 or P-521.
    #[error("unsupported elliptic curve (OID {oid}); accepted: P-256, P-384, P-521")]
    UnsupportedCurve {
        /// Dotted form of the namedCurve OID.
        oid: String,
    },

    /// An id-RSASSA-PSS key is restricted to parameters other than SHA-256 with MGF1-SHA-256.
    #[error("unsupported RSASSA-PSS key parameters: {reason} (need SHA-256 and MGF1-SHA-256)")]
    UnsupportedRsaPssParameters {
        /// Which parameter did not fit.
        reason: String,
    },

    /// An RSA modulus is outside the accepted range.
    #[error("RSA key of {bits} bits is outside the accepted range of {min}..={max} bits")]
    UnsupportedRsaKeySize {
        /// Modulus size of the key.
        bits: usize,
        /// Smallest accepted modulus.
        min: usize,
        /// Largest accepted modulus.
        max: usize,
    },

    /// The signature bytes cannot be a signature for this key's algorithm (wrong length, not DER).
    #[error("malformed signature: {reason}")]
    MalformedSignature {
        /// What was wrong, for a human.
        reason: String,
    },

    /// The signature is well-formed but does not verify over the message with this key.
    #[error("signature does not verify with this public key")]
    SignatureMismatch,

    /// A signature layer carries no `dev.cosignproject.cosign/signature` annotation.
    #[error("signature layer has no dev.cosignproject.cosign/signature annotation")]
    MissingSignature,

    /// No trusted key was given to verify with.
    #[error("no trusted public key to verify with")]
    NoTrustedKey,

    /// The signed payload is not a simple-signing document.
    #[error("signed payload is malformed: {reason}")]
    MalformedPayload {
        /// What was wrong.
        reason: String,
    },

    /// The payload's `critical.type` is not cosign's container image signature type.
    #[error("signed payload has type {found:?}, not \"cosign container image signature\"")]
    WrongPayloadType {
        /// The type found.
        found: String,
    },

    /// A valid signature that covers another image: the signature was copied.
    #[error("signature is valid but signs {signed}, not this image's digest {image}")]
    SignedDigestMismatch {
        /// The digest being verified.
        image: String,
        /// The digest the payload names.
        signed: String,
    },

    /// A valid signature lacking a required claim (`-a key=value`).
    #[error("signature lacks required annotation {key}={expected} ({})", match found { Some(v) => format!("it signs {key}={v}"), None => format!("it has no {key}") })]
    AnnotationMismatch {
        /// The claim key.
        key: String,
        /// The value required.
        expected: String,
        /// The value signed, if any.
        found: Option<String>,
    },

    /// A trusted root could not be read or used.
    #[error("trusted root is unusable: {reason}")]
    MalformedTrustedRoot {
        /// What was wrong.
        reason: String,
    },

    /// A Sigstore bundle is not well-formed or internally inconsistent.
    #[error("malformed bundle: {reason}")]
    MalformedBundle {
        /// What was wrong.
        reason: String,
    },

    /// A bundle uses content sigward cannot verify.
    #[error("unsupported bundle: {reason}")]
    UnsupportedBundle {
        /// What is unsupported.
        reason: String,
    },

    /// The bundle describes another artifact.
    #[error("bundle does not match the artifact: {reason}")]
    ArtifactMismatch {
        /// Which digest or subject differs.
        reason: String,
    },

    /// The signing certificate was rejected (chain, usage, validity, SCT).
    #[error("{reason}")]
    Certificate {
        /// Why.
        reason: String,
    },

    /// The transparency-log evidence was rejected (SET, inclusion proof, checkpoint, entry).
    #[error("{reason}")]
    TransparencyLog {
        /// Why.
        reason: String,
    },

    /// A timestamp was rejected, or no trusted signing time exists.
    #[error("{reason}")]
    Timestamp {
        /// Why.
        reason: String,
    },

    /// A verified certificate names another signer than the policy requires.
    #[error("certificate identity {} does not match {expected}", actual.as_deref().unwrap_or("(none)"))]
    IdentityMismatch {
        /// The required identity (exact or `/regexp/`).
        expected: String,
        /// The certificate's SAN.
        actual: Option<String>,
    },

    /// A verified certificate was issued for another OIDC issuer than the policy requires.
    #[error("certificate OIDC issuer {} does not match {expected}", actual.as_deref().unwrap_or("(none)"))]
    IssuerMismatch {
        /// The required issuer (exact or `/regexp/`).
        expected: String,
        /// The certificate's issuer.
        actual: Option<String>,
    },

    /// A keyless signature without its `dev.sigstore.cosign/certificate`.
    #[error("signature has no signing certificate (dev.sigstore.cosign/certificate): it is not a keyless signature")]
    MissingCertificate,

    /// A signature without the transparency-log entry the policy requires.
    #[error("signature has no transparency-log entry (dev.sigstore.cosign/bundle), and the trust in use requires one (sign with the log, or trust the key without it: `--insecure-ignore-tlog` for sigward verify, no rekorKeyData / no ctlog in a policy)")]
    MissingTlogEntry,

    /// The Rekor bundle annotation cannot be read.
    #[error("malformed transparency-log entry: {reason}")]
    MalformedTlogEntry {
        /// What was wrong.
        reason: String,
    },

    /// A certificate annotation cannot be read.
    #[error("malformed certificate: {reason}")]
    MalformedCertificate {
        /// What was wrong.
        reason: String,
    },

    /// A verified certificate lacks a required extension value (e.g. a GitHub workflow ref).
    #[error("certificate {claim} is {}, not {expected:?}", actual.as_deref().map_or("absent".to_string(), |a| format!("{a:?}")))]
    ClaimMismatch {
        /// Which extension.
        claim: String,
        /// The value required.
        expected: String,
        /// The certificate's value.
        actual: Option<String>,
    },

    /// An identity or issuer regexp does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    InvalidPattern {
        /// The pattern.
        pattern: String,
        /// The compiler's message.
        reason: String,
    },
}

impl Error {
    /// How much a failure says about the candidate: a failure after the cryptography passed
    /// (wrong image, missing claim) says more than a bad signature, which says more than an
    /// unreadable one. Used to report the most useful reason when every candidate failed.
    fn specificity(&self) -> u8 {
        match self {
            Error::AnnotationMismatch { .. } => 90,
            Error::IdentityMismatch { .. }
            | Error::IssuerMismatch { .. }
            | Error::ClaimMismatch { .. } => 85,
            Error::SignedDigestMismatch { .. } => 80,
            Error::WrongPayloadType { .. } => 70,
            Error::MalformedPayload { .. } => 60,
            Error::ArtifactMismatch { .. } => 58,
            Error::Certificate { .. } | Error::TransparencyLog { .. } | Error::Timestamp { .. } => {
                55
            }
            Error::SignatureMismatch => 50,
            Error::MalformedSignature { .. } => 40,
            Error::MissingSignature => 30,
            Error::MissingTlogEntry | Error::MissingCertificate => 45,
            Error::MalformedTlogEntry { .. } | Error::MalformedCertificate { .. } => 42,
            _ => 10,
        }
    }

    /// The most specific of `errors` (the first of equals), or `None` when there are none.
    pub fn most_specific(errors: impl IntoIterator<Item = Error>) -> Option<Error> {
        errors
            .into_iter()
            .fold(None, |best: Option<Error>, e| match best {
                Some(b) if b.specificity() >= e.specificity() => Some(b),
                _ => Some(e),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_prefers_failures_after_the_cryptography() {
        let errors = vec![
            Error::MissingSignature,
            Error::SignatureMismatch,
            Error::SignedDigestMismatch {
                image: "a".into(),
                signed: "b".into(),
            },
            Error::SignatureMismatch,
        ];
        assert_eq!(
            Error::most_specific(errors),
            Some(Error::SignedDigestMismatch {
                image: "a".into(),
                signed: "b".into()
            })
        );
        assert_eq!(Error::most_specific(Vec::new()), None);
        assert_eq!(
            Error::most_specific(vec![Error::SignatureMismatch, Error::MissingSignature]),
            Some(Error::SignatureMismatch)
        );
    }
}
