//! Verifying Sigstore bundles over files or digests: `sigward verify-bundle`, which speaks the
//! sigstore-conformance client protocol exactly, so the official suite can drive sigward.
//!
//! `FILE_OR_DIGEST` is a digest when it is `sha256:<64 hex>` and no such file exists, else a path.

use std::path::{Path, PathBuf};

use sigward_verify::bundle::{
    parse_bundle, verify_bundle, ArtifactInput, BundlePolicy, BundleSigner, Matcher, TrustMaterial,
    PRODUCTION_TRUSTED_ROOT, STAGING_TRUSTED_ROOT,
};

use crate::keys;

/// Which signer a bundle must carry, as flags (cosign's names).
#[derive(Debug, clap::Args)]
pub struct SignerArgs {
    /// Required certificate identity (SAN email or URI), exact.
    #[arg(long, conflicts_with = "key")]
    certificate_identity: Option<String>,
    /// Required certificate identity, as a regular expression (unanchored, like cosign).
    #[arg(long, conflicts_with_all = ["key", "certificate_identity"])]
    certificate_identity_regexp: Option<String>,
    /// Required OIDC issuer of the certificate, exact.
    #[arg(long, conflicts_with = "key")]
    certificate_oidc_issuer: Option<String>,
    /// Required OIDC issuer, as a regular expression (unanchored, like cosign).
    #[arg(long, conflicts_with_all = ["key", "certificate_oidc_issuer"])]
    certificate_oidc_issuer_regexp: Option<String>,
    /// Public key the bundle must be signed with (instead of an identity).
    #[arg(long)]
    key: Option<PathBuf>,
}

impl SignerArgs {
    /// The policy these flags describe; every keyless policy needs an identity and an issuer.
    pub fn policy(&self) -> Result<BundlePolicy, String> {
        if let Some(key) = &self.key {
            return Ok(BundlePolicy::Key(keys::load_public_key(key)?));
        }
        let identity = match (&self.certificate_identity, &self.certificate_identity_regexp) {
            (Some(i), _) => Matcher::Exact(i.clone()),
            (None, Some(r)) => Matcher::regexp(r).map_err(|e| e.to_string())?,
            (None, None) => {
                return Err("give --key, or --certificate-identity(-regexp) with --certificate-oidc-issuer(-regexp)".into())
            }
        };
        let issuer = match (
            &self.certificate_oidc_issuer,
            &self.certificate_oidc_issuer_regexp,
        ) {
            (Some(i), _) => Matcher::Exact(i.clone()),
            (None, Some(r)) => Matcher::regexp(r).map_err(|e| e.to_string())?,
            (None, None) => {
                return Err(
                    "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp is required"
                        .into(),
                )
            }
        };
        Ok(BundlePolicy::Keyless { identity, issuer })
    }
}

/// Which trust root to verify against.
#[derive(Debug, clap::Args)]
pub struct TrustArgs {
    /// A trusted_root.json (private Sigstore instance); default: the public-good root.
    #[arg(long)]
    trusted_root: Option<PathBuf>,
    /// Use the public-good staging instance's root.
    #[arg(long, conflicts_with = "trusted_root")]
    staging: bool,
}

impl TrustArgs {
    /// Whether a trust root was named on the command line.
    pub fn given(&self) -> bool {
        self.trusted_root.is_some() || self.staging
    }

    /// Loads the trust material the flags name.
    pub fn load(&self) -> Result<TrustMaterial, String> {
        let result = match (&self.trusted_root, self.staging) {
            (Some(path), _) => {
                let bytes = std::fs::read(path)
                    .map_err(|e| format!("--trusted-root {}: {e}", path.display()))?;
                TrustMaterial::from_trusted_root_json(&bytes)
                    .map_err(|e| format!("--trusted-root {}: {e}", path.display()))?
            }
            (None, true) => TrustMaterial::from_trusted_root_json(STAGING_TRUSTED_ROOT.as_bytes())
                .map_err(|e| e.to_string())?,
            (None, false) => {
                TrustMaterial::from_trusted_root_json(PRODUCTION_TRUSTED_ROOT.as_bytes())
                    .map_err(|e| e.to_string())?
            }
        };
        Ok(result)
    }
}

/// `sigward verify-bundle`.
#[derive(Debug, clap::Args)]
pub struct VerifyBundleArgs {
    /// The Sigstore bundle (JSON).
    #[arg(long)]
    bundle: PathBuf,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// The signed file, or its digest as sha256:<hex>.
    file_or_digest: String,
}

enum Subject {
    File(Vec<u8>),
    Digest([u8; 32]),
}

fn subject(arg: &str) -> Result<Subject, String> {
    if let Some(hex) = arg.strip_prefix("sha256:") {
        if !Path::new(arg).exists() {
            let mut digest = [0u8; 32];
            if hex.len() != 64 {
                return Err(format!("{arg}: a sha256 digest has 64 hex digits"));
            }
            for (i, byte) in digest.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| format!("{arg}: not a hex digest"))?;
            }
            return Ok(Subject::Digest(digest));
        }
    }
    std::fs::read(arg)
        .map(Subject::File)
        .map_err(|e| format!("{arg}: {e}"))
}

/// Runs `verify-bundle`.
pub fn verify_bundle_command(args: &VerifyBundleArgs) -> Result<(), String> {
    let policy = args.signer.policy()?;
    let trust = args.trust.load()?;
    let bytes = std::fs::read(&args.bundle)
        .map_err(|e| format!("--bundle {}: {e}", args.bundle.display()))?;
    let bundle = parse_bundle(&bytes).map_err(|e| format!("{}: {e}", args.bundle.display()))?;
    let subject = subject(&args.file_or_digest)?;
    let artifact = match &subject {
        Subject::File(b) => ArtifactInput::Bytes(b),
        Subject::Digest(d) => ArtifactInput::Sha256(*d),
    };
    let verified = verify_bundle(&trust, &bundle, artifact, &policy)
        .map_err(|e| format!("{}: {e}", args.file_or_digest))?;
    match verified.signer() {
        BundleSigner::Certificate { identity, issuer } => {
            eprintln!(
                "Verified OK: {} signed by {identity} (issuer {issuer})",
                args.file_or_digest
            )
        }
        BundleSigner::PublicKey { key_id } => {
            eprintln!(
                "Verified OK: {} signed by key {key_id}",
                args.file_or_digest
            )
        }
        #[allow(unreachable_patterns)]
        _ => eprintln!("Verified OK: {}", args.file_or_digest),
    }
    Ok(())
}
