//! sigward against the real tools on real registries: cosign 2.5 and skopeo 1.18 (the
//! containers/image engine of CRI-O) sign and verify what sigward verifies and signs, on
//! distribution 2.8 with TLS + basic auth, and on ferro-oci-server with the referrers API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, run_fails, unique, workdir, Peers};
use serde_json::Value;

const PASSWORD: &str = "interop-pw";

macro_rules! peers {
    ($name:expr) => {
        match Peers::get($name) {
            Some(p) => p,
            None => return,
        }
    };
}

/// Generates a key pair with sigward: (private, public).
fn sigward_keys(p: &Peers, dir: &Path) -> (String, String) {
    let prefix = dir.join("sigward");
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix));
    (
        format!("{}.key", prefix.display()),
        format!("{}.pub", prefix.display()),
    )
}

/// Generates a key pair with cosign: (private, public).
fn cosign_keys(p: &Peers, dir: &Path) -> (String, String) {
    run(p
        .cosign()
        .current_dir(dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["generate-key-pair", "--output-key-prefix", "cosign"]));
    (
        dir.join("cosign.key").display().to_string(),
        dir.join("cosign.pub").display().to_string(),
    )
}

fn sigward_sign(p: &Peers, registry: &str, key: &str, image: &str, extra: &[&str]) {
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "--tlog-upload=false", "--key", key])
        .args(p.registry_flags(registry))
        .args(extra)
        .arg(image));
}

fn sigward_verify(p: &Peers, registry: &str, public: &str, image: &str, extra: &[&str]) -> Command {
    let mut cmd = p.sigward();
    cmd.args(["verify", "--insecure-ignore-tlog", "--key", public])
        .args(p.registry_flags(registry))
        .args(extra)
        .arg(image);
    cmd
}

fn verified_json(cmd: &mut Command) -> Vec<Value> {
    let out = run(cmd);
    let v: Value = serde_json::from_slice(&out.stdout).expect("verify prints JSON");
    v.as_array().expect("a JSON array").clone()
}

fn cosign_sign(p: &Peers, registry: &str, key: &str, image: &str, extra: &[&str]) {
    run(p
        .cosign()
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["sign", "-y", "--tlog-upload=false", "--key", key])
        .args(
            p.registry_flags(registry)
                .into_iter()
                .filter(|f| f != "--allow-http-registry"),
        )
        .args(extra)
        .arg(image));
}

fn cosign_verify(p: &Peers, registry: &str, public: &str, image: &str) -> Command {
    let mut cmd = p.cosign();
    cmd.args(["verify", "--insecure-ignore-tlog", "--key", public])
        .args(
            p.registry_flags(registry)
                .into_iter()
                .filter(|f| f != "--allow-http-registry"),
        )
        .arg(image);
    cmd
}

fn skopeo_policy(dir: &Path, registry: &str, public: &str, identity: &str) -> std::path::PathBuf {
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {registry: [{
            "type": "sigstoreSigned", "keyPath": public, "signedIdentity": {"type": identity}
        }]}}
    });
    let path = dir.join(format!("policy-{identity}.json"));
    std::fs::write(&path, policy.to_string()).unwrap();
    path
}

/// skopeo pulls `image` under a sigstoreSigned policy; Ok(()) when accepted.
fn skopeo_pull(
    p: &Peers,
    dir: &Path,
    registry: &str,
    policy: &Path,
    image: &str,
) -> Result<(), String> {
    let mut cmd = p.skopeo(policy);
    cmd.arg("copy").arg("--remove-signatures");
    p.skopeo_src_flags(registry, &mut cmd);
    cmd.arg(format!("docker://{image}"))
        .arg(format!("oci:{}:pulled", dir.join(unique("pull")).display()));
    let out = cmd.output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).to_string())
    }
}

fn pinned(image: &str, digest: &str) -> String {
    let repo = image.rsplit_once(':').map(|(r, _)| r).unwrap_or(image);
    format!("{repo}@{digest}")
}

#[test]
fn cosign_signs_sigward_verifies() {
    let p = peers!("cosign_signs_sigward_verifies");
    let dir = workdir("cosign-sigward");
    let (image, digest) = p.push_image(&p.tls, &unique("interop/cosign-signed"), "v1", &dir);
    let (key, public) = cosign_keys(&p, &dir);
    cosign_sign(
        &p,
        &p.tls,
        &key,
        &pinned(&image, &digest),
        &["-a", "team=payments"],
    );

    // By tag and by digest; with the annotation required.
    for reference in [image.clone(), pinned(&image, &digest)] {
        let sigs = verified_json(&mut sigward_verify(
            &p,
            &p.tls,
            &public,
            &reference,
            &["-a", "team=payments"],
        ));
        assert_eq!(sigs.len(), 1, "{sigs:?}");
        assert_eq!(
            sigs[0]["critical"]["image"]["docker-manifest-digest"],
            digest.as_str()
        );
        assert_eq!(
            sigs[0]["critical"]["type"],
            "cosign container image signature"
        );
        assert_eq!(sigs[0]["optional"]["team"], "payments");
        assert_eq!(sigs[0]["signer"]["kind"], "public_key");
        assert_eq!(sigs[0]["location"]["kind"], "tag");
    }
    // A required annotation the signature lacks is its own failure.
    let err = run_fails(&mut sigward_verify(
        &p,
        &p.tls,
        &public,
        &image,
        &["-a", "team=billing"],
    ));
    assert!(err.contains("annotation") && err.contains("team"), "{err}");
}

#[test]
fn sigward_signs_cosign_and_skopeo_verify() {
    let p = peers!("sigward_signs_cosign_and_skopeo_verify");
    let dir = workdir("sigward-cosign");
    let (image, digest) = p.push_image(&p.tls, &unique("interop/sigward-signed"), "v1", &dir);
    let (key, public) = sigward_keys(&p, &dir);
    sigward_sign(&p, &p.tls, &key, &image, &["-a", "build=42"]);

    let out = run(&mut cosign_verify(&p, &p.tls, &public, &image));
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(sigs[0]["optional"]["build"], "42");

    // containers/image (CRI-O's engine), with the strictest identity rule it has for tags.
    let policy = skopeo_policy(&dir, &p.tls, &public, "matchRepoDigestOrExact");
    skopeo_pull(&p, &dir, &p.tls, &policy, &image)
        .expect("skopeo accepts sigward's signature by tag");
    skopeo_pull(&p, &dir, &p.tls, &policy, &pinned(&image, &digest)).expect("and by digest");
    let repo_policy = skopeo_policy(&dir, &p.tls, &public, "matchRepository");
    skopeo_pull(&p, &dir, &p.tls, &repo_policy, &image).expect("skopeo matchRepository");

    // And skopeo refuses it under another key: the check is real.
    let (_, other_public) = cosign_keys(&p, &dir);
    let other = skopeo_policy(&dir, &p.tls, &other_public, "matchRepository");
    let err = skopeo_pull(&p, &dir, &p.tls, &other, &image).unwrap_err();
    assert!(err.contains("signature"), "{err}");
}

#[test]
fn skopeo_signs_sigward_verifies() {
    let p = peers!("skopeo_signs_sigward_verifies");
    let dir = workdir("skopeo-sigward");
    let repo = unique("interop/skopeo-signed");
    let (key, public) = cosign_keys(&p, &dir);
    let layout = dir.join("layout");
    let digest =
        String::from_utf8(run(Command::new(&p.mkoci).arg(&layout).arg("v1").arg(&repo)).stdout)
            .unwrap();
    let digest = digest.trim();
    std::fs::write(dir.join("pw"), PASSWORD).unwrap();
    let image = format!("{}/{repo}:v1", p.tls);
    let mut cmd = p.skopeo(&p.skopeo_policy);
    cmd.arg("copy");
    p.skopeo_dest_flags(&p.tls, &mut cmd);
    cmd.arg("--sign-by-sigstore-private-key")
        .arg(&key)
        .arg("--sign-passphrase-file")
        .arg(dir.join("pw"))
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{image}"));
    run(&mut cmd);

    let sigs = verified_json(&mut sigward_verify(&p, &p.tls, &public, &image, &[]));
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest
    );
    assert_eq!(
        sigs[0]["critical"]["identity"]["docker-reference"],
        image.as_str()
    );
    assert!(sigs[0]["optional"]["creator"]
        .as_str()
        .unwrap()
        .starts_with("containers/image"));
}

#[test]
fn sigward_signs_with_cosign_and_skopeo_generated_keys() {
    let p = peers!("sigward_signs_with_cosign_and_skopeo_generated_keys");
    let dir = workdir("foreign-keys");
    let (image, _) = p.push_image(&p.tls, &unique("interop/foreign-key"), "v1", &dir);
    let (key, public) = cosign_keys(&p, &dir);
    sigward_sign(&p, &p.tls, &key, &image, &[]);
    run(&mut cosign_verify(&p, &p.tls, &public, &image));

    std::fs::write(dir.join("pw"), PASSWORD).unwrap();
    run(Command::new(&p.skopeo).current_dir(&dir).args([
        "generate-sigstore-key",
        "--output-prefix",
        "skopeo",
        "--passphrase-file",
        "pw",
    ]));
    let skopeo_key = dir.join("skopeo.private").display().to_string();
    let skopeo_pub = dir.join("skopeo.pub").display().to_string();
    sigward_sign(&p, &p.tls, &skopeo_key, &image, &[]);
    run(&mut cosign_verify(&p, &p.tls, &skopeo_pub, &image));
    // Both signatures now sit side by side on the one .sig manifest.
    let sigs = verified_json(&mut sigward_verify(&p, &p.tls, &skopeo_pub, &image, &[]));
    assert_eq!(sigs.len(), 1);
}

#[test]
fn signing_twice_adds_no_duplicate_and_other_keys_append() {
    let p = peers!("signing_twice_adds_no_duplicate_and_other_keys_append");
    let dir = workdir("dedupe");
    let (image, digest) = p.push_image(&p.http, &unique("interop/dedupe"), "v1", &dir);
    let (key, public) = sigward_keys(&p, &dir);
    sigward_sign(&p, &p.http, &key, &image, &[]);
    sigward_sign(&p, &p.http, &key, &image, &[]);
    let (cosign_key, _) = cosign_keys(&p, &dir);
    cosign_sign(&p, &p.http, &cosign_key, &pinned(&image, &digest), &[]);
    let repo = image.split_once('/').unwrap().1.rsplit_once(':').unwrap().0;
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    let url = format!("http://{}/v2/{repo}/manifests/{tag}", p.http);
    let body = run(Command::new("curl").args([
        "-fsS",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &url,
    ]))
    .stdout;
    let manifest: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        2,
        "{manifest}"
    );
    verified_json(&mut sigward_verify(&p, &p.http, &public, &image, &[]));
}

#[test]
fn referrers_mode_signature_on_a_registry_with_the_referrers_api() {
    let p = peers!("referrers_mode_signature_on_a_registry_with_the_referrers_api");
    let dir = workdir("referrers");
    let (image, digest) = p.push_image(&p.ferro, &unique("interop/referrers"), "v1", &dir);
    let (key, public) = cosign_keys(&p, &dir);
    run(p
        .cosign()
        .env("COSIGN_PASSWORD", PASSWORD)
        .env("COSIGN_EXPERIMENTAL", "1")
        .args([
            "sign",
            "-y",
            "--tlog-upload=false",
            "--registry-referrers-mode=oci-1-1",
            "--key",
            &key,
        ])
        .arg(pinned(&image, &digest)));
    let sigs = verified_json(&mut sigward_verify(&p, &p.ferro, &public, &image, &[]));
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0]["location"]["kind"], "referrer", "{sigs:?}");
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
}

#[test]
fn recursive_signing_covers_every_platform_manifest() {
    let p = peers!("recursive_signing_covers_every_platform_manifest");
    let dir = workdir("recursive");
    let repo = unique("interop/multiarch");
    let (_, amd) = p.push_image(&p.http, &repo, "amd64", &dir);
    let (_, arm) = p.push_image(&p.http, &repo, "arm64", &dir);
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": manifest_size(&p, &repo, &amd), "platform": {"architecture": "amd64", "os": "linux"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": manifest_size(&p, &repo, &arm), "platform": {"architecture": "arm64", "os": "linux"}}
        ]
    });
    let url = format!("http://{}/v2/{repo}/manifests/multi", p.http);
    run(Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
        ])
        .arg(index.to_string())
        .arg(&url));
    let (key, public) = sigward_keys(&p, &dir);
    let image = format!("{}/{repo}:multi", p.http);
    sigward_sign(&p, &p.http, &key, &image, &["--recursive"]);
    for child in [&amd, &arm] {
        let sigs = verified_json(&mut sigward_verify(
            &p,
            &p.http,
            &public,
            &format!("{}/{repo}@{child}", p.http),
            &[],
        ));
        assert_eq!(
            sigs[0]["critical"]["image"]["docker-manifest-digest"],
            child.as_str()
        );
    }
    verified_json(&mut sigward_verify(&p, &p.http, &public, &image, &[]));
}

fn manifest_size(p: &Peers, repo: &str, digest: &str) -> usize {
    let url = format!("http://{}/v2/{repo}/manifests/{digest}", p.http);
    run(Command::new("curl").args([
        "-fsS",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        &url,
    ]))
    .stdout
    .len()
}

/// cosign signs with an Ed25519 key (openssl-made, imported with `cosign import-key-pair`):
/// sigward verifies it, and cosign verifies what sigward signs with the same key file.
#[test]
fn cosign_imported_ed25519_key() {
    let p = peers!("cosign_imported_ed25519_key");
    let dir = workdir("ed25519");
    let (image, digest) = p.push_image(&p.http, &unique("interop/ed25519"), "v1", &dir);
    let pem = dir.join("ed25519.pem");
    run(Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&pem));
    run(p
        .cosign()
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", PASSWORD)
        .args(["import-key-pair", "--key"])
        .arg(&pem)
        .args(["--output-key-prefix", "imported"]));
    let key = dir.join("imported.key").display().to_string();
    let public = dir.join("imported.pub").display().to_string();
    cosign_sign(&p, &p.http, &key, &pinned(&image, &digest), &[]);
    let sigs = verified_json(&mut sigward_verify(&p, &p.http, &public, &image, &[]));
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    // sigward signing with the cosign-imported Ed25519 key is accepted by cosign.
    let (image2, _) = p.push_image(&p.http, &unique("interop/ed25519-2"), "v1", &dir);
    sigward_sign(&p, &p.http, &key, &image2, &[]);
    run(&mut cosign_verify(&p, &p.http, &public, &image2));
}

/// P-384 and P-521 keys (openssl-made PKCS#8, no password): cosign and skopeo hash with SHA-256
/// on every curve, and must accept what sigward signs; signing by digest writes `name@digest`,
/// which containers/image's matchRepoDigestOrExact accepts for a pull by digest.
#[test]
fn p384_p521_keys_and_digest_signing_interoperate() {
    let p = peers!("p384_p521_keys_and_digest_signing_interoperate");
    let dir = workdir("curves");
    for curve in ["P-384", "P-521"] {
        let (image, digest) = p.push_image(&p.tls, &unique("interop/curve"), "v1", &dir);
        let key = dir.join(format!("{curve}.pem"));
        let public = dir.join(format!("{curve}.pub"));
        run(Command::new("openssl")
            .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
            .arg(format!("ec_paramgen_curve:{curve}"))
            .arg("-out")
            .arg(&key));
        run(Command::new("openssl")
            .arg("pkey")
            .arg("-in")
            .arg(&key)
            .arg("-pubout")
            .arg("-out")
            .arg(&public));
        let (key, public) = (key.display().to_string(), public.display().to_string());
        let by_digest = pinned(&image, &digest);
        // No COSIGN_PASSWORD and no terminal: an unencrypted key needs no password.
        run(p
            .sigward()
            .args(["sign", "--tlog-upload=false", "--key", &key])
            .args(p.registry_flags(&p.tls))
            .arg(&by_digest));
        let out = run(&mut cosign_verify(&p, &p.tls, &public, &by_digest));
        let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            sigs[0]["critical"]["identity"]["docker-reference"],
            by_digest.as_str(),
            "{curve}"
        );
        let policy = skopeo_policy(&dir, &p.tls, &public, "matchRepoDigestOrExact");
        skopeo_pull(&p, &dir, &p.tls, &policy, &by_digest)
            .unwrap_or_else(|e| panic!("{curve}: {e}"));
        verified_json(&mut sigward_verify(&p, &p.tls, &public, &by_digest, &[]));
    }
}

/// An index listing more manifests than sigward follows is refused by `sign --recursive`
/// before anything is signed.
#[test]
fn recursive_signing_refuses_huge_indexes() {
    let p = peers!("recursive_signing_refuses_huge_indexes");
    let dir = workdir("huge-index");
    let repo = unique("interop/huge-index");
    let (_, child) = p.push_image(&p.http, &repo, "child", &dir);
    let size = manifest_size(&p, &repo, &child);
    let entry = serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child, "size": size});
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": vec![entry; sigward_limits::MAX_INDEX_MANIFESTS + 1],
    });
    let url = format!("http://{}/v2/{repo}/manifests/huge", p.http);
    run(Command::new("curl")
        .args([
            "-fsS",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/vnd.oci.image.index.v1+json",
            "--data-binary",
        ])
        .arg(index.to_string())
        .arg(&url));
    let (key, _) = sigward_keys(&p, &dir);
    let err = run_fails(
        p.sigward()
            .env("COSIGN_PASSWORD", PASSWORD)
            .args([
                "sign",
                "--tlog-upload=false",
                "--recursive",
                "--allow-http-registry",
                "--key",
                &key,
            ])
            .arg(format!("{}/{repo}:huge", p.http)),
    );
    assert!(err.contains("more than the limit of 256"), "{err}");
    // Nothing was signed: the index has no .sig tag.
    let tags =
        run(Command::new("curl").args(["-fsS", &format!("http://{}/v2/{repo}/tags/list", p.http)]))
            .stdout;
    assert!(
        !String::from_utf8_lossy(&tags).contains(".sig"),
        "{}",
        String::from_utf8_lossy(&tags)
    );
}
