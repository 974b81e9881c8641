//! OCI plumbing for sigward: image references and digests with the exact semantics of Go's
//! distribution/reference and go-digest, which is how users and cosign name images.

pub mod digest;
pub mod reference;

pub use digest::{Digest, DigestAlgorithm};
pub use reference::{AnyReference, ImageReference, ReferenceError};

pub mod challenge;
pub mod client;
pub mod credentials;
pub mod error;
pub mod manifest;
pub mod signatures;

pub use client::{ClientConfig, RegistryClient};
pub use error::RegistryError;
