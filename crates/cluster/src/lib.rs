//! Cluster mode: the policy objects sigward enforces, read from the Kubernetes API.
//!
//! Data flow: a kube client (in-cluster service account, or `KUBECONFIG`) -> one watcher per
//! policy kind (OpenShift `ClusterImagePolicy` and `ImagePolicy` in every namespace, sigstore
//! `ClusterImagePolicy`) -> a [`Snapshot`] of every object, re-published on each change ->
//! [`Snapshot::policies`] parses them with the same parser as policy files. A kind whose CRD is
//! not installed counts as synced and empty (and is watched again, with backoff, so installing
//! the CRD later is noticed). The webhook is not ready until every kind has synced once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use sigward_policy::{parse_any_policies, AnyPolicy};
use tokio::sync::watch;

/// A policy kind sigward watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyKind {
    /// API group.
    pub group: &'static str,
    /// Version read.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Resource (plural).
    pub plural: &'static str,
    /// Namespaced (watched across all namespaces) or cluster-scoped.
    pub namespaced: bool,
}

/// The kinds watched.
pub const POLICY_KINDS: [PolicyKind; 3] = [
    PolicyKind {
        group: "config.openshift.io",
        version: "v1",
        kind: "ClusterImagePolicy",
        plural: "clusterimagepolicies",
        namespaced: false,
    },
    PolicyKind {
        group: "config.openshift.io",
        version: "v1",
        kind: "ImagePolicy",
        plural: "imagepolicies",
        namespaced: true,
    },
    PolicyKind {
        group: "policy.sigstore.dev",
        version: "v1beta1",
        kind: "ClusterImagePolicy",
        plural: "clusterimagepolicies",
        namespaced: false,
    },
];

/// Why cluster mode could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the Kubernetes API: {0}")]
pub struct ClusterError(String);

/// Where a kind's watch stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KindState {
    /// Not listed yet.
    Pending,
    /// Listed and watched.
    Synced,
    /// Its CRD is not installed (the API answered 404): no objects.
    Absent,
    /// The last list or watch failed (retried with backoff); objects from before are kept.
    Failing(String),
}

/// Every policy object known, per kind, and where each watch stands.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Bumped on every change.
    pub version: u64,
    /// Objects by (kind, namespace, name), as JSON with `apiVersion` and `kind` set.
    pub objects: BTreeMap<(PolicyKind, String, String), serde_json::Value>,
    /// Each kind's state.
    pub kinds: BTreeMap<PolicyKind, KindState>,
    /// Kinds listed at least once (a later failing watch keeps their last objects).
    pub listed: std::collections::BTreeSet<PolicyKind>,
}

impl Snapshot {
    /// Whether every kind has been listed once (or found absent). A watch failing after that
    /// keeps the last objects it listed (the watch is retried with backoff).
    pub fn synced(&self) -> bool {
        POLICY_KINDS.iter().all(|k| {
            self.listed.contains(k) || matches!(self.kinds.get(k), Some(KindState::Absent))
        })
    }

    /// The watches failing now, one line each.
    pub fn failing(&self) -> Vec<String> {
        self.kinds
            .iter()
            .filter_map(|(k, state)| match state {
                KindState::Failing(e) => Some(format!("{}.{}: {e}", k.plural, k.group)),
                _ => None,
            })
            .collect()
    }

    /// Why it is not synced yet.
    pub fn pending(&self) -> Vec<String> {
        POLICY_KINDS
            .iter()
            .filter(|k| !self.listed.contains(k))
            .filter_map(|k| match self.kinds.get(k) {
                Some(KindState::Synced | KindState::Absent) => None,
                Some(KindState::Failing(e)) => Some(format!("{}.{}: {e}", k.plural, k.group)),
                _ => Some(format!("{}.{}: not listed yet", k.plural, k.group)),
            })
            .collect()
    }

    /// Every object parsed as a policy, each with its origin (`kind namespace/name`); errors
    /// name the object.
    pub fn policies(&self) -> (Vec<(String, AnyPolicy)>, Vec<String>) {
        let mut policies = Vec::new();
        let mut errors = Vec::new();
        for ((kind, namespace, name), object) in &self.objects {
            let origin = if namespace.is_empty() {
                format!("{}.{} {name}", kind.plural, kind.group)
            } else {
                format!("{}.{} {namespace}/{name}", kind.plural, kind.group)
            };
            match parse_any_policies(&object.to_string()) {
                Ok(found) => policies.extend(found.into_iter().map(|p| (origin.clone(), p))),
                Err(e) => errors.push(format!("{origin}: {e}")),
            }
        }
        (policies, errors)
    }
}

/// A connection to the API server.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cluster")
    }
}

impl Cluster {
    /// Connects with the in-cluster service account, or `KUBECONFIG` / `~/.kube/config`.
    pub async fn connect() -> Result<Self, ClusterError> {
        let _ = rustls_default();
        let client = kube::Client::try_default()
            .await
            .map_err(|e| ClusterError(e.to_string()))?;
        Ok(Cluster { client })
    }

    /// Starts one watcher per policy kind; the receiver sees every new [`Snapshot`].
    pub fn watch_policies(&self) -> watch::Receiver<Snapshot> {
        let state = Arc::new(Mutex::new(Snapshot::default()));
        let (tx, rx) = watch::channel(Snapshot::default());
        let tx = Arc::new(tx);
        for kind in POLICY_KINDS {
            let client = self.client.clone();
            let state = state.clone();
            let tx = tx.clone();
            tokio::spawn(async move { watch_kind(client, kind, state, tx).await });
        }
        rx
    }
}

/// kube's rustls client takes the process-wide provider; sigward uses aws-lc everywhere.
fn rustls_default() -> Result<(), std::sync::Arc<rustls::crypto::CryptoProvider>> {
    rustls::crypto::aws_lc_rs::default_provider().install_default()
}

fn publish(
    state: &Mutex<Snapshot>,
    tx: &watch::Sender<Snapshot>,
    change: impl FnOnce(&mut Snapshot),
) {
    let mut guard = match state.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    change(&mut guard);
    guard.version += 1;
    let _ = tx.send(guard.clone());
}

fn key_of(kind: PolicyKind, o: &DynamicObject) -> (PolicyKind, String, String) {
    (
        kind,
        o.metadata.namespace.clone().unwrap_or_default(),
        o.metadata.name.clone().unwrap_or_default(),
    )
}

fn as_json(kind: PolicyKind, o: &DynamicObject) -> serde_json::Value {
    let mut v = serde_json::to_value(o).unwrap_or_default();
    v["apiVersion"] = serde_json::json!(format!("{}/{}", kind.group, kind.version));
    v["kind"] = serde_json::json!(kind.kind);
    // Only what the parser reads: the server-side bookkeeping would only cost memory.
    if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        meta.remove("managedFields");
    }
    v
}

async fn watch_kind(
    client: kube::Client,
    kind: PolicyKind,
    state: Arc<Mutex<Snapshot>>,
    tx: Arc<watch::Sender<Snapshot>>,
) {
    let gvk = GroupVersionKind::gvk(kind.group, kind.version, kind.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, kind.plural);
    let api: Api<DynamicObject> = Api::all_with(client, &resource);
    publish(&state, &tx, |s| {
        s.kinds.insert(kind, KindState::Pending);
    });
    let mut pending_init: Option<BTreeMap<(PolicyKind, String, String), serde_json::Value>> = None;
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => pending_init = Some(BTreeMap::new()),
            Ok(Event::InitApply(o)) => {
                if let Some(init) = pending_init.as_mut() {
                    init.insert(key_of(kind, &o), as_json(kind, &o));
                }
            }
            Ok(Event::InitDone) => {
                let fresh = pending_init.take().unwrap_or_default();
                publish(&state, &tx, |s| {
                    s.objects.retain(|k, _| k.0 != kind);
                    s.objects.extend(fresh);
                    s.kinds.insert(kind, KindState::Synced);
                    s.listed.insert(kind);
                });
            }
            Ok(Event::Apply(o)) => publish(&state, &tx, |s| {
                s.objects.insert(key_of(kind, &o), as_json(kind, &o));
            }),
            Ok(Event::Delete(o)) => publish(&state, &tx, |s| {
                s.objects.remove(&key_of(kind, &o));
            }),
            Err(e) => {
                let absent = is_not_found(&e);
                let message = e.to_string();
                publish(&state, &tx, |s| {
                    if absent {
                        s.objects.retain(|k, _| k.0 != kind);
                        s.kinds.insert(kind, KindState::Absent);
                        s.listed.remove(&kind);
                    } else if s.kinds.get(&kind) != Some(&KindState::Absent) {
                        s.kinds.insert(kind, KindState::Failing(message));
                    }
                });
            }
        }
    }
}

fn is_not_found(e: &watcher::Error) -> bool {
    let api = match e {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) => e,
        watcher::Error::WatchFailed(e) => e,
        _ => return false,
    };
    matches!(api, kube::Error::Api(status) if status.code == 404)
}

impl Cluster {
    /// The pull secrets a pod of `namespace` would pull with, as kubelet orders them: the
    /// pod's own `imagePullSecrets`, then its service account's. Each is `(namespace/name,
    /// contents)` of a `.dockerconfigjson` or `.dockercfg` secret; missing secrets are skipped
    /// (kubelet only warns about them too).
    pub async fn pull_secrets(
        &self,
        namespace: &str,
        pod_secrets: &[String],
        service_account: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ClusterError> {
        use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
        let fail = |e: kube::Error| ClusterError(e.to_string());
        let mut names: Vec<String> = pod_secrets.to_vec();
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), namespace);
        if let Some(sa) = accounts.get_opt(service_account).await.map_err(fail)? {
            names.extend(sa.image_pull_secrets.into_iter().flatten().map(|r| r.name));
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let mut out = Vec::new();
        for name in names {
            let Some(secret) = secrets.get_opt(&name).await.map_err(fail)? else {
                continue;
            };
            let data = secret.data.unwrap_or_default();
            if let Some(config) = data
                .get(".dockerconfigjson")
                .or_else(|| data.get(".dockercfg"))
            {
                out.push((format!("{namespace}/{name}"), config.0.clone()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn synced_once_every_kind_is_listed_or_absent_and_stays_so_while_failing() {
        let mut s = Snapshot::default();
        assert!(!s.synced());
        s.kinds.insert(POLICY_KINDS[0], KindState::Synced);
        s.listed.insert(POLICY_KINDS[0]);
        s.kinds
            .insert(POLICY_KINDS[1], KindState::Failing("forbidden".into()));
        s.kinds.insert(POLICY_KINDS[2], KindState::Absent);
        assert!(!s.synced());
        assert_eq!(
            s.pending(),
            vec!["imagepolicies.config.openshift.io: forbidden"]
        );
        s.listed.insert(POLICY_KINDS[1]);
        assert!(s.synced(), "listed once, then failing: last objects kept");
        assert_eq!(
            s.failing(),
            vec!["imagepolicies.config.openshift.io: forbidden"]
        );
    }

    #[test]
    fn objects_parse_as_policies_and_errors_name_the_object() {
        let mut s = Snapshot::default();
        let kind = POLICY_KINDS[1];
        s.objects.insert(
            (kind, "team-a".into(), "ok".into()),
            serde_json::json!({"apiVersion": "config.openshift.io/v1", "kind": "ImagePolicy",
                "metadata": {"name": "ok", "namespace": "team-a"},
                "spec": {"scopes": ["example.com/a"], "policy": {"rootOfTrust": {"policyType": "PublicKey"}}}}),
        );
        s.objects.insert(
            (kind, "team-a".into(), "bad".into()),
            serde_json::json!({"apiVersion": "config.openshift.io/v1", "kind": "ImagePolicy",
                "metadata": {"name": "bad", "namespace": "team-a"}, "spec": {"scopes": 7}}),
        );
        let (policies, errors) = s.policies();
        assert_eq!(policies.len(), 1);
        assert_eq!(policies[0].0, "imagepolicies.config.openshift.io team-a/ok");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].starts_with("imagepolicies.config.openshift.io team-a/bad: "),
            "{errors:?}"
        );
    }
}
