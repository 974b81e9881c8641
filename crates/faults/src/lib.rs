//! A fault-injecting HTTP/1.1 proxy for tests: it sits between sigward and a real registry and,
//! for requests whose path contains a chosen marker (e.g. a repository name), misbehaves in
//! one of the ways registries do: refusing, hanging, answering slowly, resetting mid-body,
//! answering an error status, truncating, sending endless bodies, altering bytes (so digests no
//! longer match), redirecting in a loop. Every other request is relayed unchanged.
//!
//! One connection per request (`Connection: close` both ways): simple, and enough for tests.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does to a matching request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Close the connection as soon as the request is read.
    Refuse,
    /// Read the request and never answer.
    Hang,
    /// Relay the answer after this delay.
    Delay(Duration),
    /// Send the headers and half the body, then reset the connection.
    ResetMidBody,
    /// Answer with this status and a small body instead of relaying.
    Status(u16),
    /// Announce the full length, send half the body, close.
    Truncate,
    /// Relay the headers with no length and stream zeros without end.
    Endless,
    /// Relay the answer with one body byte changed (same length).
    Corrupt,
    /// Redirect to the same URL, forever.
    RedirectLoop,
}

/// A running proxy.
#[derive(Debug, Clone)]
pub struct FaultProxy {
    addr: SocketAddr,
    rules: Arc<Mutex<Vec<(String, Fault)>>>,
    requests: Arc<AtomicUsize>,
}

struct Head {
    path: String,
    raw: Vec<u8>,
    body: Vec<u8>,
}

const MAX_HEAD: usize = 64 * 1024;

async fn read_head(sock: &mut TcpStream) -> Option<Head> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
    };
    let text = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let _method = first.next()?;
    let path = first.next()?.to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    // Relay with `Connection: close` so the upstream ends its answer by closing.
    let mut raw = Vec::new();
    for (i, line) in text[..end - 4].split("\r\n").enumerate() {
        if i > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        raw.extend_from_slice(line.as_bytes());
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"Connection: close\r\n\r\n");
    Some(Head { path, raw, body })
}

/// The upstream's whole answer: head (up to the blank line) and body.
async fn relay(upstream: SocketAddr, head: &Head) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.write_all(&head.raw).await.ok()?;
    up.write_all(&head.body).await.ok()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await.ok()?;
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let body = answer.split_off(end);
    Some((answer, body))
}

fn with_header(head: &[u8], name: &str, value: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.trim_end_matches("\r\n").split("\r\n") {
        if line
            .to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if !value.is_empty() {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

async fn handle(mut sock: TcpStream, upstream: SocketAddr, fault: Option<Fault>) {
    let Some(head) = read_head(&mut sock).await else {
        return;
    };
    match fault {
        None => {
            if let Some((h, b)) = relay(upstream, &head).await {
                let _ = sock.write_all(&h).await;
                let _ = sock.write_all(&b).await;
            }
        }
        Some(Fault::Refuse) => {}
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            if let Some((h, b)) = relay(upstream, &head).await {
                let _ = sock.write_all(&h).await;
                let _ = sock.write_all(&b).await;
            }
        }
        Some(Fault::Status(code)) => {
            let body =
                format!("{{\"errors\":[{{\"code\":\"FAULT\",\"message\":\"injected {code}\"}}]}}");
            let extra = if code == 401 {
                "Www-Authenticate: Basic realm=\"fault\"\r\n"
            } else if code == 429 {
                "Retry-After: 1\r\n"
            } else {
                ""
            };
            let answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(answer.as_bytes()).await;
        }
        Some(Fault::RedirectLoop) => {
            let answer = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                head.path
            );
            let _ = sock.write_all(answer.as_bytes()).await;
        }
        Some(Fault::Endless) => {
            if let Some((h, _)) = relay(upstream, &head).await {
                let h = with_header(&h, "Content-Length", "");
                let _ = sock.write_all(&h).await;
                let zeros = vec![0u8; 64 * 1024];
                while sock.write_all(&zeros).await.is_ok() {}
            }
        }
        Some(fault @ (Fault::Truncate | Fault::ResetMidBody | Fault::Corrupt)) => {
            let Some((h, mut b)) = relay(upstream, &head).await else {
                return;
            };
            match fault {
                Fault::Corrupt => {
                    if let Some(byte) = b.iter_mut().rev().find(|c| c.is_ascii_alphanumeric()) {
                        *byte = if *byte == b'a' { b'b' } else { b'a' };
                    }
                    let _ = sock.write_all(&h).await;
                    let _ = sock.write_all(&b).await;
                }
                Fault::Truncate => {
                    let _ = sock.write_all(&h).await;
                    let _ = sock.write_all(&b[..b.len() / 2]).await;
                }
                _ => {
                    let _ = sock.write_all(&h).await;
                    let _ = sock.write_all(&b[..b.len() / 2]).await;
                    // SO_LINGER 0: the close sends a reset, not a clean end (and a zero
                    // linger never blocks, the reason this call is deprecated).
                    #[allow(deprecated)]
                    let _ = sock.set_linger(Some(Duration::ZERO));
                }
            }
        }
    }
}

impl FaultProxy {
    /// Starts a proxy to `upstream` on a free port of 127.0.0.1.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let proxy = FaultProxy {
            addr: listener.local_addr()?,
            rules: Arc::new(Mutex::new(Vec::new())),
            requests: Arc::new(AtomicUsize::new(0)),
        };
        let rules = proxy.rules.clone();
        let requests = proxy.requests.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let rules = rules.clone();
                let requests = requests.clone();
                tokio::spawn(async move {
                    // Peek at the request line to choose the fault, then handle it whole.
                    let mut peek = [0u8; 2048];
                    let n = sock.peek(&mut peek).await.unwrap_or(0);
                    if peek[..n].first() == Some(&0x16) {
                        // A TLS ClientHello: answer as a plain-HTTP server does, so that the
                        // client falls back to HTTP (as with the real registry).
                        let _ = sock
                            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                        return;
                    }
                    let line = String::from_utf8_lossy(&peek[..n]).to_string();
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    requests.fetch_add(1, Ordering::SeqCst);
                    let fault = match rules.lock() {
                        Ok(r) => r
                            .iter()
                            .find(|(marker, _)| path.contains(marker.as_str()))
                            .map(|(_, f)| f.clone()),
                        Err(_) => None,
                    };
                    handle(sock, upstream, fault).await;
                });
            }
        });
        Ok(proxy)
    }

    /// The address to use as the registry.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests whose path contains `marker` get `fault` (replacing an earlier rule for it).
    pub fn set(&self, marker: &str, fault: Fault) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.retain(|(m, _)| m != marker);
            rules.push((marker.to_owned(), fault));
        }
    }

    /// Removes the rule for `marker`: its requests are relayed again.
    pub fn clear(&self, marker: &str) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.retain(|(m, _)| m != marker);
        }
    }

    /// Requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}
