//! A cache whose misses run once: concurrent lookups of a key being computed join the same
//! computation (single-flight), and finished values are kept for a TTL chosen per value (so
//! failures can be kept briefly and successes longer).
//!
//! The computation runs in its own task: a caller that gives up (its deadline passed) does not
//! cancel it, so the next caller finds the answer instead of starting over.

use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a lookup was served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A finished value within its TTL.
    Hit,
    /// A computation already running for the key.
    Joined,
    /// Nothing usable: this lookup started the computation.
    Miss,
}

#[derive(Clone)]
struct Done<V> {
    value: V,
    at: Instant,
    ttl: Duration,
}

impl<V> Done<V> {
    fn fresh(&self) -> bool {
        self.at.elapsed() < self.ttl
    }
}

type Flight<V> = Shared<BoxFuture<'static, Option<Done<V>>>>;

/// The cache. `V` is cloned out to every caller: keep it cheap (an `Arc` or a small enum).
pub struct FlightCache<K, V: Clone> {
    entries: Mutex<HashMap<K, Flight<V>>>,
    capacity: usize,
    ttl: Arc<dyn Fn(&V) -> Duration + Send + Sync>,
}

impl<K, V: Clone> std::fmt::Debug for FlightCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightCache")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<K, V> FlightCache<K, V>
where
    K: Eq + Hash + Clone + Send + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// An empty cache holding at most `capacity` keys, each value for `ttl(&value)`.
    pub fn new(capacity: usize, ttl: impl Fn(&V) -> Duration + Send + Sync + 'static) -> Self {
        FlightCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl: Arc::new(ttl),
        }
    }

    /// The value for `key`: cached, joined, or computed by `run` (spawned on the current tokio
    /// runtime) and kept for its TTL. `None` only if the computation panicked.
    pub async fn get_or_run<F>(&self, key: K, run: F) -> (Option<V>, Lookup)
    where
        F: Future<Output = V> + Send + 'static,
    {
        let (flight, lookup) = {
            let mut entries = match self.entries.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            match entries.get(&key).map(|f| (f.clone(), f.peek().cloned())) {
                Some((_, Some(Some(done)))) if done.fresh() => {
                    return (Some(done.value), Lookup::Hit)
                }
                Some((flight, None)) => (flight, Lookup::Joined),
                // A panicked computation is not kept: compute again.
                _ => {
                    if entries.len() >= self.capacity {
                        evict(&mut entries, self.capacity);
                    }
                    let ttl = self.ttl.clone();
                    let flight: Flight<V> = async move {
                        let value = std::panic::AssertUnwindSafe(run)
                            .catch_unwind()
                            .await
                            .ok()?;
                        let ttl = ttl(&value);
                        Some(Done {
                            value,
                            at: Instant::now(),
                            ttl,
                        })
                    }
                    .boxed()
                    .shared();
                    // Driven by its own task, so it completes (and its value is kept) even
                    // when every caller gave up waiting.
                    tokio::spawn(flight.clone());
                    entries.insert(key, flight.clone());
                    (flight, Lookup::Miss)
                }
            }
        };
        (flight.await.map(|done| done.value), lookup)
    }

    /// Forgets every entry (a new policy generation makes them unreachable anyway; this frees
    /// the memory at once).
    pub fn clear(&self) {
        match self.entries.lock() {
            Ok(mut guard) => guard.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }

    /// Keys held (running or finished, fresh or not).
    pub fn len(&self) -> usize {
        match self.entries.lock() {
            Ok(guard) => guard.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops stale entries; if that is not enough, the oldest finished ones down to three
/// quarters of the capacity (running ones are kept: callers are waiting on them), so that a
/// full cache loses its least recent answers, not all of them at once.
fn evict<K: Eq + Hash + Clone, V: Clone>(entries: &mut HashMap<K, Flight<V>>, capacity: usize) {
    entries.retain(|_, f| match f.peek() {
        None => true,
        Some(Some(done)) => done.fresh(),
        Some(None) => false,
    });
    if entries.len() < capacity {
        return;
    }
    let mut finished: Vec<(Instant, K)> = entries
        .iter()
        .filter_map(|(k, f)| match f.peek() {
            Some(Some(done)) => Some((done.at, k.clone())),
            _ => None,
        })
        .collect();
    finished.sort_unstable_by_key(|(at, _)| *at);
    let target = capacity - capacity / 4;
    let excess = entries.len().saturating_sub(target);
    for (_, key) in finished.into_iter().take(excess) {
        entries.remove(&key);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn long(_: &u32) -> Duration {
        Duration::from_secs(60)
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_computation() {
        let cache = Arc::new(FlightCache::<&str, u32>::new(16, long));
        let runs = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let runs = runs.clone();
            handles.push(tokio::spawn(async move {
                cache
                    .get_or_run("k", async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        7
                    })
                    .await
            }));
        }
        let mut lookups = Vec::new();
        for h in handles {
            let (v, lookup) = h.await.unwrap();
            assert_eq!(v, Some(7));
            lookups.push(lookup);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(lookups.iter().filter(|l| **l == Lookup::Miss).count(), 1);
        let (v, lookup) = cache.get_or_run("k", async { 8 }).await;
        assert_eq!((v, lookup), (Some(7), Lookup::Hit));
    }

    #[tokio::test]
    async fn expired_values_are_computed_again() {
        let cache = FlightCache::<&str, u32>::new(16, |_| Duration::ZERO);
        assert_eq!(cache.get_or_run("k", async { 1 }).await.0, Some(1));
        let (v, lookup) = cache.get_or_run("k", async { 2 }).await;
        assert_eq!((v, lookup), (Some(2), Lookup::Miss));
    }

    #[tokio::test]
    async fn a_caller_giving_up_does_not_cancel_the_computation() {
        let cache = Arc::new(FlightCache::<&str, u32>::new(16, long));
        let slow = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            5
        };
        let first =
            tokio::time::timeout(Duration::from_millis(10), cache.get_or_run("k", slow)).await;
        assert!(first.is_err(), "the first caller timed out");
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (v, lookup) = cache.get_or_run("k", async { 6 }).await;
        assert_eq!((v, lookup), (Some(5), Lookup::Hit));
    }

    #[tokio::test]
    async fn a_full_cache_drops_its_oldest_answers_only() {
        let cache = FlightCache::<u32, u32>::new(8, long);
        for k in 0..8 {
            cache.get_or_run(k, async move { k }).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        // The ninth key evicts the oldest down to 6 entries, then is added.
        cache.get_or_run(8, async { 8 }).await;
        assert_eq!(cache.len(), 7);
        assert_eq!(
            cache.get_or_run(0, async { 100 }).await,
            (Some(100), Lookup::Miss)
        );
        assert_eq!(
            cache.get_or_run(7, async { 100 }).await,
            (Some(7), Lookup::Hit)
        );
    }

    #[tokio::test]
    async fn capacity_is_kept_by_evicting_finished_entries() {
        let cache = FlightCache::<u32, u32>::new(4, long);
        for k in 0..20 {
            cache.get_or_run(k, async move { k }).await;
            assert!(cache.len() <= 4, "{} entries", cache.len());
        }
    }

    #[tokio::test]
    async fn a_panicking_computation_yields_none() {
        let cache = FlightCache::<&str, u32>::new(4, long);
        #[allow(clippy::panic)]
        let (v, _) = cache.get_or_run("k", async { panic!("boom") }).await;
        assert_eq!(v, None);
    }
}
