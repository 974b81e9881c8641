//! The one error type of `sigward-sign`.

/// Why a private key could not be read, encrypted or used.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The password does not open the encrypted key (cosign: "decrypt: encrypted: decryption
    /// failed"). NaCl secretbox cannot tell a wrong password from a tampered ciphertext.
    #[error("wrong password for the encrypted private key (or the ciphertext was altered)")]
    WrongPassword,

    /// The key file is not one we can read: PEM framing or label, JSON, base64, KDF or cipher
    /// name, scrypt parameters beyond our limits, or the decrypted key's DER.
    #[error("malformed private key file: {reason}")]
    MalformedKeyFile {
        /// What was wrong, for a human.
        reason: String,
    },

    /// The key file is larger than `sigward_limits::MAX_KEY_FILE_BYTES`.
    #[error("private key file is {len} bytes, above the limit of {max} bytes")]
    KeyFileTooLarge {
        /// Size of the input.
        len: usize,
        /// The limit.
        max: u64,
    },

    /// The key is well-formed but of a type or size sigward does not sign with.
    #[error("unsupported private key type: {key_type}")]
    UnsupportedKeyType {
        /// The algorithm OID, curve or size that was refused.
        key_type: String,
    },

    /// The cryptographic library failed where it should not (randomness, signing, encoding).
    #[error("cryptographic operation failed: {operation}")]
    CryptoFailure {
        /// Which operation failed.
        operation: &'static str,
    },

    /// The transparency log refused or failed the upload.
    #[error("transparency log {url}: {reason}")]
    Rekor {
        /// The log's URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
}
