//! The transactional checker against a brute-force one that tries every serial order
//! (with every subset of the indeterminate transactions): on thousands of small random
//! histories, list-append's verdicts on serializable, strong session serializable and
//! strict serializable agree exactly; rw-register's inference is weaker by design, so
//! there every anomaly it reports must be real (brute force finds no order).

use checker::history::{Event, EventType, History, Process};
use checker::txn::{check_list_append, check_rw_register, IsolationModel, TxnOptions};
use checker::verdict::Verdict;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

#[derive(Clone, Debug)]
enum M {
    Append(usize, i64),
    Write(usize, i64),
    /// What the read returned (filled in when the transaction is applied).
    Read(usize, Vec<i64>),
}

#[derive(Clone, Debug)]
struct G {
    process: u64,
    outcome: &'static str,
    call: u64,
    ret: u64,
    mops: Vec<M>,
}

const KEYS: usize = 2;

fn random_mops(rng: &mut SmallRng, register: bool, next: &mut [i64; KEYS]) -> Vec<M> {
    (0..rng.gen_range(1..=3))
        .map(|_| {
            let k = rng.gen_range(0..KEYS);
            if rng.gen_bool(0.5) {
                M::Read(k, Vec::new())
            } else {
                next[k] += 1;
                if register {
                    M::Write(k, next[k])
                } else {
                    M::Append(k, next[k])
                }
            }
        })
        .collect()
}

/// Transactions on a few clients, with times; outcomes ok, fail or info.
fn schedule(rng: &mut SmallRng, register: bool) -> Vec<G> {
    let mut next = [0i64; KEYS];
    let mut txns = Vec::new();
    let clients = rng.gen_range(1..=3u64);
    let count = rng.gen_range(1..=6);
    let mut clock = vec![0u64; clients as usize];
    let mut process: Vec<u64> = (0..clients).collect();
    for _ in 0..count {
        let c = rng.gen_range(0..clients as usize);
        let call = clock[c] + rng.gen_range(1..4);
        let ret = call + rng.gen_range(1..8);
        clock[c] = ret;
        let outcome = ["ok", "ok", "ok", "ok", "fail", "info"][rng.gen_range(0..6)];
        txns.push(G {
            process: process[c],
            outcome,
            call,
            ret: if outcome == "info" { u64::MAX } else { ret },
            mops: random_mops(rng, register, &mut next),
        });
        if outcome == "info" {
            process[c] += clients;
        }
    }
    txns
}

/// Applies the transactions in an order near real time, reads seeing the state,
/// sometimes wrongly (stale, or a value not yet written), failed ones sometimes
/// applied anyway, indeterminate ones half the time.
fn apply(rng: &mut SmallRng, txns: &mut [G], register: bool) {
    let written: Vec<Vec<i64>> = (0..KEYS)
        .map(|k| {
            txns.iter()
                .flat_map(|t| t.mops.iter())
                .filter_map(|m| match m {
                    M::Append(key, v) | M::Write(key, v) if *key == k => Some(*v),
                    _ => None,
                })
                .collect()
        })
        .collect();
    let mut order: Vec<(u64, usize)> = txns
        .iter()
        .enumerate()
        .map(|(i, t)| (rng.gen_range(t.call..=t.call.max(t.ret.min(t.call + 8))), i))
        .collect();
    order.sort();
    let mut state: Vec<Vec<i64>> = vec![Vec::new(); KEYS];
    for (_, i) in order {
        let t = &mut txns[i];
        let takes_effect = match t.outcome {
            "ok" => true,
            "fail" => rng.gen_bool(0.05),
            _ => rng.gen_bool(0.5),
        };
        let mut local = state.clone();
        for m in &mut t.mops {
            match m {
                M::Append(k, v) => local[*k].push(*v),
                M::Write(k, v) => local[*k] = vec![*v],
                M::Read(k, seen) => {
                    *seen = local[*k].clone();
                    if rng.gen_bool(0.3) {
                        seen.truncate(rng.gen_range(0..=seen.len()));
                    } else if rng.gen_bool(0.05) && !written[*k].is_empty() {
                        let v = written[*k][rng.gen_range(0..written[*k].len())];
                        if register {
                            *seen = vec![v];
                        } else if !seen.contains(&v) {
                            seen.push(v);
                        }
                    }
                }
            }
        }
        if takes_effect {
            state = local;
        }
    }
}

fn mop_json(m: &M, register: bool, filled: bool) -> Value {
    match m {
        M::Append(k, v) => json!(["append", k, v]),
        M::Write(k, v) => json!(["w", k, v]),
        M::Read(k, seen) if filled && register => json!(["r", k, seen.last()]),
        M::Read(k, seen) if filled => json!(["r", k, seen]),
        M::Read(k, _) => json!(["r", k, null]),
    }
}

fn history(txns: &[G], register: bool) -> History {
    let mut timed: Vec<(u64, usize, bool)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        timed.push((t.call, i, false));
        if t.outcome != "info" {
            timed.push((t.ret, i, true));
        }
    }
    timed.sort();
    let events = timed
        .iter()
        .enumerate()
        .map(|(index, &(time, i, done))| {
            let t = &txns[i];
            let kind = if done {
                EventType::from_name(t.outcome).unwrap()
            } else {
                EventType::Invoke
            };
            let filled = done && t.outcome == "ok";
            let value = Value::Array(
                t.mops
                    .iter()
                    .map(|m| mop_json(m, register, filled))
                    .collect(),
            );
            Event::new(index as u64, time, Process::Client(t.process), kind, "txn")
                .with_value(value)
        })
        .collect();
    History::from_events(events).expect("generated histories are well formed")
}

/// Is there a serial order of the committed transactions (and some of the
/// indeterminate ones) in which every committed read sees exactly the state?
fn brute(txns: &[G], register: bool, process: bool, realtime: bool) -> bool {
    fn run(t: &G, state: &mut [Vec<i64>], register: bool) -> bool {
        for m in &t.mops {
            match m {
                M::Append(k, v) => state[*k].push(*v),
                M::Write(k, v) => state[*k] = vec![*v],
                M::Read(k, seen) if t.outcome == "ok" => {
                    let ok = if register {
                        seen.last() == state[*k].last()
                    } else {
                        *seen == state[*k]
                    };
                    if !ok {
                        return false;
                    }
                }
                M::Read(..) => {}
            }
        }
        true
    }
    fn dfs(
        txns: &[G],
        placed: &mut Vec<bool>,
        state: &[Vec<i64>],
        register: bool,
        process: bool,
        realtime: bool,
    ) -> bool {
        if txns
            .iter()
            .zip(placed.iter())
            .all(|(t, p)| *p || t.outcome != "ok")
        {
            return true;
        }
        for b in 0..txns.len() {
            let tb = &txns[b];
            if placed[b] || tb.outcome == "fail" {
                continue;
            }
            let blocked = txns.iter().enumerate().any(|(a, ta)| {
                !placed[a]
                    && a != b
                    && ta.outcome == "ok"
                    && ((realtime && ta.ret < tb.call)
                        || (process && ta.process == tb.process && ta.call < tb.call))
            });
            if blocked {
                continue;
            }
            let mut next = state.to_vec();
            if run(tb, &mut next, register) {
                placed[b] = true;
                if dfs(txns, placed, &next, register, process, realtime) {
                    return true;
                }
                placed[b] = false;
            }
        }
        false
    }
    dfs(
        txns,
        &mut vec![false; txns.len()],
        &vec![Vec::new(); KEYS],
        register,
        process,
        realtime,
    )
}

/// Runs `count` random histories; returns how many brute force found serializable.
fn differential(register: bool, count: u64) -> u64 {
    let mut serializable = 0;
    for seed in 0..count {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut txns = schedule(&mut rng, register);
        apply(&mut rng, &mut txns, register);
        let h = history(&txns, register);
        let options = TxnOptions::default();
        let report = if register {
            check_rw_register(&h, &options)
        } else {
            check_list_append(&h, &options)
        }
        .unwrap();
        assert_ne!(report.verdict, Verdict::Unknown, "seed {seed}");
        for (model, process, realtime) in [
            (IsolationModel::Serializable, false, false),
            (IsolationModel::StrongSessionSerializable, true, false),
            (IsolationModel::StrictSerializable, false, true),
        ] {
            let exists = brute(&txns, register, process, realtime);
            let ruled_out = report.ruled_out.contains(&model);
            if model == IsolationModel::Serializable && exists {
                serializable += 1;
            }
            let agree = if register {
                !(ruled_out && exists)
            } else {
                ruled_out != exists
            };
            assert!(
                agree,
                "seed {seed}: {model}: brute force says {}, the checker {}\n{:#?}\n{}",
                if exists {
                    "an order exists"
                } else {
                    "no order"
                },
                if ruled_out {
                    "rules it out"
                } else {
                    "does not"
                },
                report.anomalies,
                h.to_jsonl()
            );
        }
    }
    serializable
}

#[test]
fn list_append_verdicts_agree_with_brute_force_on_random_histories() {
    let count = 4000;
    let serializable = differential(false, count);
    // Both kinds of history must be well represented for the agreement to mean much.
    assert!(
        serializable > count / 10 && serializable < count * 9 / 10,
        "{serializable} of {count} serializable"
    );
}

#[test]
fn rw_register_anomalies_are_all_real_on_random_histories() {
    let count = 4000;
    let serializable = differential(true, count);
    assert!(
        serializable > count / 10 && serializable < count * 9 / 10,
        "{serializable} of {count} serializable"
    );
}
