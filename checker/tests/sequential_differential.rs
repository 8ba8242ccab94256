//! Differential tests for sequential consistency: many small random histories
//! (register and CAS register, one or two keys, with `fail` and `info` operations),
//! checked by the real checker and by a brute-force reference that tries every
//! interleaving of the processes' operations. The verdicts must agree.
//!
//! The reference shares only the models' `prepare` and step functions with the
//! checker: no memo, no forced reads, no dead-end detection, no per-key split, no
//! linearizability shortcut.

use checker::history::{Event, EventType, History, Outcome, Process};
use checker::model::cas_register::CasRegister;
use checker::model::register::REGISTER;
use checker::model::{CasFailMeaning, Model};
use checker::sequential::{check, Options};
use checker::verdict::Verdict;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

/// An invoked operation: function, key, invocation value, completion value.
type Pending = (String, Option<Value>, Value, Value);

/// One process's operations in program order: key, crashed, the model's operation.
type Chain<O> = Vec<(Option<Value>, bool, O)>;

/// Random histories: `processes` clients issue `count` operations in all over
/// `keys` keys, with values from a small domain so that reads often disagree.
fn random_history(rng: &mut SmallRng, cas: bool, keys: usize) -> History {
    random_history_with(rng, cas, keys, false)
}

/// As [`random_history`]; with `unique`, every write (and CAS) writes a value of its
/// own, and reads and CASes name values written so far (or nil), as in Jepsen's
/// register tests: the shape the sequential check's forced-order pre-check needs.
fn random_history_with(rng: &mut SmallRng, cas: bool, keys: usize, unique: bool) -> History {
    let mut written = 0u64;
    let processes = rng.gen_range(1..=4u64);
    let count = rng.gen_range(1..=8usize);
    let mut events = Vec::new();
    let mut pending: Vec<Option<Pending>> = vec![None; processes as usize];
    let mut retired = vec![false; processes as usize];
    let mut started = 0;
    loop {
        let live: Vec<u64> = (0..processes)
            .filter(|&p| !retired[p as usize] && (started < count || pending[p as usize].is_some()))
            .collect();
        if live.is_empty() {
            break;
        }
        let p = live[rng.gen_range(0..live.len())];
        let i = events.len() as u64;
        let key = (keys > 1).then(|| json!(rng.gen_range(0..keys)));
        let event = |kind, f: &str, key: &Option<Value>, value: Value| {
            let mut e = Event::new(i, i, Process::Client(p), kind, f).with_value(value);
            if let Some(k) = key {
                e = e.with_key(k.clone());
            }
            e
        };
        match pending[p as usize].take() {
            None => {
                let domain = if unique { written + 1 } else { 4 };
                let old = |rng: &mut SmallRng| match rng.gen_range(0..domain) {
                    0 => Value::Null,
                    n => json!(n),
                };
                let mut new = |rng: &mut SmallRng| {
                    if unique {
                        written += 1;
                        json!(written)
                    } else {
                        old(rng)
                    }
                };
                let (f, input, output) = match rng.gen_range(0..if cas { 3 } else { 2 }) {
                    0 => {
                        let x = new(rng);
                        ("write", x.clone(), x)
                    }
                    1 => ("read", Value::Null, old(rng)),
                    _ => {
                        let pair = json!([old(rng), new(rng)]);
                        ("cas", pair.clone(), pair)
                    }
                };
                events.push(event(EventType::Invoke, f, &key, input.clone()));
                pending[p as usize] = Some((f.to_string(), key, input, output));
                started += 1;
            }
            Some((f, key, input, output)) => {
                let roll = rng.gen_range(0..100);
                if roll < 70 {
                    events.push(event(EventType::Ok, &f, &key, output));
                } else if roll < 85 {
                    let error = ["cas-mismatch", "no-leader"][rng.gen_range(0..2)];
                    events.push(event(EventType::Fail, &f, &key, input).with_error(error));
                } else {
                    retired[p as usize] = true;
                    // Some crashed clients never complete at all.
                    if rng.gen_bool(0.7) {
                        events.push(event(EventType::Info, &f, &key, input));
                    }
                }
            }
        }
    }
    History::from_events(events).expect("generated histories are well formed")
}

/// Every interleaving that keeps each process's order: a process's next operation
/// may come next, or, if its outcome is unknown, be left out; every operation that
/// completed must be placed.
fn brute_force<M: Model>(model: &M, history: &History) -> bool {
    // Per process, in program order: (key, crashed, op).
    let mut chains: Vec<(u64, Chain<M::Op>)> = Vec::new();
    for op in &history.ops {
        let Some(prepared) = model.prepare(op).expect("generated ops fit the model") else {
            continue;
        };
        let entry = (op.key.clone(), op.outcome == Outcome::Info, prepared);
        match chains.iter_mut().find(|(p, _)| *p == op.process) {
            Some((_, chain)) => chain.push(entry),
            None => chains.push((op.process, vec![entry])),
        }
    }
    let keys: Vec<Option<Value>> = history.ops.iter().map(|o| o.key.clone()).collect();
    let state_of = |k: &Option<Value>| keys.iter().position(|x| x == k).unwrap();
    let mut states = vec![model.init(); keys.len().max(1)];
    let mut pos = vec![0usize; chains.len()];
    fn go<M: Model>(
        model: &M,
        chains: &[(u64, Chain<M::Op>)],
        state_of: &dyn Fn(&Option<Value>) -> usize,
        pos: &mut Vec<usize>,
        states: &mut Vec<M::State>,
    ) -> bool {
        if chains
            .iter()
            .zip(pos.iter())
            .all(|((_, c), &at)| c[at..].iter().all(|(_, crashed, _)| *crashed))
        {
            return true;
        }
        for c in 0..chains.len() {
            let Some((key, crashed, op)) = chains[c].1.get(pos[c]) else {
                continue;
            };
            let slot = state_of(key);
            pos[c] += 1;
            if *crashed && go(model, chains, state_of, pos, states) {
                return true;
            }
            let mut next = Vec::new();
            model.successors(&states[slot], op, &mut next);
            for s in next {
                let old = std::mem::replace(&mut states[slot], s);
                let ok = go(model, chains, state_of, pos, states);
                states[slot] = old;
                if ok {
                    pos[c] -= 1;
                    return true;
                }
            }
            pos[c] -= 1;
        }
        false
    }
    go(model, &chains, &state_of, &mut pos, &mut states)
}

fn differential<M: Model>(
    model: &M,
    cas: bool,
    keys: usize,
    seed: u64,
    rounds: usize,
) -> (usize, usize) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (mut valid, mut invalid) = (0, 0);
    for round in 0..rounds {
        let history = random_history(&mut rng, cas, keys);
        let expected = brute_force(model, &history);
        for linearizability_first in [true, false] {
            let options = Options {
                linearizability_first,
                all_keys: rng.gen_bool(0.5),
                ..Options::default()
            };
            let report = check(&history, model, &options).unwrap();
            let want = if expected {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            assert_eq!(
                report.verdict,
                want,
                "seed {seed} round {round} (linearizability first: {linearizability_first}):\n{}\n{report:#?}",
                history.to_jsonl()
            );
            if !expected {
                assert!(report.evidence.is_some(), "a violation has evidence");
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

#[test]
fn register_agrees_with_brute_force() {
    for seed in 0..4 {
        let (valid, invalid) = differential(&REGISTER, false, 1, seed, 1500);
        assert!(
            valid > 100 && invalid > 100,
            "both verdicts exercised: {valid}/{invalid}"
        );
    }
}

#[test]
fn cas_register_agrees_with_brute_force() {
    for fail_means in [
        CasFailMeaning::FromError,
        CasFailMeaning::ComparisonFailed,
        CasFailMeaning::NoEffect,
    ] {
        let model = CasRegister {
            fail_means,
            allow_cas: true,
        };
        let (valid, invalid) = differential(&model, true, 1, 11, 2000);
        assert!(
            valid > 100 && invalid > 100,
            "both verdicts exercised: {valid}/{invalid}"
        );
    }
}

/// Two keys: the whole-history search decides when each key alone has an order.
#[test]
fn two_keys_agree_with_brute_force() {
    let (valid, invalid) = differential(&REGISTER, false, 2, 21, 3000);
    assert!(valid > 100 && invalid > 100, "{valid}/{invalid}");
    let (valid, invalid) = differential(&CasRegister::default(), true, 2, 22, 3000);
    assert!(valid > 100 && invalid > 100, "{valid}/{invalid}");
}

/// The reads-go-backwards pre-check against brute force: every history it decides
/// must be one brute force finds not sequentially consistent, and it must decide
/// enough of them for that to mean something.
#[test]
fn the_reads_go_backwards_precheck_agrees_with_brute_force() {
    let mut decided = 0;
    for (seed, cas, keys) in [(31, false, 1), (32, true, 1), (33, false, 2)] {
        let mut rng = SmallRng::seed_from_u64(seed);
        for round in 0..3000 {
            let history = random_history(&mut rng, cas, keys);
            let report = check(&history, &CasRegister::default(), &Options::default()).unwrap();
            let by_precheck = report
                .keys
                .iter()
                .any(|k| k.method == "reads-go-backwards pre-check");
            if by_precheck {
                decided += 1;
                assert!(
                    !brute_force(&CasRegister::default(), &history),
                    "seed {seed} round {round}: the pre-check's violation is sequential:\n{}",
                    history.to_jsonl()
                );
                assert_eq!(report.verdict, Verdict::Invalid);
            }
        }
    }
    assert!(
        decided >= 30,
        "the pre-check decided only {decided} histories"
    );
}

/// Unique values over two and three keys: the forced-order pre-check (a cycle proves
/// a violation) and the merge of per-key orders (an order proves validity) decide
/// many whole histories before any search, and agree with brute force on every one.
#[test]
fn forced_order_cycles_and_merged_orders_agree_with_brute_force() {
    let (mut cycles, mut merged) = (0, 0);
    for (seed, keys) in [(41, 2), (42, 3)] {
        let mut rng = SmallRng::seed_from_u64(seed);
        for round in 0..3000 {
            let history = random_history_with(&mut rng, true, keys, true);
            let expected = brute_force(&CasRegister::default(), &history);
            let report = check(&history, &CasRegister::default(), &Options::default()).unwrap();
            let want = if expected {
                Verdict::Valid
            } else {
                Verdict::Invalid
            };
            assert_eq!(
                report.verdict,
                want,
                "seed {seed} round {round}:\n{}\n{report:#?}",
                history.to_jsonl()
            );
            match report.whole.as_ref().map(|w| w.method.as_str()) {
                Some("forced-order cycle") => cycles += 1,
                Some("merged per-key orders") => merged += 1,
                _ => {}
            }
        }
    }
    // Random histories seldom break only across keys (most violations show on a key
    // alone); `dekker_is_decided_by_a_forced_order_cycle` covers the cycle directly.
    assert!(
        cycles >= 1 && merged >= 20,
        "cycles {cycles}, merged {merged}"
    );
}
