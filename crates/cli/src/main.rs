//! `sigward`: sign container images and verify their signatures, cosign-compatibly.
//!
//! Each subcommand parses flags (cosign's names where cosign has the same feature), builds the
//! registry client and the engine, runs one engine call, and turns its result into output and
//! an exit code: 0 when everything asked for succeeded, 1 otherwise, with the reason on stderr
//! (2 for a command line that does not parse). With several images, every image is attempted
//! and every failure reported.

mod admission;
mod blob;
mod keys;
mod output;
mod registry_args;
mod tuf;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::registry_args::RegistryArgs;

#[derive(Debug, Parser)]
#[command(
    name = "sigward",
    version,
    about = "Sign container images and enforce their signatures, the Sigstore way"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a key pair in cosign's format: an encrypted private key and a PEM public key.
    GenerateKeyPair(keys::GenerateKeyPairArgs),
    /// Sign images with a private key, storing signatures the way cosign does.
    Sign(SignArgs),
    /// Verify image signatures against a public key or a keyless identity.
    Verify(VerifyArgs),
    /// Verify attestations (in-toto statements in Sigstore bundles) attached to images.
    VerifyAttestation(VerifyAttestationArgs),
    /// Sign a file (cosign's sign-blob): a signature, optionally logged and bundled.
    SignBlob(blob::SignBlobArgs),
    /// Verify a file's signature or bundle (cosign's verify-blob).
    VerifyBlob(blob::VerifyBlobArgs),
    /// Manage the trusted root (Fulcio CAs, Rekor and CT log keys, TSAs).
    #[command(subcommand)]
    TrustedRoot(TrustedRootCommand),
    /// Verify a Sigstore bundle over a file or a digest (the sigstore-conformance protocol).
    VerifyBundle(blob::VerifyBundleArgs),
    /// Run the admission webhook: enforce image policies for kube-apiserver over HTTPS.
    Serve(admission::ServeArgs),
    /// Check policy files, evaluate them against images without a cluster, print the CRDs.
    #[command(subcommand)]
    Policy(admission::PolicyCommand),
}

/// `sigward sign`.
#[derive(Debug, clap::Args)]
struct SignArgs {
    /// Private key file (cosign's encrypted format; password from COSIGN_PASSWORD or a prompt).
    #[arg(long)]
    key: std::path::PathBuf,
    /// Extra claim to sign, key=value (repeatable).
    #[arg(short = 'a', long = "annotations", value_parser = parse_key_value)]
    annotations: Vec<(String, String)>,
    /// When the image is an index, also sign every manifest it lists.
    #[arg(long, short = 'r')]
    recursive: bool,
    /// Log the signature in the transparency log (cosign's default); false keeps it out.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    tlog_upload: bool,
    /// The transparency log (Rekor v1 API).
    #[arg(long, default_value = sigward_sign::rekor::PUBLIC_GOOD_REKOR_URL)]
    rekor_url: String,
    #[command(flatten)]
    trust: blob::TrustArgs,
    /// Store a Sigstore bundle as an OCI 1.1 referrer (fallback tag where the registry has no
    /// referrers API) instead of cosign's `.sig` layout.
    #[arg(long)]
    bundle_format: bool,
    /// A certificate (PEM) for the signing key, e.g. from a customer CA, attached to the signature.
    #[arg(long, conflicts_with = "bundle_format")]
    certificate: Option<std::path::PathBuf>,
    /// The certificate's chain (PEM, intermediates then root), attached too.
    #[arg(long, requires = "certificate")]
    certificate_chain: Option<std::path::PathBuf>,
    /// Skip confirmation prompts (accepted for cosign compatibility; sigward does not prompt).
    #[arg(short = 'y', long)]
    yes: bool,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Images to sign (a tag is resolved once; the signature names the digest).
    #[arg(required = true)]
    images: Vec<String>,
}

/// `sigward trusted-root ...`.
#[derive(Debug, Subcommand)]
enum TrustedRootCommand {
    /// Fetch the current trusted root through TUF, verified, into the cache (then use --tuf).
    Update(tuf::UpdateArgs),
}

/// `sigward verify`.
#[derive(Debug, clap::Args)]
struct VerifyArgs {
    #[command(flatten)]
    signer: blob::SignerArgs,
    #[command(flatten)]
    trust: blob::TrustArgs,
    /// Accept key signatures that carry no transparency-log entry (cosign's flag).
    #[arg(long)]
    insecure_ignore_tlog: bool,
    /// Customer PKI: CA root certificates (PEM) the signing certificate must chain to; the
    /// subject is --certificate-identity (an email) or --certificate-hostname.
    #[arg(long, conflicts_with_all = [
        "key", "certificate_oidc_issuer", "certificate_oidc_issuer_regexp",
        "certificate_identity_regexp", "trusted_root", "staging", "insecure_ignore_tlog",
    ])]
    ca_roots: Option<std::path::PathBuf>,
    /// Customer PKI: intermediate CA certificates (PEM).
    #[arg(long, requires = "ca_roots")]
    ca_intermediates: Option<std::path::PathBuf>,
    /// Customer PKI: the DNS name the signing certificate must carry.
    #[arg(long, requires = "ca_roots")]
    certificate_hostname: Option<String>,
    /// Require this signed claim, key=value (repeatable).
    #[arg(short = 'a', long = "annotations", value_parser = parse_key_value)]
    annotations: Vec<(String, String)>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = output::Format::Json)]
    output: output::Format,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Images to verify.
    #[arg(required = true)]
    images: Vec<String>,
}

/// `sigward verify-attestation`.
#[derive(Debug, clap::Args)]
struct VerifyAttestationArgs {
    /// Predicate type: a URI, or one of cosign's names (slsaprovenance, slsaprovenance1, spdx,
    /// spdxjson, cyclonedx, vuln, custom).
    #[arg(long = "type", default_value = "custom")]
    predicate_type: String,
    #[command(flatten)]
    verify: VerifyArgs,
}

/// cosign's `--type` names for well-known predicate types.
fn predicate_type_uri(name: &str) -> String {
    match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        uri => uri,
    }
    .to_string()
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::GenerateKeyPair(args) => keys::generate_key_pair(&args),
        Command::Sign(args) => block_on(false, sign(args)),
        Command::Verify(args) => block_on(false, verify_with(args, None)),
        Command::VerifyBundle(args) => blob::verify_bundle_command(&args),
        Command::TrustedRoot(TrustedRootCommand::Update(args)) => tuf::update(&args),
        Command::SignBlob(args) => block_on(false, blob::sign_blob_command(args)),
        Command::VerifyBlob(args) => blob::verify_blob_command(&args),
        Command::Serve(args) => block_on(true, admission::serve(args)),
        Command::Policy(admission::PolicyCommand::Lint(args)) => admission::lint(&args),
        Command::Policy(admission::PolicyCommand::Crds(args)) => admission::crds(&args),
        Command::Policy(admission::PolicyCommand::Test(args)) => {
            block_on(false, admission::test(args))
        }
        Command::VerifyAttestation(args) => {
            let predicate = predicate_type_uri(&args.predicate_type);
            block_on(false, verify_with(args.verify, Some(predicate)))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command's future to completion. `serve` gets a worker thread per core, to answer
/// reviews concurrently; every other command does one thing at a time, so the calling thread
/// drives its I/O itself: no worker threads to start and no hand-over between threads at each
/// socket event (both measurable in a whole `sigward verify`, which lasts a few milliseconds).
fn block_on(
    multi_thread: bool,
    command: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(command)
}

fn parse_images(images: &[String]) -> Result<Vec<sigward_oci::ImageReference>, String> {
    images
        .iter()
        .map(|s| sigward_oci::ImageReference::parse(s).map_err(|e| format!("image {s:?}: {e}")))
        .collect()
}

async fn sign(args: SignArgs) -> Result<(), String> {
    let _ = args.yes;
    let images = parse_images(&args.images)?;
    let key = keys::load_private_key(&args.key)?;
    let engine = sigward_engine::Engine::new(args.registry.client()?);
    let mut options = sigward_engine::SignOptions {
        annotations: args.annotations,
        recursive: args.recursive,
        bundle_format: args.bundle_format,
        ..Default::default()
    };
    if let Some(path) = &args.certificate {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))
        };
        let certificate = read(path)?;
        // The certificate must be for the key that signs, as cosign checks.
        let cert_key = sigward_verify::pki::certificate_public_key(&certificate)
            .map_err(|e| format!("--certificate {}: {e}", path.display()))?;
        if cert_key != key.public_key() {
            return Err(format!(
                "--certificate {} is not for the key in --key",
                path.display()
            ));
        }
        let chain = args.certificate_chain.as_deref().map(read).transpose()?;
        options.certificate = Some((certificate, chain));
    }
    if args.tlog_upload {
        let rekor = sigward_sign::rekor::RekorClient::new(
            &args.rekor_url,
            &sigward_http::TlsTrust::default(),
        )
        .map_err(|e| e.to_string())?;
        options.rekor = Some(rekor);
        if args.trust.given() || args.rekor_url == sigward_sign::rekor::PUBLIC_GOOD_REKOR_URL {
            options.trust = Some(std::sync::Arc::new(args.trust.load()?));
        } else {
            eprintln!(
                "warning: the answer of {} is not checked before it is stored: pass --trusted-root with its key",
                args.rekor_url
            );
        }
    }
    let mut failed = Vec::new();
    for image in &images {
        match engine.sign_image(image, &key, &options).await {
            Ok(outcomes) => {
                for o in outcomes {
                    if args.bundle_format {
                        let referrer = o
                            .signature_manifest
                            .map(|d| d.to_string())
                            .unwrap_or_default();
                        eprintln!(
                            "Signed {}@{} (bundle referrer {referrer})",
                            image.name(),
                            o.digest
                        );
                    } else if o.already_signed {
                        eprintln!(
                            "{}@{}: already signed with this key; nothing added",
                            image.name(),
                            o.digest
                        );
                    } else {
                        eprintln!("Signed {}@{}", image.name(), o.digest);
                    }
                }
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\nError: "))
    }
}

async fn verify_with(args: VerifyArgs, predicate_type: Option<String>) -> Result<(), String> {
    let images = parse_images(&args.images)?;
    let mut options = sigward_engine::VerifyOptions {
        annotations: args.annotations,
        predicate_type,
        ..Default::default()
    };
    if let Some(roots_path) = &args.ca_roots {
        let read =
            |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
        let intermediates = match &args.ca_intermediates {
            Some(p) => read(p)?,
            None => Vec::new(),
        };
        let roots = sigward_verify::pki::PkiRoots::from_pem(&read(roots_path)?, &intermediates)
            .map_err(|e| format!("--ca-roots {}: {e}", roots_path.display()))?;
        let subject =
            match (&args.certificate_hostname, args.signer.exact_identity()) {
                (Some(host), _) => sigward_verify::pki::PkiSubject::Hostname(host.clone()),
                (None, Some(email)) => sigward_verify::pki::PkiSubject::Email(email.to_string()),
                (None, None) => return Err(
                    "--ca-roots needs --certificate-identity (an email) or --certificate-hostname"
                        .into(),
                ),
            };
        options.pki = Some((std::sync::Arc::new(roots), subject));
        let engine = sigward_engine::Engine::new(args.registry.client()?);
        return verify_images(&engine, &images, &options, args.output).await;
    }
    match args.signer.policy()? {
        sigward_verify::bundle::BundlePolicy::Key(key) => options.keys.push(key),
        sigward_verify::bundle::BundlePolicy::Keyless {
            identity,
            issuer,
            claims,
        } => {
            if args.insecure_ignore_tlog {
                return Err(
                    "keyless signatures are only trusted with their transparency-log entry: \
                            drop --insecure-ignore-tlog"
                        .into(),
                );
            }
            options.keyless.push(sigward_engine::KeylessIdentity {
                identity,
                issuer,
                claims,
            });
        }
    }
    if !args.insecure_ignore_tlog {
        options.trust = Some(std::sync::Arc::new(args.trust.load()?));
    }
    let engine = sigward_engine::Engine::new(args.registry.client()?);
    verify_images(&engine, &images, &options, args.output).await
}

async fn verify_images(
    engine: &sigward_engine::Engine,
    images: &[sigward_oci::ImageReference],
    options: &sigward_engine::VerifyOptions,
    format: output::Format,
) -> Result<(), String> {
    let mut failed = Vec::new();
    for image in images {
        match engine.verify_image(image, options).await {
            Ok(v) => output::print_verification(&v, format, options.trust.is_some()),
            Err(e) => failed.push(e.to_string()),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\nError: "))
    }
}
