//! Differential tests: thousands of small random concurrent histories, for every
//! model, with `fail` and `info` operations, checked both by the real checker and by
//! a brute-force reference that tries every order. The verdicts must agree.
//!
//! The reference shares only the models' step functions with the checker: no
//! memoization, no pruning, no lookahead, no partitioning, no event list.

use checker::history::{Event, EventType, History, Outcome, Process};
use checker::linearizability::{check, check_by_search_only, Options};
use checker::model::cas_register::CasRegister;
use checker::model::fifo_queue::FifoQueue;
use checker::model::kv::Kv;
use checker::model::multi_register::MultiRegister;
use checker::model::mutex::Mutex;
use checker::model::register::REGISTER;
use checker::model::set::Set;
use checker::model::unordered_queue::UnorderedQueue;
use checker::model::{CasFailMeaning, Model};
use checker::verdict::Verdict;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// One generated operation: function, key, invocation value, completion value.
struct Spec {
    f: &'static str,
    key: Option<Value>,
    input: Value,
    output: Value,
}

/// Interleaves `ops` over `processes` clients at random, with random outcomes.
fn random_history(
    rng: &mut SmallRng,
    processes: u64,
    count: usize,
    gen: &mut dyn FnMut(&mut SmallRng) -> Spec,
) -> History {
    let mut events = Vec::new();
    let mut pending: Vec<Option<Spec>> = (0..processes).map(|_| None).collect();
    let mut retired = vec![false; processes as usize];
    let mut started = 0;
    let mut index = 0u64;
    let mut push = |events: &mut Vec<Event>,
                    p: u64,
                    kind: EventType,
                    spec: &Spec,
                    value: Value,
                    error: Option<String>| {
        events.push(Event {
            index,
            time: index * 10,
            process: Process::Client(p),
            kind,
            f: spec.f.to_string(),
            key: spec.key.clone(),
            value,
            node: None,
            error,
            version: None,
            wall_start: None,
        });
        index += 1;
    };
    loop {
        let live: Vec<u64> = (0..processes).filter(|&p| !retired[p as usize]).collect();
        let can_start = started < count;
        let candidates: Vec<u64> = live
            .into_iter()
            .filter(|&p| can_start || pending[p as usize].is_some())
            .collect();
        if candidates.is_empty() {
            break;
        }
        let p = candidates[rng.gen_range(0..candidates.len())];
        match pending[p as usize].take() {
            None => {
                let spec = gen(rng);
                let input = spec.input.clone();
                push(&mut events, p, EventType::Invoke, &spec, input, None);
                pending[p as usize] = Some(spec);
                started += 1;
            }
            Some(spec) => {
                let roll = rng.gen_range(0..100);
                let (kind, value) = if roll < 70 {
                    (EventType::Ok, spec.output.clone())
                } else if roll < 85 {
                    (EventType::Fail, spec.input.clone())
                } else {
                    retired[p as usize] = true;
                    (EventType::Info, spec.input.clone())
                };
                // Some crashed clients never complete at all.
                if kind == EventType::Info && rng.gen_bool(0.3) {
                    continue;
                }
                // A definite failure says why, or not: a comparison that failed
                // (`cas-mismatch`, or no error as in porcupine's logs) or a request
                // refused before it reached the object (`no-leader`).
                let error = (kind == EventType::Fail)
                    .then(|| pick(rng, &[None, Some("cas-mismatch"), Some("no-leader")]))
                    .flatten()
                    .map(String::from);
                push(&mut events, p, kind, &spec, value, error);
            }
        }
    }
    History::from_events(events).expect("generated histories are well formed")
}

/// (call, ret, open to the end, key, the model's operation).
type RefOp<O> = (u64, u64, bool, Option<Value>, O);

/// Tries every order: an operation may come next if no unplaced operation returned
/// before it was invoked; every operation that completed must be placed; ones of
/// unknown outcome may be left out.
fn brute_force<M: Model>(model: &M, history: &History) -> bool {
    let mut ops = Vec::new();
    for op in &history.ops {
        if let Some(prepared) = model.prepare(op).expect("generated ops fit the model") {
            ops.push((
                op.call,
                op.ret,
                op.outcome == Outcome::Info,
                op.key.clone(),
                prepared,
            ));
        }
    }
    // Keys are independent objects: one state per key.
    let mut keys: Vec<Option<Value>> = ops.iter().map(|o| o.3.clone()).collect();
    keys.dedup();
    let mut uniq: Vec<Option<Value>> = Vec::new();
    for k in keys {
        if !uniq.contains(&k) {
            uniq.push(k);
        }
    }
    let states = vec![model.init(); uniq.len()];
    let key_of: Vec<usize> = ops
        .iter()
        .map(|o| uniq.iter().position(|k| *k == o.3).unwrap())
        .collect();
    let mut placed = vec![false; ops.len()];
    fn go<M: Model>(
        model: &M,
        ops: &[RefOp<M::Op>],
        key_of: &[usize],
        placed: &mut Vec<bool>,
        states: &mut Vec<M::State>,
    ) -> bool {
        if (0..ops.len()).all(|i| placed[i] || ops[i].2) {
            return true;
        }
        for i in 0..ops.len() {
            if placed[i] {
                continue;
            }
            let blocked = (0..ops.len()).any(|j| !placed[j] && j != i && ops[j].1 < ops[i].0);
            if blocked {
                continue;
            }
            let mut next = Vec::new();
            model.successors(&states[key_of[i]], &ops[i].4, &mut next);
            for s in next {
                let old = std::mem::replace(&mut states[key_of[i]], s);
                placed[i] = true;
                let ok = go(model, ops, key_of, placed, states);
                placed[i] = false;
                states[key_of[i]] = old;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let mut states = states;
    go(model, &ops, &key_of, &mut placed, &mut states)
}

/// Checks `rounds` random histories of `model` and returns (valid, invalid) counts.
fn differential<M: Model>(
    model: &M,
    seed: u64,
    rounds: usize,
    gen: &mut dyn FnMut(&mut SmallRng) -> Spec,
) -> (usize, usize) {
    differential_shaped(model, seed, rounds, (4, 8), gen)
}

/// [`differential`] with up to `max_processes` clients and `max_ops` operations.
fn differential_shaped<M: Model>(
    model: &M,
    seed: u64,
    rounds: usize,
    (max_processes, max_ops): (u64, usize),
    gen: &mut dyn FnMut(&mut SmallRng) -> Spec,
) -> (usize, usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut valid, mut invalid) = (0, 0);
    for round in 0..rounds {
        let processes = rng.gen_range(1..=max_processes);
        let count = rng.gen_range(1..=max_ops);
        let history = random_history(&mut rng, processes, count, gen);
        let expected = brute_force(model, &history);
        for all_keys in [false, true] {
            let report = check(
                &history,
                model,
                &Options {
                    all_keys,
                    ..Options::default()
                },
            )
            .unwrap();
            let want = if expected {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            assert_eq!(
                report.verdict,
                want,
                "model {} seed {seed} round {round}: checker says {}, brute force says {want}\nhistory:\n{}",
                model.name(),
                report.verdict,
                history.to_jsonl()
            );
            if report.verdict == Verdict::Invalid {
                assert!(report.counterexample.is_some());
            }
        }
        if expected {
            valid += 1;
        } else {
            invalid += 1;
        }
    }
    (valid, invalid)
}

fn pick<T: Clone>(rng: &mut SmallRng, xs: &[T]) -> T {
    xs[rng.gen_range(0..xs.len())].clone()
}

fn small(rng: &mut SmallRng) -> Value {
    pick(rng, &[json!(null), json!(1), json!(2), json!(3)])
}

fn register_spec(rng: &mut SmallRng, cas: bool) -> Spec {
    let roll = rng.gen_range(0..if cas { 3 } else { 2 });
    match roll {
        0 => Spec {
            f: pick(rng, &["read", "read", "final-read"]),
            key: None,
            input: Value::Null,
            output: small(rng),
        },
        1 => {
            let v = json!(rng.gen_range(1..4));
            Spec {
                f: "write",
                key: None,
                input: v.clone(),
                output: v,
            }
        }
        _ => {
            let v = json!([small(rng), rng.gen_range(1..4)]);
            Spec {
                f: "cas",
                key: None,
                input: v.clone(),
                output: v,
            }
        }
    }
}

/// Both sides must see enough of each verdict for the comparison to mean something.
fn assert_mixed(name: &str, (valid, invalid): (usize, usize)) {
    assert!(
        valid >= 30 && invalid >= 30,
        "{name}: {valid} valid and {invalid} invalid histories is too lopsided"
    );
}

const ROUNDS: usize = 1500;

#[test]
fn register_agrees_with_brute_force() {
    assert_mixed(
        "register",
        differential(&REGISTER, 1, ROUNDS, &mut |r| register_spec(r, false)),
    );
}

#[test]
fn cas_register_agrees_with_brute_force() {
    let m = CasRegister::default();
    assert_mixed(
        "cas-register",
        differential(&m, 2, ROUNDS, &mut |r| register_spec(r, true)),
    );
    let knossos = CasRegister {
        fail_means: CasFailMeaning::NoEffect,
        allow_cas: true,
    };
    assert_mixed(
        "cas-register/no-effect",
        differential(&knossos, 3, ROUNDS, &mut |r| register_spec(r, true)),
    );
    let porcupine = CasRegister {
        fail_means: CasFailMeaning::ComparisonFailed,
        allow_cas: true,
    };
    assert_mixed(
        "cas-register/compared",
        differential(&porcupine, 11, ROUNDS, &mut |r| register_spec(r, true)),
    );
}

/// Register operations over two values, so that most of them have identical twins.
fn two_value_spec(rng: &mut SmallRng) -> Spec {
    let v = |rng: &mut SmallRng| json!(rng.gen_range(1..=2));
    // Nil a third of the time, else 1 or 2.
    let seen = |rng: &mut SmallRng| {
        if rng.gen_bool(1.0 / 3.0) {
            json!(null)
        } else {
            v(rng)
        }
    };
    let (f, input, output) = match rng.gen_range(0..3) {
        0 => ("read", Value::Null, seen(rng)),
        1 => {
            let w = v(rng);
            ("write", w.clone(), w)
        }
        _ => {
            let pair = json!([seen(rng), v(rng)]);
            ("cas", pair.clone(), pair)
        }
    };
    Spec {
        f,
        key: None,
        input,
        output,
    }
}

/// Many clients at once and two values: most operations are one of a few identical
/// ones (the search offers only the earliest-returning twin, `twins.rs`) and blind
/// writes are many (the search places them only when needed).
#[test]
fn registers_with_many_clients_and_two_values_agree_with_brute_force() {
    for (name, model, seed) in [
        ("cas-register", CasRegister::default(), 21),
        (
            "cas-register/no-effect",
            CasRegister {
                fail_means: CasFailMeaning::NoEffect,
                allow_cas: true,
            },
            22,
        ),
    ] {
        assert_mixed(
            name,
            differential_shaped(&model, seed, ROUNDS, (8, 9), &mut two_value_spec),
        );
    }
    let mut reads_and_writes = |r: &mut SmallRng| {
        let spec = two_value_spec(r);
        match spec.f {
            "cas" => Spec {
                f: "write",
                key: None,
                input: spec.input[1].clone(),
                output: spec.input[1].clone(),
            },
            _ => spec,
        }
    };
    assert_mixed(
        "register/two values",
        differential_shaped(&REGISTER, 23, ROUNDS, (8, 9), &mut reads_and_writes),
    );
}

/// Register operations whose written values are unique (as in Jepsen's and the synth's
/// histories), reads and CASes of values written or not: crashed writes nobody reads
/// are the ones `canonicalize` merges into one class.
fn unique_value_spec(rng: &mut SmallRng, next: &mut i64) -> Spec {
    let seen = |rng: &mut SmallRng, next: i64| {
        if rng.gen_bool(0.2) {
            json!(null)
        } else {
            json!(rng.gen_range(1..=next.max(1) + 1))
        }
    };
    match rng.gen_range(0..3) {
        0 => Spec {
            f: "read",
            key: None,
            input: Value::Null,
            output: seen(rng, *next),
        },
        1 => {
            *next += 1;
            Spec {
                f: "write",
                key: None,
                input: json!(*next),
                output: json!(*next),
            }
        }
        _ => {
            let from = seen(rng, *next);
            *next += 1;
            let v = json!([from, *next]);
            Spec {
                f: "cas",
                key: None,
                input: v.clone(),
                output: v,
            }
        }
    }
}

#[test]
fn registers_with_unique_values_and_crashes_agree_with_brute_force() {
    let mut next = 0;
    let mut gen = |r: &mut SmallRng| unique_value_spec(r, &mut next);
    assert_mixed(
        "cas-register/unique",
        differential(&CasRegister::default(), 12, ROUNDS, &mut gen),
    );
    let mut next = 0;
    let mut gen = |r: &mut SmallRng| {
        let mut spec = unique_value_spec(r, &mut next);
        if spec.f == "cas" {
            spec = Spec {
                f: "read",
                key: None,
                input: Value::Null,
                output: spec.input[0].clone(),
            };
        }
        spec
    };
    assert_mixed(
        "register/unique",
        differential(&REGISTER, 13, ROUNDS, &mut gen),
    );
}

#[test]
fn kv_agrees_with_brute_force() {
    let mut gen = |rng: &mut SmallRng| {
        let key = Some(pick(rng, &[json!("a"), json!("b")]));
        let text = |rng: &mut SmallRng| {
            pick(
                rng,
                &[json!(""), json!("x"), json!("y"), json!("xy"), json!("yx")],
            )
        };
        match rng.gen_range(0..4) {
            0 => Spec {
                f: pick(rng, &["get", "read"]),
                key,
                input: Value::Null,
                output: text(rng),
            },
            1 => {
                let v = pick(rng, &[json!("x"), json!("y")]);
                Spec {
                    f: pick(rng, &["put", "write"]),
                    key,
                    input: v.clone(),
                    output: v,
                }
            }
            2 => {
                let v = pick(rng, &[json!("x"), json!("y")]);
                Spec {
                    f: "append",
                    key,
                    input: v.clone(),
                    output: v,
                }
            }
            _ => {
                let v = json!([text(rng), pick(rng, &["x", "y"])]);
                Spec {
                    f: "cas",
                    key,
                    input: v.clone(),
                    output: v,
                }
            }
        }
    };
    assert_mixed("kv", differential(&Kv::default(), 4, ROUNDS, &mut gen));
    // Appends and gets alone exercise the lookahead without resets.
    let mut appends = |rng: &mut SmallRng| {
        let key = Some(json!("k"));
        if rng.gen_bool(0.5) {
            let out = pick(
                rng,
                &[
                    json!(""),
                    json!("x"),
                    json!("y"),
                    json!("xy"),
                    json!("yx"),
                    json!("xyx"),
                ],
            );
            Spec {
                f: "get",
                key,
                input: Value::Null,
                output: out,
            }
        } else {
            let v = pick(rng, &[json!("x"), json!("y")]);
            Spec {
                f: "append",
                key,
                input: v.clone(),
                output: v,
            }
        }
    };
    assert_mixed(
        "kv/append",
        differential(&Kv::default(), 5, ROUNDS, &mut appends),
    );
}

#[test]
fn set_agrees_with_brute_force() {
    let mut gen = |rng: &mut SmallRng| {
        if rng.gen_bool(0.5) {
            let v = json!(rng.gen_range(1..4));
            Spec {
                f: "add",
                key: None,
                input: v.clone(),
                output: v,
            }
        } else {
            let out: Vec<i64> = (1..4).filter(|_| rng.gen_bool(0.5)).collect();
            Spec {
                f: "read",
                key: None,
                input: Value::Null,
                output: json!(out),
            }
        }
    };
    assert_mixed("set", differential(&Set, 6, ROUNDS, &mut gen));
}

fn queue_spec(rng: &mut SmallRng) -> Spec {
    if rng.gen_bool(0.5) {
        let v = json!(rng.gen_range(1..4));
        Spec {
            f: "enqueue",
            key: None,
            input: v.clone(),
            output: v,
        }
    } else {
        Spec {
            f: "dequeue",
            key: None,
            input: Value::Null,
            output: small(rng),
        }
    }
}

#[test]
fn queues_agree_with_brute_force() {
    assert_mixed(
        "fifo-queue",
        differential(&FifoQueue, 7, ROUNDS, &mut queue_spec),
    );
    assert_mixed(
        "unordered-queue",
        differential(&UnorderedQueue, 8, ROUNDS, &mut queue_spec),
    );
}

#[test]
fn mutex_agrees_with_brute_force() {
    let mut gen = |rng: &mut SmallRng| {
        let f = pick(rng, &["acquire", "release"]);
        Spec {
            f,
            key: None,
            input: Value::Null,
            output: Value::Null,
        }
    };
    assert_mixed("mutex", differential(&Mutex, 9, ROUNDS, &mut gen));
}

#[test]
fn multi_register_agrees_with_brute_force() {
    let mut gen = |rng: &mut SmallRng| {
        let n = rng.gen_range(1..=2);
        let mut input = Vec::new();
        let mut output = Vec::new();
        for _ in 0..n {
            let k = rng.gen_range(0..2);
            if rng.gen_bool(0.5) {
                input.push(json!(["r", k, null]));
                output.push(json!(["r", k, small(rng)]));
            } else {
                let v = rng.gen_range(1..3);
                input.push(json!(["w", k, v]));
                output.push(json!(["w", k, v]));
            }
        }
        Spec {
            f: "txn",
            key: None,
            input: json!(input),
            output: json!(output),
        }
    };
    assert_mixed(
        "multi-register",
        differential(&MultiRegister, 10, ROUNDS, &mut gen),
    );
}

/// Runs `rounds` random histories through the check (with its future-read
/// pre-check), the search alone and brute force; all three must agree, and every
/// history the pre-check decided must be one brute force finds invalid. Returns how
/// many the pre-check decided.
fn precheck_differential<M: Model>(
    model: &M,
    seed: u64,
    rounds: usize,
    gen: &mut dyn FnMut(&mut SmallRng) -> Spec,
) -> usize {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut decided = 0;
    for round in 0..rounds {
        let processes = rng.gen_range(1..=4);
        let count = rng.gen_range(1..=8);
        let history = random_history(&mut rng, processes, count, gen);
        let expected = if brute_force(model, &history) {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        let with = check(&history, model, &Options::default()).unwrap();
        let without = check_by_search_only(&history, model, &Options::default()).unwrap();
        let context = || {
            format!(
                "model {} seed {seed} round {round}\n{}",
                model.name(),
                history.to_jsonl()
            )
        };
        assert_eq!(with.verdict, expected, "with the pre-check: {}", context());
        assert_eq!(without.verdict, expected, "search alone: {}", context());
        if with
            .partitions
            .iter()
            .any(|p| p.method == "future-read pre-check")
        {
            decided += 1;
            let ce = with.counterexample.as_ref().expect("a counterexample");
            assert!(ce.impossible.is_some(), "{}", context());
        }
    }
    decided
}

#[test]
fn the_future_read_precheck_agrees_with_the_search_and_brute_force() {
    let mut next = 0;
    let mut gen = |r: &mut SmallRng| unique_value_spec(r, &mut next);
    let decided = precheck_differential(&CasRegister::default(), 21, ROUNDS, &mut gen);
    assert!(
        decided >= 30,
        "the pre-check decided only {decided} histories"
    );
    let decided = precheck_differential(&CasRegister::default(), 22, ROUNDS, &mut |r| {
        register_spec(r, true)
    });
    assert!(
        decided >= 30,
        "repeated values: the pre-check decided only {decided}"
    );
}

#[test]
fn the_future_read_precheck_honours_an_initial_value() {
    use checker::model::{BuiltinModel, ConfiguredModel, UseModel};
    struct Run(u64);
    impl UseModel for Run {
        type Output = usize;
        fn with<M: Model>(self, model: &M) -> usize {
            precheck_differential(model, self.0, ROUNDS, &mut |r| register_spec(r, true))
        }
    }
    let model = ConfiguredModel::new(BuiltinModel::CasRegister(CasFailMeaning::FromError))
        .with_initial(&json!(3))
        .unwrap();
    let decided = model.use_model(Run(23));
    assert!(decided >= 10, "the pre-check decided only {decided}");
}
