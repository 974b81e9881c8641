//! Policies ready to enforce: the validated OpenShift and sigstore sets, and for each policy
//! its root of trust turned into [`VerifyOptions`] once, at load time (keys parsed, trusted
//! roots built). A set breaking the CRDs' rules is refused whole (the previous generation
//! stays in force). A valid policy sigward cannot check as written is never a silent pass: it
//! is in force and fails every image it covers ([`CompiledPolicies::unenforceable`]).

use std::collections::HashMap;
use std::sync::Arc;

use sigward_oci::ImageReference;
use sigward_policy::{
    AnyPolicy, AuthorityRequirement, EnforcementMode, HashAlgorithm, KeySource, Policy, PolicyRef,
    PolicySet, PolicyType, Selection, SignedIdentity, SigstorePolicy, SigstorePolicySet,
    StringMatch, SubjectOverride,
};
use sigward_verify::bundle::{Matcher, TrustMaterial};
use sigward_verify::pki::{PkiRoots, PkiSubject};
use sigward_verify::PublicKey;

use crate::{KeylessIdentity, VerifyOptions};

/// Why a set of policies was refused, or why one policy cannot be enforced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    /// The policy concerned, when one is.
    pub policy: Option<PolicyRef>,
    /// What is wrong, naming the policy.
    pub message: String,
}

impl LoadError {
    fn about(policy: &PolicyRef, message: &(impl std::fmt::Display + ?Sized)) -> Self {
        LoadError {
            policy: Some(policy.clone()),
            message: format!("{policy}: {message}"),
        }
    }

    fn invalid(e: sigward_policy::PolicyError) -> Self {
        LoadError {
            policy: e.policy().cloned(),
            message: e.to_string(),
        }
    }
}

/// How one policy is checked.
#[derive(Debug)]
pub(crate) enum PolicyCheck {
    /// An OpenShift policy: one root of trust, and the signed identity rule.
    OpenShift {
        options: Arc<VerifyOptions>,
        identity: SignedIdentity,
    },
    /// A sigstore policy: any authority passing suffices.
    Sigstore {
        authorities: Vec<(String, AuthorityCheck)>,
    },
    /// A valid policy sigward cannot check: it fails every image it covers, with this reason.
    Unenforceable(String),
}

/// One sigstore authority.
#[derive(Debug)]
pub(crate) enum AuthorityCheck {
    Verify(Arc<VerifyOptions>),
    Static { pass: bool, message: Option<String> },
}

/// A policy that applies to an image, with how to check it.
#[derive(Debug, Clone)]
pub struct Requirement {
    /// The policy object.
    pub policy: PolicyRef,
    /// What its failure does.
    pub mode: EnforcementMode,
    pub(crate) check: Arc<PolicyCheck>,
}

/// The policies applying to one image in one namespace.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// Every policy that must pass (AND).
    pub policies: Vec<Requirement>,
    /// The namespace's ImagePolicy scopes dropped because a cluster policy covers them, as
    /// OpenShift reports them (`ConflictScopes`).
    pub conflicts: Vec<String>,
}

/// One generation of compiled policies.
#[derive(Debug)]
pub struct CompiledPolicies {
    generation: u64,
    openshift: PolicySet,
    sigstore: SigstorePolicySet,
    checks: HashMap<PolicyRef, (EnforcementMode, Arc<PolicyCheck>)>,
    unenforceable: Vec<LoadError>,
}

impl CompiledPolicies {
    /// Validates and compiles `policies`. `trust` is the trusted root for sigstore policies
    /// (Rekor, Fulcio, CT logs, TSAs); OpenShift policies carry their own. A policy breaking
    /// the CRDs' rules refuses the whole set (its scopes cannot even be matched); one that is
    /// valid but that sigward cannot check is kept as [`CompiledPolicies::unenforceable`].
    pub fn compile(
        policies: Vec<AnyPolicy>,
        trust: Option<Arc<TrustMaterial>>,
        generation: u64,
    ) -> Result<Self, Vec<LoadError>> {
        let mut seen = std::collections::HashSet::new();
        let mut errors = Vec::new();
        let mut unenforceable = Vec::new();
        for p in &policies {
            if !seen.insert(p.id().clone()) {
                errors.push(LoadError::about(p.id(), "defined twice"));
            }
        }
        let (openshift, sigstore) = AnyPolicy::split(policies);
        let mut checks = HashMap::new();
        // The CRDs' rules first; only a valid policy is compiled (no error reported twice).
        for p in &openshift {
            let invalid = p.validate();
            if !invalid.is_empty() {
                errors.extend(invalid.into_iter().map(LoadError::invalid));
                continue;
            }
            let check = compile_openshift(p).unwrap_or_else(|message| {
                unenforceable.push(LoadError::about(&p.id, &message));
                PolicyCheck::Unenforceable(message)
            });
            checks.insert(p.id.clone(), (p.enforcement_mode(), Arc::new(check)));
        }
        for p in &sigstore {
            let invalid = p.validate();
            if !invalid.is_empty() {
                errors.extend(invalid.into_iter().map(LoadError::invalid));
                continue;
            }
            let check = compile_sigstore(p, trust.as_ref()).unwrap_or_else(|message| {
                unenforceable.push(LoadError::about(&p.id, &message));
                PolicyCheck::Unenforceable(message)
            });
            checks.insert(p.id.clone(), (p.enforcement_mode(), Arc::new(check)));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let openshift = PolicySet::new(openshift)
            .map_err(|es| errors.extend(es.into_iter().map(LoadError::invalid)))
            .ok();
        let sigstore = SigstorePolicySet::new(sigstore)
            .map_err(|es| errors.extend(es.into_iter().map(LoadError::invalid)))
            .ok();
        match (openshift, sigstore) {
            (Some(openshift), Some(sigstore)) if errors.is_empty() => Ok(CompiledPolicies {
                generation,
                openshift,
                sigstore,
                checks,
                unenforceable,
            }),
            _ => Err(errors),
        }
    }

    /// Valid policies sigward cannot check as written (an unsupported feature, a key that does
    /// not parse): each is in force and fails every image in its scope with this reason
    /// (failing closed, where refusing the whole generation would leave the old rules, or
    /// none, in force).
    pub fn unenforceable(&self) -> &[LoadError] {
        &self.unenforceable
    }

    /// Generation 0: no policy at all (what is in force before the first load).
    pub fn empty() -> Self {
        CompiledPolicies {
            generation: 0,
            openshift: PolicySet::default(),
            sigstore: SigstorePolicySet::default(),
            checks: HashMap::new(),
            unenforceable: Vec::new(),
        }
    }

    /// The generation number given at compile time (verdicts are cached per generation).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many policy objects this generation holds.
    pub fn len(&self) -> usize {
        self.checks.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Every policy that applies to `image` (as the node pulls it) in `namespace`: the most
    /// specific OpenShift scope (cluster, or the namespace's own), plus every sigstore policy
    /// whose glob matches.
    pub fn requirements(
        &self,
        namespace: &str,
        image: &ImageReference,
    ) -> Result<Requirements, sigward_policy::PolicyError> {
        let mut out = Requirements::default();
        let mut push = |id: &PolicyRef| {
            if let Some((mode, check)) = self.checks.get(id) {
                out.policies.push(Requirement {
                    policy: id.clone(),
                    mode: *mode,
                    check: check.clone(),
                });
            }
        };
        let conflicts = match self.openshift.select(namespace, image)? {
            Selection::Match {
                requirements,
                conflicts,
                ..
            } => {
                for p in requirements {
                    push(&p.id);
                }
                conflicts
            }
            Selection::NoMatch { conflicts } => conflicts,
        };
        for p in self.sigstore.matching_sigstore_policies(image) {
            push(&p.id);
        }
        out.conflicts = conflicts
            .iter()
            .map(|c| {
                format!(
                    "{} scope {:?} is ignored: {} already covers it with {:?}",
                    c.image_policy, c.scope, c.cluster_policy, c.cluster_scope
                )
            })
            .collect();
        Ok(out)
    }
}

fn decoded(field: &str, data: &sigward_policy::EncodedBytes) -> Result<Vec<u8>, String> {
    data.decode()
        .map_err(|e| format!("{field}: not base64: {e}"))
}

fn compile_openshift(p: &Policy) -> Result<PolicyCheck, String> {
    let root = &p.spec.policy.root_of_trust;
    let mut options = VerifyOptions::default();
    match root.policy_type {
        PolicyType::PublicKey => {
            let key = root
                .public_key
                .as_ref()
                .ok_or("rootOfTrust.publicKey is required")?;
            let pem = decoded("publicKey.keyData", &key.key_data)?;
            options.keys = parse_keys(&pem).map_err(|e| format!("publicKey.keyData: {e}"))?;
            if let Some(rekor) = &key.rekor_key_data {
                let rekor = decoded("publicKey.rekorKeyData", rekor)?;
                let trust = TrustMaterial::from_fulcio_and_rekor(None, &rekor)
                    .map_err(|e| format!("publicKey.rekorKeyData: {e}"))?;
                options.trust = Some(Arc::new(trust));
            }
        }
        PolicyType::FulcioCaWithRekor => {
            let f = root
                .fulcio_ca_with_rekor
                .as_ref()
                .ok_or("rootOfTrust.fulcioCAWithRekor is required")?;
            let ca = decoded("fulcioCAWithRekor.fulcioCAData", &f.fulcio_ca_data)?;
            let rekor = decoded("fulcioCAWithRekor.rekorKeyData", &f.rekor_key_data)?;
            let trust = TrustMaterial::from_fulcio_and_rekor(Some(&ca), &rekor)
                .map_err(|e| format!("fulcioCAWithRekor: {e}"))?;
            options.trust = Some(Arc::new(trust));
            let identity = match p.subject_override() {
                Some(SubjectOverride::Uri(uri)) => Matcher::Exact(uri),
                Some(SubjectOverride::Regexp(re)) => {
                    Matcher::regexp(&re).map_err(|e| format!("subject regexp: {e}"))?
                }
                None => Matcher::Exact(f.fulcio_subject.signed_email.clone()),
            };
            options.keyless.push(KeylessIdentity {
                identity,
                issuer: Matcher::Exact(f.fulcio_subject.oidc_issuer.clone()),
                claims: Vec::new(),
            });
        }
        PolicyType::Pki => {
            let pki = root.pki.as_ref().ok_or("rootOfTrust.pki is required")?;
            let roots = decoded("pki.caRootsData", &pki.ca_roots_data)?;
            let intermediates = match &pki.ca_intermediates_data {
                Some(i) => decoded("pki.caIntermediatesData", i)?,
                None => Vec::new(),
            };
            let roots = PkiRoots::from_pem(&roots, &intermediates).map_err(|e| e.to_string())?;
            let subject = &pki.pki_certificate_subject;
            let subject = match (&subject.email, &subject.hostname) {
                (Some(email), None) => PkiSubject::Email(email.clone()),
                (None, Some(host)) => PkiSubject::Hostname(host.clone()),
                (Some(_), Some(_)) => {
                    return Err(
                        "pki.pkiCertificateSubject: sigward enforces one of email or \
                                hostname, not both (set one)"
                            .into(),
                    )
                }
                (None, None) => {
                    return Err("pki.pkiCertificateSubject: email or hostname is required".into())
                }
            };
            options.pki = Some((Arc::new(roots), subject));
        }
    }
    let identity = p
        .signed_identity()
        .ok_or("signedIdentity is inconsistent with its matchPolicy")?;
    Ok(PolicyCheck::OpenShift {
        options: Arc::new(options),
        identity,
    })
}

fn parse_keys(pem_text: &[u8]) -> Result<Vec<PublicKey>, String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| e.to_string())?;
    if blocks.is_empty() {
        return Err("no PEM public key".into());
    }
    blocks
        .iter()
        .map(|b| PublicKey::from_pem(pem::encode(b).as_bytes()).map_err(|e| e.to_string()))
        .collect()
}

fn matcher(m: &StringMatch) -> Result<Matcher, String> {
    match m {
        StringMatch::Exact(s) => Ok(Matcher::Exact(s.clone())),
        StringMatch::Regex(re) => Matcher::regexp(re).map_err(|e| e.to_string()),
    }
}

fn compile_sigstore(
    p: &SigstorePolicy,
    trust: Option<&Arc<TrustMaterial>>,
) -> Result<PolicyCheck, String> {
    if p.spec.policy.is_some() {
        return Err("spec.policy (CUE/Rego) is not supported by sigward yet".into());
    }
    let requirements = p
        .requirements()
        .ok_or("an authority is inconsistent (see `sigward policy lint`)")?;
    let mut authorities = Vec::new();
    for r in requirements {
        let name = r.name.clone();
        if r.attestations {
            return Err(format!(
                "authority {name}: attestation requirements are not supported by sigward yet"
            ));
        }
        let check = match r.requirement {
            AuthorityRequirement::Static { pass, message } => {
                AuthorityCheck::Static { pass, message }
            }
            AuthorityRequirement::Key {
                source,
                hash_algorithm,
            } => {
                if hash_algorithm != HashAlgorithm::Sha256 {
                    return Err(format!(
                        "authority {name}: hashAlgorithm {hash_algorithm:?} is not supported \
                         (cosign signs image payloads with SHA-256)"
                    ));
                }
                let keys = match source {
                    KeySource::Pem(pem) => parse_keys(pem.as_bytes())
                        .map_err(|e| format!("authority {name}: key.data: {e}"))?,
                    KeySource::Kms(uri) => {
                        return Err(format!(
                            "authority {name}: KMS keys ({uri}) are not supported by sigward yet"
                        ))
                    }
                    KeySource::Secret { name: secret, .. } => {
                        return Err(format!(
                            "authority {name}: keys from Secrets ({secret}) are not supported \
                             yet: inline the key as key.data"
                        ))
                    }
                };
                AuthorityCheck::Verify(Arc::new(VerifyOptions {
                    keys,
                    trust: trust.cloned(),
                    ..VerifyOptions::default()
                }))
            }
            AuthorityRequirement::Keyless {
                ca_cert,
                trust_root_ref,
                identities,
                insecure_ignore_sct,
                ..
            } => {
                if ca_cert.is_some() || trust_root_ref.is_some() {
                    return Err(format!(
                        "authority {name}: keyless.ca-cert and trustRootRef are not supported \
                         yet: sigward verifies keyless signatures against --trusted-root"
                    ));
                }
                if insecure_ignore_sct {
                    return Err(format!(
                        "authority {name}: insecureIgnoreSCT is not supported"
                    ));
                }
                let Some(trust) = trust else {
                    return Err(format!(
                        "authority {name}: keyless verification needs a trusted root"
                    ));
                };
                let keyless = identities
                    .iter()
                    .map(|i| {
                        Ok(KeylessIdentity {
                            identity: matcher(&i.subject)?,
                            issuer: matcher(&i.issuer)?,
                            claims: Vec::new(),
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| format!("authority {name}: {e}"))?;
                AuthorityCheck::Verify(Arc::new(VerifyOptions {
                    keyless,
                    trust: Some(trust.clone()),
                    ..VerifyOptions::default()
                }))
            }
        };
        authorities.push((name, check));
    }
    Ok(PolicyCheck::Sigstore { authorities })
}
