//! The registry client against registries that misbehave: huge bodies, hangs, redirect loops,
//! lies about digests, malformed and unknown manifests, auth failures. The misbehaving server
//! is an in-process HTTP/1.1 responder (the real-registry tests live in the CLI's interop suite);
//! each test asserts the exact error variant.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigward_oci::client::{ClientConfig, RegistryClient};
use sigward_oci::credentials::CredentialSource;
use sigward_oci::{Digest, ImageReference, RegistryError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake registry does with one request.
enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Send headers announcing `length` bytes (or chunked when None) and then stream zeros.
    Endless { content_length: Option<u64> },
    /// Accept the request and never answer.
    Hang,
}

fn ok(body: &[u8], headers: &[(&str, &str)]) -> Reply {
    Reply::Respond {
        status: 200,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.to_vec(),
    }
}

fn status(code: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    Reply::Respond {
        status: code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

type Handler = Arc<dyn Fn(&Request, u16) -> Reply + Send + Sync>;

/// Starts the fake registry on 127.0.0.1; returns its port and a request counter.
async fn serve(handler: Handler) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let handler = handler.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                loop {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    counter.fetch_add(1, Ordering::SeqCst);
                    match handler(&req, port) {
                        Reply::Respond {
                            status,
                            headers,
                            body,
                        } => {
                            let mut head = format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n",
                                body.len()
                            );
                            for (k, v) in headers {
                                head.push_str(&format!("{k}: {v}\r\n"));
                            }
                            head.push_str("\r\n");
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            if req.method != "HEAD" && sock.write_all(&body).await.is_err() {
                                return;
                            }
                        }
                        Reply::Endless { content_length } => {
                            let head = match content_length {
                                Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ncontent-length: {n}\r\n\r\n"),
                                None => "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ntransfer-encoding: chunked\r\n\r\n".to_string(),
                            };
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = vec![b' '; 64 * 1024];
                            let framed = [
                                format!("{:x}\r\n", chunk.len()).into_bytes(),
                                chunk.clone(),
                                b"\r\n".to_vec(),
                            ]
                            .concat();
                            let piece = if content_length.is_some() {
                                &chunk
                            } else {
                                &framed
                            };
                            // Bounded: stops after 64 MiB even if the client keeps reading.
                            for _ in 0..1024 {
                                if sock.write_all(piece).await.is_err() {
                                    return;
                                }
                            }
                            return;
                        }
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (port, count)
}

/// Reads one request head; None for anything that is not HTTP/1.1 (e.g. a TLS ClientHello).
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if sock.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
        if buf.len() == 1 && !byte[0].is_ascii_uppercase() {
            return None;
        }
    }
    let text = String::from_utf8(buf).ok()?;
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let mut headers = HashMap::new();
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(1 << 20)];
    sock.read_exact(&mut body).await.ok()?;
    Some(Request {
        method,
        path,
        headers,
    })
}

fn client(timeout: Duration) -> RegistryClient {
    RegistryClient::new(ClientConfig {
        credentials: CredentialSource {
            ignore_docker_config: true,
            ..Default::default()
        },
        allow_http: true,
        use_system_roots: false,
        request_timeout: timeout,
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    })
    .unwrap()
}

fn image(port: u16, rest: &str) -> ImageReference {
    ImageReference::parse(&format!("127.0.0.1:{port}/{rest}")).unwrap()
}

const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;
const OCI: (&str, &str) = ("content-type", "application/vnd.oci.image.manifest.v1+json");

fn v2_open(req: &Request) -> Option<Reply> {
    (req.path == "/v2/").then(|| ok(b"{}", &[]))
}

#[tokio::test]
async fn huge_manifest_announced_is_refused_before_reading() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or(Reply::Endless {
            content_length: Some(10 * 1024 * 1024 * 1024),
        })
    }))
    .await;
    let started = Instant::now();
    let err = client(Duration::from_secs(10))
        .get_manifest(&image(port, "big"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == sigward_limits::MAX_MANIFEST_BYTES),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn endless_chunked_manifest_is_cut_at_the_cap() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or(Reply::Endless {
            content_length: None,
        })
    }))
    .await;
    let err = client(Duration::from_secs(20))
        .get_manifest(&image(port, "big"), "v1")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn huge_blob_is_cut_at_the_callers_cap() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or(Reply::Endless {
            content_length: None,
        })
    }))
    .await;
    let d = Digest::sha256_of(b"x");
    let err = client(Duration::from_secs(20))
        .get_blob(&image(port, "big"), &d, 1000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit: 1000, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn hanging_registry_times_out() {
    let (port, _) = serve(Arc::new(|req, _| v2_open(req).unwrap_or(Reply::Hang))).await;
    let started = Instant::now();
    let err = client(Duration::from_millis(700))
        .get_manifest(&image(port, "slow"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Timeout { millis: 700, .. }),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn redirect_loop_is_cut() {
    let (port, _) = serve(Arc::new(|req, port| {
        v2_open(req).unwrap_or_else(|| {
            let loc = format!("http://127.0.0.1:{port}{}x", req.path);
            status(307, &[("location", &loc)], "")
        })
    }))
    .await;
    let err = client(Duration::from_secs(5))
        .get_manifest(&image(port, "loop"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooManyRedirects { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_and_unknown_manifests() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or_else(|| match req.path.rsplit('/').next() {
            Some("garbage") => ok(b"{\"schemaVersion\":2,", &[OCI]),
            Some("schema1") => ok(
                br#"{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}"#,
                &[(
                    "content-type",
                    "application/vnd.docker.distribution.manifest.v1+prettyjws",
                )],
            ),
            _ => status(
                404,
                &[],
                r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
            ),
        })
    }))
    .await;
    let c = client(Duration::from_secs(5));
    let err = c
        .get_manifest(&image(port, "m"), "garbage")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::MalformedManifest { .. }),
        "{err}"
    );
    let err = c
        .get_manifest(&image(port, "m"), "schema1")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RegistryError::UnsupportedMediaType {
            media_type: "application/vnd.docker.distribution.manifest.v1+prettyjws".into()
        }
    );
    let err = c
        .get_manifest(&image(port, "m"), "absent")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn registry_lying_about_digests_is_caught() {
    let wrong = Digest::sha256_of(b"something else").to_string();
    let (port, _) = serve(Arc::new(move |req, _| {
        v2_open(req).unwrap_or_else(|| {
            if req.path.contains("/blobs/") {
                ok(b"not the blob you asked for", &[])
            } else {
                ok(MANIFEST, &[OCI, ("docker-content-digest", &wrong)])
            }
        })
    }))
    .await;
    let c = client(Duration::from_secs(5));
    let img = image(port, "liar");
    // By tag: the header names a digest the bytes do not have.
    let err = c.get_manifest(&img, "v1").await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
    // By digest: the bytes are not the ones asked for.
    let asked = Digest::sha256_of(b"the real manifest");
    let err = c.get_manifest(&img, &asked.to_string()).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::DigestMismatch { ref expected, .. } if *expected == asked.to_string()),
        "{err}"
    );
    let err = c.get_blob(&img, &asked, 1024).await.unwrap_err();
    assert!(matches!(err, RegistryError::DigestMismatch { .. }), "{err}");
}

#[tokio::test]
async fn server_errors_carry_the_registry_message() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or_else(|| {
            status(
                503,
                &[],
                r#"{"errors":[{"code":"UNAVAILABLE","message":"backend storage is down"}]}"#,
            )
        })
    }))
    .await;
    let err = client(Duration::from_secs(5))
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Status { status: 503, ref message, .. } if message == "UNAVAILABLE: backend storage is down"),
        "{err}"
    );
}

#[tokio::test]
async fn basic_challenge_without_credentials_is_unauthorized() {
    let (port, _) = serve(Arc::new(|_, _| {
        status(401, &[("www-authenticate", "Basic realm=\"r\"")], "")
    }))
    .await;
    let err = client(Duration::from_secs(5))
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
}

#[tokio::test]
async fn bearer_tokens_are_fetched_once_and_reused() {
    let tokens = Arc::new(AtomicUsize::new(0));
    let issued = tokens.clone();
    let (port, _) = serve(Arc::new(move |req, port| {
        let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake\"");
        if req.path.starts_with("/token?") {
            assert!(
                req.path.contains("scope=repository%3Aorg%2Fapp%3Apull"),
                "{}",
                req.path
            );
            assert!(req.path.contains("service=fake"), "{}", req.path);
            issued.fetch_add(1, Ordering::SeqCst);
            return ok(br#"{"token":"t0k3n","expires_in":300}"#, &[]);
        }
        if req.headers.get("authorization").map(String::as_str) != Some("Bearer t0k3n") {
            return status(401, &[("www-authenticate", &challenge)], "");
        }
        ok(MANIFEST, &[OCI])
    }))
    .await;
    let c = client(Duration::from_secs(5));
    let img = image(port, "org/app");
    for _ in 0..3 {
        c.get_manifest(&img, "v1").await.unwrap();
    }
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        1,
        "one token for three requests"
    );
    // No /v2/ ping for an anonymous read: the first request is answered 401 with the
    // challenge, then it and the next two are sent with the token.
    assert_eq!(c.stats().api_requests(), 4);
    // The HTTPS attempt this plain-HTTP server refuses, and the token.
    assert_eq!(c.stats().auth_requests(), 2);
}

/// Each request as "METHOD path auth-scheme" ("-" without an Authorization header).
type Log = Arc<std::sync::Mutex<Vec<String>>>;

fn record(log: &Log, req: &Request) {
    let auth = req
        .headers
        .get("authorization")
        .map_or("-", |a| a.split(' ').next().unwrap_or("-"));
    log.lock()
        .unwrap()
        .push(format!("{} {} {auth}", req.method, req.path));
}

#[tokio::test]
async fn anonymous_reads_of_an_open_registry_need_no_ping() {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (port, _) = serve(Arc::new(move |req, _| {
        record(&seen, req);
        v2_open(req).unwrap_or_else(|| ok(MANIFEST, &[OCI]))
    }))
    .await;
    let c = client(Duration::from_secs(5));
    for _ in 0..2 {
        c.get_manifest(&image(port, "x"), "v1").await.unwrap();
    }
    assert_eq!(
        *log.lock().unwrap(),
        ["GET /v2/x/manifests/v1 -", "GET /v2/x/manifests/v1 -"]
    );
    assert_eq!(c.stats().api_requests(), 2);
    // Only the HTTPS attempt that this plain-HTTP server refused.
    assert_eq!(c.stats().auth_requests(), 1);
}

#[tokio::test]
async fn credentials_are_sent_as_the_ping_challenge_asks() {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (port, _) = serve(Arc::new(move |req, _| {
        record(&seen, req);
        // "u:p" in base64.
        if req.headers.get("authorization").map(String::as_str) != Some("Basic dTpw") {
            return status(401, &[("www-authenticate", "Basic realm=\"r\"")], "");
        }
        ok(MANIFEST, &[OCI])
    }))
    .await;
    let c = RegistryClient::new(ClientConfig {
        credentials: CredentialSource {
            explicit: Some(("u".into(), "p".into())),
            ignore_docker_config: true,
            ..Default::default()
        },
        allow_http: true,
        use_system_roots: false,
        ..Default::default()
    })
    .unwrap();
    c.get_manifest(&image(port, "x"), "v1").await.unwrap();
    // With credentials, the ping first: they go out only as its challenge asks.
    assert_eq!(
        *log.lock().unwrap(),
        ["GET /v2/ -", "GET /v2/x/manifests/v1 Basic"]
    );
}

#[tokio::test]
async fn writes_ping_first_even_anonymously() {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (port, _) = serve(Arc::new(move |req, _| {
        record(&seen, req);
        v2_open(req).unwrap_or_else(|| {
            if req.method == "HEAD" {
                return status(404, &[], "");
            }
            if req.method == "POST" {
                return status(202, &[("location", "/upload/1")], "");
            }
            status(201, &[], "")
        })
    }))
    .await;
    client(Duration::from_secs(5))
        .push_blob(&image(port, "x"), b"blob".to_vec())
        .await
        .unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log[0], "GET /v2/ -", "{log:?}");
    assert_eq!(log.len(), 4, "{log:?}");
}

#[tokio::test]
async fn a_challenge_once_met_is_answered_up_front() {
    let log: Log = Arc::default();
    let seen = log.clone();
    let (port, _) = serve(Arc::new(move |req, port| {
        record(&seen, req);
        if let Some(query) = req.path.strip_prefix("/token?") {
            let repo = if query.contains("repository%3Aa%3Apull") {
                "a"
            } else {
                assert!(query.contains("repository%3Ab%3Apull"), "{query}");
                "b"
            };
            return ok(format!(r#"{{"token":"for-{repo}"}}"#).as_bytes(), &[]);
        }
        let repo = &req.path[4..5];
        if req.headers.get("authorization") != Some(&format!("Bearer for-{repo}")) {
            let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\"");
            return status(401, &[("www-authenticate", &challenge)], "");
        }
        ok(MANIFEST, &[OCI])
    }))
    .await;
    let c = client(Duration::from_secs(5));
    c.get_manifest(&image(port, "a"), "v1").await.unwrap();
    c.get_manifest(&image(port, "b"), "v1").await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        [
            // First contact: the anonymous read is told to fetch a token.
            "GET /v2/a/manifests/v1 -",
            "GET /token?scope=repository%3Aa%3Apull -",
            "GET /v2/a/manifests/v1 Bearer",
            // Another repository: its token first, then the read.
            "GET /token?scope=repository%3Ab%3Apull -",
            "GET /v2/b/manifests/v1 Bearer",
        ]
    );
}

#[tokio::test]
async fn plain_http_needs_the_flag() {
    let (port, _) = serve(Arc::new(|req, _| {
        v2_open(req).unwrap_or_else(|| ok(MANIFEST, &[OCI]))
    }))
    .await;
    let strict = RegistryClient::new(ClientConfig {
        use_system_roots: false,
        credentials: CredentialSource {
            ignore_docker_config: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let err = strict
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::HttpNotAllowed { .. } | RegistryError::Unreachable { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
    client(Duration::from_secs(5))
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap();
}

fn sig_manifest(layers: usize, layer_size: u64, payload_digest: &Digest) -> Vec<u8> {
    let layer = serde_json::json!({
        "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
        "digest": payload_digest.to_string(), "size": layer_size,
        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}
    });
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": payload_digest.to_string(), "size": 2},
        "layers": vec![layer; layers]
    }))
    .unwrap()
}

#[tokio::test]
async fn signatures_per_image_are_capped() {
    let payload = b"{}".to_vec();
    let pd = Digest::sha256_of(&payload);
    let manifest = sig_manifest(1000, payload.len() as u64, &pd);
    let (port, requests) = serve(Arc::new(move |req, _| {
        v2_open(req).unwrap_or_else(|| {
            if req.path.contains("/blobs/") {
                ok(&payload, &[])
            } else {
                ok(&manifest, &[OCI])
            }
        })
    }))
    .await;
    let c = client(Duration::from_secs(10));
    let image_digest = Digest::sha256_of(b"image");
    let err = c
        .tag_signatures(&image(port, "many"), &image_digest)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooManySignatures { count: 1000, limit, .. }
            if limit == sigward_limits::MAX_SIGNATURES_PER_IMAGE),
        "{err}"
    );
    // The manifest only (an anonymous read needs no ping): no blob is fetched.
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oversized_signature_layer_is_refused_before_download() {
    let pd = Digest::sha256_of(b"x");
    let manifest = sig_manifest(1, sigward_limits::MAX_BLOB_BYTES + 1, &pd);
    let (port, requests) = serve(Arc::new(move |req, _| {
        v2_open(req).unwrap_or_else(|| {
            assert!(
                !req.path.contains("/blobs/"),
                "the blob must not be fetched"
            );
            ok(&manifest, &[OCI])
        })
    }))
    .await;
    let err = client(Duration::from_secs(5))
        .tag_signatures(&image(port, "big-sig"), &Digest::sha256_of(b"image"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == sigward_limits::MAX_BLOB_BYTES),
        "{err}"
    );
    // The manifest only: no ping, no blob.
    assert_eq!(requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn oversized_token_response_is_refused() {
    let (port, _) = serve(Arc::new(|req, port| {
        if req.path.starts_with("/token") {
            return Reply::Endless {
                content_length: None,
            };
        }
        let challenge = format!("Bearer realm=\"http://127.0.0.1:{port}/token\"");
        status(401, &[("www-authenticate", &challenge)], "")
    }))
    .await;
    let err = client(Duration::from_secs(10))
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == sigward_limits::MAX_AUTH_RESPONSE_BYTES),
        "{err}"
    );
}

#[tokio::test]
async fn refused_connection_names_the_registry() {
    // Bind then drop: nothing listens on this port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = client(Duration::from_secs(5))
        .get_manifest(&image(port, "x"), "v1")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::Unreachable { ref registry, .. } if *registry == format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test]
async fn a_65th_signature_is_not_written() {
    let payload = b"{}".to_vec();
    let pd = Digest::sha256_of(&payload);
    let manifest = sig_manifest(
        sigward_limits::MAX_SIGNATURES_PER_IMAGE,
        payload.len() as u64,
        &pd,
    );
    let (port, _) = serve(Arc::new(move |req, _| {
        v2_open(req).unwrap_or_else(|| {
            assert_ne!(req.method, "PUT", "nothing may be written");
            if req.path.contains("/blobs/uploads") {
                let loc = format!("{}x", req.path);
                return status(202, &[("location", &loc)], "");
            }
            if req.path.contains("/blobs/") {
                return if req.method == "HEAD" {
                    ok(b"", &[])
                } else {
                    ok(&payload, &[])
                };
            }
            ok(&manifest, &[OCI])
        })
    }))
    .await;
    let c = client(Duration::from_secs(5));
    let mut annotations = std::collections::BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".to_string(),
        "new".to_string(),
    );
    let err = c
        .append_tag_signatures(
            &image(port, "full"),
            &Digest::sha256_of(b"image"),
            vec![(b"new payload".to_vec(), annotations)],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, RegistryError::TooManySignatures { count, .. } if count == sigward_limits::MAX_SIGNATURES_PER_IMAGE + 1),
        "{err}"
    );
}
