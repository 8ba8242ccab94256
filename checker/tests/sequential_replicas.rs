//! Histories of a replicated log whose reads are served by lagging replicas, as
//! etcd's serializable reads are: every process sees one order of writes (the log),
//! its own writes and compare-and-sets included, but its reads may be stale. Such a
//! history is sequentially consistent, and with stale reads not linearizable; the
//! log commits concurrent writes in completion order, which is not always their
//! invocation order. The sequential check must prove these valid from the keys'
//! orders (`saturate`, `merge`), without falling back to the whole-history search,
//! which does not finish on histories of this size.

use checker::history::{Event, EventType, History, Process};
use checker::model::cas_register::CasRegister;
use checker::sequential::{check, Basis, Options};
use checker::verdict::Verdict;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Duration;

/// An operation in flight: function, key, invocation value.
type Pending = (&'static str, usize, Value);

/// The shape of one generated run.
struct Cluster {
    ops: usize,
    keys: usize,
    processes: usize,
    replicas: usize,
}

/// The value of `key` after the first `upto` entries of the log.
fn value_at(log: &[(usize, u64)], upto: usize, key: usize) -> Value {
    log[..upto]
        .iter()
        .rev()
        .find(|(k, _)| *k == key)
        .map_or(Value::Null, |(_, v)| json!(v))
}

/// A run of the replicated log (module doc): writes and compare-and-sets take effect
/// in the log when they complete, and the process's replica then catches up to the
/// end of the log; a read returns its replica's value; replicas catch up at random.
/// Every written value is unique.
fn replicated_log_history(seed: u64, cluster: &Cluster) -> History {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut log: Vec<(usize, u64)> = Vec::new();
    let mut applied = vec![0usize; cluster.replicas];
    let mut pending: Vec<Option<Pending>> = vec![None; cluster.processes];
    let mut written = 0u64;
    let mut started = 0;
    let mut events = Vec::new();
    while started < cluster.ops || pending.iter().any(Option::is_some) {
        let lagging = rng.gen_range(0..cluster.replicas);
        if rng.gen_bool(0.1) {
            applied[lagging] = rng.gen_range(applied[lagging]..=log.len());
        }
        let p = rng.gen_range(0..cluster.processes);
        let replica = p % cluster.replicas;
        let i = events.len() as u64;
        let event = |kind, f: &str, key: usize, value: Value| {
            Event::new(i, i, Process::Client(p as u64), kind, f)
                .with_key(json!(key))
                .with_value(value)
        };
        match pending[p].take() {
            None if started < cluster.ops => {
                let key = rng.gen_range(0..cluster.keys);
                let (f, value) = match rng.gen_range(0..10) {
                    0..=3 => {
                        written += 1;
                        ("write", json!(written))
                    }
                    4..=7 => ("read", Value::Null),
                    _ => {
                        // Mostly the current value, so that many succeed.
                        let old = if rng.gen_bool(0.6) {
                            value_at(&log, log.len(), key)
                        } else {
                            value_at(&log, rng.gen_range(0..=log.len()), key)
                        };
                        written += 1;
                        ("cas", json!([old, written]))
                    }
                };
                events.push(event(EventType::Invoke, f, key, value.clone()));
                pending[p] = Some((f, key, value));
                started += 1;
            }
            None => {}
            Some(("read", key, _)) => {
                let seen = value_at(&log, applied[replica], key);
                events.push(event(EventType::Ok, "read", key, seen));
            }
            Some((f, key, value)) => {
                let new = if f == "write" { &value } else { &value[1] };
                let takes = f == "write" || value_at(&log, log.len(), key) == value[0];
                if takes {
                    log.push((key, new.as_u64().expect("written values are numbers")));
                    events.push(event(EventType::Ok, f, key, value));
                } else {
                    let failed = event(EventType::Fail, f, key, value);
                    events.push(failed.with_error("cas-mismatch"));
                }
                applied[replica] = log.len();
            }
        }
    }
    History::from_events(events).expect("generated histories are well formed")
}

#[test]
fn lagging_replicas_of_one_log_are_proven_sequentially_consistent_without_the_search() {
    let cluster = Cluster {
        ops: 3000,
        keys: 8,
        processes: 12,
        replicas: 3,
    };
    let options = Options {
        timeout: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let mut reordered = 0;
    for seed in 1..=6 {
        let history = replicated_log_history(seed, &cluster);
        let lin = checker::linearizability::check(
            &history,
            &CasRegister::default(),
            &checker::linearizability::Options::default(),
        )
        .unwrap();
        assert_eq!(lin.verdict, Verdict::Invalid, "seed {seed}: stale reads");
        let report = check(&history, &CasRegister::default(), &options).unwrap();
        let whole = report
            .whole
            .as_ref()
            .expect("several keys: a whole-history verdict");
        assert_eq!(
            (report.verdict, report.basis),
            (Verdict::Valid, Basis::WholeHistory),
            "seed {seed}: {whole:#?}"
        );
        assert_ne!(whole.method, "search", "seed {seed}: decided by the search");
        reordered += usize::from(whole.method.contains("reordered"));
    }
    // Where the log's order of concurrent writes is not the one the constraints
    // suggest, the merge only succeeds once writes are reordered (`repair`).
    assert!(reordered >= 1, "no run needed writes reordered");
}
