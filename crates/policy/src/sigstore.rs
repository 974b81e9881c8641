//! sigstore policy-controller's `policy.sigstore.dev` `ClusterImagePolicy` (v1alpha1 and
//! v1beta1 share the JSON), field for field, and the pure per-authority requirements derived
//! from it (research doc §2.2, §2.5).

use std::collections::BTreeMap;

use regex::Regex;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::PolicyRef;

/// The served `apiVersion`s of the sigstore `ClusterImagePolicy` (identical JSON).
pub const SIGSTORE_API_VERSIONS: [&str; 2] = [
    "policy.sigstore.dev/v1alpha1",
    "policy.sigstore.dev/v1beta1",
];

/// Fulcio URL the webhook's defaulting fills in when `keyless` has neither `url` nor `ca-cert`.
pub const DEFAULT_FULCIO_URL: &str = "https://fulcio.sigstore.dev";

/// One sigstore `ClusterImagePolicy` (cluster-scoped; `id.kind` is
/// [`PolicyKind::SigstoreClusterImagePolicy`](crate::PolicyKind::SigstoreClusterImagePolicy)).
#[derive(Debug, Clone, PartialEq)]
pub struct SigstorePolicy {
    /// Kind and name (namespace is always `None`).
    pub id: PolicyRef,
    /// The `apiVersion` it was read with (`policy.sigstore.dev/v1alpha1` or `/v1beta1`).
    pub api_version: String,
    /// The object's `spec`.
    pub spec: SigstorePolicySpec,
    /// `metadata.annotations` (see [`crate::extensions`]).
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// `spec` of the sigstore `ClusterImagePolicy`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigstorePolicySpec {
    /// `images`: globs over the full image reference; at least one is required.
    #[serde(default)]
    pub images: Vec<ImagePattern>,
    /// `authorities`: any one of them passing satisfies the policy (OR).
    #[serde(default)]
    pub authorities: Vec<Authority>,
    /// `policy`: CUE or Rego evaluated over the authority results (kept, not evaluated).
    #[serde(default)]
    pub policy: Option<PolicyBlock>,
    /// `mode`: `enforce` (default) or `warn`.
    #[serde(default)]
    pub mode: PolicyMode,
    /// `match`: resource/label selectors applied before the globs (kept, not evaluated).
    #[serde(default, rename = "match")]
    pub match_resources: Vec<MatchResource>,
}

/// `spec.images[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct ImagePattern {
    /// `glob`: see [`glob_matches`](crate::glob_matches).
    #[serde(default)]
    #[schemars(
        description = "`glob` over the full image reference (`*` within a path segment, `**` across segments)."
    )]
    pub glob: String,
}

/// `spec.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PolicyMode {
    /// Failures deny admission.
    #[default]
    Enforce,
    /// Failures become admission warnings.
    Warn,
}

/// `spec.authorities[]`: exactly one of `key`, `keyless`, `static`.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Authority {
    /// `name`; defaults to `authority-<index>` ([`SigstorePolicy::authority_name`]).
    #[serde(default)]
    #[schemars(description = "`name`; defaults to `authority-<index>`.")]
    pub name: Option<String>,
    /// `key`: a public key (inline PEM, KMS URI or Secret).
    #[serde(default)]
    pub key: Option<KeyRef>,
    /// `keyless`: Fulcio certificates with identity constraints.
    #[serde(default)]
    pub keyless: Option<KeylessRef>,
    /// `static`: pass or fail without verifying anything.
    #[serde(default, rename = "static")]
    pub static_: Option<StaticRef>,
    /// `source`: where signatures are stored (at most one entry).
    #[serde(default)]
    #[schemars(length(max = 1))]
    pub source: Vec<Source>,
    /// `ctlog`: the Rekor transparency log.
    #[serde(default)]
    pub ctlog: Option<TLog>,
    /// `attestations`: attestations to verify instead of signatures (kept, not evaluated).
    #[serde(default)]
    pub attestations: Vec<Attestation>,
    /// `rfc3161timestamp`: signed timestamps (and no tlog).
    #[serde(default)]
    pub rfc3161timestamp: Option<Rfc3161Timestamp>,
    /// `signatureFormat`: `legacy` (default) or `bundle`.
    #[serde(default)]
    pub signature_format: Option<String>,
}

/// A `KeyRef` (`key` and `keyless.ca-cert`): exactly one of `data`, `secretRef`, `kms`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// `data`: inline PEM (not base64).
    #[serde(default)]
    pub data: Option<String>,
    /// `secretRef`: a Secret in the controller's namespace; its first key is used.
    #[serde(default)]
    pub secret_ref: Option<SecretReference>,
    /// `kms`: `awskms://`, `azurekms://`, `hashivault://` or `gcpkms://` URI.
    #[serde(default)]
    pub kms: Option<String>,
    /// `hashAlgorithm`: `sha224`, `sha256` (default), `sha384`, `sha512`, any case.
    #[serde(default)]
    pub hash_algorithm: Option<String>,
}

/// Core `SecretReference`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct SecretReference {
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `namespace`; must be empty or the controller's namespace.
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `authorities[].keyless`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeylessRef {
    /// `url`: the Fulcio URL; exclusive with `ca-cert`.
    #[serde(default)]
    pub url: Option<String>,
    /// `identities`: at least one; any may match.
    #[serde(default)]
    pub identities: Vec<Identity>,
    /// `ca-cert`: the PEM certificate chain.
    #[serde(default, rename = "ca-cert")]
    pub ca_cert: Option<KeyRef>,
    /// `trustRootRef`: name of a `TrustRoot`.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
    /// `insecureIgnoreSCT`.
    #[serde(default, rename = "insecureIgnoreSCT")]
    pub insecure_ignore_sct: Option<bool>,
}

/// `keyless.identities[]`: one of `issuer`/`issuerRegExp` and one of `subject`/`subjectRegExp`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    /// `issuer`: exact OIDC issuer.
    #[serde(default)]
    pub issuer: Option<String>,
    /// `subject`: exact SAN.
    #[serde(default)]
    pub subject: Option<String>,
    /// `issuerRegExp`: unanchored RE2 over the issuer.
    #[serde(default)]
    pub issuer_reg_exp: Option<String>,
    /// `subjectRegExp`: unanchored RE2 over each SAN.
    #[serde(default)]
    pub subject_reg_exp: Option<String>,
}

/// `authorities[].static`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct StaticRef {
    /// `action`: `pass` or `fail`.
    pub action: StaticAction,
    /// `message`, reported on `fail`.
    #[serde(default)]
    pub message: Option<String>,
}

/// `static.action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StaticAction {
    /// Always satisfied.
    Pass,
    /// Never satisfied (`disallowed by static policy: <message>`).
    Fail,
}

/// `authorities[].source[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Source {
    /// `oci`: registry or repository holding the signatures.
    #[serde(default)]
    pub oci: Option<String>,
    /// `signaturePullSecrets`: read from the workload's namespace.
    #[serde(default)]
    pub signature_pull_secrets: Vec<LocalObjectReference>,
    /// `tagPrefix`.
    #[serde(default)]
    pub tag_prefix: Option<String>,
}

/// Core `LocalObjectReference`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// `name`.
    #[serde(default)]
    pub name: String,
}

/// `authorities[].ctlog`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TLog {
    /// `url` of Rekor.
    #[serde(default)]
    pub url: Option<String>,
    /// `trustRootRef`.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
}

/// `authorities[].rfc3161timestamp`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161Timestamp {
    /// `trustRootRef`.
    #[serde(default)]
    pub trust_root_ref: Option<String>,
}

/// `authorities[].attestations[]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    /// `name` (required).
    #[serde(default)]
    pub name: Option<String>,
    /// `predicateType` (required): a short name or a URI.
    #[serde(default)]
    pub predicate_type: Option<String>,
    /// `policy` over the attestation.
    #[serde(default)]
    pub policy: Option<PolicyBlock>,
}

/// `spec.policy` and `attestations[].policy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyBlock {
    /// `type`: `cue` or `rego` (required).
    #[serde(default, rename = "type")]
    pub policy_type: Option<String>,
    /// `data`: inline policy.
    #[serde(default)]
    pub data: Option<String>,
    /// `configMapRef`.
    #[serde(default)]
    pub config_map_ref: Option<ConfigMapReference>,
    /// `remote`.
    #[serde(default)]
    pub remote: Option<RemotePolicy>,
    /// `fetchConfigFile` (only in `spec.policy`).
    #[serde(default)]
    pub fetch_config_file: Option<bool>,
    /// `includeSpec` (only in `spec.policy`).
    #[serde(default)]
    pub include_spec: Option<bool>,
    /// `includeObjectMeta` (only in `spec.policy`).
    #[serde(default)]
    pub include_object_meta: Option<bool>,
    /// `includeTypeMeta` (only in `spec.policy`).
    #[serde(default)]
    pub include_type_meta: Option<bool>,
}

/// `policy.configMapRef`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct ConfigMapReference {
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `namespace`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// `key`.
    #[serde(default)]
    pub key: Option<String>,
}

/// `policy.remote`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct RemotePolicy {
    /// `url` (https).
    #[serde(default)]
    pub url: Option<String>,
    /// `sha256sum`.
    #[serde(default)]
    pub sha256sum: Option<String>,
}

/// `spec.match[]`: a group/version/resource with an optional label selector.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct MatchResource {
    /// `group`.
    #[serde(default)]
    pub group: Option<String>,
    /// `version` (`*` allowed).
    #[serde(default)]
    pub version: Option<String>,
    /// `resource`: one of [`MATCH_RESOURCES`](crate::MATCH_RESOURCES).
    #[serde(default)]
    #[schemars(
        description = "`resource`: one of replicasets, deployments, pods, cronjobs, jobs, statefulsets, daemonsets."
    )]
    pub resource: Option<String>,
    /// `selector`.
    #[serde(default)]
    pub selector: Option<LabelSelector>,
}

/// Core `LabelSelector`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// `matchLabels`.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// `matchExpressions`.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// Core `LabelSelectorRequirement`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
pub struct LabelSelectorRequirement {
    /// `key`.
    pub key: String,
    /// `operator`: `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// `values`.
    #[serde(default)]
    pub values: Vec<String>,
}

/// How one identity field is matched (cosign `pkg/cosign/verify.go`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    /// Byte-for-byte equality.
    Exact(String),
    /// Unanchored regular expression (Go `regexp.MatchString`).
    Regex(String),
}

impl StringMatch {
    /// Whether `value` satisfies this matcher; a regex that does not compile matches nothing.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex(re) => Regex::new(re).is_ok_and(|re| re.is_match(value)),
        }
    }
}

/// One keyless identity: the certificate's issuer and one of its SANs must both match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeylessIdentity {
    /// OIDC issuer constraint.
    pub issuer: StringMatch,
    /// SAN constraint.
    pub subject: StringMatch,
}

/// Where a key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Inline PEM `PUBLIC KEY`.
    Pem(String),
    /// A KMS URI.
    Kms(String),
    /// A Secret (first key) in the controller's namespace.
    Secret {
        /// Secret name.
        name: String,
        /// Namespace as written (empty or the controller's).
        namespace: Option<String>,
    },
}

/// Hash used with a `key` authority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HashAlgorithm {
    /// SHA-224.
    Sha224,
    /// SHA-256 (the default).
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgorithm {
    /// Parses the case-insensitive `hashAlgorithm` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha224" => Some(Self::Sha224),
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

/// What an authority requires of an image, independent of how it is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityRequirement {
    /// A signature verifying under a public key.
    Key {
        /// The key.
        source: KeySource,
        /// Its hash algorithm.
        hash_algorithm: HashAlgorithm,
    },
    /// A Fulcio-certificate signature whose certificate matches any of `identities`.
    Keyless {
        /// Fulcio URL ([`DEFAULT_FULCIO_URL`] when neither it nor `ca_cert` is set).
        fulcio_url: Option<String>,
        /// `ca-cert` chain source (`Pem` holds certificates here).
        ca_cert: Option<KeySource>,
        /// `trustRootRef`.
        trust_root_ref: Option<String>,
        /// Any one must match (OR).
        identities: Vec<KeylessIdentity>,
        /// `insecureIgnoreSCT`.
        insecure_ignore_sct: bool,
    },
    /// No verification.
    Static {
        /// `action: pass`.
        pass: bool,
        /// `message` (reported on fail).
        message: Option<String>,
    },
}

/// One authority's requirement with its name and transparency settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRequirement {
    /// The authority name (`authority-<index>` by default).
    pub name: String,
    /// What it requires.
    pub requirement: AuthorityRequirement,
    /// `ctlog.url`, if set.
    pub rekor_url: Option<String>,
    /// `rfc3161timestamp` is set: signed timestamps, tlog disabled.
    pub signed_timestamps: bool,
    /// It verifies attestations (whose policies this crate does not evaluate), not signatures.
    pub attestations: bool,
}

fn key_source(key: &KeyRef) -> Option<KeySource> {
    match (&key.data, &key.kms, &key.secret_ref) {
        (Some(pem), None, None) => Some(KeySource::Pem(pem.clone())),
        (None, Some(kms), None) => Some(KeySource::Kms(kms.clone())),
        (None, None, Some(secret)) => Some(KeySource::Secret {
            name: secret.name.clone().unwrap_or_default(),
            namespace: secret.namespace.clone().filter(|ns| !ns.is_empty()),
        }),
        _ => None,
    }
}

fn one_of(exact: &Option<String>, regex: &Option<String>) -> Option<StringMatch> {
    match (exact, regex) {
        (Some(s), None) => Some(StringMatch::Exact(s.clone())),
        (None, Some(re)) => Some(StringMatch::Regex(re.clone())),
        _ => None,
    }
}

impl Authority {
    /// The requirement in pure form; `None` if the object is inconsistent (which
    /// [`SigstorePolicy::validate`](crate::SigstorePolicy::validate) reports).
    pub fn requirement(&self) -> Option<AuthorityRequirement> {
        match (&self.key, &self.keyless, &self.static_) {
            (Some(key), None, None) => Some(AuthorityRequirement::Key {
                source: key_source(key)?,
                hash_algorithm: match &key.hash_algorithm {
                    None => HashAlgorithm::default(),
                    Some(h) if h.is_empty() => HashAlgorithm::default(),
                    Some(h) => HashAlgorithm::parse(h)?,
                },
            }),
            (None, Some(k), None) => {
                let identities = k
                    .identities
                    .iter()
                    .map(|i| {
                        Some(KeylessIdentity {
                            issuer: one_of(&i.issuer, &i.issuer_reg_exp)?,
                            subject: one_of(&i.subject, &i.subject_reg_exp)?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                let ca_cert = k.ca_cert.as_ref().map(key_source);
                let ca_cert = match ca_cert {
                    Some(None) => return None,
                    Some(Some(c)) => Some(c),
                    None => None,
                };
                let fulcio_url = match (&k.url, &ca_cert) {
                    (Some(url), _) => Some(url.clone()),
                    (None, None) => Some(DEFAULT_FULCIO_URL.to_owned()),
                    (None, Some(_)) => None,
                };
                Some(AuthorityRequirement::Keyless {
                    fulcio_url,
                    ca_cert,
                    trust_root_ref: k.trust_root_ref.clone(),
                    identities,
                    insecure_ignore_sct: k.insecure_ignore_sct.unwrap_or(false),
                })
            }
            (None, None, Some(s)) => Some(AuthorityRequirement::Static {
                pass: s.action == StaticAction::Pass,
                message: s.message.clone(),
            }),
            _ => None,
        }
    }
}

impl SigstorePolicy {
    /// The name of authority `index`: its `name`, or the webhook default `authority-<index>`.
    pub fn authority_name(&self, index: usize) -> String {
        self.spec
            .authorities
            .get(index)
            .and_then(|a| a.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("authority-{index}"))
    }

    /// Every authority's requirement, in order (any one passing satisfies the policy: OR);
    /// `None` if an authority is inconsistent (which [`SigstorePolicy::validate`] reports).
    pub fn requirements(&self) -> Option<Vec<NamedRequirement>> {
        self.spec
            .authorities
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Some(NamedRequirement {
                    name: self.authority_name(i),
                    requirement: a.requirement()?,
                    rekor_url: a.ctlog.as_ref().and_then(|c| c.url.clone()),
                    signed_timestamps: a.rfc3161timestamp.is_some(),
                    attestations: !a.attestations.is_empty(),
                })
            })
            .collect()
    }
}
