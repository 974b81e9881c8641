//! Tests of the generated CRDs: structural, accepting the test policies (and rejecting broken
//! ones), consistent with the parsers' API versions, and identical to `deploy/crds/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::crd::{
    crd_files, crds_yaml, custom_resource_definitions, deploy_files, kustomization_text,
};
use crate::{API_VERSION, MATCH_RESOURCES, MAX_SCOPES, SIGSTORE_API_VERSIONS};

const OPENSHIFT_DATA: &str = include_str!("../tests/data/cluster-and-namespace.yaml");
const INVALID_DATA: &str = include_str!("../tests/data/invalid.yaml");
const SIGSTORE_DATA: &str = include_str!("../tests/data/sigstore-examples.yaml");

fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

/// `(group, version, kind) -> openAPIV3Schema` of every served version.
fn schemas() -> Vec<(String, String, String, Value)> {
    let mut out = Vec::new();
    for crd in custom_resource_definitions() {
        let spec = &crd["spec"];
        for v in spec["versions"].as_array().unwrap() {
            out.push((
                spec["group"].as_str().unwrap().to_owned(),
                v["name"].as_str().unwrap().to_owned(),
                spec["names"]["kind"].as_str().unwrap().to_owned(),
                v["schema"]["openAPIV3Schema"].clone(),
            ));
        }
    }
    out
}

static SCHEMAS: LazyLock<Vec<(String, String, String, Value)>> = LazyLock::new(schemas);

fn schema_for(doc: &Value) -> &'static Value {
    let schemas: &'static Vec<_> = &SCHEMAS;
    let api_version = doc["apiVersion"].as_str().unwrap();
    let (group, version) = api_version.split_once('/').unwrap();
    let kind = doc["kind"].as_str().unwrap();
    schemas
        .iter()
        .find(|(g, v, k, _)| g == group && v == version && k == kind)
        .map(|(_, _, _, s)| s)
        .unwrap_or_else(|| panic!("no CRD serves {api_version} {kind}"))
}

// ---- structural --------------------------------------------------------------------------

/// The rules of a structural schema that matter here (k8s.io/apiextensions-apiserver
/// `pkg/apiserver/schema`): a `type` on every node, no `$ref` or JSON-Schema-only keywords,
/// `properties` xor `additionalProperties`, `items` on arrays, `required` naming properties.
fn structural_problems(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(map) = node.as_object() else {
        out.push(format!("{path}: not a schema object"));
        return;
    };
    for banned in [
        "$ref",
        "$schema",
        "$defs",
        "definitions",
        "title",
        "default",
        "nullable",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "const",
        "examples",
        "uniqueItems",
        "additionalItems",
        "patternProperties",
        "dependencies",
    ] {
        if map.contains_key(banned) {
            out.push(format!("{path}: has {banned}"));
        }
    }
    let preserve = map.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    match map.get("type").and_then(Value::as_str) {
        Some("object") => {
            let properties = map.get("properties").and_then(Value::as_object);
            let additional = map.get("additionalProperties");
            if properties.is_some() && additional.is_some() {
                out.push(format!("{path}: both properties and additionalProperties"));
            }
            if properties.is_none() && additional.is_none() && !preserve && path != ".metadata" {
                out.push(format!(
                    "{path}: an object with no fields (all would be pruned)"
                ));
            }
            for (name, sub) in properties.into_iter().flatten() {
                structural_problems(sub, &format!("{path}.{name}"), out);
            }
            if let Some(additional) = additional {
                structural_problems(additional, &format!("{path}[*]"), out);
            }
            for required in map
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = required.as_str().unwrap_or("");
                if !properties.is_some_and(|p| p.contains_key(name)) {
                    out.push(format!("{path}: required {name} is not a property"));
                }
            }
            // CEL rules may only name this object's properties.
            for rule in map
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let rule = rule["rule"].as_str().unwrap_or("");
                for name in rule.split("self.").skip(1).map(|rest| {
                    rest.split(|c: char| !c.is_ascii_alphanumeric())
                        .next()
                        .unwrap_or("")
                }) {
                    if !properties.is_some_and(|p| p.contains_key(name)) {
                        out.push(format!(
                            "{path}: CEL rule {rule:?} names {name}, no property"
                        ));
                    }
                }
            }
        }
        Some("array") => match map.get("items") {
            Some(items) => structural_problems(items, &format!("{path}[]"), out),
            None => out.push(format!("{path}: array without items")),
        },
        Some("string") | Some("boolean") | Some("integer") | Some("number") => {
            if map.contains_key("properties") || map.contains_key("items") {
                out.push(format!("{path}: a scalar with properties or items"));
            }
        }
        other => out.push(format!("{path}: type {other:?}")),
    }
    if let Some(values) = map.get("enum").and_then(Value::as_array) {
        if map.get("type") != Some(&json!("string")) || !values.iter().all(Value::is_string) {
            out.push(format!("{path}: enum of non-strings"));
        }
    }
}

#[test]
fn generated_schemas_are_structural() {
    let all = serde_json::to_string(&custom_resource_definitions()).unwrap();
    assert!(!all.contains("$ref"), "a $ref is left");
    assert!(!all.contains("\"null\""), "a null type is left");
    for (group, version, kind, schema) in schemas() {
        let mut problems = Vec::new();
        structural_problems(&schema, "", &mut problems);
        assert!(
            problems.is_empty(),
            "{kind}.{group}/{version}: {problems:#?}"
        );
        // What the apiserver expects at the top.
        for (field, ty) in [
            ("apiVersion", "string"),
            ("kind", "string"),
            ("metadata", "object"),
            ("spec", "object"),
            ("status", "object"),
        ] {
            assert_eq!(schema["properties"][field]["type"], json!(ty), "{field}");
        }
        assert_eq!(
            schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"],
            json!(true)
        );
        assert_eq!(schema["required"], json!(["spec"]));
    }
}

#[test]
fn schemas_follow_the_serde_attributes_and_crd_limits() {
    let cip = schema_for(&json!({"apiVersion": API_VERSION, "kind": "ClusterImagePolicy"}));
    let spec = &cip["properties"]["spec"];
    assert_eq!(spec["required"], json!(["scopes", "policy"]));
    assert_eq!(spec["properties"]["scopes"]["maxItems"], json!(MAX_SCOPES));
    assert_eq!(
        spec["properties"]["scopes"]["x-kubernetes-list-type"],
        json!("set")
    );
    let root = &spec["properties"]["policy"]["properties"]["rootOfTrust"];
    assert_eq!(
        root["properties"]["policyType"]["enum"],
        json!(["PublicKey", "FulcioCAWithRekor", "PKI"])
    );
    assert_eq!(root["required"], json!(["policyType"]));
    let key_data = &root["properties"]["publicKey"]["properties"]["keyData"];
    assert_eq!(key_data["format"], json!("byte"));
    assert_eq!(key_data["minLength"], json!(crate::MIN_KEY_DATA_LEN));
    assert_eq!(key_data["maxLength"], json!(crate::MAX_KEY_DATA_LEN));
    for (member, field) in [
        ("publicKey", "rekorKeyData"),
        ("fulcioCAWithRekor", "fulcioCAData"),
        ("fulcioCAWithRekor", "rekorKeyData"),
        ("pki", "caRootsData"),
        ("pki", "caIntermediatesData"),
    ] {
        assert_eq!(
            root["properties"][member]["properties"][field]["format"],
            json!("byte"),
            "{member}.{field}"
        );
    }
    let identity = &spec["properties"]["policy"]["properties"]["signedIdentity"];
    assert_eq!(
        identity["properties"]["matchPolicy"]["enum"],
        json!([
            "MatchRepoDigestOrExact",
            "MatchRepository",
            "ExactRepository",
            "RemapIdentity"
        ])
    );
    // Option fields are optional, not nullable.
    assert_eq!(identity["required"], json!(["matchPolicy"]));
    assert!(identity["properties"]["exactRepository"]
        .get("nullable")
        .is_none());

    let sigstore =
        schema_for(&json!({"apiVersion": SIGSTORE_API_VERSIONS[1], "kind": "ClusterImagePolicy"}));
    let spec = &sigstore["properties"]["spec"];
    assert!(spec.get("required").is_none(), "every field has a default");
    assert_eq!(
        spec["properties"]["mode"]["enum"],
        json!(["enforce", "warn"])
    );
    let authority = &spec["properties"]["authorities"]["items"];
    assert_eq!(authority["properties"]["source"]["maxItems"], json!(1));
    assert!(authority["properties"]["keyless"]["properties"]
        .get("ca-cert")
        .is_some());
    assert!(authority["properties"].get("static").is_some());
    assert_eq!(
        authority["properties"]["static"]["properties"]["action"]["enum"],
        json!(["pass", "fail"])
    );
    let resource = spec["properties"]["match"]["items"]["properties"]["resource"]["description"]
        .as_str()
        .unwrap();
    for r in MATCH_RESOURCES {
        assert!(
            resource.contains(r),
            "the description of resource lacks {r}"
        );
    }
    // Doc comments become descriptions, without rustdoc links.
    let all = serde_json::to_string(&custom_resource_definitions()).unwrap();
    assert!(!all.contains("crate::"), "a rustdoc link is left");
    assert!(!all.contains("[`"), "a rustdoc link is left");
}

#[test]
fn crds_serve_what_the_parsers_read() {
    let files = crd_files();
    let served: BTreeSet<(String, String, bool)> = files
        .iter()
        .flat_map(|f| {
            let spec = &f.crd["spec"];
            let group = spec["group"].as_str().unwrap().to_owned();
            let kind = spec["names"]["kind"].as_str().unwrap().to_owned();
            let cluster = spec["scope"] == json!("Cluster");
            spec["versions"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |v| {
                    (
                        format!("{group}/{}", v["name"].as_str().unwrap()),
                        kind.clone(),
                        cluster,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut expected: BTreeSet<(String, String, bool)> = [
        (
            API_VERSION.to_owned(),
            "ClusterImagePolicy".to_owned(),
            true,
        ),
        (API_VERSION.to_owned(), "ImagePolicy".to_owned(), false),
    ]
    .into();
    for v in SIGSTORE_API_VERSIONS {
        expected.insert((v.to_owned(), "ClusterImagePolicy".to_owned(), true));
    }
    assert_eq!(served, expected);
    assert_eq!(API_VERSION, "config.openshift.io/v1");
    for f in &files {
        let versions = f.crd["spec"]["versions"].as_array().unwrap();
        let storage = versions.iter().filter(|v| v["storage"] == json!(true));
        assert_eq!(storage.count(), 1, "{}: one storage version", f.file_name);
        let name = f.crd["metadata"]["name"].as_str().unwrap();
        let spec = &f.crd["spec"];
        assert_eq!(
            name,
            format!(
                "{}.{}",
                spec["names"]["plural"].as_str().unwrap(),
                spec["group"].as_str().unwrap()
            )
        );
    }
    let sigstore = files
        .iter()
        .find(|f| f.file_name == "sigstore-clusterimagepolicy.yaml")
        .unwrap();
    let storage: Vec<&str> = sigstore.crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["storage"] == json!(true))
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(storage, ["v1beta1"]);
}

// ---- the test policies against the schemas ------------------------------------------------

/// A small OpenAPI v3 validator for what the generated schemas use: type, properties
/// (unknown fields are errors, as `kubectl --validate=strict` makes them), required,
/// additionalProperties, items, enum, min/maxLength, maxItems.
fn validate(value: &Value, schema: &Value, path: &str, out: &mut Vec<String>) {
    let ty = schema["type"].as_str().unwrap_or("");
    let ok = match (ty, value) {
        ("object", Value::Object(_))
        | ("array", Value::Array(_))
        | ("string", Value::String(_))
        | ("boolean", Value::Bool(_)) => true,
        ("integer", Value::Number(n)) => n.is_i64() || n.is_u64(),
        ("number", Value::Number(_)) => true,
        _ => false,
    };
    if !ok {
        out.push(format!("{path}: {value} is not of type {ty}"));
        return;
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            out.push(format!("{path}: {value} is not one of {values:?}"));
        }
    }
    match value {
        Value::String(s) => {
            let len = s.chars().count() as u64;
            if let Some(max) = schema["maxLength"].as_u64() {
                if len > max {
                    out.push(format!("{path}: longer than {max}"));
                }
            }
            if let Some(min) = schema["minLength"].as_u64() {
                if len < min {
                    out.push(format!("{path}: shorter than {min}"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema["maxItems"].as_u64() {
                if items.len() as u64 > max {
                    out.push(format!("{path}: more than {max} items"));
                }
            }
            for (i, item) in items.iter().enumerate() {
                validate(item, &schema["items"], &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(fields) => {
            // `status`, and `metadata` (which the apiserver validates itself).
            if schema["x-kubernetes-preserve-unknown-fields"] == json!(true)
                || (schema.get("properties").is_none()
                    && schema.get("additionalProperties").is_none())
            {
                return;
            }
            for required in schema["required"].as_array().into_iter().flatten() {
                let name = required.as_str().unwrap();
                if !fields.contains_key(name) {
                    out.push(format!("{path}.{name}: required"));
                }
            }
            for (name, field) in fields {
                let here = format!("{path}.{name}");
                if let Some(sub) = schema["properties"].get(name) {
                    validate(field, sub, &here, out);
                } else if schema["additionalProperties"].is_object() {
                    validate(field, &schema["additionalProperties"], &here, out);
                } else {
                    out.push(format!("{here}: unknown field"));
                }
            }
        }
        _ => {}
    }
}

fn errors(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    validate(doc, schema_for(doc), "", &mut out);
    out
}

#[test]
fn test_policies_validate_against_the_schemas() {
    let docs: Vec<Value> = [OPENSHIFT_DATA, SIGSTORE_DATA]
        .iter()
        .flat_map(|t| documents(t))
        .collect();
    assert_eq!(docs.len(), 3 + 4);
    for doc in &docs {
        assert_eq!(errors(doc), Vec::<String>::new(), "{}", doc["metadata"]);
    }
    // invalid.yaml breaks CEL and webhook rules only, which the schema does not spell out
    // (the missing publicKey is an x-kubernetes-validations rule); its fields are all known.
    for doc in documents(INVALID_DATA) {
        assert_eq!(errors(&doc), Vec::<String>::new(), "{}", doc["metadata"]);
    }
}

#[test]
fn schemas_reject_broken_policies() {
    let good = documents(OPENSHIFT_DATA).remove(0);
    let broken = |path: &str, value: Value| {
        let mut doc = good.clone();
        *doc.pointer_mut(path).unwrap() = value;
        errors(&doc)
    };
    let mut doc = good.clone();
    doc["spec"]["policy"]["rootOfTrust"]["publicKey"]["keyDataa"] = json!("x");
    assert_eq!(
        errors(&doc),
        [".spec.policy.rootOfTrust.publicKey.keyDataa: unknown field"]
    );
    assert_eq!(
        broken("/spec/policy/rootOfTrust/policyType", json!("Cosign")).len(),
        1
    );
    assert_eq!(
        broken(
            "/spec/policy/rootOfTrust/publicKey/keyData",
            json!("c2hvcnQ=")
        ),
        [".spec.policy.rootOfTrust.publicKey.keyData: shorter than 68"]
    );
    let scopes: Vec<String> = (0..=MAX_SCOPES)
        .map(|i| format!("r{i}.example.com"))
        .collect();
    assert_eq!(
        broken("/spec/scopes", json!(scopes)),
        [".spec.scopes: more than 256 items"]
    );
    assert_eq!(
        broken("/spec/scopes", json!("quay.io/x")),
        [".spec.scopes: \"quay.io/x\" is not of type array"]
    );
    let mut doc = good.clone();
    doc["spec"].as_object_mut().unwrap().remove("policy");
    assert_eq!(errors(&doc), [".spec.policy: required"]);

    let mut sigstore = documents(SIGSTORE_DATA).remove(0);
    sigstore["spec"]["mode"] = json!("audit");
    sigstore["spec"]["authorities"][0]["source"] = json!([{"oci": "a"}, {"oci": "b"}]);
    let mut e = errors(&sigstore);
    e.sort();
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with(".spec.authorities[0].source: more than 1"));
    assert!(e[1].starts_with(".spec.mode: \"audit\" is not one of"));
}

// ---- the checked-in files -----------------------------------------------------------------

#[test]
fn yaml_stream_parses_back_to_the_objects() {
    let parsed = documents(&crds_yaml());
    assert_eq!(parsed, custom_resource_definitions());
    for (name, text) in deploy_files() {
        assert!(
            text.starts_with("# ") && text.lines().next().unwrap().contains("sigward policy crds"),
            "{name}: header"
        );
        assert_eq!(text.lines().filter(|l| l.starts_with('#')).count(), 1);
    }
    let kustomization = documents(&kustomization_text()).remove(0);
    let listed: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let files: Vec<&str> = crd_files().iter().map(|f| f.file_name).collect();
    assert_eq!(listed, files);
}

#[test]
fn deploy_crds_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let expected = deploy_files();
    let mut stale = Vec::new();
    for (name, text) in &expected {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(found) if found == *text => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(e) => stale.push(format!("{name}: {e}")),
        }
    }
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !expected.iter().any(|(n, _)| *n == name) {
            stale.push(format!("{name} is not generated"));
        }
    }
    assert!(
        stale.is_empty(),
        "deploy/crds is stale ({}): run `sigward policy crds --dir deploy/crds` to regenerate",
        stale.join("; ")
    );
}
