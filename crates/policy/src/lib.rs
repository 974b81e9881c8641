//! Image signature policy: the OpenShift `config.openshift.io/v1` `ClusterImagePolicy` and
//! `ImagePolicy` objects, and their pure evaluation. No HTTP, no Kubernetes client, no clock.
//!
//! Data flow: YAML text → [`parse_policies`] → [`Policy`] values → [`PolicySet::new`] (the CRD's
//! OpenAPI and CEL rules, [`Policy::validate`]) → [`PolicySet::select`] for a namespace and an
//! [`ImageReference`](sigward_oci::ImageReference) (most specific scope wins, same scope = AND,
//! namespace scopes inside cluster scopes dropped as conflicts) → for each required policy,
//! [`identity_matches`] on every verified signature's claimed `docker-reference`.
//!
//! sigstore policy-controller's `policy.sigstore.dev` `ClusterImagePolicy` is modelled beside
//! them with its own semantics: [`parse_sigstore_policies`] (or [`parse_any_policies`] for
//! files mixing both families, split with [`AnyPolicy::split`]) → [`SigstorePolicy`] →
//! [`SigstorePolicySet::new`] ([`SigstorePolicy::validate`]) →
//! [`SigstorePolicySet::matching_sigstore_policies`] (globs over the full reference; every
//! matching policy must pass, any authority of a policy suffices) →
//! [`SigstorePolicy::requirements`] for the verifier. [`parse_policies`] still accepts only
//! the OpenShift kinds.
//!
//! The semantics are those CRI-O enforces on OpenShift nodes: the Machine Config Operator's
//! rendering (`container_runtime_config_controller.go`) and containers/image's policy lookup
//! (`docker/policyconfiguration/naming.go`) and reference matching
//! (`signature/policy_reference_match.go`).
//!
//! [`crd`] generates the CustomResourceDefinitions of the three kinds from these types
//! (`sigward policy crds`, checked in under `deploy/crds/`).

pub mod crd;
mod error;
pub mod extensions;
mod glob;
mod identity;
mod model;
mod select;
mod sigstore;
mod sigstore_validate;
mod validate;

pub use crd::custom_resource_definitions;
pub use error::{PemRule, PolicyError, PrefixRule, ScopeRule, SigstoreRule};
pub use extensions::{EnforcementMode, SubjectOverride};
pub use glob::{compile_glob, ggcr_name, glob_is_valid, glob_matches, SigstorePolicySet};
pub use identity::identity_matches;
pub use model::{
    parse_any_policies, parse_policies, parse_sigstore_policies, AnyPolicy, EncodedBytes,
    FulcioCaWithRekor, IdentityMatchPolicy, ImagePolicySpec, ImageSigstoreVerificationPolicy, Pki,
    PkiCertificateSubject, Policy, PolicyFulcioSubject, PolicyIdentity, PolicyKind,
    PolicyMatchExactRepository, PolicyMatchRemapIdentity, PolicyRef, PolicyRootOfTrust, PolicyType,
    PublicKey, SignedIdentity, API_VERSION,
};
pub use select::{candidate_scopes, scope_is_nested_inside, PolicySet, ScopeConflict, Selection};
pub use sigstore::{
    Attestation, Authority, AuthorityRequirement, ConfigMapReference, HashAlgorithm, Identity,
    ImagePattern, KeyRef, KeySource, KeylessIdentity, KeylessRef, LabelSelector,
    LabelSelectorRequirement, LocalObjectReference, MatchResource, NamedRequirement, PolicyBlock,
    PolicyMode, RemotePolicy, Rfc3161Timestamp, SecretReference, SigstorePolicy,
    SigstorePolicySpec, Source, StaticAction, StaticRef, StringMatch, TLog, DEFAULT_FULCIO_URL,
    SIGSTORE_API_VERSIONS,
};
pub use sigstore_validate::{KMS_SCHEMES, MATCH_RESOURCES, PREDICATE_SHORT_NAMES};
pub use validate::{
    is_url, prefix_violations, scope_violations, MAX_EMAIL_LEN, MAX_HOSTNAME_LEN, MAX_KEY_DATA_LEN,
    MAX_OIDC_ISSUER_LEN, MAX_SCOPES, MAX_SCOPE_LEN, MIN_CA_DATA_LEN, MIN_KEY_DATA_LEN,
};

#[cfg(test)]
mod crd_tests;
#[cfg(test)]
mod sigstore_tests;
#[cfg(test)]
mod tests;
