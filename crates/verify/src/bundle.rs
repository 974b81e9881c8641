//! Sigstore bundles (v0.1 to v0.3): the cryptography is sigstore-verify's (pinned exactly;
//! 140/140 on sigstore-conformance); identity policy is ours, matched in one place after every
//! cryptographic check passed.
//!
//! Data flow: trusted root JSON -> [`TrustMaterial`] (parsed and prepared once). Then the
//! bundle JSON, the artifact (bytes or SHA-256 digest) and a [`BundlePolicy`] go to
//! sigstore-verify (certificate chain to a Fulcio CA at the signing time, SCT, Rekor v1 SET,
//! inclusion proof and checkpoint or Rekor v2 entry, RFC 3161 timestamps, signature,
//! entry-bundle consistency), then to our identity and issuer match (exact or regexp), giving
//! a [`VerifiedBundle`], which only this crate can build.
//!
//! The one input this module does not take as a parameter is the current time: sigstore-verify
//! reads the clock once per verification (to reject log entries from the future).

use regex::Regex;
use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::types::{Bundle, DerPublicKey, Sha256Hash};
use sigstore_verify::{PublicKeyVerificationPolicy, SubjectAltName, VerificationPolicy, Verifier};

use crate::{Error, PublicKey};
use sigward_limits as limits;

/// The Sigstore public-good production trusted root, as embedded in sigstore-verify 0.15.1
/// (sigstore/root-signing `targets/trusted_root.json`, sha256 6494e21e…0b66).
pub const PRODUCTION_TRUSTED_ROOT: &str =
    sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT;

/// The Sigstore public-good staging trusted root, as embedded in sigstore-verify 0.15.1.
pub const STAGING_TRUSTED_ROOT: &str = sigstore_verify::trust_root::SIGSTORE_STAGING_TRUSTED_ROOT;

/// Trusted keys and certificates (Fulcio CAs, Rekor and CT log keys, TSAs), ready to verify with.
pub struct TrustMaterial {
    verifier: Verifier,
    /// Whether Fulcio certificates must carry an SCT from one of the root's CT logs.
    verify_sct: bool,
}

impl std::fmt::Debug for TrustMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustMaterial")
    }
}

impl TrustMaterial {
    /// The Sigstore public-good instance.
    pub fn production() -> Result<Self, Error> {
        Self::from_trusted_root_json(PRODUCTION_TRUSTED_ROOT.as_bytes())
    }

    /// A trusted root already parsed (e.g. fetched and verified through TUF).
    pub fn from_trusted_root(root: &TrustedRoot) -> Result<Self, Error> {
        let verifier = Verifier::new(root).map_err(|e| Error::MalformedTrustedRoot {
            reason: e.to_string(),
        })?;
        Ok(TrustMaterial {
            verifier,
            verify_sct: true,
        })
    }

    /// A `trusted_root.json` (`application/vnd.dev.sigstore.trustedroot+json`).
    pub fn from_trusted_root_json(json: &[u8]) -> Result<Self, Error> {
        let text = std::str::from_utf8(json).map_err(|_| Error::MalformedTrustedRoot {
            reason: "not UTF-8".into(),
        })?;
        let root = TrustedRoot::from_json(text).map_err(|e| Error::MalformedTrustedRoot {
            reason: e.to_string(),
        })?;
        Self::from_trusted_root(&root)
    }

    /// Trust as OpenShift's `FulcioCAWithRekor` and `PublicKey.rekorKeyData` define it (and
    /// containers/image verifies it): these Fulcio CA certificates (PEM; none for key-only
    /// trust) and these Rekor public keys (PEM), no CT log and so no SCT check, no TSA.
    pub fn from_fulcio_and_rekor(
        fulcio_ca_pem: Option<&[u8]>,
        rekor_keys_pem: &[u8],
    ) -> Result<Self, Error> {
        use base64::Engine as _;
        let b64 = |der: &[u8]| base64::engine::general_purpose::STANDARD.encode(der);
        let malformed = |reason: String| Error::MalformedTrustedRoot { reason };
        // A zero start: the policy object carries no validity window.
        let valid_for = serde_json::json!({"start": "1970-01-01T00:00:00Z"});
        let mut tlogs = Vec::new();
        let blocks =
            pem::parse_many(rekor_keys_pem).map_err(|e| malformed(format!("Rekor key: {e}")))?;
        for block in blocks.iter().take(limits::MAX_TRUSTED_KEYS) {
            let key = PublicKey::from_pem(pem::encode(block).as_bytes())
                .map_err(|e| malformed(format!("Rekor key: {e}")))?;
            let details = match key.algorithm() {
                crate::KeyAlgorithm::EcdsaP256Sha256 => "PKIX_ECDSA_P256_SHA_256",
                crate::KeyAlgorithm::EcdsaP384Sha384 => "PKIX_ECDSA_P384_SHA_384",
                crate::KeyAlgorithm::EcdsaP521Sha512 => "PKIX_ECDSA_P521_SHA_512",
                crate::KeyAlgorithm::Ed25519 => "PKIX_ED25519",
                _ => "PKIX_RSA_PKCS1V15_2048_SHA256",
            };
            let log_id = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.spki_der());
            tlogs.push(serde_json::json!({
                "baseUrl": "https://rekor.invalid",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(key.spki_der()),
                    "keyDetails": details,
                    "validFor": valid_for,
                },
                "logId": {"keyId": b64(log_id.as_ref())},
            }));
        }
        if tlogs.is_empty() {
            return Err(malformed("no Rekor public key (PEM)".into()));
        }
        let mut authorities = Vec::new();
        if let Some(ca_pem) = fulcio_ca_pem {
            let certificates: Vec<serde_json::Value> = pem::parse_many(ca_pem)
                .map_err(|e| malformed(format!("Fulcio CA: {e}")))?
                .iter()
                .filter(|b| b.tag() == "CERTIFICATE")
                .take(limits::MAX_CHAIN_CERTIFICATES)
                .map(|b| serde_json::json!({"rawBytes": b64(b.contents())}))
                .collect();
            if certificates.is_empty() {
                return Err(malformed("Fulcio CA: no PEM certificate".into()));
            }
            // Each certificate is its own authority: a bundle's chain names which one it used.
            for certificate in certificates {
                authorities.push(serde_json::json!({
                    "subject": {"organization": "policy", "commonName": "policy"},
                    "uri": "https://fulcio.invalid",
                    "certChain": {"certificates": [certificate]},
                    "validFor": valid_for,
                }));
            }
        }
        let root = serde_json::json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": tlogs,
            "certificateAuthorities": authorities,
            "ctlogs": [],
            "timestampAuthorities": [],
        });
        let root =
            TrustedRoot::from_json(&root.to_string()).map_err(|e| malformed(e.to_string()))?;
        let mut material = Self::from_trusted_root(&root)?;
        material.verify_sct = false;
        Ok(material)
    }

    /// The same trust without the SCT requirement (policy-controller's `insecureIgnoreSCT`).
    pub fn without_sct_unsafe(self) -> Self {
        TrustMaterial {
            verify_sct: false,
            ..self
        }
    }
}

/// What was signed: the artifact itself, or its SHA-256 digest.
#[derive(Debug, Clone, Copy)]
pub enum ArtifactInput<'a> {
    /// The artifact's bytes.
    Bytes(&'a [u8]),
    /// The artifact's SHA-256 digest.
    Sha256([u8; 32]),
}

/// How a certificate's value (SAN identity or OIDC issuer) must look.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this string.
    Exact(String),
    /// A regular expression, searched like cosign's `--certificate-identity-regexp` (Go's
    /// `regexp.MatchString`: unanchored unless the pattern anchors itself).
    Regexp(Regex),
}

impl Matcher {
    /// A regexp matcher; fails on a pattern that does not compile.
    pub fn regexp(pattern: &str) -> Result<Self, Error> {
        Regex::new(pattern)
            .map(Matcher::Regexp)
            .map_err(|e| Error::InvalidPattern {
                pattern: pattern.to_string(),
                reason: e.to_string(),
            })
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Matcher::Exact(s) => s == value,
            Matcher::Regexp(r) => r.is_match(value),
        }
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Matcher::Exact(s) => write!(f, "{s:?}"),
            Matcher::Regexp(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

/// A Fulcio certificate extension a keyless policy can require (cosign's
/// `--certificate-github-workflow-*` flags, which read GitHub's original extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateClaim {
    /// 1.3.6.1.4.1.57264.1.2, the event that triggered the workflow (`push`, `release`...).
    GithubWorkflowTrigger,
    /// 1.3.6.1.4.1.57264.1.3, the commit the workflow ran on.
    GithubWorkflowSha,
    /// 1.3.6.1.4.1.57264.1.4, the workflow's name.
    GithubWorkflowName,
    /// 1.3.6.1.4.1.57264.1.5, the repository, `owner/name`.
    GithubWorkflowRepository,
    /// 1.3.6.1.4.1.57264.1.6, the git ref (`refs/heads/main`).
    GithubWorkflowRef,
}

impl std::fmt::Display for CertificateClaim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CertificateClaim::GithubWorkflowTrigger => "GitHub workflow trigger",
            CertificateClaim::GithubWorkflowSha => "GitHub workflow sha",
            CertificateClaim::GithubWorkflowName => "GitHub workflow name",
            CertificateClaim::GithubWorkflowRepository => "GitHub workflow repository",
            CertificateClaim::GithubWorkflowRef => "GitHub workflow ref",
        })
    }
}

/// Who must have signed a bundle.
#[derive(Debug, Clone)]
pub enum BundlePolicy {
    /// A Fulcio certificate whose SAN and OIDC issuer match.
    Keyless {
        /// The certificate's SAN (email or URI).
        identity: Matcher,
        /// The certificate's OIDC issuer extension.
        issuer: Matcher,
        /// Certificate extensions that must hold exactly these values.
        claims: Vec<(CertificateClaim, String)>,
    },
    /// A managed key.
    Key(PublicKey),
}

/// Who vouched for a verified bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleSigner {
    /// A Fulcio-issued certificate.
    Certificate {
        /// Its SAN (email or URI).
        identity: String,
        /// Its OIDC issuer.
        issuer: String,
    },
    /// A trusted public key.
    PublicKey {
        /// Hex SHA-256 of the key's SubjectPublicKeyInfo.
        key_id: String,
    },
}

/// A bundle that passed every check. Only this crate can build one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    signer: BundleSigner,
    integrated_time: Option<i64>,
    tlog_verified: bool,
    predicate_type: Option<String>,
}

impl VerifiedBundle {
    /// Who signed.
    pub fn signer(&self) -> &BundleSigner {
        &self.signer
    }
    /// The authenticated Rekor v1 integration time (Unix seconds), when there is one.
    pub fn integrated_time(&self) -> Option<i64> {
        self.integrated_time
    }
    /// Whether transparency-log inclusion was verified.
    pub fn tlog_verified(&self) -> bool {
        self.tlog_verified
    }
    /// The in-toto predicate type of a DSSE bundle (`None` for a plain message signature).
    pub fn predicate_type(&self) -> Option<&str> {
        self.predicate_type.as_deref()
    }
}

/// The predicate type cosign gives the statement that signs an image in bundle format.
pub const COSIGN_SIGN_PREDICATE_TYPE: &str = "https://sigstore.dev/cosign/sign/v1";

/// The in-toto predicate type of a DSSE bundle's statement, if it has one.
fn predicate_type(bundle: &Bundle) -> Option<String> {
    use sigstore_verify::types::SignatureContent;
    match &bundle.content {
        SignatureContent::DsseEnvelope(envelope) => {
            #[derive(serde::Deserialize)]
            #[serde(rename_all = "camelCase")]
            struct Statement {
                predicate_type: Option<String>,
            }
            serde_json::from_slice::<Statement>(envelope.payload.as_bytes())
                .ok()
                .and_then(|s| s.predicate_type)
        }
        _ => None,
    }
}

/// Parses a bundle's JSON.
pub fn parse_bundle(json: &[u8]) -> Result<Bundle, Error> {
    let text = std::str::from_utf8(json).map_err(|_| Error::MalformedBundle {
        reason: "not UTF-8".into(),
    })?;
    Bundle::from_json(text).map_err(|e| Error::MalformedBundle {
        reason: e.to_string(),
    })
}

/// Verifies `bundle` for `artifact` under `policy`.
pub fn verify_bundle(
    trust: &TrustMaterial,
    bundle: &Bundle,
    artifact: ArtifactInput<'_>,
    policy: &BundlePolicy,
) -> Result<VerifiedBundle, Error> {
    let result = match policy {
        BundlePolicy::Key(key) => {
            let policy =
                PublicKeyVerificationPolicy::new(DerPublicKey::new(key.spki_der().to_vec()));
            run(trust, bundle, artifact, &policy)?
        }
        BundlePolicy::Keyless { .. } => {
            let policy = VerificationPolicy::any_identity();
            if trust.verify_sct {
                run(trust, bundle, artifact, &policy)?
            } else {
                run(trust, bundle, artifact, &policy.skip_sct())?
            }
        }
    };
    let signer = match policy {
        BundlePolicy::Key(key) => BundleSigner::PublicKey {
            key_id: key.key_id(),
        },
        BundlePolicy::Keyless {
            identity,
            issuer,
            claims,
        } => {
            // sigstore-verify checked the chain, SCT and log with any identity allowed; the
            // policy decision is made here, once, on the verified certificate's claims.
            if !result.certificate_verified() {
                return Err(Error::Certificate {
                    reason: "certificate chain was not verified".into(),
                });
            }
            let actual_identity = result.identity().map(san_value);
            let actual_issuer = result.issuer().map(str::to_string);
            match &actual_identity {
                Some(a) if identity.matches(a) => {}
                _ => {
                    return Err(Error::IdentityMismatch {
                        expected: identity.to_string(),
                        actual: actual_identity,
                    })
                }
            }
            match &actual_issuer {
                Some(a) if issuer.matches(a) => {}
                _ => {
                    return Err(Error::IssuerMismatch {
                        expected: issuer.to_string(),
                        actual: actual_issuer,
                    })
                }
            }
            for (claim, expected) in claims {
                let github = result.certificate().map(|c| &c.ci_claims.deprecated_github);
                let actual = github.and_then(|g| match claim {
                    CertificateClaim::GithubWorkflowTrigger => g.workflow_trigger.clone(),
                    CertificateClaim::GithubWorkflowSha => g.workflow_sha.clone(),
                    CertificateClaim::GithubWorkflowName => g.workflow_name.clone(),
                    CertificateClaim::GithubWorkflowRepository => g.workflow_repository.clone(),
                    CertificateClaim::GithubWorkflowRef => g.workflow_ref.clone(),
                });
                if actual.as_deref() != Some(expected.as_str()) {
                    return Err(Error::ClaimMismatch {
                        claim: claim.to_string(),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            BundleSigner::Certificate {
                identity: actual_identity.unwrap_or_default(),
                issuer: actual_issuer.unwrap_or_default(),
            }
        }
    };
    Ok(VerifiedBundle {
        signer,
        integrated_time: result.integrated_time().map(|t| t.as_second()),
        tlog_verified: result.tlog_verified(),
        predicate_type: predicate_type(bundle),
    })
}

fn san_value(san: &SubjectAltName) -> String {
    san.as_str().to_string()
}

fn run(
    trust: &TrustMaterial,
    bundle: &Bundle,
    artifact: ArtifactInput<'_>,
    policy: &(impl sigstore_verify::Policy + ?Sized),
) -> Result<sigstore_verify::VerificationResult, Error> {
    let outcome = match artifact {
        ArtifactInput::Bytes(b) => trust.verifier.verify(b, bundle, policy),
        ArtifactInput::Sha256(d) => trust.verifier.verify(Sha256Hash::new(d), bundle, policy),
    };
    outcome.map_err(|e| Error::from_sigstore(&e))
}

impl Error {
    /// The one place sigstore-verify's errors become ours.
    fn from_sigstore(e: &sigstore_verify::Error) -> Error {
        use sigstore_verify::Error as S;
        let reason = e.to_string();
        match e {
            S::SignatureInvalid(_) => Error::SignatureMismatch,
            S::ArtifactMismatch(_) => Error::ArtifactMismatch { reason },
            S::Certificate(_) => Error::Certificate { reason },
            S::TransparencyLog(_) => Error::TransparencyLog { reason },
            S::Timestamp(_) => Error::Timestamp { reason },
            S::InvalidTrustRoot(_) | S::TrustRoot(_) | S::TrustedCertificate(_) => {
                Error::MalformedTrustedRoot { reason }
            }
            S::UnsupportedBundle(_) | S::UnsupportedArtifact(_) => {
                Error::UnsupportedBundle { reason }
            }
            _ => Error::MalformedBundle { reason },
        }
    }
}
