//! `sigward-bench`: the harness behind BENCHMARKS.md. It prints figures; it asserts nothing.
//!
//! Two questions about verification, each answered in-process here and as whole processes
//! (sigward against cosign and sigstore-python, same inputs) by `scripts/bench.sh` with
//! hyperfine, and one about the admission webhook:
//!
//! - `bundles`: how many offline Sigstore bundle verifications one core sustains, with every
//!   input parsed beforehand ([`bundles`]). This is the CPU-bound part of any verification and
//!   the ceiling of an admission webhook that has the evidence in hand.
//! - `image`: how long one keyless image verification takes against a registry, from a fresh
//!   client (cold) and from a long-lived one (warm) ([`image`]). This is what a user of
//!   `sigward verify` or a webhook seeing an uncached image waits for, and it is dominated by
//!   registry round trips, not cryptography.
//! - `admission`: `sigward serve` started as a process and driven over HTTPS: reviews per
//!   second and latency with a warm cache, the first review of an image by a fresh process, a
//!   review whose verdict is not cached, and the server's memory ([`admission`]).
//!
//! Every call is timed with `std::time::Instant`; latencies are nearest-rank percentiles over
//! all samples ([`summary`]); throughput is also given per CPU-second of the measuring thread
//! ([`cpu`]), because on a shared 2-core machine wall time alone mixes in other processes.

mod admission;
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

// One value, parsed once: the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
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
    /// The admission webhook: `sigward serve` started here and sent AdmissionReviews over HTTPS.
    Admission {
        /// The `sigward` binary to start.
        #[arg(long)]
        sigward: PathBuf,
        /// Policy file or directory, passed to `sigward serve --policy` (repeatable).
        #[arg(long = "policy", required = true)]
        policies: Vec<PathBuf>,
        /// Serving certificate chain (PEM).
        #[arg(long)]
        tls_cert: PathBuf,
        /// Serving private key (PEM).
        #[arg(long)]
        tls_key: PathBuf,
        /// CA certificate of the serving certificate (the client trusts only it).
        #[arg(long)]
        ca: PathBuf,
        /// AdmissionReview (or bare request) of a Pod: every container image is replaced.
        #[arg(long)]
        review: PathBuf,
        /// An image signed with a key that the policies cover (warm, cold and uncached phases).
        #[arg(long)]
        key_image: String,
        /// An image signed keyless that the policies cover (cold and uncached phases).
        #[arg(long)]
        keyless_image: Option<String>,
        /// Distinct images `{prefix}0` .. `{prefix}{N-1}` (e.g. tags of one signed manifest)
        /// reviewed once each after the warm phase, to measure cache memory.
        #[arg(long)]
        distinct_prefix: Option<String>,
        /// How many distinct images.
        #[arg(long, default_value_t = 200)]
        distinct_count: usize,
        /// In-flight requests over one HTTP/2 connection, one run per value.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16,64")]
        concurrency: Vec<usize>,
        /// HTTP/1.1 connections (one request in flight each) of one more run; 0: none.
        #[arg(long, default_value_t = 16)]
        http1_concurrency: usize,
        /// Seconds each warm-cache run is timed.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Untimed seconds before each warm-cache run.
        #[arg(long, default_value_t = 1.0)]
        warmup_seconds: f64,
        /// Samples per image of the cold (fresh process each) and uncached phases.
        #[arg(long, default_value_t = 50)]
        samples: usize,
        /// `sigward serve --trusted-root` (keyless policies of a private Sigstore instance).
        #[arg(long)]
        trusted_root: Option<PathBuf>,
        /// `sigward serve --allow-http-registry`.
        #[arg(long)]
        allow_http: bool,
        /// The registry's process id: its CPU time is printed beside the server's and client's.
        #[arg(long)]
        registry_pid: Option<u32>,
        /// Another single image for the cold and uncached phases, as LABEL=IMAGE (repeatable):
        /// e.g. a digest-pinned reference, which needs no tag resolution.
        #[arg(long = "extra-image", value_name = "LABEL=IMAGE", value_parser = labelled)]
        extra_images: Vec<(String, String)>,
        /// A Pod of several images for the uncached phase, as LABEL=FILE (repeatable): FILE lists
        /// the images, one a line; the review has one container per image.
        #[arg(long = "pod", value_name = "LABEL=FILE", value_parser = labelled)]
        pods: Vec<(String, String)>,
        /// Open-loop runs on the warm server after the closed-loop ones: the review sent at each
        /// of these fixed rates (reviews/s) over the h2 connection; none by default.
        #[arg(long, value_delimiter = ',')]
        open_loop_rates: Vec<f64>,
    },
}

/// `LABEL=VALUE`, split at the first `=`.
fn labelled(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((label, value)) if !label.is_empty() && !value.is_empty() => {
            Ok((label.to_owned(), value.to_owned()))
        }
        _ => Err(format!("expected LABEL=VALUE, got {arg:?}")),
    }
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
        Command::Admission {
            sigward,
            policies,
            tls_cert,
            tls_key,
            ca,
            review,
            key_image,
            keyless_image,
            distinct_prefix,
            distinct_count,
            concurrency,
            http1_concurrency,
            seconds,
            warmup_seconds,
            samples,
            trusted_root,
            allow_http,
            registry_pid,
            extra_images,
            pods,
            open_loop_rates,
        } => admission::run(&admission::AdmissionBench {
            sigward,
            policies,
            tls_cert,
            tls_key,
            ca,
            review,
            key_image,
            keyless_image,
            distinct_prefix,
            distinct_count,
            concurrency,
            http1_concurrency,
            duration: Duration::try_from_secs_f64(seconds)
                .map_err(|e| format!("--seconds {seconds}: {e}"))?,
            warmup: Duration::try_from_secs_f64(warmup_seconds)
                .map_err(|e| format!("--warmup-seconds {warmup_seconds}: {e}"))?,
            samples,
            trusted_root,
            allow_http,
            registry_pid,
            extra_images,
            pods: pods
                .into_iter()
                .map(|(label, file)| (label, PathBuf::from(file)))
                .collect(),
            open_loop_rates,
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
