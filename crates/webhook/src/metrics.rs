//! `/metrics` in the Prometheus text format (0.0.4), written by hand: a few counters, two
//! histograms, no registry crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sigward_engine::stats::{CacheStats, Histogram};
use sigward_engine::Enforcer;

/// Counters kept by the server itself.
#[derive(Debug, Default)]
pub struct ServerMetrics {
    reviews: Mutex<BTreeMap<(String, String, String, String), u64>>,
    /// Time to answer one review.
    pub review_latency: Histogram,
    /// Policy reloads that were put in force.
    pub policy_reloads_ok: AtomicU64,
    /// Policy reloads refused (the previous generation stayed).
    pub policy_reloads_failed: AtomicU64,
    /// Certificate reloads.
    pub tls_reloads_ok: AtomicU64,
    /// Certificate reloads refused.
    pub tls_reloads_failed: AtomicU64,
    /// Bodies that were not AdmissionReviews.
    pub malformed_reviews: AtomicU64,
    /// Policies in force that sigward cannot check (each denies what it covers).
    pub unenforceable_policies: AtomicU64,
}

impl ServerMetrics {
    /// Counts one answered review.
    pub fn review(&self, endpoint: &str, kind: &str, operation: &str, decision: &str) {
        let mut map = match self.reviews.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *map.entry((
            endpoint.to_owned(),
            kind.to_owned(),
            operation.to_owned(),
            decision.to_owned(),
        ))
        .or_default() += 1;
    }
}

/// Label values must escape `\`, `"` and newlines.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    let (buckets, count, sum) = h.snapshot();
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    for (bound, n) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
}

fn cache(out: &mut String, name: &str, c: &CacheStats) {
    for (result, v) in [("hit", &c.hits), ("joined", &c.joined), ("miss", &c.misses)] {
        let _ = writeln!(
            out,
            "sigward_cache_requests_total{{cache=\"{name}\",result=\"{result}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
}

/// A counter with `result="ok"` and `result="error"` series.
fn by_result(out: &mut String, name: &str, help: &str, ok: &AtomicU64, error: &AtomicU64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{result=\"ok\"}} {}\n{name}{{result=\"error\"}} {}",
        ok.load(Ordering::Relaxed),
        error.load(Ordering::Relaxed)
    );
}

/// The whole exposition.
pub fn render(server: &ServerMetrics, enforcer: Option<&Enforcer>) -> String {
    let mut out = String::new();
    out.push_str("# HELP sigward_admission_reviews_total Admission reviews answered.\n");
    out.push_str("# TYPE sigward_admission_reviews_total counter\n");
    let reviews = match server.reviews.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    for ((endpoint, kind, operation, decision), n) in reviews {
        let _ = writeln!(
            out,
            "sigward_admission_reviews_total{{endpoint=\"{}\",kind=\"{}\",operation=\"{}\",decision=\"{}\"}} {n}",
            label(&endpoint),
            label(&kind),
            label(&operation),
            label(&decision)
        );
    }
    let counter = |out: &mut String, name: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    };
    counter(
        &mut out,
        "sigward_malformed_reviews_total",
        "Request bodies that were not AdmissionReviews.",
        server.malformed_reviews.load(Ordering::Relaxed),
    );
    histogram(
        &mut out,
        "sigward_admission_review_duration_seconds",
        "Time to answer one admission review.",
        &server.review_latency,
    );
    by_result(
        &mut out,
        "sigward_policy_reloads_total",
        "Policy reloads by result.",
        &server.policy_reloads_ok,
        &server.policy_reloads_failed,
    );
    by_result(
        &mut out,
        "sigward_tls_reloads_total",
        "Serving certificate reloads by result.",
        &server.tls_reloads_ok,
        &server.tls_reloads_failed,
    );
    if let Some(enforcer) = enforcer {
        let stats = enforcer.stats();
        let policies = enforcer.policies();
        let _ = writeln!(
            out,
            "# HELP sigward_policy_generation Generation of the policies in force.\n# TYPE sigward_policy_generation gauge\nsigward_policy_generation {}",
            policies.generation()
        );
        let _ = writeln!(
            out,
            "# HELP sigward_policies Policy objects in force.\n# TYPE sigward_policies gauge\nsigward_policies {}",
            policies.len()
        );
        let _ = writeln!(
            out,
            "# HELP sigward_unenforceable_policies Policies in force that sigward cannot check: each denies every image it covers.\n# TYPE sigward_unenforceable_policies gauge\nsigward_unenforceable_policies {}",
            server.unenforceable_policies.load(Ordering::Relaxed)
        );
        histogram(
            &mut out,
            "sigward_verification_duration_seconds",
            "Time to verify one image against one policy (cache misses).",
            &stats.verification_latency,
        );
        out.push_str("# HELP sigward_cache_requests_total Cache lookups by cache and result.\n");
        out.push_str("# TYPE sigward_cache_requests_total counter\n");
        cache(&mut out, "verdict", &stats.verdicts);
        cache(&mut out, "digest", &stats.digests);
        let client = enforcer.engine().client().stats();
        counter(
            &mut out,
            "sigward_registry_requests_total",
            "Registry API requests (token requests excluded).",
            client.api_requests(),
        );
        counter(
            &mut out,
            "sigward_registry_auth_requests_total",
            "Registry round trips before the API requests: /v2/ pings, token requests, and HTTPS attempts a plain-HTTP registry refused.",
            client.auth_requests(),
        );
        counter(
            &mut out,
            "sigward_registry_errors_total",
            "Registry failures while resolving or verifying.",
            stats.registry_errors.load(Ordering::Relaxed),
        );
    }
    out
}
