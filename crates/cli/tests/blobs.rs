//! `sign-blob` / `verify-blob` with cosign's flags and formats, against cosign 2.5 and the local
//! Rekor: both bundle formats in both directions, detached signatures, and refusals.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{run, run_fails, unique, workdir, Keyless, Peers};

macro_rules! peers {
    ($name:expr) => {
        match (Peers::get($name), Keyless::get($name)) {
            (Some(p), Some(k)) => (p, k),
            _ => return,
        }
    };
}

fn blob(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("artifact.bin");
    std::fs::write(&path, format!("release artifact {}", unique("blob"))).unwrap();
    path
}

#[test]
fn sigward_sign_blob_bundles_verify_with_cosign_and_sigward() {
    let (p, k) = peers!("sigward_sign_blob_bundles_verify_with_cosign_and_sigward");
    let dir = workdir("sign-blob");
    let file = blob(&dir);
    let (key, public) = p.sigward_key_pair(&dir, "pw");
    for (new_format, name) in [(false, "legacy.json"), (true, "sigstore.json")] {
        let bundle = dir.join(name);
        let mut cmd = p.sigward();
        cmd.env("COSIGN_PASSWORD", "pw")
            .args([
                "sign-blob",
                "--key",
                &key,
                "--rekor-url",
                &k.sigstore_url,
                "--trusted-root",
            ])
            .arg(&k.trusted_root)
            .arg("--bundle")
            .arg(&bundle);
        if new_format {
            cmd.arg("--new-bundle-format");
        }
        let out = run(cmd.arg(&file));
        assert!(
            !String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "prints the signature"
        );
        // cosign reads both formats.
        let mut cosign = p.cosign();
        k.cosign_env(&mut cosign);
        cosign
            .args(["verify-blob", "--key", &public, "--bundle"])
            .arg(&bundle);
        if new_format {
            cosign
                .args(["--new-bundle-format", "--trusted-root"])
                .arg(&k.trusted_root);
        }
        run(cosign.arg(&file));
        // So does sigward.
        run(p
            .sigward()
            .args(["verify-blob", "--key", &public, "--trusted-root"])
            .arg(&k.trusted_root)
            .arg("--bundle")
            .arg(&bundle)
            .arg(&file));
        // Another file does not verify with it.
        let other = dir.join("other.bin");
        std::fs::write(&other, "something else").unwrap();
        run_fails(
            p.sigward()
                .args(["verify-blob", "--key", &public, "--trusted-root"])
                .arg(&k.trusted_root)
                .arg("--bundle")
                .arg(&bundle)
                .arg(&other),
        );
    }
}

#[test]
fn cosign_sign_blob_bundle_verifies_with_sigward() {
    let (p, k) = peers!("cosign_sign_blob_bundle_verifies_with_sigward");
    let dir = workdir("cosign-blob");
    let file = blob(&dir);
    run(p
        .cosign()
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "pw")
        .arg("generate-key-pair"));
    let bundle = dir.join("cosign.bundle");
    let mut cosign = p.cosign();
    k.cosign_env(&mut cosign);
    run(cosign
        .current_dir(&dir)
        .env("COSIGN_PASSWORD", "pw")
        .args([
            "sign-blob",
            "-y",
            "--key",
            "cosign.key",
            "--rekor-url",
            &k.sigstore_url,
            "--bundle",
        ])
        .arg(&bundle)
        .arg(&file));
    let public = dir.join("cosign.pub").display().to_string();
    run(p
        .sigward()
        .args(["verify-blob", "--key", &public, "--trusted-root"])
        .arg(&k.trusted_root)
        .arg("--bundle")
        .arg(&bundle)
        .arg(&file));
    // The public-good root does not know the local log.
    let err = run_fails(
        p.sigward()
            .args(["verify-blob", "--key", &public, "--bundle"])
            .arg(&bundle)
            .arg(&file),
    );
    assert!(err.contains("SET") || err.contains("log"), "{err}");
}

#[test]
fn detached_signatures_need_the_insecure_flag() {
    let Some(p) = Peers::get("detached_signatures_need_the_insecure_flag") else {
        return;
    };
    let dir = workdir("detached");
    let file = blob(&dir);
    let prefix = dir.join("k");
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", "pw")
        .args(["generate-key-pair", "--output-key-prefix"])
        .arg(&prefix));
    let sig = dir.join("artifact.sig");
    run(p
        .sigward()
        .env("COSIGN_PASSWORD", "pw")
        .args(["sign-blob", "--tlog-upload=false", "--key"])
        .arg(prefix.with_extension("key"))
        .arg("--output-signature")
        .arg(&sig)
        .arg(&file));
    let public = prefix.with_extension("pub");
    let verify = |extra: &[&str]| {
        let mut cmd = p.sigward();
        cmd.arg("verify-blob")
            .arg("--key")
            .arg(&public)
            .arg("--signature")
            .arg(&sig)
            .args(extra)
            .arg(&file);
        cmd
    };
    let err = run_fails(&mut verify(&[]));
    assert!(err.contains("--insecure-ignore-tlog"), "{err}");
    run(&mut verify(&["--insecure-ignore-tlog"]));
    // cosign agrees on the detached signature.
    run(p
        .cosign()
        .args(["verify-blob", "--insecure-ignore-tlog", "--key"])
        .arg(&public)
        .arg("--signature")
        .arg(&sig)
        .arg(&file));
}
