//! Benchmark: session guarantees and eventual consistency on a 1,000,000-operation
//! append history generated in-process. Ignored by default; run in release mode:
//!
//! ```text
//! cargo test -p checker --release --test consistency_bench -- --ignored --nocapture
//! ```
//!
//! `FAULTLINE_BENCH_OPS` (default 1000000) and `FAULTLINE_BENCH_WRITES_PER_KEY`
//! (default 64; Elle's append workload uses 16–32) change the shape. The run asserts
//! the verdicts (a correct history is valid; one with stale reads injected is not) and
//! prints the timings; the target is all checks in under 5 s.

use checker::consistency::append_index::AppendIndex;
use checker::consistency::eventual::{self, Collection, EventualOptions};
use checker::consistency::session::{self, SessionOptions};
use checker::history::{Event, EventType, History, Operation, Outcome, Process};
use checker::verdict::Verdict;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A history of a correct (linearizable) list store: 16 clients, 8 keys open at a
/// time, each key retired after `per_key` appends, half appends and half reads, each
/// operation overlapping the next two; then a partition, a heal, and final reads of
/// every key from three nodes. With `stale`, that fraction of reads returns a random
/// shorter prefix.
fn generate(n_ops: usize, per_key: usize, stale: f64, seed: u64) -> History {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ops: Vec<Operation> = Vec::with_capacity(n_ops);
    let mut lists: Vec<Vec<Value>> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut next_elem = 0u64;
    let finals_budget = 3 * (n_ops / 2 / per_key + 8);
    let body = n_ops.saturating_sub(finals_budget);
    for i in 0..body {
        while open.len() < 8 {
            lists.push(Vec::new());
            open.push(lists.len() - 1);
        }
        let slot = rng.gen_range(0..open.len());
        let key = open[slot];
        let t = i as u64 * 100;
        let process = i as u64 % CLIENTS;
        if rng.gen_bool(0.5) {
            next_elem += 1;
            lists[key].push(json!(next_elem));
            let append = ("append", json!(next_elem), Value::Null);
            push_op(&mut ops, process, key, append, t, None);
            if lists[key].len() >= per_key {
                open.swap_remove(slot);
            }
        } else {
            let list = &lists[key];
            let len = if stale > 0.0 && rng.gen_bool(stale) {
                rng.gen_range(0..=list.len())
            } else {
                list.len()
            };
            let read = ("read", Value::Null, Value::Array(list[..len].to_vec()));
            push_op(&mut ops, process, key, read, t, None);
        }
    }
    let heal = body as u64 * 100 + 1_000;
    let mut t = heal + 1_000_000;
    for (key, list) in lists.iter().enumerate() {
        for (n, node) in ["n1", "n2", "n3"].iter().enumerate() {
            let read = ("final-read", Value::Null, Value::Array(list.clone()));
            push_op(&mut ops, CLIENTS + n as u64, key, read, t, Some(node));
            t += 300;
        }
    }
    let events = vec![
        Event::new(
            0,
            1_000,
            Process::Nemesis,
            EventType::Info,
            "start-partition",
        ),
        Event::new(1, heal, Process::Nemesis, EventType::Info, "stop-partition"),
    ];
    History { events, ops }
}

/// The clients of [`generate`]'s histories (the final reads use the next three).
const CLIENTS: u64 = 16;

/// Appends one acknowledged operation `(f, input, output)` on `key`, invoked at `t`
/// and completed 250 ns later (so it overlaps the next two).
fn push_op(
    ops: &mut Vec<Operation>,
    process: u64,
    key: usize,
    (f, input, output): (&str, Value, Value),
    t: u64,
    node: Option<&str>,
) {
    let id = ops.len();
    ops.push(Operation {
        id,
        process,
        f: f.to_string(),
        key: Some(json!(key)),
        input,
        output,
        outcome: Outcome::Ok,
        call: t,
        ret: t + 250,
        invoke_index: 2 * id as u64,
        complete_index: Some(2 * id as u64 + 1),
        node: node.map(str::to_string),
        error: None,
        version: None,
    });
}

fn run(label: &str, h: &History) -> (Verdict, Verdict, f64) {
    let n_elems: usize = h
        .ops
        .iter()
        .filter_map(|o| o.output.as_array())
        .map(Vec::len)
        .sum();
    println!(
        "{label}: {} operations, {} list elements in reads",
        h.ops.len(),
        n_elems
    );
    let t0 = Instant::now();
    let ix = AppendIndex::build(h).unwrap();
    let t_index = t0.elapsed();
    let t1 = Instant::now();
    let s = session::check_indexed(h, &ix, &SessionOptions::default());
    let t_session = t1.elapsed();
    let t2 = Instant::now();
    let e =
        eventual::check_append_indexed(h, &ix, &EventualOptions::new(Collection::Append)).unwrap();
    let t_eventual = t2.elapsed();
    let total = t0.elapsed();
    println!(
        "  index {:.3} s ({} trie nodes), session {:.3} s, eventual {:.3} s, total {:.3} s",
        t_index.as_secs_f64(),
        ix.nodes.len(),
        t_session.as_secs_f64(),
        t_eventual.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "  session {} (MR violations {}), eventual {} (stable {}, stale {}, lost {})",
        s.verdict,
        s.monotonic_reads.violations.count,
        e.verdict,
        e.elements.as_ref().unwrap().stable,
        e.elements.as_ref().unwrap().stale,
        e.elements.as_ref().unwrap().lost
    );
    let t3 = Instant::now();
    let _ = session::check(h, &SessionOptions::default()).unwrap();
    let _ = eventual::check(h, &EventualOptions::new(Collection::Append)).unwrap();
    println!(
        "  the two public entry points separately (each indexing): {:.3} s",
        t3.elapsed().as_secs_f64()
    );
    (s.verdict, e.verdict, total.as_secs_f64())
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn million_operation_append_history() {
    let n = env("FAULTLINE_BENCH_OPS", 1_000_000);
    let per_key = env("FAULTLINE_BENCH_WRITES_PER_KEY", 64);
    let h = generate(n, per_key, 0.0, 1);
    let (s, e, total) = run("correct", &h);
    assert_eq!((s, e), (Verdict::Valid, Verdict::Valid));
    drop(h);
    let h = generate(n, per_key, 0.01, 2);
    let (s, _, total_stale) = run("1% stale reads", &h);
    assert_eq!(s, Verdict::Invalid);
    println!("target: under 5 s each; measured {total:.3} s and {total_stale:.3} s");
}
