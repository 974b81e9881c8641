//! The sigstore-conformance bundle-verification suite (70 cases, ../shared/vectors), run through
//! `sigward verify-bundle` exactly as the upstream harness drives a client: each case twice,
//! with the artifact's path and with its `sha256:<hex>` digest. Pass and fail cases are scored
//! separately, and every one of the 140 runs must give the expected outcome.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn suite_dir() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors/sigstore-conformance");
    if dir.join("CASES.tsv").exists() {
        return Some(dir);
    }
    let msg = format!(
        "sigstore-conformance vectors not found at {}",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn conformance_140_of_140() {
    let Some(dir) = suite_dir() else { return };
    let text = std::fs::read_to_string(dir.join("CASES.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (c_case, c_path, c_expected) = (col("case"), col("path"), col("expected"));
    let (c_identity, c_issuer, c_key, c_root, c_artifact) = (
        col("certificate_identity"),
        col("certificate_oidc_issuer"),
        col("key"),
        col("trusted_root"),
        col("artifact"),
    );
    let mut runs = 0;
    let mut wrong = Vec::new();
    let (mut pass_ok, mut pass_total, mut fail_ok, mut fail_total) = (0, 0, 0, 0);
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        let case = f[c_case];
        let expected_pass = match f[c_expected] {
            "pass" => true,
            "fail" => false,
            other => panic!("{case}: expected column {other:?}"),
        };
        let artifact = dir.join(f[c_artifact]);
        let digest = format!("sha256:{}", sha256_hex(&std::fs::read(&artifact).unwrap()));
        for subject in [artifact.display().to_string(), digest] {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigward"));
            cmd.arg("verify-bundle")
                .arg("--bundle")
                .arg(dir.join(f[c_path]).join("bundle.sigstore.json"));
            if f[c_key] != "-" {
                cmd.arg("--key").arg(dir.join(f[c_key]));
            } else {
                cmd.args([
                    "--certificate-identity",
                    f[c_identity],
                    "--certificate-oidc-issuer",
                    f[c_issuer],
                ]);
            }
            if !f[c_root].starts_with("PRODUCTION") {
                cmd.arg("--trusted-root").arg(dir.join(f[c_root]));
            }
            cmd.arg(&subject);
            let out = cmd.output().unwrap();
            let passed = out.status.success();
            runs += 1;
            if expected_pass {
                pass_total += 1;
            } else {
                fail_total += 1;
            }
            if passed == expected_pass {
                if expected_pass {
                    pass_ok += 1;
                } else {
                    fail_ok += 1;
                }
            } else {
                wrong.push(format!(
                    "{case} [{}]: expected {}, got {} ({})",
                    if subject.starts_with("sha256:") {
                        "DIGEST"
                    } else {
                        "PATH"
                    },
                    f[c_expected],
                    if passed { "pass" } else { "fail" },
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
        }
    }
    eprintln!(
        "sigstore-conformance: {}/{runs} (pass cases {pass_ok}/{pass_total}, fail cases {fail_ok}/{fail_total})",
        pass_ok + fail_ok
    );
    assert_eq!(runs, 140, "70 cases, each by path and by digest");
    assert!(
        wrong.is_empty(),
        "{} of {runs} wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// cosign's `--certificate-github-workflow-*` flags on a real public-good bundle (the
/// conformance suite's GitHub Actions certificate): the right values pass, each wrong one fails
/// naming the extension.
#[test]
fn github_workflow_claims() {
    let Some(dir) = suite_dir() else { return };
    let case = dir.join("test/assets/bundle-verify/happy-path-v0.3");
    let identity = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    let verify = |claims: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigward"));
        cmd.arg("verify-bundle")
            .arg("--bundle")
            .arg(case.join("bundle.sigstore.json"))
            .args(["--certificate-identity", identity])
            .args([
                "--certificate-oidc-issuer",
                "https://token.actions.githubusercontent.com",
            ]);
        for (flag, value) in claims {
            cmd.arg(format!("--certificate-github-workflow-{flag}"))
                .arg(value);
        }
        cmd.arg(dir.join("test/assets/bundle-verify/a.txt"));
        cmd.output().unwrap()
    };
    let right = [
        ("trigger", "workflow_dispatch"),
        ("sha", "c7b3dfb335f051e1c86bda4c716fac97df62ad81"),
        ("name", "Extremely dangerous OIDC beacon"),
        (
            "repository",
            "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
        ),
        ("ref", "refs/heads/main"),
    ];
    let out = verify(&right);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (flag, _) in right {
        let out = verify(&[(flag, "something-else")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "--certificate-github-workflow-{flag} with a wrong value passed"
        );
        assert!(
            err.contains(&format!("GitHub workflow {flag}")) && err.contains("something-else"),
            "{err}"
        );
    }
}
