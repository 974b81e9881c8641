//! `sigward-bench admission`: `sigward serve` as kube-apiserver meets it: the real binary,
//! started here, and AdmissionReviews POSTed to it over HTTPS by this process.
//!
//! Data flow of one review (the server's, unchanged): TLS (rustls, h2 or HTTP/1.1) -> `POST
//! /validate` -> AdmissionReview parsed -> the object's images (the Pod fixture has two
//! containers, both set here to the image under test: one distinct image, one evaluation) ->
//! the policies covering it -> tag resolved to a digest (cache, `--digest-ttl`, default 30 s)
//! -> one verdict per policy (cache keyed by policy generation, policy, reference and digest,
//! `--verdict-ttl`, default 5 min; single-flight) -> response JSON.
//!
//! Phases, each against `sigward serve` processes started here (`--listen 127.0.0.1:0`, the
//! address read from its JSON "listening" log line), each figure printed with the server
//! command that produced it:
//!
//! 1. **warm cache**: one server with the default TTLs; its first review of the key-signed image
//!    verifies it, then `C` clients POST that same review for `--seconds` each (after
//!    `--warmup-seconds` untimed): `C` in-flight requests over one HTTP/2 connection (one
//!    reqwest client; the connection is opened before the load starts, and the server's
//!    established TCP connections are counted from `/proc/net/tcp` to show it), then
//!    `--http1-concurrency` clients over HTTP/1.1 (one request in flight per connection).
//!    Figures: reviews/s, latency percentiles, CPU of the server, the client and the registry,
//!    and the server's own counters from `/metrics` (verdict and digest cache hits, registry
//!    requests: a warm review makes none, except one tag resolution per `--digest-ttl`).
//!    Then, on the same server and h2 connection, **open loop** (`--open-loop-rates`): the
//!    review sent at a fixed rate whatever the answers take (a pacer thread schedules request
//!    `i` at `start + i / rate`; one task per request, as many in flight as it takes), latency
//!    measured from the scheduled send time, so that a stall of the server or of the client
//!    shows in the latency instead of slowing the load down (no coordinated omission).
//! 2. **distinct images**: the same server then reviews `--distinct-count` images it has never
//!    seen (distinct tags of one signed manifest: each tag is its own digest-cache and
//!    verdict-cache entry), 16 in flight, to show what filling the caches costs in memory.
//! 3. **cold**: the first review of an image by a server process that has never seen it, a
//!    fresh process per sample. A fresh process rather than a fresh image per sample, because
//!    that is the case a fresh image on a long-running server does not cover (and phase 4 does):
//!    the server's registry client has no connection, no `/v2/` ping and (on a plain-HTTP
//!    registry with `--allow-http-registry`) still makes its HTTPS attempt first. Only the
//!    review is timed, after `/readyz` answered 200, so the process start, the policy
//!    compilation and this client's TLS handshake (and with it aws-lc's one-time entropy
//!    collection in the server) are not in it; they are reported as their own rows.
//! 4. **uncached verdict on a warm server**: one server with `--verdict-ttl 1ms --digest-ttl
//!    1ms`, reviews one at a time: every review resolves the tag and verifies again, over the
//!    server's pooled registry connection (with an untimed 2 ms pause before each review, or
//!    the previous answer would still be fresh). This is a long-running webhook seeing an
//!    image it has not cached. Besides each single image, each `--pod`: a Pod with one
//!    container per listed image, whose images the server verifies concurrently.
//!
//! Phases 3 and 4 review the key-signed image, the keyless one and every `--extra-image`
//! (e.g. digest-pinned references, which skip tag resolution), and report the registry
//! requests per review from the server's `/metrics`, API and auth (ping, HTTPS attempt) apart.
//!
//! Memory: VmRSS and VmHWM of the server from `/proc/PID/status`, idle after start, after every
//! warm-cache row (VmHWM: the peak since the process started), after the distinct images.
//! CPU: the run time of every thread of the server, of this process and (`--registry-pid`) of
//! the registry (`/proc/PID/task/*/schedstat`, nanoseconds), summed at the start and end of
//! each timed window. A thread that exits inside
//! a window would be missed; none does here (the server runs its main thread and tokio's
//! workers and no blocking-pool work, and Go keeps its threads).
//!
//! The client runs on a current-thread tokio runtime, so it uses at most one core; on a 2-core
//! machine it competes with the server (and the registry) for CPU, and its share is printed.
//! Every response must be a 200 that allows the Pod; anything else is counted as an error and
//! the first one is printed. Nothing is asserted: the harness prints, people read.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::summary::{human, Samples};

/// What to start, what to post and for how long.
#[derive(Debug, Clone)]
pub struct AdmissionBench {
    /// The `sigward` binary.
    pub sigward: PathBuf,
    /// Policy files or directories (`--policy`).
    pub policies: Vec<PathBuf>,
    /// Serving certificate (PEM).
    pub tls_cert: PathBuf,
    /// Serving key (PEM).
    pub tls_key: PathBuf,
    /// CA certificate the client trusts the serving certificate with.
    pub ca: PathBuf,
    /// AdmissionReview (or bare request) of a Pod; its container images are replaced.
    pub review: PathBuf,
    /// An image signed with a key, covered by the policies (warm and cold phases).
    pub key_image: String,
    /// An image signed keyless, covered by the policies (cold and uncached phases).
    pub keyless_image: Option<String>,
    /// Distinct images are `{prefix}{i}` for `i` in `0..distinct_count`.
    pub distinct_prefix: Option<String>,
    /// How many distinct images phase 2 reviews.
    pub distinct_count: usize,
    /// In-flight requests over one HTTP/2 connection, one run each.
    pub concurrency: Vec<usize>,
    /// HTTP/1.1 connections (one request in flight each) of one more run; 0: none.
    pub http1_concurrency: usize,
    /// Timed part of each warm-cache run.
    pub duration: Duration,
    /// Untimed part before it.
    pub warmup: Duration,
    /// Samples per image in the cold and uncached phases.
    pub samples: usize,
    /// `--trusted-root` of the server.
    pub trusted_root: Option<PathBuf>,
    /// `--allow-http-registry` on the server.
    pub allow_http: bool,
    /// The registry's process, whose CPU time is read too (it runs on the same machine).
    pub registry_pid: Option<u32>,
    /// More single images for the cold and uncached phases, as (label, image): e.g.
    /// digest-pinned references, which need no tag resolution.
    pub extra_images: Vec<(String, String)>,
    /// Pods of several images for the uncached phase, as (label, file listing the images one a
    /// line): one container per image, all verified concurrently by the server.
    pub pods: Vec<(String, PathBuf)>,
    /// Fixed arrival rates (reviews/s) of the open-loop runs on the warm server.
    pub open_loop_rates: Vec<f64>,
}

/// In-flight reviews while the distinct images are reviewed.
const DISTINCT_CONCURRENCY: usize = 16;

/// Untimed reviews per image before the uncached samples.
const UNCACHED_WARMUP: usize = 3;

/// Untimed pause before each uncached review, so that the 1 ms TTLs of the previous answer
/// have lapsed (a warm round trip takes less than that: without it some reviews hit).
const UNCACHED_PAUSE: Duration = Duration::from_millis(2);

/// Server log lines kept for error messages.
const LOG_LINES: usize = 30;

/// A running `sigward serve`, killed (by its pid, SIGKILL) when dropped.
struct Server {
    child: Child,
    pid: u32,
    url: String,
    port: u16,
    started: Instant,
    /// From spawn to the "listening" log line.
    listening: Duration,
    log: Arc<Mutex<VecDeque<String>>>,
    registry_pid: Option<u32>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn command(bench: &AdmissionBench, extra: &[&str]) -> Command {
        let mut cmd = Command::new(&bench.sigward);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .arg("--tls-cert")
            .arg(&bench.tls_cert)
            .arg("--tls-key")
            .arg(&bench.tls_key);
        for p in &bench.policies {
            cmd.arg("--policy").arg(p);
        }
        if let Some(root) = &bench.trusted_root {
            cmd.arg("--trusted-root").arg(root);
        }
        if bench.allow_http {
            cmd.arg("--allow-http-registry");
        }
        cmd.args(extra);
        cmd
    }

    fn start(bench: &AdmissionBench, extra: &[&str]) -> Result<Server, String> {
        let mut cmd = Self::command(bench, extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", bench.sigward.display()))?;
        let pid = child.id();
        let Some(stderr) = child.stderr.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("sigward serve: no stderr pipe".into());
        };
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if v["msg"] == "listening" {
                            let address = v["address"].as_str().unwrap_or_default().to_owned();
                            let _ = tx.send((address, Instant::now()));
                        }
                    }
                    let mut log = match log.lock() {
                        Ok(g) => g,
                        Err(p) => p.into_inner(),
                    };
                    if log.len() == LOG_LINES {
                        log.pop_front();
                    }
                    log.push_back(line);
                }
            });
        }
        let mut server = Server {
            child,
            pid,
            url: String::new(),
            port: 0,
            started,
            listening: Duration::ZERO,
            log,
            registry_pid: bench.registry_pid,
        };
        let (address, at) = rx.recv_timeout(Duration::from_secs(20)).map_err(|_| {
            format!(
                "sigward serve did not log \"listening\" within 20 s:\n{}",
                server.log_tail()
            )
        })?;
        let address: SocketAddr = address
            .parse()
            .map_err(|e| format!("sigward serve listens on {address:?}: {e}"))?;
        server.url = format!("https://{address}");
        server.port = address.port();
        server.listening = at - started;
        Ok(server)
    }

    fn log_tail(&self) -> String {
        let log = match self.log.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        log.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    fn memory(&self) -> Option<Memory> {
        memory(self.pid)
    }

    fn pids(&self) -> Pids {
        Pids {
            server: self.pid,
            registry: self.registry_pid,
        }
    }
}

/// The processes whose CPU time is read: the server and, when known, the registry.
#[derive(Debug, Clone, Copy)]
struct Pids {
    server: u32,
    registry: Option<u32>,
}

/// CPU time used so far by the server, this process (the client) and the registry.
#[derive(Debug, Default, Clone, Copy)]
struct Cpu {
    server: Option<Duration>,
    client: Option<Duration>,
    registry: Option<Duration>,
}

impl Cpu {
    fn now(server: &Server) -> Cpu {
        Cpu::of(server.pids())
    }

    fn of(pids: Pids) -> Cpu {
        Cpu {
            server: process_cpu(&pids.server.to_string()),
            client: process_cpu("self"),
            registry: pids.registry.and_then(|pid| process_cpu(&pid.to_string())),
        }
    }

    fn since(self, before: Cpu) -> Cpu {
        let d =
            |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
        Cpu {
            server: d(self.server, before.server),
            client: d(self.client, before.client),
            registry: d(self.registry, before.registry),
        }
    }
}

/// The command line, for the record (no path printed here contains spaces).
fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VmRSS {:.1} MiB, VmHWM {:.1} MiB",
            self.rss_kib as f64 / 1024.0,
            self.hwm_kib as f64 / 1024.0
        )
    }
}

fn memory(pid: u32) -> Option<Memory> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    Some(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// CPU time of the live threads of a process (`self` or a pid): the first field of each
/// `/proc/PID/task/TID/schedstat`, in nanoseconds (`/proc/PID/stat` counts in 10 ms ticks, too
/// coarse for a hundred reviews of a millisecond each).
fn process_cpu(pid: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(task) = task else { continue };
        // A thread that ended since the listing has no file any more: its time is lost.
        if let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += crate::cpu::parse_schedstat(&text).unwrap_or_default();
        }
    }
    Some(total)
}

/// Established TCP connections whose local port is `port` (the server's side of each).
fn established(port: u16) -> Option<usize> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    Some(count_established(&text, port))
}

fn count_established(text: &str, port: u16) -> usize {
    text.lines()
        .skip(1)
        .filter(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1).unwrap_or_default();
            let state = f.nth(1).unwrap_or_default();
            state == "01"
                && local
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
                    == Some(port)
        })
        .count()
}

/// The server's counters that say where a review's answer came from.
#[derive(Debug, Default, Clone, Copy)]
struct Metrics {
    reviews: u64,
    verdict_hit: u64,
    verdict_joined: u64,
    verdict_miss: u64,
    digest_hit: u64,
    digest_joined: u64,
    digest_miss: u64,
    verifications: u64,
    registry: u64,
    registry_auth: u64,
    registry_errors: u64,
    /// `sigward_admission_review_duration_seconds`: from the body read to the answer built.
    answered: u64,
    answering: f64,
}

impl Metrics {
    fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if name == "sigward_admission_review_duration_seconds_sum" {
                m.answering = value;
                continue;
            }
            let value = value as u64;
            let slot = match name {
                n if n.starts_with("sigward_admission_reviews_total{") => &mut m.reviews,
                r#"sigward_cache_requests_total{cache="verdict",result="hit"}"# => {
                    &mut m.verdict_hit
                }
                r#"sigward_cache_requests_total{cache="verdict",result="joined"}"# => {
                    &mut m.verdict_joined
                }
                r#"sigward_cache_requests_total{cache="verdict",result="miss"}"# => {
                    &mut m.verdict_miss
                }
                r#"sigward_cache_requests_total{cache="digest",result="hit"}"# => &mut m.digest_hit,
                r#"sigward_cache_requests_total{cache="digest",result="joined"}"# => {
                    &mut m.digest_joined
                }
                r#"sigward_cache_requests_total{cache="digest",result="miss"}"# => {
                    &mut m.digest_miss
                }
                "sigward_verification_duration_seconds_count" => &mut m.verifications,
                "sigward_admission_review_duration_seconds_count" => &mut m.answered,
                "sigward_registry_requests_total" => &mut m.registry,
                "sigward_registry_auth_requests_total" => &mut m.registry_auth,
                "sigward_registry_errors_total" => &mut m.registry_errors,
                _ => continue,
            };
            *slot += value;
        }
        m
    }

    fn since(self, before: Metrics) -> Metrics {
        Metrics {
            reviews: self.reviews.saturating_sub(before.reviews),
            verdict_hit: self.verdict_hit.saturating_sub(before.verdict_hit),
            verdict_joined: self.verdict_joined.saturating_sub(before.verdict_joined),
            verdict_miss: self.verdict_miss.saturating_sub(before.verdict_miss),
            digest_hit: self.digest_hit.saturating_sub(before.digest_hit),
            digest_joined: self.digest_joined.saturating_sub(before.digest_joined),
            digest_miss: self.digest_miss.saturating_sub(before.digest_miss),
            verifications: self.verifications.saturating_sub(before.verifications),
            registry: self.registry.saturating_sub(before.registry),
            registry_auth: self.registry_auth.saturating_sub(before.registry_auth),
            registry_errors: self.registry_errors.saturating_sub(before.registry_errors),
            answered: self.answered.saturating_sub(before.answered),
            answering: self.answering - before.answering,
        }
    }

    /// Mean time the server spent answering a review (its histogram's sum / count; the sum
    /// adds whole microseconds).
    fn mean_answer(&self) -> Option<Duration> {
        (self.answered > 0)
            .then(|| Duration::from_secs_f64(self.answering.max(0.0) / self.answered as f64))
    }
}

impl std::fmt::Display for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reviews; verdict cache {} hit / {} joined / {} miss; digest cache {} hit / {} joined / {} miss; {} verifications; registry {} api + {} auth requests, {} errors; answered in {} on average (server side)",
            self.reviews,
            self.verdict_hit,
            self.verdict_joined,
            self.verdict_miss,
            self.digest_hit,
            self.digest_joined,
            self.digest_miss,
            self.verifications,
            self.registry,
            self.registry_auth,
            self.registry_errors,
            self.mean_answer().map_or_else(|| "-".into(), human)
        )
    }
}

/// An error and its causes on one line (reqwest's own message hides the cause).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// An HTTPS client trusting `ca_pem` only; HTTP/1.1 only, or h2 and HTTP/1.1 offered by ALPN
/// (the server picks h2, as it does for kube-apiserver).
fn client(ca_pem: &[u8], http1: bool) -> Result<reqwest::Client, String> {
    let mut tls = sigward_http::tls_config(&sigward_http::TlsTrust {
        use_system_roots: false,
        extra_ca_pem: vec![ca_pem.to_vec()],
        insecure_skip_verify_unsafe: false,
    })?;
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if http1 {
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        builder = builder.http1_only();
    }
    builder
        .use_preconfigured_tls(tls)
        .build()
        .map_err(|e| chain(&e))
}

async fn get(client: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let r = client.get(url).send().await.map_err(|e| chain(&e))?;
    let status = r.status().as_u16();
    Ok((status, r.text().await.map_err(|e| chain(&e))?))
}

async fn wait_ready(client: &reqwest::Client, server: &Server) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let last = match get(client, &format!("{}/readyz", server.url)).await {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => format!("{status} {body}"),
            Err(e) => e,
        };
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "sigward serve not ready after 20 s: {last}\n{}",
                server.log_tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn metrics(client: &reqwest::Client, server: &Server) -> Result<Metrics, String> {
    match get(client, &format!("{}/metrics", server.url)).await? {
        (200, text) => Ok(Metrics::parse(&text)),
        (status, body) => Err(format!("/metrics: {status} {body}")),
    }
}

/// Posts one review; its latency (request sent to whole body read) and the HTTP version, or
/// why it is not a 200 that allows the object.
async fn post(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
) -> Result<(Duration, reqwest::Version), String> {
    let t = Instant::now();
    let r = client
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| chain(&e))?;
    let status = r.status();
    let version = r.version();
    let bytes = r.bytes().await.map_err(|e| chain(&e))?;
    let took = t.elapsed();
    const ALLOWED: &[u8] = b"\"allowed\":true";
    if status.is_success() && bytes.windows(ALLOWED.len()).any(|w| w == ALLOWED) {
        return Ok((took, version));
    }
    let text = String::from_utf8_lossy(&bytes);
    Err(format!(
        "HTTP {status}, not allowed: {}",
        text.chars().take(400).collect::<String>()
    ))
}

/// The review with a new uid and its object's images replaced: with one image, every container
/// gets it; with several, each pod spec's `containers` becomes one container per image (copies
/// of its first container, renamed `NAME-i`) and its init and ephemeral containers are dropped.
fn review_for(template: &Value, images: &[String], uid: &str) -> Result<Vec<u8>, String> {
    let mut review = template.clone();
    let Some(object) = review.pointer_mut("/request/object") else {
        return Err("the review has no request.object".into());
    };
    let mut set = 0;
    for base in [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        let Some(Value::Object(spec)) = object.pointer_mut(base) else {
            continue;
        };
        if let [image] = images {
            for field in ["containers", "initContainers", "ephemeralContainers"] {
                if let Some(Value::Array(list)) = spec.get_mut(field) {
                    for container in list {
                        container["image"] = json!(image);
                        set += 1;
                    }
                }
            }
            continue;
        }
        let Some(first) = spec.get("containers").and_then(|c| c.get(0)).cloned() else {
            continue;
        };
        let name = first["name"].as_str().unwrap_or("container").to_owned();
        let containers = images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let mut c = first.clone();
                c["name"] = json!(format!("{name}-{i}"));
                c["image"] = json!(image);
                c
            })
            .collect();
        spec.insert("containers".into(), Value::Array(containers));
        spec.remove("initContainers");
        spec.remove("ephemeralContainers");
        set += images.len();
    }
    if set == 0 {
        return Err("the review's object has no containers".into());
    }
    review["request"]["uid"] = json!(uid);
    serde_json::to_vec(&review).map_err(|e| e.to_string())
}

/// What every load run records beside its latencies.
#[derive(Default)]
struct Run {
    errors: u64,
    first_error: Option<String>,
    version: Option<reqwest::Version>,
    window: Duration,
    cpu: Cpu,
    connections: Option<usize>,
    /// The server's memory when the run ended (VmHWM: its peak since it started).
    memory: Option<Memory>,
}

impl Run {
    fn fail(&mut self, error: String) {
        self.errors += 1;
        self.first_error.get_or_insert(error);
    }

    /// The columns every load table ends with: server cores, server CPU per review, client
    /// and registry cores, server VmHWM, errors.
    fn tail_cells(&self, reviews: usize) -> [String; 6] {
        [
            cores(self.cpu.server, self.window),
            per_review(self.cpu.server, reviews),
            cores(self.cpu.client, self.window),
            cores(self.cpu.registry, self.window),
            hwm(self.memory),
            self.errors.to_string(),
        ]
    }

    fn print_first_error(&self) {
        if let Some(e) = &self.first_error {
            println!("  first error: {e}");
        }
    }
}

/// Figures of one closed-loop run.
#[derive(Default)]
struct Load {
    samples: Samples,
    run: Run,
}

/// What one client task of a closed-loop run returns: its samples, errors, first error and
/// the HTTP version it was answered in.
type TaskLoad = (Samples, u64, Option<String>, Option<reqwest::Version>);

impl Load {
    fn absorb(&mut self, samples: &Samples, errors: u64, first_error: Option<String>) {
        self.samples.extend(samples);
        self.run.errors += errors;
        if self.run.first_error.is_none() {
            self.run.first_error = first_error;
        }
    }

    /// Waits for every client task and adds up what they recorded.
    async fn join(&mut self, mut tasks: tokio::task::JoinSet<TaskLoad>) {
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((samples, errors, first_error, version)) => {
                    self.absorb(&samples, errors, first_error);
                    self.run.version = self.run.version.or(version);
                }
                Err(e) => self.run.fail(format!("client task: {e}")),
            }
        }
    }
}

/// `concurrency` tasks POST `body` back to back for `warmup + duration`; requests that start in
/// the timed window and end in it are recorded.
async fn timed_load(
    client: &reqwest::Client,
    server: &Server,
    body: &[u8],
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
) -> Load {
    let url: Arc<str> = format!("{}/validate", server.url).into();
    let body: Arc<[u8]> = body.into();
    let from = Instant::now() + warmup;
    let end = from + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0;
            let mut first_error = None;
            let mut version = None;
            loop {
                let start = Instant::now();
                if start >= end {
                    break;
                }
                match post(&client, &url, body.to_vec()).await {
                    Ok((took, v)) => {
                        version = Some(v);
                        if start >= from && start + took <= end {
                            samples.push(took);
                        }
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (samples, errors, first_error, version)
        });
    }
    tokio::time::sleep_until(from.into()).await;
    let cpu = Cpu::now(server);
    let connections = established(server.port);
    tokio::time::sleep_until(end.into()).await;
    let mut load = Load {
        run: Run {
            window: duration,
            cpu: Cpu::now(server).since(cpu),
            connections,
            ..Run::default()
        },
        ..Load::default()
    };
    load.join(tasks).await;
    load.run.memory = server.memory();
    load
}

/// Every body POSTed once, `concurrency` in flight.
async fn each_once(
    client: &reqwest::Client,
    server: &Server,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> Load {
    let url: Arc<str> = format!("{}/validate", server.url).into();
    let next = Arc::new(AtomicUsize::new(0));
    let cpu = Cpu::now(server);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, url, bodies, next) =
            (client.clone(), url.clone(), bodies.clone(), next.clone());
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0;
            let mut first_error = None;
            let mut version = None;
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                match post(&client, &url, body.clone()).await {
                    Ok((took, v)) => {
                        samples.push(took);
                        version = Some(v);
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (samples, errors, first_error, version)
        });
    }
    let mut load = Load::default();
    load.join(tasks).await;
    load.run.window = started.elapsed();
    load.run.cpu = Cpu::now(server).since(cpu);
    load.run.memory = server.memory();
    load
}

/// Most requests an open-loop run keeps in flight: past it, a scheduled request is not sent
/// but counted (`unsent`), so that an overloaded row ends with bounded memory. The server's h2
/// connection takes fewer concurrent streams than this anyway; the rest wait in the client.
const OPEN_LOOP_MAX_IN_FLIGHT: usize = 4096;

/// Figures of one open-loop run.
#[derive(Default)]
struct OpenLoad {
    /// Requests scheduled in the timed window.
    scheduled: usize,
    /// Of those, how many were not sent: `OPEN_LOOP_MAX_IN_FLIGHT` were in flight.
    unsent: usize,
    /// Answers (200, allowed) that arrived inside the timed window, whenever scheduled.
    answered_in_window: usize,
    /// Scheduled send time to whole answer read, for every request scheduled in the window
    /// and answered (also after the window ended).
    latency: Samples,
    /// Scheduled send time to the start of the client task that sends it: the client's own
    /// lateness (pacer thread wake-up, hand-over to the runtime), included in `latency`.
    lag: Samples,
    max_in_flight: usize,
    run: Run,
}

/// One request of an open-loop run: scheduled, task started, answer read, outcome.
type Sent = (
    Instant,
    Instant,
    Instant,
    Result<(Duration, reqwest::Version), String>,
);

/// Lowers the calling thread's timer slack to 1 ns (default 50 µs, which `thread::sleep`
/// adds to every wake-up), through `/proc/TID/timerslack_ns`: a thread may set its own without
/// privileges, and this needs no `unsafe` call. Best effort: says whether it worked.
fn fine_timer_slack() -> bool {
    let Ok(link) = std::fs::read_link("/proc/thread-self") else {
        return false;
    };
    let Some(tid) = link.file_name() else {
        return false;
    };
    let path = PathBuf::from("/proc").join(tid).join("timerslack_ns");
    std::fs::write(&path, "1").is_ok()
        && std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1")
}

/// The pacer: from `start`, hands request `i` to the runtime at `start + i / rate` until `end`
/// (sleeping in between, never sending early; when late, it sends at once, so no request is
/// dropped and its latency still counts from its scheduled time).
fn pace(start: Instant, rate: f64, end: Instant, tx: tokio::sync::mpsc::UnboundedSender<Instant>) {
    for i in 0u64.. {
        let at = start + Duration::from_secs_f64(i as f64 / rate);
        if at >= end {
            break;
        }
        let now = Instant::now();
        if at > now {
            std::thread::sleep(at - now);
        }
        if tx.send(at).is_err() {
            break;
        }
    }
}

/// Open loop: `body` POSTed at `rate` requests per second for `warmup + duration`, whatever the
/// answers take, many in flight over the client's one h2 connection. A pacer thread (timer
/// slack lowered) schedules each request; the runtime spawns one task per request. Latency is
/// measured from the scheduled send time, so a stalled server or client (coordinated
/// omission) shows in it instead of slowing the load down. CPU is read at the edges of the
/// timed window by a third thread.
async fn open_loop(
    client: &reqwest::Client,
    server: &Server,
    body: &[u8],
    rate: f64,
    warmup: Duration,
    duration: Duration,
) -> (OpenLoad, bool) {
    let url: Arc<str> = format!("{}/validate", server.url).into();
    let body: Arc<[u8]> = body.into();
    let start = Instant::now() + Duration::from_millis(5);
    let from = start + warmup;
    let end = from + duration;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (slack_tx, slack_rx) = mpsc::channel();
    let pacer = std::thread::spawn(move || {
        let _ = slack_tx.send(fine_timer_slack());
        pace(start, rate, end, tx);
    });
    let (pids, port) = (server.pids(), server.port);
    let meter = std::thread::spawn(move || {
        std::thread::sleep(from.saturating_duration_since(Instant::now()));
        let cpu = Cpu::of(pids);
        let connections = established(port);
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        (Cpu::of(pids).since(cpu), connections)
    });
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Sent>();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut load = OpenLoad {
        run: Run {
            window: duration,
            ..Run::default()
        },
        ..OpenLoad::default()
    };
    while let Some(at) = rx.recv().await {
        let timed = at >= from;
        load.scheduled += usize::from(timed);
        if in_flight.load(Ordering::Relaxed) >= OPEN_LOOP_MAX_IN_FLIGHT {
            load.unsent += usize::from(timed);
            continue;
        }
        let (client, url, body, done_tx, in_flight) = (
            client.clone(),
            url.clone(),
            body.clone(),
            done_tx.clone(),
            in_flight.clone(),
        );
        load.max_in_flight = load
            .max_in_flight
            .max(in_flight.fetch_add(1, Ordering::Relaxed) + 1);
        tokio::spawn(async move {
            let started = Instant::now();
            let answer = post(&client, &url, body.to_vec()).await;
            let _ = done_tx.send((at, started, Instant::now(), answer));
            in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
    drop(done_tx);
    while let Some((at, started, finished, answer)) = done_rx.recv().await {
        let timed = at >= from;
        match answer {
            Ok((_, version)) => {
                load.run.version = Some(version);
                if timed {
                    load.latency.push(finished - at);
                    load.lag.push(started.saturating_duration_since(at));
                }
                load.answered_in_window += usize::from(finished >= from && finished < end);
            }
            Err(e) => load.run.fail(e),
        }
    }
    let slack = slack_rx.recv().unwrap_or(false);
    if pacer.join().is_err() {
        load.run.fail("pacer thread panicked".into());
    }
    match meter.join() {
        Ok((cpu, connections)) => (load.run.cpu, load.run.connections) = (cpu, connections),
        Err(_) => load.run.fail("meter thread panicked".into()),
    }
    load.run.memory = server.memory();
    (load, slack)
}

const OPEN_HEADER: [&str; 19] = [
    "rate/s",
    "conns",
    "sched",
    "unsent",
    "answered/s",
    "p50",
    "p90",
    "p99",
    "p99.9",
    "max",
    "lag p50",
    "lag p99",
    "in flight",
    "srv cores",
    "srv CPU/rev",
    "cli cores",
    "reg cores",
    "srv HWM",
    "errors",
];

/// Widths of a table's columns: negative for left-aligned.
const OPEN_WIDTHS: [isize; 19] = [7, 5, 7, 6, 10, 9, 9, 9, 9, 9, 9, 9, 9, 9, 11, 9, 9, 9, 6];
const LOAD_WIDTHS: [isize; 15] = [-8, -9, 5, 8, 9, 9, 9, 9, 9, 9, 11, 9, 9, 9, 6];

/// One table row, cells padded to `widths` and separated by a space.
fn print_row(widths: &[isize], cells: &[String]) {
    let line: Vec<String> = widths
        .iter()
        .zip(cells)
        .map(|(&w, cell)| {
            let n = w.unsigned_abs();
            if w < 0 {
                format!("{cell:<n$}")
            } else {
                format!("{cell:>n$}")
            }
        })
        .collect();
    println!("{}", line.join(" "));
}

fn open_row(cells: &[String]) {
    print_row(&OPEN_WIDTHS, cells);
}

fn print_open(rate: f64, load: &OpenLoad) {
    let none = || vec![String::new(); 5];
    let latency = load.latency.summary().map_or_else(none, |s| {
        [s.p50, s.p90, s.p99, s.p999, s.max].map(human).to_vec()
    });
    let lag = load.lag.summary().map_or_else(
        || vec![String::new(); 2],
        |s| vec![human(s.p50), human(s.p99)],
    );
    let mut cells = vec![
        format!("{rate:.0}"),
        load.run
            .connections
            .map_or_else(String::new, |c| c.to_string()),
        load.scheduled.to_string(),
        load.unsent.to_string(),
        format!(
            "{:.0}",
            load.answered_in_window as f64 / load.run.window.as_secs_f64()
        ),
    ];
    cells.extend(latency);
    cells.extend(lag);
    cells.push(load.max_in_flight.to_string());
    cells.extend(load.run.tail_cells(load.answered_in_window));
    open_row(&cells);
    load.run.print_first_error();
}

fn cores(cpu: Option<Duration>, window: Duration) -> String {
    cpu.map_or_else(String::new, |c| {
        format!("{:.2}", c.as_secs_f64() / window.as_secs_f64())
    })
}

/// The server's peak resident memory, VmHWM.
fn hwm(memory: Option<Memory>) -> String {
    memory.map_or_else(String::new, |m| {
        format!("{:.1} MiB", m.hwm_kib as f64 / 1024.0)
    })
}

fn per_review(cpu: Option<Duration>, reviews: usize) -> String {
    match cpu {
        Some(c) if reviews > 0 => human(c / u32::try_from(reviews).unwrap_or(u32::MAX)),
        _ => String::new(),
    }
}

const LOAD_HEADER: [&str; 15] = [
    "clients",
    "HTTP",
    "conns",
    "reviews",
    "reviews/s",
    "p50",
    "p90",
    "p99",
    "max",
    "srv cores",
    "srv CPU/rev",
    "cli cores",
    "reg cores",
    "srv HWM",
    "errors",
];

fn load_row(cells: &[String]) {
    print_row(&LOAD_WIDTHS, cells);
}

fn print_load(clients: usize, load: &Load) {
    let n = load.samples.len();
    let (p50, p90, p99, max) = load.samples.summary().map_or_else(
        || (String::new(), String::new(), String::new(), String::new()),
        |s| (human(s.p50), human(s.p90), human(s.p99), human(s.max)),
    );
    let mut cells = vec![
        clients.to_string(),
        load.run
            .version
            .map_or_else(String::new, |v| format!("{v:?}")),
        load.run
            .connections
            .map_or_else(String::new, |c| c.to_string()),
        n.to_string(),
        format!("{:.0}", n as f64 / load.run.window.as_secs_f64()),
        p50,
        p90,
        p99,
        max,
    ];
    cells.extend(load.run.tail_cells(n));
    load_row(&cells);
    load.run.print_first_error();
}

const LATENCY_HEADER: [&str; 8] = ["", "n", "p50", "p90", "p99", "max", "mean", "min"];

fn latency_row(label: &str, samples: &Samples, extra: &str) {
    let Some(s) = samples.summary() else {
        println!("{label:<50} no samples");
        return;
    };
    println!(
        "{:<50} {:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  {extra}",
        label,
        s.count,
        human(s.p50),
        human(s.p90),
        human(s.p99),
        human(s.max),
        human(s.mean),
        human(s.min)
    );
}

fn latency_header(extra: &str) {
    let h = LATENCY_HEADER;
    println!(
        "{:<50} {:>4} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}  {extra}",
        h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]
    );
}

struct Context {
    bench: AdmissionBench,
    template: Value,
    ca_pem: Vec<u8>,
    runtime: tokio::runtime::Runtime,
    /// `--pod`'s pods, with the images their files list.
    pods: Vec<(String, Vec<String>)>,
}

impl Context {
    /// A review of a Pod whose every container runs `image`.
    fn body(&self, image: &str, uid: &str) -> Result<Vec<u8>, String> {
        self.pod_body(&[image.to_owned()], uid)
    }

    /// A review of a Pod with one container per image (one container per image of the
    /// template when there is a single image).
    fn pod_body(&self, images: &[String], uid: &str) -> Result<Vec<u8>, String> {
        review_for(&self.template, images, uid)
    }

    /// The single images, labelled: the key-signed one, the keyless one, `--extra-image`'s.
    fn images(&self) -> Vec<(String, String)> {
        let mut images = vec![("key-signed".to_owned(), self.bench.key_image.clone())];
        if let Some(keyless) = &self.bench.keyless_image {
            images.push(("keyless".to_owned(), keyless.clone()));
        }
        images.extend(self.bench.extra_images.iter().cloned());
        images
    }

    /// What the uncached phase reviews: each single image, then each pod.
    fn cases(&self) -> Vec<(String, Vec<String>)> {
        self.images()
            .into_iter()
            .map(|(label, image)| (label, vec![image]))
            .chain(self.pods.iter().cloned())
            .collect()
    }
}

/// The images of a `--pod` file: one a line, blank lines and `#` comments skipped.
fn parse_image_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Phases 1 and 2 on one server with the default TTLs.
fn warm(cx: &Context) -> Result<(), String> {
    let bench = &cx.bench;
    println!("\n== 1. warm cache: the same review, its image verified once and then cached");
    println!("$ {}", describe(&Server::command(bench, &[])));
    let server = Server::start(bench, &[])?;
    let h2 = client(&cx.ca_pem, false)?;
    let body = cx.body(&bench.key_image, "bench-warm")?;
    let rt = &cx.runtime;
    rt.block_on(wait_ready(&h2, &server))?;
    let ready = server.started.elapsed();
    let idle = server.memory();
    println!(
        "server pid {}: \"listening\" logged after {}, /readyz 200 after {} (TLS handshake included)",
        server.pid,
        human(server.listening),
        human(ready)
    );
    if let Some(m) = idle {
        println!("memory, idle after start: {m}");
    }
    let url = format!("{}/validate", server.url);
    for (label, image) in cx.images() {
        let (took, version) = rt
            .block_on(post(&h2, &url, cx.body(&image, "bench-first")?))
            .map_err(|e| format!("{image}: {e}\n{}", server.log_tail()))?;
        println!(
            "first review of the {label} image {image} ({version:?}): {} (allowed; verifies it)",
            human(took)
        );
    }
    let before = rt.block_on(metrics(&h2, &server))?;
    println!("server counters so far: {before}");
    println!(
        "\nimage {}; {} untimed + {} timed per row; the h2 rows share one client (one connection, opened above)",
        bench.key_image,
        human(bench.warmup),
        human(bench.duration)
    );
    load_row(&LOAD_HEADER.map(String::from));
    let mut runs: Vec<(usize, bool)> = bench.concurrency.iter().map(|&c| (c, false)).collect();
    if bench.http1_concurrency > 0 {
        runs.push((bench.http1_concurrency, true));
    }
    let mut per_run = Vec::new();
    for (concurrency, http1) in runs {
        let c = if http1 {
            client(&cx.ca_pem, true)?
        } else {
            h2.clone()
        };
        let m0 = rt.block_on(metrics(&h2, &server))?;
        let load = rt.block_on(timed_load(
            &c,
            &server,
            &body,
            concurrency,
            bench.warmup,
            bench.duration,
        ));
        let m1 = rt.block_on(metrics(&h2, &server))?;
        print_load(concurrency, &load);
        per_run.push((concurrency, load.run.version, m1.since(m0)));
    }
    println!("(conns: the server's established TCP connections at the start of the timed window, from /proc/net/tcp; the HTTP/1.1 row's include the h2 client's idle one, and can exceed its clients: reqwest opens a new connection when a request finds none idle in its pool, where a finished one returns asynchronously; srv/cli/reg cores: CPU-seconds per second of the timed window of the server, this process (the client) and the registry (--registry-pid); srv CPU/rev: server CPU per recorded review; srv HWM: the server's VmHWM, its peak RSS since it started, read after the row)");
    println!("server counters per row (warm-up included), from /metrics before and after:");
    for (concurrency, version, m) in &per_run {
        let version = version.map_or_else(String::new, |v| format!("{v:?}"));
        println!("  {concurrency} {version}: {m}");
    }
    open_loop_runs(cx, &server, &h2, &body)?;
    let total = rt.block_on(metrics(&h2, &server))?.since(before);
    println!("  whole warm phase: {total}");
    if let Some(m) = server.memory() {
        println!("memory after the warm phase: {m}");
    }
    distinct(cx, &server, &h2, idle)?;
    Ok(())
}

/// Phase 1b: the same review at fixed arrival rates, on the same warm server and connection.
fn open_loop_runs(
    cx: &Context,
    server: &Server,
    h2: &reqwest::Client,
    body: &[u8],
) -> Result<(), String> {
    let bench = &cx.bench;
    if bench.open_loop_rates.is_empty() {
        return Ok(());
    }
    println!(
        "\n== 1b. warm cache, open loop: the same review sent at a fixed rate on the same server and h2 connection, whatever the answers take; latency from each request's scheduled send time"
    );
    println!(
        "image {}; {} untimed + {} timed per row",
        bench.key_image,
        human(bench.warmup),
        human(bench.duration)
    );
    open_row(&OPEN_HEADER.map(String::from));
    let rt = &cx.runtime;
    let mut per_run = Vec::new();
    let mut slack = true;
    for &rate in &bench.open_loop_rates {
        let m0 = rt.block_on(metrics(h2, server))?;
        let (load, fine) = rt.block_on(open_loop(
            h2,
            server,
            body,
            rate,
            bench.warmup,
            bench.duration,
        ));
        let m1 = rt.block_on(metrics(h2, server))?;
        slack &= fine;
        print_open(rate, &load);
        per_run.push((rate, load.run.version, m1.since(m0)));
    }
    println!("(sched: requests scheduled in the timed window, one every 1/rate s; unsent: of those, how many were not sent because {OPEN_LOOP_MAX_IN_FLIGHT} were in flight (the row is overloaded); answered/s: answers read inside the window, whenever scheduled; p50..max: over every request scheduled in the window, from its scheduled send time to its whole answer read, answers after the window included; lag: scheduled time to the start of the client task that sends it, the client's own lateness, part of the latency; in flight: most requests outstanding at once, warm-up included; srv CPU/rev: server CPU in the window / answers in the window; srv HWM: the server's VmHWM, its peak RSS since it started, read after the row; other columns as above)");
    println!(
        "(pacer thread timer slack {})",
        if slack {
            "set to 1 ns"
        } else {
            "left at the default (50 µs): could not write /proc/TID/timerslack_ns"
        }
    );
    println!("server counters per row (warm-up included), from /metrics before and after:");
    for (rate, version, m) in &per_run {
        let version = version.map_or_else(String::new, |v| format!("{v:?}"));
        println!("  {rate:.0}/s {version}: {m}");
    }
    Ok(())
}

/// Phase 2: many images the server has not seen, on the warm server.
fn distinct(
    cx: &Context,
    server: &Server,
    client: &reqwest::Client,
    idle: Option<Memory>,
) -> Result<(), String> {
    let bench = &cx.bench;
    let Some(prefix) = &bench.distinct_prefix else {
        return Ok(());
    };
    if bench.distinct_count == 0 {
        return Ok(());
    }
    println!(
        "\n== 2. distinct images on the same server: {prefix}{{0..{}}}, each reviewed once, {DISTINCT_CONCURRENCY} in flight",
        bench.distinct_count - 1
    );
    let bodies = (0..bench.distinct_count)
        .map(|i| cx.body(&format!("{prefix}{i}"), &format!("bench-distinct-{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    let rt = &cx.runtime;
    let before_memory = server.memory();
    let m0 = rt.block_on(metrics(client, server))?;
    let load = rt.block_on(each_once(
        client,
        server,
        Arc::new(bodies),
        DISTINCT_CONCURRENCY,
    ));
    let m1 = rt.block_on(metrics(client, server))?;
    let after_memory = server.memory();
    load_row(&LOAD_HEADER.map(String::from));
    print_load(DISTINCT_CONCURRENCY, &load);
    println!("server counters: {}", m1.since(m0));
    if let (Some(b), Some(a)) = (before_memory, after_memory) {
        println!("memory before: {b}");
        println!("memory after:  {a}");
        let grown = a.rss_kib as f64 - b.rss_kib as f64;
        println!(
            "VmRSS grew by {:.0} KiB for {} new images (one digest-cache and one verdict-cache entry each): {:.2} KiB per image",
            grown,
            bench.distinct_count,
            grown / bench.distinct_count as f64
        );
    }
    if let (Some(i), Some(a)) = (idle, after_memory) {
        println!(
            "VmRSS since idle after start: +{:.1} MiB",
            (a.rss_kib as f64 - i.rss_kib as f64) / 1024.0
        );
    }
    Ok(())
}

/// Phase 3: a fresh server process per sample.
fn cold(cx: &Context) -> Result<(), String> {
    let bench = &cx.bench;
    println!(
        "\n== 3. cold: the first review of an image by a fresh server process ({} processes per image)",
        bench.samples
    );
    println!("$ {}", describe(&Server::command(bench, &[])));
    latency_header("per review: registry requests, verdict misses");
    let rt = &cx.runtime;
    for (label, image) in cx.images() {
        let body = cx.body(&image, "bench-cold")?;
        let mut listening = Samples::default();
        let mut ready = Samples::default();
        let mut review = Samples::default();
        let mut counters = Metrics::default();
        let mut rss = Vec::new();
        let mut hwm = Vec::new();
        for _ in 0..bench.samples {
            let client = client(&cx.ca_pem, false)?;
            let server = Server::start(bench, &[])?;
            let url = format!("{}/validate", server.url);
            let (took, m) = rt
                .block_on(async {
                    wait_ready(&client, &server).await?;
                    ready.push(server.started.elapsed());
                    let (took, _) = post(&client, &url, body.clone()).await?;
                    Ok::<_, String>((took, metrics(&client, &server).await?))
                })
                .map_err(|e| format!("{image}: {e}\n{}", server.log_tail()))?;
            listening.push(server.listening);
            review.push(took);
            counters.registry += m.registry;
            counters.registry_auth += m.registry_auth;
            counters.verdict_miss += m.verdict_miss;
            if let Some(mem) = server.memory() {
                rss.push(mem.rss_kib);
                hwm.push(mem.hwm_kib);
            }
        }
        let n = bench.samples as f64;
        latency_row(
            &format!("{label}: spawn -> \"listening\" logged"),
            &listening,
            "",
        );
        latency_row(
            &format!("{label}: spawn -> /readyz 200 (with handshake)"),
            &ready,
            "",
        );
        latency_row(
            &format!("{label}: first review (timed alone)"),
            &review,
            &format!(
                "{:.1} api + {:.1} auth, {:.1} misses",
                counters.registry as f64 / n,
                counters.registry_auth as f64 / n,
                counters.verdict_miss as f64 / n
            ),
        );
        rss.sort_unstable();
        hwm.sort_unstable();
        if let (Some(r), Some(h)) = (rss.get(rss.len() / 2), hwm.get(hwm.len() / 2)) {
            println!(
                "{label}: memory after the first review (median process): {}",
                Memory {
                    rss_kib: *r,
                    hwm_kib: *h
                }
            );
        }
        println!("{label}: image {image}");
    }
    if bench.samples < 100 {
        println!("(fewer than 100 samples: p99 is the maximum)");
    }
    Ok(())
}

/// Phase 4: every review verifies again, on one long-running server.
fn uncached(cx: &Context) -> Result<(), String> {
    let bench = &cx.bench;
    let extra = ["--verdict-ttl", "1ms", "--digest-ttl", "1ms"];
    println!(
        "\n== 4. uncached verdict on a warm server: one review at a time, each resolving and verifying again ({UNCACHED_WARMUP} untimed + {} timed per image or Pod, {} untimed pause before each)",
        bench.samples,
        human(UNCACHED_PAUSE)
    );
    println!("$ {}", describe(&Server::command(bench, &extra)));
    let server = Server::start(bench, &extra)?;
    let client = client(&cx.ca_pem, false)?;
    let rt = &cx.runtime;
    rt.block_on(wait_ready(&client, &server))?;
    let url = format!("{}/validate", server.url);
    latency_header("per review: registry requests, verifications, server CPU");
    for (label, images) in cx.cases() {
        let body = cx.pod_body(&images, "bench-uncached")?;
        let (samples, m, cpu) = rt
            .block_on(async {
                for _ in 0..UNCACHED_WARMUP {
                    tokio::time::sleep(UNCACHED_PAUSE).await;
                    post(&client, &url, body.clone()).await?;
                }
                let m0 = metrics(&client, &server).await?;
                let cpu0 = Cpu::now(&server);
                let mut samples = Samples::default();
                for _ in 0..bench.samples {
                    tokio::time::sleep(UNCACHED_PAUSE).await;
                    samples.push(post(&client, &url, body.clone()).await?.0);
                }
                let cpu = Cpu::now(&server).since(cpu0);
                let m = metrics(&client, &server).await?.since(m0);
                Ok::<_, String>((samples, m, cpu))
            })
            .map_err(|e| format!("{label} ({}): {e}\n{}", images.join(" "), server.log_tail()))?;
        let n = bench.samples as f64;
        latency_row(
            &format!("{label}: review, verdict not cached"),
            &samples,
            &format!(
                "{:.1} api + {:.1} auth, {:.1} verifications, {} server CPU{}",
                m.registry as f64 / n,
                m.registry_auth as f64 / n,
                m.verifications as f64 / n,
                per_review(cpu.server, bench.samples),
                cpu.registry.map_or_else(String::new, |_| format!(
                    ", {} registry CPU",
                    per_review(cpu.registry, bench.samples)
                ))
            ),
        );
        println!("  server counters: {m}");
        if let [image] = images.as_slice() {
            println!("  image {image}");
        } else {
            println!(
                "  {} images in one Pod (one container each): {}",
                images.len(),
                images.join(" ")
            );
        }
    }
    if let Some(m) = server.memory() {
        println!("memory after the uncached reviews: {m}");
    }
    if bench.samples < 100 {
        println!("(fewer than 100 samples: p99 is the maximum)");
    }
    Ok(())
}

/// Runs the four phases and prints the figures.
pub fn run(bench: &AdmissionBench) -> Result<(), String> {
    if bench.samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    if bench.concurrency.contains(&0) {
        return Err("--concurrency: every value must be at least 1".into());
    }
    if let Some(r) = bench
        .open_loop_rates
        .iter()
        .find(|r| !(r.is_finite() && **r > 0.0))
    {
        return Err(format!("--open-loop-rates: {r} is not a positive rate"));
    }
    let mut pods = Vec::new();
    for (label, file) in &bench.pods {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let images = parse_image_list(&text);
        if images.len() < 2 {
            return Err(format!(
                "--pod {label}={}: lists {} image(s), a pod needs at least 2",
                file.display(),
                images.len()
            ));
        }
        pods.push((label.clone(), images));
    }
    let text =
        std::fs::read(&bench.review).map_err(|e| format!("{}: {e}", bench.review.display()))?;
    let parsed: Value =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", bench.review.display()))?;
    let template = if parsed.get("request").is_some() {
        parsed
    } else {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": parsed})
    };
    let ca_pem = std::fs::read(&bench.ca).map_err(|e| format!("{}: {e}", bench.ca.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let cx = Context {
        bench: bench.clone(),
        template,
        ca_pem,
        runtime,
        pods,
    };
    let request = &cx.template["request"];
    let body = cx.body(&bench.key_image, "bench-size")?;
    println!(
        "admission webhook: {} {} {}/{} ({} bytes as posted), every container image replaced by the image under test; POST /validate over HTTPS",
        request["kind"]["kind"].as_str().unwrap_or("?"),
        request["operation"].as_str().unwrap_or("?"),
        request["namespace"].as_str().unwrap_or(""),
        request["name"].as_str().unwrap_or("?"),
        body.len()
    );
    println!(
        "client: this process, one current-thread tokio runtime (at most one core), reqwest + rustls; server: {}",
        bench.sigward.display()
    );
    warm(&cx)?;
    cold(&cx)?;
    uncached(&cx)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn status_memory_fields() {
        let m = parse_status("Name:\tsigward\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n").unwrap();
        assert_eq!((m.rss_kib, m.hwm_kib), (10240, 20480));
        assert!(parse_status("Name:\tx\n").is_none());
    }

    #[test]
    fn this_process_uses_cpu() {
        let Some(cpu) = process_cpu("self") else {
            eprintln!("SKIPPED: no /proc/self/task here");
            return;
        };
        assert!(cpu > Duration::ZERO);
    }

    #[test]
    fn established_connections_of_a_port() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue\n   0: 0100007F:1F90 00000000:0000 0A 0\n   1: 0100007F:1F90 0100007F:C350 01 0\n   2: 0100007F:C350 0100007F:1F90 01 0\n";
        assert_eq!(count_established(text, 0x1F90), 1);
    }

    #[test]
    fn metrics_are_read_by_name() {
        let text = "# HELP x\nsigward_admission_reviews_total{endpoint=\"validate\",kind=\"Pod\",operation=\"CREATE\",decision=\"allowed\"} 7\nsigward_cache_requests_total{cache=\"verdict\",result=\"hit\"} 5\nsigward_registry_requests_total 3\nsigward_verification_duration_seconds_count 2\nsigward_admission_review_duration_seconds_sum 0.0035\nsigward_admission_review_duration_seconds_count 7\n";
        let m = Metrics::parse(text);
        assert_eq!(
            (m.reviews, m.verdict_hit, m.registry, m.verifications),
            (7, 5, 3, 2)
        );
        assert_eq!(m.mean_answer(), Some(Duration::from_micros(500)));
        assert_eq!(m.since(m).mean_answer(), None);
    }

    #[test]
    fn every_container_gets_the_image() {
        let template = json!({"request": {"uid": "u", "object": {"spec": {"containers": [{"image": "a"}, {"image": "b"}]}}}});
        let body: Value =
            serde_json::from_slice(&review_for(&template, &["x/y:z".into()], "u2").unwrap())
                .unwrap();
        assert_eq!(
            body["request"]["object"]["spec"]["containers"][1]["image"],
            "x/y:z"
        );
        assert_eq!(body["request"]["uid"], "u2");
    }

    #[test]
    fn one_container_per_image_of_a_pod() {
        let template = json!({"request": {"uid": "u", "object": {"spec": {
            "containers": [{"name": "app", "image": "a"}, {"name": "side", "image": "b"}],
            "initContainers": [{"name": "init", "image": "c"}]}}}});
        let images: Vec<String> = (0..3).map(|i| format!("r/i{i}:v1")).collect();
        let body: Value =
            serde_json::from_slice(&review_for(&template, &images, "u3").unwrap()).unwrap();
        let spec = &body["request"]["object"]["spec"];
        let containers = spec["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 3);
        assert_eq!(containers[2]["name"], "app-2");
        assert_eq!(containers[2]["image"], "r/i2:v1");
        assert!(spec.get("initContainers").is_none());
    }

    #[test]
    fn image_lists_skip_blank_lines_and_comments() {
        assert_eq!(
            parse_image_list("# pod\na:v1\n\n  b@sha256:00  \n"),
            vec!["a:v1".to_owned(), "b@sha256:00".to_owned()]
        );
    }
}
