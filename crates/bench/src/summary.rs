//! Latency samples and how they are reported: nearest-rank percentiles over every sample
//! (no histogram buckets, no outlier removal), printed in microseconds or milliseconds.

use std::time::Duration;

/// Per-call durations of one measured operation, in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    nanos: Vec<u64>,
}

impl Samples {
    /// Records one call.
    pub fn push(&mut self, d: Duration) {
        self.nanos
            .push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds every sample of `other`.
    pub fn extend(&mut self, other: &Samples) {
        self.nanos.extend_from_slice(&other.nanos);
    }

    /// How many calls were recorded.
    pub fn len(&self) -> usize {
        self.nanos.len()
    }

    /// The statistics of the recorded calls; `None` when there are none.
    pub fn summary(&self) -> Option<Summary> {
        if self.nanos.is_empty() {
            return None;
        }
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        let total: u128 = sorted.iter().map(|&n| u128::from(n)).sum();
        let count = sorted.len();
        let mean = total / count as u128;
        Some(Summary {
            count,
            mean: Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX)),
            p50: Duration::from_nanos(nearest_rank(&sorted, 500)),
            p90: Duration::from_nanos(nearest_rank(&sorted, 900)),
            p99: Duration::from_nanos(nearest_rank(&sorted, 990)),
            p999: Duration::from_nanos(nearest_rank(&sorted, 999)),
            min: Duration::from_nanos(sorted[0]),
            max: Duration::from_nanos(sorted[count - 1]),
        })
    }
}

/// The percentile `permille / 10` of `sorted` (non-empty, ascending) by the nearest-rank method.
fn nearest_rank(sorted: &[u64], permille: usize) -> u64 {
    let rank = (permille * sorted.len()).div_ceil(1000).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// Statistics of a set of samples.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// Number of samples.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: Duration,
    /// Median (nearest rank).
    pub p50: Duration,
    /// 90th percentile (nearest rank).
    pub p90: Duration,
    /// 99th percentile (nearest rank; with fewer than 100 samples this is the maximum).
    pub p99: Duration,
    /// 99.9th percentile (nearest rank; with fewer than 1 000 samples this is the maximum).
    pub p999: Duration,
    /// Fastest sample.
    pub min: Duration,
    /// Slowest sample.
    pub max: Duration,
}

impl Summary {
    /// Calls per second one thread sustains at the mean latency.
    pub fn per_second(&self) -> f64 {
        let secs = self.mean.as_secs_f64();
        if secs > 0.0 {
            1.0 / secs
        } else {
            f64::INFINITY
        }
    }
}

/// A duration with a unit that keeps three or four significant digits.
pub fn human(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 1_000_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.3} s", micros / 1e6)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        for n in 1..=100u64 {
            s.push(Duration::from_micros(n));
        }
        let sum = s.summary().unwrap();
        assert_eq!(sum.p50, Duration::from_micros(50));
        assert_eq!(sum.p90, Duration::from_micros(90));
        assert_eq!(sum.p99, Duration::from_micros(99));
        assert_eq!(sum.p999, Duration::from_micros(100));
        assert_eq!(sum.min, Duration::from_micros(1));
        assert_eq!(sum.max, Duration::from_micros(100));
        assert_eq!(sum.mean, Duration::from_nanos(50_500));
    }

    #[test]
    fn p999_of_many_samples() {
        let mut s = Samples::default();
        for n in 1..=2_000u64 {
            s.push(Duration::from_micros(n));
        }
        let sum = s.summary().unwrap();
        assert_eq!(sum.p99, Duration::from_micros(1_980));
        assert_eq!(sum.p999, Duration::from_micros(1_998));
    }

    #[test]
    fn p99_of_few_samples_is_the_maximum() {
        let mut s = Samples::default();
        for n in [3u64, 1, 2] {
            s.push(Duration::from_millis(n));
        }
        let sum = s.summary().unwrap();
        assert_eq!(sum.p50, Duration::from_millis(2));
        assert_eq!(sum.p99, Duration::from_millis(3));
    }

    #[test]
    fn no_samples_no_summary() {
        assert!(Samples::default().summary().is_none());
    }
}
