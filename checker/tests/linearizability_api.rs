//! The library API as a user sees it: budgets that stop a check with `unknown`,
//! counterexamples in JSON, a model of one's own, and synthetic histories whose
//! verdicts are known by construction.

use checker::history::{Event, EventType, History, Operation, Outcome, Process};
use checker::linearizability::{check, Options};
use checker::model::cas_register::CasRegister;
use checker::model::fifo_queue::FifoQueue;
use checker::model::{Model, ModelError};
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use checker::verdict::Verdict;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn event(index: u64, process: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event {
        index,
        time: index,
        process: Process::Client(process),
        kind,
        f: f.into(),
        key: None,
        value,
        node: None,
        error: None,
        version: None,
        wall_start: None,
    }
}

/// A history no exact search can finish quickly: 40 concurrent enqueues of distinct
/// values (40! orders a FIFO queue could hold them in), then a dequeue of a value never
/// enqueued, which only exhausting those orders proves impossible.
fn hard_history() -> History {
    let mut events = Vec::new();
    let mut i = 0;
    for p in 0..40u64 {
        events.push(event(i, p, EventType::Invoke, "enqueue", json!(p)));
        i += 1;
    }
    for p in 0..40u64 {
        events.push(event(i, p, EventType::Ok, "enqueue", json!(p)));
        i += 1;
    }
    events.push(event(i, 100, EventType::Invoke, "dequeue", Value::Null));
    events.push(event(i + 1, 100, EventType::Ok, "dequeue", json!(-1)));
    History::from_events(events).unwrap()
}

#[test]
fn a_check_past_its_time_limit_answers_unknown_promptly() {
    let history = hard_history();
    let started = Instant::now();
    let options = Options {
        timeout: Some(Duration::from_millis(100)),
        ..Options::default()
    };
    let report = check(&history, &FifoQueue, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(
        report.partitions[0].reason.as_deref(),
        Some("time limit reached")
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped soon after the deadline"
    );
}

#[test]
fn a_check_past_its_memory_budget_answers_unknown() {
    let history = hard_history();
    let options = Options {
        memory_limit: 64 << 10,
        ..Options::default()
    };
    let report = check(&history, &FifoQueue, &options).unwrap();
    assert_eq!(report.verdict, Verdict::Unknown);
    assert_eq!(
        report.partitions[0].reason.as_deref(),
        Some("memory budget exhausted")
    );
}

#[test]
fn reports_and_counterexamples_serialize_to_json() {
    // write 1 completes, then a read returns nil: impossible.
    let events = vec![
        event(0, 0, EventType::Invoke, "write", json!(1)),
        event(1, 0, EventType::Ok, "write", json!(1)),
        event(2, 1, EventType::Invoke, "read", Value::Null),
        event(3, 1, EventType::Ok, "read", Value::Null),
    ];
    let history = History::from_events(events).unwrap();
    let report = check(&history, &CasRegister::default(), &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    let c = report.counterexample.as_ref().unwrap();
    assert_eq!(
        c.prefix,
        vec![0],
        "the write is the longest linearizable prefix"
    );
    assert_eq!(c.state, "1");
    assert_eq!(c.must_precede.id, 1);
    assert!(
        c.blocked[0].reason.contains("cannot happen in state 1"),
        "{}",
        c.blocked[0].reason
    );
    let text = serde_json::to_string(&report).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back["verdict"], "invalid");
    assert_eq!(back["counterexample"]["state"], "1");
    assert!(c
        .to_string()
        .contains("longest linearizable prefix: 1 operations"));
}

/// A model of one's own: a counter with `incr` and `read`.
struct Counter;

impl Model for Counter {
    type State = i64;
    type Op = (bool, i64);

    fn name(&self) -> String {
        "counter".into()
    }
    fn init(&self) -> i64 {
        0
    }
    fn prepare(&self, op: &Operation) -> Result<Option<(bool, i64)>, ModelError> {
        match (op.f.as_str(), op.outcome) {
            ("incr", Outcome::Fail) | ("read", Outcome::Fail | Outcome::Info) => Ok(None),
            ("incr", _) => Ok(Some((true, 1))),
            ("read", Outcome::Ok) => Ok(Some((
                false,
                op.output
                    .as_i64()
                    .ok_or_else(|| ModelError::new(op, "not a number"))?,
            ))),
            _ => Err(ModelError::new(op, "expected incr or read")),
        }
    }
    fn step(&self, state: &i64, op: &(bool, i64)) -> Option<i64> {
        match op {
            (true, n) => Some(state + n),
            (false, v) => (state == v).then_some(*state),
        }
    }
}

#[test]
fn users_can_check_their_own_models() {
    let history = |read: i64| {
        History::from_events(vec![
            event(0, 0, EventType::Invoke, "incr", Value::Null),
            event(1, 1, EventType::Invoke, "incr", Value::Null),
            event(2, 2, EventType::Invoke, "read", Value::Null),
            event(3, 2, EventType::Ok, "read", json!(read)),
            event(4, 0, EventType::Ok, "incr", Value::Null),
            event(5, 1, EventType::Info, "incr", Value::Null),
        ])
        .unwrap()
    };
    for (read, expected) in [
        (0, Verdict::Valid),
        (1, Verdict::Valid),
        (2, Verdict::Valid),
        (3, Verdict::Invalid),
    ] {
        let report = check(&history(read), &Counter, &Options::default()).unwrap();
        assert_eq!(report.verdict, expected, "read {read}");
    }
    let bad =
        History::from_events(vec![event(0, 0, EventType::Invoke, "decr", Value::Null)]).unwrap();
    let err = check(&bad, &Counter, &Options::default()).unwrap_err();
    assert!(err.to_string().contains("expected incr or read"), "{err}");
}

fn synth(
    model: SynthModel,
    anomaly: Option<Anomaly>,
    seed: u64,
    crash_rate: f64,
) -> checker::synth::SynthOutcome {
    generate(&SynthOptions {
        model,
        clients: 5,
        ops: 400,
        crash_rate,
        keys: 3,
        anomaly,
        seed,
        values: None,
    })
}

fn model_for(model: SynthModel) -> checker::model::BuiltinModel {
    use checker::model::{BuiltinModel, CasFailMeaning::ComparisonFailed};
    match model {
        SynthModel::Register => BuiltinModel::Register,
        SynthModel::CasRegister => BuiltinModel::CasRegister(ComparisonFailed),
        SynthModel::Kv => BuiltinModel::Kv(ComparisonFailed),
    }
}

#[test]
fn synthetic_histories_are_linearizable_by_construction() {
    for model in [
        SynthModel::Register,
        SynthModel::CasRegister,
        SynthModel::Kv,
    ] {
        for seed in 0..4 {
            let out = synth(model, None, seed, 0.02);
            assert_eq!(out.history.ops.len(), 400);
            let report = model_for(model)
                .check(&out.history, &Options::default())
                .unwrap();
            assert_eq!(report.verdict, Verdict::Valid, "{model:?} seed {seed}");
        }
    }
    let a = synth(SynthModel::CasRegister, None, 7, 0.02).history;
    let b = synth(SynthModel::CasRegister, None, 7, 0.02).history;
    assert_eq!(a, b, "the same seed gives the same history");
}

#[test]
fn injected_anomalies_are_caught() {
    for model in [
        SynthModel::Register,
        SynthModel::CasRegister,
        SynthModel::Kv,
    ] {
        for anomaly in [Anomaly::StaleRead, Anomaly::LostWrite] {
            for seed in 0..3 {
                let out = synth(model, Some(anomaly), seed, 0.0);
                assert!(
                    out.anomaly_at.is_some(),
                    "{model:?} {anomaly:?} seed {seed}: injected"
                );
                let report = model_for(model)
                    .check(&out.history, &Options::default())
                    .unwrap();
                assert_eq!(
                    report.verdict,
                    Verdict::Invalid,
                    "{model:?} {anomaly:?} seed {seed}"
                );
            }
        }
    }
}
