//! Sequential consistency on hand-built histories: each one a case the definition
//! decides, and what the report says about it.

use checker::history::{Event, EventType, History, Process};
use checker::linearizability;
use checker::model::cas_register::CasRegister;
use checker::model::kv::Kv;
use checker::model::register::REGISTER;
use checker::sequential::{check, Basis, Options, StopReason};
use checker::synth::{generate, SynthModel, SynthOptions};
use checker::verdict::Verdict;
use serde_json::{json, Value};
use std::time::Duration;

/// One operation: process, f, key, invocation value, completion (`ok` value,
/// `fail`, `info` or `None` for never), invoke time, completion time.
struct Op {
    p: u64,
    f: &'static str,
    key: Option<Value>,
    input: Value,
    end: End,
    from: u64,
    to: u64,
}

enum End {
    Ok(Value),
    Fail(&'static str),
    Info,
    Never,
}

fn op(p: u64, f: &'static str, input: Value, end: End, from: u64, to: u64) -> Op {
    Op {
        p,
        f,
        key: None,
        input,
        end,
        from,
        to,
    }
}

fn keyed(mut o: Op, key: &str) -> Op {
    o.key = Some(json!(key));
    o
}

fn history(ops: Vec<Op>) -> History {
    let mut timed: Vec<(u64, usize, Event)> = Vec::new();
    for (n, o) in ops.iter().enumerate() {
        let mut invoke = Event::new(0, o.from, Process::Client(o.p), EventType::Invoke, o.f)
            .with_value(o.input.clone());
        if let Some(k) = &o.key {
            invoke = invoke.with_key(k.clone());
        }
        timed.push((o.from, 2 * n, invoke));
        let (kind, value, error) = match &o.end {
            End::Ok(v) => (EventType::Ok, v.clone(), None),
            End::Fail(e) => (EventType::Fail, o.input.clone(), Some(*e)),
            End::Info => (EventType::Info, o.input.clone(), None),
            End::Never => continue,
        };
        let mut done = Event::new(0, o.to, Process::Client(o.p), kind, o.f).with_value(value);
        if let Some(k) = &o.key {
            done = done.with_key(k.clone());
        }
        if let Some(e) = error {
            done = done.with_error(e);
        }
        timed.push((o.to, 2 * n + 1, done));
    }
    timed.sort_by_key(|(t, n, _)| (*t, *n));
    let events = timed
        .into_iter()
        .enumerate()
        .map(|(i, (_, _, mut e))| {
            e.index = i as u64;
            e
        })
        .collect();
    History::from_events(events).expect("hand-built histories are well formed")
}

fn w(p: u64, v: i64, from: u64, to: u64) -> Op {
    op(p, "write", json!(v), End::Ok(json!(v)), from, to)
}

fn r(p: u64, v: Value, from: u64, to: u64) -> Op {
    op(p, "read", Value::Null, End::Ok(v), from, to)
}

fn linearizable(h: &History) -> Verdict {
    linearizability::check(h, &REGISTER, &Default::default())
        .unwrap()
        .verdict
}

fn both_ways(h: &History) -> Vec<checker::sequential::Report> {
    [true, false]
        .into_iter()
        .map(|first| {
            let options = Options {
                linearizability_first: first,
                ..Options::default()
            };
            check(h, &REGISTER, &options).unwrap()
        })
        .collect()
}

#[test]
fn stale_but_ordered_reads_are_sequential_not_linearizable() {
    // p1 reads nil after p0's write of 1 finished, then reads 1: stale, but p1 sees
    // the writes in the one order everyone does.
    let h = history(vec![
        w(0, 1, 0, 10),
        r(1, json!(null), 20, 30),
        r(1, json!(1), 40, 50),
    ]);
    assert_eq!(linearizable(&h), Verdict::Invalid);
    for report in both_ways(&h) {
        assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        assert_eq!(report.basis, Basis::WholeHistory);
        assert_eq!(report.keys[0].method, "search");
    }
}

#[test]
fn a_linearizable_history_is_sequential_by_implication() {
    let h = history(vec![w(0, 1, 0, 10), r(1, json!(1), 20, 30)]);
    let report = check(&h, &REGISTER, &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_eq!(report.basis, Basis::Linearizability);
    assert_eq!(report.keys[0].method, "linearizable");
}

#[test]
fn reading_back_an_older_value_than_ones_own_write_is_not_sequential() {
    // Read-your-writes: p0 writes 1, then reads nil. No order puts the read of nil
    // after p0's own write.
    let h = history(vec![
        w(0, 1, 0, 10),
        r(0, json!(null), 20, 30),
        w(1, 2, 0, 40),
    ]);
    for report in both_ways(&h) {
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
        let e = report.evidence.as_ref().expect("a violation has evidence");
        assert!(!e.whole_history);
        assert!(e.processes.contains(&0), "{e}");
        let read = e
            .blocked
            .iter()
            .find(|b| b.op.f == "read")
            .expect("the read is blocked");
        assert_eq!(read.op.process, 0);
        assert!(
            read.reason.contains(
                "cannot happen in state 1, and no operation left to order sets it to nil"
            ),
            "{e}"
        );
        // Process 0's write comes before its read in every order.
        assert!(e.prefix.contains(&0), "{e}");
        let text = e.to_string();
        assert!(text.contains("(process 0, read null -> ok"), "{text}");
    }
}

#[test]
fn seeing_two_writes_in_opposite_orders_is_not_sequential() {
    // p2 sees 1 then 2, p3 sees 2 then 1: no single order of the writes.
    let h = history(vec![
        w(0, 1, 0, 100),
        w(1, 2, 0, 100),
        r(2, json!(1), 10, 20),
        r(2, json!(2), 30, 40),
        r(3, json!(2), 10, 20),
        r(3, json!(1), 30, 40),
    ]);
    for report in both_ways(&h) {
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
        let e = report.evidence.unwrap();
        assert!(!e.processes.is_empty(), "{e}");
    }
}

/// The classic example (Dekker): each process writes its own register, then reads
/// the other's and finds it unwritten. Each register on its own has an order (the
/// read first), the two together have none: somebody's write came first.
fn dekker() -> History {
    history(vec![
        keyed(w(0, 1, 0, 10), "x"),
        keyed(r(0, json!(null), 20, 30), "y"),
        keyed(w(1, 1, 40, 50), "y"),
        keyed(r(1, json!(null), 60, 70), "x"),
    ])
}

#[test]
fn sequential_per_key_is_not_sequential_as_a_whole() {
    let h = dekker();
    for report in both_ways(&h) {
        assert_eq!(report.per_key, Verdict::Valid, "{report:#?}");
        assert!(report.keys.iter().all(|k| k.verdict == Verdict::Valid));
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
        assert_eq!(report.basis, Basis::WholeHistory);
        let e = report.evidence.as_ref().unwrap();
        assert!(e.whole_history);
        let text = e.to_string();
        assert!(text.contains("cannot be merged"), "{text}");
        assert!(
            text.contains("key \"x\"") || text.contains("key \"y\""),
            "{text}"
        );
        assert!(report
            .summary()
            .contains("each key sequentially consistent"));
    }
}

#[test]
fn dekker_is_decided_by_a_forced_order_cycle_before_any_search() {
    let report = check(&dekker(), &REGISTER, &Options::default()).unwrap();
    let whole = report.whole.as_ref().unwrap();
    assert_eq!(whole.method, "forced-order cycle", "{report:#?}");
    assert_eq!(whole.explored, 0, "no search ran");
    let text = report.evidence.as_ref().unwrap().to_string();
    assert!(text.contains("must each come before the next"), "{text}");
}

#[test]
fn without_the_whole_history_search_per_key_is_not_a_verdict() {
    let options = Options {
        whole_history: false,
        ..Options::default()
    };
    let report = check(&dekker(), &REGISTER, &options).unwrap();
    assert_eq!(report.per_key, Verdict::Valid);
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(report.basis, Basis::PerKey);
    assert_eq!(report.basis.label(), "sequential (per key)");
    assert!(
        report.summary().contains("sequentially consistent per key"),
        "{}",
        report.summary()
    );
}

#[test]
fn a_key_that_is_not_sequential_disproves_the_whole_history() {
    let h = history(vec![
        keyed(w(0, 1, 0, 10), "a"),
        keyed(r(0, json!(null), 20, 30), "a"),
        keyed(w(1, 5, 0, 10), "b"),
        keyed(r(1, json!(5), 20, 30), "b"),
    ]);
    let report = check(&h, &REGISTER, &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.basis, Basis::PerKey);
    assert!(report.whole.is_none());
    assert_eq!(report.evidence.unwrap().key, json!("a"));
}

#[test]
fn crashed_writes_may_take_effect_late_or_never() {
    // p0's write of 1 crashed. p1 reads nil, then 1: it took effect in between.
    let late = history(vec![
        op(0, "write", json!(1), End::Info, 0, 10),
        r(1, json!(null), 20, 30),
        r(1, json!(1), 40, 50),
    ]);
    // Never read: it may never have happened.
    let never = history(vec![
        op(0, "write", json!(1), End::Never, 0, 0),
        r(1, json!(null), 20, 30),
    ]);
    for h in [&late, &never] {
        for report in both_ways(h) {
            assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
        }
    }
    // Read 1 then nil: the crashed write took effect, and nothing writes nil again.
    let back = history(vec![
        op(0, "write", json!(1), End::Info, 0, 10),
        r(1, json!(1), 20, 30),
        r(1, json!(null), 40, 50),
    ]);
    for report in both_ways(&back) {
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
    }
}

#[test]
fn a_failed_write_had_no_effect() {
    let h = history(vec![
        op(0, "write", json!(1), End::Fail("no-leader"), 0, 10),
        r(1, json!(1), 20, 30),
    ]);
    for report in both_ways(&h) {
        assert_eq!(report.verdict, Verdict::Invalid, "{report:#?}");
    }
}

#[test]
fn a_failed_cas_is_read_from_its_error_as_for_linearizability() {
    // A CAS from nil that failed with a mismatch saw something else than nil: so
    // after p1's write of 2 in any order. One refused (no-leader) says nothing.
    let cas = |error| {
        history(vec![
            op(0, "cas", json!([null, 3]), End::Fail(error), 0, 10),
            op(1, "write", json!(2), End::Ok(json!(2)), 20, 30),
            r(0, json!(null), 40, 50),
        ])
    };
    let model = CasRegister::default();
    let mismatch = check(&cas("cas-mismatch"), &model, &Options::default()).unwrap();
    assert_eq!(mismatch.verdict, Verdict::Invalid, "{mismatch:#?}");
    let refused = check(&cas("no-leader"), &model, &Options::default()).unwrap();
    assert_eq!(refused.verdict, Verdict::Valid, "{refused:#?}");
}

#[test]
fn synthetic_linearizable_histories_are_accepted_by_the_search_alone() {
    // The search alone on kv histories (appends) grows faster than linearly (see
    // docs/consistency.md), so that one is kept small.
    for (model, keys, ops) in [(SynthModel::CasRegister, 1, 3000), (SynthModel::Kv, 4, 200)] {
        let h = generate(&SynthOptions {
            model,
            clients: 8,
            ops,
            crash_rate: 0.01,
            keys,
            seed: 7,
            ..SynthOptions::default()
        })
        .history;
        let options = Options {
            linearizability_first: false,
            merge_first: false,
            ..Options::default()
        };
        let report = match model {
            SynthModel::Kv => check(&h, &Kv::default(), &options).unwrap(),
            _ => check(&h, &CasRegister::default(), &options).unwrap(),
        };
        assert_eq!(
            report.verdict,
            Verdict::Valid,
            "{model:?}: {}",
            report.summary()
        );
        if keys > 1 {
            assert_eq!(report.basis, Basis::WholeHistory);
            assert_eq!(report.whole.as_ref().unwrap().method, "search");
        }
    }
}

#[test]
fn out_of_time_is_unknown_with_the_reason() {
    let h = generate(&SynthOptions {
        clients: 8,
        ops: 20_000,
        seed: 3,
        ..SynthOptions::default()
    })
    .history;
    let options = Options {
        timeout: Some(Duration::ZERO),
        ..Options::default()
    };
    let report = check(&h, &CasRegister::default(), &options).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(report.keys[0].stopped, Some(StopReason::Timeout));
    assert!(
        report
            .summary()
            .contains("time limit reached: the check's timeout"),
        "{}",
        report.summary()
    );
}

/// A history of many small keys: each key's search is short (it never reaches a
/// budget poll), the search over every key at once is long.
fn many_small_keys() -> History {
    generate(&SynthOptions {
        model: SynthModel::Kv,
        clients: 8,
        ops: 20_000,
        keys: 2_000,
        seed: 5,
        ..SynthOptions::default()
    })
    .history
}

#[test]
fn the_sequential_check_has_a_memory_budget_of_its_own_by_default() {
    assert_eq!(Options::default().memory_limit, 512 << 20);
    assert_eq!(checker::sequential::DEFAULT_MEMORY_LIMIT, 512 << 20);
    assert!(Options::default().memory_limit < linearizability::Options::default().memory_limit);
}

/// Checks [`many_small_keys`] without the linearizability search first (so the
/// whole-history search runs) and returns what stopped that search, its reason, and
/// the report's summary. Every key on its own must be decided first.
fn whole_search_stopped(options: Options) -> (Option<StopReason>, String, String) {
    let options = Options {
        linearizability_first: false,
        merge_first: false,
        ..options
    };
    let report = check(&many_small_keys(), &Kv::default(), &options).unwrap();
    assert_eq!(report.per_key, Verdict::Valid, "{}", report.summary());
    assert_eq!(report.verdict, Verdict::Unknown);
    let whole = report.whole.as_ref().expect("the whole-history search ran");
    let reason = whole.reason.clone().unwrap_or_default();
    (whole.stopped, reason, report.summary())
}

#[test]
fn a_tiny_memory_budget_stops_the_whole_history_search_with_that_reason() {
    let (stopped, reason, summary) = whole_search_stopped(Options {
        memory_limit: 1,
        ..Options::default()
    });
    assert_eq!(stopped, Some(StopReason::Memory));
    assert!(
        reason.contains("memory budget exhausted") && reason.contains("memory_limit"),
        "{reason}"
    );
    assert!(summary.contains("memory budget"), "{summary}");
}

#[test]
fn a_tiny_memory_budget_stops_a_key_search_with_that_reason() {
    let h = generate(&SynthOptions {
        clients: 8,
        ops: 20_000,
        seed: 3,
        ..SynthOptions::default()
    })
    .history;
    for linearizability_first in [true, false] {
        let options = Options {
            memory_limit: 1,
            linearizability_first,
            ..Options::default()
        };
        let report = check(&h, &CasRegister::default(), &options).unwrap();
        assert_eq!(report.verdict, Verdict::Unknown);
        assert_eq!(report.keys[0].stopped, Some(StopReason::Memory));
        assert!(
            report.summary().contains("memory budget exhausted"),
            "{}",
            report.summary()
        );
    }
}

#[test]
fn the_whole_history_time_limit_is_named_when_it_runs_out() {
    let (stopped, reason, _) = whole_search_stopped(Options {
        whole_timeout: Some(Duration::ZERO),
        ..Options::default()
    });
    assert_eq!(stopped, Some(StopReason::Timeout));
    assert!(
        reason.contains("time limit reached") && reason.contains("whole-history search"),
        "{reason}"
    );
}
