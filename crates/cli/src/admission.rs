//! `sigward serve` (the admission webhook) and `sigward policy lint|test`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sigward_engine::{Enforcer, EnforcerConfig, Engine, NoMatch, Outcome};
use sigward_webhook::{compile_paths, ServeConfig};

use crate::blob::TrustArgs;
use crate::registry_args::{parse_duration, RegistryArgs};

/// What to do with images no policy covers.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum NoMatchArg {
    /// Admit them (OpenShift's semantics).
    Allow,
    /// Deny them (policy-controller's default).
    Deny,
}

impl From<NoMatchArg> for NoMatch {
    fn from(a: NoMatchArg) -> Self {
        match a {
            NoMatchArg::Allow => NoMatch::Allow,
            NoMatchArg::Deny => NoMatch::Deny,
        }
    }
}

/// Policy and decision flags shared by `serve` and `policy test`.
#[derive(Debug, clap::Args)]
pub struct PolicyArgs {
    /// Policy file or directory of YAML/JSON files (repeatable): OpenShift ClusterImagePolicy /
    /// ImagePolicy and sigstore policy.sigstore.dev ClusterImagePolicy objects.
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// Images no policy covers: allow (default, OpenShift semantics) or deny.
    #[arg(long, value_enum, default_value = "allow")]
    no_match: NoMatchArg,
    /// Time budget for one review (keep it below the webhook's timeoutSeconds).
    #[arg(long, value_parser = parse_duration, default_value = "8s")]
    deadline: Duration,
    /// How long a passing verdict is reused.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    verdict_ttl: Duration,
    /// How long a failing verdict is reused.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    failure_ttl: Duration,
    /// How long a tag -> digest resolution is reused.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    digest_ttl: Duration,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl PolicyArgs {
    fn enforcer_config(&self) -> EnforcerConfig {
        EnforcerConfig {
            no_match: self.no_match.into(),
            verdict_ttl: self.verdict_ttl,
            failure_ttl: self.failure_ttl,
            digest_ttl: self.digest_ttl,
            ..EnforcerConfig::default()
        }
    }
}

/// `sigward serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Serving certificate chain (PEM); reloaded when the file changes.
    #[arg(long)]
    tls_cert: PathBuf,
    /// Serving private key (PEM); reloaded when the file changes.
    #[arg(long)]
    tls_key: PathBuf,
    /// How often policy and certificate files are checked for changes.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    reload_interval: Duration,
    /// Cluster mode: also enforce the policy objects in the Kubernetes API (OpenShift
    /// ClusterImagePolicy and ImagePolicy, sigstore ClusterImagePolicy), watched through the
    /// in-cluster service account or KUBECONFIG, on top of the `--policy` files; and read
    /// registries with each pod's pull secrets (its own, then its service account's).
    #[arg(long)]
    cluster: bool,
    #[command(flatten)]
    policy: PolicyArgs,
}

/// `sigward policy ...`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Check policy files: schema, the CRDs' validation rules, and whether sigward can enforce
    /// each policy as written. Errors name file:line.
    Lint(LintArgs),
    /// Evaluate the policies against images, without a cluster: the decision and why.
    Test(Box<TestArgs>),
    /// Print the CustomResourceDefinitions of the policy kinds sigward reads (OpenShift's
    /// ClusterImagePolicy/ImagePolicy, sigstore's ClusterImagePolicy) as one YAML stream.
    Crds(CrdsArgs),
}

/// `sigward policy lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    #[command(flatten)]
    trust: TrustArgs,
    /// Policy files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

/// `sigward policy crds`.
#[derive(Debug, clap::Args)]
pub struct CrdsArgs {
    /// Instead of printing, write one file per CRD and a kustomization.yaml listing them into
    /// this directory (deploy/crds in the repository).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// `sigward policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Namespace the images would run in (selects its ImagePolicies).
    #[arg(long, short = 'n', default_value = "default")]
    namespace: String,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Images, as written in a pod spec.
    #[arg(required = true)]
    images: Vec<String>,
}

pub async fn serve(args: ServeArgs) -> Result<(), String> {
    if args.policy.policies.is_empty() && !args.cluster {
        return Err("give policies: --policy FILE_OR_DIR (repeatable), and/or --cluster".into());
    }
    let trust = Arc::new(args.policy.trust.load()?);
    let client = args.policy.registry.client()?;
    let (cluster, pull_secrets) = if args.cluster {
        let cluster = sigward_cluster::Cluster::connect()
            .await
            .map_err(|e| e.to_string())?;
        (Some(cluster.watch_policies()), Some(cluster))
    } else {
        (None, None)
    };
    let config = ServeConfig {
        listen: args.listen,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        policy_paths: args.policy.policies.clone(),
        budget: args.policy.deadline,
        reload_interval: args.reload_interval,
        trust: Some(trust),
        enforcer: args.policy.enforcer_config(),
        cluster,
        pull_secrets,
    };
    sigward_webhook::serve(Engine::new(client), config)
        .await
        .map_err(|e| e.to_string())
}

pub fn lint(args: &LintArgs) -> Result<(), String> {
    let trust = Arc::new(args.trust.load()?);
    match compile_paths(&args.paths, Some(trust), 1) {
        Ok((compiled, unenforceable)) if unenforceable.is_empty() => {
            let n = compiled.len();
            println!("{n} {} OK", if n == 1 { "policy" } else { "policies" });
            Ok(())
        }
        Ok((_, unenforceable)) => {
            for e in &unenforceable {
                println!("{e}");
            }
            Err(format!(
                "{} {} cannot be enforced by sigward (in force, each fails every image it covers)",
                unenforceable.len(),
                if unenforceable.len() == 1 {
                    "policy"
                } else {
                    "policies"
                }
            ))
        }
        Err(errors) => {
            for e in &errors {
                println!("{e}");
            }
            Err(format!("{} error(s)", errors.len()))
        }
    }
}

pub fn crds(args: &CrdsArgs) -> Result<(), String> {
    let Some(dir) = &args.dir else {
        let yaml = sigward_policy::crd::crds_yaml();
        return std::io::Write::write_all(&mut std::io::stdout(), yaml.as_bytes())
            .map_err(|e| format!("stdout: {e}"));
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in sigward_policy::crd::deploy_files() {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

pub async fn test(args: Box<TestArgs>) -> Result<(), String> {
    if args.policy.policies.is_empty() {
        return Err("give policies: --policy FILE_OR_DIR (repeatable)".into());
    }
    let trust = Arc::new(args.policy.trust.load()?);
    let (compiled, unenforceable) = compile_paths(&args.policy.policies, Some(trust), 1)
        .map_err(|errors| format!("the policies do not load:\n  {}", errors.join("\n  ")))?;
    for e in &unenforceable {
        println!("warning: {e} (in force, it fails every image it covers)");
    }
    let client = args.policy.registry.client()?;
    let enforcer = Enforcer::new(Engine::new(client), compiled, args.policy.enforcer_config());
    let mut denied = 0;
    for image in &args.images {
        let verdict = enforcer
            .evaluate_image(&args.namespace, image, args.policy.deadline)
            .await;
        let outcome = verdict.outcome();
        let decision = match &outcome {
            Outcome::Allow => "ALLOW",
            Outcome::Deny(_) => "DENY",
            Outcome::AllowWithFindings { .. } => "ALLOW (with findings)",
        };
        println!("{image}: {decision}");
        if let Some(r) = &verdict.reference {
            print!("  pulled as {r}");
            match &verdict.digest {
                Some(d) => println!(" = {d}"),
                None => println!(),
            }
        }
        if verdict.policies.is_empty() && verdict.error.is_none() && !verdict.no_match_denied {
            println!("  no policy covers this image");
        }
        for c in &verdict.conflicts {
            println!("  note: {c}");
        }
        for p in &verdict.policies {
            match &p.result {
                Ok(a) => {
                    print!(
                        "  {} [{}]: accepted, signed by {}",
                        p.policy, p.mode, a.signer
                    );
                    if let Some(i) = a.log_index {
                        print!(", log index {i}");
                    }
                    if let Some(auth) = &a.authority {
                        print!(" (authority {auth})");
                    }
                    println!();
                }
                Err(reason) => println!("  {} [{}]: FAILED: {reason}", p.policy, p.mode),
            }
        }
        match outcome {
            Outcome::Deny(reasons) => {
                denied += 1;
                if verdict.policies.is_empty() {
                    for r in reasons {
                        println!("  {r}");
                    }
                }
            }
            Outcome::AllowWithFindings { .. } | Outcome::Allow => {}
        }
    }
    if denied > 0 {
        return Err(format!("{denied} of {} image(s) denied", args.images.len()));
    }
    Ok(())
}
