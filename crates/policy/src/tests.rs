//! Unit tests for each CRD rule, the §1.5 precedence rules and signedIdentity matching.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sigward_oci::ImageReference;

use crate::*;

const KEY: &str = include_str!("../tests/data/cluster-and-namespace.yaml");

fn cip(name: &str, scopes: &[&str]) -> Policy {
    let mut p = parse_policies(KEY).unwrap().remove(0);
    p.id.name = name.into();
    p.spec.scopes = scopes.iter().map(|s| s.to_string()).collect();
    p
}

fn ip(name: &str, ns: &str, scopes: &[&str]) -> Policy {
    let mut p = cip(name, scopes);
    p.id.kind = PolicyKind::ImagePolicy;
    p.id.namespace = Some(ns.into());
    p
}

fn r(s: &str) -> ImageReference {
    ImageReference::parse(s).unwrap()
}

#[test]
fn accepted_scopes_from_crd_tests() {
    for s in [
        "localhost:1234/namespace/namespace",
        "localhost/foo/bar",
        "example.com/foo/bar:latest",
        "example.com/foo/bar@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "*.example.com",
    ] {
        assert_eq!(scope_violations(s), vec![], "{s}");
    }
}

#[test]
fn rejected_scopes_from_crd_tests() {
    assert!(scope_violations("busybox").contains(&ScopeRule::NotFullyQualified));
    assert_eq!(
        scope_violations("*.example.com/test"),
        vec![ScopeRule::InvalidWildcard]
    );
    assert_eq!(
        scope_violations("example.com/foo@sha256:xyz"),
        vec![ScopeRule::InvalidFormat]
    );
    assert_eq!(
        scope_violations("*.example.com:5000"),
        vec![ScopeRule::InvalidWildcard]
    );
    assert_eq!(
        scope_violations("a.*.example.com"),
        vec![ScopeRule::InvalidWildcard]
    );
}

#[test]
fn identity_prefix_rejects_tag_and_digest_but_allows_localhost_port() {
    assert_eq!(prefix_violations("localhost:5000"), vec![]);
    assert_eq!(prefix_violations("example.com/ns/repo"), vec![]);
    assert!(prefix_violations("example.com/repo:v1").contains(&PrefixRule::HasTag));
    assert!(
        !prefix_violations("example.com/repo@sha256:0123456789abcdef0123456789abcdef").is_empty()
    );
}

#[test]
fn max_items_and_max_length_and_duplicates() {
    let many: Vec<String> = (0..257).map(|i| format!("example.com/r{i}")).collect();
    let mut p = cip("c", &[]);
    p.spec.scopes = many;
    assert!(p.validate().iter().any(|e| matches!(
        e,
        PolicyError::TooMany {
            max: 256,
            actual: 257,
            ..
        }
    )));
    let long = format!("example.com/{}", "a".repeat(600));
    let p = cip("c", &[&long, "example.com/x", "example.com/x"]);
    let errors = p.validate();
    assert!(errors.iter().any(
        |e| matches!(e, PolicyError::TooLong { field, max: 512, .. } if field == "spec.scopes[0]")
    ));
    assert!(errors.iter().any(
        |e| matches!(e, PolicyError::DuplicateScope { field, .. } if field == "spec.scopes[2]")
    ));
}

#[test]
fn root_of_trust_union_and_key_material() {
    let mut p = cip("c", &["example.com"]);
    p.spec.policy.root_of_trust.policy_type = PolicyType::Pki;
    let errors = p.validate();
    assert!(errors.contains(&PolicyError::Required {
        policy: p.id.clone(),
        field: "spec.policy.rootOfTrust.pki".into()
    }));
    assert!(errors.iter().any(|e| matches!(e, PolicyError::Forbidden { field, discriminator: "policyType", .. } if field == "spec.policy.rootOfTrust.publicKey")));

    let mut p = cip("c", &["example.com"]);
    p.spec
        .policy
        .root_of_trust
        .public_key
        .as_mut()
        .unwrap()
        .key_data = EncodedBytes("not base64!".repeat(8));
    assert!(p.validate().contains(&PolicyError::InvalidBase64 {
        policy: p.id.clone(),
        field: "spec.policy.rootOfTrust.publicKey.keyData".into()
    }));

    let mut p = cip("c", &["example.com"]);
    let cert = parse_policies(KEY).unwrap()[1]
        .spec
        .policy
        .root_of_trust
        .fulcio_ca_with_rekor
        .clone()
        .unwrap()
        .fulcio_ca_data;
    p.spec
        .policy
        .root_of_trust
        .public_key
        .as_mut()
        .unwrap()
        .key_data = cert;
    let errors = p.validate();
    assert!(errors.iter().any(|e| matches!(
        e,
        PolicyError::InvalidPem {
            rule: PemRule::MissingBegin,
            label: "PUBLIC KEY",
            ..
        }
    )));
    assert!(errors.iter().any(|e| matches!(
        e,
        PolicyError::InvalidPem {
            rule: PemRule::MissingEnd,
            ..
        }
    )));

    let mut p = cip("c", &["example.com"]);
    p.spec
        .policy
        .root_of_trust
        .public_key
        .as_mut()
        .unwrap()
        .key_data = EncodedBytes("LS0t".into());
    assert!(p.validate().iter().any(|e| matches!(
        e,
        PolicyError::TooShort {
            min: 68,
            actual: 4,
            ..
        }
    )));
}

#[test]
fn fulcio_subject_and_pki_subject_rules() {
    let all = parse_policies(KEY).unwrap();
    let mut keyless = all[1].clone();
    let subject = &mut keyless
        .spec
        .policy
        .root_of_trust
        .fulcio_ca_with_rekor
        .as_mut()
        .unwrap()
        .fulcio_subject;
    subject.oidc_issuer = "not a url".into();
    subject.signed_email = "nobody".into();
    let errors = keyless.validate();
    assert!(errors
        .iter()
        .any(|e| matches!(e, PolicyError::InvalidUrl { .. })));
    assert!(errors
        .iter()
        .any(|e| matches!(e, PolicyError::InvalidEmail { .. })));

    let mut pki = all[2].clone();
    let subj = &mut pki
        .spec
        .policy
        .root_of_trust
        .pki
        .as_mut()
        .unwrap()
        .pki_certificate_subject;
    subj.email = None;
    subj.hostname = Some("Bad_Host".into());
    assert!(pki
        .validate()
        .iter()
        .any(|e| matches!(e, PolicyError::InvalidHostname { .. })));
    let subj = &mut pki
        .spec
        .policy
        .root_of_trust
        .pki
        .as_mut()
        .unwrap()
        .pki_certificate_subject;
    subj.hostname = None;
    assert!(pki.validate().iter().any(|e| matches!(e, PolicyError::Required { field, .. } if field.ends_with("pkiCertificateSubject.email"))));
    assert!(is_url("https://oidc.example.com/") && is_url("/path") && !is_url("http://h:port/"));
}

#[test]
fn signed_identity_union() {
    let mut p = cip("c", &["example.com"]);
    p.spec.policy.signed_identity = Some(PolicyIdentity {
        match_policy: IdentityMatchPolicy::RemapIdentity,
        exact_repository: Some(PolicyMatchExactRepository {
            repository: "example.com/x".into(),
        }),
        remap_identity: None,
    });
    let errors = p.validate();
    assert!(errors.iter().any(|e| matches!(e, PolicyError::Required { field, .. } if field == "spec.policy.signedIdentity.remapIdentity")));
    assert!(errors.iter().any(|e| matches!(e, PolicyError::Forbidden { field, .. } if field == "spec.policy.signedIdentity.exactRepository")));
}

#[test]
fn imagepolicy_without_namespace_is_invalid() {
    let mut p = ip("i", "ns", &["example.com"]);
    p.id.namespace = None;
    assert!(p.validate().iter().any(
        |e| matches!(e, PolicyError::Required { field, .. } if field == "metadata.namespace")
    ));
}

#[test]
fn unsupported_kind_and_malformed_documents() {
    assert!(matches!(
        parse_policies("apiVersion: v1\nkind: Pod\n"),
        Err(PolicyError::UnsupportedKind { document: 0, .. })
    ));
    let bad = "---\napiVersion: config.openshift.io/v1\nkind: ClusterImagePolicy\nmetadata: {name: x}\nspec: {scopes: [], policy: {rootOfTrust: {policyType: Nope}}}\n";
    assert!(
        matches!(parse_policies(bad), Err(PolicyError::Malformed { name: Some(n), .. }) if n == "x")
    );
}

#[test]
fn candidate_scopes_follow_containers_image() {
    assert_eq!(
        candidate_scopes(&r("a.b.example.com:5000/ns/repo:v1")).unwrap(),
        vec![
            "a.b.example.com:5000/ns/repo:v1",
            "a.b.example.com:5000/ns/repo",
            "a.b.example.com:5000/ns",
            "a.b.example.com:5000",
            "*.b.example.com",
            "*.example.com",
            "*.com",
        ]
    );
    let both = r(
        "example.com/x:v1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    );
    assert!(matches!(
        candidate_scopes(&both),
        Err(PolicyError::TagAndDigest { .. })
    ));
}

#[test]
fn nesting_matches_runtime_utils() {
    assert!(scope_is_nested_inside("example.com/a", "example.com"));
    assert!(!scope_is_nested_inside("example.com2/a", "example.com"));
    assert!(scope_is_nested_inside("a.example.com/x", "*.example.com"));
    assert!(scope_is_nested_inside(
        "a.example.com:5000/x",
        "*.example.com"
    ));
    assert!(scope_is_nested_inside("*.a.example.com", "*.example.com"));
    assert!(!scope_is_nested_inside("example.com", "*.example.com"));
    // The quirk: a tagged scope under a wildcard is not seen as nested.
    assert!(!scope_is_nested_inside(
        "a.example.com/x:tag",
        "*.example.com"
    ));
}

fn matched<'a>(s: Selection<'a>) -> (&'a str, Vec<String>, usize) {
    match s {
        Selection::Match {
            scope,
            requirements,
            conflicts,
        } => (
            scope,
            requirements.iter().map(|p| p.id.name.clone()).collect(),
            conflicts.len(),
        ),
        Selection::NoMatch { .. } => panic!("no match"),
    }
}

#[test]
fn same_scope_in_several_cluster_policies_is_and() {
    let set = PolicySet::new(vec![
        cip("one", &["example.com/app"]),
        cip("two", &["example.com/app"]),
    ])
    .unwrap();
    let (scope, reqs, _) = matched(set.select("ns", &r("example.com/app:v1")).unwrap());
    assert_eq!(
        (scope, reqs),
        (
            "example.com/app",
            vec!["one".to_string(), "two".to_string()]
        )
    );
}

#[test]
fn imagepolicy_equal_or_nested_in_cluster_scope_is_dropped_as_conflict() {
    let set = PolicySet::new(vec![
        cip("global", &["example.com/global"]),
        ip(
            "local",
            "ns",
            &["example.com/global/image", "example.com/global"],
        ),
    ])
    .unwrap();
    let (scope, reqs, conflicts) =
        matched(set.select("ns", &r("example.com/global/image:v1")).unwrap());
    assert_eq!(
        (scope, reqs, conflicts),
        ("example.com/global", vec!["global".to_string()], 2)
    );
    let c = set.conflicts("ns");
    assert_eq!(c[0].scope, "example.com/global/image");
    assert_eq!(c[0].cluster_scope, "example.com/global");
    assert!(set.conflicts("other").is_empty());
}

#[test]
fn broader_imagepolicy_is_kept_and_most_specific_wins() {
    let set = PolicySet::new(vec![
        cip("team", &["example.com/team"]),
        ip("ns-wide", "ns", &["example.com"]),
    ])
    .unwrap();
    assert_eq!(
        matched(set.select("ns", &r("example.com/team/app:v1")).unwrap()).1,
        vec!["team".to_string()]
    );
    assert_eq!(
        matched(set.select("ns", &r("example.com/other/app:v1")).unwrap()).1,
        vec!["ns-wide".to_string()]
    );
    // Another namespace does not see ns's policies.
    assert!(matches!(
        set.select("elsewhere", &r("example.com/other/app:v1"))
            .unwrap(),
        Selection::NoMatch { .. }
    ));
}

#[test]
fn same_scope_in_several_imagepolicies_is_and() {
    let set = PolicySet::new(vec![
        ip("a", "ns", &["example.com/x"]),
        ip("b", "ns", &["example.com/x"]),
    ])
    .unwrap();
    assert_eq!(
        matched(set.select("ns", &r("example.com/x:v1")).unwrap()).1,
        vec!["a".to_string(), "b".to_string()]
    );
}

#[test]
fn wildcard_scope_matches_subdomains_only() {
    let set = PolicySet::new(vec![cip("wild", &["*.example.com"])]).unwrap();
    assert_eq!(
        matched(set.select("ns", &r("a.example.com:5000/x:v1")).unwrap()).0,
        "*.example.com"
    );
    assert_eq!(
        matched(set.select("ns", &r("b.a.example.com/x:v1")).unwrap()).0,
        "*.example.com"
    );
    assert!(matches!(
        set.select("ns", &r("example.com/x:v1")).unwrap(),
        Selection::NoMatch { .. }
    ));
}

#[test]
fn exact_tag_scope_beats_repository_and_name_only_means_latest() {
    let set = PolicySet::new(vec![
        cip("repo", &["docker.io/library/busybox"]),
        cip("tag", &["docker.io/library/busybox:latest"]),
    ])
    .unwrap();
    assert_eq!(
        matched(set.select("ns", &r("busybox")).unwrap()).1,
        vec!["tag".to_string()]
    );
    assert_eq!(
        matched(set.select("ns", &r("busybox:1.36")).unwrap()).1,
        vec!["repo".to_string()]
    );
}

const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn match_repo_digest_or_exact() {
    let p = SignedIdentity::MatchRepoDigestOrExact;
    assert_eq!(
        identity_matches(&p, &r("example.com/a:v1"), "example.com/a:v1"),
        Ok(())
    );
    assert!(identity_matches(&p, &r("example.com/a:v1"), "example.com/a:v2").is_err());
    let digest = r(&format!("example.com/a@{D}"));
    assert_eq!(identity_matches(&p, &digest, "example.com/a:v9"), Ok(()));
    assert!(identity_matches(&p, &digest, "example.com/b:v9").is_err());
    // cosign's name-only identity is rejected even for a digest pull.
    assert!(matches!(
        identity_matches(&p, &digest, "example.com/a"),
        Err(PolicyError::IdentityMismatch {
            name_only_signature: true,
            ..
        })
    ));
    // Normalisation applies to the signed reference.
    assert_eq!(
        identity_matches(&p, &r("busybox:latest"), "busybox:latest"),
        Ok(())
    );
    assert!(matches!(
        identity_matches(&p, &r("example.com/a:v1"), "not a reference"),
        Err(PolicyError::InvalidSignedReference { .. })
    ));
}

#[test]
fn match_repository_and_exact_repository() {
    let p = SignedIdentity::MatchRepository;
    assert_eq!(
        identity_matches(&p, &r("example.com/a:v1"), "example.com/a"),
        Ok(())
    );
    assert!(identity_matches(&p, &r("example.com/a:v1"), "example.com/b:v1").is_err());
    let e = SignedIdentity::ExactRepository {
        repository: "example.com/signed".into(),
    };
    assert_eq!(
        identity_matches(&e, &r("mirror.io/a:v1"), "example.com/signed:v7"),
        Ok(())
    );
    assert!(identity_matches(&e, &r("mirror.io/a:v1"), "mirror.io/a:v1").is_err());
}

#[test]
fn remap_identity() {
    let p = SignedIdentity::RemapIdentity {
        prefix: "mirror.io/vendor".into(),
        signed_prefix: "vendor.com".into(),
    };
    assert_eq!(
        identity_matches(&p, &r("mirror.io/vendor/app:v1"), "vendor.com/app:v1"),
        Ok(())
    );
    assert!(
        identity_matches(&p, &r("mirror.io/vendor/app:v1"), "mirror.io/vendor/app:v1").is_err()
    );
    // `mirror.io/vendorx` does not match the prefix at a `/` boundary: no remapping.
    assert_eq!(
        identity_matches(
            &p,
            &r("mirror.io/vendorx/app:v1"),
            "mirror.io/vendorx/app:v1"
        ),
        Ok(())
    );
    let digest = r(&format!("mirror.io/vendor/app@{D}"));
    assert_eq!(identity_matches(&p, &digest, "vendor.com/app:any"), Ok(()));
}

fn annotated(mut p: Policy, key: &str, value: &str) -> Policy {
    p.annotations.insert(key.into(), value.into());
    p
}

#[test]
fn additional_image_policies_add_to_the_cluster_floor() {
    let cluster = cip("floor", &["reg.example.com/apps"]);
    let plain = ip("override", "ns", &["reg.example.com/apps/web"]);
    let extra = annotated(
        ip("extra", "ns", &["reg.example.com/apps/web"]),
        extensions::ADDITIONAL_ANNOTATION,
        "true",
    );
    let set = PolicySet::new(vec![cluster, plain, extra]).unwrap();
    let Selection::Match {
        requirements,
        conflicts,
        ..
    } = set.select("ns", &r("reg.example.com/apps/web:v1")).unwrap()
    else {
        panic!("no match");
    };
    let names: Vec<&str> = requirements.iter().map(|p| p.id.name.as_str()).collect();
    // The plain ImagePolicy conflicts (dropped, reported); the additional one is ANDed.
    assert_eq!(names, vec!["floor", "extra"]);
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].image_policy.name, "override");
    // Elsewhere in the namespace, and in other namespaces, nothing is added.
    let Selection::Match { requirements, .. } =
        set.select("ns", &r("reg.example.com/apps/api:v1")).unwrap()
    else {
        panic!("no match");
    };
    assert_eq!(requirements.len(), 1);
    let Selection::Match { requirements, .. } = set
        .select("other", &r("reg.example.com/apps/web:v1"))
        .unwrap()
    else {
        panic!("no match");
    };
    assert_eq!(requirements.len(), 1);
    // With no cluster scope, an additional policy applies on its own.
    let alone = annotated(
        ip("alone", "ns", &["elsewhere.example.com/x"]),
        extensions::ADDITIONAL_ANNOTATION,
        "true",
    );
    let set = PolicySet::new(vec![alone]).unwrap();
    assert!(matches!(
        set.select("ns", &r("elsewhere.example.com/x:1")).unwrap(),
        Selection::Match {
            scope: "elsewhere.example.com/x",
            ..
        }
    ));
}

#[test]
fn sigward_annotations_are_validated() {
    let modes = [
        ("enforce", EnforcementMode::Enforce),
        ("warn", EnforcementMode::Warn),
        ("audit", EnforcementMode::Audit),
    ];
    for (value, mode) in modes {
        let p = annotated(
            cip("m", &["a.example.com"]),
            extensions::MODE_ANNOTATION,
            value,
        );
        assert_eq!(p.validate(), vec![]);
        assert_eq!(p.enforcement_mode(), mode);
    }
    let p = annotated(
        cip("m", &["a.example.com"]),
        extensions::MODE_ANNOTATION,
        "loud",
    );
    assert!(matches!(
        p.validate().as_slice(),
        [PolicyError::InvalidAnnotation {
            annotation: "sigward.dev/mode",
            ..
        }]
    ));
    // Fails closed: an unreadable mode enforces.
    assert_eq!(p.enforcement_mode(), EnforcementMode::Enforce);
    let p = annotated(
        cip("c", &["a.example.com"]),
        extensions::ADDITIONAL_ANNOTATION,
        "true",
    );
    assert_eq!(p.validate().len(), 1, "only on an ImagePolicy");
    assert!(!p.is_additional());
    // The keyless subject overrides need a FulcioCAWithRekor root and a valid regexp.
    let p = annotated(
        cip("k", &["a.example.com"]),
        extensions::SUBJECT_URI_ANNOTATION,
        "https://x",
    );
    assert_eq!(p.validate().len(), 1);
    let keyless = parse_policies(KEY).unwrap().remove(1);
    assert_eq!(
        keyless.spec.policy.root_of_trust.policy_type,
        PolicyType::FulcioCaWithRekor
    );
    let p = annotated(keyless.clone(), extensions::SUBJECT_REGEXP_ANNOTATION, "(");
    assert_eq!(p.validate().len(), 1);
    let p = annotated(
        keyless,
        extensions::SUBJECT_REGEXP_ANNOTATION,
        "@example\\.com$",
    );
    assert_eq!(p.validate(), vec![]);
    assert_eq!(
        p.subject_override(),
        Some(SubjectOverride::Regexp("@example\\.com$".into()))
    );
}
