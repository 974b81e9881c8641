//! Parses the hand-written policies in `tests/data/` (see its README).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use sigward_oci::ImageReference;
use sigward_policy::{
    parse_policies, PolicyError, PolicyKind, PolicySet, PolicyType, ScopeRule, Selection,
    SignedIdentity,
};

fn read(name: &str) -> String {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn cluster_and_namespace_parse_validate_and_select() {
    let policies = parse_policies(&read("cluster-and-namespace.yaml")).expect("parses");
    assert_eq!(policies.len(), 3);
    assert_eq!(policies[0].id.kind, PolicyKind::ClusterImagePolicy);
    assert_eq!(policies[0].id.namespace, None);
    assert_eq!(policies[1].id.namespace.as_deref(), Some("team-a"));
    assert_eq!(
        policies[1].spec.policy.root_of_trust.policy_type,
        PolicyType::FulcioCaWithRekor
    );
    assert_eq!(
        policies[2].signed_identity(),
        Some(SignedIdentity::RemapIdentity {
            prefix: "mirror.team-a.io".into(),
            signed_prefix: "registry.team-a.io".into()
        })
    );
    let set = PolicySet::new(policies).expect("valid");
    let image = ImageReference::parse("registry.team-a.io/apps/web:v2").expect("ref");
    match set.select("team-a", &image).expect("select") {
        Selection::Match {
            scope,
            requirements,
            conflicts,
        } => {
            assert_eq!(scope, "registry.team-a.io/apps");
            assert_eq!(requirements.len(), 1);
            assert_eq!(requirements[0].id.name, "team-keyless");
            assert_eq!(conflicts.len(), 1);
            assert_eq!(
                conflicts[0].scope,
                "quay.io/openshift-release-dev/ocp-release/extra"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn invalid_policy_reports_each_rule() {
    let policies = parse_policies(&read("invalid.yaml")).expect("parses");
    let errors = PolicySet::new(policies).expect_err("invalid");
    let has = |pred: &dyn Fn(&PolicyError) -> bool| errors.iter().any(pred);
    assert!(has(
        &|e| matches!(e, PolicyError::InvalidScope { field, rule: ScopeRule::NotFullyQualified, .. } if field == "spec.scopes[0]")
    ));
    assert!(has(
        &|e| matches!(e, PolicyError::InvalidScope { field, rule: ScopeRule::InvalidWildcard, .. } if field == "spec.scopes[1]")
    ));
    assert!(has(
        &|e| matches!(e, PolicyError::Required { field, .. } if field == "spec.policy.rootOfTrust.publicKey")
    ));
    assert!(has(
        &|e| matches!(e, PolicyError::InvalidIdentityPrefix { field, .. } if field == "spec.policy.signedIdentity.exactRepository.repository")
    ));
}

#[test]
fn sigstore_examples_parse_validate_and_match() {
    use sigward_policy::{
        parse_any_policies, parse_sigstore_policies, AnyPolicy, AuthorityRequirement,
        SigstorePolicySet, StringMatch,
    };
    let text = read("sigstore-examples.yaml");
    let (openshift, sigstore) = AnyPolicy::split(parse_any_policies(&text).expect("parses"));
    assert_eq!(openshift.len(), 1);
    assert_eq!(sigstore.len(), 3);
    assert!(PolicySet::new(openshift).is_ok());
    // The sigstore-only reader refuses the OpenShift document (fail closed).
    assert!(matches!(
        parse_sigstore_policies(&text),
        Err(PolicyError::UnsupportedKind { document: 3, .. })
    ));
    let reqs = sigstore[0].requirements().expect("consistent");
    match &reqs[0].requirement {
        AuthorityRequirement::Keyless { identities, .. } => {
            assert_eq!(
                identities[0].issuer,
                StringMatch::Exact("https://token.actions.githubusercontent.com".into())
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(reqs[0].name, "authority-0");
    assert_eq!(
        reqs[0].rekor_url.as_deref(),
        Some("https://rekor.sigstore.dev")
    );
    let tsa = sigstore[1].requirements().expect("consistent");
    assert!(tsa[0].signed_timestamps);
    assert!(matches!(
        tsa[0].requirement,
        AuthorityRequirement::Key { .. }
    ));
    let set = SigstorePolicySet::new(sigstore).expect("valid");
    let names = |image: &str| -> Vec<String> {
        let image = ImageReference::parse(image).expect("ref");
        set.matching_sigstore_policies(&image)
            .into_iter()
            .map(|p| p.id.name.clone())
            .collect()
    };
    assert_eq!(
        names("ghcr.io/sigstore/timestamp-server:v1"),
        ["image-is-signed-by-github-actions", "allow-only-pods"]
    );
    assert_eq!(
        names("registry.example/demo/app:1"),
        ["image-is-signed-by-github-actions", "cip-key-tsa"]
    );
}
