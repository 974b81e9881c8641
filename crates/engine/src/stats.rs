//! Counters the admission path keeps for `/metrics`: lock-free, read at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram buckets, Prometheus style.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A cumulative latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// `(upper bound, cumulative count)` per bucket, then the total count and sum (seconds).
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}

/// Hit, join and miss counts of one cache.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Answered from a fresh entry.
    pub hits: AtomicU64,
    /// Joined a computation already running.
    pub joined: AtomicU64,
    /// Started a computation.
    pub misses: AtomicU64,
}

impl CacheStats {
    pub(crate) fn record(&self, lookup: crate::flight::Lookup) {
        let counter = match lookup {
            crate::flight::Lookup::Hit => &self.hits,
            crate::flight::Lookup::Joined => &self.joined,
            crate::flight::Lookup::Miss => &self.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the enforcer counts.
#[derive(Debug, Default)]
pub struct EnforcerStats {
    /// Verdicts per (image digest, policy, policy generation).
    pub verdicts: CacheStats,
    /// Tag -> digest resolutions.
    pub digests: CacheStats,
    /// Registry failures met while resolving or verifying.
    pub registry_errors: AtomicU64,
    /// Time spent verifying one image against one policy (cache misses only).
    pub verification_latency: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(9));
        let (buckets, count, sum) = h.snapshot();
        assert_eq!(count, 3);
        assert_eq!(buckets[0], (0.001, 1));
        assert_eq!(buckets[5], (0.05, 2));
        assert_eq!(buckets[11], (5.0, 2));
        assert!((sum - 9.0305).abs() < 1e-9, "{sum}");
    }
}
