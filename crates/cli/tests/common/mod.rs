//! Test harness for the interop suites: the real peers that `scripts/peers.sh start` runs
//! (distribution 2.8 with TLS + basic auth, distribution over plain HTTP, ferro-oci-server with
//! the referrers API, cosign 2.5, skopeo 1.18), found through the `SIGWARD_TEST_*` variables of
//! `.peers/env`. Without them a test says SKIPPED, except under CI, where it fails.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The running peers.
pub struct Peers {
    pub tls: String,
    pub ca: PathBuf,
    pub user: String,
    pub password: String,
    pub http: String,
    pub ferro: String,
    pub cosign: PathBuf,
    pub skopeo: PathBuf,
    pub mkoci: PathBuf,
    pub registries_d: PathBuf,
    pub skopeo_policy: PathBuf,
    pub cert_dir: PathBuf,
    pub tuf_root: PathBuf,
    pub docker_config: PathBuf,
}

fn env_file_values() -> HashMap<String, String> {
    let dir = std::env::var("SIGWARD_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.peers"));
    let Ok(text) = std::fs::read_to_string(dir.join("env")) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect()
}

impl Peers {
    /// The peers, or None (after printing why) when they are not running outside CI.
    pub fn get(test: &str) -> Option<Peers> {
        let file = env_file_values();
        let var = |k: &str| std::env::var(k).ok().or_else(|| file.get(k).cloned());
        let need = [
            "SIGWARD_TEST_REGISTRY_TLS",
            "SIGWARD_TEST_COSIGN",
            "SIGWARD_TEST_SKOPEO",
            "SIGWARD_TEST_MKOCI",
        ];
        if let Some(missing) = need.iter().find(|k| var(k).is_none()) {
            let msg = format!("{test}: {missing} is not set: start the peers with `scripts/peers.sh install && scripts/peers.sh start`");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED {msg}");
            return None;
        }
        let v = |k: &str| var(k).unwrap_or_default();
        Some(Peers {
            tls: v("SIGWARD_TEST_REGISTRY_TLS"),
            ca: v("SIGWARD_TEST_REGISTRY_CA").into(),
            user: v("SIGWARD_TEST_REGISTRY_USER"),
            password: v("SIGWARD_TEST_REGISTRY_PASSWORD"),
            http: v("SIGWARD_TEST_REGISTRY_HTTP"),
            ferro: v("SIGWARD_TEST_REGISTRY_FERRO"),
            cosign: v("SIGWARD_TEST_COSIGN").into(),
            skopeo: v("SIGWARD_TEST_SKOPEO").into(),
            mkoci: v("SIGWARD_TEST_MKOCI").into(),
            registries_d: v("SIGWARD_TEST_SKOPEO_REGISTRIES_D").into(),
            skopeo_policy: v("SIGWARD_TEST_SKOPEO_POLICY").into(),
            cert_dir: v("SIGWARD_TEST_SKOPEO_CERT_DIR").into(),
            tuf_root: v("TUF_ROOT").into(),
            docker_config: v("SIGWARD_TEST_DOCKER_CONFIG").into(),
        })
    }

    /// Pushes a fresh one-layer image with skopeo; returns (`registry/repo:tag`, digest).
    pub fn push_image(
        &self,
        registry: &str,
        repo: &str,
        tag: &str,
        work: &Path,
    ) -> (String, String) {
        let layout = work.join(format!("layout-{}", repo.replace('/', "_")));
        let content = format!("{repo}:{tag} {}", unique("content"));
        let out = run(Command::new(&self.mkoci)
            .arg(&layout)
            .arg(tag)
            .arg(&content));
        let digest = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let image = format!("{registry}/{repo}:{tag}");
        let mut cmd = Command::new(&self.skopeo);
        cmd.arg("--policy").arg(&self.skopeo_policy).arg("copy");
        self.skopeo_dest_flags(registry, &mut cmd);
        cmd.arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{image}"));
        run(&mut cmd);
        (image, digest)
    }

    pub fn skopeo_dest_flags(&self, registry: &str, cmd: &mut Command) {
        if registry == self.tls {
            cmd.arg("--dest-cert-dir").arg(&self.cert_dir);
            cmd.arg("--dest-creds")
                .arg(format!("{}:{}", self.user, self.password));
        } else {
            cmd.arg("--dest-tls-verify=false");
        }
    }

    pub fn skopeo_src_flags(&self, registry: &str, cmd: &mut Command) {
        if registry == self.tls {
            cmd.arg("--src-cert-dir").arg(&self.cert_dir);
            cmd.arg("--src-creds")
                .arg(format!("{}:{}", self.user, self.password));
        } else {
            cmd.arg("--src-tls-verify=false");
        }
    }

    /// Registry flags shared by sigward and cosign, for `registry`.
    pub fn registry_flags(&self, registry: &str) -> Vec<String> {
        if registry == self.tls {
            vec![
                "--registry-cacert".into(),
                self.ca.display().to_string(),
                "--registry-username".into(),
                self.user.clone(),
                "--registry-password".into(),
                self.password.clone(),
            ]
        } else {
            vec!["--allow-http-registry".into()]
        }
    }

    /// `sigward` with no environment from the user's docker or cosign setup.
    pub fn sigward(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigward"));
        cmd.env_remove("COSIGN_PASSWORD")
            .env("DOCKER_CONFIG", "/nonexistent-sigward-test");
        cmd
    }

    /// `cosign`, kept offline (no transparency log, private TUF root).
    pub fn cosign(&self) -> Command {
        let mut cmd = Command::new(&self.cosign);
        cmd.env("TUF_ROOT", &self.tuf_root)
            .env("DOCKER_CONFIG", "/nonexistent-sigward-test")
            .env_remove("COSIGN_PASSWORD");
        cmd
    }

    /// skopeo with sigstore attachments enabled and the given policy.
    pub fn skopeo(&self, policy: &Path) -> Command {
        let mut cmd = Command::new(&self.skopeo);
        cmd.arg("--registries.d")
            .arg(&self.registries_d)
            .arg("--policy")
            .arg(policy);
        cmd
    }
}

impl Peers {
    /// A key pair made by `sigward generate-key-pair` with password `password`: (key, pub).
    pub fn sigward_key_pair(&self, dir: &Path, password: &str) -> (String, String) {
        let prefix = dir.join(unique("sigward-key"));
        run(self
            .sigward()
            .env("COSIGN_PASSWORD", password)
            .args(["generate-key-pair", "--output-key-prefix"])
            .arg(&prefix));
        (
            format!("{}.key", prefix.display()),
            format!("{}.pub", prefix.display()),
        )
    }
}

/// A registry client for test set-up and tampering: plain HTTP allowed, no docker config.
pub fn registry_client() -> sigward_oci::client::RegistryClient {
    sigward_oci::client::RegistryClient::new(sigward_oci::client::ClientConfig {
        allow_http: true,
        credentials: sigward_oci::credentials::CredentialSource {
            ignore_docker_config: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this run and call. Process ids repeat across runs (a CI container starts
/// from the same pid every time, and /tmp may be kept), so the run's start time is part of it.
pub fn unique(prefix: &str) -> String {
    static RUN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let run = RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
    });
    format!("{prefix}-{run}-{}", COUNTER.fetch_add(1, Ordering::SeqCst))
}

/// A fresh scratch directory: created here, never one left by an earlier run.
pub fn workdir(test: &str) -> PathBuf {
    let parent = std::env::temp_dir().join("sigward-tests");
    std::fs::create_dir_all(&parent).unwrap();
    loop {
        let dir = parent.join(unique(test));
        match std::fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// Runs a command that must succeed; panics with its output otherwise.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command that must fail; returns its stderr.
pub fn run_fails(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !out.status.success(),
        "{cmd:?} succeeded but should have failed:\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

/// The keyless peers: local Fulcio + Rekor + TSA, OIDC provider, sigstore-python, sigstore-js.
pub struct Keyless {
    pub sigstore_url: String,
    pub issuer: String,
    pub subject: String,
    pub trusted_root: PathBuf,
    pub trust_config: PathBuf,
    pub fulcio_root: PathBuf,
    pub rekor_pub: PathBuf,
    pub ctlog_pub: PathBuf,
    pub tsa_chain: PathBuf,
    pub sigstore_python: PathBuf,
    pub sigstore_js: PathBuf,
    pub peers_script: PathBuf,
    pub http_auth_registry: String,
}

impl Keyless {
    /// The keyless peers, or None (after printing why) when they are not running outside CI.
    pub fn get(test: &str) -> Option<Keyless> {
        let file = env_file_values();
        let var = |k: &str| std::env::var(k).ok().or_else(|| file.get(k).cloned());
        if var("SIGWARD_TEST_SIGSTORE_URL").is_none() {
            let msg =
                format!("{test}: the keyless peers are not running: `scripts/peers.sh start`");
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("SKIPPED {msg}");
            return None;
        }
        let v = |k: &str| var(k).unwrap_or_default();
        Some(Keyless {
            sigstore_url: v("SIGWARD_TEST_SIGSTORE_URL"),
            issuer: v("SIGWARD_TEST_OIDC_ISSUER"),
            subject: v("SIGWARD_TEST_OIDC_SUBJECT"),
            trusted_root: v("SIGWARD_TEST_TRUSTED_ROOT").into(),
            trust_config: v("SIGWARD_TEST_TRUST_CONFIG").into(),
            fulcio_root: v("SIGWARD_TEST_FULCIO_ROOT").into(),
            rekor_pub: v("SIGWARD_TEST_REKOR_PUB").into(),
            ctlog_pub: v("SIGWARD_TEST_CTLOG_PUB").into(),
            tsa_chain: v("SIGWARD_TEST_TSA_CHAIN").into(),
            sigstore_python: v("SIGWARD_TEST_SIGSTORE_PYTHON").into(),
            sigstore_js: v("SIGWARD_TEST_SIGSTORE_JS").into(),
            peers_script: v("SIGWARD_TEST_PEERS_SCRIPT").into(),
            http_auth_registry: v("SIGWARD_TEST_REGISTRY_HTTP_AUTH"),
        })
    }

    /// A fresh OIDC ID token for `subject` from the local provider.
    pub fn id_token(&self, subject: &str) -> String {
        let out = run(Command::new("bash")
            .arg(&self.peers_script)
            .args(["id-token", subject]));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Points cosign at the local instance's trust files (no TUF, no public-good services).
    pub fn cosign_env(&self, cmd: &mut Command) {
        cmd.env("SIGSTORE_ROOT_FILE", &self.fulcio_root)
            .env("SIGSTORE_REKOR_PUBLIC_KEY", &self.rekor_pub)
            .env("SIGSTORE_CT_LOG_PUBLIC_KEY_FILE", &self.ctlog_pub);
    }

    /// A fresh image `repo` (made unique) on the plain-HTTP registry, signed keyless by cosign
    /// against the local Fulcio and Rekor, with `extra` `cosign sign` arguments; returns
    /// (`registry/repo:v1`, digest).
    pub fn cosign_signed_image(&self, p: &Peers, repo: &str, extra: &[&str]) -> (String, String) {
        let dir = workdir("cosign-keyless");
        let (image, digest) = p.push_image(&p.http, &unique(repo), "v1", &dir);
        let name = image.rsplit_once(':').unwrap().0;
        let token = self.id_token(&self.subject);
        let mut cmd = p.cosign();
        self.cosign_env(&mut cmd);
        run(cmd
            .args(["sign", "-y", "--allow-http-registry"])
            .args([
                "--fulcio-url",
                &self.sigstore_url,
                "--rekor-url",
                &self.sigstore_url,
            ])
            .args(["--identity-token", &token])
            .args(extra)
            .arg(format!("{name}@{digest}")));
        (image, digest)
    }
}
