//! How many requests a verification costs against the real registry (distribution 2.8 with TLS
//! and basic auth), counted by the client: a digest-pinned image with one legacy signature must
//! take at most 3 API requests once authenticated, and credentials are negotiated once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{run, unique, workdir, Peers};
use sigward_engine::{Engine, VerifyOptions};
use sigward_oci::client::{ClientConfig, RegistryClient};
use sigward_oci::credentials::CredentialSource;
use sigward_oci::ImageReference;
use sigward_verify::PublicKey;

#[test]
fn digest_pinned_verification_takes_at_most_three_requests() {
    let Some(p) = Peers::get("digest_pinned_verification_takes_at_most_three_requests") else {
        return;
    };
    let dir = workdir("round-trips");
    let (image, digest) = p.push_image(&p.tls, &unique("rt/app"), "v1", &dir);
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", "pw")
        .args(["sign", "--tlog-upload=false", "--key"])
        .arg(&key)
        .args(p.registry_flags(&p.tls))
        .arg(&image));
    let public = PublicKey::parse(&std::fs::read(&public).unwrap()).unwrap();

    let client = RegistryClient::new(ClientConfig {
        credentials: CredentialSource {
            explicit: Some((p.user.clone(), p.password.clone())),
            ..Default::default()
        },
        extra_ca_pem: vec![std::fs::read(&p.ca).unwrap()],
        ..Default::default()
    })
    .unwrap();
    let engine = Engine::new(client.clone());
    let options = VerifyOptions {
        keys: vec![public],
        ..Default::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let repo = image.rsplit_once(':').unwrap().0;
    let pinned = ImageReference::parse(&format!("{repo}@{digest}")).unwrap();

    let v = rt.block_on(engine.verify_image(&pinned, &options)).unwrap();
    assert_eq!(v.digest.to_string(), digest);
    let first_api = client.stats().api_requests();
    let auth = client.stats().auth_requests();
    // The .sig manifest and its one payload blob.
    assert!(
        first_api <= 3,
        "{first_api} API requests for a digest-pinned image"
    );
    assert_eq!(
        first_api, 2,
        "sigward needs the .sig manifest and the payload only"
    );
    assert_eq!(auth, 1, "one /v2/ ping; basic credentials need no token");

    // Again on the same client: the same cost, and no new authentication.
    rt.block_on(engine.verify_image(&pinned, &options)).unwrap();
    assert_eq!(client.stats().api_requests() - first_api, 2);
    assert_eq!(client.stats().auth_requests(), auth);

    // By tag: one manifest request more, to learn the digest.
    let tagged = ImageReference::parse(&image).unwrap();
    let before = client.stats().api_requests();
    rt.block_on(engine.verify_image(&tagged, &options)).unwrap();
    assert_eq!(client.stats().api_requests() - before, 3);
}

#[test]
fn docker_config_credentials_are_used() {
    let Some(p) = Peers::get("docker_config_credentials_are_used") else {
        return;
    };
    let config_dir = p.docker_config.clone();
    let dir = workdir("docker-config");
    let (image, _) = p.push_image(&p.tls, &unique("rt/config"), "v1", &dir);
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    let ca = p.ca.display().to_string();
    // No --registry-username: the credentials come from DOCKER_CONFIG/config.json.
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", "pw")
        .env("DOCKER_CONFIG", &config_dir)
        .args([
            "sign",
            "--tlog-upload=false",
            "--registry-cacert",
            &ca,
            "--key",
        ])
        .arg(&key)
        .arg(&image));
    run(p
        .sigward()
        .env("DOCKER_CONFIG", &config_dir)
        .args([
            "verify",
            "--insecure-ignore-tlog",
            "--registry-cacert",
            &ca,
            "--key",
        ])
        .arg(&public)
        .arg(&image));
    // Without credentials the registry's refusal is reported as such.
    let err = common::run_fails(
        p.sigward()
            .args([
                "verify",
                "--insecure-ignore-tlog",
                "--registry-cacert",
                &ca,
                "--key",
            ])
            .arg(&public)
            .arg(&image),
    );
    assert!(
        err.contains("denied access") || err.contains("401"),
        "{err}"
    );
}
