//! Cluster mode: registry credentials of the pod under review, from its pull secrets.
//!
//! The pod spec's `imagePullSecrets` and its service account's (default `default`) are read
//! from the API, briefly cached per (namespace, secret names, service account), and turned
//! into an engine whose registry client tries them first. Without pull secrets the shared
//! engine is used.

use serde_json::Value;
use std::time::Duration;

use sigward_cluster::Cluster;
use sigward_engine::{Engine, FlightCache};

/// How long pull secrets read from the API are reused.
const PULL_SECRET_TTL: Duration = Duration::from_secs(30);

/// How long a failure to read them is reused (so that a missing permission does not cost an
/// API call per review).
const PULL_SECRET_FAILURE_TTL: Duration = Duration::from_secs(5);

type Key = (String, Vec<String>, String);

/// Engines per pull-secret set.
pub struct PullSecrets {
    cluster: Cluster,
    base: Engine,
    engines: FlightCache<Key, Result<Option<Engine>, String>>,
}

impl std::fmt::Debug for PullSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PullSecrets")
    }
}

impl PullSecrets {
    /// Pull secrets read through `cluster`, layered on `base`'s registry client.
    pub fn new(cluster: Cluster, base: Engine) -> Self {
        PullSecrets {
            cluster,
            base,
            engines: FlightCache::new(1024, |v: &Result<Option<Engine>, String>| {
                if v.is_ok() {
                    PULL_SECRET_TTL
                } else {
                    PULL_SECRET_FAILURE_TTL
                }
            }),
        }
    }

    /// The engine for a pod spec in `namespace`: `None` when it has no pull secrets.
    pub async fn engine_for(
        &self,
        namespace: &str,
        spec: &Value,
    ) -> Result<Option<Engine>, String> {
        let names: Vec<String> = spec
            .get("imagePullSecrets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        let account = spec
            .get("serviceAccountName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
            .to_owned();
        let key = (namespace.to_owned(), names.clone(), account.clone());
        let cluster = self.cluster.clone();
        let base = self.base.clone();
        let namespace = namespace.to_owned();
        let run = async move {
            let secrets = cluster
                .pull_secrets(&namespace, &names, &account)
                .await
                .map_err(|e| format!("reading the pull secrets of namespace {namespace}: {e}"))?;
            if secrets.is_empty() {
                return Ok(None);
            }
            Ok(Some(Engine::new(base.client().with_pull_secrets(secrets))))
        };
        let (result, _) = self.engines.get_or_run(key, run).await;
        result.unwrap_or_else(|| Err("internal error: reading pull secrets failed".into()))
    }
}
