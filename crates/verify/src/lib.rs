//! Pure, synchronous verification of cosign signatures.
//!
//! Data flow: key bytes (PEM or DER) -> [`PublicKey`] (algorithm fixed by the key's own OIDs,
//! key material validated once); a candidate signature as found in a registry ->
//! [`CosignSignature`] -> [`verify_with_key`] (signature over the exact payload bytes, then the
//! payload's claims against the image digest) -> [`VerifiedSignature`], which only this crate
//! can build. Nothing here does I/O; every input is passed in.

pub mod blob;
pub mod bundle;
pub mod cosign;
pub mod error;
pub mod key;
pub mod payload;
pub mod pki;

pub use cosign::{
    verify_cosign_signature, verify_with_key, CosignSignature, CosignTrust, LogEntryRef, Signer,
    VerifiedSignature,
};
pub use error::Error;
pub use key::{KeyAlgorithm, PublicKey};
