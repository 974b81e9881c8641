//! The registry client's one error type.

/// Everything that can go wrong talking to a registry. Each variant names the registry or the
/// object concerned, so a message built from it tells the user what to look at.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached (DNS, refused connection, reset, TLS handshake).
    #[error("cannot reach registry {registry}: {reason}")]
    Unreachable {
        /// Registry host.
        registry: String,
        /// What the transport said.
        reason: String,
    },
    /// The registry did not answer in time.
    #[error("registry {registry} did not answer within {millis} ms ({url})")]
    Timeout {
        /// Registry host.
        registry: String,
        /// The request that timed out.
        url: String,
        /// The time allowed, in milliseconds.
        millis: u64,
    },
    /// Redirects did not end within the limit.
    #[error("too many redirects (more than {limit}) fetching {url}")]
    TooManyRedirects {
        /// The request that was redirected.
        url: String,
        /// The limit.
        limit: usize,
    },
    /// A plain-HTTP registry was used without `--allow-http-registry`.
    #[error("registry {registry} does not speak HTTPS ({reason}); pass --allow-http-registry to use plain HTTP")]
    HttpNotAllowed {
        /// Registry host.
        registry: String,
        /// Why HTTPS failed.
        reason: String,
    },
    /// The registry refused our credentials, or we had none and it wants some.
    #[error("registry {registry} denied access to {repository}: {reason}")]
    Unauthorized {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// Status and registry message.
        reason: String,
    },
    /// The manifest or blob does not exist.
    #[error("{what} not found in {registry}/{repository}")]
    NotFound {
        /// Registry host.
        registry: String,
        /// Repository path.
        repository: String,
        /// What was asked for (`manifest sha256-….sig`, `blob sha256:…`).
        what: String,
    },
    /// Any other unexpected HTTP status.
    #[error("registry {registry} answered {status} to {method} {url}: {message}")]
    Status {
        /// Registry host.
        registry: String,
        /// HTTP method.
        method: String,
        /// Request URL.
        url: String,
        /// HTTP status code.
        status: u16,
        /// The registry's error message, if it sent one.
        message: String,
    },
    /// A body was larger than the limit for its kind.
    #[error("{what} from {registry} is larger than the {limit}-byte limit")]
    TooLarge {
        /// Registry host.
        registry: String,
        /// What was being read.
        what: String,
        /// The limit in bytes.
        limit: u64,
    },
    /// Content did not hash to the digest it was fetched by or announced with.
    #[error("{what} from {registry} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        /// Registry host.
        registry: String,
        /// What was fetched.
        what: String,
        /// The digest asked for or announced.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A manifest body is not valid JSON of the kind it claims.
    #[error("malformed manifest: {reason}")]
    MalformedManifest {
        /// What is wrong.
        reason: String,
    },
    /// A manifest of a kind sigward does not handle (e.g. Docker schema 1).
    #[error("unsupported manifest media type {media_type}")]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
    },
    /// The registry's answer broke the distribution protocol.
    #[error("registry {registry} broke the protocol: {reason}")]
    Protocol {
        /// Registry host.
        registry: String,
        /// What was wrong.
        reason: String,
    },
    /// Credentials could not be loaded (docker config, credential helper).
    #[error("registry credentials for {registry}: {reason}")]
    Credentials {
        /// Registry host.
        registry: String,
        /// What failed.
        reason: String,
    },
    /// The client could not be configured (CA file, TLS setup).
    #[error("registry client configuration: {reason}")]
    Config {
        /// What failed.
        reason: String,
    },
    /// More signatures than sigward examines: refused rather than silently truncated.
    #[error("{image} has {count} signatures in {registry}, more than the {limit} sigward examines; remove stale ones")]
    TooManySignatures {
        /// Registry host.
        registry: String,
        /// The repository.
        image: String,
        /// How many there are.
        count: usize,
        /// The limit.
        limit: usize,
    },
}
