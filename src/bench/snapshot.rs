//! The server's counters at one instant (its `/metrics` text), and what changed between two.

use std::collections::HashMap;

/// The latency histogram the server keeps (`app_server::latency`).
const LATENCY: &str = "meterd_ingest_latency_seconds_bucket";

/// Every series of a `/metrics` text, by its name with labels.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    series: HashMap<String, f64>,
}

impl Snapshot {
    /// Reads the Prometheus text format (comments skipped, `name{labels} value` lines).
    pub fn parse(text: &str) -> Self {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Snapshot { series }
    }

    /// A series' value (0 when absent).
    pub fn value(&self, series: &str) -> f64 {
        self.series.get(series).copied().unwrap_or(0.0)
    }

    /// How much `series` grew since `before`.
    pub fn delta(&self, before: &Snapshot, series: &str) -> u64 {
        (self.value(series) - before.value(series)).max(0.0) as u64
    }

    /// The series of metric `name` that grew since `before`, as `(labels, growth)`.
    pub fn grown(&self, before: &Snapshot, name: &str) -> Vec<(String, u64)> {
        let mut grown: Vec<(String, u64)> = self
            .series
            .keys()
            .filter(|series| {
                series
                    .strip_prefix(name)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('{'))
            })
            .map(|series| (series[name.len()..].to_owned(), self.delta(before, series)))
            .filter(|(_, grown)| *grown > 0)
            .collect();
        grown.sort();
        grown
    }

    /// The latency histogram of uplinks committed since `before`, measured `from` the gateway's
    /// time or the server's reception.
    pub fn latency(&self, before: &Snapshot, from: &str) -> Latencies {
        let earlier = before.buckets(from);
        let buckets = self
            .buckets(from)
            .into_iter()
            .map(|(bound, cumulative)| {
                // Only buckets that counted something are rendered: one missing before had the
                // cumulative count of the nearest bucket below it.
                let before = earlier
                    .iter()
                    .take_while(|(earlier, _)| *earlier <= bound)
                    .last()
                    .map_or(0, |(_, count)| *count);
                (bound, cumulative.saturating_sub(before))
            })
            .collect();
        Latencies { buckets }
    }

    /// The cumulative buckets of the latency histogram `from`, by upper bound in milliseconds.
    fn buckets(&self, from: &str) -> Vec<(f64, u64)> {
        let prefix = format!("{LATENCY}{{from=\"{from}\",le=\"");
        let mut buckets: Vec<(f64, u64)> = self
            .series
            .iter()
            .filter_map(|(series, count)| {
                let le = series.strip_prefix(&prefix)?.strip_suffix("\"}")?;
                let seconds = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((seconds * 1_000.0, *count as u64))
            })
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        buckets
    }
}

/// Cumulative counts of a latency histogram by upper bound in milliseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    buckets: Vec<(f64, u64)>,
}

impl Latencies {
    /// Uplinks counted.
    pub fn count(&self) -> u64 {
        self.buckets.last().map_or(0, |(_, count)| *count)
    }

    /// The upper bound of the bucket holding quantile `q` (so at most 1 ms above the true value
    /// below 1 s), infinite beyond the histogram's range, `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        self.buckets
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(bound, _)| *bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "# HELP x\n\
        meterd_uplinks_stored_total 10\n\
        meterd_dropped_total{stage=\"gwmp\",cause=\"malformed\"} 1\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"0.201\"} 5\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"+Inf\"} 5\n";

    const AFTER: &str = "meterd_uplinks_stored_total 1010\n\
        meterd_dropped_total{stage=\"gwmp\",cause=\"malformed\"} 1\n\
        meterd_dropped_total{stage=\"dedup\",cause=\"queue_full\"} 3\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"0.201\"} 905\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"0.25\"} 995\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"1.5\"} 1004\n\
        meterd_ingest_latency_seconds_bucket{from=\"received\",le=\"+Inf\"} 1005\n";

    #[test]
    fn counts_what_grew_between_two_snapshots() {
        let (before, after) = (Snapshot::parse(BEFORE), Snapshot::parse(AFTER));
        assert_eq!(after.delta(&before, "meterd_uplinks_stored_total"), 1000);
        assert_eq!(
            after.grown(&before, "meterd_dropped_total"),
            [("{stage=\"dedup\",cause=\"queue_full\"}".to_owned(), 3)]
        );
    }

    #[test]
    fn quantiles_are_the_bounds_of_the_buckets_holding_them() {
        let latencies = Snapshot::parse(AFTER).latency(&Snapshot::parse(BEFORE), "received");
        assert_eq!(latencies.count(), 1000);
        // 900 of 1000 within 201 ms, 990 within 250 ms, 999 within 1.5 s, one beyond.
        assert_eq!(latencies.quantile(0.5), Some(201.0));
        assert_eq!(latencies.quantile(0.9), Some(201.0));
        assert_eq!(latencies.quantile(0.99), Some(250.0));
        assert_eq!(latencies.quantile(0.999), Some(1_500.0));
        assert_eq!(latencies.quantile(1.0), Some(f64::INFINITY));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }
}
