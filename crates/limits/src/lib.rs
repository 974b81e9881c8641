//! Every size, count and time limit sigward enforces, in one place.
//!
//! A registry, a signature or a key file is input from someone else: each limit below bounds the
//! memory, CPU or time that one such input can cost us. Where a limit is hit, the caller reports
//! an error naming the limit; nothing is truncated silently. Each limit has a test that exceeds it
//! (see the crates that enforce them).

use std::time::Duration;

/// Largest image manifest or index body accepted from a registry (OCI's own recommendation is 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Largest blob sigward will download: signature payloads, configs and bundles are small JSON.
pub const MAX_BLOB_BYTES: u64 = 4 * 1024 * 1024;

/// Largest token-endpoint or error response body read from a registry or its auth server.
pub const MAX_AUTH_RESPONSE_BYTES: u64 = 256 * 1024;

/// Most signature layers examined on one image's `.sig` manifest, and most referrers listed.
pub const MAX_SIGNATURES_PER_IMAGE: usize = 64;

/// Most platform manifests followed in one index (`sign --recursive`).
pub const MAX_INDEX_MANIFESTS: usize = 256;

/// Most HTTP redirects followed for one registry request.
pub const MAX_REDIRECTS: usize = 5;

/// Time allowed to establish a TCP + TLS connection to a registry.
pub const REGISTRY_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Time allowed for one whole registry request, body included.
pub const REGISTRY_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest public key or private key file read from disk.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Largest base64 signature annotation accepted on a signature layer.
pub const MAX_SIGNATURE_ANNOTATION_BYTES: usize = 16 * 1024;

/// Largest scrypt work factor (log2 N) accepted from an encrypted key file: cosign 2.5 and
/// skopeo write 2^16 (sigward writes 2^15, which every cosign release reads); anything far
/// above would let a hostile file burn minutes and gigabytes.
pub const MAX_SCRYPT_LOG_N: u8 = 20;

/// Largest answer read from a transparency log or other Sigstore service.
pub const MAX_SIGSTORE_RESPONSE_BYTES: u64 = 1024 * 1024;

/// Time allowed for one request to a transparency log or other Sigstore service.
pub const SIGSTORE_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Most Rekor keys read from one policy's `rekorKeyData`.
pub const MAX_TRUSTED_KEYS: usize = 16;

/// Most certificates read from one PEM input (a CA bundle, a chain annotation).
pub const MAX_CHAIN_CERTIFICATES: usize = 32;

/// Largest AdmissionReview body accepted (kube-apiserver caps objects near 3 MiB; an UPDATE
/// carries two).
pub const MAX_ADMISSION_REVIEW_BYTES: usize = 8 * 1024 * 1024;

/// Most images verified for one admission review.
pub const MAX_IMAGES_PER_REVIEW: usize = 256;

/// Default time budget for one admission review: below the webhook's `timeoutSeconds` (10 s),
/// so a slow registry yields an explained denial rather than the apiserver's timeout.
pub const ADMISSION_DEADLINE: Duration = Duration::from_secs(8);

/// How long a successful verdict for a digest is reused.
pub const VERDICT_TTL: Duration = Duration::from_secs(300);

/// How long a failed verdict is reused (short: registries recover, signatures get pushed).
pub const FAILURE_TTL: Duration = Duration::from_secs(10);

/// How long a tag -> digest resolution is reused.
pub const DIGEST_TTL: Duration = Duration::from_secs(30);

/// Most entries each admission cache holds; beyond it expired entries are dropped, then the
/// oldest finished ones down to three quarters (computations in flight are kept).
pub const MAX_CACHE_ENTRIES: usize = 10_000;

/// Largest policy file read.
pub const MAX_POLICY_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Most policy files read from the `--policy` paths.
pub const MAX_POLICY_FILES: usize = 1024;
