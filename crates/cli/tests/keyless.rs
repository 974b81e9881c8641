//! Keyless and transparency-log verification against the real clients and a local Sigstore
//! instance (Fulcio + Rekor + TSA from @sigstore/mock, an OIDC provider): cosign 2.5 keyless and
//! key + Rekor image signatures, sigstore-python bundles; and every way such evidence can be
//! wrong: identity, issuer, log key absent from the trusted root, tampered SET and certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{run, run_fails, unique, workdir, Keyless, Peers};
use serde_json::Value;
use sigward_oci::manifest::OCI_MANIFEST;
use sigward_oci::signatures::{signature_config, signature_tag};
use sigward_oci::{Digest, ImageReference};

macro_rules! peers {
    ($name:expr) => {
        match (Peers::get($name), Keyless::get($name)) {
            (Some(p), Some(k)) => (p, k),
            _ => return,
        }
    };
}

/// An image on the plain-HTTP registry, signed keyless by cosign; returns (image, digest).
fn cosign_keyless(p: &Peers, k: &Keyless, name: &str) -> (String, String) {
    k.cosign_signed_image(p, &format!("keyless/{name}"), &[])
}

/// Like [`cosign_keyless`], with extra `cosign sign` arguments.
fn cosign_keyless_with(p: &Peers, k: &Keyless, name: &str, extra: &[&str]) -> (String, String) {
    k.cosign_signed_image(p, &format!("keyless/{name}"), extra)
}

/// `sigward verify --key PUBLIC --trusted-root <local instance>` on `image`, which must pass.
fn verify_with_key_and_root(
    p: &Peers,
    k: &Keyless,
    public: &str,
    image: &str,
) -> std::process::Output {
    run(p
        .sigward()
        .args([
            "verify",
            "--allow-http-registry",
            "--key",
            public,
            "--trusted-root",
        ])
        .arg(&k.trusted_root)
        .arg(image))
}

fn verify_keyless(p: &Peers, k: &Keyless, image: &str, identity: &[&str]) -> Command {
    let mut cmd = p.sigward();
    cmd.args(["verify", "--allow-http-registry", "--trusted-root"])
        .arg(&k.trusted_root)
        .args(identity)
        .arg(image);
    cmd
}

#[test]
fn cosign_keyless_signature_verifies_with_identity_and_issuer() {
    let (p, k) = peers!("cosign_keyless_signature_verifies_with_identity_and_issuer");
    let (image, digest) = cosign_keyless(&p, &k, "happy");
    let out = run(&mut verify_keyless(
        &p,
        &k,
        &image,
        &[
            "--certificate-identity",
            &k.subject,
            "--certificate-oidc-issuer",
            &k.issuer,
        ],
    ));
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(sigs[0]["signer"]["kind"], "certificate");
    assert_eq!(sigs[0]["signer"]["identity"], k.subject.as_str());
    assert_eq!(sigs[0]["signer"]["issuer"], k.issuer.as_str());
    assert!(sigs[0]["tlog"]["log_index"].is_i64(), "{sigs}");
    // Regexps, unanchored like cosign's.
    run(&mut verify_keyless(
        &p,
        &k,
        &image,
        &[
            "--certificate-identity-regexp",
            "@example\\.com$",
            "--certificate-oidc-issuer-regexp",
            "^http://localhost:",
        ],
    ));
}

#[test]
fn wrong_identity_or_issuer_is_refused() {
    let (p, k) = peers!("wrong_identity_or_issuer_is_refused");
    let (image, _) = cosign_keyless(&p, &k, "wrong-identity");
    let err = run_fails(&mut verify_keyless(
        &p,
        &k,
        &image,
        &[
            "--certificate-identity",
            "mallory@example.com",
            "--certificate-oidc-issuer",
            &k.issuer,
        ],
    ));
    assert!(
        err.contains(
            "certificate identity sigward-test@example.com does not match \"mallory@example.com\""
        ),
        "{err}"
    );
    let err = run_fails(&mut verify_keyless(
        &p,
        &k,
        &image,
        &[
            "--certificate-identity",
            &k.subject,
            "--certificate-oidc-issuer",
            "https://accounts.google.com",
        ],
    ));
    assert!(
        err.contains("OIDC issuer") && err.contains("https://accounts.google.com"),
        "{err}"
    );
    let err = run_fails(&mut verify_keyless(
        &p,
        &k,
        &image,
        &[
            "--certificate-identity-regexp",
            "^mallory",
            "--certificate-oidc-issuer",
            &k.issuer,
        ],
    ));
    assert!(err.contains("/^mallory/"), "{err}");
}

#[test]
fn production_root_does_not_trust_a_private_instance() {
    let (p, k) = peers!("production_root_does_not_trust_a_private_instance");
    let (image, _) = cosign_keyless(&p, &k, "wrong-root");
    let err = run_fails(
        p.sigward()
            .args([
                "verify",
                "--allow-http-registry",
                "--certificate-identity",
                &k.subject,
            ])
            .args(["--certificate-oidc-issuer", &k.issuer, &image]),
    );
    assert!(err.contains("none of 1 signature"), "{err}");
}

#[test]
fn cosign_key_signature_with_rekor_entry_verifies_without_the_insecure_flag() {
    let (p, k) = peers!("cosign_key_signature_with_rekor_entry_verifies_without_the_insecure_flag");
    let dir = workdir("key-rekor");
    let (image, digest) = p.push_image(&p.http, &unique("keyless/key-rekor"), "v1", &dir);
    run(p
        .cosign()
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "pw")
        .arg("generate-key-pair"));
    let mut cmd = p.cosign();
    k.cosign_env(&mut cmd);
    run(cmd
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "pw")
        .args([
            "sign",
            "-y",
            "--allow-http-registry",
            "--key",
            "cosign.key",
            "--tlog-upload=true",
        ])
        .args(["--rekor-url", &k.sigstore_url])
        .arg(format!("{}@{digest}", image.rsplit_once(':').unwrap().0)));
    let public = dir.join("cosign.pub").display().to_string();
    let out = verify_with_key_and_root(&p, &k, &public, &image);
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sigs[0]["signer"]["kind"], "public_key");
    assert!(sigs[0]["tlog"]["integrated_time"].is_i64(), "{sigs}");
    // Against the public-good root, the local log's key is unknown: refused.
    let err =
        run_fails(
            p.sigward()
                .args(["verify", "--allow-http-registry", "--key", &public, &image]),
        );
    assert!(err.contains("none of 1 signature"), "{err}");
}

/// Rewrites the `.sig` manifest of `image` with `edit` applied to each layer's annotations.
fn edit_annotations(image: &str, digest: &str, edit: impl Fn(&mut BTreeMap<String, String>)) {
    let repo = ImageReference::parse(image).unwrap();
    let digest = Digest::parse(digest).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = common::registry_client();
            let mut sig = c
                .signature_manifest(&repo, &digest)
                .await
                .unwrap()
                .unwrap()
                .manifest;
            for layer in &mut sig.layers {
                edit(&mut layer.annotations);
            }
            let config = signature_config(&sig.layers);
            sig.config.digest = c.push_blob(&repo, config.clone()).await.unwrap();
            sig.config.size = config.len() as u64;
            let bytes = serde_json::to_vec(&sig).unwrap();
            c.put_manifest(&repo, &signature_tag(&digest), bytes, OCI_MANIFEST)
                .await
                .unwrap();
        });
}

fn b64_flip(s: &str) -> String {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD;
    let mut raw = e.decode(s).unwrap();
    let at = raw.len() - 3;
    raw[at] ^= 1;
    e.encode(raw)
}

#[test]
fn tampered_set_certificate_or_entry_is_refused() {
    let (p, k) = peers!("tampered_set_certificate_or_entry_is_refused");
    let identity = [
        "--certificate-identity",
        k.subject.as_str(),
        "--certificate-oidc-issuer",
        k.issuer.as_str(),
    ];
    // Tampered SET.
    let (image, digest) = cosign_keyless(&p, &k, "tampered-set");
    edit_annotations(&image, &digest, |a| {
        let mut bundle: Value = serde_json::from_str(&a["dev.sigstore.cosign/bundle"]).unwrap();
        let set = bundle["SignedEntryTimestamp"].as_str().unwrap().to_string();
        bundle["SignedEntryTimestamp"] = Value::String(b64_flip(&set));
        a.insert("dev.sigstore.cosign/bundle".into(), bundle.to_string());
    });
    let err = run_fails(&mut verify_keyless(&p, &k, &image, &identity));
    assert!(err.contains("SET verification failed"), "{err}");

    // Another certificate than the one in the log entry (from another keyless signature).
    let (image2, digest2) = cosign_keyless(&p, &k, "tampered-cert");
    let (other, other_digest) = cosign_keyless(&p, &k, "cert-donor");
    let donor = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let c = common::registry_client();
            let repo = ImageReference::parse(&other).unwrap();
            let m = c
                .signature_manifest(&repo, &Digest::parse(&other_digest).unwrap())
                .await
                .unwrap()
                .unwrap();
            m.manifest.layers[0].annotations["dev.sigstore.cosign/certificate"].clone()
        });
    edit_annotations(&image2, &digest2, |a| {
        a.insert("dev.sigstore.cosign/certificate".into(), donor.clone());
    });
    let err = run_fails(&mut verify_keyless(&p, &k, &image2, &identity));
    assert!(err.contains("none of 1 signature"), "{err}");

    // No log entry at all.
    let (image3, digest3) = cosign_keyless(&p, &k, "no-entry");
    edit_annotations(&image3, &digest3, |a| {
        a.remove("dev.sigstore.cosign/bundle");
    });
    let err = run_fails(&mut verify_keyless(&p, &k, &image3, &identity));
    assert!(err.contains("no transparency-log entry"), "{err}");
}

#[test]
fn sigstore_python_bundle_verifies_with_verify_bundle() {
    let (_, k) = peers!("sigstore_python_bundle_verifies_with_verify_bundle");
    let dir = workdir("python");
    let blob = dir.join("blob.txt");
    std::fs::write(&blob, format!("signed by sigstore-python {}", unique("x"))).unwrap();
    let bundle = dir.join("blob.sigstore.json");
    let token = k.id_token(&k.subject);
    run(Command::new(&k.sigstore_python)
        .arg("--trust-config")
        .arg(&k.trust_config)
        .args(["sign", "--identity-token", &token, "--bundle"])
        .arg(&bundle)
        .arg(&blob));
    let verify = |identity: &str, subject: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigward"));
        cmd.arg("verify-bundle")
            .arg("--bundle")
            .arg(&bundle)
            .args([
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                &k.issuer,
            ])
            .arg("--trusted-root")
            .arg(&k.trusted_root)
            .arg(subject);
        cmd
    };
    run(&mut verify(&k.subject, &blob));
    let err = run_fails(&mut verify("mallory@example.com", &blob));
    assert!(err.contains("does not match"), "{err}");
    let other = dir.join("other.txt");
    std::fs::write(&other, "another file").unwrap();
    run_fails(&mut verify(&k.subject, &other));
}

/// An in-toto statement about `image@digest` with `predicate_type`, signed keyless by
/// sigstore-js (Fulcio + Rekor + TSA) and attached by @sigstore/oci as an OCI 1.1 referrer on
/// the authenticated plain-HTTP registry (distribution: the fallback tag, no referrers API).
fn sigstore_js_attach(
    k: &Keyless,
    repo: &str,
    digest: &str,
    predicate_type: &str,
    dir: &std::path::Path,
) {
    let statement = serde_json::json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": format!("{}/{repo}", k.http_auth_registry), "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicateType": predicate_type,
        "predicate": {"builder": {"id": "sigward-tests"}}
    });
    let name = unique("stmt");
    let stmt = dir.join(format!("{name}.json"));
    std::fs::write(&stmt, statement.to_string()).unwrap();
    let bundle = dir.join(format!("{name}.sigstore.json"));
    let token = k.id_token(&k.subject);
    run(Command::new(&k.sigstore_js)
        .env("CI", "true")
        .env("SIGSTORE_ID_TOKEN", &token)
        .arg("attest")
        .arg(&stmt)
        .args([
            "--fulcio-url",
            &k.sigstore_url,
            "--rekor-url",
            &k.sigstore_url,
            "--tsa-server-url",
            &k.sigstore_url,
        ])
        .arg("-o")
        .arg(&bundle));
    run(Command::new(&k.sigstore_js)
        .arg("attach")
        .arg("--attestation")
        .arg(&bundle)
        .args(["-u", "sigward", "-p", "sigward-test-pw"])
        .arg(format!("{}/{repo}@{digest}", k.http_auth_registry)));
}

fn auth_flags() -> [&'static str; 5] {
    [
        "--allow-http-registry",
        "--registry-username",
        "sigward",
        "--registry-password",
        "sigward-test-pw",
    ]
}

#[test]
fn sigstore_js_bundle_referrers_verify_as_signatures_and_attestations() {
    let (p, k) = peers!("sigstore_js_bundle_referrers_verify_as_signatures_and_attestations");
    let dir = workdir("js-attach");
    let repo = unique("bundles/js");
    let push = |tag: &str| {
        let layout = dir.join(format!("layout-{tag}"));
        let digest = String::from_utf8(
            run(Command::new(&p.mkoci)
                .arg(&layout)
                .arg(tag)
                .arg(unique(tag)))
            .stdout,
        )
        .unwrap();
        let mut cmd = Command::new(&p.skopeo);
        cmd.arg("--policy").arg(&p.skopeo_policy).arg("copy").args([
            "--dest-tls-verify=false",
            "--dest-creds",
            "sigward:sigward-test-pw",
        ]);
        cmd.arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{repo}:{tag}", k.http_auth_registry));
        run(&mut cmd);
        digest.trim().to_string()
    };
    let signed = push("signed");
    let attested = push("attested");
    sigstore_js_attach(
        &k,
        &repo,
        &signed,
        "https://sigstore.dev/cosign/sign/v1",
        &dir,
    );
    sigstore_js_attach(&k, &repo, &attested, "https://slsa.dev/provenance/v1", &dir);
    let identity = [
        "--certificate-identity",
        k.subject.as_str(),
        "--certificate-oidc-issuer",
        k.issuer.as_str(),
    ];
    let verify = |sub: &[&str], image: &str| {
        let mut cmd = p.sigward();
        cmd.args(sub)
            .args(auth_flags())
            .arg("--trusted-root")
            .arg(&k.trusted_root)
            .args(identity)
            .arg(image);
        cmd
    };
    // A signature bundle verifies as the image's signature.
    let out = run(&mut verify(
        &["verify"],
        &format!("{}/{repo}:signed", k.http_auth_registry),
    ));
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sigs[0]["location"]["kind"], "referrer", "{sigs}");
    assert_eq!(
        sigs[0]["bundle"]["predicate_type"],
        "https://sigstore.dev/cosign/sign/v1"
    );
    assert_eq!(sigs[0]["signer"]["identity"], k.subject.as_str());
    // A provenance attestation is not a signature...
    let err = run_fails(&mut verify(
        &["verify"],
        &format!("{}/{repo}:attested", k.http_auth_registry),
    ));
    assert!(err.contains("no signatures found"), "{err}");
    // ...but verifies as an attestation of its type, and not of another.
    let out = run(&mut verify(
        &["verify-attestation", "--type", "slsaprovenance1"],
        &format!("{}/{repo}:attested", k.http_auth_registry),
    ));
    let atts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        atts[0]["bundle"]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    run_fails(&mut verify(
        &["verify-attestation", "--type", "spdx"],
        &format!("{}/{repo}:attested", k.http_auth_registry),
    ));
    // The signature bundle does not vouch for the other image (the statement names a digest).
    let wrong = run_fails(&mut verify(
        &["verify"],
        &format!("{}/{repo}@{attested}", k.http_auth_registry),
    ));
    assert!(wrong.contains("no signatures found"), "{wrong}");
}

#[test]
fn cosign_new_bundle_format_attestation_on_a_referrers_registry() {
    let (p, k) = peers!("cosign_new_bundle_format_attestation_on_a_referrers_registry");
    let dir = workdir("cosign-attest");
    let (image, digest) = p.push_image(&p.ferro, &unique("bundles/cosign"), "v1", &dir);
    let predicate = dir.join("predicate.json");
    std::fs::write(&predicate, r#"{"buildDefinition":{"buildType":"https://example.com/build"},"runDetails":{"builder":{"id":"sigward-tests"}}}"#).unwrap();
    let token = k.id_token(&k.subject);
    let mut cmd = p.cosign();
    k.cosign_env(&mut cmd);
    run(cmd
        .args([
            "attest",
            "-y",
            "--allow-http-registry",
            "--new-bundle-format",
            "--type",
            "slsaprovenance1",
            "--predicate",
        ])
        .arg(&predicate)
        .args([
            "--fulcio-url",
            &k.sigstore_url,
            "--rekor-url",
            &k.sigstore_url,
            "--identity-token",
            &token,
        ])
        .arg(format!("{}@{digest}", image.rsplit_once(':').unwrap().0)));
    let out = run(p
        .sigward()
        .args([
            "verify-attestation",
            "--type",
            "slsaprovenance1",
            "--allow-http-registry",
            "--trusted-root",
        ])
        .arg(&k.trusted_root)
        .args([
            "--certificate-identity",
            &k.subject,
            "--certificate-oidc-issuer",
            &k.issuer,
        ])
        .arg(&image));
    let atts: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(atts[0]["location"]["kind"], "referrer", "{atts}");
    assert_eq!(
        atts[0]["bundle"]["predicate_type"],
        "https://slsa.dev/provenance/v1"
    );
    let err = run_fails(
        p.sigward()
            .args([
                "verify-attestation",
                "--type",
                "slsaprovenance1",
                "--allow-http-registry",
                "--trusted-root",
            ])
            .arg(&k.trusted_root)
            .args([
                "--certificate-identity",
                "mallory@example.com",
                "--certificate-oidc-issuer",
                &k.issuer,
            ])
            .arg(&image),
    );
    assert!(err.contains("does not match"), "{err}");
}

/// `sigward sign --key` logs the signature in Rekor (cosign's default) and stores the entry;
/// cosign verifies it against the log's key without --insecure-ignore-tlog, and so does
/// sigward. A log answer that does not verify against the given root stores nothing.
#[test]
fn sigward_key_signature_with_rekor_entry() {
    let (p, k) = peers!("sigward_key_signature_with_rekor_entry");
    let dir = workdir("sigward-rekor");
    let (image, digest) = p.push_image(&p.http, &unique("keyless/sigward-rekor"), "v1", &dir);
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", "pw")
        .args([
            "sign",
            "--allow-http-registry",
            "--key",
            &key,
            "--rekor-url",
            &k.sigstore_url,
            "--trusted-root",
        ])
        .arg(&k.trusted_root)
        .arg(&image));
    let mut cosign = p.cosign();
    k.cosign_env(&mut cosign);
    let out = run(cosign.args(["verify", "--allow-http-registry", "--key", &public, &image]));
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        sigs[0]["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    let out = verify_with_key_and_root(&p, &k, &public, &image);
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(sigs[0]["tlog"]["log_index"].is_i64(), "{sigs}");

    // The public-good root does not know the local log: the answer is refused, nothing stored.
    let (other, _) = p.push_image(
        &p.http,
        &unique("keyless/sigward-rekor-refused"),
        "v1",
        &dir,
    );
    let production = dir.join("production-root.json");
    std::fs::write(&production, sigward_verify::bundle::PRODUCTION_TRUSTED_ROOT).unwrap();
    let err = run_fails(
        p.sigward()
            .env("COSIGN_PASSWORD", "pw")
            .args(["sign", "--allow-http-registry", "--key", &key])
            .args(["--rekor-url", &k.sigstore_url, "--trusted-root"])
            .arg(&production)
            .arg(&other),
    );
    assert!(
        err.contains("transparency log's entry") && err.contains("does not verify"),
        "{err}"
    );
    let err = run_fails(p.sigward().args([
        "verify",
        "--allow-http-registry",
        "--insecure-ignore-tlog",
        "--key",
        &public,
        &other,
    ]));
    assert!(err.contains("no signatures found"), "{err}");
}

/// `sign --bundle-format`: a Sigstore bundle (message signature over the manifest, logged in
/// Rekor) attached as an OCI 1.1 referrer, through the referrers API (ferro) or the fallback
/// index (distribution). sigward verifies it, and cosign verifies the same bundle over the
/// manifest bytes with verify-blob.
#[test]
fn sign_with_bundle_format_attaches_referrers() {
    let (p, k) = peers!("sign_with_bundle_format_attaches_referrers");
    let dir = workdir("bundle-format");
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    for registry in [p.ferro.clone(), p.http.clone()] {
        let (image, digest) = p.push_image(&registry, &unique("bundles/sigward"), "v1", &dir);
        run(p
            .sigward()
            .env("COSIGN_PASSWORD", "pw")
            .args([
                "sign",
                "--bundle-format",
                "--allow-http-registry",
                "--key",
                &key,
            ])
            .args(["--rekor-url", &k.sigstore_url, "--trusted-root"])
            .arg(&k.trusted_root)
            .arg(&image));
        let out = verify_with_key_and_root(&p, &k, &public, &image);
        let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            sigs[0]["location"]["kind"], "referrer",
            "{registry}: {sigs}"
        );
        assert_eq!(sigs[0]["digest"], digest.as_str());
        // The same bundle, fetched from the registry, verified by cosign over the manifest.
        let (bundle, manifest) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let c = common::registry_client();
                let img = ImageReference::parse(&image).unwrap();
                let d = Digest::parse(&digest).unwrap();
                let evidence = c.referrer_evidence(&img, &d).await.unwrap();
                let manifest = c.get_manifest(&img, &digest).await.unwrap();
                (evidence.bundles[0].bundle.clone(), manifest.bytes)
            });
        let bundle_path = dir.join("fetched.sigstore.json");
        let manifest_path = dir.join("manifest.json");
        std::fs::write(&bundle_path, bundle).unwrap();
        std::fs::write(&manifest_path, manifest).unwrap();
        let mut cosign = p.cosign();
        k.cosign_env(&mut cosign);
        run(cosign
            .args([
                "verify-blob",
                "--new-bundle-format",
                "--key",
                &public,
                "--trusted-root",
            ])
            .arg(&k.trusted_root)
            .arg("--bundle")
            .arg(&bundle_path)
            .arg(&manifest_path));
    }
}

/// cosign keyless with an RFC 3161 timestamp from the local TSA: the timestamp annotation is
/// verified against the trusted root's TSA; a corrupted timestamp is refused.
#[test]
fn cosign_keyless_with_tsa_timestamp() {
    let (p, k) = peers!("cosign_keyless_with_tsa_timestamp");
    let tsa = format!("{}/api/v1/timestamp", k.sigstore_url);
    let (image, digest) = cosign_keyless_with(&p, &k, "tsa", &["--timestamp-server-url", &tsa]);
    let identity = [
        "--certificate-identity",
        k.subject.as_str(),
        "--certificate-oidc-issuer",
        k.issuer.as_str(),
    ];
    run(&mut verify_keyless(&p, &k, &image, &identity));
    edit_annotations(&image, &digest, |a| {
        let mut ts: Value =
            serde_json::from_str(&a["dev.sigstore.cosign/rfc3161timestamp"]).unwrap();
        let signed = ts["SignedRFC3161Timestamp"].as_str().unwrap().to_string();
        ts["SignedRFC3161Timestamp"] = Value::String(b64_flip(&signed));
        a.insert(
            "dev.sigstore.cosign/rfc3161timestamp".into(),
            ts.to_string(),
        );
    });
    let err = run_fails(&mut verify_keyless(&p, &k, &image, &identity));
    assert!(err.to_lowercase().contains("timestamp"), "{err}");
}

/// Signing again with the log after an unlogged signature adds the logged one (an unlogged
/// signature does not count as the same signature), and signing again with the log adds none.
#[test]
fn resigning_with_the_log_adds_a_logged_signature() {
    let (p, k) = peers!("resigning_with_the_log_adds_a_logged_signature");
    let dir = workdir("resign");
    let (image, _) = p.push_image(&p.http, &unique("keyless/resign"), "v1", &dir);
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    let sign = |extra: &[&str]| {
        let mut cmd = p.sigward();
        cmd.env("COSIGN_PASSWORD", "pw")
            .args([
                "sign",
                "--allow-http-registry",
                "--key",
                &key,
                "--rekor-url",
                &k.sigstore_url,
                "--trusted-root",
            ])
            .arg(&k.trusted_root)
            .args(extra)
            .arg(&image);
        run(&mut cmd)
    };
    sign(&["--tlog-upload=false"]);
    let verify = || {
        let mut cmd = p.sigward();
        cmd.args([
            "verify",
            "--allow-http-registry",
            "--key",
            &public,
            "--trusted-root",
        ])
        .arg(&k.trusted_root)
        .arg(&image);
        cmd
    };
    run_fails(&mut verify());
    sign(&[]);
    run(&mut verify());
    let again = sign(&[]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already signed"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}

/// Serves `dir` over HTTP on loopback until dropped.
struct StaticServer {
    child: std::process::Child,
    url: String,
}

impl StaticServer {
    fn start(dir: &std::path::Path) -> StaticServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        StaticServer { child, url }
    }
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The trusted root refreshed through TUF (a repository made with python-tuf, the TUF
/// reference implementation, serving the local instance's trusted_root.json): `trusted-root
/// update` verifies it into a cache, and `verify --tuf` then works offline from that cache; a
/// tampered repository or cache is refused.
#[test]
fn trusted_root_through_tuf() {
    let (p, k) = peers!("trusted_root_through_tuf");
    let dir = workdir("tuf");
    let repo = dir.join("repo");
    let python = k.sigstore_python.parent().unwrap().join("python");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/mk-tuf-repo.py");
    run(Command::new(&python)
        .arg(&script)
        .arg(&repo)
        .arg(&k.trusted_root));
    let root = repo.join("1.root.json");
    let cache = dir.join("cache");
    let (image, _) = cosign_keyless(&p, &k, "tuf");
    let tuf_flags = |url: &str| -> Vec<String> {
        vec![
            "--tuf-url".into(),
            url.into(),
            "--tuf-root".into(),
            root.display().to_string(),
            "--tuf-cache".into(),
            cache.display().to_string(),
        ]
    };
    let url = {
        let server = StaticServer::start(&repo);
        run(p
            .sigward()
            .args(["trusted-root", "update"])
            .args(tuf_flags(&server.url)));
        server.url.clone()
    };
    // The repository is gone: verification reads the verified cache, offline.
    let verify = || {
        let mut cmd = p.sigward();
        cmd.args(["verify", "--allow-http-registry", "--tuf"])
            .args(tuf_flags(&url))
            .args([
                "--certificate-identity",
                &k.subject,
                "--certificate-oidc-issuer",
                &k.issuer,
            ])
            .arg(&image);
        cmd
    };
    run(&mut verify());
    // A cache edited on disk is not trusted.
    let targets = cache.join("targets");
    for entry in std::fs::read_dir(&targets).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.push(b' ');
        std::fs::write(&path, bytes).unwrap();
    }
    let err = run_fails(&mut verify());
    assert!(err.contains("TUF cache"), "{err}");
    // A repository whose target was changed after signing is refused at update.
    for entry in std::fs::read_dir(repo.join("targets")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.push(b' ');
        std::fs::write(&path, bytes).unwrap();
    }
    let server = StaticServer::start(&repo);
    let fresh_cache = dir.join("cache2");
    let err = run_fails(
        p.sigward()
            .args([
                "trusted-root",
                "update",
                "--tuf-url",
                &server.url,
                "--tuf-root",
            ])
            .arg(&root)
            .arg("--tuf-cache")
            .arg(&fresh_cache),
    );
    assert!(err.contains("TUF update"), "{err}");
}
