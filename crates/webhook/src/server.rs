//! `sigward serve`: HTTPS (rustls, TLS 1.2/1.3, HTTP/1.1 and h2) in front of the enforcer.
//!
//! - `POST /validate`, `POST /mutate`: [`decide`](crate::decide::decide) within the budget.
//! - `GET /healthz`: the process answers. `GET /readyz`: policies are in force (503 with the
//!   reason until then). `GET /metrics`: Prometheus text.
//! - Every `reload_interval`, the policy files and the certificate/key files are re-read when
//!   their contents changed: a valid new policy generation replaces the old one atomically
//!   (reviews already running finish with the one they started with); an invalid one is
//!   refused and logged, the old one stays. A new certificate serves the next handshakes.
//! - Until a first valid generation is loaded, every review is denied (fail closed).
//! - SIGTERM/SIGINT: stop accepting, let open connections finish (up to 10 s).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use sigward_cluster::{Cluster, Snapshot};
use sigward_engine::{CompiledPolicies, Enforcer, EnforcerConfig, Engine, LoadError};
use sigward_policy::AnyPolicy;
use sigward_verify::bundle::TrustMaterial;
use tokio::sync::watch;

use crate::credentials::PullSecrets;
use crate::decide::{decide, Endpoint};
use crate::log;
use crate::metrics::{render, ServerMetrics};
use crate::review::{AdmissionResponse, AdmissionReview, API_VERSIONS};
use crate::sources;

/// Everything `sigward serve` is configured with.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PEM certificate chain.
    pub tls_cert: PathBuf,
    /// PEM private key.
    pub tls_key: PathBuf,
    /// Policy files and directories.
    pub policy_paths: Vec<PathBuf>,
    /// Time budget of one review.
    pub budget: Duration,
    /// How often files are checked for changes.
    pub reload_interval: Duration,
    /// Trusted root for sigstore policies.
    pub trust: Option<Arc<TrustMaterial>>,
    /// Caches and no-match behaviour.
    pub enforcer: EnforcerConfig,
    /// Cluster mode: policy objects watched in the Kubernetes API, added to the files'.
    pub cluster: Option<watch::Receiver<Snapshot>>,
    /// Cluster mode: registry credentials from each pod's pull secrets.
    pub pull_secrets: Option<Cluster>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The serving certificate or key.
    #[error("TLS: {0}")]
    Tls(String),
    /// The listening socket.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Serves a certificate that can be replaced while running.
#[derive(Debug)]
struct ReloadingCert {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.current.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        })
    }
}

/// Reads a PEM certificate chain and private key into a rustls signing key.
pub fn load_certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
    let cert_pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let key_pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no PEM certificate", cert.display()));
    }
    let key_der =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{}: {e}", key.display()))?;
    let signing = rustls::crypto::aws_lc_rs::sign::any_supported_type(&key_der)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| format!("{} does not match {}: {e}", key.display(), cert.display()))?;
    Ok(certified)
}

struct AppState {
    enforcer: Enforcer,
    pull_secrets: Option<PullSecrets>,
    metrics: ServerMetrics,
    ready: AtomicBool,
    not_ready: Mutex<String>,
    last_watch_failure: Mutex<String>,
    budget: Duration,
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

async fn answer(state: &AppState, endpoint: Endpoint, body: &[u8]) -> Response {
    let started = Instant::now();
    let endpoint_name = match endpoint {
        Endpoint::Validate => "validate",
        Endpoint::Mutate => "mutate",
    };
    let review = match AdmissionReview::parse(body) {
        Ok(r) => r,
        Err((uid, e)) => {
            state
                .metrics
                .malformed_reviews
                .fetch_add(1, Ordering::Relaxed);
            log::warn("malformed review", &[("error", &e.to_string())]);
            return match uid {
                Some((uid, api_version)) => json_response(
                    StatusCode::OK,
                    &AdmissionResponse::deny(&uid, 400, format!("sigward: {e}"))
                        .into_review(&api_version),
                ),
                None => (StatusCode::BAD_REQUEST, format!("sigward: {e}\n")).into_response(),
            };
        }
    };
    let request = &review.request;
    let response = if state.ready.load(Ordering::Acquire) {
        decide(
            &state.enforcer,
            state.pull_secrets.as_ref(),
            request,
            state.budget,
            endpoint,
        )
        .await
    } else {
        let reason = match state.not_ready.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        AdmissionResponse::deny(
            &request.uid,
            403,
            format!("sigward has no valid policies in force, so it admits nothing: {reason}"),
        )
    };
    let decision = match (&response.allowed, response.warnings.is_empty()) {
        (false, _) => "denied",
        (true, false) => "warned",
        (true, true) => "allowed",
    };
    state.metrics.review(
        endpoint_name,
        &request.kind.kind,
        &request.operation.to_string(),
        decision,
    );
    state.metrics.review_latency.observe(started.elapsed());
    if !response.allowed {
        let message = response
            .status
            .as_ref()
            .map(|s| s.message.clone())
            .unwrap_or_default();
        log::info(
            "denied",
            &[
                ("uid", &request.uid),
                ("endpoint", endpoint_name),
                ("user", &request.user_info.username),
                ("message", &message),
            ],
        );
    }
    let api_version = if API_VERSIONS.contains(&review.api_version.as_str()) {
        review.api_version.as_str()
    } else {
        API_VERSIONS[0]
    };
    json_response(StatusCode::OK, &response.into_review(api_version))
}

async fn validate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(&state, Endpoint::Validate, &body).await
}

async fn mutate(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    answer(&state, Endpoint::Mutate, &body).await
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ok\n").into_response()
    } else {
        let reason = match state.not_ready.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reason}\n"),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        render(&state.metrics, Some(&state.enforcer)),
    )
        .into_response()
}

/// Loads and compiles the policies under `paths`; every error names its file and line. On
/// success, also the policies in force that sigward cannot check (they deny what they cover).
pub fn compile_paths(
    paths: &[PathBuf],
    trust: Option<Arc<TrustMaterial>>,
    generation: u64,
) -> Result<(CompiledPolicies, Vec<String>), Vec<String>> {
    compile_sources(&sources::PolicyTexts::read(paths), &[], trust, generation)
}

/// Compiles the policies in `texts` together with `cluster` ones (each with its origin,
/// `resource namespace/name`); every message names its file and line, or its object.
pub fn compile_sources(
    texts: &sources::PolicyTexts,
    cluster: &[(String, AnyPolicy)],
    trust: Option<Arc<TrustMaterial>>,
    generation: u64,
) -> Result<(CompiledPolicies, Vec<String>), Vec<String>> {
    let (located, errors) = texts.parse();
    if !errors.is_empty() {
        return Err(errors.iter().map(ToString::to_string).collect());
    }
    let mut policies: Vec<AnyPolicy> = located.iter().map(|l| l.policy.clone()).collect();
    policies.extend(cluster.iter().map(|(_, p)| p.clone()));
    let place = |errors: &[LoadError]| -> Vec<String> {
        errors
            .iter()
            .map(|e| {
                let file = e
                    .policy
                    .as_ref()
                    .and_then(|p| sources::locate(&located, p))
                    .map(|l| format!("{}:{}: ", l.file.display(), l.line));
                let object = || {
                    let p = e.policy.as_ref()?;
                    cluster
                        .iter()
                        .find(|(_, c)| c.id() == p)
                        .map(|(origin, _)| format!("{origin}: "))
                };
                let place = file.or_else(object).unwrap_or_default();
                format!("{place}{e}")
            })
            .collect()
    };
    match CompiledPolicies::compile(policies, trust, generation) {
        Ok(compiled) => {
            let notes = place(compiled.unenforceable());
            Ok((compiled, notes))
        }
        Err(errors) => Err(place(&errors)),
    }
}

fn file_fingerprint(paths: &[&Path]) -> u64 {
    let contents: Vec<Vec<u8>> = paths
        .iter()
        .map(|p| std::fs::read(p).unwrap_or_default())
        .collect();
    sources::fingerprint_of(&contents)
}

fn load_policies(
    config: &ServeConfig,
    texts: &sources::PolicyTexts,
    generation: &mut u64,
    state: &AppState,
) {
    let mut cluster = Vec::new();
    if let Some(rx) = &config.cluster {
        let snapshot = rx.borrow().clone();
        let failing = snapshot.failing().join("; ");
        if let Ok(mut last) = state.last_watch_failure.lock() {
            if *last != failing {
                if failing.is_empty() {
                    log::info("watches of the Kubernetes API recovered", &[]);
                } else {
                    log::error(
                        "watch of the Kubernetes API failing (last objects kept, retried)",
                        &[("error", &failing)],
                    );
                }
                *last = failing;
            }
        }
        if !snapshot.synced() {
            if !state.ready.load(Ordering::Acquire) {
                if let Ok(mut g) = state.not_ready.lock() {
                    *g = format!(
                        "policies in the Kubernetes API not listed yet: {}",
                        snapshot.pending().join("; ")
                    );
                }
            }
            return;
        }
        let (policies, errors) = snapshot.policies();
        if !errors.is_empty() {
            refuse(state, &errors);
            return;
        }
        cluster = policies;
    }
    match compile_sources(texts, &cluster, config.trust.clone(), *generation + 1) {
        Ok((compiled, unenforceable)) => {
            *generation += 1;
            let count = compiled.len();
            for e in &unenforceable {
                log::error(
                    "policy cannot be enforced: it denies every image it covers",
                    &[("error", e)],
                );
            }
            state
                .metrics
                .unenforceable_policies
                .store(unenforceable.len() as u64, Ordering::Relaxed);
            state.enforcer.replace_policies(compiled);
            state.ready.store(true, Ordering::Release);
            state
                .metrics
                .policy_reloads_ok
                .fetch_add(1, Ordering::Relaxed);
            log::info(
                "policies in force",
                &[
                    ("generation", &generation.to_string()),
                    ("policies", &count.to_string()),
                ],
            );
        }
        Err(errors) => refuse(state, &errors),
    }
}

/// A generation was refused: the previous one (if any) stays in force.
fn refuse(state: &AppState, errors: &[String]) {
    state
        .metrics
        .policy_reloads_failed
        .fetch_add(1, Ordering::Relaxed);
    for e in errors {
        log::error("policy refused", &[("error", e)]);
    }
    if !state.ready.load(Ordering::Acquire) {
        if let Ok(mut g) = state.not_ready.lock() {
            *g = errors.join("; ");
        }
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub async fn serve(engine: Engine, config: ServeConfig) -> Result<(), ServeError> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let certified =
        load_certified_key(&config.tls_cert, &config.tls_key).map_err(ServeError::Tls)?;
    let resolver = Arc::new(ReloadingCert {
        current: RwLock::new(Arc::new(certified)),
    });
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| ServeError::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_cert_resolver(resolver.clone());
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

    let empty = CompiledPolicies::empty();
    let state = Arc::new(AppState {
        pull_secrets: config
            .pull_secrets
            .clone()
            .map(|cluster| PullSecrets::new(cluster, engine.clone())),
        enforcer: Enforcer::new(engine, empty, config.enforcer.clone()),
        metrics: ServerMetrics::default(),
        ready: AtomicBool::new(false),
        not_ready: Mutex::new("policies not loaded yet".into()),
        last_watch_failure: Mutex::new(String::new()),
        budget: config.budget,
    });
    let mut generation = 0u64;
    let texts = sources::PolicyTexts::read(&config.policy_paths);
    let mut policy_print = texts.fingerprint();
    let mut files_seen = policy_print;
    load_policies(&config, &texts, &mut generation, &state);

    let app = Router::new()
        .route("/validate", post(validate))
        .route("/mutate", post(mutate))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(
            sigward_limits::MAX_ADMISSION_REVIEW_BYTES,
        ))
        .with_state(state.clone());

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let bound = listener.local_addr().unwrap_or(config.listen);
    log::info("listening", &[("address", &bound.to_string())]);

    // Reload loop: policies and the serving certificate.
    {
        let state = state.clone();
        let config = config.clone();
        let resolver = resolver.clone();
        tokio::spawn(async move {
            let cert_paths = [config.tls_cert.as_path(), config.tls_key.as_path()];
            let mut cert_print = file_fingerprint(&cert_paths);
            let cluster_version = || config.cluster.as_ref().map(|rx| rx.borrow().version);
            let mut cluster_print = cluster_version();
            let mut interval = tokio::time::interval(config.reload_interval);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                let texts = sources::PolicyTexts::read(&config.policy_paths);
                let now = texts.fingerprint();
                let cluster_now = cluster_version();
                // A file is read only once its contents are the same on two ticks in a row: an
                // editor truncating then writing a file must not be caught half way (an empty
                // file is a valid, empty policy set, which would admit everything).
                let files_settled = now == files_seen;
                files_seen = now;
                // Unchanged inputs give the same answer: a refused set is retried when an input
                // changes, not on every tick.
                if (now != policy_print && files_settled) || cluster_now != cluster_print {
                    policy_print = now;
                    cluster_print = cluster_now;
                    load_policies(&config, &texts, &mut generation, &state);
                }
                let now = file_fingerprint(&cert_paths);
                if now != cert_print {
                    cert_print = now;
                    match load_certified_key(&config.tls_cert, &config.tls_key) {
                        Ok(k) => {
                            if let Ok(mut g) = resolver.current.write() {
                                *g = Arc::new(k);
                            }
                            state.metrics.tls_reloads_ok.fetch_add(1, Ordering::Relaxed);
                            log::info("serving certificate reloaded", &[]);
                        }
                        Err(e) => {
                            state
                                .metrics
                                .tls_reloads_failed
                                .fetch_add(1, Ordering::Relaxed);
                            log::error("serving certificate refused", &[("error", &e)]);
                        }
                    }
                }
            }
        });
    }

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _peer) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        log::warn("accept failed", &[("error", &e.to_string())]);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                let app = app.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let tls = match tokio::time::timeout(
                        Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => tls,
                        _ => return,
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let mut builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    // A client that opens a connection and trickles its headers is dropped.
                    builder
                        .http1()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10));
                    let connection = builder
                        .serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(tls), service)
                        .into_owned();
                    let _ = watcher.watch(connection).await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    log::info("shutting down", &[]);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
