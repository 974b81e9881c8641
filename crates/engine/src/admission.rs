//! Admission decisions for one image at a time: the enforcer behind `sigward serve` and
//! `sigward policy test`.
//!
//! Data flow: image as written in a pod spec -> reference as the node pulls it
//! (`ParseDockerRef`: `docker.io/library/`, `:latest`, tag dropped beside a digest) -> the
//! policies applying to it in the namespace ([`CompiledPolicies::requirements`]; none: no
//! registry request at all) -> digest (cached briefly, single-flight) -> per policy, a verdict
//! cached by (policy generation, policy, reference, digest), single-flight, computed by
//! [`Engine::verify_image`] with the policy's trust, then the OpenShift `signedIdentity` rule
//! on each verified signature's claimed reference -> [`ImageVerdict`], whose
//! [`ImageVerdict::outcome`] applies each policy's mode.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sigward_oci::{Digest, ImageReference};
use sigward_policy::{identity_matches, EnforcementMode, PolicyRef, SignedIdentity};
use sigward_verify::cosign::Signer;

use crate::flight::FlightCache;
use crate::policies::{AuthorityCheck, CompiledPolicies, PolicyCheck};
use crate::stats::EnforcerStats;
use crate::{Engine, EngineError, Evidence, VerifyOptions};

/// What happens to an image no policy covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NoMatch {
    /// Admitted (OpenShift's semantics: no scope, no signature requirement).
    #[default]
    Allow,
    /// Denied (policy-controller's default `no-match-policy: deny`).
    Deny,
}

/// Tuning of the enforcer; the defaults come from `sigward_limits`.
#[derive(Debug, Clone)]
pub struct EnforcerConfig {
    /// Images no policy covers.
    pub no_match: NoMatch,
    /// How long a passing verdict is reused.
    pub verdict_ttl: Duration,
    /// How long a failing verdict is reused.
    pub failure_ttl: Duration,
    /// How long a tag -> digest resolution is reused.
    pub digest_ttl: Duration,
    /// Most entries per cache.
    pub cache_entries: usize,
}

impl Default for EnforcerConfig {
    fn default() -> Self {
        EnforcerConfig {
            no_match: NoMatch::Allow,
            verdict_ttl: sigward_limits::VERDICT_TTL,
            failure_ttl: sigward_limits::FAILURE_TTL,
            digest_ttl: sigward_limits::DIGEST_TTL,
            cache_entries: sigward_limits::MAX_CACHE_ENTRIES,
        }
    }
}

/// Who signed an admitted image, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The sigstore authority that passed, if the policy has authorities.
    pub authority: Option<String>,
    /// The signer: key id, certificate identity and issuer, or PKI subject.
    pub signer: String,
    /// The transparency-log index of the accepted signature, when it was logged.
    pub log_index: Option<i64>,
}

/// One policy's verdict on one image.
#[derive(Debug, Clone)]
pub struct PolicyVerdict {
    /// The policy.
    pub policy: PolicyRef,
    /// Its mode.
    pub mode: EnforcementMode,
    /// Accepted, or the most specific reason it was not.
    pub result: Result<Accepted, String>,
}

/// Everything decided about one image.
#[derive(Debug, Clone)]
pub struct ImageVerdict {
    /// The image as written.
    pub image: String,
    /// The reference the node pulls, when the text parses.
    pub reference: Option<ImageReference>,
    /// The digest verified, when resolved.
    pub digest: Option<Digest>,
    /// One verdict per applying policy (empty: no policy covers the image).
    pub policies: Vec<PolicyVerdict>,
    /// Why no policy could be evaluated at all (unparseable reference).
    pub error: Option<String>,
    /// Namespace scopes ignored because a cluster policy covers them.
    pub conflicts: Vec<String>,
    /// Images no policy covers are denied.
    pub no_match_denied: bool,
}

/// The effect of an [`ImageVerdict`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Admit.
    Allow,
    /// Deny, with the reasons of every enforcing policy that failed.
    Deny(Vec<String>),
    /// Admit, with warnings and/or audit notes.
    AllowWithFindings {
        /// For the client (`warn` policies).
        warnings: Vec<String>,
        /// For the audit log only (`audit` policies).
        audit: Vec<String>,
    },
}

impl ImageVerdict {
    /// Applies each policy's mode: any failing `enforce` policy denies; `warn` and `audit`
    /// failures are reported but admit.
    pub fn outcome(&self) -> Outcome {
        if let Some(e) = &self.error {
            return Outcome::Deny(vec![e.clone()]);
        }
        if self.policies.is_empty() {
            return if self.no_match_denied {
                Outcome::Deny(vec![
                    "no policy covers this image and sigward runs with --no-match deny".into(),
                ])
            } else {
                Outcome::Allow
            };
        }
        let mut deny = Vec::new();
        let mut warnings = Vec::new();
        let mut audit = Vec::new();
        for p in &self.policies {
            if let Err(reason) = &p.result {
                let line = format!("{}: {reason}", p.policy);
                match p.mode {
                    EnforcementMode::Enforce => deny.push(line),
                    EnforcementMode::Warn => warnings.push(line),
                    EnforcementMode::Audit => audit.push(line),
                }
            }
        }
        if !deny.is_empty() {
            Outcome::Deny(deny)
        } else if warnings.is_empty() && audit.is_empty() {
            Outcome::Allow
        } else {
            Outcome::AllowWithFindings { warnings, audit }
        }
    }

    /// The digest to pin this image to: when it was verified by at least one policy and every
    /// applying policy accepted it, and it is not pinned already.
    pub fn pin(&self) -> Option<ImageReference> {
        let reference = self.reference.as_ref()?;
        if reference.digest().is_some()
            || self.policies.is_empty()
            || self.policies.iter().any(|p| p.result.is_err())
        {
            return None;
        }
        Some(reference.repository().with_digest(self.digest.clone()?))
    }
}

type VerdictKey = (u64, PolicyRef, String, Digest);
type VerdictValue = Result<Accepted, String>;

/// The enforcer: policies (swapped atomically on reload), caches and counters.
#[derive(Debug)]
pub struct Enforcer {
    engine: Engine,
    policies: RwLock<Arc<CompiledPolicies>>,
    config: EnforcerConfig,
    verdicts: FlightCache<VerdictKey, VerdictValue>,
    digests: FlightCache<String, Result<Digest, String>>,
    stats: Arc<EnforcerStats>,
}

impl Enforcer {
    /// An enforcer over `engine` with a first generation of policies.
    pub fn new(engine: Engine, policies: CompiledPolicies, config: EnforcerConfig) -> Self {
        let (ok, failed, digest) = (config.verdict_ttl, config.failure_ttl, config.digest_ttl);
        Enforcer {
            engine,
            policies: RwLock::new(Arc::new(policies)),
            verdicts: FlightCache::new(
                config.cache_entries,
                move |v: &VerdictValue| {
                    if v.is_ok() {
                        ok
                    } else {
                        failed
                    }
                },
            ),
            // Failed lookups are not kept: only joined while running.
            digests: FlightCache::new(config.cache_entries, move |v: &Result<Digest, String>| {
                if v.is_ok() {
                    digest
                } else {
                    Duration::ZERO
                }
            }),
            config,
            stats: Arc::new(EnforcerStats::default()),
        }
    }

    /// Puts a new generation in force for every review that starts after this call; reviews
    /// already running finish with the generation they started with.
    pub fn replace_policies(&self, policies: CompiledPolicies) {
        match self.policies.write() {
            Ok(mut guard) => *guard = Arc::new(policies),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(policies),
        }
        self.verdicts.clear();
    }

    /// The generation in force.
    pub fn policies(&self) -> Arc<CompiledPolicies> {
        match self.policies.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> &EnforcerStats {
        &self.stats
    }

    /// The engine (and so the registry client and its request counters).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Decides about `image` (as written in a pod spec) in `namespace`, within `budget`: a
    /// registry slower than that fails the policies waiting on it (the work goes on in the
    /// background and fills the cache for the next review).
    pub async fn evaluate_image(
        &self,
        namespace: &str,
        image: &str,
        budget: Duration,
    ) -> ImageVerdict {
        self.evaluate_image_with(&self.engine, namespace, image, budget)
            .await
    }

    /// [`Enforcer::evaluate_image`] with another engine, e.g. one whose registry client
    /// authenticates with the pod's pull secrets. Verdicts are shared: they are about
    /// signatures, which do not depend on who reads them.
    pub async fn evaluate_image_with(
        &self,
        engine: &Engine,
        namespace: &str,
        image: &str,
        budget: Duration,
    ) -> ImageVerdict {
        let deadline = tokio::time::Instant::now() + budget;
        let late = || {
            format!(
                "verification did not finish within {:.1}s (registry slow or unreachable?)",
                budget.as_secs_f64()
            )
        };
        let policies = self.policies();
        let mut verdict = ImageVerdict {
            image: image.to_owned(),
            reference: None,
            digest: None,
            policies: Vec::new(),
            error: None,
            conflicts: Vec::new(),
            no_match_denied: self.config.no_match == NoMatch::Deny,
        };
        let reference = match ImageReference::parse_docker_ref(image) {
            Ok(r) => r,
            Err(e) => {
                verdict.error = Some(format!("not a valid image reference: {e}"));
                return verdict;
            }
        };
        verdict.reference = Some(reference.clone());
        let requirements = match policies.requirements(namespace, &reference) {
            Ok(r) => r,
            Err(e) => {
                verdict.error = Some(e.to_string());
                return verdict;
            }
        };
        verdict.conflicts = requirements.conflicts;
        if requirements.policies.is_empty() {
            return verdict;
        }
        let resolved = tokio::time::timeout_at(deadline, self.resolve(engine, &reference))
            .await
            .unwrap_or_else(|_| Err(late()));
        let digest = match resolved {
            Ok(d) => d,
            Err(reason) => {
                verdict.policies = requirements
                    .policies
                    .into_iter()
                    .map(|r| PolicyVerdict {
                        policy: r.policy,
                        mode: r.mode,
                        result: Err(reason.clone()),
                    })
                    .collect();
                return verdict;
            }
        };
        verdict.digest = Some(digest.clone());
        let checks = requirements.policies.into_iter().map(|r| {
            let key: VerdictKey = (
                policies.generation(),
                r.policy.clone(),
                reference.to_string(),
                digest.clone(),
            );
            let engine = engine.clone();
            let stats = self.stats.clone();
            let reference = reference.clone();
            let digest = digest.clone();
            let check = r.check.clone();
            async move {
                let run = async move {
                    let started = Instant::now();
                    let result = check_policy(&engine, &check, &reference, &digest, &stats).await;
                    stats.verification_latency.observe(started.elapsed());
                    result
                };
                let result =
                    match tokio::time::timeout_at(deadline, self.verdicts.get_or_run(key, run))
                        .await
                    {
                        Ok((result, lookup)) => {
                            self.stats.verdicts.record(lookup);
                            result.unwrap_or_else(|| {
                                Err("internal error: the verification task failed".into())
                            })
                        }
                        Err(_) => Err(late()),
                    };
                PolicyVerdict {
                    policy: r.policy,
                    mode: r.mode,
                    result,
                }
            }
        });
        verdict.policies = futures_util::future::join_all(checks).await;
        verdict
    }

    async fn resolve(&self, engine: &Engine, reference: &ImageReference) -> Result<Digest, String> {
        if let Some(d) = reference.digest() {
            return Ok(d.clone());
        }
        let engine = engine.clone();
        let stats = self.stats.clone();
        let image = reference.clone();
        let run = async move {
            engine.client().resolve_digest(&image).await.map_err(|e| {
                stats
                    .registry_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                format!("cannot resolve the tag to a digest: {e}")
            })
        };
        let (result, lookup) = self.digests.get_or_run(reference.to_string(), run).await;
        self.stats.digests.record(lookup);
        result.unwrap_or_else(|| Err("internal error: the digest lookup failed".into()))
    }
}

async fn check_policy(
    engine: &Engine,
    check: &PolicyCheck,
    reference: &ImageReference,
    digest: &Digest,
    stats: &EnforcerStats,
) -> VerdictValue {
    match check {
        PolicyCheck::OpenShift { options, identity } => {
            verify_with_identity(engine, options, Some(identity), reference, digest, stats).await
        }
        PolicyCheck::Unenforceable(reason) => Err(format!(
            "sigward cannot enforce this policy, so it admits nothing it covers: {reason}"
        )),
        PolicyCheck::Sigstore { authorities } => {
            let mut failures = Vec::new();
            for (name, authority) in authorities {
                let result = match authority {
                    AuthorityCheck::Static { pass: true, .. } => Ok(Accepted {
                        authority: Some(name.clone()),
                        signer: "static pass".into(),
                        log_index: None,
                    }),
                    AuthorityCheck::Static {
                        pass: false,
                        message,
                    } => Err(message
                        .clone()
                        .unwrap_or_else(|| "disallowed by static policy".into())),
                    AuthorityCheck::Verify(options) => {
                        verify_with_identity(engine, options, None, reference, digest, stats).await
                    }
                };
                match result {
                    Ok(mut accepted) => {
                        accepted.authority = Some(name.clone());
                        return Ok(accepted);
                    }
                    Err(e) => failures.push(format!("authority {name}: {e}")),
                }
            }
            Err(failures.join("; "))
        }
    }
}

async fn verify_with_identity(
    engine: &Engine,
    options: &VerifyOptions,
    identity: Option<&SignedIdentity>,
    reference: &ImageReference,
    digest: &Digest,
    stats: &EnforcerStats,
) -> VerdictValue {
    let pinned = reference.with_digest(digest.clone());
    let verification = match engine.verify_image(&pinned, options).await {
        Ok(v) => v,
        Err(e) => {
            if matches!(e, EngineError::Registry { .. }) {
                stats
                    .registry_errors
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            return Err(e.reason());
        }
    };
    let mut mismatches = Vec::new();
    for signature in &verification.signatures {
        match &signature.evidence {
            Evidence::Cosign(s) => {
                if let Some(identity) = identity {
                    if let Err(e) = identity_matches(identity, reference, s.docker_reference()) {
                        mismatches.push(e.to_string());
                        continue;
                    }
                }
                return Ok(Accepted {
                    authority: None,
                    signer: describe_signer(s.signer()),
                    log_index: s.log_entry().map(|l| l.log_index),
                });
            }
            // A bundle signs the digest alone: there is no claimed reference to match.
            Evidence::Bundle(b) => {
                return Ok(Accepted {
                    authority: None,
                    signer: match b.signer() {
                        sigward_verify::bundle::BundleSigner::PublicKey { key_id } => {
                            format!("key {key_id}")
                        }
                        sigward_verify::bundle::BundleSigner::Certificate { identity, issuer } => {
                            format!("{identity} ({issuer})")
                        }
                        #[allow(unreachable_patterns)]
                        _ => "bundle".into(),
                    },
                    log_index: None,
                })
            }
        }
    }
    Err(format!(
        "{} signature(s) verified, but none for this image's identity: {}",
        verification.signatures.len(),
        mismatches.join("; ")
    ))
}

fn describe_signer(signer: &Signer) -> String {
    match signer {
        Signer::PublicKey { key_id } => format!("key {key_id}"),
        Signer::Pki { subject } => format!("certificate for {subject}"),
        Signer::Certificate { identity, issuer } => format!("{identity} ({issuer})"),
        #[allow(unreachable_patterns)]
        _ => "signer".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sigward_policy::PolicyKind;

    fn policy(name: &str, mode: EnforcementMode, result: Result<(), &str>) -> PolicyVerdict {
        PolicyVerdict {
            policy: PolicyRef {
                kind: PolicyKind::ClusterImagePolicy,
                namespace: None,
                name: name.into(),
            },
            mode,
            result: result
                .map(|()| Accepted {
                    authority: None,
                    signer: "key k".into(),
                    log_index: None,
                })
                .map_err(str::to_owned),
        }
    }

    fn verdict(policies: Vec<PolicyVerdict>) -> ImageVerdict {
        let reference = ImageReference::parse_docker_ref("reg.example/app:v1").unwrap();
        ImageVerdict {
            image: "reg.example/app:v1".into(),
            reference: Some(reference),
            digest: Some(Digest::sha256_of(b"manifest")),
            policies,
            error: None,
            conflicts: Vec::new(),
            no_match_denied: false,
        }
    }

    #[test]
    fn modes_decide_what_a_failure_does() {
        use EnforcementMode::*;
        assert_eq!(
            verdict(vec![policy("a", Enforce, Ok(()))]).outcome(),
            Outcome::Allow
        );
        assert_eq!(
            verdict(vec![
                policy("a", Enforce, Ok(())),
                policy("b", Enforce, Err("unsigned")),
                policy("c", Warn, Err("late")),
            ])
            .outcome(),
            Outcome::Deny(vec!["ClusterImagePolicy b: unsigned".into()])
        );
        assert_eq!(
            verdict(vec![
                policy("w", Warn, Err("x")),
                policy("a", Audit, Err("y"))
            ])
            .outcome(),
            Outcome::AllowWithFindings {
                warnings: vec!["ClusterImagePolicy w: x".into()],
                audit: vec!["ClusterImagePolicy a: y".into()],
            }
        );
        // No policy: the --no-match rule.
        let mut none = verdict(vec![]);
        assert_eq!(none.outcome(), Outcome::Allow);
        none.no_match_denied = true;
        assert!(matches!(none.outcome(), Outcome::Deny(_)));
        // An unreadable reference is denied whatever the modes.
        let mut broken = verdict(vec![policy("w", Warn, Ok(()))]);
        broken.error = Some("bad".into());
        assert_eq!(broken.outcome(), Outcome::Deny(vec!["bad".into()]));
    }

    #[test]
    fn only_fully_verified_tags_are_pinned() {
        use EnforcementMode::*;
        let ok = verdict(vec![policy("a", Enforce, Ok(()))]);
        let digest = Digest::sha256_of(b"manifest");
        assert_eq!(
            ok.pin().unwrap().to_string(),
            format!("reg.example/app@{digest}")
        );
        // A warn-mode failure admits, but what was not verified is not pinned.
        assert!(verdict(vec![
            policy("a", Enforce, Ok(())),
            policy("w", Warn, Err("x"))
        ])
        .pin()
        .is_none());
        assert!(verdict(vec![]).pin().is_none());
        let mut pinned = ok.clone();
        pinned.reference =
            Some(ImageReference::parse_docker_ref(&format!("reg.example/app@{digest}")).unwrap());
        assert!(pinned.pin().is_none());
    }
}
