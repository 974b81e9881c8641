//! sigward's additions to both policy APIs, all off unless an annotation turns them on. They
//! live in `metadata.annotations` because the apiserver prunes unknown `spec` fields of the
//! OpenShift and sigstore CRDs, and annotations survive on every cluster.
//!
//! - [`MODE_ANNOTATION`]: `enforce` (default), `warn` (failures become admission warnings) or
//!   `audit` (failures become audit annotations only). On a sigstore policy it overrides
//!   `spec.mode`.
//! - [`ADDITIONAL_ANNOTATION`] on a namespaced `ImagePolicy`: `"true"` makes its requirements
//!   apply *in addition to* a cluster policy covering the same images, instead of being dropped
//!   as a conflicting scope. The cluster floor still applies, so a namespace can only add trust
//!   requirements, never weaken them.
//! - [`SUBJECT_URI_ANNOTATION`] / [`SUBJECT_REGEXP_ANNOTATION`] on a `FulcioCAWithRekor` policy:
//!   accept a certificate whose SAN is this URI (e.g. a CI workflow identity), or matches this
//!   regular expression, instead of `fulcioSubject.signedEmail`.

use crate::error::PolicyError;
use crate::model::{Policy, PolicyKind, PolicyType};
use crate::sigstore::{PolicyMode, SigstorePolicy};

/// How failures of a policy are reported.
pub const MODE_ANNOTATION: &str = "sigward.dev/mode";
/// An `ImagePolicy` that adds to the cluster policies instead of conflicting with them.
pub const ADDITIONAL_ANNOTATION: &str = "sigward.dev/additional";
/// A keyless identity given as a certificate URI SAN.
pub const SUBJECT_URI_ANNOTATION: &str = "sigward.dev/fulcio-subject-uri";
/// A keyless identity given as a regular expression over the certificate SAN.
pub const SUBJECT_REGEXP_ANNOTATION: &str = "sigward.dev/fulcio-subject-regexp";

/// What a failure of a policy does to the admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EnforcementMode {
    /// The request is denied.
    #[default]
    Enforce,
    /// The request is admitted with a warning shown to the client.
    Warn,
    /// The request is admitted; the failure is recorded as an audit annotation only.
    Audit,
}

impl std::fmt::Display for EnforcementMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Enforce => "enforce",
            Self::Warn => "warn",
            Self::Audit => "audit",
        })
    }
}

/// A keyless identity required in place of `signedEmail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectOverride {
    /// The SAN must equal this URI.
    Uri(String),
    /// The SAN must match this regular expression (anchored by the caller's matcher).
    Regexp(String),
}

fn parse_mode(value: &str) -> Option<EnforcementMode> {
    match value {
        "enforce" => Some(EnforcementMode::Enforce),
        "warn" => Some(EnforcementMode::Warn),
        "audit" => Some(EnforcementMode::Audit),
        _ => None,
    }
}

impl Policy {
    /// The mode set by [`MODE_ANNOTATION`], `enforce` without it (or with a bad value, which
    /// [`Policy::validate`] reports: failing closed).
    pub fn enforcement_mode(&self) -> EnforcementMode {
        self.annotations
            .get(MODE_ANNOTATION)
            .and_then(|v| parse_mode(v))
            .unwrap_or_default()
    }

    /// Whether this `ImagePolicy` adds to cluster policies ([`ADDITIONAL_ANNOTATION`]).
    pub fn is_additional(&self) -> bool {
        self.id.kind == PolicyKind::ImagePolicy
            && self
                .annotations
                .get(ADDITIONAL_ANNOTATION)
                .map(String::as_str)
                == Some("true")
    }

    /// The keyless identity set by [`SUBJECT_URI_ANNOTATION`] or [`SUBJECT_REGEXP_ANNOTATION`].
    pub fn subject_override(&self) -> Option<SubjectOverride> {
        if let Some(uri) = self.annotations.get(SUBJECT_URI_ANNOTATION) {
            return Some(SubjectOverride::Uri(uri.clone()));
        }
        self.annotations
            .get(SUBJECT_REGEXP_ANNOTATION)
            .map(|re| SubjectOverride::Regexp(re.clone()))
    }

    pub(crate) fn annotation_violations(&self) -> Vec<PolicyError> {
        let mut out = Vec::new();
        let bad = |annotation: &'static str, value: &str, reason: &'static str| {
            PolicyError::InvalidAnnotation {
                policy: self.id.clone(),
                annotation,
                value: value.to_owned(),
                reason,
            }
        };
        if let Some(v) = self.annotations.get(MODE_ANNOTATION) {
            if parse_mode(v).is_none() {
                out.push(bad(MODE_ANNOTATION, v, "one of enforce, warn, audit"));
            }
        }
        if let Some(v) = self.annotations.get(ADDITIONAL_ANNOTATION) {
            if self.id.kind != PolicyKind::ImagePolicy {
                out.push(bad(
                    ADDITIONAL_ANNOTATION,
                    v,
                    "only on a namespaced ImagePolicy",
                ));
            } else if v != "true" && v != "false" {
                out.push(bad(ADDITIONAL_ANNOTATION, v, "\"true\" or \"false\""));
            }
        }
        let uri = self.annotations.get(SUBJECT_URI_ANNOTATION);
        let regexp = self.annotations.get(SUBJECT_REGEXP_ANNOTATION);
        for (key, value) in [
            (SUBJECT_URI_ANNOTATION, uri),
            (SUBJECT_REGEXP_ANNOTATION, regexp),
        ] {
            let Some(value) = value else { continue };
            if self.spec.policy.root_of_trust.policy_type != PolicyType::FulcioCaWithRekor {
                out.push(bad(key, value, "only with rootOfTrust FulcioCAWithRekor"));
            }
        }
        if let (Some(_), Some(v)) = (uri, regexp) {
            out.push(bad(
                SUBJECT_REGEXP_ANNOTATION,
                v,
                "set either the URI or the regexp annotation, not both",
            ));
        }
        if let Some(v) = regexp {
            if regex::Regex::new(v).is_err() {
                out.push(bad(
                    SUBJECT_REGEXP_ANNOTATION,
                    v,
                    "not a valid regular expression",
                ));
            }
        }
        out
    }
}

impl SigstorePolicy {
    /// `spec.mode`, overridden by [`MODE_ANNOTATION`] (the only way to get `audit`).
    pub fn enforcement_mode(&self) -> EnforcementMode {
        if let Some(mode) = self
            .annotations
            .get(MODE_ANNOTATION)
            .and_then(|v| parse_mode(v))
        {
            return mode;
        }
        match self.spec.mode {
            PolicyMode::Enforce => EnforcementMode::Enforce,
            PolicyMode::Warn => EnforcementMode::Warn,
        }
    }

    pub(crate) fn annotation_violations(&self) -> Vec<PolicyError> {
        match self.annotations.get(MODE_ANNOTATION) {
            Some(v) if parse_mode(v).is_none() => vec![PolicyError::InvalidAnnotation {
                policy: self.id.clone(),
                annotation: MODE_ANNOTATION,
                value: v.clone(),
                reason: "one of enforce, warn, audit",
            }],
            _ => Vec::new(),
        }
    }
}
