//! Customer PKI (OpenShift's `PKI` root of trust, cosign's `--ca-roots`): an image signed with a
//! key whose certificate a customer CA issued (attached as cosign's `--certificate` does);
//! sigward verifies the chain to the given roots for code signing at the current time and the
//! certificate's email or hostname, and containers/image 5.34 (skopeo 1.18, CRI-O's engine)
//! accepts the same signature under its `pki` policy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{run, run_fails, unique, workdir, Peers};
use serde_json::Value;

fn openssl(dir: &Path, args: &[&str]) {
    run(Command::new("openssl").current_dir(dir).args(args));
}

/// root CA -> intermediate CA -> leaf (`name`), the leaf with `eku` and `san`.
fn issue_leaf(dir: &Path, name: &str, eku: &str, san: &str) {
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &format!("{name}.ec.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &format!("{name}.ec.pem"),
            "-out",
            &format!("{name}.key.pem"),
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            &format!("{name}.key.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={eku}\nsubjectAltName={san}\n"),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "int.pem",
            "-CAkey",
            "int.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "365",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

fn make_pki(dir: &Path) {
    ca(dir, "root");
    ca(dir, "other-root");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "int.key",
            "-out",
            "int.csr",
            "-subj",
            "/CN=intermediate",
        ],
    );
    std::fs::write(
        dir.join("int.ext"),
        "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "int.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-CAcreateserial",
            "-days",
            "90",
            "-extfile",
            "int.ext",
            "-out",
            "int.pem",
        ],
    );
    issue_leaf(
        dir,
        "builder",
        "codeSigning",
        "email:builder@example.com,DNS:builder.example.com",
    );
    issue_leaf(dir, "webserver", "serverAuth", "email:builder@example.com");
}

/// sigward signs `image` with the leaf `name`'s key, attaching its certificate and chain as
/// cosign's `--certificate`/`--certificate-chain` do.
fn sign_with_cert(p: &Peers, dir: &Path, name: &str, image: &str) {
    let chain = dir.join("chain.pem");
    let chain_pem = [
        std::fs::read(dir.join("int.pem")).unwrap(),
        std::fs::read(dir.join("root.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(&chain, chain_pem).unwrap();
    run(p
        .sigward()
        .current_dir(dir)
        .args([
            "sign",
            "--tlog-upload=false",
            "--allow-http-registry",
            "--key",
            &format!("{name}.key.pem"),
        ])
        .args([
            "--certificate",
            &format!("{name}.pem"),
            "--certificate-chain",
        ])
        .arg(&chain)
        .arg(image));
}

#[test]
fn customer_pki_signatures() {
    let Some(p) = Peers::get("customer_pki_signatures") else {
        return;
    };
    let dir = workdir("pki");
    make_pki(&dir);
    let (image, digest) = p.push_image(&p.http, &unique("pki/app"), "v1", &dir);
    let pinned = format!("{}@{digest}", image.rsplit_once(':').unwrap().0);
    sign_with_cert(&p, &dir, "builder", &pinned);
    let verify = |roots: &str, subject: &[&str], target: &str| {
        let mut cmd = p.sigward();
        cmd.args(["verify", "--allow-http-registry", "--ca-roots"])
            .arg(dir.join(roots))
            .arg("--ca-intermediates")
            .arg(dir.join("int.pem"))
            .args(subject)
            .arg(target);
        cmd
    };
    let out = run(&mut verify(
        "root.pem",
        &["--certificate-identity", "builder@example.com"],
        &image,
    ));
    let sigs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sigs[0]["signer"]["kind"], "pki", "{sigs}");
    assert_eq!(sigs[0]["signer"]["subject"], "builder@example.com");
    run(&mut verify(
        "root.pem",
        &["--certificate-hostname", "builder.example.com"],
        &image,
    ));

    let err = run_fails(&mut verify(
        "root.pem",
        &["--certificate-identity", "mallory@example.com"],
        &image,
    ));
    assert!(err.contains("mallory@example.com"), "{err}");
    let err = run_fails(&mut verify(
        "root.pem",
        &["--certificate-hostname", "evil.example.com"],
        &image,
    ));
    assert!(err.contains("evil.example.com"), "{err}");
    let err = run_fails(&mut verify(
        "other-root.pem",
        &["--certificate-identity", "builder@example.com"],
        &image,
    ));
    assert!(err.contains("does not chain to the CA roots"), "{err}");

    // A certificate for TLS servers, not code signing, is refused.
    let (image2, digest2) = p.push_image(&p.http, &unique("pki/server-cert"), "v1", &dir);
    sign_with_cert(
        &p,
        &dir,
        "webserver",
        &format!("{}@{digest2}", image2.rsplit_once(':').unwrap().0),
    );
    let err = run_fails(&mut verify(
        "root.pem",
        &["--certificate-identity", "builder@example.com"],
        &image2,
    ));
    assert!(
        err.contains("does not chain to the CA roots for code signing"),
        "{err}"
    );

    // containers/image (CRI-O's engine) agrees, with its own pki policy.
    let policy = serde_json::json!({
        "default": [{"type": "reject"}],
        "transports": {"docker": {p.http.as_str(): [{
            "type": "sigstoreSigned",
            "pki": {
                "caRootsPath": dir.join("root.pem"), "caIntermediatesPath": dir.join("int.pem"),
                "subjectEmail": "builder@example.com"
            },
            "signedIdentity": {"type": "matchRepository"}
        }]}}
    });
    let policy_path = dir.join("pki-policy.json");
    std::fs::write(&policy_path, policy.to_string()).unwrap();
    let mut cmd = p.skopeo(&policy_path);
    cmd.args(["copy", "--remove-signatures", "--src-tls-verify=false"])
        .arg(format!("docker://{image}"))
        .arg(format!("oci:{}:pulled", dir.join("pulled").display()));
    run(&mut cmd);
}
