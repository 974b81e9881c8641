//! Every way a signature check must fail, each with its own message, against the real registry
//! and real cosign signatures: wrong key, unsigned image, modified payload, a valid signature
//! copied onto another image, a registry serving manifest bytes that do not match the digest,
//! a wrong key password, and a broken key file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{run, run_fails, unique, workdir, Peers};
use sigward_oci::manifest::OCI_MANIFEST;
use sigward_oci::signatures::{signature_config, signature_tag};
use sigward_oci::{Digest, ImageReference};

const PASSWORD: &str = "negative-pw";

macro_rules! peers {
    ($name:expr) => {
        match Peers::get($name) {
            Some(p) => p,
            None => return,
        }
    };
}

struct Signed {
    image: String,
    digest: String,
    public: String,
    key: String,
}

/// An image on the plain-HTTP registry signed by cosign.
fn cosign_signed(p: &Peers, name: &str) -> Signed {
    let dir = workdir(name);
    let (image, digest) = p.push_image(&p.http, &unique(&format!("neg/{name}")), "v1", &dir);
    run(p
        .cosign()
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["generate-key-pair"]));
    let key = dir.join("cosign.key").display().to_string();
    let repo = image.rsplit_once(':').unwrap().0;
    run(p
        .cosign()
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "-y", "--tlog-upload=false", "--key", &key])
        .arg(format!("{repo}@{digest}")));
    Signed {
        image,
        digest,
        public: dir.join("cosign.pub").display().to_string(),
        key,
    }
}

fn verify(p: &Peers, public: &str, image: &str) -> Command {
    let mut cmd = p.sigward();
    cmd.args([
        "verify",
        "--insecure-ignore-tlog",
        "--allow-http-registry",
        "--key",
        public,
        image,
    ]);
    cmd
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn wrong_key() {
    let p = peers!("wrong_key");
    let s = cosign_signed(&p, "wrong-key");
    let other = cosign_signed(&p, "wrong-key-other");
    let err = run_fails(&mut verify(&p, &other.public, &s.image));
    assert!(
        err.contains("signature does not verify with this public key"),
        "{err}"
    );
    assert!(err.contains(&s.digest), "names the digest: {err}");
}

#[test]
fn unsigned_image() {
    let p = peers!("unsigned_image");
    let dir = workdir("unsigned");
    let (image, digest) = p.push_image(&p.http, &unique("neg/unsigned"), "v1", &dir);
    let s = cosign_signed(&p, "unsigned-key");
    let err = run_fails(&mut verify(&p, &s.public, &image));
    assert!(err.contains("no signatures found"), "{err}");
    assert!(err.contains(&digest) && err.contains(&image), "{err}");
}

/// Replaces the `.sig` manifest of `target` in `repo` by the layers of `source`'s, edited.
fn rewrite_signature(
    repo: &ImageReference,
    source: &Digest,
    target: &Digest,
    edit: impl Fn(&mut Vec<u8>, &mut BTreeMap<String, String>),
) {
    rt().block_on(async {
        let c = common::registry_client();
        let sig = c
            .signature_manifest(repo, source)
            .await
            .unwrap()
            .expect("a .sig manifest");
        let mut layers = Vec::new();
        for layer in &sig.manifest.layers {
            let mut payload = c.get_blob(repo, &layer.digest, 1 << 20).await.unwrap();
            let mut annotations = layer.annotations.clone();
            edit(&mut payload, &mut annotations);
            let mut descriptor = layer.clone();
            descriptor.digest = c.push_blob(repo, payload.clone()).await.unwrap();
            descriptor.size = payload.len() as u64;
            descriptor.annotations = annotations;
            layers.push(descriptor);
        }
        let config = signature_config(&layers);
        let mut manifest = sig.manifest.clone();
        manifest.config.digest = c.push_blob(repo, config.clone()).await.unwrap();
        manifest.config.size = config.len() as u64;
        manifest.layers = layers;
        let bytes = serde_json::to_vec(&manifest).unwrap();
        c.put_manifest(repo, &signature_tag(target), bytes, OCI_MANIFEST)
            .await
            .unwrap();
    });
}

#[test]
fn modified_payload() {
    let p = peers!("modified_payload");
    let s = cosign_signed(&p, "modified");
    let repo = ImageReference::parse(&s.image).unwrap();
    let digest = Digest::parse(&s.digest).unwrap();
    rewrite_signature(&repo, &digest, &digest, |payload, _| {
        let text = String::from_utf8(payload.clone()).unwrap();
        *payload = text
            .replace("\"optional\":null", "\"optional\":{\"approved\":\"yes\"}")
            .into_bytes();
    });
    let err = run_fails(&mut verify(&p, &s.public, &s.image));
    assert!(
        err.contains("signature does not verify with this public key"),
        "{err}"
    );
}

#[test]
fn signature_copied_onto_another_image() {
    let p = peers!("signature_copied_onto_another_image");
    let s = cosign_signed(&p, "copied");
    let dir = workdir("copied-target");
    let repo_name = s
        .image
        .split_once('/')
        .unwrap()
        .1
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let (other_image, other_digest) = p.push_image(&p.http, &repo_name, "other", &dir);
    let repo = ImageReference::parse(&s.image).unwrap();
    rewrite_signature(
        &repo,
        &Digest::parse(&s.digest).unwrap(),
        &Digest::parse(&other_digest).unwrap(),
        |_, _| {},
    );
    let err = run_fails(&mut verify(&p, &s.public, &other_image));
    assert!(
        err.contains("signs") && err.contains(&s.digest) && err.contains(&other_digest),
        "{err}"
    );
    // The original still verifies.
    run(&mut verify(&p, &s.public, &s.image));
}

#[test]
fn manifest_bytes_not_matching_the_digest() {
    let p = peers!("manifest_bytes_not_matching_the_digest");
    let s = cosign_signed(&p, "lying");
    // A proxy in front of the real registry that appends a space to every manifest body but
    // keeps the registry's Docker-Content-Digest header.
    let proxy = common_proxy::start(&p.http);
    let via_proxy = s.image.replacen(&p.http, &proxy, 1);
    let err = run_fails(&mut verify(&p, &s.public, &via_proxy));
    assert!(err.contains("does not match its digest"), "{err}");
    let err = run_fails(
        p.sigward()
            .env("COSIGN_PASSWORD", PASSWORD)
            .args([
                "sign",
                "--tlog-upload=false",
                "--allow-http-registry",
                "--key",
                &s.key,
            ])
            .arg(format!(
                "{}@{}",
                via_proxy.rsplit_once(':').unwrap().0,
                s.digest
            )),
    );
    assert!(err.contains("does not match its digest"), "{err}");
}

#[test]
fn wrong_key_password() {
    let p = peers!("wrong_key_password");
    let s = cosign_signed(&p, "password");
    let err = run_fails(
        p.sigward()
            .env("COSIGN_PASSWORD", "not-the-password")
            .args([
                "sign",
                "--tlog-upload=false",
                "--allow-http-registry",
                "--key",
                &s.key,
                &s.image,
            ]),
    );
    assert!(err.contains("wrong password"), "{err}");
}

#[test]
fn broken_key_files() {
    let p = peers!("broken_key_files");
    let dir = workdir("broken-keys");
    let bad_pub = dir.join("bad.pub");
    std::fs::write(
        &bad_pub,
        "-----BEGIN PUBLIC KEY-----\nnot base64 at all\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    let err = run_fails(&mut verify(
        &p,
        bad_pub.to_str().unwrap(),
        &format!("{}/x/y:v1", p.http),
    ));
    assert!(
        err.contains("public key") && err.contains("bad.pub"),
        "{err}"
    );
    let huge = dir.join("huge.pub");
    std::fs::write(&huge, vec![b'A'; 1 << 20]).unwrap();
    let err = run_fails(&mut verify(
        &p,
        huge.to_str().unwrap(),
        &format!("{}/x/y:v1", p.http),
    ));
    assert!(err.contains("not a key file"), "{err}");
    let missing = run_fails(&mut verify(
        &p,
        "/nonexistent/key.pub",
        &format!("{}/x/y:v1", p.http),
    ));
    assert!(missing.contains("/nonexistent/key.pub"), "{missing}");
}

mod common_proxy {
    //! A tampering HTTP/1.1 proxy for one test: forwards to the registry with
    //! `Connection: close` and appends a space to manifest bodies.
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};

    pub fn start(upstream: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for conn in listener.incoming().take(200) {
                let Ok(conn) = conn else { return };
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream);
                });
            }
        });
        addr
    }

    fn serve(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
        let mut reader = BufReader::new(client.try_clone()?);
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == "\r\n" {
                    break;
                }
                head.push(line);
            }
            let request_line = head.first().cloned().unwrap_or_default();
            let len: usize = header(&head, "content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body)?;
            let mut up = TcpStream::connect(upstream)?;
            for line in &head {
                let lower = line.to_ascii_lowercase();
                if !lower.starts_with("connection:") && !lower.starts_with("host:") {
                    up.write_all(line.as_bytes())?;
                }
            }
            up.write_all(format!("Host: {upstream}\r\nConnection: close\r\n\r\n").as_bytes())?;
            up.write_all(&body)?;
            let mut response = Vec::new();
            up.read_to_end(&mut response)?;
            let split = response
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(response.len());
            let head_text = String::from_utf8_lossy(&response[..split]).to_string();
            let mut resp_body = response.get(split + 4..).unwrap_or_default().to_vec();
            if request_line.contains("/manifests/")
                && !request_line.starts_with("HEAD")
                && head_text.contains(" 200 ")
            {
                resp_body.push(b' ');
            }
            let mut out = String::new();
            for line in head_text.split("\r\n") {
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("content-length:") || lower.starts_with("connection:") {
                    continue;
                }
                out.push_str(line);
                out.push_str("\r\n");
            }
            out.push_str(&format!("Content-Length: {}\r\n\r\n", resp_body.len()));
            client.write_all(out.as_bytes())?;
            if !request_line.starts_with("HEAD") {
                client.write_all(&resp_body)?;
            }
        }
    }

    fn header(head: &[String], name: &str) -> Option<String> {
        head.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A registry that accepts connections and never answers: `--timeout` bounds the wait, and the
/// message says which registry and how long.
#[test]
fn hanging_registry_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(8) {
            held.push(conn);
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let public =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../verify/tests/data/keys/p256.pub");
    let started = std::time::Instant::now();
    let err = run_fails(
        Command::new(env!("CARGO_BIN_EXE_sigward"))
            .args([
                "verify",
                "--insecure-ignore-tlog",
                "--allow-http-registry",
                "--timeout",
                "1s",
                "--key",
            ])
            .arg(&public)
            .arg(format!("{addr}/hangs/forever:v1")),
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.contains(&addr.to_string()) && err.contains("did not answer within 1000 ms"),
        "{err}"
    );
}

/// Without `--insecure-ignore-tlog`, a key signature that was never logged is refused, naming
/// the missing evidence and the flag that would accept it.
#[test]
fn unlogged_key_signature_needs_the_flag() {
    let p = peers!("unlogged_key_signature_needs_the_flag");
    let s = cosign_signed(&p, "unlogged");
    let err = run_fails(p.sigward().args([
        "verify",
        "--allow-http-registry",
        "--key",
        &s.public,
        &s.image,
    ]));
    assert!(
        err.contains("no transparency-log entry") && err.contains("--insecure-ignore-tlog"),
        "{err}"
    );
    run(&mut verify(&p, &s.public, &s.image));
}
