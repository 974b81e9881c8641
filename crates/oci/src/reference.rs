//! Image references (`registry/repo/name:tag@sha256:…`) with the exact semantics of Go's
//! `github.com/distribution/reference`, the parser docker, containerd and cosign users know.
//!
//! Data flow: a string first meets the grammar (the `match_*` functions below, one per anchored
//! regexp in distribution/reference's `regexp.go`, written as plain scanners), which splits it
//! into name, tag and digest. The name is then split into domain and path, the path length is
//! checked, and the digest is validated with go-digest's rules ([`Digest::parse`], sha256 only
//! inside a reference). [`ImageReference::parse`] adds Docker's normalisation on top
//! (`ubuntu` → `docker.io/library/ubuntu`, `index.docker.io` → `docker.io`), as
//! `ParseNormalizedNamed` does; the other constructors map one-to-one to Go functions:
//!
//! | Rust | Go |
//! |------|----|
//! | [`ImageReference::parse`] | `ParseNormalizedNamed` |
//! | [`ImageReference::parse_strict`] | `Parse` (must be a named reference) |
//! | [`ImageReference::parse_any`] | `ParseAnyReference`, returning an [`AnyReference`] |
//! | [`ImageReference::parse_docker_ref`] | `ParseDockerRef` |
//! | [`ImageReference::parse_named`] | `ParseNamed` |
//! | [`ImageReference::from_name`] | `WithName` |
//!
//! One deliberate difference: [`ImageReference::with_tag`] drops any digest (Go's `WithTag`
//! keeps it), because a tag is what we ask a registry for and a stale digest would contradict it.

use std::fmt;
use std::str::FromStr;

use crate::digest::{Digest, DigestAlgorithm};

/// Longest repository path accepted, in bytes (`RepositoryNameTotalLengthMax`). Part of the
/// reference grammar, not a tunable budget; the domain does not count towards it.
pub const REPOSITORY_PATH_MAX_LEN: usize = 255;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const LOCALHOST: &str = "localhost";

/// Digest algorithms accepted after `@` in a reference (see the `digest` module docs).
const REFERENCE_DIGEST_ALGORITHMS: [DigestAlgorithm; 1] = [DigestAlgorithm::Sha256];

/// Why a string is not a valid image reference or digest. Each message starts with the text of
/// the Go error it corresponds to.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar (Go `ErrReferenceInvalidFormat`).
    #[error("invalid reference format: {input:?}")]
    ReferenceInvalidFormat {
        /// The rejected input.
        input: String,
    },
    /// A tag does not follow `[\w][\w.-]{0,127}` (Go `ErrTagInvalidFormat`).
    #[error("invalid tag format: {tag:?}")]
    TagInvalidFormat {
        /// The rejected tag.
        tag: String,
    },
    /// The repository path has uppercase letters (Go `ErrNameContainsUppercase`, and the
    /// `must be lowercase` error of `ParseNormalizedNamed`).
    #[error("repository name must be lowercase: {input:?}")]
    NameContainsUppercase {
        /// The rejected input.
        input: String,
    },
    /// The input is empty (Go `ErrNameEmpty`).
    #[error("repository name must have at least one component")]
    NameEmpty,
    /// The repository path is longer than [`REPOSITORY_PATH_MAX_LEN`] (Go `ErrNameTooLong`).
    #[error(
        "repository name must not be more than {REPOSITORY_PATH_MAX_LEN} characters: \
         path of {length} characters in {input:?}"
    )]
    NameTooLong {
        /// The rejected input.
        input: String,
        /// Length of its repository path.
        length: usize,
    },
    /// The input is not written in its fully qualified form (Go `ErrNameNotCanonical`).
    #[error("repository name must be canonical: {input:?} is {canonical:?} in full")]
    NameNotCanonical {
        /// The rejected input.
        input: String,
        /// Its fully qualified form.
        canonical: String,
    },
    /// A 64-hex-character string, which Docker reserves for image IDs, was given as a
    /// repository name (Go `ParseNormalizedNamed`'s `invalid repository name` error).
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    NameIsIdentifier {
        /// The rejected input.
        input: String,
    },
    /// The digest is malformed (go-digest `ErrDigestInvalidFormat`).
    #[error("invalid checksum digest format: {input:?}")]
    DigestInvalidFormat {
        /// The rejected digest.
        input: String,
    },
    /// The digest's hex has the wrong length for its algorithm (go-digest
    /// `ErrDigestInvalidLength`).
    #[error(
        "invalid checksum digest length: {input:?} has {actual} hex characters, expected {expected}"
    )]
    DigestInvalidLength {
        /// The rejected digest.
        input: String,
        /// Hex length the algorithm requires.
        expected: usize,
        /// Hex length found.
        actual: usize,
    },
    /// The digest names an algorithm that is not accepted here (go-digest
    /// `ErrDigestUnsupported`).
    #[error("unsupported digest algorithm: {algorithm:?} in {input:?}")]
    DigestUnsupported {
        /// The rejected digest.
        input: String,
        /// The algorithm it names.
        algorithm: String,
    },
}

/// A named image reference: domain, repository path, and an optional tag and digest.
///
/// The domain may be empty for references from [`ImageReference::parse_strict`] or
/// [`ImageReference::from_name`], which do not normalise.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// What `ParseAnyReference` can return: a named reference, or a bare digest (from `sha256:…`
/// or a 64-hex image ID).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AnyReference {
    /// A repository name with optional tag and digest.
    Named(ImageReference),
    /// A digest alone.
    Digest(Digest),
}

impl AnyReference {
    /// The digest, if the reference has one.
    pub fn digest(&self) -> Option<&Digest> {
        match self {
            Self::Named(r) => r.digest(),
            Self::Digest(d) => Some(d),
        }
    }

    /// The named reference, unless this is a bare digest.
    pub fn as_named(&self) -> Option<&ImageReference> {
        match self {
            Self::Named(r) => Some(r),
            Self::Digest(_) => None,
        }
    }

    /// Shortest form a Docker user would type (`FamiliarString`); a bare digest prints as is.
    pub fn familiar_string(&self) -> String {
        match self {
            Self::Named(r) => r.familiar_string(),
            Self::Digest(d) => d.to_string(),
        }
    }

    /// `FamiliarMatch`: whether `pattern` (Go `path.Match` syntax) matches this reference's
    /// familiar string or, for a named reference, its familiar name. A malformed pattern
    /// matches nothing.
    pub fn familiar_match(&self, pattern: &str) -> bool {
        match self {
            Self::Named(r) => ImageReference::familiar_match(pattern, r),
            Self::Digest(d) => path_match(pattern, &d.to_string()).unwrap_or(false),
        }
    }
}

impl fmt::Display for AnyReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(r) => r.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

impl ImageReference {
    /// Parses what a user types, normalising Docker Hub names (`ParseNormalizedNamed`):
    /// `busybox` is `docker.io/library/busybox`, `index.docker.io/x/y` is `docker.io/x/y`.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        if match_identifier(s) {
            return Err(ReferenceError::NameIsIdentifier {
                input: s.to_owned(),
            });
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = remainder
            .split_once(':')
            .map_or(remainder.as_str(), |(remote, _)| remote);
        if go_to_lower(remote) != remote {
            return Err(ReferenceError::NameContainsUppercase {
                input: s.to_owned(),
            });
        }
        let qualified = format!("{domain}/{remainder}");
        Self::parse_strict(&qualified).map_err(|e| e.with_input(s))
    }

    /// Parses a reference exactly as written, without normalisation (`Parse`): `ubuntu` has an
    /// empty domain, and `test.com:5000` is the path `test.com` with tag `5000`.
    pub fn parse_strict(s: &str) -> Result<Self, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::NameEmpty);
        }
        let Some(m) = match_reference(s) else {
            let lower = go_to_lower(s);
            if lower != s && match_reference(&lower).is_some() {
                return Err(ReferenceError::NameContainsUppercase {
                    input: s.to_owned(),
                });
            }
            return Err(ReferenceError::ReferenceInvalidFormat {
                input: s.to_owned(),
            });
        };
        // `match_reference` accepted the name, so the split always succeeds.
        let (domain, path) = match_full_name(m.name).unwrap_or(("", m.name));
        if path.len() > REPOSITORY_PATH_MAX_LEN {
            return Err(ReferenceError::NameTooLong {
                input: s.to_owned(),
                length: path.len(),
            });
        }
        let digest = m
            .digest
            .map(|d| Digest::parse_with(d, &REFERENCE_DIGEST_ALGORITHMS))
            .transpose()?;
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: m.tag.map(str::to_owned),
            digest,
        })
    }

    /// `ParseAnyReference`: a 64-hex image ID is the digest `sha256:<id>`, a valid digest is
    /// itself, and anything else is parsed as [`ImageReference::parse`] does.
    pub fn parse_any(s: &str) -> Result<AnyReference, ReferenceError> {
        if match_identifier(s) {
            let digest = Digest::parse_with(&format!("sha256:{s}"), &REFERENCE_DIGEST_ALGORITHMS)?;
            return Ok(AnyReference::Digest(digest));
        }
        if let Ok(digest) = Digest::parse_with(s, &REFERENCE_DIGEST_ALGORITHMS) {
            return Ok(AnyReference::Digest(digest));
        }
        Self::parse(s).map(AnyReference::Named)
    }

    /// `ParseDockerRef`: [`ImageReference::parse`], then `:latest` if there is neither tag nor
    /// digest, and the tag dropped if there are both (the digest is what gets pulled).
    pub fn parse_docker_ref(s: &str) -> Result<Self, ReferenceError> {
        let mut r = Self::parse(s)?;
        match (&r.tag, &r.digest) {
            (Some(_), Some(_)) => r.tag = None,
            (None, None) => r.tag = Some(DEFAULT_TAG.to_owned()),
            _ => {}
        }
        Ok(r)
    }

    /// `ParseNamed`: [`ImageReference::parse`], but only if `s` is already fully qualified
    /// (`docker.io/library/foo`, not `foo`).
    pub fn parse_named(s: &str) -> Result<Self, ReferenceError> {
        let r = Self::parse(s)?;
        let canonical = r.to_string();
        if canonical != s {
            return Err(ReferenceError::NameNotCanonical {
                input: s.to_owned(),
                canonical,
            });
        }
        Ok(r)
    }

    /// `WithName`: a repository name (no tag, no digest, no normalisation).
    pub fn from_name(name: &str) -> Result<Self, ReferenceError> {
        let Some((domain, path)) = match_full_name(name) else {
            return Err(ReferenceError::ReferenceInvalidFormat {
                input: name.to_owned(),
            });
        };
        if path.len() > REPOSITORY_PATH_MAX_LEN {
            return Err(ReferenceError::NameTooLong {
                input: name.to_owned(),
                length: path.len(),
            });
        }
        Ok(Self {
            domain: domain.to_owned(),
            path: path.to_owned(),
            tag: None,
            digest: None,
        })
    }

    /// Registry host and optional port (`docker.io`, `127.0.0.1:5000`, `[::1]:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path within the registry (`library/busybox`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Full repository name, `domain/path` (Go `Name()`).
    pub fn name(&self) -> String {
        join_name(&self.domain, &self.path)
    }

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same reference pinned to `digest`; a tag is kept (`WithDigest`).
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !match_tag(tag) {
            return Err(ReferenceError::TagInvalidFormat {
                tag: tag.to_owned(),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.repository()
        })
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn repository(&self) -> Self {
        Self {
            domain: self.domain.clone(),
            path: self.path.clone(),
            tag: None,
            digest: None,
        }
    }

    /// Name as a Docker user writes it (`FamiliarName`): `docker.io/library/busybox` is
    /// `busybox`, `docker.io/foo/bar` is `foo/bar`.
    pub fn familiar_name(&self) -> String {
        let (domain, path) = self.familiar_parts();
        join_name(domain, path)
    }

    /// [`ImageReference::familiar_name`] with tag and digest (`FamiliarString`).
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_tag_and_digest(&mut s);
        s
    }

    /// `FamiliarMatch`: whether `pattern` (Go `path.Match` syntax: `*`, `?`, `[...]`, `\`)
    /// matches the familiar string of `reference` or, failing that, its familiar name. A
    /// malformed pattern matches nothing.
    pub fn familiar_match(pattern: &str, reference: &ImageReference) -> bool {
        match path_match(pattern, &reference.familiar_string()) {
            Ok(true) => true,
            Ok(false) => path_match(pattern, &reference.familiar_name()).unwrap_or(false),
            Err(BadPattern) => false,
        }
    }

    fn familiar_parts(&self) -> (&str, &str) {
        if self.domain != DEFAULT_DOMAIN {
            return (&self.domain, &self.path);
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') => ("", rest),
            _ => ("", &self.path),
        }
    }

    fn push_tag_and_digest(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
    }
}

impl fmt::Display for ImageReference {
    /// `String()`: `name[:tag][@digest]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        self.push_tag_and_digest(&mut s);
        f.write_str(&s)
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    /// Same as [`ImageReference::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl ReferenceError {
    /// Errors from parsing the normalised string name what the user typed instead.
    fn with_input(self, original: &str) -> Self {
        match self {
            Self::ReferenceInvalidFormat { .. } => Self::ReferenceInvalidFormat {
                input: original.to_owned(),
            },
            Self::NameContainsUppercase { .. } => Self::NameContainsUppercase {
                input: original.to_owned(),
            },
            Self::NameTooLong { length, .. } => Self::NameTooLong {
                input: original.to_owned(),
                length,
            },
            other => other,
        }
    }
}

fn join_name(domain: &str, path: &str) -> String {
    if domain.is_empty() {
        path.to_owned()
    } else {
        format!("{domain}/{path}")
    }
}

/// `splitDockerDomain`: the first component is a domain if it is `localhost`, or has a `.` or
/// `:`, or has an uppercase letter; otherwise the name is on Docker Hub.
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if maybe_domain == LOCALHOST {
        (maybe_domain, maybe_remote)
    } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, maybe_remote)
    } else if maybe_domain.contains(['.', ':']) || go_to_lower(maybe_domain) != maybe_domain {
        (maybe_domain, maybe_remote)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_owned())
    }
}

/// Go's `strings.ToLower`: per-character simple lowercase mapping.
fn go_to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                // Only U+0130 lowercases to two characters; its simple mapping is `i`.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The grammar of distribution/reference `regexp.go`, as scanners. Each function accepts exactly
// the strings its anchored regexp matches, and splits them as Go's leftmost-first submatches do.
// ---------------------------------------------------------------------------------------------

/// The three parts `referenceRegexp` captures; `tag` and `digest` are `None` when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReferenceMatch<'a> {
    pub(crate) name: &'a str,
    pub(crate) tag: Option<&'a str>,
    pub(crate) digest: Option<&'a str>,
}

/// `^(namePat)(?::(tag))?(?:@(digestPat))?$`.
///
/// Neither name nor tag can hold `@`, so the first `@` starts the digest; the tag can hold
/// neither `:` nor `/` and the name holds `:` only in a domain (before a `/`), so a tag follows
/// the last `:` when no `/` comes after it.
pub(crate) fn match_reference(s: &str) -> Option<ReferenceMatch<'_>> {
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => {
            if !match_digest_pattern(digest) {
                return None;
            }
            (rest, Some(digest))
        }
        None => (s, None),
    };
    if let Some((name, tag)) = rest.rsplit_once(':') {
        if match_tag(tag) && match_full_name(name).is_some() {
            return Some(ReferenceMatch {
                name,
                tag: Some(tag),
                digest,
            });
        }
    }
    match_full_name(rest).map(|_| ReferenceMatch {
        name: rest,
        tag: None,
        digest,
    })
}

/// `^(?:(domainAndPort)/)?(remoteName)$`, returning (domain, path); the domain is `""` when
/// absent. A domain has no `/`, so it can only be the text before the first `/`, and the regexp
/// prefers taking it.
pub(crate) fn match_full_name(s: &str) -> Option<(&str, &str)> {
    if let Some((domain, path)) = s.split_once('/') {
        if match_domain(domain) && match_remote_name(path) {
            return Some((domain, path));
        }
    }
    match_remote_name(s).then_some(("", s))
}

/// `^domainAndPort$`: `host(?::[0-9]+)?`, host being a DNS-like name (any case) or a bracketed
/// IPv6 address of hex digits and colons.
pub(crate) fn match_domain(s: &str) -> bool {
    let (host, port) = if let Some(inner_and_rest) = s.strip_prefix('[') {
        let Some((inner, rest)) = inner_and_rest.split_once(']') else {
            return false;
        };
        if inner.is_empty() || !inner.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        if rest.is_empty() {
            return true;
        }
        let Some(port) = rest.strip_prefix(':') else {
            return false;
        };
        (None, port)
    } else {
        match s.split_once(':') {
            Some((host, port)) => (Some(host), port),
            None => return match_domain_name(s),
        }
    };
    host.is_none_or(match_domain_name)
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
}

/// `^([a-f0-9]{64})$`: a Docker image ID.
pub(crate) fn match_identifier(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `^[\w][\w.-]{0,127}$`.
pub(crate) fn match_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = s.as_bytes();
    match bytes.split_first() {
        Some((&first, rest)) => {
            word(first)
                && rest.len() <= 127
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// `^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}$`: the shape of
/// a digest in a reference, checked before go-digest's own validation.
pub(crate) fn match_digest_pattern(s: &str) -> bool {
    let Some((algorithm, hex)) = s.split_once(':') else {
        return false;
    };
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        b.first().is_some_and(u8::is_ascii_alphabetic) && b.iter().all(u8::is_ascii_alphanumeric)
    };
    algorithm.split(['-', '_', '+', '.']).all(component_ok)
        && hex.len() >= 32
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `domainName`: labels of `[a-zA-Z0-9-]` not starting or ending with `-`, joined by `.`.
fn match_domain_name(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
            && b.first() != Some(&b'-')
            && b.last() != Some(&b'-')
    })
}

/// `remoteName`: path components joined by `/`.
fn match_remote_name(s: &str) -> bool {
    s.split('/').all(match_path_component)
}

/// `pathComponent`: `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`.
fn match_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if b.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Go's `path.Match`, byte for byte (FamiliarMatch is defined by it).
// ---------------------------------------------------------------------------------------------

/// `path.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BadPattern;

/// Go `path.Match(pattern, name)`.
fn path_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern = pattern.as_bytes();
    let mut name = name.as_bytes();
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest of the name unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        // Last chunk: the whole name must be used up, or a star may still do better.
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Let the star swallow i+1 bytes, never a `/`.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..])?;
                if ok && (t.is_empty() || !pattern.is_empty()) {
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Before answering "no match", make sure the rest of the pattern is well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the following star-free chunk: (star, chunk, rest).
fn scan_chunk(pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let stars = pattern.iter().take_while(|&&b| b == b'*').count();
    let star = stars > 0;
    let pattern = &pattern[stars..];
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            // Skip the escaped byte; a dangling escape is reported by match_chunk.
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => return (star, &pattern[..i], &pattern[i..]),
            _ => {}
        }
        i += 1;
    }
    (star, pattern, &[])
}

/// Whether `chunk` (no stars) matches the start of `s`; returns the rest of `s` and the answer.
/// After a mismatch it keeps reading the chunk, to report a malformed pattern.
fn match_chunk<'s>(mut chunk: &[u8], mut s: &'s [u8]) -> Result<(&'s [u8], bool), BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0u32;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_escaped(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_escaped(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { (&[], false) } else { (s, true) })
}

/// A possibly escaped character of a character class; never empty afterwards (Go `getEsc`).
fn get_escaped(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let mut chunk = match chunk.first() {
        None | Some(b'-' | b']') => return Err(BadPattern),
        Some(_) => chunk,
    };
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode_rune(chunk);
    let rest = &chunk[n..];
    if (r == u32::from(char::REPLACEMENT_CHARACTER) && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go `utf8.DecodeRuneInString`: the first code point and its length; U+FFFD and 1 for an
/// invalid or truncated sequence. `s` must not be empty.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let prefix = &s[..s.len().min(4)];
    let valid = match std::str::from_utf8(prefix) {
        Ok(v) => v,
        Err(e) => std::str::from_utf8(&prefix[..e.valid_up_to()]).unwrap_or_default(),
    };
    match valid.chars().next() {
        Some(c) => (u32::from(c), c.len_utf8()),
        None => (u32::from(char::REPLACEMENT_CHARACTER), 1),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const HEX64: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    #[test]
    fn normalises_docker_hub_names() {
        let r = ImageReference::parse("busybox").unwrap();
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        let r: ImageReference = "index.docker.io/foo/bar:1".parse().unwrap();
        assert_eq!(r.to_string(), "docker.io/foo/bar:1");
        assert_eq!(r.familiar_string(), "foo/bar:1");
        let r = ImageReference::parse("[::1]:5000/repo").unwrap();
        assert_eq!((r.domain(), r.path()), ("[::1]:5000", "repo"));
    }

    #[test]
    fn strict_parse_keeps_the_input_as_written() {
        let r = ImageReference::parse_strict("test.com:5000").unwrap();
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("", "test.com", Some("5000"))
        );
        assert_eq!(r.to_string(), "test.com:5000");
    }

    #[test]
    fn with_tag_and_with_digest() {
        let d = Digest::parse(&format!("sha256:{HEX64}")).unwrap();
        let r = ImageReference::parse("example.com/app:v1").unwrap();
        let pinned = r.with_digest(d.clone());
        assert_eq!(
            pinned.to_string(),
            format!("example.com/app:v1@sha256:{HEX64}")
        );
        let retagged = pinned.with_tag("sha256-abc.sig").unwrap();
        assert_eq!(retagged.to_string(), "example.com/app:sha256-abc.sig");
        assert_eq!(retagged.digest(), None);
        assert_eq!(
            r.with_tag("-bad"),
            Err(ReferenceError::TagInvalidFormat { tag: "-bad".into() })
        );
        assert!(r.with_tag(&"a".repeat(128)).is_ok());
        assert!(r.with_tag(&"a".repeat(129)).is_err());
        assert_eq!(pinned.repository().to_string(), "example.com/app");
    }

    #[test]
    fn round_trips_through_display() {
        for input in [
            "busybox",
            "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
            "Foo/bar:Tag",
            "foo_bar.com/x",
            "localhost/a/b:c",
            "[fc00::1]:5000/docker/docker",
            "127.0.0.1:5000/library/debian@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa",
        ] {
            let r = ImageReference::parse(input).unwrap();
            assert_eq!(ImageReference::parse(&r.to_string()).unwrap(), r, "{input}");
            let s = ImageReference::parse_strict(input).unwrap();
            assert_eq!(ImageReference::parse_strict(&s.to_string()).unwrap(), s, "{input}");
        }
    }

    #[test]
    fn errors_carry_the_input() {
        assert_eq!(
            ImageReference::parse("docker/Docker"),
            Err(ReferenceError::NameContainsUppercase {
                input: "docker/Docker".into()
            })
        );
        assert_eq!(
            ImageReference::parse("a b"),
            Err(ReferenceError::ReferenceInvalidFormat {
                input: "a b".into()
            })
        );
        let e = ImageReference::parse_named("foo").unwrap_err();
        assert_eq!(
            e,
            ReferenceError::NameNotCanonical {
                input: "foo".into(),
                canonical: "docker.io/library/foo".into()
            }
        );
        assert!(e
            .to_string()
            .starts_with("repository name must be canonical"));
    }

    #[test]
    fn uppercase_detection_uses_go_lowercasing() {
        // U+212A KELVIN SIGN lowercases to ASCII `k`, so Go reports uppercase, not bad format.
        assert_eq!(
            ImageReference::parse_strict("\u{212A}ube:tag"),
            Err(ReferenceError::NameContainsUppercase {
                input: "\u{212A}ube:tag".into()
            })
        );
        assert_eq!(
            ImageReference::parse_strict("\u{130}mage"),
            Err(ReferenceError::NameContainsUppercase {
                input: "\u{130}mage".into()
            })
        );
        assert_eq!(
            ImageReference::parse_strict("\u{e9}t\u{e9}"),
            Err(ReferenceError::ReferenceInvalidFormat {
                input: "\u{e9}t\u{e9}".into()
            })
        );
    }

    #[test]
    fn parse_any_returns_bare_digests() {
        let id = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c";
        let want = Digest::parse(&format!("sha256:{id}")).unwrap();
        assert_eq!(
            ImageReference::parse_any(id).unwrap(),
            AnyReference::Digest(want.clone())
        );
        assert_eq!(
            ImageReference::parse_any(&format!("sha256:{id}")).unwrap(),
            AnyReference::Digest(want)
        );
        // sha512 is not an available algorithm in a reference, so this is a tag on `sha512`.
        let long = format!("sha512:{}", "f".repeat(128));
        let any = ImageReference::parse_any(&long).unwrap();
        assert_eq!(any.to_string(), format!("docker.io/library/{long}"));
        assert!(any.as_named().is_some());
    }

    #[test]
    fn path_match_follows_go() {
        let cases: &[(&str, &str, Result<bool, BadPattern>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a\u{263A}b", Ok(true)),
            ("a[^a]b", "a\u{263A}b", Ok(true)),
            ("a???b", "a\u{263A}b", Ok(false)),
            ("a[^a][^a][^a]b", "a\u{263A}b", Ok(false)),
            ("[a-\u{3B6}]*", "\u{3B1}", Ok(true)),
            ("*[a-\u{3B6}]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "-", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(BadPattern)),
            ("[-]", "-", Err(BadPattern)),
            ("[x-]", "x", Err(BadPattern)),
            ("[x-]", "-", Err(BadPattern)),
            ("[x-]", "z", Err(BadPattern)),
            ("[-x]", "x", Err(BadPattern)),
            ("[-x]", "-", Err(BadPattern)),
            ("[-x]", "a", Err(BadPattern)),
            ("\\", "a", Err(BadPattern)),
            ("[a-b-c]", "a", Err(BadPattern)),
            ("[", "a", Err(BadPattern)),
            ("[^", "a", Err(BadPattern)),
            ("[^bc", "a", Err(BadPattern)),
            ("a[", "a", Err(BadPattern)),
            ("a[", "ab", Err(BadPattern)),
            ("a[", "x", Err(BadPattern)),
            ("a/b[", "x", Err(BadPattern)),
            ("*x", "xxx", Ok(true)),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                path_match(pattern, name),
                *want,
                "Match({pattern:?}, {name:?})"
            );
        }
    }

    #[test]
    fn familiar_match_with_bad_pattern_matches_nothing() {
        let r = ImageReference::parse("foo/bar").unwrap();
        assert!(!ImageReference::familiar_match("foo/bar[", &r));
        assert!(ImageReference::familiar_match("foo/*", &r));
        assert!(ImageReference::familiar_match("*/bar", &r));
        assert!(!ImageReference::familiar_match("docker.io/foo/*", &r));
    }

    mod cases_tsv {
        //! Every row of `shared/fixtures/reference/cases.tsv` (see its README), extracted from
        //! distribution/reference's own Go tests.

        use super::super::*;

        const EXPECTED_ROWS: usize = 335;

        const COLUMNS: [&str; 16] = [
            "source",
            "test",
            "func",
            "input",
            "outcome",
            "error",
            "error_message",
            "name",
            "domain",
            "path",
            "tag",
            "digest",
            "string",
            "familiar",
            "pattern",
            "subs",
        ];

        /// One row; `col` gives a column by name, `""` meaning "not asserted".
        struct Row<'a> {
            cells: Vec<&'a str>,
        }

        impl<'a> Row<'a> {
            fn col(&self, name: &str) -> &'a str {
                let i = COLUMNS.iter().position(|c| *c == name).unwrap();
                self.cells[i]
            }
        }

        /// The Go error identifier a variant stands for, as written in the `error` column.
        fn go_error_identifier(e: &ReferenceError) -> &'static str {
            match e {
                ReferenceError::ReferenceInvalidFormat { .. } => "ErrReferenceInvalidFormat",
                ReferenceError::TagInvalidFormat { .. } => "ErrTagInvalidFormat",
                ReferenceError::NameContainsUppercase { .. } => "ErrNameContainsUppercase",
                ReferenceError::NameEmpty => "ErrNameEmpty",
                ReferenceError::NameTooLong { .. } => "ErrNameTooLong",
                ReferenceError::NameNotCanonical { .. } => "ErrNameNotCanonical",
                ReferenceError::NameIsIdentifier { .. } => "(ParseNormalizedNamed identifier)",
                ReferenceError::DigestInvalidFormat { .. } => "digest.ErrDigestInvalidFormat",
                ReferenceError::DigestInvalidLength { .. } => "digest.ErrDigestInvalidLength",
                ReferenceError::DigestUnsupported { .. } => "digest.ErrDigestUnsupported",
            }
        }

        /// What a row's function produced, in the table's terms.
        #[derive(Default)]
        struct Outcome {
            ok: bool,
            error: Option<ReferenceError>,
            name: Option<String>,
            domain: Option<String>,
            path: Option<String>,
            tag: Option<String>,
            digest: Option<String>,
            string: Option<String>,
            familiar: Option<String>,
            subs: Option<String>,
        }

        impl Outcome {
            fn from_result(r: Result<ImageReference, ReferenceError>) -> Self {
                match r {
                    Ok(r) => Self::from_named(&r),
                    Err(e) => Self {
                        error: Some(e),
                        ..Self::default()
                    },
                }
            }

            fn from_named(r: &ImageReference) -> Self {
                Self {
                    ok: true,
                    name: Some(r.name()),
                    domain: Some(r.domain().to_owned()),
                    path: Some(r.path().to_owned()),
                    tag: r.tag().map(str::to_owned),
                    digest: r.digest().map(Digest::to_string),
                    string: Some(r.to_string()),
                    familiar: Some(r.familiar_string()),
                    ..Self::default()
                }
            }

            fn matched(ok: bool) -> Self {
                Self {
                    ok,
                    ..Self::default()
                }
            }
        }

        fn run(row: &Row<'_>) -> Result<Outcome, String> {
            let input = row.col("input");
            let func = row.col("func");
            let outcome = match func {
                "Parse" => Outcome::from_result(ImageReference::parse_strict(input)),
                "ParseNormalizedNamed" => Outcome::from_result(ImageReference::parse(input)),
                "ParseDockerRef" => Outcome::from_result(ImageReference::parse_docker_ref(input)),
                "ParseNamed" => Outcome::from_result(ImageReference::parse_named(input)),
                "WithName" => Outcome::from_result(ImageReference::from_name(input)),
                "ParseAnyReference" => match ImageReference::parse_any(input) {
                    Ok(AnyReference::Named(r)) => Outcome::from_named(&r),
                    Ok(AnyReference::Digest(d)) => Outcome {
                        ok: true,
                        digest: Some(d.to_string()),
                        string: Some(d.to_string()),
                        familiar: Some(d.to_string()),
                        ..Outcome::default()
                    },
                    Err(e) => Outcome {
                        error: Some(e),
                        ..Outcome::default()
                    },
                },
                "FamiliarMatch(ParseAnyReference)" => {
                    let any = ImageReference::parse_any(input)
                        .map_err(|e| format!("ParseAnyReference failed: {e}"))?;
                    Outcome::matched(any.familiar_match(row.col("pattern")))
                }
                "regexp ^domainAndPort$" => Outcome::matched(match_domain(input)),
                "regexp anchoredIdentifierRegexp" => Outcome::matched(match_identifier(input)),
                "regexp anchoredNameRegexp (subs: domain,path)" => match match_full_name(input) {
                    Some((domain, path)) => Outcome {
                        ok: true,
                        domain: Some(domain.to_owned()),
                        path: Some(path.to_owned()),
                        subs: Some(format!("{domain}|{path}")),
                        ..Outcome::default()
                    },
                    None => Outcome::matched(false),
                },
                "regexp referenceRegexp (subs: name,tag,digest)" => match match_reference(input) {
                    Some(m) => Outcome {
                        ok: true,
                        name: Some(m.name.to_owned()),
                        tag: m.tag.map(str::to_owned),
                        digest: m.digest.map(str::to_owned),
                        subs: Some(format!(
                            "{}|{}|{}",
                            m.name,
                            m.tag.unwrap_or(""),
                            m.digest.unwrap_or("")
                        )),
                        ..Outcome::default()
                    },
                    None => Outcome::matched(false),
                },
                other => return Err(format!("unknown func {other:?}")),
            };
            Ok(outcome)
        }

        /// Every asserted column of `row` that `got` contradicts.
        fn compare(row: &Row<'_>, got: &Outcome) -> Vec<String> {
            let mut problems = Vec::new();
            let want_ok = match row.col("outcome") {
                "ok" | "match" => true,
                "err" | "nomatch" => false,
                other => return vec![format!("unknown outcome {other:?}")],
            };
            if got.ok != want_ok {
                problems.push(format!(
                    "outcome: want {}, got {} (error: {:?})",
                    row.col("outcome"),
                    if got.ok { "ok/match" } else { "err/nomatch" },
                    got.error
                ));
                return problems;
            }
            let error = row.col("error");
            if !error.is_empty() {
                match &got.error {
                    Some(e) if go_error_identifier(e) == error => {
                        if !e.to_string().starts_with(row.col("error_message")) {
                            problems.push(format!(
                                "error message {:?} does not start with {:?}",
                                e.to_string(),
                                row.col("error_message")
                            ));
                        }
                    }
                    other => problems.push(format!("error: want {error}, got {other:?}")),
                }
            }
            let fields: [(&str, &Option<String>); 9] = [
                ("name", &got.name),
                ("domain", &got.domain),
                ("path", &got.path),
                ("tag", &got.tag),
                ("digest", &got.digest),
                ("string", &got.string),
                ("familiar", &got.familiar),
                ("subs", &got.subs),
                // FamiliarMatch rows assert only the outcome; the pattern is an input.
                ("pattern", &None),
            ];
            for (column, value) in fields {
                let want = row.col(column);
                if want.is_empty() || column == "pattern" {
                    continue;
                }
                if value.as_deref() != Some(want) {
                    problems.push(format!("{column}: want {want:?}, got {value:?}"));
                }
            }
            problems
        }

        /// Printing a named reference and parsing it again with the same function gives it back.
        fn round_trip(row: &Row<'_>) -> Option<String> {
            let input = row.col("input");
            let parser: fn(&str) -> Result<ImageReference, ReferenceError> = match row.col("func") {
                "Parse" => ImageReference::parse_strict,
                "ParseNormalizedNamed" | "ParseDockerRef" => ImageReference::parse,
                _ => return None,
            };
            let r = parser(input).ok()?;
            match parser(&r.to_string()) {
                Ok(again) if again == r => None,
                other => Some(format!("round trip of {r}: got {other:?}")),
            }
        }

        #[test]
        fn every_row_of_distribution_reference_tests() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../../shared/fixtures/reference/cases.tsv"
            );
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(e) if std::env::var_os("CI").is_none() => {
                    eprintln!("SKIPPED: reference cases: {path} not found ({e})");
                    return;
                }
                Err(e) => panic!("reference cases {path} not readable in CI: {e}"),
            };
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
            assert_eq!(header, COLUMNS, "cases.tsv header changed");

            let mut rows = 0;
            let mut passed = 0;
            let mut failures = Vec::new();
            for (i, line) in lines.enumerate() {
                if line.is_empty() {
                    continue;
                }
                rows += 1;
                let cells: Vec<&str> = line.split('\t').collect();
                if cells.len() != COLUMNS.len() {
                    failures.push(format!("line {}: {} columns", i + 2, cells.len()));
                    continue;
                }
                let row = Row { cells };
                let mut problems = match run(&row) {
                    Ok(got) => compare(&row, &got),
                    Err(e) => vec![e],
                };
                problems.extend(round_trip(&row));
                if problems.is_empty() {
                    passed += 1;
                } else {
                    failures.push(format!(
                        "{} {} {}({:?}): {}",
                        row.col("source"),
                        row.col("test"),
                        row.col("func"),
                        row.col("input"),
                        problems.join("; ")
                    ));
                }
            }
            eprintln!("reference cases: {passed}/{rows} rows pass");
            assert!(
                failures.is_empty(),
                "{} of {rows} rows fail:\n{}",
                failures.len(),
                failures.join("\n")
            );
            assert_eq!(
                rows, EXPECTED_ROWS,
                "row count changed: rows skipped or added"
            );
        }
    }
}
