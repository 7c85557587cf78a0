//! How long uplinks take from reception to the commit that made them durable, as a Prometheus
//! histogram fine enough to read p99.9 from (1 ms buckets up to 1 s).
//!
//! Only buckets that ever counted anything are rendered, so the exposition stays a few dozen
//! lines although the resolution is high; `histogram_quantile` works on such sparse buckets.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use jiff::Timestamp;

/// Bucket upper bounds, in milliseconds: 1 ms steps to 1 s, 10 ms steps to 10 s, 100 ms steps
/// to 60 s; later is counted only in `+Inf`.
const FINE_UNTIL_MS: u64 = 1_000;
const MEDIUM_UNTIL_MS: u64 = 10_000;
const COARSE_UNTIL_MS: u64 = 60_000;
const BUCKETS: usize = (FINE_UNTIL_MS
    + (MEDIUM_UNTIL_MS - FINE_UNTIL_MS) / 10
    + (COARSE_UNTIL_MS - MEDIUM_UNTIL_MS) / 100) as usize;

/// A latency histogram in milliseconds.
pub struct LatencyHistogram {
    /// Non-cumulative counts; the last one counts everything beyond [`COARSE_UNTIL_MS`].
    buckets: Box<[AtomicU64]>,
    sum_micros: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .finish()
    }
}

/// The bucket of a latency of `micros`: the first whose upper bound is at least it.
fn bucket_of(micros: u64) -> usize {
    let ms = micros.div_ceil(1_000);
    let index = if ms <= FINE_UNTIL_MS {
        ms.saturating_sub(1)
    } else if ms <= MEDIUM_UNTIL_MS {
        FINE_UNTIL_MS + (ms - FINE_UNTIL_MS).div_ceil(10) - 1
    } else if ms <= COARSE_UNTIL_MS {
        FINE_UNTIL_MS
            + (MEDIUM_UNTIL_MS - FINE_UNTIL_MS) / 10
            + (ms - MEDIUM_UNTIL_MS).div_ceil(100)
            - 1
    } else {
        return BUCKETS;
    };
    index as usize
}

/// The upper bound of bucket `index`, in milliseconds.
fn upper_bound_ms(index: usize) -> u64 {
    let index = index as u64;
    let fine = FINE_UNTIL_MS;
    let medium = (MEDIUM_UNTIL_MS - FINE_UNTIL_MS) / 10;
    if index < fine {
        index + 1
    } else if index < fine + medium {
        FINE_UNTIL_MS + (index - fine + 1) * 10
    } else {
        MEDIUM_UNTIL_MS + (index - fine - medium + 1) * 100
    }
}

impl LatencyHistogram {
    /// Counts one uplink that took from `since` to `until` (a clock going backwards counts 0).
    pub fn observe(&self, since: Timestamp, until: Timestamp) {
        let micros = until
            .duration_since(since)
            .as_micros()
            .clamp(0, i128::from(u64::MAX)) as u64;
        self.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Uplinks observed.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .map(|bucket| bucket.load(Ordering::Relaxed))
            .sum()
    }

    /// Appends the histogram as `name{from="…",le="…"}` series (seconds), non-empty buckets only.
    pub fn render(&self, out: &mut String, name: &str, from: &str) {
        let mut cumulative = 0;
        for (index, bucket) in self.buckets[..BUCKETS].iter().enumerate() {
            let count = bucket.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            cumulative += count;
            let le = upper_bound_ms(index) as f64 / 1_000.0;
            let _ = writeln!(
                out,
                "{name}_bucket{{from=\"{from}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.buckets[BUCKETS].load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "{name}_bucket{{from=\"{from}\",le=\"+Inf\"}} {cumulative}\n\
             {name}_sum{{from=\"{from}\"}} {sum}\n{name}_count{{from=\"{from}\"}} {cumulative}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_latency_falls_in_the_first_bucket_whose_bound_holds_it() {
        for (micros, bound_ms) in [
            (0, 1),
            (1, 1),
            (1_000, 1),
            (1_001, 2),
            (249_400, 250),
            (999_999, 1_000),
            (1_000_001, 1_010),
            (9_999_000, 10_000),
            (10_000_001, 10_100),
            (60_000_000, 60_000),
        ] {
            assert_eq!(upper_bound_ms(bucket_of(micros)), bound_ms, "{micros} µs");
        }
        assert_eq!(bucket_of(60_000_001), BUCKETS);
        assert_eq!(upper_bound_ms(BUCKETS - 1), COARSE_UNTIL_MS);
    }

    #[test]
    fn renders_cumulative_counts_of_the_buckets_used() {
        let histogram = LatencyHistogram::default();
        let at = |ms: i64| Timestamp::from_millisecond(ms).unwrap();
        histogram.observe(at(0), at(3));
        histogram.observe(at(0), at(3));
        histogram.observe(at(0), at(250));
        histogram.observe(at(0), at(90_000));
        histogram.observe(at(10), at(0));
        let mut out = String::new();
        histogram.render(&mut out, "x", "received");
        assert_eq!(
            out,
            "x_bucket{from=\"received\",le=\"0.001\"} 1\n\
             x_bucket{from=\"received\",le=\"0.003\"} 3\n\
             x_bucket{from=\"received\",le=\"0.25\"} 4\n\
             x_bucket{from=\"received\",le=\"+Inf\"} 5\n\
             x_sum{from=\"received\"} 90.256\n\
             x_count{from=\"received\"} 5\n"
        );
    }
}
