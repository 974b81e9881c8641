//! `AdmissionReview` (`admission.k8s.io/v1` and `v1beta1`) in and out, as kube-apiserver sends
//! and expects it. Only the fields sigward reads are modelled; `object` and `oldObject` stay
//! JSON values so that every workload kind, known or not, is read the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The two served versions (the response echoes the request's).
pub const API_VERSIONS: [&str; 2] = ["admission.k8s.io/v1", "admission.k8s.io/v1beta1"];

/// Why a body is not an AdmissionReview sigward can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReviewError {
    /// Not JSON, or not the shape of an AdmissionReview.
    #[error("malformed AdmissionReview: {0}")]
    Malformed(String),
    /// Another apiVersion or kind.
    #[error("unsupported {api_version:?} {kind:?}: expected AdmissionReview in {API_VERSIONS:?}")]
    Unsupported {
        /// What was sent.
        api_version: String,
        /// What was sent.
        kind: String,
    },
    /// No `request` (or no `request.uid`) to answer.
    #[error("AdmissionReview has no request.uid to answer")]
    NoRequest,
}

/// `group/version/kind` or `group/version/resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
}

/// `group/version/resource`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct GroupVersionResource {
    /// API group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Resource (plural).
    #[serde(default)]
    pub resource: String,
}

/// The operation reviewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// Create.
    Create,
    /// Update (including subresources such as `ephemeralcontainers`).
    Update,
    /// Delete.
    Delete,
    /// Connect (exec, attach, port-forward, proxy).
    Connect,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
        })
    }
}

/// `request.userInfo` (only the name is used, in logs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    /// The requesting user.
    #[serde(default)]
    pub username: String,
}

/// `request`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    /// Echoed in the response.
    pub uid: String,
    /// Kind of the object.
    #[serde(default)]
    pub kind: GroupVersionKind,
    /// Resource reviewed.
    #[serde(default)]
    pub resource: GroupVersionResource,
    /// Subresource, e.g. `ephemeralcontainers`.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// Object name (may be empty on CREATE with `generateName`).
    #[serde(default)]
    pub name: Option<String>,
    /// Namespace ("" or absent for cluster-scoped objects).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Operation.
    pub operation: Operation,
    /// Who asked.
    #[serde(default)]
    pub user_info: UserInfo,
    /// The new object (absent on DELETE).
    #[serde(default, deserialize_with = "object_or_none")]
    pub object: Option<Value>,
    /// The old object (UPDATE, DELETE).
    #[serde(default, deserialize_with = "object_or_none")]
    pub old_object: Option<Value>,
    /// The request will not be persisted.
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// `object`/`oldObject` are objects or nothing; `null` and `""` (sent by some clients for an
/// absent v1beta1 `oldObject`) mean nothing, anything else is malformed.
fn object_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    let v = Value::deserialize(d)?;
    match v {
        Value::Object(_) => Ok(Some(v)),
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        other => Err(serde::de::Error::custom(format!(
            "expected an object, found {}",
            match other {
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                _ => "something else",
            }
        ))),
    }
}

/// A parsed review: its version and request.
#[derive(Debug, Clone)]
pub struct AdmissionReview {
    /// `apiVersion` of the review (echoed).
    pub api_version: String,
    /// The request.
    pub request: AdmissionRequest,
}

/// The whole review in one pass: the common case.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypedEnvelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    request: AdmissionRequest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    request: Option<Value>,
}

impl AdmissionReview {
    /// Parses a request body. A body whose `request.uid` can be read but whose other fields
    /// are malformed yields `Err((Some((uid, apiVersion)), error))`, so that it can still be
    /// answered.
    #[allow(clippy::type_complexity)]
    pub fn parse(body: &[u8]) -> Result<Self, (Option<(String, String)>, ReviewError)> {
        // One typed pass for well-formed reviews; the value-tree pass below only runs to
        // explain what is wrong with the others.
        if let Ok(typed) = serde_json::from_slice::<TypedEnvelope>(body) {
            if typed.kind == "AdmissionReview"
                && API_VERSIONS.contains(&typed.api_version.as_str())
                && !typed.request.uid.is_empty()
            {
                return Ok(AdmissionReview {
                    api_version: typed.api_version,
                    request: typed.request,
                });
            }
        }
        let envelope: Envelope = serde_json::from_slice(body)
            .map_err(|e| (None, ReviewError::Malformed(e.to_string())))?;
        if envelope.kind != "AdmissionReview"
            || !API_VERSIONS.contains(&envelope.api_version.as_str())
        {
            return Err((
                None,
                ReviewError::Unsupported {
                    api_version: envelope.api_version,
                    kind: envelope.kind,
                },
            ));
        }
        let request = envelope.request.ok_or((None, ReviewError::NoRequest))?;
        let uid = request
            .get("uid")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .ok_or((None, ReviewError::NoRequest))?;
        let request: AdmissionRequest = serde_json::from_value(request).map_err(|e| {
            (
                Some((uid, envelope.api_version.clone())),
                ReviewError::Malformed(format!("request: {e}")),
            )
        })?;
        Ok(AdmissionReview {
            api_version: envelope.api_version,
            request,
        })
    }
}

/// `response.status` for a denial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// HTTP-like code: 403 for a policy denial, 400 for a malformed review.
    pub code: u16,
    /// The message shown to the client.
    pub message: String,
    /// `Forbidden` or `BadRequest`.
    pub reason: &'static str,
}

/// `response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The request's uid.
    pub uid: String,
    /// The decision.
    pub allowed: bool,
    /// Why not, when denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Warnings for the client (`warn` policies).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    /// Base64 of the JSON patch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Audit annotations (`audit` policies, verified digests).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

impl AdmissionResponse {
    /// An admission.
    pub fn allow(uid: &str) -> Self {
        AdmissionResponse {
            uid: uid.to_owned(),
            allowed: true,
            status: None,
            warnings: Vec::new(),
            patch_type: None,
            patch: None,
            audit_annotations: BTreeMap::new(),
        }
    }

    /// A denial with `code` (403 policy, 400 malformed input) and `message`.
    pub fn deny(uid: &str, code: u16, message: String) -> Self {
        AdmissionResponse {
            allowed: false,
            status: Some(Status {
                code,
                message,
                reason: if code == 400 {
                    "BadRequest"
                } else {
                    "Forbidden"
                },
            }),
            ..Self::allow(uid)
        }
    }

    /// The whole body to send back for a review of `api_version`.
    pub fn into_review(self, api_version: &str) -> Value {
        serde_json::json!({
            "apiVersion": api_version,
            "kind": "AdmissionReview",
            "response": self,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn v1beta1_empty_old_object_is_absent() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview",
            "request":{"uid":"u","operation":"CREATE","object":{"kind":"Pod"},"oldObject":""}}"#;
        let r = AdmissionReview::parse(body).unwrap();
        assert!(r.request.old_object.is_none());
        assert_eq!(r.request.operation, Operation::Create);
    }

    #[test]
    fn malformed_fields_keep_the_uid() {
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"u1","operation":"EXPLODE"}}"#;
        let (uid, e) = AdmissionReview::parse(body).unwrap_err();
        assert_eq!(uid.unwrap().0, "u1");
        assert!(matches!(e, ReviewError::Malformed(_)), "{e}");
        let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
            "request":{"uid":"u2","operation":"CREATE","object":42}}"#;
        let (uid, e) = AdmissionReview::parse(body).unwrap_err();
        assert_eq!(uid.unwrap().0, "u2");
        assert!(
            e.to_string().contains("expected an object, found a number"),
            "{e}"
        );
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        for (body, want) in [
            (&b"not json"[..], "malformed"),
            (br#"{"apiVersion":"v1","kind":"Pod"}"#, "unsupported"),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
                "no request.uid",
            ),
            (
                br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":""}}"#,
                "no request.uid",
            ),
        ] {
            let (uid, e) = AdmissionReview::parse(body).unwrap_err();
            assert!(uid.is_none());
            assert!(e.to_string().contains(want), "{e}");
        }
    }

    #[test]
    fn a_denial_serialises_as_the_apiserver_expects() {
        let r = AdmissionResponse::deny("u", 403, "no".into()).into_review(API_VERSIONS[0]);
        assert_eq!(
            r,
            serde_json::json!({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",
                "response":{"uid":"u","allowed":false,
                    "status":{"code":403,"message":"no","reason":"Forbidden"}}})
        );
    }
}
