//! `sigward-bench bundles`: offline Sigstore bundle verifications per second on one thread.
//!
//! Data flow: `CASES.tsv` of the sigstore-conformance vectors -> every case expected to PASS
//! (plus, optionally, one extra bundle such as the one sigstore-python signed against the
//! local Sigstore instance) -> its trusted root parsed and prepared once (shared between cases
//! naming the same file), its bundle parsed once, its artifact read once -> each verified once
//! untimed (a case that does not verify stops the run: a benchmark of failures measures the
//! wrong thing) -> then `verify_bundle` called round-robin over the cases until the time is up,
//! each call timed with `Instant`.
//!
//! What one timed call covers is exactly what `sigward verify-bundle` does after loading its
//! inputs: certificate chain to the Fulcio CA, SCT, transparency-log evidence (Rekor v1 SET,
//! inclusion proof and checkpoint, or a Rekor v2 entry), RFC 3161 timestamps, the artifact
//! signature, and the identity/issuer (or key) policy. Parsing is reported separately, as a
//! one-time cost, because a verifier that keeps its trusted root pays it once per root update.
//!
//! Cases are grouped by what dominates their cost: managed key (no certificate chain), keyless
//! with a Rekor v1 entry, keyless with a Rekor v2 entry (hashedrekord/dsse 0.0.2, verified with
//! RFC 3161 timestamps instead of a SET), and the extra bundle.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigward_verify::bundle::{
    parse_bundle, verify_bundle, ArtifactInput, BundlePolicy, Matcher, TrustMaterial,
    PRODUCTION_TRUSTED_ROOT,
};
use sigward_verify::PublicKey;

use crate::cpu;
use crate::summary::{human, Samples};

/// What to load and how long to run.
#[derive(Debug, Clone)]
pub struct BundleBench {
    /// The sigstore-conformance vectors (the folder holding `CASES.tsv`).
    pub suite: Option<PathBuf>,
    /// One more bundle to include, e.g. sigstore-python's against the local instance.
    pub extra: Option<ExtraBundle>,
    /// How long the timed loop runs.
    pub duration: Duration,
}

/// A bundle outside the suite, verified keyless.
#[derive(Debug, Clone)]
pub struct ExtraBundle {
    /// Label printed for its group.
    pub label: String,
    /// The bundle JSON.
    pub bundle: PathBuf,
    /// The signed file.
    pub artifact: PathBuf,
    /// The trusted root it verifies under.
    pub trusted_root: PathBuf,
    /// Required certificate SAN.
    pub identity: String,
    /// Required OIDC issuer.
    pub issuer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Group {
    Key,
    KeylessRekorV1,
    KeylessRekorV2,
    Extra(String),
}

impl Group {
    fn label(&self) -> String {
        match self {
            Group::Key => "managed key (Rekor v1)".into(),
            Group::KeylessRekorV1 => "keyless, Rekor v1".into(),
            Group::KeylessRekorV2 => "keyless, Rekor v2".into(),
            Group::Extra(label) => label.clone(),
        }
    }
}

/// One loaded case: everything parsed, ready to verify.
struct Case {
    name: String,
    group: Group,
    verify: Box<dyn Fn() -> Result<(), String>>,
}

/// Trusted roots by file, parsed once and shared by every case naming the same file.
#[derive(Default)]
struct Roots {
    by_path: HashMap<String, Arc<TrustMaterial>>,
}

impl Roots {
    fn get(&mut self, path: Option<&Path>) -> Result<Arc<TrustMaterial>, String> {
        let key = path.map_or_else(|| "PRODUCTION".to_string(), |p| p.display().to_string());
        if let Some(trust) = self.by_path.get(&key) {
            return Ok(trust.clone());
        }
        let json = match path {
            Some(p) => std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?,
            None => PRODUCTION_TRUSTED_ROOT.as_bytes().to_vec(),
        };
        let trust = Arc::new(
            TrustMaterial::from_trusted_root_json(&json).map_err(|e| format!("{key}: {e}"))?,
        );
        self.by_path.insert(key, trust.clone());
        Ok(trust)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Rekor v2 entries are hashedrekord or dsse of version 0.0.2; every other kind is Rekor v1's.
fn keyless_group(bundle_json: &[u8]) -> Group {
    let value: serde_json::Value = serde_json::from_slice(bundle_json).unwrap_or_default();
    let kind = &value["verificationMaterial"]["tlogEntries"][0]["kindVersion"];
    let v2 = matches!(kind["kind"].as_str(), Some("hashedrekord" | "dsse"))
        && kind["version"].as_str() == Some("0.0.2");
    if v2 {
        Group::KeylessRekorV2
    } else {
        Group::KeylessRekorV1
    }
}

fn make_case(
    name: String,
    group: Group,
    trust: Arc<TrustMaterial>,
    bundle_json: &[u8],
    artifact: Vec<u8>,
    policy: BundlePolicy,
) -> Result<Case, String> {
    let bundle = parse_bundle(bundle_json).map_err(|e| format!("{name}: {e}"))?;
    let verify = Box::new(move || {
        verify_bundle(&trust, &bundle, ArtifactInput::Bytes(&artifact), &policy)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    Ok(Case {
        name,
        group,
        verify,
    })
}

/// The PASS cases of the suite in `dir`.
fn suite_cases(dir: &Path, roots: &mut Roots) -> Result<Vec<Case>, String> {
    let tsv = dir.join("CASES.tsv");
    let text = std::fs::read_to_string(&tsv).map_err(|e| format!("{}: {e}", tsv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| format!("{}: empty", tsv.display()))?
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{}: no column {name}", tsv.display()))
    };
    let c_case = col("case")?;
    let c_path = col("path")?;
    let c_expected = col("expected")?;
    let c_identity = col("certificate_identity")?;
    let c_issuer = col("certificate_oidc_issuer")?;
    let c_key = col("key")?;
    let c_root = col("trusted_root")?;
    let c_artifact = col("artifact")?;
    let mut cases = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let field = |i: usize| {
            f.get(i)
                .copied()
                .ok_or_else(|| format!("{}: short line {line:?}", tsv.display()))
        };
        if field(c_expected)? != "pass" {
            continue;
        }
        let name = field(c_case)?.to_string();
        let root = field(c_root)?;
        let trust = if root.starts_with("PRODUCTION") {
            roots.get(None)?
        } else {
            roots.get(Some(&dir.join(root)))?
        };
        let bundle_json = read(&dir.join(field(c_path)?).join("bundle.sigstore.json"))?;
        let artifact = read(&dir.join(field(c_artifact)?))?;
        let key = field(c_key)?;
        let (group, policy) = if key != "-" {
            let key = PublicKey::parse(&read(&dir.join(key))?)
                .map_err(|e| format!("{name}: key: {e}"))?;
            (Group::Key, BundlePolicy::Key(key))
        } else {
            let policy = BundlePolicy::Keyless {
                identity: Matcher::Exact(field(c_identity)?.to_string()),
                issuer: Matcher::Exact(field(c_issuer)?.to_string()),
                claims: Vec::new(),
            };
            (keyless_group(&bundle_json), policy)
        };
        cases.push(make_case(
            name,
            group,
            trust,
            &bundle_json,
            artifact,
            policy,
        )?);
    }
    Ok(cases)
}

fn extra_case(extra: &ExtraBundle, roots: &mut Roots) -> Result<Case, String> {
    make_case(
        extra.bundle.display().to_string(),
        Group::Extra(extra.label.clone()),
        roots.get(Some(&extra.trusted_root))?,
        &read(&extra.bundle)?,
        read(&extra.artifact)?,
        BundlePolicy::Keyless {
            identity: Matcher::Exact(extra.identity.clone()),
            issuer: Matcher::Exact(extra.issuer.clone()),
            claims: Vec::new(),
        },
    )
}

/// Mean time of `f` over `n` calls.
fn mean_of(n: u32, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    start.elapsed() / n
}

/// One-time costs a verifier pays outside the loop: trusted-root and bundle parsing.
fn print_setup_costs(suite: Option<&Path>, extra: Option<&ExtraBundle>) -> Result<(), String> {
    const N: u32 = 200;
    println!("one-time costs (mean of {N} calls):");
    let production = mean_of(N, || {
        let _ = std::hint::black_box(TrustMaterial::production());
    });
    println!(
        "  trusted root parse + prepare, public-good production: {}",
        human(production)
    );
    if let Some(extra) = extra {
        let json = read(&extra.trusted_root)?;
        let local = mean_of(N, || {
            let _ = std::hint::black_box(TrustMaterial::from_trusted_root_json(&json));
        });
        println!(
            "  trusted root parse + prepare, {}: {}",
            extra.trusted_root.display(),
            human(local)
        );
        let bundle = read(&extra.bundle)?;
        let parse = mean_of(N, || {
            let _ = std::hint::black_box(parse_bundle(&bundle));
        });
        println!(
            "  bundle parse, {} ({} bytes): {}",
            extra.label,
            bundle.len(),
            human(parse)
        );
    }
    if let Some(dir) = suite {
        let bundle =
            read(&dir.join("test/assets/bundle-verify/happy-path-v0.3/bundle.sigstore.json"))?;
        let parse = mean_of(N, || {
            let _ = std::hint::black_box(parse_bundle(&bundle));
        });
        println!(
            "  bundle parse, conformance happy-path-v0.3 ({} bytes): {}",
            bundle.len(),
            human(parse)
        );
    }
    Ok(())
}

/// Loads the cases, checks each verifies, runs the timed loop and prints the figures.
pub fn run(bench: &BundleBench) -> Result<(), String> {
    let mut roots = Roots::default();
    let mut cases = Vec::new();
    if let Some(dir) = &bench.suite {
        cases.extend(suite_cases(dir, &mut roots)?);
    }
    if let Some(extra) = &bench.extra {
        cases.push(extra_case(extra, &mut roots)?);
    }
    if cases.is_empty() {
        return Err("no bundles to verify: give --suite and/or --bundle".into());
    }
    for case in &cases {
        (case.verify)().map_err(|e| format!("{} does not verify: {e}", case.name))?;
    }
    let mut groups: Vec<Group> = cases.iter().map(|c| c.group.clone()).collect();
    groups.sort();
    groups.dedup();
    let count_in = |g: &Group| cases.iter().filter(|c| &c.group == g).count();
    println!(
        "bundle verification: {} bundles ({} trusted roots), round-robin on one thread for {:.1} s",
        cases.len(),
        roots.by_path.len(),
        bench.duration.as_secs_f64()
    );
    print_setup_costs(bench.suite.as_deref(), bench.extra.as_ref())?;

    let mut samples: HashMap<Group, Samples> = HashMap::new();
    let cpu_start = cpu::thread_cpu_time();
    let start = Instant::now();
    let mut total = 0u64;
    'run: loop {
        for case in &cases {
            let t = Instant::now();
            let outcome = (case.verify)();
            let took = t.elapsed();
            outcome.map_err(|e| format!("{} stopped verifying: {e}", case.name))?;
            samples.entry(case.group.clone()).or_default().push(took);
            total += 1;
            if start.elapsed() >= bench.duration {
                break 'run;
            }
        }
    }
    let wall = start.elapsed();
    let cpu_used = cpu::elapsed(cpu_start);

    println!(
        "{:<34} {:>5} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "group", "cases", "calls", "verifs/s", "mean", "p50", "p99"
    );
    let mut all = Samples::default();
    for group in &groups {
        let Some(s) = samples.get(group) else {
            continue;
        };
        all.extend(s);
        if let Some(sum) = s.summary() {
            println!(
                "{:<34} {:>5} {:>8} {:>10.0} {:>10} {:>10} {:>10}",
                group.label(),
                count_in(group),
                sum.count,
                sum.per_second(),
                human(sum.mean),
                human(sum.p50),
                human(sum.p99)
            );
        }
    }
    if let Some(sum) = all.summary() {
        println!(
            "{:<34} {:>5} {:>8} {:>10.0} {:>10} {:>10} {:>10}",
            "all (round-robin mix)",
            cases.len(),
            sum.count,
            total as f64 / wall.as_secs_f64(),
            human(sum.mean),
            human(sum.p50),
            human(sum.p99)
        );
    }
    println!("(verifs/s of a group = 1 / its mean: one thread verifying only that kind; of all = calls / wall time)");
    match cpu_used {
        Some(cpu_used) if cpu_used > Duration::ZERO => println!(
            "throughput: {:.0} verifications/s wall, {:.0} per CPU-second of the thread ({:.2} s CPU in {:.2} s wall, {:.0} % of a core)",
            total as f64 / wall.as_secs_f64(),
            total as f64 / cpu_used.as_secs_f64(),
            cpu_used.as_secs_f64(),
            wall.as_secs_f64(),
            100.0 * cpu_used.as_secs_f64() / wall.as_secs_f64()
        ),
        _ => println!(
            "throughput: {:.0} verifications/s wall (thread CPU time unavailable)",
            total as f64 / wall.as_secs_f64()
        ),
    }
    Ok(())
}
