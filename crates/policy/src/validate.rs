//! The CRD's OpenAPI and CEL rules (openshift/api `config/v1/types_image_policy.go`), checked
//! the way the apiserver would before an object is stored: every violation is reported.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{PemRule, PolicyError, PrefixRule, ScopeRule};
use crate::model::{EncodedBytes, IdentityMatchPolicy, Policy, PolicyKind, PolicyRef, PolicyType};

/// `spec.scopes` MaxItems.
pub const MAX_SCOPES: usize = 256;
/// `ImageScope` and `IdentityRepositoryPrefix` MaxLength.
pub const MAX_SCOPE_LEN: usize = 512;
/// MaxLength of every `[]byte` key/certificate field (base64 characters).
pub const MAX_KEY_DATA_LEN: usize = 8192;
/// `publicKey.keyData` MinLength.
pub const MIN_KEY_DATA_LEN: usize = 68;
/// `pki.caRootsData` / `caIntermediatesData` MinLength.
pub const MIN_CA_DATA_LEN: usize = 72;
/// `fulcioSubject.oidcIssuer` MaxLength.
pub const MAX_OIDC_ISSUER_LEN: usize = 2048;
/// MaxLength of email fields.
pub const MAX_EMAIL_LEN: usize = 320;
/// `pkiCertificateSubject.hostname` MaxLength.
pub const MAX_HOSTNAME_LEN: usize = 253;

// CEL `matches` is RE2, where `\w` is ASCII; Rust's is Unicode, so it is spelled out.
const DOMAIN_COMPONENT: &str = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const PATH: &str = r"(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?";

static WILDCARD_SCOPE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(&format!(r"^\*(?:\.{DOMAIN_COMPONENT})+$")).ok());
static SCOPE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^(((({DOMAIN_COMPONENT})(?:\.{DOMAIN_COMPONENT})+(?::[0-9]+)?)|(localhost(?::[0-9]+)?)){PATH})(?::([0-9A-Za-z_][0-9A-Za-z_.-]{{0,127}}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{{32,}}))?$"
    ))
    .ok()
});
static PREFIX_TAG: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^.*:([0-9A-Za-z_][0-9A-Za-z_.-]{0,127})$").ok());
static PREFIX_LOCALHOST_PORT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^(localhost:[0-9]+)$").ok());
static PREFIX: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^((({DOMAIN_COMPONENT})(?:\.{DOMAIN_COMPONENT})+(?::[0-9]+)?)|(localhost(?::[0-9]+)?)){PATH}$"
    ))
    .ok()
});
// RE2's `\S` is "not [\t\n\f\r ]".
static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^[^\t\n\f\r ]+@[^\t\n\f\r ]+$").ok());
static DNS1123_SUBDOMAIN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$").ok()
});

/// A pattern that failed to compile matches nothing, so validation fails closed.
fn is_match(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(s))
}

/// The `ImageScope` CEL rules broken by `scope` (empty when it is valid).
pub fn scope_violations(scope: &str) -> Vec<ScopeRule> {
    let mut broken = Vec::new();
    let host = scope.split('/').next().unwrap_or("");
    if !host.contains('.') && host.split(':').next().unwrap_or("") != "localhost" {
        broken.push(ScopeRule::NotFullyQualified);
    }
    if scope.contains('*') {
        if !is_match(&WILDCARD_SCOPE, scope) {
            broken.push(ScopeRule::InvalidWildcard);
        }
    } else if !is_match(&SCOPE, scope) {
        broken.push(ScopeRule::InvalidFormat);
    }
    broken
}

/// The `IdentityRepositoryPrefix` CEL rules broken by `value`.
pub fn prefix_violations(value: &str) -> Vec<PrefixRule> {
    let mut broken = Vec::new();
    if is_match(&PREFIX_TAG, value) && !is_match(&PREFIX_LOCALHOST_PORT, value) {
        broken.push(PrefixRule::HasTag);
    }
    if !is_match(&PREFIX, value) {
        broken.push(PrefixRule::InvalidFormat);
    }
    broken
}

/// CEL `isURL`, i.e. Go's `url.ParseRequestURI` succeeding: an absolute path, or a scheme
/// followed by `:`; no ASCII control characters; a numeric port in an authority.
pub fn is_url(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_ascii_control()) {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let mut chars = scheme.chars();
    let scheme_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return false;
    }
    let Some(after) = rest.strip_prefix("//") else {
        return true;
    };
    let authority = after.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let port = if let Some(bracketed) = host_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((_, "")) => None,
            Some((_, tail)) => match tail.strip_prefix(':') {
                Some(port) => Some(port),
                None => return false,
            },
            None => return false,
        }
    } else {
        host_port.rsplit_once(':').map(|(_, p)| p)
    };
    port.is_none_or(|p| p.chars().all(|c| c.is_ascii_digit()))
}

struct Checker<'p> {
    policy: &'p PolicyRef,
    errors: Vec<PolicyError>,
}

impl Checker<'_> {
    fn length(&mut self, field: &str, len: usize, min: usize, max: usize) {
        if len > max {
            self.errors.push(PolicyError::TooLong {
                policy: self.policy.clone(),
                field: field.to_owned(),
                max,
                actual: len,
            });
        }
        if len < min {
            self.errors.push(PolicyError::TooShort {
                policy: self.policy.clone(),
                field: field.to_owned(),
                min,
                actual: len,
            });
        }
    }

    fn required(&mut self, field: &str) {
        self.errors.push(PolicyError::Required {
            policy: self.policy.clone(),
            field: field.to_owned(),
        });
    }

    fn forbidden(&mut self, field: &str, discriminator: &'static str, value: String) {
        self.errors.push(PolicyError::Forbidden {
            policy: self.policy.clone(),
            field: field.to_owned(),
            discriminator,
            value,
        });
    }

    /// A `[]byte` field holding PEM `label` blocks: lengths, base64, the CEL marker rules,
    /// and (beyond the CRD) that the PEM actually parses, since we will need the keys.
    fn pem(
        &mut self,
        field: &str,
        data: &EncodedBytes,
        min: usize,
        label: &'static str,
        bundle: bool,
    ) {
        self.length(field, data.encoded_len(), min, MAX_KEY_DATA_LEN);
        let Ok(bytes) = data.decode() else {
            self.errors.push(PolicyError::InvalidBase64 {
                policy: self.policy.clone(),
                field: field.to_owned(),
            });
            return;
        };
        // CEL `string(bytes)` fails on invalid UTF-8, which fails the rule.
        let text = String::from_utf8(bytes).unwrap_or_default();
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        let mut broken = Vec::new();
        if !text.starts_with(&begin) {
            broken.push(PemRule::MissingBegin);
        }
        if !(text.ends_with(&end) || text.ends_with(&format!("{end}\n"))) {
            broken.push(PemRule::MissingEnd);
        }
        if bundle && text.matches(&begin).count() != text.matches(&end).count() {
            broken.push(PemRule::UnbalancedMarkers);
        }
        if broken.is_empty() {
            let parsed = pem::parse_many(text.as_bytes());
            let ok = parsed.is_ok_and(|blocks| {
                !blocks.is_empty()
                    && (bundle || blocks.len() == 1)
                    && blocks.iter().all(|b| b.tag() == label)
            });
            if !ok {
                broken.push(PemRule::Undecodable);
            }
        }
        for rule in broken {
            self.errors.push(PolicyError::InvalidPem {
                policy: self.policy.clone(),
                field: field.to_owned(),
                label,
                rule,
            });
        }
    }

    fn email(&mut self, field: &str, value: &str) {
        self.length(field, value.chars().count(), 0, MAX_EMAIL_LEN);
        if !is_match(&EMAIL, value) {
            self.errors.push(PolicyError::InvalidEmail {
                policy: self.policy.clone(),
                field: field.to_owned(),
                value: value.to_owned(),
            });
        }
    }

    fn identity_prefix(&mut self, field: &str, value: &str) {
        self.length(field, value.chars().count(), 0, MAX_SCOPE_LEN);
        for rule in prefix_violations(value) {
            self.errors.push(PolicyError::InvalidIdentityPrefix {
                policy: self.policy.clone(),
                field: field.to_owned(),
                value: value.to_owned(),
                rule,
            });
        }
    }
}

impl Policy {
    /// Every rule of the CRD this object breaks, each naming the policy and the field path;
    /// empty when the apiserver would accept it.
    pub fn validate(&self) -> Vec<PolicyError> {
        let mut c = Checker {
            policy: &self.id,
            errors: Vec::new(),
        };
        if self.id.name.is_empty() {
            c.required("metadata.name");
        }
        if self.id.kind == PolicyKind::ImagePolicy && self.id.namespace.is_none() {
            c.required("metadata.namespace");
        }

        let scopes = &self.spec.scopes;
        if scopes.len() > MAX_SCOPES {
            c.errors.push(PolicyError::TooMany {
                policy: self.id.clone(),
                field: "spec.scopes".to_owned(),
                max: MAX_SCOPES,
                actual: scopes.len(),
            });
        }
        let mut seen = HashSet::new();
        for (i, scope) in scopes.iter().enumerate() {
            let field = format!("spec.scopes[{i}]");
            c.length(&field, scope.chars().count(), 0, MAX_SCOPE_LEN);
            if !seen.insert(scope.as_str()) {
                c.errors.push(PolicyError::DuplicateScope {
                    policy: self.id.clone(),
                    field: field.clone(),
                    scope: scope.clone(),
                });
            }
            for rule in scope_violations(scope) {
                c.errors.push(PolicyError::InvalidScope {
                    policy: self.id.clone(),
                    field: field.clone(),
                    scope: scope.clone(),
                    rule,
                });
            }
        }

        let root = &self.spec.policy.root_of_trust;
        let base = "spec.policy.rootOfTrust";
        let ty = root.policy_type;
        let members = [
            (
                PolicyType::PublicKey,
                "publicKey",
                root.public_key.is_some(),
            ),
            (
                PolicyType::FulcioCaWithRekor,
                "fulcioCAWithRekor",
                root.fulcio_ca_with_rekor.is_some(),
            ),
            (PolicyType::Pki, "pki", root.pki.is_some()),
        ];
        for (member_type, member, present) in members {
            let field = format!("{base}.{member}");
            if member_type == ty && !present {
                c.required(&field);
            } else if member_type != ty && present {
                c.forbidden(&field, "policyType", ty.to_string());
            }
        }
        if let Some(key) = &root.public_key {
            let f = format!("{base}.publicKey");
            c.pem(
                &format!("{f}.keyData"),
                &key.key_data,
                MIN_KEY_DATA_LEN,
                "PUBLIC KEY",
                false,
            );
            if let Some(rekor) = &key.rekor_key_data {
                c.pem(&format!("{f}.rekorKeyData"), rekor, 0, "PUBLIC KEY", false);
            }
        }
        if let Some(fulcio) = &root.fulcio_ca_with_rekor {
            let f = format!("{base}.fulcioCAWithRekor");
            c.pem(
                &format!("{f}.fulcioCAData"),
                &fulcio.fulcio_ca_data,
                0,
                "CERTIFICATE",
                false,
            );
            c.pem(
                &format!("{f}.rekorKeyData"),
                &fulcio.rekor_key_data,
                0,
                "PUBLIC KEY",
                false,
            );
            let issuer_field = format!("{f}.fulcioSubject.oidcIssuer");
            let issuer = &fulcio.fulcio_subject.oidc_issuer;
            c.length(
                &issuer_field,
                issuer.chars().count(),
                0,
                MAX_OIDC_ISSUER_LEN,
            );
            if !is_url(issuer) {
                c.errors.push(PolicyError::InvalidUrl {
                    policy: self.id.clone(),
                    field: issuer_field,
                    value: issuer.clone(),
                });
            }
            c.email(
                &format!("{f}.fulcioSubject.signedEmail"),
                &fulcio.fulcio_subject.signed_email,
            );
        }
        if let Some(pki) = &root.pki {
            let f = format!("{base}.pki");
            c.pem(
                &format!("{f}.caRootsData"),
                &pki.ca_roots_data,
                MIN_CA_DATA_LEN,
                "CERTIFICATE",
                true,
            );
            if let Some(inter) = &pki.ca_intermediates_data {
                c.pem(
                    &format!("{f}.caIntermediatesData"),
                    inter,
                    MIN_CA_DATA_LEN,
                    "CERTIFICATE",
                    true,
                );
            }
            let subject = &pki.pki_certificate_subject;
            let sf = format!("{f}.pkiCertificateSubject");
            if subject.email.is_none() && subject.hostname.is_none() {
                c.required(&format!("{sf}.email"));
            }
            if let Some(email) = &subject.email {
                c.email(&format!("{sf}.email"), email);
            }
            if let Some(hostname) = &subject.hostname {
                let hf = format!("{sf}.hostname");
                c.length(&hf, hostname.chars().count(), 0, MAX_HOSTNAME_LEN);
                // format.dns1123Subdomain() also bounds the name at 253 characters.
                let bare = hostname.strip_prefix("*.").unwrap_or(hostname);
                if bare.len() > MAX_HOSTNAME_LEN || !is_match(&DNS1123_SUBDOMAIN, bare) {
                    c.errors.push(PolicyError::InvalidHostname {
                        policy: self.id.clone(),
                        field: hf,
                        value: hostname.clone(),
                    });
                }
            }
        }

        if let Some(identity) = &self.spec.policy.signed_identity {
            let f = "spec.policy.signedIdentity";
            let mp = identity.match_policy;
            let exact = format!("{f}.exactRepository");
            let remap = format!("{f}.remapIdentity");
            match (
                mp == IdentityMatchPolicy::ExactRepository,
                &identity.exact_repository,
            ) {
                (true, None) => c.required(&exact),
                (false, Some(_)) => c.forbidden(&exact, "matchPolicy", mp.to_string()),
                _ => {}
            }
            match (
                mp == IdentityMatchPolicy::RemapIdentity,
                &identity.remap_identity,
            ) {
                (true, None) => c.required(&remap),
                (false, Some(_)) => c.forbidden(&remap, "matchPolicy", mp.to_string()),
                _ => {}
            }
            if let Some(e) = &identity.exact_repository {
                c.identity_prefix(&format!("{exact}.repository"), &e.repository);
            }
            if let Some(r) = &identity.remap_identity {
                c.identity_prefix(&format!("{remap}.prefix"), &r.prefix);
                c.identity_prefix(&format!("{remap}.signedPrefix"), &r.signed_prefix);
            }
        }
        c.errors.extend(self.annotation_violations());
        c.errors
    }
}
