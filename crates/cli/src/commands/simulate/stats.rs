//! Latency figures and error counts of a simulation.

use std::collections::BTreeMap;
use std::time::Duration;

use jeton_client::ClientError;
use serde::Serialize;

/// Latencies of one kind of request, in microseconds, and its failures.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub micros: Vec<u64>,
    pub errors: u64,
}

impl Samples {
    pub fn ok(&mut self, took: Duration) {
        self.micros
            .push(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Samples) {
        self.micros.extend(other.micros);
        self.errors += other.errors;
    }

    pub fn summary(&self) -> Latency {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let ms = |us: u64| us as f64 / 1000.0;
        let total: u128 = sorted.iter().map(|&u| u128::from(u)).sum();
        Latency {
            count: sorted.len() as u64,
            errors: self.errors,
            mean_ms: if sorted.is_empty() {
                0.0
            } else {
                ms((total / sorted.len() as u128) as u64)
            },
            p50_ms: ms(percentile(&sorted, 50.0)),
            p95_ms: ms(percentile(&sorted, 95.0)),
            p99_ms: ms(percentile(&sorted, 99.0)),
            max_ms: ms(sorted.last().copied().unwrap_or(0)),
        }
    }
}

/// What the summary shows of one kind of request (successful ones; `errors` failed).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub errors: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The nearest-rank percentile of sorted values (0 for none).
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The stable name of a failure: the server's code, or `transport` / `decode`.
pub fn error_code(e: &ClientError) -> String {
    match e {
        ClientError::Api(p) => p.code.clone(),
        ClientError::Transport(_) => "transport".into(),
        ClientError::Decode(_) => "decode".into(),
    }
}

/// Counts by name.
pub type Counts = BTreeMap<String, u64>;

pub fn add(counts: &mut Counts, name: impl Into<String>, n: u64) {
    *counts.entry(name.into()).or_default() += n;
}

pub fn merge(into: &mut Counts, from: &Counts) {
    for (k, v) in from {
        add(into, k.clone(), *v);
    }
}

/// `insufficient_tokens 3, not_assigned 1`, or `-`.
pub fn show_counts(counts: &Counts) -> String {
    if counts.is_empty() {
        return "-".into();
    }
    counts
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[1, 2], 0.0), 1);
    }

    #[test]
    fn summaries_are_in_milliseconds() {
        let mut s = Samples::default();
        for us in [1000, 2000, 3000, 4000] {
            s.ok(Duration::from_micros(us));
        }
        s.errors = 2;
        let l = s.summary();
        assert_eq!((l.count, l.errors), (4, 2));
        assert_eq!(
            (l.p50_ms, l.p99_ms, l.max_ms, l.mean_ms),
            (2.0, 4.0, 4.0, 2.5)
        );
        let mut counts = Counts::new();
        add(&mut counts, "b", 1);
        add(&mut counts, "a", 2);
        add(&mut counts, "b", 1);
        assert_eq!(show_counts(&counts), "a 2, b 2");
        assert_eq!(show_counts(&Counts::new()), "-");
    }
}
