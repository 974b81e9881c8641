//! `sigward-bench`: the harness behind BENCHMARKS.md. It prints figures; it asserts nothing.
//!
//! Two questions, each answered in-process here and as whole processes (sigward against
//! cosign and sigstore-python, same inputs) by `scripts/bench.sh` with hyperfine:
//!
//! - `bundles`: how many offline Sigstore bundle verifications one core sustains, with every
//!   input parsed beforehand ([`bundles`]). This is the CPU-bound part of any verification and
//!   the ceiling of an admission webhook that has the evidence in hand.
//! - `image`: how long one keyless image verification takes against a registry, from a fresh
//!   client (cold) and from a long-lived one (warm) ([`image`]). This is what a user of
//!   `sigward verify` or a webhook seeing an uncached image waits for, and it is dominated by
//!   registry round trips, not cryptography.
//!
//! Every call is timed with `std::time::Instant`; latencies are nearest-rank percentiles over
//! all samples ([`summary`]); throughput is also given per CPU-second of the measuring thread
//! ([`cpu`]), because on a shared 2-core machine wall time alone mixes in other processes.

mod bundles;
mod cpu;
mod image;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Prints sigward's verification throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "sigward-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Offline bundle verifications per second, one thread, inputs parsed once.
    Bundles {
        /// sigstore-conformance vectors (folder with CASES.tsv): every PASS case is verified.
        #[arg(long)]
        suite: Option<PathBuf>,
        /// Seconds the timed loop runs.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// One more bundle to verify keyless (e.g. sigstore-python's against a local instance).
        #[arg(long, requires_all = ["artifact", "trusted_root", "identity", "issuer"])]
        bundle: Option<PathBuf>,
        /// The file the extra bundle signs.
        #[arg(long)]
        artifact: Option<PathBuf>,
        /// The extra bundle's trusted root.
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// The extra bundle's certificate SAN.
        #[arg(long)]
        identity: Option<String>,
        /// The extra bundle's OIDC issuer.
        #[arg(long)]
        issuer: Option<String>,
        /// How the extra bundle's group is labelled.
        #[arg(long, default_value = "extra bundle")]
        label: String,
    },
    /// Keyless image verification latency against a registry, cold and warm.
    Image {
        /// The signed image (registry/repository:tag or @digest).
        #[arg(long)]
        image: String,
        /// Required certificate SAN.
        #[arg(long)]
        identity: String,
        /// Required OIDC issuer.
        #[arg(long)]
        issuer: String,
        /// Trusted root of the Sigstore instance that signed the image.
        #[arg(long)]
        trusted_root: PathBuf,
        /// Timed iterations per mode.
        #[arg(long, default_value_t = 200)]
        count: usize,
        /// Untimed iterations before each mode.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Allow plain-HTTP registries.
        #[arg(long)]
        allow_http: bool,
    },
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Bundles {
            suite,
            seconds,
            bundle,
            artifact,
            trusted_root,
            identity,
            issuer,
            label,
        } => {
            let duration = Duration::try_from_secs_f64(seconds)
                .map_err(|e| format!("--seconds {seconds}: {e}"))?;
            let extra = match (bundle, artifact, trusted_root, identity, issuer) {
                (
                    Some(bundle),
                    Some(artifact),
                    Some(trusted_root),
                    Some(identity),
                    Some(issuer),
                ) => Some(bundles::ExtraBundle {
                    label,
                    bundle,
                    artifact,
                    trusted_root,
                    identity,
                    issuer,
                }),
                _ => None,
            };
            bundles::run(&bundles::BundleBench {
                suite,
                extra,
                duration,
            })
        }
        Command::Image {
            image,
            identity,
            issuer,
            trusted_root,
            count,
            warmup,
            allow_http,
        } => image::run(&image::ImageBench {
            image,
            identity,
            issuer,
            trusted_root,
            count,
            warmup,
            allow_http,
        }),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
