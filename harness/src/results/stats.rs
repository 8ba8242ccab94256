//! What a history shows, function by function: ok/fail/info counts and latencies,
//! and the rates of attempts and of successes (a client retrying a dead node makes
//! many attempts and few successes, and the two must not be confused).

use checker::history::{History, Outcome};
use serde::Serialize;
use std::collections::BTreeMap;

/// ok/fail/info counts of one function.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

/// Latency of completed (ok or fail) operations, in milliseconds.
#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

impl Latency {
    fn of(mut ns: Vec<u64>) -> Latency {
        ns.sort_unstable();
        Latency {
            count: ns.len(),
            p50: percentile(&ns, 50.0),
            p90: percentile(&ns, 90.0),
            p99: percentile(&ns, 99.0),
            max: ns.last().map(|&v| v as f64 / 1e6).unwrap_or(0.0),
        }
    }
}

/// What a history shows, function by function.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub ops: usize,
    pub counts: BTreeMap<String, Counts>,
    pub total: Counts,
    pub latency_ms: BTreeMap<String, Latency>,
    pub nemesis_events: usize,
    /// From the first to the last event, in seconds.
    pub duration_s: f64,
    /// Operations attempted per second over the run.
    pub attempts_per_s: f64,
    /// Operations that completed `ok`, per second over the run.
    pub ok_per_s: f64,
}

pub fn stats(history: &History) -> Stats {
    let mut s = Stats {
        ops: history.ops.len(),
        ..Stats::default()
    };
    let mut lat: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for op in &history.ops {
        let c = s.counts.entry(op.f.clone()).or_default();
        match op.outcome {
            Outcome::Ok => {
                c.ok += 1;
                s.total.ok += 1;
            }
            Outcome::Fail => {
                c.fail += 1;
                s.total.fail += 1;
            }
            Outcome::Info => {
                c.info += 1;
                s.total.info += 1;
            }
        }
        if op.outcome != Outcome::Info {
            lat.entry(op.f.clone())
                .or_default()
                .push(op.ret.saturating_sub(op.call));
        }
    }
    s.latency_ms = lat.into_iter().map(|(f, v)| (f, Latency::of(v))).collect();
    s.nemesis_events = history.nemesis_events().count();
    if let (Some(first), Some(last)) = (history.events.first(), history.events.last()) {
        s.duration_s = (last.time - first.time) as f64 / 1e9;
    }
    if s.duration_s > 0.0 {
        s.attempts_per_s = s.ops as f64 / s.duration_s;
        s.ok_per_s = s.total.ok as f64 / s.duration_s;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn stats_count_outcomes_and_latencies_per_function() {
        let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","key":1,"value":1}
{"index":1,"time":1000000,"process":1,"type":"invoke","f":"read","key":1}
{"index":2,"time":2000000,"process":0,"type":"ok","f":"write","key":1,"value":1}
{"index":3,"time":3000000,"process":1,"type":"fail","f":"read","key":1,"error":"timeout"}
{"index":4,"time":3000000,"process":"nemesis","type":"info","f":"kill","value":null}
{"index":5,"time":4000000,"process":0,"type":"invoke","f":"write","key":1,"value":2}
{"index":6,"time":9000000,"process":0,"type":"info","f":"write","key":1,"value":2}
"#,
        )
        .unwrap();
        let s = stats(&h);
        assert_eq!(
            s.counts["write"],
            Counts {
                ok: 1,
                fail: 0,
                info: 1
            }
        );
        assert_eq!(
            s.counts["read"],
            Counts {
                ok: 0,
                fail: 1,
                info: 0
            }
        );
        assert_eq!(
            s.total,
            Counts {
                ok: 1,
                fail: 1,
                info: 1
            }
        );
        assert_eq!(s.latency_ms["write"].p50, 2.0);
        assert_eq!(s.latency_ms["read"].max, 2.0);
        assert_eq!(s.nemesis_events, 1);
        assert!((s.duration_s - 0.009).abs() < 1e-9);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v[..1], 99.0), 1.0);
    }
}
