//! Signers and cosign's encrypted private key format.
//!
//! Data flow: a key file (cosign/skopeo encrypted PEM, or unencrypted PKCS#8 / SEC1 / PKCS#1)
//! -> [`decrypt_private_key`] -> [`PrivateKey`] -> [`PrivateKey::sign`] gives the signature bytes
//! cosign would give, verifiable with [`PrivateKey::public_key`]. [`encrypt_private_key`] writes
//! the file `cosign generate-key-pair` writes.

pub mod bundle;
pub mod cosign_key;
pub mod error;
pub mod key;
pub mod rekor;

pub use cosign_key::{decrypt_private_key, encrypt_private_key};
pub use error::Error;
pub use key::PrivateKey;
