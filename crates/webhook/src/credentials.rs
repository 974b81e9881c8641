//! Cluster mode: registry credentials of the pod under review, from its pull secrets.
//!
//! The pod spec's `imagePullSecrets` and its service account's (default `default`) are read
//! from the API, briefly cached per (namespace, secret names, service account), and turned
//! into an engine whose registry client tries them first. Without pull secrets the shared
//! engine is used. Secrets read again unchanged get the same engine back, so the registry
//! tokens it holds outlive the 30 s cache of the API read.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sigward_cluster::Cluster;
use sigward_engine::{Engine, FlightCache};

/// How long pull secrets read from the API are reused.
const PULL_SECRET_TTL: Duration = Duration::from_secs(30);

/// How long a failure to read them is reused (so that a missing permission does not cost an
/// API call per review).
const PULL_SECRET_FAILURE_TTL: Duration = Duration::from_secs(5);

type Key = (String, Vec<String>, String);

/// Pull secrets as read: (namespace/name, docker config JSON) per secret.
type Secrets = Vec<(String, Vec<u8>)>;

/// At most this many distinct secret sets keep an engine; past it, all are dropped at once
/// (and rebuilt on their next use).
const MAX_ENGINES: usize = 1024;

/// Values built once per distinct pull-secret content.
#[derive(Debug)]
struct ByContent<E> {
    values: Mutex<HashMap<Secrets, E>>,
}

impl<E: Clone> ByContent<E> {
    fn new() -> Self {
        ByContent {
            values: Mutex::new(HashMap::new()),
        }
    }

    fn get_or_build(&self, secrets: Secrets, build: impl FnOnce(Secrets) -> E) -> E {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = values.get(&secrets) {
            return value.clone();
        }
        if values.len() >= MAX_ENGINES {
            values.clear();
        }
        let value = build(secrets.clone());
        values.insert(secrets, value.clone());
        value
    }
}

/// Engines per pull-secret set.
pub struct PullSecrets {
    cluster: Cluster,
    base: Engine,
    engines: FlightCache<Key, Result<Option<Engine>, String>>,
    by_content: Arc<ByContent<Engine>>,
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
            by_content: Arc::new(ByContent::new()),
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
        let by_content = self.by_content.clone();
        let namespace = namespace.to_owned();
        let run = async move {
            let secrets = cluster
                .pull_secrets(&namespace, &names, &account)
                .await
                .map_err(|e| format!("reading the pull secrets of namespace {namespace}: {e}"))?;
            if secrets.is_empty() {
                return Ok(None);
            }
            Ok(Some(by_content.get_or_build(secrets, |secrets| {
                Engine::new(base.client().with_pull_secrets(secrets))
            })))
        };
        let (result, _) = self.engines.get_or_run(key, run).await;
        result.unwrap_or_else(|| Err("internal error: reading pull secrets failed".into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn unchanged_secrets_reuse_what_was_built_for_them() {
        let cache = ByContent::new();
        let builds = std::cell::Cell::new(0);
        let secrets = |data: &str| vec![("s".to_string(), data.as_bytes().to_vec())];
        let build = |_: Secrets| {
            builds.set(builds.get() + 1);
            builds.get()
        };
        assert_eq!(cache.get_or_build(secrets("a"), build), 1);
        assert_eq!(cache.get_or_build(secrets("a"), build), 1);
        assert_eq!(cache.get_or_build(secrets("b"), build), 2);
        assert_eq!(cache.get_or_build(secrets("a"), build), 1);
        assert_eq!(builds.get(), 2);
        for n in 0..MAX_ENGINES {
            cache.get_or_build(secrets(&n.to_string()), |_| 0);
        }
        assert!(cache.values.lock().unwrap().len() <= MAX_ENGINES);
    }
}
