//! Unit tests for the sigstore `ClusterImagePolicy`: §2.6 glob cases, §2.2 validation rules,
//! §2.5 selection and the authority requirements.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigward_oci::ImageReference;

use crate::*;

const PEM_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETapGmYbwTmO83A34Sg1+XV0sC7u0\nmJ2aZz/yIG/HFCuduLRHBMwWMbXQaMHO7LGFBiajaAo4iOsx+QgDetGGQQ==\n-----END PUBLIC KEY-----\n";

fn one(yaml: &str) -> SigstorePolicy {
    let text = format!(
        "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {{name: p}}\n{yaml}"
    );
    parse_sigstore_policies(&text).unwrap().remove(0)
}

fn fields(p: &SigstorePolicy) -> Vec<(String, String)> {
    p.validate()
        .into_iter()
        .map(|e| {
            let field = match &e {
                PolicyError::Required { field, .. }
                | PolicyError::MissingOneOf { field, .. }
                | PolicyError::MultipleOneOf { field, .. }
                | PolicyError::InvalidSigstoreValue { field, .. }
                | PolicyError::TooMany { field, .. } => field.clone(),
                other => panic!("unexpected {other:?}"),
            };
            (field, e.to_string())
        })
        .collect()
}

fn has(p: &SigstorePolicy, field: &str, pred: impl Fn(&PolicyError) -> bool) -> bool {
    p.validate().iter().any(|e| {
        pred(e)
            && match e {
                PolicyError::Required { field: f, .. }
                | PolicyError::MissingOneOf { field: f, .. }
                | PolicyError::MultipleOneOf { field: f, .. }
                | PolicyError::InvalidSigstoreValue { field: f, .. }
                | PolicyError::TooMany { field: f, .. } => f == field,
                _ => false,
            }
    })
}

fn rule(r: SigstoreRule) -> impl Fn(&PolicyError) -> bool {
    move |e| matches!(e, PolicyError::InvalidSigstoreValue { rule, .. } if *rule == r)
}

// §2.6 cases.

#[test]
fn glob_cases_docker_hub_short_name() {
    for glob in [
        "index.docker.io/library/foo:latest",
        "index.docker.io/library/foo:*",
        "index.docker.io/library/*",
        "index.docker.io/*/*",
        "index.docker.io/**",
        "inde**",
        "**",
        "foo",
        "foo*",
        "*",
    ] {
        assert!(glob_matches(glob, "foo").unwrap(), "{glob}");
    }
}

#[test]
fn glob_cases_docker_hub_user_repo() {
    for glob in ["index.docker.io/myuser/*", "*/*", "myuser/myapp"] {
        assert!(glob_matches(glob, "myuser/myapp").unwrap(), "{glob}");
    }
}

#[test]
fn glob_cases_other_registries() {
    assert!(glob_matches("ghcr.io/*/*", "ghcr.io/foo/bar").unwrap());
    assert!(!glob_matches("ghcr.io/*/*", "ghcr.io/foo").unwrap());
    for glob in ["ghcr.io/**", "*/**", "ghcr.io/foo*"] {
        assert!(glob_matches(glob, "ghcr.io/foo").unwrap(), "{glob}");
    }
    assert!(!glob_matches("ghcr.io/foo", "prefix-ghcr.io/foo").unwrap());
    assert!(!glob_matches("ghcr.io/foo", "ghcr.io/foo-suffix").unwrap());
    assert!(!glob_matches("ghcr.io/**", "ghcrxio/foo").unwrap());
}

#[test]
fn glob_cases_digest() {
    let image =
        "ghcr.io/foo@sha256:5504c7c5b2e3a0e5ad4b4f6ec2dd1da7d3d8a0b2c1e9f5a1d2c3b4a596877869";
    assert!(glob_matches(image, image).unwrap());
    // No trailing wildcard: a repository glob does not match its digest reference.
    assert!(!glob_matches("ghcr.io/foo", image).unwrap());
    assert!(glob_matches("ghcr.io/foo*", image).unwrap());
    // A tag next to a digest is dropped by ggcr's Name().
    let r = ImageReference::parse(&format!("nginx:1.25@{}", &image[12..])).unwrap();
    assert_eq!(
        ggcr_name(&r),
        format!("index.docker.io/library/nginx@{}", &image[12..])
    );
}

#[test]
fn glob_cases_errors() {
    assert!(matches!(
        glob_matches("**", "invalid&name"),
        Err(PolicyError::InvalidImage { .. })
    ));
    for glob in [".+", "[a-z]*", ""] {
        assert!(
            matches!(compile_glob(glob), Err(PolicyError::InvalidGlob { .. })),
            "{glob}"
        );
    }
}

#[test]
fn ggcr_name_qualifies_docker_hub() {
    let r = ImageReference::parse("nginx").unwrap();
    assert_eq!(ggcr_name(&r), "index.docker.io/library/nginx:latest");
    let r = ImageReference::parse("docker.io/myuser/app:v1").unwrap();
    assert_eq!(ggcr_name(&r), "index.docker.io/myuser/app:v1");
    let r = ImageReference::parse("localhost:5000/app").unwrap();
    assert_eq!(ggcr_name(&r), "localhost:5000/app:latest");
}

// Parsing.

#[test]
fn both_versions_parse_with_defaults() {
    for version in SIGSTORE_API_VERSIONS {
        let text = format!(
            "apiVersion: {version}\nkind: ClusterImagePolicy\nmetadata: {{name: x, namespace: ignored}}\nspec:\n  images: [{{glob: '**'}}]\n  authorities: [{{static: {{action: fail, message: no}}}}]\n"
        );
        let p = parse_sigstore_policies(&text).unwrap().remove(0);
        assert_eq!(p.api_version, version);
        assert_eq!(p.id.kind, PolicyKind::SigstoreClusterImagePolicy);
        assert_eq!(p.id.namespace, None);
        assert_eq!(p.spec.mode, PolicyMode::Enforce);
        assert_eq!(p.validate(), vec![]);
    }
}

#[test]
fn parse_policies_still_rejects_sigstore_kinds() {
    let text = "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec: {}\n";
    assert!(matches!(
        parse_policies(text),
        Err(PolicyError::UnsupportedKind { .. })
    ));
    assert_eq!(parse_any_policies(text).unwrap().len(), 1);
}

#[test]
fn sigstore_list_is_expanded() {
    let text = "apiVersion: policy.sigstore.dev/v1alpha1\nkind: ClusterImagePolicyList\nitems:\n- apiVersion: policy.sigstore.dev/v1alpha1\n  kind: ClusterImagePolicy\n  metadata: {name: a}\n  spec: {mode: warn}\n";
    let p = parse_sigstore_policies(text).unwrap();
    assert_eq!(p[0].spec.mode, PolicyMode::Warn);
}

#[test]
fn unknown_enums_are_malformed() {
    let text = "apiVersion: policy.sigstore.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: a}\nspec: {mode: audit}\n";
    assert!(matches!(
        parse_sigstore_policies(text),
        Err(PolicyError::Malformed { name: Some(n), .. }) if n == "a"
    ));
    let text = "apiVersion: policy.sigstore.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: a}\nspec: {authorities: [{static: {action: maybe}}]}\n";
    assert!(matches!(
        parse_sigstore_policies(text),
        Err(PolicyError::Malformed { .. })
    ));
}

#[test]
fn match_and_policy_blocks_are_kept() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities: [{static: {action: pass}}]\n  match:\n  - {group: apps, version: v1, resource: deployments, selector: {matchLabels: {app: web}}}\n");
    assert_eq!(
        p.spec.match_resources[0].resource.as_deref(),
        Some("deployments")
    );
    assert_eq!(
        p.spec.match_resources[0]
            .selector
            .as_ref()
            .unwrap()
            .match_labels
            .get("app")
            .map(String::as_str),
        Some("web")
    );
    assert_eq!(p.validate(), vec![]);
}

// Validation rules.

#[test]
fn images_and_authorities_required() {
    let p = one("spec: {}\n");
    let f = fields(&p);
    assert!(f.iter().any(|(f, _)| f == "spec.images"));
    assert!(f.iter().any(|(f, _)| f == "spec.authorities"));
    assert!(
        f[0].1.contains("ClusterImagePolicy.policy.sigstore.dev p"),
        "{f:?}"
    );
}

#[test]
fn glob_syntax_is_checked() {
    let p = one("spec:\n  images: [{glob: 'ghcr.io/[a-z]*'}, {glob: ''}]\n  authorities: [{static: {action: pass}}]\n");
    assert!(has(&p, "spec.images[0].glob", rule(SigstoreRule::Glob)));
    assert!(has(&p, "spec.images[1].glob", rule(SigstoreRule::Glob)));
}

#[test]
fn authority_needs_exactly_one_kind() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities:\n  - {name: none}\n  - {static: {action: pass}, keyless: {identities: [{issuer: i, subject: s}]}}\n");
    assert!(has(&p, "spec.authorities[0]", |e| matches!(
        e,
        PolicyError::MissingOneOf { members, .. } if members == &["key", "keyless", "static"]
    )));
    assert!(has(&p, "spec.authorities[1]", |e| matches!(
        e,
        PolicyError::MultipleOneOf { present, .. } if present == &["keyless", "static"]
    )));
}

#[test]
fn key_rules() {
    let p = one(&format!(
        "spec:\n  images: [{{glob: '**'}}]\n  authorities:\n  - key: {{}}\n  - key: {{data: 'not pem', kms: 'gcpkms://x'}}\n  - key: {{kms: 'vault://k', hashAlgorithm: md5}}\n  - key: {{secretRef: {{namespace: cosign-system}}}}\n  - key: {{data: {PEM_KEY:?}, hashAlgorithm: SHA512}}\n"
    ));
    assert!(has(&p, "spec.authorities[0].key", |e| matches!(
        e,
        PolicyError::MissingOneOf { .. }
    )));
    assert!(has(&p, "spec.authorities[1].key", |e| matches!(
        e,
        PolicyError::MultipleOneOf { .. }
    )));
    assert!(has(
        &p,
        "spec.authorities[1].key.data",
        rule(SigstoreRule::Pem)
    ));
    assert!(has(
        &p,
        "spec.authorities[2].key.kms",
        rule(SigstoreRule::KmsScheme)
    ));
    assert!(has(
        &p,
        "spec.authorities[2].key.hashAlgorithm",
        rule(SigstoreRule::HashAlgorithm)
    ));
    assert!(has(
        &p,
        "spec.authorities[3].key.secretRef.name",
        rule(SigstoreRule::SecretName)
    ));
    assert!(!fields(&p)
        .iter()
        .any(|(f, _)| f.starts_with("spec.authorities[4]")));
}

#[test]
fn keyless_rules() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities:\n  - keyless: {url: 'https://f', ca-cert: {kms: 'awskms://k'}}\n  - keyless: {url: 'not a url', identities: [{issuer: i, issuerRegExp: 'x', subjectRegExp: '('}]}\n");
    assert!(has(&p, "spec.authorities[0].keyless", |e| matches!(
        e,
        PolicyError::MultipleOneOf { present, .. } if present == &["url", "ca-cert"]
    )));
    assert!(has(
        &p,
        "spec.authorities[0].keyless.identities",
        |e| matches!(e, PolicyError::Required { .. })
    ));
    assert!(has(
        &p,
        "spec.authorities[1].keyless.url",
        rule(SigstoreRule::Url)
    ));
    let id = "spec.authorities[1].keyless.identities[0]";
    assert!(has(&p, id, |e| matches!(
        e,
        PolicyError::MultipleOneOf { present, .. } if present == &["issuer", "issuerRegExp"]
    )));
    assert!(has(
        &p,
        &format!("{id}.subjectRegExp"),
        rule(SigstoreRule::Regex)
    ));
    let p =
        one("spec:\n  images: [{glob: '**'}]\n  authorities: [{keyless: {identities: [{}]}}]\n");
    let id = "spec.authorities[0].keyless.identities[0]";
    assert!(has(&p, id, |e| matches!(
        e,
        PolicyError::MissingOneOf { members, .. } if members == &["issuer", "issuerRegExp"]
    )));
    assert!(has(&p, id, |e| matches!(
        e,
        PolicyError::MissingOneOf { members, .. } if members == &["subject", "subjectRegExp"]
    )));
}

#[test]
fn static_excludes_verification_options() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities:\n  - static: {action: pass}\n    ctlog: {url: 'https://rekor.sigstore.dev'}\n    source: [{oci: ghcr.io/sigs}, {oci: ghcr.io/more}]\n    attestations: [{name: a, predicateType: spdx}]\n    rfc3161timestamp: {trustRootRef: t}\n");
    for other in ["attestations", "source", "ctlog", "rfc3161timestamp"] {
        assert!(
            has(&p, "spec.authorities[0]", |e| matches!(
                e,
                PolicyError::MultipleOneOf { present, .. } if present == &["static", other]
            )),
            "{other}"
        );
    }
    assert!(has(&p, "spec.authorities[0].source", |e| matches!(
        e,
        PolicyError::TooMany {
            max: 1,
            actual: 2,
            ..
        }
    )));
}

#[test]
fn attestation_and_policy_rules() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities:\n  - keyless: {identities: [{issuer: i, subject: s}]}\n    signatureFormat: weird\n    attestations:\n    - {predicateType: 'not a uri'}\n    - name: b\n      predicateType: 'https://slsa.dev/provenance/v1'\n      policy: {type: cue, data: x, includeSpec: true}\n  - key: {kms: 'hashivault://k'}\n    signatureFormat: bundle\n  policy: {type: opa, data: x, remote: {url: 'http://x'}}\n");
    assert!(has(
        &p,
        "spec.authorities[0].attestations[0].name",
        |e| matches!(e, PolicyError::Required { .. })
    ));
    assert!(has(
        &p,
        "spec.authorities[0].attestations[0].predicateType",
        rule(SigstoreRule::PredicateType)
    ));
    assert!(has(
        &p,
        "spec.authorities[0].attestations[1].policy.includeSpec",
        rule(SigstoreRule::IncludeOutsideSpecPolicy)
    ));
    assert!(has(
        &p,
        "spec.authorities[0].signatureFormat",
        rule(SigstoreRule::SignatureFormat)
    ));
    assert!(has(
        &p,
        "spec.authorities[1].signatureFormat",
        rule(SigstoreRule::BundleRequiresKeyless)
    ));
    assert!(has(&p, "spec.policy.type", rule(SigstoreRule::PolicyType)));
    assert!(has(&p, "spec.policy", |e| matches!(
        e,
        PolicyError::MultipleOneOf { present, .. } if present == &["data", "remote"]
    )));
    assert!(has(&p, "spec.policy.remote.url", rule(SigstoreRule::Url)));
}

#[test]
fn match_rules() {
    let p = one("spec:\n  images: [{glob: '**'}]\n  authorities: [{static: {action: pass}}]\n  match:\n  - {resource: services}\n  - {selector: {matchLabels: {a: b}}}\n");
    assert!(has(
        &p,
        "spec.match[0].resource",
        rule(SigstoreRule::MatchResource)
    ));
    assert!(has(
        &p,
        "spec.match[1].selector",
        rule(SigstoreRule::SelectorWithoutResource)
    ));
}

// Requirements and selection.

#[test]
fn requirements_are_pure() {
    let p = one(&format!(
        "spec:\n  images: [{{glob: '**'}}]\n  authorities:\n  - name: mykey\n    key: {{data: {PEM_KEY:?}}}\n  - keyless: {{identities: [{{issuerRegExp: 'github', subject: s}}]}}\n  - keyless: {{ca-cert: {{secretRef: {{name: ca}}}}, identities: [{{issuer: i, subject: s}}]}}\n  - static: {{action: fail, message: nope}}\n"
    ));
    let r = p.requirements().unwrap();
    assert_eq!(r[0].name, "mykey");
    assert_eq!(
        r[0].requirement,
        AuthorityRequirement::Key {
            source: KeySource::Pem(PEM_KEY.into()),
            hash_algorithm: HashAlgorithm::Sha256
        }
    );
    match &r[1].requirement {
        AuthorityRequirement::Keyless {
            fulcio_url,
            identities,
            ..
        } => {
            assert_eq!(fulcio_url.as_deref(), Some(DEFAULT_FULCIO_URL));
            // Unanchored, like Go's regexp.MatchString.
            assert!(identities[0]
                .issuer
                .matches("https://token.actions.githubusercontent.com"));
            assert!(!identities[0].subject.matches("s2"));
        }
        other => panic!("unexpected {other:?}"),
    }
    match &r[2].requirement {
        AuthorityRequirement::Keyless {
            fulcio_url,
            ca_cert,
            ..
        } => {
            assert_eq!(fulcio_url, &None);
            assert_eq!(
                ca_cert,
                &Some(KeySource::Secret {
                    name: "ca".into(),
                    namespace: None
                })
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(r[3].name, "authority-3");
    assert_eq!(
        r[3].requirement,
        AuthorityRequirement::Static {
            pass: false,
            message: Some("nope".into())
        }
    );
    // An inconsistent authority yields no requirements.
    let bad = one("spec:\n  images: [{glob: '**'}]\n  authorities: [{}]\n");
    assert_eq!(bad.requirements(), None);
}

#[test]
fn all_matching_policies_apply() {
    let mk = |name: &str, glob: &str| {
        let mut p = one(&format!(
            "spec:\n  images: [{{glob: 'nothing'}}, {{glob: '{glob}'}}]\n  authorities: [{{static: {{action: pass}}}}]\n"
        ));
        p.id.name = name.into();
        p
    };
    let set = SigstorePolicySet::new(vec![
        mk("all", "**"),
        mk("ghcr", "ghcr.io/**"),
        mk("repo-only", "ghcr.io/foo"),
        mk("hub", "*"),
    ])
    .unwrap();
    let names = |s: &str| -> Vec<String> {
        set.matching_sigstore_policies(&ImageReference::parse(s).unwrap())
            .into_iter()
            .map(|p| p.id.name.clone())
            .collect()
    };
    assert_eq!(names("ghcr.io/foo:v1"), ["all", "ghcr"]);
    assert_eq!(names("nginx"), ["all", "hub"]);
    assert_eq!(names("quay.io/x/y"), ["all"]);
    assert!(SigstorePolicySet::new(vec![one("spec: {}\n")]).is_err());
}
