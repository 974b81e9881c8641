//! The crate's one error type.

use sigward_oci::ReferenceError;

use crate::model::{IdentityMatchPolicy, PolicyRef};

/// Which CEL rule of `ImageScope` a scope breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeRule {
    /// The host has no dot and is not `localhost`.
    NotFullyQualified,
    /// A `*` that is not the leading `*.` of a bare host.
    InvalidWildcard,
    /// Not `host[:port][/path][:tag][@digest]`.
    InvalidFormat,
}

/// Which CEL rule of `IdentityRepositoryPrefix` a value breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrefixRule {
    /// It ends in a tag (only `localhost:port` may look like one).
    HasTag,
    /// Not `host[:port]` or `localhost` with an optional path.
    InvalidFormat,
}

/// Which PEM-marker CEL rule a `[]byte` field breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PemRule {
    /// The decoded text does not start with `-----BEGIN <label>-----`.
    MissingBegin,
    /// The decoded text does not end with `-----END <label>-----` (plus an optional `\n`).
    MissingEnd,
    /// BEGIN and END markers are not equally many.
    UnbalancedMarkers,
    /// The text has the markers but does not parse as PEM blocks of that label.
    Undecodable,
}

/// Which sigstore policy-controller validation rule a value breaks
/// (`clusterimagepolicy_validation.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigstoreRule {
    /// A glob with characters outside `[a-zA-Z0-9-_:/*.@]`, or empty.
    Glob,
    /// `key.data` / `ca-cert.data` is not PEM of the required label.
    Pem,
    /// `kms` does not start with a supported scheme (`awskms://`, `azurekms://`,
    /// `hashivault://`, `gcpkms://`).
    KmsScheme,
    /// `hashAlgorithm` is not sha224/sha256/sha384/sha512.
    HashAlgorithm,
    /// An `issuerRegExp` / `subjectRegExp` does not compile.
    Regex,
    /// A URL does not parse (or is not `https` where required).
    Url,
    /// `predicateType` is neither a known short name nor a URI.
    PredicateType,
    /// `signatureFormat` is neither `legacy` nor `bundle`.
    SignatureFormat,
    /// `signatureFormat: bundle` without `keyless`.
    BundleRequiresKeyless,
    /// A policy `type` other than `cue` / `rego`.
    PolicyType,
    /// A `fetchConfigFile` / `include*` flag outside `spec.policy`.
    IncludeOutsideSpecPolicy,
    /// `match[].resource` is not a supported resource.
    MatchResource,
    /// `match[].selector` without a resource, group or version.
    SelectorWithoutResource,
    /// `secretRef` without a name.
    SecretName,
}

/// Everything that can go wrong in this crate: reading, validating, selecting, matching.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// A YAML document does not parse.
    #[error("document {document}: invalid YAML: {message}")]
    Yaml {
        /// Zero-based document index in the stream.
        document: usize,
        /// The parser's message.
        message: String,
    },
    /// A document is not a `config.openshift.io/v1` policy kind.
    #[error("document {document}: unsupported object {api_version:?} kind {kind:?}")]
    UnsupportedKind {
        /// Zero-based document index.
        document: usize,
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
    /// A policy object does not fit the schema (missing required field, wrong type, unknown enum).
    #[error("document {document}: {kind} {name:?}: {message}")]
    Malformed {
        /// Zero-based document index.
        document: usize,
        /// Its `kind`.
        kind: String,
        /// `metadata.name`, if readable.
        name: Option<String>,
        /// The deserializer's message, naming the field.
        message: String,
    },
    /// A required field is missing (also: a union member required by its discriminator).
    #[error("{policy}: {field}: Required value")]
    Required {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
    },
    /// A union member is set although its discriminator selects another.
    #[error("{policy}: {field}: Forbidden: not allowed when {discriminator} is {value}")]
    Forbidden {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the member.
        field: String,
        /// The discriminator's name (`policyType`, `matchPolicy`).
        discriminator: &'static str,
        /// The discriminator's value.
        value: String,
    },
    /// A list has more items than allowed.
    #[error("{policy}: {field}: Too many: {actual}: must have at most {max} items")]
    TooMany {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the list.
        field: String,
        /// The limit.
        max: usize,
        /// Items found.
        actual: usize,
    },
    /// A string is longer than its MaxLength (base64 text for `[]byte` fields).
    #[error("{policy}: {field}: Too long: may not be longer than {max} (is {actual})")]
    TooLong {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The limit.
        max: usize,
        /// Length found.
        actual: usize,
    },
    /// A string is shorter than its MinLength (base64 text for `[]byte` fields).
    #[error("{policy}: {field}: Invalid value: should be at least {min} chars long (is {actual})")]
    TooShort {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The limit.
        min: usize,
        /// Length found.
        actual: usize,
    },
    /// A scope is listed twice (`listType=set`).
    #[error("{policy}: {field}: Duplicate value: {scope:?}")]
    DuplicateScope {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the second occurrence.
        field: String,
        /// The repeated scope.
        scope: String,
    },
    /// A scope breaks one of the `ImageScope` CEL rules.
    #[error("{policy}: {field}: Invalid value: {scope:?}: invalid image scope ({rule:?})")]
    InvalidScope {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the scope.
        field: String,
        /// The scope.
        scope: String,
        /// The rule broken.
        rule: ScopeRule,
    },
    /// A `[]byte` field is not valid base64.
    #[error("{policy}: {field}: Invalid value: illegal base64 data")]
    InvalidBase64 {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
    },
    /// A `[]byte` field does not hold the PEM it must.
    #[error("{policy}: {field}: Invalid value: not PEM {label} ({rule:?})")]
    InvalidPem {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The PEM label required (`PUBLIC KEY`, `CERTIFICATE`).
        label: &'static str,
        /// The rule broken.
        rule: PemRule,
    },
    /// `oidcIssuer` is not a URL (CEL `isURL`).
    #[error("{policy}: {field}: Invalid value: {value:?}: must be a valid URL")]
    InvalidUrl {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The value.
        value: String,
    },
    /// An email field does not match `^\S+@\S+$`.
    #[error("{policy}: {field}: Invalid value: {value:?}: invalid email address")]
    InvalidEmail {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The value.
        value: String,
    },
    /// `pkiCertificateSubject.hostname` is not a DNS-1123 subdomain (optionally `*.`-prefixed).
    #[error("{policy}: {field}: Invalid value: {value:?}: invalid hostname")]
    InvalidHostname {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The value.
        value: String,
    },
    /// A `signedIdentity` repository or prefix breaks an `IdentityRepositoryPrefix` rule.
    #[error(
        "{policy}: {field}: Invalid value: {value:?}: invalid repository or prefix ({rule:?})"
    )]
    InvalidIdentityPrefix {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The value.
        value: String,
        /// The rule broken.
        rule: PrefixRule,
    },
    /// A oneOf group (`key`/`keyless`/`static`, `data`/`kms`/`secretRef`, `issuer`/`issuerRegExp`…)
    /// has no member set (knative `ErrMissingOneOf`).
    #[error("{policy}: {field}: expected exactly one, got neither: {}", members.join(", "))]
    MissingOneOf {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the object holding the group.
        field: String,
        /// The group's members.
        members: &'static [&'static str],
    },
    /// A oneOf group (or mutually exclusive fields) has several members set (knative
    /// `ErrMultipleOneOf`).
    #[error("{policy}: {field}: expected exactly one, got both: {}", present.join(", "))]
    MultipleOneOf {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the object holding the group.
        field: String,
        /// The members that are set.
        present: Vec<&'static str>,
    },
    /// A sigstore policy value breaks a policy-controller validation rule.
    #[error("{policy}: {field}: Invalid value: {value:?} ({rule:?})")]
    InvalidSigstoreValue {
        /// The offending policy.
        policy: PolicyRef,
        /// JSON path of the field.
        field: String,
        /// The value (truncated PEM is not shortened; it is what was written).
        value: String,
        /// The rule broken.
        rule: SigstoreRule,
    },
    /// A `sigward.dev/...` annotation has a value sigward does not accept.
    #[error("{policy}: metadata.annotations[{annotation:?}]: Invalid value: {value:?}: {reason}")]
    InvalidAnnotation {
        /// The offending policy.
        policy: PolicyRef,
        /// The annotation key.
        annotation: &'static str,
        /// Its value.
        value: String,
        /// What is accepted.
        reason: &'static str,
    },
    /// A sigstore glob does not compile (`glob.Compile`).
    #[error("invalid glob {glob:?}")]
    InvalidGlob {
        /// The glob.
        glob: String,
    },
    /// An image string to match against sigstore globs does not parse.
    #[error("{image:?} is not a valid image reference: {source}")]
    InvalidImage {
        /// The image string.
        image: String,
        /// Why.
        source: ReferenceError,
    },
    /// The image reference has both a tag and a digest, which containers/image refuses to look
    /// up ("Unexpected Docker reference … with both a name and a digest").
    #[error("unexpected image reference {image} with both a tag and a digest")]
    TagAndDigest {
        /// The image reference.
        image: String,
    },
    /// The image reference has neither tag nor digest, so no identity can match it.
    #[error("image reference {image} has neither a tag nor a digest")]
    NameOnlyImage {
        /// The image reference.
        image: String,
    },
    /// The signature's `docker-reference` is not a valid reference.
    #[error("signature identity {signed_reference:?} is not a valid reference: {source}")]
    InvalidSignedReference {
        /// The claimed identity.
        signed_reference: String,
        /// Why it does not parse.
        source: ReferenceError,
    },
    /// A policy repository or prefix (or a remapped image name) is not a valid reference.
    #[error("{value:?} is not a valid repository reference: {source}")]
    InvalidPolicyReference {
        /// The value that does not parse.
        value: String,
        /// Why.
        source: ReferenceError,
    },
    /// The signature's `docker-reference` is not accepted for this image.
    #[error("signature for identity {signed_reference:?} is not accepted for {expected} ({match_policy})")]
    IdentityMismatch {
        /// The matchPolicy applied.
        match_policy: IdentityMatchPolicy,
        /// What the signature had to name (image reference, repository, or remapped reference).
        expected: String,
        /// What it names.
        signed_reference: String,
        /// True when the signature names a repository only, which `MatchRepoDigestOrExact`
        /// never accepts (cosign writes this form).
        name_only_signature: bool,
    },
}

impl PolicyError {
    /// The policy object the error is about, when it is about one.
    pub fn policy(&self) -> Option<&PolicyRef> {
        match self {
            Self::Required { policy, .. }
            | Self::Forbidden { policy, .. }
            | Self::TooMany { policy, .. }
            | Self::TooLong { policy, .. }
            | Self::TooShort { policy, .. }
            | Self::DuplicateScope { policy, .. }
            | Self::InvalidScope { policy, .. }
            | Self::InvalidPem { policy, .. }
            | Self::InvalidUrl { policy, .. }
            | Self::InvalidEmail { policy, .. }
            | Self::InvalidHostname { policy, .. }
            | Self::InvalidIdentityPrefix { policy, .. }
            | Self::MissingOneOf { policy, .. }
            | Self::MultipleOneOf { policy, .. }
            | Self::InvalidSigstoreValue { policy, .. }
            | Self::InvalidAnnotation { policy, .. } => Some(policy),
            _ => None,
        }
    }
}
