//! The hard shapes `faultline synth` generates for tests and benchmarks: a value
//! count (repeated values) or unique values, crashed operations open to the end of
//! the history, future reads and stale reads, each with the verdict it must have.

use checker::history::{EventType, History, Outcome};
use checker::linearizability::{check, Options};
use checker::model::cas_register::CasRegister;
use checker::model::kv::Kv;
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use checker::verdict::Verdict;
use serde_json::Value;
use std::collections::{HashMap, HashSet};

fn written_values(h: &History) -> Vec<Value> {
    h.ops
        .iter()
        .filter_map(|op| match op.f.as_str() {
            "write" => Some(op.input.clone()),
            "cas" => Some(op.input[1].clone()),
            _ => None,
        })
        .collect()
}

fn options(ops: usize) -> SynthOptions {
    SynthOptions {
        model: SynthModel::CasRegister,
        clients: 5,
        ops,
        crash_rate: 0.01,
        ..SynthOptions::default()
    }
}

#[test]
fn a_value_count_makes_writes_repeat_values_within_it_and_the_default_keeps_them_unique() {
    let h = generate(&SynthOptions {
        values: Some(5),
        ..options(2000)
    })
    .history;
    let values = written_values(&h);
    let distinct: HashSet<String> = values.iter().map(|v| v.to_string()).collect();
    assert!(values.len() > 500, "{} writes", values.len());
    assert!(distinct.len() <= 5, "values outside 1..=5: {distinct:?}");
    assert!(distinct.len() >= 4, "too few distinct values: {distinct:?}");
    let unique = written_values(&generate(&options(2000)).history);
    let distinct: HashSet<String> = unique.iter().map(|v| v.to_string()).collect();
    assert_eq!(distinct.len(), unique.len(), "every value written once");
}

#[test]
fn crashed_operations_stay_open_to_the_end_and_a_new_process_takes_their_place() {
    let h = generate(&SynthOptions {
        clients: 50,
        crash_rate: 0.05,
        ..options(5000)
    })
    .history;
    let crashed: Vec<_> = h.ops.iter().filter(|op| op.is_indeterminate()).collect();
    assert!(crashed.len() > 150, "{} crashed of 5000", crashed.len());
    let last_event: HashMap<u64, u64> = h
        .ops
        .iter()
        .map(|op| (op.process, op.complete_index.unwrap_or(op.invoke_index)))
        .fold(HashMap::new(), |mut m, (p, i)| {
            let e = m.entry(p).or_insert(i);
            *e = (*e).max(i);
            m
        });
    for op in &crashed {
        assert_eq!(op.ret, u64::MAX, "op {} is open to the end", op.id);
        assert_eq!(
            last_event[&op.process],
            op.complete_index.unwrap_or(op.invoke_index),
            "process {} never returns after its crashed op {}",
            op.process,
            op.id
        );
    }
    let processes: HashSet<u64> = h.ops.iter().map(|op| op.process).collect();
    let crashed_processes: HashSet<u64> = crashed.iter().map(|op| op.process).collect();
    assert_eq!(
        crashed_processes.len(),
        crashed.len(),
        "a process crashes once"
    );
    // One new process per crash, except after crashes so late that no operation was
    // left to invoke: at most one per client.
    assert!(processes.len() <= 50 + crashed.len());
    assert!(
        processes.len() > crashed.len(),
        "{} processes",
        processes.len()
    );
    let never_completed = crashed
        .iter()
        .filter(|op| op.complete_index.is_none())
        .count();
    assert!(never_completed > 0 && never_completed < crashed.len());
}

#[test]
fn histories_without_an_anomaly_are_linearizable_with_repeated_or_unique_values() {
    for values in [None, Some(3)] {
        for seed in 0..5 {
            let h = generate(&SynthOptions {
                values,
                seed,
                ..options(3000)
            })
            .history;
            let r = check(&h, &CasRegister::default(), &Options::default()).unwrap();
            assert_eq!(r.verdict, Verdict::Valid, "values {values:?} seed {seed}");
        }
    }
}

/// The shape porcupine leaves unknown at 60 s: 50 clients at once over 5 values, so
/// that most operations have identical twins in flight. Decided within a time limit
/// far above what it takes (milliseconds in release).
#[test]
fn fifty_clients_over_five_values_are_decided_valid_within_the_time_limit() {
    for seed in 0..3 {
        let h = generate(&SynthOptions {
            clients: 50,
            values: Some(5),
            crash_rate: 0.0,
            seed,
            ..options(10_000)
        })
        .history;
        let limit = Options {
            timeout: Some(std::time::Duration::from_secs(30)),
            ..Options::default()
        };
        let r = check(&h, &CasRegister::default(), &limit).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "seed {seed}");
    }
}

/// The future read: its value, and the operations writing it (all invoked after
/// the read completed).
fn future_read_of(h: &History, at: u64) -> (Value, u64, Vec<u64>) {
    let read = h
        .ops
        .iter()
        .find(|op| op.call == at && op.outcome == Outcome::Ok && op.f == "read")
        .expect("the future read");
    let writes = h
        .ops
        .iter()
        .filter(|op| match op.f.as_str() {
            "write" => op.input == read.output,
            "cas" => op.input[1] == read.output,
            _ => false,
        })
        .map(|op| op.call)
        .collect();
    (read.output.clone(), read.ret, writes)
}

#[test]
fn a_future_read_returns_a_value_written_once_after_it_and_the_precheck_finds_it() {
    for values in [None, Some(5)] {
        let outcome = generate(&SynthOptions {
            values,
            anomaly: Some(Anomaly::FutureRead),
            ..options(20_000)
        });
        let at = outcome.anomaly_at.expect("injected");
        let (value, read_ret, writes) = future_read_of(&outcome.history, at);
        assert_eq!(writes.len(), 1, "one write of {value} (values {values:?})");
        assert!(
            writes[0] > read_ret,
            "the write is invoked after the read completed"
        );
        let r = check(
            &outcome.history,
            &CasRegister::default(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.partitions[0].method, "future-read pre-check");
        let ce = r.counterexample.unwrap();
        assert_eq!(ce.must_precede.output, value);
        assert_eq!(ce.blocked.len(), 1, "{ce}");
    }
}

#[test]
fn a_future_read_on_a_kv_key_is_written_later_on_the_same_key() {
    let outcome = generate(&SynthOptions {
        model: SynthModel::Kv,
        keys: 3,
        anomaly: Some(Anomaly::FutureRead),
        ..options(3000)
    });
    let r = check(&outcome.history, &Kv::default(), &Options::default()).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn a_stale_read_is_a_violation_the_search_finds() {
    for seed in 0..3 {
        let outcome = generate(&SynthOptions {
            anomaly: Some(Anomaly::StaleRead),
            seed,
            ..options(3000)
        });
        assert!(outcome.anomaly_at.is_some());
        let r = check(
            &outcome.history,
            &CasRegister::default(),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "seed {seed}");
        assert_eq!(r.partitions[0].method, "search", "not a future read");
    }
}

#[test]
fn stale_reads_and_lost_writes_with_repeated_values_are_refused_with_the_reason() {
    for anomaly in [Anomaly::StaleRead, Anomaly::LostWrite] {
        let err = SynthOptions {
            values: Some(5),
            anomaly: Some(anomaly),
            ..options(100)
        }
        .validate()
        .unwrap_err();
        assert!(err.contains("unique values"), "{err}");
    }
    let future = SynthOptions {
        values: Some(5),
        anomaly: Some(Anomaly::FutureRead),
        ..options(100)
    };
    assert_eq!(future.validate(), Ok(()));
    let zero = SynthOptions {
        values: Some(0),
        ..options(100)
    };
    assert!(zero.validate().unwrap_err().contains("--values"));
}

#[test]
fn a_crashed_operation_completes_info_or_never_but_never_ok() {
    let h = generate(&SynthOptions {
        crash_rate: 0.2,
        ..options(500)
    })
    .history;
    let infos = h
        .events
        .iter()
        .filter(|e| e.kind == EventType::Info)
        .count();
    let open = h.ops.iter().filter(|op| op.is_indeterminate()).count();
    assert!(
        infos > 0 && infos < open,
        "{infos} info completions of {open} open ops"
    );
}
