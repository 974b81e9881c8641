//! policy-controller's webhook validation of a sigstore `ClusterImagePolicy`
//! (`clusterimagepolicy_validation.go`, research doc §2.2): every violation is reported.

use regex::Regex;

use crate::error::{PolicyError, SigstoreRule};
use crate::glob::glob_is_valid;
use crate::model::PolicyRef;
use crate::sigstore::{HashAlgorithm, KeyRef, PolicyBlock, SigstorePolicy};
use crate::validate::is_url;

/// `spec.match[].resource` values policy-controller accepts.
pub const MATCH_RESOURCES: [&str; 7] = [
    "replicasets",
    "deployments",
    "pods",
    "cronjobs",
    "jobs",
    "statefulsets",
    "daemonsets",
];

/// Attestation `predicateType` short names (accepted with a warning upstream).
pub const PREDICATE_SHORT_NAMES: [&str; 7] = [
    "custom",
    "slsaprovenance",
    "spdx",
    "spdxjson",
    "cyclonedx",
    "link",
    "vuln",
];

/// Supported `kms` URI schemes.
pub const KMS_SCHEMES: [&str; 4] = ["awskms://", "azurekms://", "hashivault://", "gcpkms://"];

struct Checker<'p> {
    policy: &'p PolicyRef,
    errors: Vec<PolicyError>,
}

impl Checker<'_> {
    fn required(&mut self, field: String) {
        self.errors.push(PolicyError::Required {
            policy: self.policy.clone(),
            field,
        });
    }

    fn invalid(&mut self, field: String, value: &str, rule: SigstoreRule) {
        self.errors.push(PolicyError::InvalidSigstoreValue {
            policy: self.policy.clone(),
            field,
            value: value.to_owned(),
            rule,
        });
    }

    /// Exactly one of `members` (paired with whether each is set).
    fn one_of(&mut self, field: &str, members: &'static [&'static str], set: &[bool]) {
        let present: Vec<&'static str> = members
            .iter()
            .zip(set)
            .filter(|(_, s)| **s)
            .map(|(m, _)| *m)
            .collect();
        match present.len() {
            0 => self.errors.push(PolicyError::MissingOneOf {
                policy: self.policy.clone(),
                field: field.to_owned(),
                members,
            }),
            1 => {}
            _ => self.errors.push(PolicyError::MultipleOneOf {
                policy: self.policy.clone(),
                field: field.to_owned(),
                present,
            }),
        }
    }

    /// A `KeyRef`; `label` is the PEM label `data` must carry.
    fn key_ref(&mut self, field: &str, key: &KeyRef, labels: &[&str]) {
        self.one_of(
            field,
            &["data", "kms", "secretRef"],
            &[
                key.data.is_some(),
                key.kms.is_some(),
                key.secret_ref.is_some(),
            ],
        );
        if let Some(data) = &key.data {
            let ok = pem::parse_many(data.as_bytes()).is_ok_and(|blocks| {
                !blocks.is_empty() && blocks.iter().all(|b| labels.contains(&b.tag()))
            });
            if !ok {
                self.invalid(format!("{field}.data"), data, SigstoreRule::Pem);
            }
        }
        if let Some(kms) = &key.kms {
            if !KMS_SCHEMES.iter().any(|s| kms.starts_with(s)) {
                self.invalid(format!("{field}.kms"), kms, SigstoreRule::KmsScheme);
            }
        }
        if let Some(secret) = &key.secret_ref {
            if secret.name.as_deref().unwrap_or("").is_empty() {
                self.invalid(
                    format!("{field}.secretRef.name"),
                    "",
                    SigstoreRule::SecretName,
                );
            }
        }
        if let Some(h) = &key.hash_algorithm {
            if !h.is_empty() && HashAlgorithm::parse(h).is_none() {
                self.invalid(
                    format!("{field}.hashAlgorithm"),
                    h,
                    SigstoreRule::HashAlgorithm,
                );
            }
        }
    }

    fn url(&mut self, field: String, value: &str, https_only: bool) {
        if !is_url(value)
            || !value.contains("://")
            || (https_only && !value.starts_with("https://"))
        {
            self.invalid(field, value, SigstoreRule::Url);
        }
    }

    fn regex(&mut self, field: String, value: &str) {
        if Regex::new(value).is_err() {
            self.invalid(field, value, SigstoreRule::Regex);
        }
    }

    fn policy_block(&mut self, field: &str, block: &PolicyBlock, spec_level: bool) {
        match block.policy_type.as_deref() {
            None | Some("") => self.required(format!("{field}.type")),
            Some("cue" | "rego") => {}
            Some(other) => self.invalid(format!("{field}.type"), other, SigstoreRule::PolicyType),
        }
        self.one_of(
            field,
            &["data", "configMapRef", "remote"],
            &[
                block.data.is_some(),
                block.config_map_ref.is_some(),
                block.remote.is_some(),
            ],
        );
        if let Some(remote) = &block.remote {
            match remote.url.as_deref() {
                None | Some("") => self.required(format!("{field}.remote.url")),
                Some(url) => self.url(format!("{field}.remote.url"), url, true),
            }
        }
        if !spec_level {
            let flags = [
                ("fetchConfigFile", block.fetch_config_file),
                ("includeSpec", block.include_spec),
                ("includeObjectMeta", block.include_object_meta),
                ("includeTypeMeta", block.include_type_meta),
            ];
            for (name, value) in flags {
                if let Some(v) = value {
                    self.invalid(
                        format!("{field}.{name}"),
                        &v.to_string(),
                        SigstoreRule::IncludeOutsideSpecPolicy,
                    );
                }
            }
        }
    }
}

impl SigstorePolicy {
    /// Every rule of the policy-controller webhook this object breaks, each naming the policy
    /// and the field path; empty when the webhook would accept it. `spec.authorities` is
    /// required (policy-controller's default `fail-on-empty-authorities: "true"`).
    pub fn validate(&self) -> Vec<PolicyError> {
        let mut c = Checker {
            policy: &self.id,
            errors: Vec::new(),
        };
        if self.id.name.is_empty() {
            c.required("metadata.name".to_owned());
        }
        let spec = &self.spec;
        if spec.images.is_empty() {
            c.required("spec.images".to_owned());
        }
        for (i, image) in spec.images.iter().enumerate() {
            if !glob_is_valid(&image.glob) {
                c.invalid(
                    format!("spec.images[{i}].glob"),
                    &image.glob,
                    SigstoreRule::Glob,
                );
            }
        }
        if spec.authorities.is_empty() {
            c.required("spec.authorities".to_owned());
        }
        for (i, a) in spec.authorities.iter().enumerate() {
            let f = format!("spec.authorities[{i}]");
            c.one_of(
                &f,
                &["key", "keyless", "static"],
                &[a.key.is_some(), a.keyless.is_some(), a.static_.is_some()],
            );
            if let Some(key) = &a.key {
                c.key_ref(&format!("{f}.key"), key, &["PUBLIC KEY", "RSA PUBLIC KEY"]);
            }
            if let Some(k) = &a.keyless {
                let kf = format!("{f}.keyless");
                if k.url.is_some() && k.ca_cert.is_some() {
                    c.errors.push(PolicyError::MultipleOneOf {
                        policy: self.id.clone(),
                        field: kf.clone(),
                        present: vec!["url", "ca-cert"],
                    });
                }
                if let Some(url) = &k.url {
                    c.url(format!("{kf}.url"), url, false);
                }
                if let Some(ca) = &k.ca_cert {
                    c.key_ref(&format!("{kf}.ca-cert"), ca, &["CERTIFICATE"]);
                }
                if k.identities.is_empty() {
                    c.required(format!("{kf}.identities"));
                }
                for (j, id) in k.identities.iter().enumerate() {
                    let idf = format!("{kf}.identities[{j}]");
                    c.one_of(
                        &idf,
                        &["issuer", "issuerRegExp"],
                        &[id.issuer.is_some(), id.issuer_reg_exp.is_some()],
                    );
                    c.one_of(
                        &idf,
                        &["subject", "subjectRegExp"],
                        &[id.subject.is_some(), id.subject_reg_exp.is_some()],
                    );
                    if let Some(re) = &id.issuer_reg_exp {
                        c.regex(format!("{idf}.issuerRegExp"), re);
                    }
                    if let Some(re) = &id.subject_reg_exp {
                        c.regex(format!("{idf}.subjectRegExp"), re);
                    }
                }
            }
            if a.static_.is_some() {
                let others = [
                    ("attestations", !a.attestations.is_empty()),
                    ("source", !a.source.is_empty()),
                    ("ctlog", a.ctlog.is_some()),
                    ("rfc3161timestamp", a.rfc3161timestamp.is_some()),
                ];
                for (name, set) in others {
                    if set {
                        c.errors.push(PolicyError::MultipleOneOf {
                            policy: self.id.clone(),
                            field: f.clone(),
                            present: vec!["static", name],
                        });
                    }
                }
            }
            if a.source.len() > 1 {
                c.errors.push(PolicyError::TooMany {
                    policy: self.id.clone(),
                    field: format!("{f}.source"),
                    max: 1,
                    actual: a.source.len(),
                });
            }
            for (j, s) in a.source.iter().enumerate() {
                for (k, secret) in s.signature_pull_secrets.iter().enumerate() {
                    if secret.name.is_empty() {
                        c.required(format!("{f}.source[{j}].signaturePullSecrets[{k}].name"));
                    }
                }
            }
            if let Some(url) = a.ctlog.as_ref().and_then(|t| t.url.as_deref()) {
                c.url(format!("{f}.ctlog.url"), url, false);
            }
            for (j, att) in a.attestations.iter().enumerate() {
                let af = format!("{f}.attestations[{j}]");
                if att.name.as_deref().unwrap_or("").is_empty() {
                    c.required(format!("{af}.name"));
                }
                match att.predicate_type.as_deref() {
                    None | Some("") => c.required(format!("{af}.predicateType")),
                    Some(p) if PREDICATE_SHORT_NAMES.contains(&p) => {}
                    Some(p) if is_url(p) && p.contains(':') => {}
                    Some(p) => c.invalid(
                        format!("{af}.predicateType"),
                        p,
                        SigstoreRule::PredicateType,
                    ),
                }
                if let Some(block) = &att.policy {
                    c.policy_block(&format!("{af}.policy"), block, false);
                }
            }
            match a.signature_format.as_deref() {
                None | Some("" | "legacy") => {}
                Some("bundle") => {
                    if a.keyless.is_none() {
                        c.invalid(
                            format!("{f}.signatureFormat"),
                            "bundle",
                            SigstoreRule::BundleRequiresKeyless,
                        );
                    }
                }
                Some(other) => c.invalid(
                    format!("{f}.signatureFormat"),
                    other,
                    SigstoreRule::SignatureFormat,
                ),
            }
        }
        if let Some(block) = &spec.policy {
            c.policy_block("spec.policy", block, true);
        }
        for (i, m) in spec.match_resources.iter().enumerate() {
            let mf = format!("spec.match[{i}]");
            if let Some(r) = m.resource.as_deref().filter(|r| !r.is_empty()) {
                if !MATCH_RESOURCES.contains(&r) {
                    c.invalid(format!("{mf}.resource"), r, SigstoreRule::MatchResource);
                }
            }
            let gvr_empty = [&m.group, &m.version, &m.resource]
                .iter()
                .all(|v| v.as_deref().unwrap_or("").is_empty());
            if m.selector.is_some() && gvr_empty {
                c.invalid(
                    format!("{mf}.selector"),
                    "",
                    SigstoreRule::SelectorWithoutResource,
                );
            }
        }
        c.errors.extend(self.annotation_violations());
        c.errors
    }
}
