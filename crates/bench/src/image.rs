//! `sigward-bench image`: latency of one keyless image verification against a registry,
//! in-process, cold and warm.
//!
//! Data flow of one verification (the engine's, unchanged): image tag -> manifest GET (digest
//! computed from the bytes) -> the `sha256-<hex>.sig` manifest -> its layers (payload blobs)
//! -> each cosign signature checked offline (Fulcio chain, SCT, Rekor SET, signature, payload
//! claims, identity and issuer) -> [`ImageVerification`](sigward_engine::ImageVerification).
//! Referrers are consulted only when the `.sig` tag yields nothing acceptable.
//!
//! - **cold**: every iteration builds a new `RegistryClient` and `Engine`, so nothing is
//!   reused: new TCP connections, the registry's scheme found again (on a plain-HTTP
//!   registry with `--allow-http`, after the HTTPS attempt fails), no cached token. This is the first
//!   verification of an image by a fresh `sigward verify` process, minus process start and
//!   trusted-root loading, which are reported separately.
//! - **warm**: one client for every iteration (after one untimed verification), so pooled
//!   connections, the registry's scheme and tokens are reused; no verification result is
//!   cached, so every iteration still fetches and verifies. This is a long-running verifier
//!   (the admission webhook) seeing an image it has not cached.
//!
//! - **first in process**: one sample, taken before anything else, of the same work as a
//!   cold iteration; what it costs above a cold iteration is per-process initialisation.
//!
//! Runs on a current-thread tokio runtime so that all the work, TLS and HTTP included, happens
//! on the measuring thread and its CPU time is the verification's CPU time. The registry runs
//! on the same machine and its CPU time is not counted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigward_engine::{Engine, KeylessIdentity, VerifyOptions};
use sigward_oci::credentials::CredentialSource;
use sigward_oci::{ClientConfig, ImageReference, RegistryClient};
use sigward_verify::bundle::{Matcher, TrustMaterial};

use crate::cpu;
use crate::summary::{human, Samples};

/// What to verify and how often.
#[derive(Debug, Clone)]
pub struct ImageBench {
    /// The image, by tag or digest.
    pub image: String,
    /// Required certificate SAN.
    pub identity: String,
    /// Required OIDC issuer.
    pub issuer: String,
    /// The trusted root of the Sigstore instance that signed it.
    pub trusted_root: PathBuf,
    /// Timed iterations per mode.
    pub count: usize,
    /// Untimed iterations before each mode.
    pub warmup: usize,
    /// Allow plain HTTP registries.
    pub allow_http: bool,
}

/// Request counts of one client, read before and after a verification.
#[derive(Debug, Default, Clone, Copy)]
struct Requests {
    api: u64,
    auth: u64,
}

impl Requests {
    fn of(client: &RegistryClient) -> Self {
        Requests {
            api: client.stats().api_requests(),
            auth: client.stats().auth_requests(),
        }
    }

    fn since(self, before: Requests) -> Requests {
        Requests {
            api: self.api - before.api,
            auth: self.auth - before.auth,
        }
    }
}

struct Setup {
    image: ImageReference,
    options: VerifyOptions,
    config: ClientConfig,
}

async fn verify_once(setup: &Setup, engine: &Engine) -> Result<(), String> {
    let verified = engine
        .verify_image(&setup.image, &setup.options)
        .await
        .map_err(|e| e.to_string())?;
    if verified.signatures.is_empty() {
        return Err(format!("{}: no signature verified", setup.image));
    }
    Ok(())
}

fn new_engine(setup: &Setup) -> Result<Engine, String> {
    RegistryClient::new(setup.config.clone())
        .map(Engine::new)
        .map_err(|e| e.to_string())
}

struct Measured {
    label: &'static str,
    samples: Samples,
    requests: Option<Requests>,
    cpu: Option<Duration>,
}

/// The process's first verification, alone: it also pays every one-time cost of the process
/// (lazy initialisation in the TLS and crypto libraries, first page faults), as
/// `sigward verify` does on every run.
async fn first(setup: &Setup) -> Result<Measured, String> {
    let mut samples = Samples::default();
    let cpu_start = cpu::thread_cpu_time();
    let t = Instant::now();
    let engine = new_engine(setup)?;
    verify_once(setup, &engine).await?;
    samples.push(t.elapsed());
    Ok(Measured {
        label: "first in process: new client + verify",
        samples,
        requests: Some(Requests::of(engine.client())),
        cpu: cpu::elapsed(cpu_start),
    })
}

async fn cold(setup: &Setup, bench: &ImageBench) -> Result<Vec<Measured>, String> {
    for _ in 0..bench.warmup {
        verify_once(setup, &new_engine(setup)?).await?;
    }
    let mut construct = Samples::default();
    let mut verify = Samples::default();
    let mut total = Samples::default();
    let mut requests = Requests::default();
    let cpu_start = cpu::thread_cpu_time();
    for _ in 0..bench.count {
        let t0 = Instant::now();
        let engine = new_engine(setup)?;
        let t1 = Instant::now();
        verify_once(setup, &engine).await?;
        let t2 = Instant::now();
        construct.push(t1 - t0);
        verify.push(t2 - t1);
        total.push(t2 - t0);
        let r = Requests::of(engine.client());
        requests.api += r.api;
        requests.auth += r.auth;
    }
    let cpu_used = cpu::elapsed(cpu_start);
    Ok(vec![
        Measured {
            label: "cold: RegistryClient::new",
            samples: construct,
            requests: None,
            cpu: None,
        },
        Measured {
            label: "cold: verify_image, new client",
            samples: verify,
            requests: Some(requests),
            cpu: None,
        },
        Measured {
            label: "cold: both",
            samples: total,
            requests: Some(requests),
            cpu: cpu_used,
        },
    ])
}

async fn warm(setup: &Setup, bench: &ImageBench) -> Result<Measured, String> {
    let engine = new_engine(setup)?;
    for _ in 0..bench.warmup.max(1) {
        verify_once(setup, &engine).await?;
    }
    let mut samples = Samples::default();
    let before = Requests::of(engine.client());
    let cpu_start = cpu::thread_cpu_time();
    for _ in 0..bench.count {
        let t = Instant::now();
        verify_once(setup, &engine).await?;
        samples.push(t.elapsed());
    }
    let cpu_used = cpu::elapsed(cpu_start);
    Ok(Measured {
        label: "warm: verify_image, shared client",
        samples,
        requests: Some(Requests::of(engine.client()).since(before)),
        cpu: cpu_used,
    })
}

/// Verifies the image `count` times cold and `count` times warm and prints the figures.
pub fn run(bench: &ImageBench) -> Result<(), String> {
    if bench.count == 0 {
        return Err("--count must be at least 1".into());
    }
    let image = ImageReference::parse(&bench.image).map_err(|e| format!("--image: {e}"))?;
    let root_json = std::fs::read(&bench.trusted_root)
        .map_err(|e| format!("{}: {e}", bench.trusted_root.display()))?;
    let t = Instant::now();
    let trust = TrustMaterial::from_trusted_root_json(&root_json)
        .map_err(|e| format!("{}: {e}", bench.trusted_root.display()))?;
    let trust_load = t.elapsed();
    let setup = Setup {
        image,
        options: VerifyOptions {
            keyless: vec![KeylessIdentity {
                identity: Matcher::Exact(bench.identity.clone()),
                issuer: Matcher::Exact(bench.issuer.clone()),
                claims: Vec::new(),
            }],
            trust: Some(Arc::new(trust)),
            ..VerifyOptions::default()
        },
        config: ClientConfig {
            allow_http: bench.allow_http,
            credentials: CredentialSource {
                ignore_docker_config: true,
                ..CredentialSource::default()
            },
            ..ClientConfig::default()
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let mut measured = vec![runtime.block_on(first(&setup))?];
    measured.extend(runtime.block_on(cold(&setup, bench))?);
    measured.push(runtime.block_on(warm(&setup, bench))?);

    println!(
        "per-image keyless verification: {} ({} timed + {} untimed iterations per mode, current-thread runtime)",
        setup.image, bench.count, bench.warmup
    );
    println!(
        "trusted root parse + prepare (once, not in the figures below): {}",
        human(trust_load)
    );
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>20} {:>10}",
        "mode", "p50", "p99", "mean", "min", "max", "requests/verif", "CPU/verif"
    );
    for m in &measured {
        let Some(sum) = m.samples.summary() else {
            continue;
        };
        let n = m.samples.len() as f64;
        let requests = m.requests.map_or_else(String::new, |r| {
            format!(
                "{:.1} api + {:.1} auth",
                r.api as f64 / n,
                r.auth as f64 / n
            )
        });
        let cpu = m
            .cpu
            .map_or_else(String::new, |c| human(c / m.samples.len() as u32));
        println!(
            "{:<36} {:>9} {:>9} {:>9} {:>9} {:>9} {:>20} {:>10}",
            m.label,
            human(sum.p50),
            human(sum.p99),
            human(sum.mean),
            human(sum.min),
            human(sum.max),
            requests,
            cpu
        );
    }
    if bench.count < 100 {
        println!("(fewer than 100 samples: p99 is the maximum)");
    }
    Ok(())
}
