//! An OCI distribution client: just the endpoints sigward needs, with auth, caps and digests.
//!
//! Data flow of one call: the registry's state (once per registry: scheme + auth challenge; from
//! a `GET /v2/` ping, except for an anonymous read, whose own request finds the scheme and, if
//! it is answered 401, the challenge) -> `authorization` (once per registry + repository +
//! access: a bearer token from the challenge's realm, or basic credentials) -> the request
//! itself, retried once with a fresh token if the registry answers 401 -> a body read under a
//! byte cap -> digest check. Connections are pooled by one `reqwest::Client`; tokens are cached
//! until they expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Deserialize;
use sigward_limits as limits;

use crate::challenge::Challenge;
use crate::credentials::{Credential, CredentialSource};
use crate::manifest::{FetchedManifest, ImageIndex, Manifest, ACCEPTED_MANIFEST_TYPES, OCI_INDEX};
use crate::{Digest, ImageReference, RegistryError};

/// How the client reaches registries.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Where credentials come from.
    pub credentials: CredentialSource,
    /// Extra trusted CA certificates (PEM), on top of the system roots (`--registry-cacert`).
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Trust the operating system's root certificates.
    pub use_system_roots: bool,
    /// Fall back to plain HTTP when a registry does not speak HTTPS (`--allow-http-registry`).
    pub allow_http: bool,
    /// Accept any TLS certificate (`--allow-insecure-registry`). Testing only.
    pub insecure_skip_tls_verify_unsafe: bool,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for one request, body included.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            credentials: CredentialSource::default(),
            extra_ca_pem: Vec::new(),
            use_system_roots: true,
            allow_http: false,
            insecure_skip_tls_verify_unsafe: false,
            connect_timeout: limits::REGISTRY_CONNECT_TIMEOUT,
            request_timeout: limits::REGISTRY_REQUEST_TIMEOUT,
        }
    }
}

/// What a request needs to do in a repository; decides the token scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Read manifests and blobs.
    Pull,
    /// Read and write.
    PushPull,
}

impl Access {
    fn scope_actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::PushPull => "pull,push",
        }
    }
}

/// Counts of HTTP requests sent, for tests and metrics.
#[derive(Debug, Default)]
pub struct RequestStats {
    api: AtomicU64,
    auth: AtomicU64,
}

impl RequestStats {
    /// Requests to registry API endpoints (manifests, blobs, referrers), retries included: an
    /// anonymous first read answered 401 with a challenge counts here, the retry with a token
    /// too.
    pub fn api_requests(&self) -> u64 {
        self.api.load(Ordering::Relaxed)
    }
    /// Requests spent on authentication: `/v2/` pings (sent before the first request to a
    /// registry with credentials, or to write), token fetches, and the HTTPS attempt that a
    /// plain-HTTP registry refuses before sigward falls back to HTTP.
    pub fn auth_requests(&self) -> u64 {
        self.auth.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
struct RegistryState {
    base: Url,
    challenge: Option<Challenge>,
    credential: Credential,
}

#[derive(Debug, Clone)]
struct CachedToken {
    header: HeaderValue,
    expires: Instant,
}

/// A registry client shared by every request of a process: pooled connections, cached auth.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    registries: Mutex<HashMap<String, RegistryState>>,
    tokens: Mutex<HashMap<(String, String, Access), CachedToken>>,
    stats: Arc<RequestStats>,
}

/// The host that serves a registry's API: Docker Hub's name differs from its API host.
pub fn api_host(registry: &str) -> &str {
    match registry {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

impl RegistryClient {
    /// Builds a client; fails if a CA certificate cannot be read.
    pub fn new(config: ClientConfig) -> Result<Self, RegistryError> {
        let tls = sigward_http::tls_config(&sigward_http::TlsTrust {
            use_system_roots: config.use_system_roots,
            extra_ca_pem: config.extra_ca_pem.clone(),
            insecure_skip_verify_unsafe: config.insecure_skip_tls_verify_unsafe,
        })
        .map_err(|reason| RegistryError::Config {
            reason: format!("registry TLS: {reason}"),
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::limited(limits::MAX_REDIRECTS))
            .tcp_nodelay(true)
            .user_agent(concat!("sigward/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::Config {
                reason: e.to_string(),
            })?;
        Ok(RegistryClient {
            inner: Arc::new(Inner {
                http,
                config,
                registries: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                stats: Arc::new(RequestStats::default()),
            }),
        })
    }

    /// The same client (connection pool, TLS, limits, counters) authenticating with these
    /// Kubernetes pull secrets first ([`CredentialSource::pull_secrets`]); tokens are kept
    /// apart from this client's, since the credentials differ.
    ///
    /// [`CredentialSource::pull_secrets`]: crate::credentials::CredentialSource::pull_secrets
    pub fn with_pull_secrets(&self, pull_secrets: Vec<(String, Vec<u8>)>) -> RegistryClient {
        let mut config = self.inner.config.clone();
        config.credentials.pull_secrets = pull_secrets;
        RegistryClient {
            inner: Arc::new(Inner {
                http: self.inner.http.clone(),
                config,
                registries: Mutex::new(HashMap::new()),
                tokens: Mutex::new(HashMap::new()),
                stats: self.inner.stats.clone(),
            }),
        }
    }

    /// Request counters.
    pub fn stats(&self) -> &RequestStats {
        &self.inner.stats
    }

    /// Resolves an image to its manifest digest: a pinned digest is taken as is (no request);
    /// a tag costs one manifest GET, and the digest is computed from the bytes received.
    pub async fn resolve_digest(&self, image: &ImageReference) -> Result<Digest, RegistryError> {
        if let Some(d) = image.digest() {
            return Ok(d.clone());
        }
        let tag = image.tag().unwrap_or("latest");
        Ok(self.get_manifest(image, tag).await?.digest)
    }

    /// Fetches the manifest `reference` (a tag or a digest string) of `image`'s repository.
    /// By digest, the bytes must hash to it; by tag, they must hash to the registry's
    /// `Docker-Content-Digest` header when one is sent.
    pub async fn get_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let path = format!("/v2/{}/manifests/{}", image.path(), reference);
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(accept_manifests()));
        let resp = self
            .send(
                image,
                Access::Pull,
                Method::GET,
                Target::Path(&path),
                headers,
                None,
            )
            .await?;
        let what = format!("manifest {reference}");
        let resp = self.check_status(image, resp, Method::GET, &what).await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = read_bounded(resp, limits::MAX_MANIFEST_BYTES, image.domain(), &what).await?;
        let expected = match Digest::parse(reference) {
            Ok(d) => Some(d),
            Err(_) => header_digest.as_deref().and_then(|h| Digest::parse(h).ok()),
        };
        let digest = match &expected {
            Some(expected) => {
                let actual = Digest::of(expected.algorithm(), &bytes);
                if &actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        registry: image.domain().to_string(),
                        what: format!("manifest {} of {}", reference, image.name()),
                        expected: expected.to_string(),
                        actual: actual.to_string(),
                    });
                }
                if expected.algorithm() == crate::DigestAlgorithm::Sha256 {
                    actual
                } else {
                    Digest::sha256_of(&bytes)
                }
            }
            None => Digest::sha256_of(&bytes),
        };
        let (manifest, media_type) = Manifest::parse(&bytes, content_type.as_deref())?;
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
            manifest,
        })
    }

    /// Like [`get_manifest`](Self::get_manifest), but `Ok(None)` when the manifest does not exist.
    pub async fn get_manifest_if_exists(
        &self,
        image: &ImageReference,
        reference: &str,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        match self.get_manifest(image, reference).await {
            Ok(m) => Ok(Some(m)),
            Err(RegistryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads a blob of at most `limit` bytes and checks it against its digest.
    pub async fn get_blob(
        &self,
        image: &ImageReference,
        digest: &Digest,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let path = format!("/v2/{}/blobs/{}", image.path(), digest);
        let resp = self
            .send(
                image,
                Access::Pull,
                Method::GET,
                Target::Path(&path),
                HeaderMap::new(),
                None,
            )
            .await?;
        let what = format!("blob {digest}");
        let resp = self.check_status(image, resp, Method::GET, &what).await?;
        let bytes = read_bounded(resp, limit, image.domain(), &what).await?;
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: image.domain().to_string(),
                what: format!("blob of {}", image.name()),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }

    /// Whether the repository already holds a blob.
    pub async fn blob_exists(
        &self,
        image: &ImageReference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let path = format!("/v2/{}/blobs/{}", image.path(), digest);
        let resp = self
            .send(
                image,
                Access::PushPull,
                Method::HEAD,
                Target::Path(&path),
                HeaderMap::new(),
                None,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .status_error(image, resp, Method::HEAD, &format!("blob {digest}"))
                .await),
        }
    }

    /// Uploads a blob (monolithic POST + PUT) unless the repository has it; returns its digest.
    pub async fn push_blob(
        &self,
        image: &ImageReference,
        bytes: Vec<u8>,
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256_of(&bytes);
        if self.blob_exists(image, &digest).await? {
            return Ok(digest);
        }
        let path = format!("/v2/{}/blobs/uploads/", image.path());
        let resp = self
            .send(
                image,
                Access::PushPull,
                Method::POST,
                Target::Path(&path),
                HeaderMap::new(),
                None,
            )
            .await?;
        let resp = self
            .check_status(image, resp, Method::POST, "blob upload")
            .await?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                registry: image.domain().to_string(),
                reason: "blob upload answer has no Location header".into(),
            })?;
        let mut url = resp
            .url()
            .join(location)
            .map_err(|e| RegistryError::Protocol {
                registry: image.domain().to_string(),
                reason: format!("blob upload Location {location:?}: {e}"),
            })?;
        url.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = self
            .send(
                image,
                Access::PushPull,
                Method::PUT,
                Target::Url(url),
                headers,
                Some(bytes),
            )
            .await?;
        self.check_status(image, resp, Method::PUT, &format!("blob {digest}"))
            .await?;
        Ok(digest)
    }

    /// Uploads a manifest under `reference` (a tag or its digest); returns its digest.
    pub async fn put_manifest(
        &self,
        image: &ImageReference,
        reference: &str,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<Digest, RegistryError> {
        Ok(self.put(image, Some(reference), bytes, media_type).await?.0)
    }

    /// Uploads a manifest by its digest and says whether the registry indexed its `subject`
    /// (it answers with an `OCI-Subject` header when it has the referrers API).
    pub async fn put_manifest_by_digest(
        &self,
        image: &ImageReference,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<(Digest, bool), RegistryError> {
        self.put(image, None, bytes, media_type).await
    }

    async fn put(
        &self,
        image: &ImageReference,
        reference: Option<&str>,
        bytes: Vec<u8>,
        media_type: &str,
    ) -> Result<(Digest, bool), RegistryError> {
        let digest = Digest::sha256_of(&bytes);
        let reference = reference.map_or_else(|| digest.to_string(), str::to_string);
        let path = format!("/v2/{}/manifests/{}", image.path(), reference);
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(media_type).map_err(|_| RegistryError::UnsupportedMediaType {
                media_type: media_type.to_string(),
            })?,
        );
        let resp = self
            .send(
                image,
                Access::PushPull,
                Method::PUT,
                Target::Path(&path),
                headers,
                Some(bytes),
            )
            .await?;
        let resp = self
            .check_status(image, resp, Method::PUT, &format!("manifest {reference}"))
            .await?;
        Ok((digest, resp.headers().contains_key("oci-subject")))
    }

    /// Lists referrers of `digest` through the OCI 1.1 referrers API, optionally filtered by
    /// artifact type. `Ok(None)` when the registry has no referrers API (it answers 404).
    pub async fn referrers_api(
        &self,
        image: &ImageReference,
        digest: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<ImageIndex>, RegistryError> {
        let mut path = format!("/v2/{}/referrers/{}", image.path(), digest);
        if let Some(t) = artifact_type {
            path.push_str("?artifactType=");
            path.push_str(&url_escape(t));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(OCI_INDEX));
        let resp = self
            .send(
                image,
                Access::Pull,
                Method::GET,
                Target::Path(&path),
                headers,
                None,
            )
            .await?;
        // 404 is what the spec says a registry without the API answers; some answer 400, 405,
        // 406 or 501 instead. All mean: use the tag schema.
        if matches!(resp.status().as_u16(), 400 | 404 | 405 | 406 | 501) {
            return Ok(None);
        }
        let what = format!("referrers of {digest}");
        let resp = self.check_status(image, resp, Method::GET, &what).await?;
        let filtered = resp
            .headers()
            .get("oci-filters-applied")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
        let bytes = read_bounded(resp, limits::MAX_MANIFEST_BYTES, image.domain(), &what).await?;
        let mut index: ImageIndex =
            serde_json::from_slice(&bytes).map_err(|e| RegistryError::MalformedManifest {
                reason: format!("{what} is not an image index: {e}"),
            })?;
        if let (Some(t), false) = (artifact_type, filtered) {
            index
                .manifests
                .retain(|d| d.artifact_type.as_deref() == Some(t));
        }
        Ok(Some(index))
    }

    // ----------------------------------------------------------------- plumbing

    async fn check_status(
        &self,
        image: &ImageReference,
        resp: Response,
        method: Method,
        what: &str,
    ) -> Result<Response, RegistryError> {
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(self.status_error(image, resp, method, what).await)
        }
    }

    async fn status_error(
        &self,
        image: &ImageReference,
        resp: Response,
        method: Method,
        what: &str,
    ) -> RegistryError {
        let status = resp.status();
        let url = resp.url().to_string();
        let body = read_bounded(
            resp,
            limits::MAX_AUTH_RESPONSE_BYTES,
            image.domain(),
            "error body",
        )
        .await
        .unwrap_or_default();
        let message = registry_message(&body);
        match status {
            StatusCode::NOT_FOUND => RegistryError::NotFound {
                registry: image.domain().to_string(),
                repository: image.path().to_string(),
                what: what.to_string(),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => RegistryError::Unauthorized {
                registry: image.domain().to_string(),
                repository: image.path().to_string(),
                reason: format!("{status}: {message}"),
            },
            _ => RegistryError::Status {
                registry: image.domain().to_string(),
                method: method.to_string(),
                url,
                status: status.as_u16(),
                message,
            },
        }
    }

    /// Sends one API request with auth, retrying once with a fresh token on 401.
    ///
    /// The first request to a registry finds its scheme (HTTPS, or plain HTTP when allowed).
    /// An anonymous read goes straight to the endpoint and authenticates only if the registry
    /// answers 401 with a challenge (then retries once), as containerd does: an open registry
    /// costs no `GET /v2/` ping. With credentials, or to write, the first request is a ping,
    /// so that credentials are only sent as the registry's challenge asks and no upload is sent
    /// twice to learn it. (A write after an anonymous read of the same registry learns a
    /// challenge it had not met from a 401, like a read; bodies are kept in memory, so the
    /// retry resends them.)
    async fn send(
        &self,
        image: &ImageReference,
        access: Access,
        method: Method,
        target: Target<'_>,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<Response, RegistryError> {
        let registry = image.domain();
        let body: Option<bytes::Bytes> = body.map(bytes::Bytes::from);
        let resolve = |base: &Url, target: Target<'_>| match target {
            Target::Path(p) => base.join(p).map_err(|e| RegistryError::Config {
                reason: format!("bad request path {p:?}: {e}"),
            }),
            Target::Url(u) => Ok(u),
        };
        // The answer to an unauthenticated first request, when one was sent.
        let mut answered = None;
        let cached = lock(&self.inner.registries).get(registry).cloned();
        let (state, url) = match cached {
            Some(state) => {
                let url = resolve(&state.base, target)?;
                (state, url)
            }
            None => {
                let credential = self.inner.config.credentials.credential_for(registry)?;
                match target {
                    Target::Path(path)
                        if access == Access::Pull
                            && body.is_none()
                            && matches!(credential, Credential::Anonymous) =>
                    {
                        let (base, resp) = self
                            .probe(registry, path, &self.inner.stats.api, |url| {
                                self.inner
                                    .http
                                    .request(method.clone(), url)
                                    .headers(headers.clone())
                            })
                            .await?;
                        let url = resolve(&base, Target::Path(path))?;
                        let state = RegistryState {
                            base,
                            challenge: None,
                            credential,
                        };
                        lock(&self.inner.registries).insert(registry.to_string(), state.clone());
                        answered = Some(resp);
                        (state, url)
                    }
                    target => {
                        let state = self.registry_state(registry, credential).await?;
                        let url = resolve(&state.base, target)?;
                        (state, url)
                    }
                }
            }
        };
        let mut challenge = state.challenge.clone();
        let mut refresh = false;
        let mut attempts_left = if answered.is_some() { 1 } else { 2 };
        loop {
            let resp = match answered.take() {
                Some(resp) => resp,
                None => {
                    attempts_left -= 1;
                    let auth = self
                        .authorization(&state, challenge.as_ref(), image, access, refresh)
                        .await?;
                    let mut req = self
                        .inner
                        .http
                        .request(method.clone(), url.clone())
                        .headers(headers.clone());
                    if let Some(auth) = auth {
                        req = req.header(AUTHORIZATION, auth);
                    }
                    if let Some(b) = &body {
                        req = req.body(b.clone());
                    }
                    self.inner.stats.api.fetch_add(1, Ordering::Relaxed);
                    req.send()
                        .await
                        .map_err(|e| transport_error(registry, &url, &e, self.timeout()))?
                }
            };
            if resp.status() != StatusCode::UNAUTHORIZED || attempts_left == 0 {
                return Ok(resp);
            }
            // No token yet, or it lacks this scope or has expired: ask as the registry says,
            // once.
            let Some(fresh) = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse)
            else {
                return Ok(resp);
            };
            if matches!(state.credential, Credential::Anonymous)
                && matches!(fresh, Challenge::Basic)
            {
                return Ok(resp);
            }
            // Later requests to this registry authenticate from the start.
            if let Some(s) = lock(&self.inner.registries).get_mut(registry) {
                s.challenge = Some(fresh.clone());
            }
            challenge = Some(fresh);
            refresh = true;
        }
    }

    fn timeout(&self) -> Duration {
        self.inner.config.request_timeout
    }

    /// Scheme and challenge of a registry, from a `GET /v2/` ping the first time.
    async fn registry_state(
        &self,
        registry: &str,
        credential: Credential,
    ) -> Result<RegistryState, RegistryError> {
        let (base, resp) = self
            .probe(registry, "/v2/", &self.inner.stats.auth, |url| {
                self.inner.http.get(url)
            })
            .await?;
        let challenge = match resp.status() {
            StatusCode::UNAUTHORIZED => resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(Challenge::parse),
            s if s.is_success() => None,
            // Some registries answer 404 or 403 on /v2/; requests will tell.
            _ => None,
        };
        let state = RegistryState {
            base,
            challenge,
            credential,
        };
        lock(&self.inner.registries).insert(registry.to_string(), state.clone());
        Ok(state)
    }

    /// Sends the first request to a registry (`path` on it, built by `request`, counted in
    /// `counter`) over HTTPS, or over plain HTTP when that is allowed and the server answered
    /// the TLS handshake in plain HTTP or hung up on it (that refused attempt is counted as an
    /// authentication request: it only finds the scheme). Returns the base URL that worked and
    /// the answer, whatever its status.
    async fn probe(
        &self,
        registry: &str,
        path: &str,
        counter: &AtomicU64,
        request: impl Fn(Url) -> reqwest::RequestBuilder,
    ) -> Result<(Url, Response), RegistryError> {
        let host = api_host(registry);
        let send = |base: &Url| {
            let url = base.join(path).map_err(|e| RegistryError::Config {
                reason: format!("bad request path {path:?}: {e}"),
            });
            let sent = url.map(|url| (request(url.clone()).send(), url));
            async move {
                let (sent, url) = sent.map_err(|e| (false, e))?;
                sent.await.map_err(|e| {
                    // Only a failure of this origin says which scheme it speaks (not one of a
                    // host it redirected to).
                    let here = e.url().is_none_or(|u| same_origin(u, &url));
                    (here, transport_error(registry, &url, &e, self.timeout()))
                })
            }
        };
        let count = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
        let https = base_url("https", host)?;
        match send(&https).await {
            Ok(resp) => {
                count(counter);
                Ok((https, resp))
            }
            // Fall back only when the server answered in plain HTTP or hung up on the TLS
            // handshake; a certificate error stays an error, so it cannot be downgraded away.
            Err((true, e))
                if self.inner.config.allow_http
                    && matches!(&e, RegistryError::Unreachable { reason, .. }
                        if is_http_answer(reason) || is_hangup(reason)) =>
            {
                count(&self.inner.stats.auth);
                let http = base_url("http", host)?;
                let second = send(&http).await;
                count(counter);
                match second {
                    Ok(resp) => Ok((http, resp)),
                    // A plain-HTTP server that then fails (a timeout, say) reports that; when
                    // neither scheme could connect, the HTTPS reason is the one to show.
                    Err((_, RegistryError::Unreachable { .. }))
                        if !matches!(&e, RegistryError::Unreachable { reason, .. }
                            if is_http_answer(reason)) =>
                    {
                        Err(e)
                    }
                    Err((_, http_error)) => Err(http_error),
                }
            }
            Err((here, e)) => {
                count(counter);
                match e {
                    RegistryError::Unreachable { reason, .. }
                        if here && !self.inner.config.allow_http && is_http_answer(&reason) =>
                    {
                        Err(RegistryError::HttpNotAllowed {
                            registry: registry.to_string(),
                            reason,
                        })
                    }
                    e => Err(e),
                }
            }
        }
    }

    /// The `Authorization` header for a request, fetching a token when the registry wants one.
    async fn authorization(
        &self,
        state: &RegistryState,
        challenge: Option<&Challenge>,
        image: &ImageReference,
        access: Access,
        refresh: bool,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let basic = |username: &str, password: &str| {
            let raw =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            HeaderValue::from_str(&format!("Basic {raw}")).ok()
        };
        match (challenge, &state.credential) {
            (None, _) => Ok(None),
            (Some(Challenge::Basic), Credential::Basic { username, password }) => {
                Ok(basic(username, password))
            }
            (Some(Challenge::Basic), _) => Ok(None),
            (Some(Challenge::Bearer { realm, service, .. }), credential) => {
                let key = (image.domain().to_string(), image.path().to_string(), access);
                if !refresh {
                    if let Some(t) = lock(&self.inner.tokens).get(&key) {
                        if t.expires > Instant::now() {
                            return Ok(Some(t.header.clone()));
                        }
                    }
                }
                let scope = format!("repository:{}:{}", image.path(), access.scope_actions());
                let token = self
                    .fetch_token(
                        image.domain(),
                        realm,
                        service.as_deref(),
                        &scope,
                        credential,
                    )
                    .await?;
                lock(&self.inner.tokens).insert(key, token.clone());
                Ok(Some(token.header))
            }
        }
    }

    async fn fetch_token(
        &self,
        registry: &str,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        credential: &Credential,
    ) -> Result<CachedToken, RegistryError> {
        let mut url = Url::parse(realm).map_err(|e| RegistryError::Protocol {
            registry: registry.to_string(),
            reason: format!("token realm {realm:?} is not a URL: {e}"),
        })?;
        if url.scheme() != "https" && !self.inner.config.allow_http {
            return Err(RegistryError::HttpNotAllowed {
                registry: registry.to_string(),
                reason: format!("its token service {realm} is plain HTTP"),
            });
        }
        let req = match credential {
            Credential::IdentityToken(refresh) => {
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh.as_str()),
                    ("scope", scope),
                    ("client_id", "sigward"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                self.inner.http.post(url.clone()).form(&form)
            }
            other => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", scope);
                }
                let req = self.inner.http.get(url.clone());
                match other {
                    Credential::Basic { username, password } => {
                        req.basic_auth(username, Some(password))
                    }
                    _ => req,
                }
            }
        };
        self.inner.stats.auth.fetch_add(1, Ordering::Relaxed);
        let resp = req
            .send()
            .await
            .map_err(|e| transport_error(registry, &url, &e, self.timeout()))?;
        let status = resp.status();
        let body = read_bounded(
            resp,
            limits::MAX_AUTH_RESPONSE_BYTES,
            registry,
            "token response",
        )
        .await?;
        if !status.is_success() {
            return Err(RegistryError::Unauthorized {
                registry: registry.to_string(),
                repository: scope.to_string(),
                reason: format!(
                    "token service answered {status}: {}",
                    registry_message(&body)
                ),
            });
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                registry: registry.to_string(),
                reason: format!("token response is not JSON: {e}"),
            })?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Protocol {
                registry: registry.to_string(),
                reason: "token response has no token".into(),
            })?;
        let header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            RegistryError::Protocol {
                registry: registry.to_string(),
                reason: "token contains characters not allowed in a header".into(),
            }
        })?;
        // The distribution spec's default lifetime is 60 s; renew a little early.
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(60).clamp(10, 3600));
        Ok(CachedToken {
            header,
            expires: Instant::now() + lifetime - Duration::from_secs(5),
        })
    }
}

enum Target<'a> {
    Path(&'a str),
    Url(Url),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these maps cannot leave them inconsistent (single inserts), so a
    // poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

fn base_url(scheme: &str, host: &str) -> Result<Url, RegistryError> {
    Url::parse(&format!("{scheme}://{host}/")).map_err(|e| RegistryError::Config {
        reason: format!("registry host {host:?}: {e}"),
    })
}

fn accept_manifests() -> &'static str {
    // Built once from ACCEPTED_MANIFEST_TYPES; a literal keeps it a &'static str.
    const ACCEPT_ALL: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";
    debug_assert_eq!(ACCEPT_ALL, ACCEPTED_MANIFEST_TYPES.join(", "));
    ACCEPT_ALL
}

fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The server closed the connection during the TLS handshake.
fn is_hangup(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("closed") || r.contains("eof") || r.contains("reset")
}

/// A TLS error caused by the server answering in plain HTTP.
fn is_http_answer(reason: &str) -> bool {
    reason.contains("InvalidContentType")
        || reason.contains("corrupt message")
        || reason.contains("HTTP")
}

fn transport_error(
    registry: &str,
    url: &Url,
    e: &reqwest::Error,
    timeout: Duration,
) -> RegistryError {
    if e.is_timeout() {
        return RegistryError::Timeout {
            registry: registry.to_string(),
            url: url.to_string(),
            millis: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
    }
    if e.is_redirect() {
        return RegistryError::TooManyRedirects {
            url: url.to_string(),
            limit: limits::MAX_REDIRECTS,
        };
    }
    RegistryError::Unreachable {
        registry: registry.to_string(),
        reason: sigward_http::root_cause(e),
    }
}

/// The first message of a distribution error body, or the body's start.
fn registry_message(body: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Errors {
        errors: Vec<ErrorEntry>,
    }
    #[derive(Deserialize)]
    struct ErrorEntry {
        code: Option<String>,
        message: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        if let Some(first) = e.errors.first() {
            return [first.code.as_deref(), first.message.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    text.chars().take(200).collect()
}

async fn read_bounded(
    resp: Response,
    limit: u64,
    registry: &str,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let url = resp.url().clone();
    sigward_http::read_limited(resp, limit)
        .await
        .map_err(|e| match e {
            sigward_http::BodyError::TooLarge => RegistryError::TooLarge {
                registry: registry.to_string(),
                what: what.to_string(),
                limit,
            },
            sigward_http::BodyError::Transport(e) => {
                transport_error(registry, &url, &e, limits::REGISTRY_REQUEST_TIMEOUT)
            }
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn registry_messages() {
        assert_eq!(
            registry_message(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(
            registry_message(b"404 page not found\n"),
            "404 page not found"
        );
    }

    #[test]
    fn accept_header_lists_every_type() {
        assert_eq!(accept_manifests(), ACCEPTED_MANIFEST_TYPES.join(", "));
    }

    #[test]
    fn url_escapes_artifact_types() {
        assert_eq!(
            url_escape("application/vnd.dev.sigstore.bundle.v0.3+json"),
            "application%2Fvnd.dev.sigstore.bundle.v0.3%2Bjson"
        );
    }

    #[test]
    fn docker_hub_api_host() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("127.0.0.1:5000"), "127.0.0.1:5000");
    }
}
