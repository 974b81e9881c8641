//! Verifying Sigstore bundles over files or digests: `sigward verify-bundle`, which speaks the
//! sigstore-conformance client protocol exactly, so the official suite can drive sigward.
//!
//! `FILE_OR_DIGEST` is a digest when it is `sha256:<64 hex>` and no such file exists, else a path.

use std::path::{Path, PathBuf};

use sigward_verify::bundle::{
    parse_bundle, verify_bundle, ArtifactInput, BundlePolicy, BundleSigner, CertificateClaim,
    Matcher, TrustMaterial, PRODUCTION_TRUSTED_ROOT, STAGING_TRUSTED_ROOT,
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
    /// Public key the signature must be made with (instead of an identity).
    #[arg(long)]
    key: Option<PathBuf>,
    /// Required GitHub workflow trigger (certificate extension 1.3.6.1.4.1.57264.1.2).
    #[arg(long, conflicts_with = "key")]
    certificate_github_workflow_trigger: Option<String>,
    /// Required GitHub workflow commit (extension 1.3.6.1.4.1.57264.1.3).
    #[arg(long, conflicts_with = "key")]
    certificate_github_workflow_sha: Option<String>,
    /// Required GitHub workflow name (extension 1.3.6.1.4.1.57264.1.4).
    #[arg(long, conflicts_with = "key")]
    certificate_github_workflow_name: Option<String>,
    /// Required GitHub repository, owner/name (extension 1.3.6.1.4.1.57264.1.5).
    #[arg(long, conflicts_with = "key")]
    certificate_github_workflow_repository: Option<String>,
    /// Required GitHub ref, e.g. refs/heads/main (extension 1.3.6.1.4.1.57264.1.6).
    #[arg(long, conflicts_with = "key")]
    certificate_github_workflow_ref: Option<String>,
}

impl SignerArgs {
    /// The exact identity given, if any.
    pub fn exact_identity(&self) -> Option<&str> {
        self.certificate_identity.as_deref()
    }

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
        let claims = [
            (
                CertificateClaim::GithubWorkflowTrigger,
                &self.certificate_github_workflow_trigger,
            ),
            (
                CertificateClaim::GithubWorkflowSha,
                &self.certificate_github_workflow_sha,
            ),
            (
                CertificateClaim::GithubWorkflowName,
                &self.certificate_github_workflow_name,
            ),
            (
                CertificateClaim::GithubWorkflowRepository,
                &self.certificate_github_workflow_repository,
            ),
            (
                CertificateClaim::GithubWorkflowRef,
                &self.certificate_github_workflow_ref,
            ),
        ]
        .into_iter()
        .filter_map(|(claim, value)| value.clone().map(|v| (claim, v)))
        .collect();
        Ok(BundlePolicy::Keyless {
            identity,
            issuer,
            claims,
        })
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
    /// Use the trusted root last refreshed through TUF (`sigward trusted-root update`), from the
    /// verified cache, offline.
    #[arg(long, conflicts_with_all = ["trusted_root", "staging"])]
    tuf: bool,
    #[command(flatten)]
    tuf_repository: crate::tuf::TufArgs,
}

impl TrustArgs {
    /// Whether a trust root was named on the command line.
    pub fn given(&self) -> bool {
        self.trusted_root.is_some() || self.staging || self.tuf
    }

    /// Loads the trust material the flags name.
    pub fn load(&self) -> Result<TrustMaterial, String> {
        if self.tuf {
            return self.tuf_repository.load_offline();
        }
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

/// `sigward verify-blob` (cosign's flags).
#[derive(Debug, clap::Args)]
pub struct VerifyBlobArgs {
    /// A bundle: a Sigstore bundle, or cosign's blob bundle (told apart by content).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// A detached signature (base64, as `sign-blob` prints it), checked with --key alone.
    #[arg(long, conflicts_with = "bundle")]
    signature: Option<PathBuf>,
    /// Accepted for cosign compatibility: the bundle format is recognised from its content.
    #[arg(long)]
    new_bundle_format: bool,
    /// Accept a detached signature without transparency-log evidence.
    #[arg(long)]
    insecure_ignore_tlog: bool,
    #[command(flatten)]
    signer: SignerArgs,
    #[command(flatten)]
    trust: TrustArgs,
    /// The signed file.
    file: PathBuf,
}

/// Runs `verify-blob`.
pub fn verify_blob_command(args: &VerifyBlobArgs) -> Result<(), String> {
    let _ = args.new_bundle_format;
    let blob = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let policy = args.signer.policy()?;
    if let Some(path) = &args.signature {
        let BundlePolicy::Key(key) = &policy else {
            return Err(
                "a detached --signature is checked with --key; keyless needs --bundle".into(),
            );
        };
        if !args.insecure_ignore_tlog {
            return Err(
                "a detached signature carries no transparency-log evidence: pass --bundle, \
                        or --insecure-ignore-tlog to check it against the key alone"
                    .into(),
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--signature {}: {e}", path.display()))?;
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("--signature {}: not base64: {e}", path.display()))?;
        key.verify(&blob, &raw)
            .map_err(|e| format!("{}: {e}", args.file.display()))?;
        eprintln!("Verified OK");
        return Ok(());
    }
    let Some(path) = &args.bundle else {
        return Err("give --bundle, or --signature with --key".into());
    };
    let json = std::fs::read(path).map_err(|e| format!("--bundle {}: {e}", path.display()))?;
    let bundle = if sigward_verify::blob::is_sigstore_bundle(&json) {
        parse_bundle(&json)
    } else {
        sigward_verify::blob::cosign_blob_bundle(&json, &blob)
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let trust = args.trust.load()?;
    verify_bundle(&trust, &bundle, ArtifactInput::Bytes(&blob), &policy)
        .map_err(|e| format!("{}: {e}", args.file.display()))?;
    eprintln!("Verified OK");
    Ok(())
}

/// `sigward sign-blob` (cosign's flags).
#[derive(Debug, clap::Args)]
pub struct SignBlobArgs {
    /// Private key file (cosign's encrypted format, or unencrypted PKCS#8/SEC1/PKCS#1).
    #[arg(long)]
    key: PathBuf,
    /// Log the signature in the transparency log (cosign's default).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    tlog_upload: bool,
    /// The transparency log (Rekor v1 API).
    #[arg(long, default_value = sigward_sign::rekor::PUBLIC_GOOD_REKOR_URL)]
    rekor_url: String,
    #[command(flatten)]
    trust: TrustArgs,
    /// Write a bundle here (cosign's blob bundle, or a Sigstore bundle with --new-bundle-format).
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Write the bundle as a Sigstore bundle (v0.3; it carries the log's inclusion proof, so
    /// it needs the transparency log).
    #[arg(long)]
    new_bundle_format: bool,
    /// Write the base64 signature here instead of standard output.
    #[arg(long)]
    output_signature: Option<PathBuf>,
    /// Accepted for cosign compatibility: sigward does not prompt.
    #[arg(short = 'y', long)]
    yes: bool,
    /// The file to sign.
    file: PathBuf,
}

/// Runs `sign-blob`.
pub async fn sign_blob_command(args: SignBlobArgs) -> Result<(), String> {
    use base64::Engine;
    let _ = args.yes;
    if args.new_bundle_format && args.bundle.is_some() && !args.tlog_upload {
        return Err(
            "a Sigstore bundle carries the log's inclusion proof: --new-bundle-format needs the \
                    transparency log (drop --tlog-upload=false, or write --output-signature)"
                .into(),
        );
    }
    let blob = std::fs::read(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let key = keys::load_private_key(&args.key)?;
    let signature = key.sign(&blob).map_err(|e| e.to_string())?;
    let digest_value = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &blob);
    let mut digest = [0u8; 32];
    digest.copy_from_slice(digest_value.as_ref());
    let public = key.public_key();
    let entry = if args.tlog_upload {
        let rekor = sigward_sign::rekor::RekorClient::new(
            &args.rekor_url,
            &sigward_http::TlsTrust::default(),
        )
        .map_err(|e| e.to_string())?;
        let entry = rekor
            .upload_hashedrekord(&digest, &signature, &public.to_pem())
            .await
            .map_err(|e| e.to_string())?;
        // Check the log's answer as a verifier will, before writing anything.
        if args.trust.given() || args.rekor_url == sigward_sign::rekor::PUBLIC_GOOD_REKOR_URL {
            let trust = args.trust.load()?;
            let json = sigward_sign::bundle::cosign_blob_bundle(&signature, &entry);
            let bundle = sigward_verify::blob::cosign_blob_bundle(json.as_bytes(), &blob)
                .map_err(|e| e.to_string())?;
            verify_bundle(
                &trust,
                &bundle,
                ArtifactInput::Bytes(&blob),
                &BundlePolicy::Key(public.clone()),
            )
            .map_err(|e| format!("the transparency log's entry does not verify: {e}"))?;
        } else {
            eprintln!(
                "warning: the answer of {} is not checked: pass --trusted-root with its key",
                args.rekor_url
            );
        }
        eprintln!("tlog entry created with index: {}", entry.log_index);
        Some(entry)
    } else {
        None
    };
    if let Some(path) = &args.bundle {
        let json = match (&entry, args.new_bundle_format) {
            (_, true) => sigward_sign::bundle::sigstore_bundle(&signature, &digest, entry.as_ref()).map_err(|e| e.to_string())?,
            (Some(entry), false) => sigward_sign::bundle::cosign_blob_bundle(&signature, entry),
            (None, false) => {
                return Err("cosign's blob bundle holds a log entry: with --tlog-upload=false use --new-bundle-format or --output-signature".into())
            }
        };
        std::fs::write(path, json).map_err(|e| format!("--bundle {}: {e}", path.display()))?;
        eprintln!("Wrote bundle to {}", path.display());
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(&signature);
    match &args.output_signature {
        Some(path) => std::fs::write(path, &encoded)
            .map_err(|e| format!("--output-signature {}: {e}", path.display()))?,
        None => println!("{encoded}"),
    }
    Ok(())
}
