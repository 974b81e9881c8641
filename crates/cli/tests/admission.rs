//! `sigward serve` as kube-apiserver meets it: the real binary over HTTPS (rustls client, ALPN
//! h2 like Go's), AdmissionReview bodies from `../shared/fixtures/admission` (captured from
//! kube-apiserver by other projects) with their images pointed at a real registry holding
//! images signed by cosign 2.5 and by sigward, keyless signatures from the local Fulcio/Rekor,
//! both policy APIs, cluster and namespace scope, bad input and registry outages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::{run, unique, workdir, Keyless, Peers};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PASSWORD: &str = "admission-test";

macro_rules! peers {
    ($name:expr) => {
        match Peers::get($name) {
            Some(p) => p,
            None => return,
        }
    };
}

/// Images and keys shared by every test (made once per test process).
struct Setup {
    dir: PathBuf,
    /// Repository prefix on the plain-HTTP registry, e.g. `127.0.0.1:5001/adm-123-0`.
    prefix: String,
    sigward_pub: String,
    cosign_pub: String,
    /// Signed by sigward with `sigward_pub`'s key.
    by_sigward: String,
    by_sigward_digest: String,
    /// Signed by cosign with `cosign_pub`'s key.
    by_cosign: String,
    /// No signature.
    unsigned: String,
    /// Signed by a key no policy trusts.
    wrong_key: String,
    /// CA and serving certificate of the webhook.
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    run(Command::new("openssl").args(args).current_dir(dir));
}

/// A CA and a serving certificate for 127.0.0.1 signed by it, in `dir`.
fn make_tls(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca_key = format!("{name}-ca.key");
    let ca = format!("{name}-ca.crt");
    let mut a = vec!["req", "-x509"];
    a.extend(ec);
    a.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=webhook test CA",
    ]);
    openssl(&a, dir);
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let cert = format!("{name}.crt");
    let mut a = vec!["req"];
    a.extend(ec);
    a.extend([
        "-keyout",
        &key,
        "-out",
        &csr,
        "-subj",
        "/CN=sigward.sigward-system.svc",
    ]);
    openssl(&a, dir);
    std::fs::write(
        dir.join("ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
        dir,
    );
    (dir.join(ca), dir.join(cert), dir.join(key))
}

fn sigward_sign(p: &Peers, key: &str, image: &str) {
    run(p.sigward().env("COSIGN_PASSWORD", PASSWORD).args([
        "sign",
        "--tlog-upload=false",
        "--allow-http-registry",
        "--key",
        key,
        image,
    ]));
}

fn setup(p: &Peers) -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let dir = workdir("admission");
        let prefix = format!("{}/{}", p.http, unique("adm"));
        let (sigward_key, sigward_pub) = p.sigward_key_pair(&dir, PASSWORD);
        let (other_key, _) = p.sigward_key_pair(&dir, PASSWORD);
        run(p
            .cosign()
            .current_dir(&dir)
            .env("COSIGN_PASSWORD", PASSWORD)
            .args(["generate-key-pair", "--output-key-prefix", "cosign"]));
        let push = |repo: &str| {
            let repo = format!("{}/{repo}", prefix.split_once('/').unwrap().1);
            p.push_image(&p.http, &repo, "v1", &dir)
        };
        let (by_sigward, by_sigward_digest) = push("by-sigward");
        sigward_sign(p, &sigward_key, &by_sigward);
        let (by_cosign, _) = push("by-cosign");
        run(p
            .cosign()
            .env("COSIGN_PASSWORD", PASSWORD)
            .args(["sign", "-y", "--tlog-upload=false", "--key"])
            .arg(dir.join("cosign.key"))
            .arg(&by_cosign));
        let (unsigned, _) = push("unsigned");
        let (wrong_key, _) = push("wrong-key");
        sigward_sign(p, &other_key, &wrong_key);
        let (ca, cert, key) = make_tls(&dir.join("tls"), "webhook");
        Setup {
            prefix,
            sigward_pub,
            cosign_pub: dir.join("cosign.pub").display().to_string(),
            by_sigward,
            by_sigward_digest,
            by_cosign,
            unsigned,
            wrong_key,
            ca,
            cert,
            key,
            dir,
        }
    })
}

fn b64_file(path: impl AsRef<Path>) -> String {
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(path).unwrap())
}

/// An OpenShift ClusterImagePolicy trusting `public` for `scopes`.
fn key_cip(name: &str, scopes: &[&str], public: &str, annotations: &str) -> String {
    format!(
        "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  scopes: {scopes:?}\n  policy:\n    rootOfTrust:\n      policyType: PublicKey\n      publicKey:\n        keyData: {}\n",
        b64_file(public)
    )
}

/// The policy with `signedIdentity.matchPolicy` set (cosign signs the repository name only,
/// which containers/image's default `MatchRepoDigestOrExact` never accepts).
fn matching(policy: String, match_policy: &str) -> String {
    format!("{policy}    signedIdentity:\n      matchPolicy: {match_policy}\n")
}

/// A namespaced ImagePolicy trusting `public` for `scopes`.
fn key_ip(name: &str, ns: &str, scopes: &[&str], public: &str, annotations: &str) -> String {
    key_cip(name, scopes, public, annotations)
        .replace("kind: ClusterImagePolicy", "kind: ImagePolicy")
        .replace(
            &format!("  name: {name}\n"),
            &format!("  name: {name}\n  namespace: {ns}\n"),
        )
}

/// A running `sigward serve`.
struct Webhook {
    child: Child,
    url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    policies: PathBuf,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client_for(ca: &Path) -> reqwest::Client {
    let tls = sigward_http::tls_config(&sigward_http::TlsTrust {
        use_system_roots: false,
        extra_ca_pem: vec![std::fs::read(ca).unwrap()],
        insecure_skip_verify_unsafe: false,
    })
    .unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

impl Webhook {
    /// Starts the server with `policies` (file name -> YAML) and extra flags; waits until it
    /// listens (not until it is ready: some tests want it not ready).
    fn start(p: &Peers, policies: &[(&str, String)], extra: &[&str]) -> Webhook {
        let s = setup(p);
        Self::start_with_tls(s, policies, extra, &s.cert, &s.key, &[])
    }

    fn start_with_tls(
        s: &Setup,
        policies: &[(&str, String)],
        extra: &[&str],
        cert: &Path,
        key: &Path,
        env: &[(&str, &str)],
    ) -> Webhook {
        let dir = s.dir.join(unique("policies"));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in policies {
            std::fs::write(dir.join(name), text).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigward"))
            .env("DOCKER_CONFIG", "/nonexistent-sigward-test")
            .envs(env.iter().copied())
            .args(["serve", "--listen", "127.0.0.1:0", "--allow-http-registry"])
            .arg("--tls-cert")
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .arg("--policy")
            .arg(&dir)
            .args(if extra.contains(&"--reload-interval") {
                &[][..]
            } else {
                &["--reload-interval", "200ms"][..]
            })
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if v["msg"] == "listening" {
                            let _ = tx.send(v["address"].as_str().unwrap_or("").to_string());
                        }
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let address = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("sigward serve did not listen: {:?}", log.lock().unwrap()));
        Webhook {
            child,
            url: format!("https://{address}"),
            client: client_for(&s.ca),
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            policies: dir,
            log,
        }
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let r = self
                .client
                .get(format!("{}{path}", self.url))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        loop {
            let (status, body) = self.get("/readyz");
            if status == 200 {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "not ready: {body} {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, String) {
        self.runtime.block_on(async {
            let r = self
                .client
                .post(format!("{}{path}", self.url))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        })
    }

    /// Posts a review; returns `response`, checking the envelope and the echoed uid.
    fn review(&self, path: &str, review: &Value) -> Value {
        let (status, body) = self.post_raw(path, serde_json::to_vec(review).unwrap());
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["apiVersion"], review["apiVersion"], "{answer}");
        assert_eq!(answer["kind"], "AdmissionReview");
        assert_eq!(
            answer["response"]["uid"], review["request"]["uid"],
            "{answer}"
        );
        answer["response"].clone()
    }

    fn metrics(&self) -> String {
        self.get("/metrics").1
    }
}

/// A fixture as kube-apiserver POSTs it (`*.request.json` files are wrapped in the v1
/// envelope, as the fixtures' README says).
fn fixture(name: &str) -> Option<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/admission");
    let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(name))
    });
    let Some(path) = found else {
        let msg = format!("fixture {name} not found in {}", dir.display());
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED {msg}");
        return None;
    };
    let v: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    Some(if v.get("request").is_some() {
        v
    } else {
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": v})
    })
}

/// Every JSON pointer to a spec image in a review's object.
fn image_pointers(object: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for base in [
        "/spec",
        "/spec/template/spec",
        "/spec/jobTemplate/spec/template/spec",
    ] {
        for field in ["containers", "initContainers", "ephemeralContainers"] {
            if let Some(list) = object.pointer(&format!("{base}/{field}")) {
                for i in 0..list.as_array().map_or(0, Vec::len) {
                    out.push(format!("{base}/{field}/{i}/image"));
                }
            }
        }
    }
    out
}

/// The review with every spec image of `object` (and `oldObject`) set to `image`.
fn with_images(mut review: Value, image: &str) -> Value {
    for key in ["object", "oldObject"] {
        let Some(object) = review["request"].get_mut(key) else {
            continue;
        };
        if !object.is_object() {
            continue;
        }
        for pointer in image_pointers(object) {
            *object.pointer_mut(&pointer).unwrap() = json!(image);
        }
    }
    review["request"]["uid"] = json!(unique("uid"));
    review
}

fn denial_message(response: &Value) -> String {
    assert_eq!(response["allowed"], false, "{response}");
    assert_eq!(response["status"]["code"], 403, "{response}");
    assert_eq!(response["status"]["reason"], "Forbidden", "{response}");
    response["status"]["message"].as_str().unwrap().to_string()
}

fn decode_patch(response: &Value) -> Value {
    assert_eq!(response["patchType"], "JSONPatch", "{response}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(response["patch"].as_str().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn standard_policies(s: &Setup) -> Vec<(&'static str, String)> {
    let scope = s.prefix.as_str();
    vec![(
        "cluster.yaml",
        format!(
            "{}---\n{}",
            key_cip(
                "by-sigward",
                &[
                    &format!("{scope}/by-sigward"),
                    &format!("{scope}/unsigned"),
                    &format!("{scope}/wrong-key")
                ],
                &s.sigward_pub,
                ""
            ),
            matching(
                key_cip(
                    "by-cosign",
                    &[&format!("{scope}/by-cosign")],
                    &s.cosign_pub,
                    ""
                ),
                "MatchRepository"
            ),
        ),
    )]
}

#[test]
fn every_workload_kind_is_allowed_when_signed_and_denied_when_not() {
    let p = peers!("every_workload_kind_is_allowed_when_signed_and_denied_when_not");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    // Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController,
    // Pod with init containers, v1beta1 Deployment with several images.
    for name in [
        "01-", "02-", "03-", "04-", "05-", "06-", "07-", "08-", "13-", "15-",
    ] {
        let Some(review) = fixture(name) else { return };
        let kind = review["request"]["kind"]["kind"]
            .as_str()
            .unwrap()
            .to_string();
        for signed in [&s.by_sigward, &s.by_cosign] {
            let response = w.review("/validate", &with_images(review.clone(), signed));
            assert_eq!(
                response["allowed"], true,
                "{name} {kind} {signed}: {response}"
            );
        }
        for (bad, why) in [
            (&s.unsigned, "no signatures found"),
            (&s.wrong_key, "none of 1 signature(s)"),
        ] {
            let message = denial_message(&w.review("/validate", &with_images(review.clone(), bad)));
            let object_name = review["request"]["name"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(&format!("sigward denied {kind} ")),
                "{message}"
            );
            assert!(message.contains(object_name), "{message}");
            assert!(message.contains(&format!("image {bad:?}")), "{message}");
            assert!(
                message.contains("ClusterImagePolicy by-sigward"),
                "{message}"
            );
            assert!(message.contains(why), "{name}: {message}");
        }
    }
}

#[test]
fn fixtures_without_covered_images_follow_the_no_match_rule() {
    let p = peers!("fixtures_without_covered_images_follow_the_no_match_rule");
    let s = setup(&p);
    let allow = Webhook::start(&p, &standard_policies(s), &[]);
    let deny = Webhook::start(&p, &standard_policies(s), &["--no-match", "deny"]);
    allow.wait_ready();
    deny.wait_ready();
    for n in 1..=15 {
        let Some(review) = fixture(&format!("{n:02}-")) else {
            return;
        };
        // Docker Hub images no policy covers: no registry is contacted at all.
        let response = allow.review("/validate", &review);
        assert_eq!(response["allowed"], true, "{n}: {response}");
        let response = deny.review("/validate", &review);
        let op = review["request"]["operation"].as_str().unwrap();
        match (n, op) {
            // DELETE is never denied; an UPDATE that changes no image (09: same image,
            // 14: a controller scaling down) verifies nothing.
            (10 | 11, "DELETE") | (9 | 14, "UPDATE") => {
                assert_eq!(response["allowed"], true, "{n}: {response}");
            }
            _ => {
                let message = denial_message(&response);
                assert!(
                    message.contains("no policy covers this image"),
                    "{n}: {message}"
                );
            }
        }
    }
    // The status image of fixture 11 is never read; nor are DELETEs at all.
    assert!(allow
        .metrics()
        .contains("sigward_registry_requests_total 0"));
}

#[test]
fn ephemeral_containers_subresource_is_verified() {
    let p = peers!("ephemeral_containers_subresource_is_verified");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    // `kubectl debug`: UPDATE on pods/ephemeralcontainers, the whole Pod before and after.
    let Some(base) = fixture("13-") else { return };
    let mut review = with_images(base, &s.by_sigward);
    let request = review["request"].as_object_mut().unwrap();
    request.insert("operation".into(), json!("UPDATE"));
    request.insert("subResource".into(), json!("ephemeralcontainers"));
    request.insert("requestSubResource".into(), json!("ephemeralcontainers"));
    let old = request["object"].clone();
    request.insert("oldObject".into(), old);
    for (image, allowed) in [(&s.unsigned, false), (&s.by_cosign, true)] {
        let mut r = review.clone();
        r["request"]["object"]["spec"]["ephemeralContainers"] =
            json!([{"name": "debugger", "image": image, "stdin": true, "tty": true}]);
        r["request"]["uid"] = json!(unique("uid"));
        let response = w.review("/validate", &r);
        assert_eq!(response["allowed"], allowed, "{response}");
        if !allowed {
            let message = denial_message(&response);
            assert!(message.contains("Pod (ephemeralcontainers)"), "{message}");
            assert!(
                message.contains("ephemeral container \"debugger\""),
                "{message}"
            );
        }
    }
}

#[test]
fn mutate_pins_the_verified_digest_and_records_the_signer() {
    let p = peers!("mutate_pins_the_verified_digest_and_records_the_signer");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    let Some(review) = fixture("02-") else { return };
    let response = w.review("/mutate", &with_images(review.clone(), &s.by_sigward));
    assert_eq!(response["allowed"], true, "{response}");
    let patch = decode_patch(&response);
    let repo = s.by_sigward.rsplit_once(':').unwrap().0;
    assert_eq!(
        patch[0],
        json!({"op": "replace", "path": "/spec/template/spec/containers/0/image",
               "value": format!("{repo}@{}", s.by_sigward_digest)})
    );
    assert_eq!(patch[1]["op"], "add");
    assert_eq!(
        patch[1]["path"],
        "/metadata/annotations/sigward.dev~1verified-images"
    );
    let record: Value = serde_json::from_str(patch[1]["value"].as_str().unwrap()).unwrap();
    assert_eq!(record[0]["image"], s.by_sigward.as_str());
    assert_eq!(record[0]["digest"], s.by_sigward_digest.as_str());
    assert_eq!(
        record[0]["policies"][0]["policy"],
        "ClusterImagePolicy by-sigward"
    );
    assert!(record[0]["policies"][0]["signer"]
        .as_str()
        .unwrap()
        .starts_with("key "));
    // A pinned image is not patched again, and /validate never patches.
    let pinned = format!("{repo}@{}", s.by_sigward_digest);
    let response = w.review("/mutate", &with_images(review.clone(), &pinned));
    let patch = decode_patch(&response);
    assert_eq!(patch.as_array().unwrap().len(), 1, "{patch}");
    let response = w.review("/validate", &with_images(review, &s.by_sigward));
    assert!(response.get("patch").is_none(), "{response}");
    assert!(
        response["auditAnnotations"]["verified-images"].is_string(),
        "{response}"
    );
}

#[test]
fn namespace_policies_scopes_conflicts_and_additions() {
    let p = peers!("namespace_policies_scopes_conflicts_and_additions");
    let s = setup(&p);
    let scope = &s.prefix;
    let cluster = key_cip(
        "floor",
        &[&format!("{scope}/by-sigward")],
        &s.sigward_pub,
        "",
    );
    // team-a requires cosign's key for its own repository (no cluster policy covers it).
    let own = matching(
        key_ip(
            "own",
            "team-a",
            &[&format!("{scope}/by-cosign")],
            &s.cosign_pub,
            "",
        ),
        "MatchRepository",
    );
    // team-b tries to override the cluster scope with cosign's key: ignored (OpenShift rule).
    let conflicting = key_ip(
        "override",
        "team-b",
        &[&format!("{scope}/by-sigward")],
        &s.cosign_pub,
        "",
    );
    // team-c adds cosign's key on top of the floor: both must pass.
    let additional = key_ip(
        "extra",
        "team-c",
        &[&format!("{scope}/by-sigward")],
        &s.cosign_pub,
        "sigward.dev/additional: \"true\"",
    );
    let w = Webhook::start(
        &p,
        &[
            ("cluster.yaml", cluster),
            ("team-a.yaml", own),
            ("team-b.yaml", conflicting),
            ("team-c.yaml", additional),
        ],
        &[],
    );
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let in_ns = |ns: &str, image: &str| {
        let mut r = with_images(pod.clone(), image);
        r["request"]["namespace"] = json!(ns);
        r["request"]["object"]["metadata"]["namespace"] = json!(ns);
        w.review("/validate", &r)
    };
    assert_eq!(in_ns("team-a", &s.by_cosign)["allowed"], true);
    let wrong = in_ns(
        "team-a",
        &s.unsigned
            .replace("/unsigned", "/by-cosign")
            .replace(":v1", ":missing"),
    );
    assert!(
        denial_message(&wrong).contains("ImagePolicy team-a/own"),
        "{wrong}"
    );
    // The same repository elsewhere: no policy.
    assert_eq!(in_ns("default", &s.by_cosign)["allowed"], true);
    // team-b: the cluster policy applies, the override is reported as a warning.
    let response = in_ns("team-b", &s.by_sigward);
    assert_eq!(response["allowed"], true, "{response}");
    let warnings = response["warnings"].to_string();
    assert!(
        warnings.contains("ImagePolicy team-b/override scope"),
        "{warnings}"
    );
    assert!(
        warnings.contains("ClusterImagePolicy floor already covers it"),
        "{warnings}"
    );
    // team-c: the floor passes, the addition (cosign key) does not.
    let message = denial_message(&in_ns("team-c", &s.by_sigward));
    assert!(message.contains("ImagePolicy team-c/extra"), "{message}");
    assert!(!message.contains("ClusterImagePolicy floor:"), "{message}");
}

#[test]
fn warn_and_audit_modes_admit_with_findings() {
    let p = peers!("warn_and_audit_modes_admit_with_findings");
    let s = setup(&p);
    let scope = &s.prefix;
    let warn = key_cip(
        "warned",
        &[&format!("{scope}/unsigned")],
        &s.sigward_pub,
        "sigward.dev/mode: warn",
    );
    let audit = key_cip(
        "audited",
        &[&format!("{scope}/wrong-key")],
        &s.sigward_pub,
        "sigward.dev/mode: audit",
    );
    let w = Webhook::start(&p, &[("warn.yaml", warn), ("audit.yaml", audit)], &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let response = w.review("/validate", &with_images(pod.clone(), &s.unsigned));
    assert_eq!(response["allowed"], true, "{response}");
    let warning = response["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("ClusterImagePolicy warned: no signatures found"),
        "{warning}"
    );
    let response = w.review("/validate", &with_images(pod, &s.wrong_key));
    assert_eq!(response["allowed"], true, "{response}");
    assert!(response.get("warnings").is_none(), "{response}");
    let finding = response["auditAnnotations"]["finding-0"].as_str().unwrap();
    assert!(finding.contains("ClusterImagePolicy audited"), "{finding}");
    assert!(w.metrics().contains("decision=\"warned\"} 1"));
}

#[test]
fn sigstore_policies_key_keyless_and_static() {
    let p = peers!("sigstore_policies_key_keyless_and_static");
    let Some(k) = Keyless::get("sigstore_policies_key_keyless_and_static") else {
        return;
    };
    let s = setup(&p);
    // A keyless image signed by cosign with the local Fulcio and Rekor.
    let (keyless_image, _) = k.cosign_signed_image(&p, "adm-keyless/app", &[]);
    let repo = keyless_image.rsplit_once(':').unwrap().0.to_string();
    let key_pem = std::fs::read_to_string(&s.cosign_pub)
        .unwrap()
        .replace('\n', "\n        ");
    let policies = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: keyless}}\nspec:\n  images: [{{glob: \"{repo}**\"}}]\n  authorities:\n  - keyless:\n      identities:\n      - issuer: {issuer}\n        subjectRegExp: '^sigward-test@example\\.com$'\n---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: cosign-key}}\nspec:\n  images: [{{glob: \"{by_cosign}**\"}}]\n  authorities:\n  - name: release-key\n    key:\n      data: |\n        {key_pem}\n  - static: {{action: fail}}\n---\napiVersion: policy.sigstore.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {{name: deny-unsigned-repo}}\nspec:\n  images: [{{glob: \"{unsigned}**\"}}]\n  authorities: [{{static: {{action: fail, message: \"this repository is closed\"}}}}]\n",
        issuer = k.issuer,
        by_cosign = s.by_cosign.rsplit_once(':').unwrap().0,
        unsigned = s.unsigned.rsplit_once(':').unwrap().0,
    );
    let trusted_root = k.trusted_root.display().to_string();
    let w = Webhook::start(
        &p,
        &[("sigstore.yaml", policies)],
        &["--trusted-root", &trusted_root],
    );
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let response = w.review("/mutate", &with_images(pod.clone(), &keyless_image));
    assert_eq!(response["allowed"], true, "{response}");
    let record = response["auditAnnotations"]["verified-images"]
        .as_str()
        .unwrap();
    assert!(record.contains(&k.subject), "{record}");
    assert!(record.contains("\"logIndex\""), "{record}");
    // The cosign key authority needs a log entry; the image was signed without one, and the
    // static authority fails: both reasons are named.
    let message = denial_message(&w.review("/validate", &with_images(pod.clone(), &s.by_cosign)));
    assert!(message.contains("authority release-key:"), "{message}");
    assert!(
        message.contains("authority authority-1: disallowed by static policy"),
        "{message}"
    );
    let message = denial_message(&w.review("/validate", &with_images(pod, &s.unsigned)));
    assert!(message.contains("this repository is closed"), "{message}");
}

#[test]
fn openshift_fulcio_ca_with_rekor_policy() {
    let p = peers!("openshift_fulcio_ca_with_rekor_policy");
    let Some(k) = Keyless::get("openshift_fulcio_ca_with_rekor_policy") else {
        return;
    };
    let (image, _) = k.cosign_signed_image(&p, "adm-fulcio/app", &[]);
    let repo = image.rsplit_once(':').unwrap().0.to_string();
    let policy = |name: &str, email: &str, annotations: &str| {
        matching(format!(
            "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  scopes: [\"{repo}\"]\n  policy:\n    rootOfTrust:\n      policyType: FulcioCAWithRekor\n      fulcioCAWithRekor:\n        fulcioCAData: {}\n        rekorKeyData: {}\n        fulcioSubject:\n          oidcIssuer: {}\n          signedEmail: {email}\n",
            b64_file(&k.fulcio_root),
            b64_file(&k.rekor_pub),
            k.issuer
        ), "MatchRepository")
    };
    let Some(pod) = fixture("01-") else { return };
    let w = Webhook::start(&p, &[("p.yaml", policy("fulcio", &k.subject, ""))], &[]);
    w.wait_ready();
    let response = w.review("/validate", &with_images(pod.clone(), &image));
    assert_eq!(response["allowed"], true, "{response}");
    drop(w);
    let w = Webhook::start(
        &p,
        &[("p.yaml", policy("fulcio", "someone-else@example.com", ""))],
        &[],
    );
    w.wait_ready();
    let message = denial_message(&w.review("/validate", &with_images(pod.clone(), &image)));
    assert!(message.contains("someone-else@example.com"), "{message}");
    drop(w);
    // sigward's regexp addition replaces signedEmail.
    let w = Webhook::start(
        &p,
        &[(
            "p.yaml",
            policy(
                "fulcio",
                "someone-else@example.com",
                "sigward.dev/fulcio-subject-regexp: '@example\\.com$'",
            ),
        )],
        &[],
    );
    w.wait_ready();
    let response = w.review("/validate", &with_images(pod, &image));
    assert_eq!(response["allowed"], true, "{response}");
}

#[test]
fn malformed_reviews_get_clear_errors() {
    let p = peers!("malformed_reviews_get_clear_errors");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    let (status, body) = w.post_raw("/validate", b"{not json".to_vec());
    assert_eq!(status, 400);
    assert!(body.contains("malformed AdmissionReview"), "{body}");
    let (status, body) = w.post_raw("/validate", br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec());
    assert_eq!(status, 400);
    assert!(body.contains("unsupported"), "{body}");
    // A uid to answer, but a request that is not one: a 400 inside a normal answer.
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "operation": "CREATE", "object": "a string"}});
    let (status, body) = w.post_raw("/validate", serde_json::to_vec(&review).unwrap());
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["response"]["uid"], "u-1");
    assert_eq!(answer["response"]["allowed"], false);
    assert_eq!(answer["response"]["status"]["code"], 400);
    // Bodies over the limit are refused before parsing.
    let (status, _) = w.post_raw("/validate", vec![b' '; 9 * 1024 * 1024]);
    assert_eq!(status, 413);
    // An unparseable image in a covered position is a denial naming it.
    let Some(pod) = fixture("01-") else { return };
    let message = denial_message(&w.review("/validate", &with_images(pod, "UPPER/Case:tag")));
    assert!(message.contains("not a valid image reference"), "{message}");
    // The server is still there.
    assert_eq!(w.get("/healthz").0, 200);
    assert!(w.metrics().contains("sigward_malformed_reviews_total 3"));
}

#[test]
fn registry_outages_are_timely_explained_denials() {
    let p = peers!("registry_outages_are_timely_explained_denials");
    let s = setup(&p);
    // A registry that accepts connections and never answers, and one that refuses them.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging_addr = hanging.local_addr().unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let policies = vec![(
        "p.yaml",
        key_cip(
            "outage",
            &[&format!("{hanging_addr}/app"), &format!("{closed}/app")],
            &s.sigward_pub,
            "",
        ),
    )];
    let w = Webhook::start(&p, &policies, &["--deadline", "2s"]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let started = Instant::now();
    let message = denial_message(&w.review(
        "/validate",
        &with_images(pod.clone(), &format!("{hanging_addr}/app:v1")),
    ));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(message.contains("did not finish within 2.0s"), "{message}");
    assert!(message.contains("ClusterImagePolicy outage"), "{message}");
    let message =
        denial_message(&w.review("/validate", &with_images(pod, &format!("{closed}/app:v1"))));
    assert!(
        message.contains("cannot resolve the tag to a digest"),
        "{message}"
    );
    drop(hanging);
}

#[test]
fn policies_and_certificates_reload_without_a_restart() {
    let p = peers!("policies_and_certificates_reload_without_a_restart");
    let s = setup(&p);
    let scope = format!("{}/unsigned", s.prefix);
    let w = Webhook::start(&p, &[], &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let review = || with_images(pod.clone(), &s.unsigned);
    assert_eq!(w.review("/validate", &review())["allowed"], true);
    // A policy appears: the next reviews enforce it.
    std::fs::write(
        w.policies.join("new.yaml"),
        key_cip("late", &[&scope], &s.sigward_pub, ""),
    )
    .unwrap();
    let start = Instant::now();
    while w.review("/validate", &review())["allowed"] == true {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "policy not picked up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // A broken edit is refused; the previous generation stays in force.
    std::fs::write(w.policies.join("new.yaml"), "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: late}\nspec: {scopes: [\"not a scope\"]}\n").unwrap();
    let start = Instant::now();
    while !w
        .metrics()
        .contains("sigward_policy_reloads_total{result=\"error\"} 1")
    {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", w.metrics());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(w.review("/validate", &review())["allowed"], false);
    assert!(w.metrics().contains("sigward_policy_generation 2"));
}

#[test]
fn serving_certificate_is_reloaded() {
    let p = peers!("serving_certificate_is_reloaded");
    let s = setup(&p);
    let dir = s.dir.join(unique("tls-reload"));
    let (_, cert0, key0) = make_tls(&dir.join("first"), "first");
    let (ca1, cert1, key1) = make_tls(&dir.join("second"), "second");
    let live_cert = dir.join("tls.crt");
    let live_key = dir.join("tls.key");
    std::fs::copy(&cert0, &live_cert).unwrap();
    std::fs::copy(&key0, &live_key).unwrap();
    let w = Webhook::start_with_tls(s, &[], &[], &live_cert, &live_key, &[]);
    // A fresh client per try: no pooled connection from before the rotation.
    let try_second = || {
        w.runtime.block_on(async {
            client_for(&ca1)
                .get(format!("{}/healthz", w.url))
                .send()
                .await
                .is_ok()
        })
    };
    assert!(!try_second(), "the second CA must not be trusted yet");
    std::fs::copy(&key1, &live_key).unwrap();
    std::fs::copy(&cert1, &live_cert).unwrap();
    let start = Instant::now();
    while !try_second() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "certificate not reloaded: {}",
            w.metrics()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn concurrent_reviews_share_one_verification_and_repeat_reviews_hit_the_cache() {
    const REVIEWS: usize = 1000;
    let p = peers!("concurrent_reviews_share_one_verification_and_repeat_reviews_hit_the_cache");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let body = serde_json::to_vec(&with_images(pod, &s.by_cosign)).unwrap();
    let responses = w.runtime.block_on(async {
        let posts = (0..REVIEWS).map(|_| async {
            let r = w
                .client
                .post(format!("{}/validate", w.url))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()
        });
        futures_util::future::join_all(posts).await
    });
    // Every one gets the same decision.
    for r in &responses {
        assert_eq!(r["response"]["allowed"], true, "{r}");
    }
    let metrics = w.metrics();
    let count = |name: &str| -> u64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
    };
    // 1,000 reviews of one image: one verification; the rest joined it or hit its verdict.
    assert_eq!(
        count("sigward_cache_requests_total{cache=\"verdict\",result=\"miss\"}"),
        1,
        "{metrics}"
    );
    let shared = count("sigward_cache_requests_total{cache=\"verdict\",result=\"hit\"}")
        + count("sigward_cache_requests_total{cache=\"verdict\",result=\"joined\"}");
    assert_eq!(shared, REVIEWS as u64 - 1, "{metrics}");
    assert_eq!(count("sigward_admission_reviews_total{endpoint=\"validate\",kind=\"Pod\",operation=\"CREATE\",decision=\"allowed\"}"), REVIEWS as u64);
    // A pinned digest costs at most the .sig manifest and its payload once, then nothing.
    let registry = count("sigward_registry_requests_total");
    assert!(
        registry <= 5,
        "{registry} registry requests for one image:\n{metrics}"
    );
}

#[test]
fn not_ready_until_policies_load_and_denies_meanwhile() {
    let p = peers!("not_ready_until_policies_load_and_denies_meanwhile");
    let s = setup(&p);
    // A scope the CRD refuses: the set cannot be matched at all, so nothing is in force.
    let invalid = "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: invalid}\nspec:\n  scopes: [\"not a scope\"]\n  policy:\n    rootOfTrust: {policyType: PublicKey, publicKey: {keyData: bm90IGEga2V5}}\n";
    let w = Webhook::start(&p, &[("invalid.yaml", invalid.to_string())], &[]);
    std::thread::sleep(Duration::from_millis(300));
    let (status, body) = w.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("invalid.yaml:1"), "{body}");
    assert_eq!(w.get("/healthz").0, 200);
    let Some(pod) = fixture("01-") else { return };
    let message = denial_message(&w.review("/validate", &pod));
    assert!(message.contains("no valid policies in force"), "{message}");
    // Fixing the file makes it ready.
    std::fs::write(
        w.policies.join("invalid.yaml"),
        key_cip("fixed", &["example.com/x"], &s.sigward_pub, ""),
    )
    .unwrap();
    w.wait_ready();
    assert_eq!(w.review("/validate", &pod)["allowed"], true);
}

#[test]
fn a_policy_sigward_cannot_enforce_denies_what_it_covers() {
    let p = peers!("a_policy_sigward_cannot_enforce_denies_what_it_covers");
    let s = setup(&p);
    // Valid for the CRD, but its key is not a key: in force, failing closed for its scope,
    // while the other policies work.
    let broken = key_cip("unreadable-key", &[&format!("{}/unsigned", s.prefix)], &s.sigward_pub, "")
        .replace(
            &b64_file(&s.sigward_pub),
            &base64::engine::general_purpose::STANDARD.encode(
                "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5IGF0IGFsbCwganVzdCB0ZXh0\n-----END PUBLIC KEY-----\n",
            ),
        );
    let good = key_cip(
        "good",
        &[&format!("{}/by-sigward", s.prefix)],
        &s.sigward_pub,
        "",
    );
    let w = Webhook::start(&p, &[("broken.yaml", broken), ("good.yaml", good)], &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let message = denial_message(&w.review("/validate", &with_images(pod.clone(), &s.unsigned)));
    assert!(
        message.contains("ClusterImagePolicy unreadable-key: sigward cannot enforce this policy"),
        "{message}"
    );
    assert!(message.contains("publicKey.keyData"), "{message}");
    assert_eq!(
        w.review("/validate", &with_images(pod.clone(), &s.by_sigward))["allowed"],
        true
    );
    assert_eq!(
        w.review("/validate", &pod)["allowed"],
        true,
        "images no policy covers"
    );
    assert!(w.metrics().contains("sigward_unenforceable_policies 1"));
    let log = w.log.lock().unwrap().join("\n");
    assert!(log.contains("policy cannot be enforced"), "{log}");
}

#[test]
fn dry_run_reviews_get_the_same_answer() {
    let p = peers!("dry_run_reviews_get_the_same_answer");
    let s = setup(&p);
    let w = Webhook::start(&p, &standard_policies(s), &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    for (image, allowed) in [(&s.by_sigward, true), (&s.unsigned, false)] {
        let mut r = with_images(pod.clone(), image);
        r["request"]["dryRun"] = json!(true);
        r["request"]["options"]["dryRun"] = json!(["All"]);
        assert_eq!(w.review("/validate", &r)["allowed"], allowed);
    }
}

#[test]
fn policy_lint_and_test_commands() {
    let p = peers!("policy_lint_and_test_commands");
    let s = setup(&p);
    let dir = workdir("policy-cli");
    let good = dir.join("good.yaml");
    std::fs::write(
        &good,
        key_cip(
            "ok",
            &[&format!("{}/by-sigward", s.prefix)],
            &s.sigward_pub,
            "",
        ),
    )
    .unwrap();
    let out = run(p.sigward().args(["policy", "lint"]).arg(&good));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1 policy OK");
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        format!(
            "{}---\n# a comment\napiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata:\n  name: bad\n  annotations: {{sigward.dev/mode: loud}}\nspec:\n  scopes: [\"busybox\"]\n  policy: {{rootOfTrust: {{policyType: PublicKey}}}}\n",
            key_cip("first", &["example.com/a"], &s.sigward_pub, "")
        ),
    )
    .unwrap();
    let out = p
        .sigward()
        .args(["policy", "lint"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = format!("{}:", bad.display());
    assert!(stdout.lines().all(|l| l.starts_with(&line)), "{stdout}");
    assert!(stdout.contains("sigward.dev/mode"), "{stdout}");
    assert!(stdout.contains("busybox"), "{stdout}");
    // `policy test`: the decision and why, exit status 1 on a denial.
    let out = run(p
        .sigward()
        .args(["policy", "test", "--allow-http-registry", "--policy"])
        .arg(&good)
        .arg(&s.by_sigward));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(": ALLOW"), "{stdout}");
    assert!(stdout.contains(&s.by_sigward_digest), "{stdout}");
    let out = p
        .sigward()
        .args(["policy", "test", "--allow-http-registry", "--policy"])
        .arg(&good)
        .arg(
            s.unsigned
                .replace("/unsigned", "/by-sigward")
                .replace(":v1", ":nope"),
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(": DENY"));
}

#[test]
fn cosign_signatures_name_the_repository_so_the_default_identity_rule_refuses_them() {
    let p =
        peers!("cosign_signatures_name_the_repository_so_the_default_identity_rule_refuses_them");
    let s = setup(&p);
    // As on an OpenShift node: cosign writes `docker-reference: <repository>`, which
    // MatchRepoDigestOrExact (the default) refuses for a tag; sigward writes `repo:tag`.
    let scope = &s.prefix;
    let policies = vec![(
        "p.yaml",
        format!(
            "{}---\n{}",
            key_cip(
                "cosign-default",
                &[&format!("{scope}/by-cosign")],
                &s.cosign_pub,
                ""
            ),
            key_cip(
                "sigward-default",
                &[&format!("{scope}/by-sigward")],
                &s.sigward_pub,
                ""
            )
        ),
    )];
    let w = Webhook::start(&p, &policies, &[]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let message = denial_message(&w.review("/validate", &with_images(pod.clone(), &s.by_cosign)));
    assert!(message.contains("MatchRepoDigestOrExact"), "{message}");
    assert!(
        message.contains("none for this image's identity"),
        "{message}"
    );
    assert_eq!(
        w.review("/validate", &with_images(pod, &s.by_sigward))["allowed"],
        true
    );
}

/// The real kube-apiserver (with etcd) that `scripts/peers.sh` builds and starts.
struct Kube {
    kubeconfig: String,
}

impl Kube {
    fn get(test: &str) -> Option<Kube> {
        let kubeconfig = std::env::var("SIGWARD_TEST_KUBECONFIG").ok().or_else(|| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.peers/kube/kubeconfig");
            path.exists().then(|| path.display().to_string())
        });
        let Some(kubeconfig) = kubeconfig else {
            let msg = format!("{test}: no kube-apiserver peer: `scripts/peers.sh start`");
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("SKIPPED {msg}");
            return None;
        };
        Some(Kube { kubeconfig })
    }

    fn kubectl(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// `kubectl apply -f -` of `yaml`; returns (success, stdout + stderr).
    fn apply(&self, yaml: &str) -> (bool, String) {
        self.stdin(&["apply", "-f", "-"], yaml)
    }

    fn stdin(&self, args: &[&str], input: &str) -> (bool, String) {
        use std::io::Write;
        let mut child = self
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn must(&self, args: &[&str]) -> String {
        String::from_utf8_lossy(&run(self.kubectl().args(args)).stdout).to_string()
    }
}

/// Waits until policy generation `n` is in force (a reload takes one or two ticks).
/// Replaces `file` in one rename, as kubelet updates a mounted ConfigMap.
fn replace_file(file: &Path, text: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// A thread calling `step(0)`, `step(1)`, … with `pause` after each until stopped: files
/// rewritten or certificates rotated while a test sends reviews.
struct Churn {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Churn {
    fn start(pause: Duration, mut step: impl FnMut(u64) -> bool + Send + 'static) -> Churn {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let (mut i, mut done) = (0, 0);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    if step(i) {
                        done += 1;
                    }
                    i += 1;
                    std::thread::sleep(pause);
                }
                done
            })
        };
        Churn { stop, thread }
    }

    /// Stops the thread; returns how many steps did something (`step` returned true).
    fn stop(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().unwrap()
    }
}

fn wait_for_generation(w: &Webhook, n: u64) {
    let start = Instant::now();
    while !w
        .metrics()
        .contains(&format!("sigward_policy_generation {n}\n"))
    {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", w.metrics());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Polls `review` until `allowed` is as wanted (the watch and reload take a moment).
fn wait_for_decision(w: &Webhook, review: &dyn Fn() -> Value, allowed: bool) {
    let start = Instant::now();
    loop {
        let response = w.review("/validate", &review());
        if response["allowed"] == allowed {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still {response} after 20 s; log: {:?}",
            w.log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn cluster_mode_with_a_real_apiserver() {
    let p = peers!("cluster_mode_with_a_real_apiserver");
    let Some(kube) = Kube::get("cluster_mode_with_a_real_apiserver") else {
        return;
    };
    let s = setup(&p);
    // The CRDs sigward ships, installed as an admin would.
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    kube.must(&["apply", "-k", crds.to_str().unwrap()]);
    let ns = unique("adm").replace('-', "x");
    kube.must(&["create", "namespace", &ns]);
    // A second namespace that opts out with deploy/'s label.
    let opted_out = format!("{ns}x");
    kube.must(&["create", "namespace", &opted_out]);
    kube.must(&["label", "namespace", &ns, &format!("sigward-test={ns}")]);
    kube.must(&[
        "label",
        "namespace",
        &opted_out,
        &format!("sigward-test={ns}"),
        "sigward.dev/enforce=false",
    ]);
    let w = Webhook::start_with_tls(
        s,
        &[],
        &["--cluster"],
        &s.cert,
        &s.key,
        &[("KUBECONFIG", kube.kubeconfig.as_str())],
    );
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let review = || {
        let mut r = with_images(pod.clone(), &s.unsigned);
        r["request"]["namespace"] = json!(ns);
        r
    };
    assert_eq!(w.review("/validate", &review())["allowed"], true);

    // A ClusterImagePolicy created in the API is enforced; deleting it lifts it.
    let name = unique("cip");
    let scopes = [
        format!("{}/unsigned", s.prefix),
        format!("{}/by-sigward", s.prefix),
    ];
    let cip = key_cip(&name, &[&scopes[0], &scopes[1]], &s.sigward_pub, "");
    let (ok, out) = kube.apply(&cip);
    assert!(ok, "{out}");
    wait_for_decision(&w, &review, false);
    let message = denial_message(&w.review("/validate", &review()));
    assert!(
        message.contains(&format!("ClusterImagePolicy {name}")),
        "{message}"
    );
    // The CRD's own validation (generated from sigward's types) refuses a broken object.
    let (ok, out) = kube.apply(
        &key_cip("broken", &["busybox"], &s.sigward_pub, "")
            .replace("policyType: PublicKey", "policyType: Nothing"),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("policyType"), "{out}");

    // The real API server calls sigward: a webhook registered for this namespace only.
    let hook = unique("sigward-test").replace('-', "x");
    let ca = b64_file(&s.ca);
    let config = format!(
        "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {{name: {hook}}}\nwebhooks:\n- name: images.sigward.dev\n  admissionReviewVersions: [v1]\n  sideEffects: None\n  failurePolicy: Fail\n  timeoutSeconds: 10\n  clientConfig: {{url: \"{url}/validate\", caBundle: {ca}}}\n  namespaceSelector: {{matchLabels: {{sigward-test: {ns}}}, matchExpressions: [{{key: sigward.dev/enforce, operator: NotIn, values: [\"false\"]}}]}}\n  rules:\n  - {{apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/ephemeralcontainers]}}\n  - {{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}}\n",
        url = w.url
    );
    let (ok, out) = kube.apply(&config);
    assert!(ok, "{out}");
    // The apiserver may take a moment to see the new configuration.
    let start = Instant::now();
    let refused = loop {
        let out = kube
            .kubectl()
            .args([
                "-n",
                &ns,
                "create",
                "deployment",
                "unsigned",
                "--image",
                &s.unsigned,
            ])
            .output()
            .unwrap();
        if !out.status.success() {
            break String::from_utf8_lossy(&out.stderr).to_string();
        }
        kube.must(&["-n", &ns, "delete", "deployment", "unsigned"]);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the webhook is never called"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        refused.contains("admission webhook \"images.sigward.dev\" denied the request"),
        "{refused}"
    );
    assert!(refused.contains("sigward denied Deployment"), "{refused}");
    assert!(refused.contains("no signatures found"), "{refused}");
    kube.must(&[
        "-n",
        &ns,
        "create",
        "deployment",
        "signed",
        "--image",
        &s.by_sigward,
    ]);
    // The opted-out namespace is never reviewed (the same selector as deploy/webhooks.yaml).
    kube.must(&[
        "-n",
        &opted_out,
        "create",
        "deployment",
        "unsigned",
        "--image",
        &s.unsigned,
    ]);
    // A dry run is reviewed too (sideEffects: None), with the same answer.
    let out = kube
        .kubectl()
        .args([
            "-n",
            &ns,
            "create",
            "deployment",
            "dry",
            "--dry-run=server",
            "--image",
            &s.unsigned,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sigward denied"));
    kube.must(&["delete", "validatingwebhookconfiguration", &hook]);
    kube.must(&["delete", "clusterimagepolicy.config.openshift.io", &name]);
    wait_for_decision(&w, &review, true);
}

#[test]
fn cluster_mode_reads_pull_secrets() {
    let p = peers!("cluster_mode_reads_pull_secrets");
    let Some(k) = Keyless::get("cluster_mode_reads_pull_secrets") else {
        return;
    };
    let Some(kube) = Kube::get("cluster_mode_reads_pull_secrets") else {
        return;
    };
    let s = setup(&p);
    // Private images on the registry that requires basic auth, signed by sigward (one per
    // credential path, so that no verdict is cached from another).
    let registry = k.http_auth_registry.clone();
    let dir = workdir("pull-secrets");
    let (key, public) = p.sigward_key_pair(&dir, PASSWORD);
    let repo = unique("private/app");
    let push_signed = |tag: &str| {
        let layout = dir.join(format!("layout-{tag}"));
        run(Command::new(&p.mkoci)
            .arg(&layout)
            .arg(tag)
            .arg(unique("private")));
        let image = format!("{registry}/{repo}:{tag}");
        run(Command::new(&p.skopeo)
            .args(["--policy"])
            .arg(&p.skopeo_policy)
            .args(["copy", "--dest-tls-verify=false", "--dest-creds"])
            .arg(format!("{}:{}", p.user, p.password))
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{image}")));
        run(p
            .sigward()
            .env("COSIGN_PASSWORD", PASSWORD)
            .args([
                "sign",
                "--tlog-upload=false",
                "--allow-http-registry",
                "--key",
                &key,
            ])
            .args([
                "--registry-username",
                &p.user,
                "--registry-password",
                &p.password,
            ])
            .arg(&image));
        image
    };
    let image = push_signed("own");
    let image_sa = push_signed("account");
    let ns = unique("pull").replace('-', "x");
    kube.must(&["create", "namespace", &ns]);
    kube.must(&[
        "-n",
        &ns,
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={registry}"),
        &format!("--docker-username={}", p.user),
        &format!("--docker-password={}", p.password),
    ]);
    let (ok, out) = kube.apply(&format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: builder, namespace: {ns}}}\nimagePullSecrets: [{{name: regcred}}]\n"
    ));
    assert!(ok, "{out}");
    let policy_dir_policy = key_cip(
        "private",
        &[&format!("{registry}/{}", repo.split('/').next().unwrap())],
        &public,
        "",
    );
    let w = Webhook::start_with_tls(
        s,
        &[("p.yaml", policy_dir_policy)],
        &["--cluster"],
        &s.cert,
        &s.key,
        &[("KUBECONFIG", kube.kubeconfig.as_str())],
    );
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let review = |spec_patch: Value| {
        let mut r = with_images(pod.clone(), &image);
        r["request"]["namespace"] = json!(ns);
        for (k, v) in spec_patch.as_object().unwrap() {
            r["request"]["object"]["spec"][k] = v.clone();
        }
        r
    };
    // sigward has no credentials of its own: without a pull secret the registry says no.
    let message = denial_message(&w.review("/validate", &review(json!({}))));
    assert!(
        message.contains("401") || message.to_lowercase().contains("unauthorized"),
        "{message}"
    );
    // A secret that does not exist is skipped, as kubelet does.
    let message = denial_message(&w.review(
        "/validate",
        &review(json!({"imagePullSecrets": [{"name": "nope"}]})),
    ));
    assert!(
        message.contains("401") || message.to_lowercase().contains("unauthorized"),
        "{message}"
    );
    // The pod's own imagePullSecrets, or its service account's.
    let response = w.review(
        "/validate",
        &review(json!({"imagePullSecrets": [{"name": "regcred"}]})),
    );
    assert_eq!(response["allowed"], true, "{response}");
    let mut by_account = review(json!({"serviceAccountName": "builder"}));
    by_account = with_images(by_account, &image_sa);
    let response = w.review("/validate", &by_account);
    assert_eq!(response["allowed"], true, "{response}");
    // Verdicts are about signatures, not access: once known, they serve every namespace
    // (a pod without credentials would still fail to pull on the node).
    let response = w.review("/validate", &review(json!({})));
    assert_eq!(response["allowed"], true, "{response}");
}

#[test]
fn deploy_manifests_are_accepted_by_a_real_apiserver() {
    let Some(kube) = Kube::get("deploy_manifests_are_accepted_by_a_real_apiserver") else {
        return;
    };
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy");
    // The rendered kustomization, as `kubectl apply -k` sends it; cert-manager's kinds are
    // not installed on this API server, so they are left out of the server-side dry run.
    let rendered = kube.must(&["kustomize", deploy.join("kubernetes").to_str().unwrap()]);
    let documents: Vec<&str> = rendered
        .split("\n---\n")
        .filter(|d| !d.contains("apiVersion: cert-manager.io/"))
        .collect();
    assert!(documents.len() >= 10, "{rendered}");
    // Namespaces and CRDs first (the rest depends on them), for real.
    let (first, rest): (Vec<&str>, Vec<&str>) = documents.iter().partition(|d| {
        d.contains("kind: Namespace\n") || d.contains("kind: CustomResourceDefinition\n")
    });
    let (ok, out) = kube.apply(&first.join("\n---\n"));
    assert!(ok, "{out}");
    // Everything else through admission and validation, without persisting it.
    let (ok, out) = kube.stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &rest.join("\n---\n"),
    );
    assert!(ok, "the API server refused a manifest:\n{out}");
    for kind in [
        "deployment.apps/sigward",
        "service/sigward",
        "poddisruptionbudget.policy/sigward",
        "validatingwebhookconfiguration.admissionregistration.k8s.io/sigward",
        "mutatingwebhookconfiguration.admissionregistration.k8s.io/sigward",
    ] {
        assert!(out.contains(kind), "{kind} missing from:\n{out}");
    }
}

/// Every way a registry misbehaves, between sigward and the real registry: each review is
/// answered before its deadline, denied in enforce mode naming the cause, admitted with a
/// warning in warn mode, and the server stays healthy.
#[test]
fn registry_faults_fail_closed_in_time_and_warn_in_warn_mode() {
    use sigward_faults::{Fault, FaultProxy};
    let p = peers!("registry_faults_fail_closed_in_time_and_warn_in_warn_mode");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = rt
        .block_on(FaultProxy::start(p.http.parse().unwrap()))
        .unwrap();
    let faults: Vec<(&str, Fault, &str)> = vec![
        ("refuse", Fault::Refuse, "cannot"),
        ("hang", Fault::Hang, "did not finish within 2.0s"),
        (
            "slow",
            Fault::Delay(Duration::from_secs(5)),
            "did not finish within 2.0s",
        ),
        ("reset", Fault::ResetMidBody, "cannot"),
        ("s401", Fault::Status(401), "401"),
        ("s404", Fault::Status(404), "404"),
        ("s429", Fault::Status(429), "429"),
        ("s500", Fault::Status(500), "500"),
        ("s503", Fault::Status(503), "503"),
        ("truncate", Fault::Truncate, "cannot"),
        ("endless", Fault::Endless, "larger than"),
        ("corrupt", Fault::Corrupt, "digest"),
        ("redirect", Fault::RedirectLoop, "redirect"),
    ];
    // One signed image per fault, in the real registry; reached through the proxy, whose
    // address differs: the policy maps it back (a mirror, as remapIdentity is meant for).
    let dir = workdir("faults");
    let (key, public) = p.sigward_key_pair(&dir, PASSWORD);
    let prefix = unique("faults");
    for (name, _, _) in &faults {
        let (image, _) = p.push_image(&p.http, &format!("{prefix}/f-{name}"), "v1", &dir);
        sigward_sign(&p, &key, &image);
    }
    let mirror = format!("{}/{prefix}", proxy.addr());
    let origin = format!("{}/{prefix}", p.http);
    let policy = |mode: &str| {
        format!(
            "{}    signedIdentity:\n      matchPolicy: RemapIdentity\n      remapIdentity: {{prefix: \"{mirror}\", signedPrefix: \"{origin}\"}}\n",
            key_cip("mirror", &[&mirror], &public, &format!("sigward.dev/mode: {mode}"))
        )
    };
    let w = Webhook::start(
        &p,
        &[("p.yaml", policy("enforce"))],
        &["--deadline", "2s", "--failure-ttl", "1s"],
    );
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let review = |name: &str| with_images(pod.clone(), &format!("{mirror}/f-{name}:v1"));
    // Through the proxy with no fault: admitted.
    for (name, _, _) in &faults {
        let response = w.review("/validate", &review(name));
        assert_eq!(response["allowed"], true, "{name}: {response}");
    }
    // Every fault, on a fresh policy generation (no verdict cached from above).
    std::fs::write(
        w.policies.join("p.yaml"),
        policy("enforce").replace("name: mirror", "name: mirror2"),
    )
    .unwrap();
    wait_for_generation(&w, 2);
    for (name, fault, _) in &faults {
        proxy.set(&format!("/f-{name}/"), fault.clone());
    }
    for (name, _, cause) in &faults {
        let started = Instant::now();
        let response = w.review("/validate", &review(name));
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(4),
            "{name}: answered after {took:?}"
        );
        let message = denial_message(&response);
        eprintln!("fault {name} ({took:?}): {message}");
        assert!(
            message.contains("ClusterImagePolicy mirror2"),
            "{name}: {message}"
        );
        assert!(
            message.contains(&format!("f-{name}:v1")),
            "{name}: {message}"
        );
        assert!(message.to_lowercase().contains(cause), "{name}: {message}");
    }
    assert_eq!(w.get("/healthz").0, 200);
    // Warn mode: the same faults admit, with the reason as a warning.
    std::fs::write(w.policies.join("p.yaml"), policy("warn")).unwrap();
    wait_for_generation(&w, 3);
    for name in ["s503", "hang", "corrupt"] {
        let response = w.review("/validate", &review(name));
        assert_eq!(response["allowed"], true, "{name}: {response}");
        let warning = response["warnings"][0].as_str().unwrap_or_default();
        assert!(
            warning.contains("ClusterImagePolicy mirror"),
            "{name}: {response}"
        );
    }
    // A flapping registry: once the fault is gone, the short failure TTL lets it recover.
    std::fs::write(w.policies.join("p.yaml"), policy("enforce")).unwrap();
    wait_for_generation(&w, 4);
    assert_eq!(w.review("/validate", &review("s503"))["allowed"], false);
    proxy.clear("/f-s503/");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(w.review("/validate", &review("s503"))["allowed"], true);
    assert_eq!(w.get("/healthz").0, 200);
    drop(rt);
}

/// Policy files rewritten under load, valid and invalid in turn: the last valid set stays in
/// force, refusals are reported, and no review is ever admitted that a valid set denies.
#[test]
fn policy_rewrites_under_load_never_admit_what_the_valid_set_denies() {
    let p = peers!("policy_rewrites_under_load_never_admit_what_the_valid_set_denies");
    let s = setup(&p);
    let scope = format!("{}/unsigned", s.prefix);
    let valid = |n: usize| key_cip(&format!("v{n}"), &[&scope], &s.sigward_pub, "");
    let w = Webhook::start(&p, &[("p.yaml", valid(0))], &["--reload-interval", "20ms"]);
    w.wait_ready();
    let Some(pod) = fixture("01-") else { return };
    let body = serde_json::to_vec(&with_images(pod, &s.unsigned)).unwrap();
    let writer = {
        let file = w.policies.join("p.yaml");
        let valid: Vec<String> = (1..=3).map(valid).collect();
        Churn::start(Duration::from_millis(30), move |i| {
            let text = match i % 4 {
                0 => "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: bad}\nspec: {scopes: [\"not a scope\"]}\n".to_string(),
                1 => "{ this is not yaml".to_string(),
                k => valid[k as usize % valid.len()].clone(),
            };
            // As kubelet updates a mounted ConfigMap: the new file replaces the old in one
            // rename (a writer truncating in place can be caught half way: see the docs).
            replace_file(&file, &text);
            true
        })
    };
    let (admitted, answered) = w.runtime.block_on(async {
        let mut admitted = 0;
        let mut answered = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            let posts = (0..8).map(|_| async {
                let r = w
                    .client
                    .post(format!("{}/validate", w.url))
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()
            });
            for r in futures_util::future::join_all(posts).await {
                answered += 1;
                if r["response"]["allowed"] != false {
                    if admitted == 0 {
                        eprintln!("first admitted: {r}");
                    }
                    admitted += 1;
                }
            }
        }
        (admitted, answered)
    });
    let rewrites = writer.stop();
    assert!(
        answered > 100 && rewrites > 20,
        "{answered} reviews, {rewrites} rewrites"
    );
    assert_eq!(
        admitted, 0,
        "{admitted} of {answered} reviews admitted an unsigned image"
    );
    let metrics = w.metrics();
    assert!(
        !metrics.contains("sigward_policy_reloads_total{result=\"error\"} 0"),
        "{metrics}"
    );
    assert_eq!(w.get("/readyz").0, 200);
}

/// The serving certificate rotated (same CA) while clients keep opening connections: no
/// request fails.
#[test]
fn certificate_rotation_under_load_fails_no_request() {
    let p = peers!("certificate_rotation_under_load_fails_no_request");
    let s = setup(&p);
    let dir = s.dir.join(unique("rotation"));
    std::fs::create_dir_all(&dir).unwrap();
    let live_cert = dir.join("tls.crt");
    let live_key = dir.join("tls.key");
    std::fs::copy(&s.cert, &live_cert).unwrap();
    std::fs::copy(&s.key, &live_key).unwrap();
    // Two more certificates from the same CA.
    let ca_key = s.ca.with_file_name("webhook-ca.key");
    let mut certs = Vec::new();
    for n in 0..2 {
        let key = dir.join(format!("k{n}.key"));
        let csr = dir.join(format!("k{n}.csr"));
        let cert = dir.join(format!("k{n}.crt"));
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/CN=rotated",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&csr));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
            .arg("-in")
            .arg(&csr)
            .arg("-CA")
            .arg(&s.ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(s.ca.with_file_name("ext"))
            .arg("-out")
            .arg(&cert));
        certs.push((cert, key));
    }
    let w = Webhook::start_with_tls(
        s,
        &[],
        &["--reload-interval", "20ms"],
        &live_cert,
        &live_key,
        &[],
    );
    w.wait_ready();
    let rotator = {
        let (live_cert, live_key) = (live_cert.clone(), live_key.clone());
        Churn::start(Duration::from_millis(25), move |i| {
            let (cert, key) = &certs[i as usize % certs.len()];
            // As a Secret update lands: key and certificate in turn, not atomically.
            std::fs::copy(key, &live_key).unwrap();
            std::fs::copy(cert, &live_cert).unwrap();
            true
        })
    };
    let (failed, total) = w.runtime.block_on(async {
        let (mut failed, mut total) = (0, 0);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(3) {
            // A new client each round: new connections, new handshakes.
            let client = client_for(&s.ca);
            let gets = (0..4).map(|_| client.get(format!("{}/readyz", w.url)).send());
            for r in futures_util::future::join_all(gets).await {
                total += 1;
                if !matches!(r, Ok(ref r) if r.status() == 200) {
                    failed += 1;
                }
            }
        }
        (failed, total)
    });
    let rotations = rotator.stop();
    assert!(
        total > 50 && rotations > 20,
        "{total} requests, {rotations} rotations"
    );
    assert_eq!(failed, 0, "{failed} of {total} requests failed");
    assert!(!w
        .metrics()
        .contains("sigward_tls_reloads_total{result=\"ok\"} 0"));
}

/// What a soak review must get back.
#[derive(Clone)]
enum Expect {
    /// 200, allowed, no warnings.
    Allowed,
    /// 200, allowed, and a JSONPatch (the `/mutate` pin).
    Pinned,
    /// 200, allowed, with a warning containing the text.
    Warned(String),
    /// 200, denied (403) with a message containing every text.
    Denied(Vec<String>),
    /// 200, denied inside the answer with this status code (a review that is not one).
    Refused(u16),
    /// This HTTP status, no AdmissionReview answer.
    Status(u16),
}

struct SoakCase {
    name: &'static str,
    path: &'static str,
    body: Vec<u8>,
    uid: Option<String>,
    expect: Expect,
}

/// The first problem with an answer, if any.
fn soak_mismatch(case: &SoakCase, status: u16, body: &[u8]) -> Option<String> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(600)]).to_string();
    if let Expect::Status(want) = case.expect {
        return (status != want).then(|| format!("status {status}, want {want}: {}", text()));
    }
    if status != 200 {
        return Some(format!("status {status}: {}", text()));
    }
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Some(format!("not JSON: {}", text()));
    };
    let r = &answer["response"];
    if let Some(uid) = &case.uid {
        if r["uid"] != json!(uid) {
            return Some(format!("uid not echoed: {answer}"));
        }
    }
    let ok = match &case.expect {
        Expect::Allowed => r["allowed"] == true && r.get("warnings").is_none(),
        Expect::Pinned => r["allowed"] == true && r["patchType"] == "JSONPatch",
        Expect::Warned(text) => {
            r["allowed"] == true
                && r["warnings"]
                    .as_array()
                    .is_some_and(|w| w.iter().any(|w| w.as_str().unwrap_or("").contains(text)))
        }
        Expect::Denied(texts) => {
            let message = r["status"]["message"].as_str().unwrap_or("");
            r["allowed"] == false
                && r["status"]["code"] == 403
                && texts.iter().all(|t| message.contains(t.as_str()))
        }
        Expect::Refused(code) => r["allowed"] == false && r["status"]["code"] == *code,
        Expect::Status(_) => unreachable!(),
    };
    (!ok).then(|| format!("unexpected answer: {answer}"))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The soak: `SIGWARD_SOAK_SECONDS` (default 1800) of mixed reviews (signed and unsigned
/// images, key and keyless, both policy APIs, warn mode, every workload kind, `/mutate`,
/// uncovered images, deletes, malformed and oversized bodies) against one server whose caches
/// expire every second or two (so verification runs all along) and whose policy directory is
/// rewritten, sometimes invalidly, twice a minute. Every answer is checked against what it
/// must be; the server must never crash, never log a panic, and keep its memory flat.
#[test]
#[ignore = "a long soak: scripts/test.sh runs it with --ignored (SIGWARD_SOAK_SECONDS, default 1800)"]
fn soak_mixed_reviews_stay_correct_and_memory_stays_flat() {
    let p = peers!("soak_mixed_reviews_stay_correct_and_memory_stays_flat");
    let Some(k) = Keyless::get("soak_mixed_reviews_stay_correct_and_memory_stays_flat") else {
        return;
    };
    let seconds: u64 = std::env::var("SIGWARD_SOAK_SECONDS")
        .ok()
        .map(|v| {
            v.parse()
                .expect("SIGWARD_SOAK_SECONDS: a number of seconds")
        })
        .unwrap_or(1800);
    let s = setup(&p);
    let (keyless_image, _) = k.cosign_signed_image(&p, "soak-keyless/app", &[]);
    let keyless_repo = keyless_image.rsplit_once(':').unwrap().0.to_string();
    let repo_path = s.prefix.split_once('/').unwrap().1;
    let (warned, _) = p.push_image(&p.http, &format!("{repo_path}/warned"), "v1", &s.dir);
    let mut policies = standard_policies(s);
    policies.push((
        "warn.yaml",
        key_cip(
            "soak-warn",
            &[&format!("{}/warned", s.prefix)],
            &s.sigward_pub,
            "sigward.dev/mode: warn",
        ),
    ));
    policies.push((
        "keyless.yaml",
        format!(
            "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: soak-keyless}}\nspec:\n  images: [{{glob: \"{keyless_repo}**\"}}]\n  authorities:\n  - keyless:\n      identities:\n      - issuer: {issuer}\n        subject: {subject}\n",
            issuer = k.issuer,
            subject = k.subject,
        ),
    ));
    let trusted_root = k.trusted_root.display().to_string();
    let mut w = Webhook::start(
        &p,
        &policies,
        &[
            "--trusted-root",
            &trusted_root,
            "--verdict-ttl",
            "2s",
            "--failure-ttl",
            "1s",
            "--digest-ttl",
            "1s",
            "--reload-interval",
            "500ms",
        ],
    );
    w.wait_ready();

    // The cases, each body serialised once.
    let review = |fixture_name: &str, image: &str| -> Option<(Vec<u8>, String)> {
        let r = with_images(fixture(fixture_name)?, image);
        let uid = r["request"]["uid"].as_str().unwrap().to_string();
        Some((serde_json::to_vec(&r).unwrap(), uid))
    };
    let by_policy = |policy: &str, image: &str| {
        Expect::Denied(vec![
            format!("ClusterImagePolicy {policy}"),
            image.to_string(),
        ])
    };
    let mut cases = Vec::new();
    let mut add = |name, path, fixture_name: &str, image: &str, expect| -> bool {
        let Some((body, uid)) = review(fixture_name, image) else {
            return false;
        };
        cases.push(SoakCase {
            name,
            path,
            body,
            uid: Some(uid),
            expect,
        });
        true
    };
    let added = [
        add(
            "pod signed by sigward",
            "/validate",
            "01-",
            &s.by_sigward,
            Expect::Allowed,
        ),
        add(
            "deployment pinned by digest",
            "/validate",
            "02-",
            &s.by_sigward_digest,
            Expect::Allowed,
        ),
        add(
            "cronjob signed by cosign",
            "/validate",
            "07-",
            &s.by_cosign,
            Expect::Allowed,
        ),
        add(
            "init container keyless",
            "/validate",
            "13-",
            &keyless_image,
            Expect::Allowed,
        ),
        add(
            "v1beta1 multi-image deployment",
            "/validate",
            "15-",
            &s.by_sigward,
            Expect::Allowed,
        ),
        add(
            "ephemeral container signed",
            "/validate",
            "12-",
            &s.by_sigward,
            Expect::Allowed,
        ),
        add(
            "pod mutated",
            "/mutate",
            "01-",
            &s.by_sigward,
            Expect::Pinned,
        ),
        add(
            "pod uncovered",
            "/validate",
            "01-",
            "quay.io/sigward-soak/uncovered:v1",
            Expect::Allowed,
        ),
        add(
            "pod delete",
            "/validate",
            "11-",
            &s.unsigned,
            Expect::Allowed,
        ),
        add(
            "pod unsigned",
            "/validate",
            "01-",
            &s.unsigned,
            by_policy("by-sigward", &s.unsigned),
        ),
        add(
            "statefulset wrong key",
            "/validate",
            "04-",
            &s.wrong_key,
            by_policy("by-sigward", &s.wrong_key),
        ),
        add(
            "ephemeral container unsigned",
            "/validate",
            "12-",
            &s.unsigned,
            by_policy("by-sigward", &s.unsigned),
        ),
        add(
            "job unsigned in warn mode",
            "/validate",
            "06-",
            &warned,
            Expect::Warned("ClusterImagePolicy soak-warn".into()),
        ),
        add(
            "pod with an invalid reference",
            "/validate",
            "01-",
            "UPPER/Case:tag",
            Expect::Denied(vec!["not a valid image reference".into()]),
        ),
    ];
    if added.contains(&false) {
        return; // a fixture is missing (SKIPPED printed by `fixture`)
    }
    cases.push(SoakCase {
        name: "not JSON",
        path: "/validate",
        body: b"{not json".to_vec(),
        uid: None,
        expect: Expect::Status(400),
    });
    cases.push(SoakCase {
        name: "not a review",
        path: "/validate",
        body: br#"{"apiVersion":"v1","kind":"Pod"}"#.to_vec(),
        uid: None,
        expect: Expect::Status(400),
    });
    cases.push(SoakCase {
        name: "request that is not one",
        path: "/validate",
        body: serde_json::to_vec(
            &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "soak-1", "operation": "CREATE", "object": "a string"}}),
        )
        .unwrap(),
        uid: Some("soak-1".into()),
        expect: Expect::Refused(400),
    });
    let oversized = SoakCase {
        name: "9 MiB body",
        path: "/validate",
        body: vec![b' '; 9 * 1024 * 1024],
        uid: None,
        expect: Expect::Status(413),
    };
    let cases = std::sync::Arc::new(cases);
    let oversized = std::sync::Arc::new(oversized);

    // Policy rewrites: an invalid file appears, then is replaced by a valid one, twice a minute.
    // The valid set never changes meaning, so no expected answer changes.
    let rewriter = {
        let file = w.policies.join("churn.yaml");
        let harmless = key_cip(
            "soak-churn",
            &["quay.io/sigward-soak/never-used"],
            &s.sigward_pub,
            "",
        );
        Churn::start(Duration::from_millis(500), move |i| {
            let text = match (i + 1) % 60 {
                0 => "{ this is not yaml".to_string(),
                10 | 30 | 50 => format!("# rewrite {i}\n{harmless}"),
                20 => "apiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: bad}\nspec: {scopes: [\"not a scope\"]}\n".to_string(),
                _ => return false,
            };
            replace_file(&file, &text);
            true
        })
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));

    let pid = w.child.id();
    let started = Instant::now();
    let duration = Duration::from_secs(seconds);
    let counts: std::sync::Arc<Vec<std::sync::atomic::AtomicU64>> =
        std::sync::Arc::new((0..cases.len() + 1).map(|_| 0.into()).collect());
    let wrong = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (client, url) = (w.client.clone(), w.url.clone());
            let (cases, oversized, counts, wrong, stop) = (
                cases.clone(),
                oversized.clone(),
                counts.clone(),
                wrong.clone(),
                stop.clone(),
            );
            w.runtime.spawn(async move {
                let mut n = worker;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    n += 4;
                    // One oversized body in 2,000 reviews; the rest round robin.
                    let (index, case) = if n % 2000 == 1 {
                        (cases.len(), &*oversized)
                    } else {
                        (n % cases.len(), &cases[n % cases.len()])
                    };
                    let answer = client
                        .post(format!("{url}{}", case.path))
                        .header("Content-Type", "application/json")
                        .body(case.body.clone())
                        .send()
                        .await;
                    let problem = match answer {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            match r.bytes().await {
                                Ok(body) => soak_mismatch(case, status, &body),
                                Err(e) => Some(format!("reading the answer: {e}")),
                            }
                        }
                        Err(e) => Some(format!("request failed: {e}")),
                    };
                    counts[index].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if let Some(problem) = problem {
                        let mut wrong = wrong.lock().unwrap();
                        if wrong.len() < 1000 {
                            wrong.push(format!("{}: {problem}", case.name));
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(4)).await;
                }
            })
        })
        .collect();

    // Watch the process: alive, memory, and progress once a minute.
    let mut samples: Vec<(Duration, u64)> = Vec::new();
    let mut next_report = Duration::from_secs(60);
    let mut died = None;
    while started.elapsed() < duration {
        std::thread::sleep(Duration::from_secs(2));
        if let Ok(Some(status)) = w.child.try_wait() {
            died = Some(status);
            break;
        }
        if let Some(rss) = rss_kib(pid) {
            samples.push((started.elapsed(), rss));
        }
        if started.elapsed() >= next_report {
            next_report += Duration::from_secs(60);
            let total: u64 = counts
                .iter()
                .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
                .sum();
            println!(
                "soak: {:>5} s, {total} reviews, {} wrong, server RSS {} KiB",
                started.elapsed().as_secs(),
                wrong.lock().unwrap().len(),
                samples.last().map_or(0, |s| s.1)
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    w.runtime.block_on(async {
        for worker in workers {
            worker.await.unwrap();
        }
    });
    let rewrites = rewriter.stop();
    let elapsed = started.elapsed();
    assert!(died.is_none(), "the server exited: {died:?}");

    let total: u64 = counts
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        .sum();
    println!(
        "soak: {} s, {total} reviews ({:.0}/s), {rewrites} policy rewrites",
        elapsed.as_secs(),
        total as f64 / elapsed.as_secs_f64()
    );
    for (i, count) in counts.iter().enumerate() {
        let name = cases.get(i).map_or(oversized.name, |c| c.name);
        println!(
            "soak:   {count:>9} {name}",
            count = count.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    let metrics = w.metrics();
    for line in metrics.lines().filter(|l| {
        l.starts_with("sigward_cache_requests_total")
            || l.starts_with("sigward_policy_reloads_total")
            || l.starts_with("sigward_registry_requests_total")
            || l.starts_with("sigward_registry_errors_total")
            || l.starts_with("sigward_malformed_reviews_total")
            || l.starts_with("sigward_policy_generation")
    }) {
        println!("soak:   {line}");
    }

    let wrong = wrong.lock().unwrap();
    assert!(
        wrong.is_empty(),
        "{} wrong answers; the first: {:#?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let panics: Vec<String> = w
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("panicked"))
        .cloned()
        .collect();
    assert!(panics.is_empty(), "the server logged panics: {panics:?}");
    assert!(
        counts
            .iter()
            .all(|c| c.load(std::sync::atomic::Ordering::Relaxed) > 0),
        "a case was never sent"
    );
    assert!(
        rewrites as f64 >= elapsed.as_secs_f64() / 10.0,
        "{rewrites} rewrites"
    );
    assert!(
        !metrics.contains("sigward_policy_reloads_total{result=\"error\"} 0"),
        "the invalid rewrites were not reported: {metrics}"
    );
    assert_eq!(w.get("/readyz").0, 200);

    // Memory: after a warm-up (a fifth of the run, at least 20 s), the median RSS of the last
    // quarter may not exceed the median of the first quarter by more than 8 MiB or 25 %,
    // whichever is larger, and no sample may exceed 64 MiB. Medians, not peaks: the 8 MiB
    // bodies the server reads before refusing them make short peaks (seen: 30 MiB against a
    // 25.5 MiB median), where a leak moves the whole distribution. Not 4 MiB: RSS can step up
    // once and stay (two fresh-clone runs of `.ci/run`: 22.0 MiB +2.1 MiB at 1,000 s, and
    // 22.6 MiB +2.0 MiB at 720 s, each flat to the end; most likely the allocator keeping a
    // freed region, not traced further), and two such steps in one run are no leak. 8 MiB
    // still catches any leak per review: in the 30-minute run the server answers some 700,000
    // reviews between the two quarters, and one leaked allocation each, at glibc's smallest
    // chunk of 32 bytes, is 21 MiB.
    let warmup = (duration / 5).max(Duration::from_secs(20));
    let steady: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= warmup)
        .map(|s| s.1)
        .collect();
    assert!(steady.len() >= 8, "too few memory samples: {samples:?}");
    let quarter = steady.len() / 4;
    let median = |part: &[u64]| {
        let mut part = part.to_vec();
        part.sort_unstable();
        part[part.len() / 2]
    };
    let first = median(&steady[..quarter]);
    let last = median(&steady[steady.len() - quarter..]);
    let peak = samples.iter().map(|s| s.1).max().unwrap();
    println!(
        "soak: server RSS after warm-up: first quarter median {first} KiB, last quarter median {last} KiB, peak {peak} KiB"
    );
    assert!(
        last <= first + (first / 4).max(8192),
        "memory grew from {first} KiB to {last} KiB (quarter medians)"
    );
    assert!(peak <= 64 * 1024, "RSS peaked at {peak} KiB");
}
