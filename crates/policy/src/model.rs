//! The `config.openshift.io/v1` `ClusterImagePolicy` / `ImagePolicy` objects, field for field,
//! with the JSON names of the CRD, and the multi-document YAML reader.

use std::fmt;

use base64::Engine as _;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use crate::error::PolicyError;
use crate::sigstore::{SigstorePolicy, SigstorePolicySpec, SIGSTORE_API_VERSIONS};
use crate::validate::{
    MAX_EMAIL_LEN, MAX_HOSTNAME_LEN, MAX_KEY_DATA_LEN, MAX_OIDC_ISSUER_LEN, MAX_SCOPES,
    MAX_SCOPE_LEN, MIN_CA_DATA_LEN, MIN_KEY_DATA_LEN,
};

/// The only API group/version served for both kinds.
pub const API_VERSION: &str = "config.openshift.io/v1";

/// Which of the two OpenShift kinds an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Cluster-scoped `ClusterImagePolicy`.
    ClusterImagePolicy,
    /// Namespaced `ImagePolicy`.
    ImagePolicy,
    /// sigstore policy-controller's cluster-scoped `policy.sigstore.dev` `ClusterImagePolicy`
    /// (see [`SigstorePolicy`](crate::SigstorePolicy)).
    SigstoreClusterImagePolicy,
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClusterImagePolicy => "ClusterImagePolicy",
            Self::ImagePolicy => "ImagePolicy",
            Self::SigstoreClusterImagePolicy => "ClusterImagePolicy.policy.sigstore.dev",
        })
    }
}

/// Names one policy object in errors and conflict reports.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PolicyRef {
    /// The object's kind.
    pub kind: PolicyKind,
    /// `metadata.namespace`; always `None` for a `ClusterImagePolicy`.
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

impl fmt::Display for PolicyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One `ClusterImagePolicy` or `ImagePolicy` object (both kinds share the spec).
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Kind, name and namespace.
    pub id: PolicyRef,
    /// The object's `spec`.
    pub spec: ImagePolicySpec,
    /// `metadata.annotations` (sigward's opt-in additions are read from here: see
    /// [`crate::extensions`]).
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of both kinds.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImagePolicySpec {
    /// `spec.scopes`: image scopes this policy applies to (most specific scope wins).
    #[schemars(length(max = MAX_SCOPES), inner(length(max = MAX_SCOPE_LEN)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub scopes: Vec<String>,
    /// `spec.policy`: what a signature must satisfy.
    pub policy: ImageSigstoreVerificationPolicy,
}

/// `spec.policy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSigstoreVerificationPolicy {
    /// `rootOfTrust`: the keys or CAs signatures must chain to.
    pub root_of_trust: PolicyRootOfTrust,
    /// `signedIdentity`; `MatchRepoDigestOrExact` when omitted.
    #[serde(default)]
    pub signed_identity: Option<PolicyIdentity>,
}

/// `spec.policy.rootOfTrust`, a union discriminated by `policyType`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.policyType == 'PublicKey' ? has(self.publicKey) : !has(self.publicKey)",
        "message": "publicKey is required when policyType is PublicKey, and forbidden otherwise",
    },
    {
        "rule": "self.policyType == 'FulcioCAWithRekor' ? has(self.fulcioCAWithRekor) : !has(self.fulcioCAWithRekor)",
        "message": "fulcioCAWithRekor is required when policyType is FulcioCAWithRekor, and forbidden otherwise",
    },
    {
        "rule": "self.policyType == 'PKI' ? has(self.pki) : !has(self.pki)",
        "message": "pki is required when policyType is PKI, and forbidden otherwise",
    },
]))]
pub struct PolicyRootOfTrust {
    /// `policyType`: which of the three members must be set.
    pub policy_type: PolicyType,
    /// `publicKey`, required iff `policyType` is `PublicKey`.
    #[serde(default)]
    pub public_key: Option<PublicKey>,
    /// `fulcioCAWithRekor`, required iff `policyType` is `FulcioCAWithRekor`.
    #[serde(default, rename = "fulcioCAWithRekor")]
    pub fulcio_ca_with_rekor: Option<FulcioCaWithRekor>,
    /// `pki`, required iff `policyType` is `PKI`.
    #[serde(default)]
    pub pki: Option<Pki>,
}

/// `rootOfTrust.policyType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
pub enum PolicyType {
    /// A sigstore public key.
    PublicKey,
    /// A Fulcio CA plus a Rekor key (keyless).
    #[serde(rename = "FulcioCAWithRekor")]
    FulcioCaWithRekor,
    /// A private PKI (roots, intermediates, subject).
    #[serde(rename = "PKI")]
    Pki,
}

impl fmt::Display for PolicyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::PublicKey => "PublicKey",
            Self::FulcioCaWithRekor => "FulcioCAWithRekor",
            Self::Pki => "PKI",
        })
    }
}

/// A Kubernetes `[]byte` field: base64 text on the wire, kept as written so validation can
/// name the field when it does not decode.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct EncodedBytes(pub String);

impl JsonSchema for EncodedBytes {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EncodedBytes".into()
    }

    /// OpenAPI's `[]byte`: a base64 string.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "byte" })
    }
}

impl EncodedBytes {
    /// Decodes like Go's `encoding/json` (`base64.StdEncoding`, which skips `\r` and `\n`).
    pub fn decode(&self) -> Result<Vec<u8>, base64::DecodeError> {
        let compact: String = self
            .0
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .collect();
        base64::engine::general_purpose::STANDARD.decode(compact)
    }

    /// Length of the base64 text, which is what the CRD's MinLength/MaxLength bound.
    pub fn encoded_len(&self) -> usize {
        self.0.chars().count()
    }
}

impl fmt::Debug for EncodedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncodedBytes({} base64 chars)", self.0.len())
    }
}

/// `rootOfTrust.publicKey`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PublicKey {
    /// `keyData`: base64 of a PEM `PUBLIC KEY`.
    #[schemars(length(min = MIN_KEY_DATA_LEN, max = MAX_KEY_DATA_LEN))]
    pub key_data: EncodedBytes,
    /// `rekorKeyData`: base64 of the Rekor PEM `PUBLIC KEY`, if Rekor must be checked.
    #[serde(default)]
    #[schemars(length(max = MAX_KEY_DATA_LEN))]
    pub rekor_key_data: Option<EncodedBytes>,
}

/// `rootOfTrust.fulcioCAWithRekor`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FulcioCaWithRekor {
    /// `fulcioCAData`: base64 of the Fulcio PEM `CERTIFICATE`.
    #[serde(rename = "fulcioCAData")]
    #[schemars(length(max = MAX_KEY_DATA_LEN))]
    pub fulcio_ca_data: EncodedBytes,
    /// `rekorKeyData`: base64 of the Rekor PEM `PUBLIC KEY` (required here).
    #[schemars(length(max = MAX_KEY_DATA_LEN))]
    pub rekor_key_data: EncodedBytes,
    /// `fulcioSubject`: the OIDC issuer and email the certificate must carry.
    pub fulcio_subject: PolicyFulcioSubject,
}

/// `fulcioCAWithRekor.fulcioSubject`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyFulcioSubject {
    /// `oidcIssuer`: a URL.
    #[schemars(length(max = MAX_OIDC_ISSUER_LEN))]
    pub oidc_issuer: String,
    /// `signedEmail`: the email SAN.
    #[schemars(length(max = MAX_EMAIL_LEN))]
    pub signed_email: String,
}

/// `rootOfTrust.pki`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pki {
    /// `caRootsData`: base64 of a PEM bundle of root certificates.
    #[serde(rename = "caRootsData")]
    #[schemars(length(min = MIN_CA_DATA_LEN, max = MAX_KEY_DATA_LEN))]
    pub ca_roots_data: EncodedBytes,
    /// `caIntermediatesData`: base64 of a PEM bundle of intermediates.
    #[serde(default, rename = "caIntermediatesData")]
    #[schemars(length(min = MIN_CA_DATA_LEN, max = MAX_KEY_DATA_LEN))]
    pub ca_intermediates_data: Option<EncodedBytes>,
    /// `pkiCertificateSubject`: the SAN email and/or hostname required.
    pub pki_certificate_subject: PkiCertificateSubject,
}

/// `pki.pkiCertificateSubject`; at least one member must be set.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.email) || has(self.hostname)",
    "message": "at least one of email or hostname must be set in pkiCertificateSubject",
}]))]
pub struct PkiCertificateSubject {
    /// `email`: must equal a SAN email.
    #[serde(default)]
    #[schemars(length(max = MAX_EMAIL_LEN))]
    pub email: Option<String>,
    /// `hostname`: must equal a SAN DNS name; may start with `*.`.
    #[serde(default)]
    #[schemars(length(max = MAX_HOSTNAME_LEN))]
    pub hostname: Option<String>,
}

/// `spec.policy.signedIdentity`, a union discriminated by `matchPolicy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.matchPolicy == 'ExactRepository' ? has(self.exactRepository) : !has(self.exactRepository)",
        "message": "exactRepository is required when matchPolicy is ExactRepository, and forbidden otherwise",
    },
    {
        "rule": "self.matchPolicy == 'RemapIdentity' ? has(self.remapIdentity) : !has(self.remapIdentity)",
        "message": "remapIdentity is required when matchPolicy is RemapIdentity, and forbidden otherwise",
    },
]))]
pub struct PolicyIdentity {
    /// `matchPolicy`: how the identity a signature claims must relate to the image.
    pub match_policy: IdentityMatchPolicy,
    /// `exactRepository`, required iff `matchPolicy` is `ExactRepository`.
    #[serde(default)]
    pub exact_repository: Option<PolicyMatchExactRepository>,
    /// `remapIdentity`, required iff `matchPolicy` is `RemapIdentity`.
    #[serde(default)]
    pub remap_identity: Option<PolicyMatchRemapIdentity>,
}

/// `signedIdentity.matchPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
pub enum IdentityMatchPolicy {
    /// Exact reference for tags, same repository for digests (the default).
    MatchRepoDigestOrExact,
    /// Same repository.
    MatchRepository,
    /// The signature names the configured repository.
    ExactRepository,
    /// Rewrite a prefix of the image name, then `MatchRepoDigestOrExact`.
    RemapIdentity,
}

impl fmt::Display for IdentityMatchPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MatchRepoDigestOrExact => "MatchRepoDigestOrExact",
            Self::MatchRepository => "MatchRepository",
            Self::ExactRepository => "ExactRepository",
            Self::RemapIdentity => "RemapIdentity",
        })
    }
}

/// `signedIdentity.exactRepository`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatchExactRepository {
    /// `repository`: a repository name without tag or digest.
    #[schemars(length(max = MAX_SCOPE_LEN))]
    pub repository: String,
}

/// `signedIdentity.remapIdentity`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMatchRemapIdentity {
    /// `prefix`: matched against the image's full name.
    #[schemars(length(max = MAX_SCOPE_LEN))]
    pub prefix: String,
    /// `signedPrefix`: what `prefix` is replaced with before comparing.
    #[schemars(length(max = MAX_SCOPE_LEN))]
    pub signed_prefix: String,
}

/// The evaluated form of `signedIdentity` (containers/image's `PolicyReferenceMatch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedIdentity {
    /// `matchRepoDigestOrExact`.
    MatchRepoDigestOrExact,
    /// `matchRepository`.
    MatchRepository,
    /// `exactRepository` with its `dockerRepository`.
    ExactRepository {
        /// The repository the signature must name.
        repository: String,
    },
    /// `remapIdentity`.
    RemapIdentity {
        /// Prefix of the image name to replace.
        prefix: String,
        /// Its replacement.
        signed_prefix: String,
    },
}

impl Policy {
    /// The `signedIdentity` in evaluated form; `None` if the union is inconsistent (which
    /// [`Policy::validate`](crate::Policy::validate) reports).
    pub fn signed_identity(&self) -> Option<SignedIdentity> {
        let Some(identity) = &self.spec.policy.signed_identity else {
            return Some(SignedIdentity::MatchRepoDigestOrExact);
        };
        match identity.match_policy {
            IdentityMatchPolicy::MatchRepoDigestOrExact => {
                Some(SignedIdentity::MatchRepoDigestOrExact)
            }
            IdentityMatchPolicy::MatchRepository => Some(SignedIdentity::MatchRepository),
            IdentityMatchPolicy::ExactRepository => {
                identity
                    .exact_repository
                    .as_ref()
                    .map(|e| SignedIdentity::ExactRepository {
                        repository: e.repository.clone(),
                    })
            }
            IdentityMatchPolicy::RemapIdentity => {
                identity
                    .remap_identity
                    .as_ref()
                    .map(|r| SignedIdentity::RemapIdentity {
                        prefix: r.prefix.clone(),
                        signed_prefix: r.signed_prefix.clone(),
                    })
            }
        }
    }
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct SigstoreObject {
    metadata: Metadata,
    spec: SigstorePolicySpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    metadata: Metadata,
    spec: ImagePolicySpec,
}

/// Reads every `ClusterImagePolicy` / `ImagePolicy` from a multi-document YAML (or JSON)
/// text, in order. `List`, `ClusterImagePolicyList` and `ImagePolicyList` documents are
/// expanded; empty documents are skipped; any other kind is an error (fail closed), including
/// sigstore's `policy.sigstore.dev` kinds: use [`parse_any_policies`] for mixed files. The
/// result is not validated: call [`Policy::validate`](crate::Policy::validate) or
/// [`PolicySet::new`](crate::PolicySet::new).
pub fn parse_policies(text: &str) -> Result<Vec<Policy>, PolicyError> {
    let mut out = Vec::new();
    parse_stream(text, Accept::OpenShift, &mut out)?;
    Ok(out
        .into_iter()
        .filter_map(|p| match p {
            AnyPolicy::OpenShift(p) => Some(p),
            AnyPolicy::Sigstore(_) => None,
        })
        .collect())
}

/// Reads every sigstore `policy.sigstore.dev` (`v1alpha1` or `v1beta1`) `ClusterImagePolicy`
/// from a multi-document YAML (or JSON) text, in order, like [`parse_policies`] (lists
/// expanded, empty documents skipped, any other kind an error). Not validated: call
/// [`SigstorePolicy::validate`](crate::SigstorePolicy::validate) or
/// [`SigstorePolicySet::new`](crate::SigstorePolicySet::new).
pub fn parse_sigstore_policies(text: &str) -> Result<Vec<SigstorePolicy>, PolicyError> {
    let mut out = Vec::new();
    parse_stream(text, Accept::Sigstore, &mut out)?;
    Ok(out
        .into_iter()
        .filter_map(|p| match p {
            AnyPolicy::Sigstore(p) => Some(p),
            AnyPolicy::OpenShift(_) => None,
        })
        .collect())
}

/// Reads a multi-document text mixing OpenShift (`config.openshift.io/v1`) and sigstore
/// (`policy.sigstore.dev`) policy kinds, in document order. The two families have different
/// semantics (§2.8: most-specific scope vs. AND of all matching globs), so callers split the
/// result with [`AnyPolicy::split`] and feed [`PolicySet::new`](crate::PolicySet::new) and
/// [`SigstorePolicySet::new`](crate::SigstorePolicySet::new) separately.
pub fn parse_any_policies(text: &str) -> Result<Vec<AnyPolicy>, PolicyError> {
    let mut out = Vec::new();
    parse_stream(text, Accept::Both, &mut out)?;
    Ok(out)
}

/// One policy object of either family, as read by [`parse_any_policies`].
#[derive(Debug, Clone, PartialEq)]
pub enum AnyPolicy {
    /// A `config.openshift.io/v1` `ClusterImagePolicy` or `ImagePolicy`.
    OpenShift(Policy),
    /// A `policy.sigstore.dev` `ClusterImagePolicy`.
    Sigstore(SigstorePolicy),
}

impl AnyPolicy {
    /// Kind, name and namespace of the object.
    pub fn id(&self) -> &PolicyRef {
        match self {
            Self::OpenShift(p) => &p.id,
            Self::Sigstore(p) => &p.id,
        }
    }

    /// Splits a mixed list into the OpenShift and the sigstore policies, each in input order.
    pub fn split(policies: Vec<AnyPolicy>) -> (Vec<Policy>, Vec<SigstorePolicy>) {
        let mut openshift = Vec::new();
        let mut sigstore = Vec::new();
        for p in policies {
            match p {
                Self::OpenShift(p) => openshift.push(p),
                Self::Sigstore(p) => sigstore.push(p),
            }
        }
        (openshift, sigstore)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Accept {
    OpenShift,
    Sigstore,
    Both,
}

fn parse_stream(text: &str, accept: Accept, out: &mut Vec<AnyPolicy>) -> Result<(), PolicyError> {
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(document).map_err(|e| PolicyError::Yaml {
            document: index,
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        push_object(index, value, accept, out)?;
    }
    Ok(())
}

fn str_field<'v>(value: &'v serde_yaml_ng::Value, key: &str) -> &'v str {
    value.get(key).and_then(|v| v.as_str()).unwrap_or("")
}

fn malformed(
    document: usize,
    kind: String,
    value: &serde_yaml_ng::Value,
    e: &serde_yaml_ng::Error,
) -> PolicyError {
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    PolicyError::Malformed {
        document,
        kind,
        name,
        message: e.to_string(),
    }
}

fn push_object(
    document: usize,
    value: serde_yaml_ng::Value,
    accept: Accept,
    out: &mut Vec<AnyPolicy>,
) -> Result<(), PolicyError> {
    let api_version = str_field(&value, "apiVersion").to_owned();
    let kind_text = str_field(&value, "kind").to_owned();
    let openshift = accept != Accept::Sigstore;
    let sigstore =
        accept != Accept::OpenShift && SIGSTORE_API_VERSIONS.contains(&api_version.as_str());
    let kind = match (api_version.as_str(), kind_text.as_str()) {
        (API_VERSION, "ClusterImagePolicy") if openshift => PolicyKind::ClusterImagePolicy,
        (API_VERSION, "ImagePolicy") if openshift => PolicyKind::ImagePolicy,
        (_, "ClusterImagePolicy") if sigstore => PolicyKind::SigstoreClusterImagePolicy,
        ("v1", "List") => return push_items(document, &value, kind_text, accept, out),
        (API_VERSION, "ClusterImagePolicyList" | "ImagePolicyList") if openshift => {
            return push_items(document, &value, kind_text, accept, out)
        }
        (_, "ClusterImagePolicyList") if sigstore => {
            return push_items(document, &value, kind_text, accept, out)
        }
        _ => {
            return Err(PolicyError::UnsupportedKind {
                document,
                api_version,
                kind: kind_text,
            })
        }
    };
    if kind == PolicyKind::SigstoreClusterImagePolicy {
        let object: SigstoreObject = serde_yaml_ng::from_value(value.clone())
            .map_err(|e| malformed(document, kind_text, &value, &e))?;
        out.push(AnyPolicy::Sigstore(SigstorePolicy {
            id: PolicyRef {
                kind,
                namespace: None,
                name: object.metadata.name,
            },
            api_version,
            spec: object.spec,
            annotations: object.metadata.annotations,
        }));
        return Ok(());
    }
    let object: Object = serde_yaml_ng::from_value(value.clone())
        .map_err(|e| malformed(document, kind_text, &value, &e))?;
    let namespace = match kind {
        PolicyKind::ImagePolicy => object.metadata.namespace.filter(|ns| !ns.is_empty()),
        // The apiserver ignores metadata.namespace on cluster-scoped objects.
        PolicyKind::ClusterImagePolicy | PolicyKind::SigstoreClusterImagePolicy => None,
    };
    out.push(AnyPolicy::OpenShift(Policy {
        id: PolicyRef {
            kind,
            namespace,
            name: object.metadata.name,
        },
        spec: object.spec,
        annotations: object.metadata.annotations,
    }));
    Ok(())
}

fn push_items(
    document: usize,
    value: &serde_yaml_ng::Value,
    kind_text: String,
    accept: Accept,
    out: &mut Vec<AnyPolicy>,
) -> Result<(), PolicyError> {
    let items = match value.get("items") {
        None | Some(serde_yaml_ng::Value::Null) => return Ok(()),
        Some(serde_yaml_ng::Value::Sequence(items)) => items.clone(),
        Some(_) => {
            return Err(PolicyError::Malformed {
                document,
                kind: kind_text,
                name: None,
                message: "items must be a list".to_owned(),
            })
        }
    };
    for item in items {
        push_object(document, item, accept, out)?;
    }
    Ok(())
}
