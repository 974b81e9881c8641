//! One review in, one response out: the plain function behind both endpoints. Every error
//! becomes a response here, and only here.

use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use sigward_engine::{Enforcer, ImageVerdict, Outcome};

use crate::credentials::PullSecrets;
use crate::images::{images, pod_spec, ImageSite};
use crate::review::{AdmissionRequest, AdmissionResponse, Operation};

/// The annotation recording what was verified on an admitted object (`/mutate`).
pub const VERIFIED_ANNOTATION: &str = "sigward.dev/verified-images";

/// Which endpoint is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/validate`: decide.
    Validate,
    /// `/mutate`: decide, and pin verified tags to digests and annotate the object.
    Mutate,
}

/// The longest denial message sent (kube-apiserver passes it to the client verbatim).
const MAX_MESSAGE_CHARS: usize = 4000;

/// A short description of the object for messages: `Deployment default/nginx`.
fn describe(request: &AdmissionRequest) -> String {
    let name = request
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| {
            request
                .object
                .as_ref()
                .and_then(|o| o.pointer("/metadata/generateName"))
                .and_then(Value::as_str)
                .map(|g| format!("{g}*"))
        })
        .unwrap_or_else(|| "<unnamed>".into());
    let mut kind = request.kind.kind.clone();
    if let Some(sub) = request.sub_resource.as_deref().filter(|s| !s.is_empty()) {
        kind = format!("{kind} ({sub})");
    }
    match request.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

/// Decides `request` with `enforcer` within `budget`; in cluster mode, registries are read
/// with the pod's pull secrets.
pub async fn decide(
    enforcer: &Enforcer,
    pull_secrets: Option<&PullSecrets>,
    request: &AdmissionRequest,
    budget: Duration,
    endpoint: Endpoint,
) -> AdmissionResponse {
    let uid = request.uid.as_str();
    if matches!(request.operation, Operation::Delete | Operation::Connect) {
        return AdmissionResponse::allow(uid);
    }
    let Some(object) = &request.object else {
        return AdmissionResponse::deny(
            uid,
            400,
            format!(
                "sigward: {} {} carries no object",
                request.operation,
                describe(request)
            ),
        );
    };
    let sites = images(&request.kind.group, &request.kind.kind, object);
    // On UPDATE only images that are new need a verdict: the rest were admitted before.
    let previous: HashSet<String> = match (&request.operation, &request.old_object) {
        (Operation::Update, Some(old)) => images(&request.kind.group, &request.kind.kind, old)
            .into_iter()
            .map(|s| s.image)
            .collect(),
        _ => HashSet::new(),
    };
    let to_check: Vec<&ImageSite> = sites
        .iter()
        .filter(|s| !previous.contains(&s.image))
        .collect();
    if to_check.len() > sigward_limits::MAX_IMAGES_PER_REVIEW {
        return AdmissionResponse::deny(
            uid,
            403,
            format!(
                "sigward: {} lists {} images, more than the {} sigward verifies per request",
                describe(request),
                to_check.len(),
                sigward_limits::MAX_IMAGES_PER_REVIEW
            ),
        );
    }
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let mut credential_warning = None;
    let engine = match (
        pull_secrets,
        pod_spec(&request.kind.group, &request.kind.kind, object),
    ) {
        (Some(p), Some(spec)) if !to_check.is_empty() => {
            match p.engine_for(namespace, spec).await {
                Ok(engine) => engine,
                Err(e) => {
                    credential_warning =
                        Some(format!("sigward: {e}; registries are read without them"));
                    None
                }
            }
        }
        _ => None,
    };
    let engine = engine.as_ref().unwrap_or(enforcer.engine());
    // Each distinct image once, all concurrently.
    let mut distinct: Vec<&str> = to_check.iter().map(|s| s.image.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let verdicts: BTreeMap<&str, ImageVerdict> =
        futures_util::future::join_all(distinct.iter().map(|image| async move {
            (
                *image,
                enforcer
                    .evaluate_image_with(engine, namespace, image, budget)
                    .await,
            )
        }))
        .await
        .into_iter()
        .collect();

    let mut denials = Vec::new();
    let mut response = AdmissionResponse::allow(uid);
    response.warnings.extend(credential_warning);
    let mut seen_conflicts = HashSet::new();
    for site in &to_check {
        let Some(verdict) = verdicts.get(site.image.as_str()) else {
            continue;
        };
        let place = format!(
            "{} {:?} image {:?}",
            kind_of_site(site),
            site.name,
            site.image
        );
        for c in &verdict.conflicts {
            if seen_conflicts.insert(c.clone()) {
                response.warnings.push(format!("sigward: {c}"));
            }
        }
        match verdict.outcome() {
            Outcome::Allow => {}
            Outcome::Deny(reasons) => denials.push(format!("{place}: {}", reasons.join("; "))),
            Outcome::AllowWithFindings { warnings, audit } => {
                for w in warnings {
                    response.warnings.push(format!("sigward: {place}: {w}"));
                }
                for a in audit {
                    let key = format!("finding-{}", response.audit_annotations.len());
                    response
                        .audit_annotations
                        .insert(key, format!("{place}: {a}"));
                }
            }
        }
    }
    if !denials.is_empty() {
        let mut message = format!(
            "sigward denied {}: {}",
            describe(request),
            denials.join("; ")
        );
        if message.chars().count() > MAX_MESSAGE_CHARS {
            message = message.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
        }
        let mut denied = AdmissionResponse::deny(uid, 403, message);
        denied.warnings = response.warnings;
        denied.audit_annotations = response.audit_annotations;
        return denied;
    }
    let record = verified_record(&to_check, &verdicts);
    if !record.is_empty() {
        response.audit_annotations.insert(
            "verified-images".into(),
            serde_json::to_string(&record).unwrap_or_default(),
        );
    }
    if endpoint == Endpoint::Mutate {
        let patch = patch(request, object, &to_check, &verdicts, &record);
        if !patch.is_empty() {
            response.patch_type = Some("JSONPatch");
            let bytes = serde_json::to_vec(&Value::Array(patch)).unwrap_or_default();
            response.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
    response
}

fn kind_of_site(site: &ImageSite) -> &'static str {
    if site.pointer.contains("/volumes/") {
        "image volume"
    } else if site.pointer.contains("/initContainers/") {
        "init container"
    } else if site.pointer.contains("/ephemeralContainers/") {
        "ephemeral container"
    } else {
        "container"
    }
}

/// What was verified, per image: the digest and each policy's accepted signer.
fn verified_record(sites: &[&ImageSite], verdicts: &BTreeMap<&str, ImageVerdict>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for site in sites {
        let Some(v) = verdicts.get(site.image.as_str()) else {
            continue;
        };
        if v.policies.is_empty() || !seen.insert(site.image.as_str()) {
            continue;
        }
        let policies: Vec<Value> = v
            .policies
            .iter()
            .filter_map(|p| {
                let accepted = p.result.as_ref().ok()?;
                let mut entry = json!({"policy": p.policy.to_string(), "signer": accepted.signer});
                if let Some(i) = accepted.log_index {
                    entry["logIndex"] = json!(i);
                }
                if let Some(a) = &accepted.authority {
                    entry["authority"] = json!(a);
                }
                Some(entry)
            })
            .collect();
        if policies.is_empty() {
            continue;
        }
        out.push(json!({
            "image": site.image,
            "digest": v.digest.as_ref().map(ToString::to_string),
            "policies": policies,
        }));
    }
    out
}

/// JSON pointer escaping (RFC 6901).
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn patch(
    request: &AdmissionRequest,
    object: &Value,
    sites: &[&ImageSite],
    verdicts: &BTreeMap<&str, ImageVerdict>,
    record: &[Value],
) -> Vec<Value> {
    let mut ops = Vec::new();
    for site in sites {
        if let Some(pinned) = verdicts
            .get(site.image.as_str())
            .and_then(ImageVerdict::pin)
        {
            ops.push(json!({"op": "replace", "path": site.pointer, "value": pinned.to_string()}));
        }
    }
    // Subresource writes cannot change metadata; the audit annotation still records it.
    let subresource = request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty());
    if !record.is_empty() && !subresource && object.get("metadata").is_some() {
        let value = serde_json::to_string(record).unwrap_or_default();
        if object
            .pointer("/metadata/annotations")
            .is_some_and(Value::is_object)
        {
            ops.push(json!({
                "op": "add",
                "path": format!("/metadata/annotations/{}", escape(VERIFIED_ANNOTATION)),
                "value": value,
            }));
        } else {
            ops.push(json!({
                "op": "add",
                "path": "/metadata/annotations",
                "value": {VERIFIED_ANNOTATION: value},
            }));
        }
    }
    ops
}
