//! Synthetic transactional histories (list-append or rw-register), for tests and
//! benchmarks: many clients, each running one transaction at a time; every
//! transaction takes effect atomically at a random instant between its invocation and
//! its completion, so the history is strict serializable by construction, unless one
//! anomaly is injected halfway (G0, G1c, G-single, G2-item), built from transactions
//! on fresh keys so that it is exactly the anomaly named.
//!
//! Keys are retired after `max_writes_per_key` writes, as Elle's generators do, so
//! reads stay short however long the history.

use crate::history::{Event, EventType, History, Outcome, Process};
use crate::txn::mop::{KeyName, Lists, Mop, Read, Txn, Txns};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256StarStar;
use serde_json::{json, Value};

/// Which datatype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnDatatype {
    ListAppend,
    RwRegister,
}

/// The anomaly to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnAnomaly {
    G0,
    G1c,
    GSingle,
    G2Item,
}

impl TxnAnomaly {
    pub const NAMES: [&'static str; 4] = ["G0", "G1c", "G-single", "G2-item"];

    pub fn from_name(name: &str) -> Option<TxnAnomaly> {
        match name {
            "G0" => Some(TxnAnomaly::G0),
            "G1c" => Some(TxnAnomaly::G1c),
            "G-single" => Some(TxnAnomaly::GSingle),
            "G2-item" => Some(TxnAnomaly::G2Item),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct TxnSynthOptions {
    pub datatype: TxnDatatype,
    pub clients: usize,
    pub txns: usize,
    /// Micro-operations per transaction.
    pub length: usize,
    /// Keys in use at once.
    pub keys: usize,
    pub max_writes_per_key: usize,
    /// Probability that a transaction crashes (`info`; takes effect or not).
    pub crash_rate: f64,
    pub anomaly: Option<TxnAnomaly>,
    pub seed: u64,
}

impl TxnSynthOptions {
    pub fn validate(&self) -> Result<(), String> {
        if self.clients == 0 || self.keys == 0 || self.length == 0 || self.max_writes_per_key == 0 {
            return Err(
                "clients, keys, the transaction length and writes per key must be at least 1"
                    .into(),
            );
        }
        if self.anomaly == Some(TxnAnomaly::G0) && self.datatype == TxnDatatype::RwRegister {
            return Err("G0 is injected into list-append histories only (registers order writes only through reads)".into());
        }
        Ok(())
    }
}

struct Rng(Xoshiro256StarStar);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// A micro-operation's value, kept typed until the history is written: a million
/// transactions of JSON values would not fit the benchmark's memory.
#[derive(Clone)]
enum Val {
    Int(i64),
    List(Vec<i64>),
    Reg(Option<i64>),
}

impl Val {
    fn json(&self) -> Value {
        match self {
            Val::Int(v) => json!(v),
            Val::List(l) => json!(l),
            Val::Reg(r) => json!(r),
        }
    }
}

/// A transaction being simulated.
struct Planned {
    process: u64,
    call: u64,
    apply: u64,
    ret: u64,
    crashed: bool,
    /// Filled in when it is applied: (function, key, invoke value, completion value).
    mops: Vec<(&'static str, u64, Val)>,
}

/// The simulated store.
struct Store {
    datatype: TxnDatatype,
    lists: Vec<Vec<i64>>,
    writes: Vec<usize>,
    active: Vec<u64>,
    next_key: u64,
    max_writes: usize,
    /// Values of writes that never took effect (crashed), unique across the history.
    ghost: i64,
}

impl Store {
    fn fresh_key(&mut self) -> u64 {
        let k = self.next_key;
        self.next_key += 1;
        self.lists.push(Vec::new());
        self.writes.push(0);
        k
    }

    fn read(&self, k: u64) -> Val {
        let l = &self.lists[k as usize];
        match self.datatype {
            TxnDatatype::ListAppend => Val::List(l.clone()),
            TxnDatatype::RwRegister => Val::Reg(l.last().copied()),
        }
    }

    /// Writes the next value of `k` (unique per key); retires the key when full.
    fn write(&mut self, k: u64, slot: usize) -> i64 {
        let v = self.writes[k as usize] as i64 + 1;
        self.writes[k as usize] += 1;
        self.lists[k as usize].push(v);
        if self.writes[k as usize] >= self.max_writes && self.active.get(slot) == Some(&k) {
            self.active[slot] = self.fresh_key();
        }
        v
    }

    fn write_f(&self) -> &'static str {
        match self.datatype {
            TxnDatatype::ListAppend => "append",
            TxnDatatype::RwRegister => "w",
        }
    }
}

/// Generates the history; returns it with the invoke index of the first transaction
/// of the injected anomaly, if one was injected.
pub fn generate_txns(o: &TxnSynthOptions) -> (History, Option<u64>) {
    let (planned, injected) = simulate(o);
    let injected_index = injected.map(|i| planned[i].call);
    (events(planned), injected_index)
}

/// The same transactions as [`generate_txns`], straight into the checker's form, with
/// no JSON in between (for the benchmark: the checker alone, on a million).
pub fn generate_compact(o: &TxnSynthOptions) -> Txns {
    let (planned, _) = simulate(o);
    let keys = planned
        .iter()
        .flat_map(|t| t.mops.iter().map(|m| m.1))
        .max()
        .map_or(0, |k| k + 1);
    let mut invoke_index = vec![0u64; planned.len()];
    for (index, (_, i, done)) in timeline(&planned).into_iter().enumerate() {
        if !done {
            invoke_index[i as usize] = index as u64;
        }
    }
    let mut lists = Lists::default();
    let txns = planned
        .into_iter()
        .enumerate()
        .map(|(i, t)| Txn {
            op: i,
            process: t.process,
            outcome: if t.crashed {
                Outcome::Info
            } else {
                Outcome::Ok
            },
            call: t.call,
            ret: if t.crashed { u64::MAX } else { t.ret },
            invoke_index: invoke_index[i],
            mops: t
                .mops
                .into_iter()
                .map(|(f, k, v)| {
                    let key = k as u32;
                    match (f, v) {
                        ("r", _) if t.crashed => Mop::Read {
                            key,
                            value: Read::Unknown,
                        },
                        ("r", Val::List(l)) => Mop::Read {
                            key,
                            value: Read::List(lists.add(key, &l)),
                        },
                        ("r", Val::Reg(r)) => Mop::Read {
                            key,
                            value: Read::Register(r),
                        },
                        ("append", Val::Int(value)) => Mop::Append { key, value },
                        (_, Val::Int(value)) => Mop::Write { key, value },
                        _ => unreachable!(
                            "the simulation writes integers and reads lists or registers"
                        ),
                    }
                })
                .collect(),
        })
        .collect();
    Txns {
        txns,
        keys: (0..keys as i64).map(KeyName::Int).collect(),
        lists,
    }
}

/// Runs the simulation: the transactions, and which one starts the injected anomaly.
fn simulate(o: &TxnSynthOptions) -> (Vec<Planned>, Option<usize>) {
    let mut rng = Rng(Xoshiro256StarStar::seed_from_u64(o.seed));
    let mut planned = schedule(o, &mut rng);
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_unstable_by_key(|&i| planned[i].apply);
    let mut store = Store {
        datatype: o.datatype,
        lists: Vec::new(),
        writes: Vec::new(),
        active: Vec::new(),
        next_key: 0,
        max_writes: o.max_writes_per_key,
        ghost: 1_000_000_000,
    };
    for _ in 0..o.keys {
        let k = store.fresh_key();
        store.active.push(k);
    }
    let inject_at = o
        .anomaly
        .map(|_| order.len() / 2)
        .filter(|&m| m + 3 <= order.len());
    let mut injected = None;
    let mut at = 0;
    while at < order.len() {
        if Some(at) == inject_at {
            let group: Vec<usize> = order[at..at + 3].to_vec();
            inject(
                o.anomaly.expect("asked for"),
                &mut store,
                &mut planned,
                &group,
            );
            injected = Some(group[0]);
            at += 3;
            continue;
        }
        let t = &mut planned[order[at]];
        let applies = !t.crashed || rng.chance(0.5);
        let mut mops = Vec::with_capacity(o.length);
        for _ in 0..o.length {
            let slot = rng.below(o.keys as u64) as usize;
            let k = store.active[slot];
            if rng.chance(0.5) {
                mops.push(("r", k, store.read(k)));
            } else if applies {
                let v = store.write(k, slot);
                mops.push((store.write_f(), k, Val::Int(v)));
            } else {
                // Not applied: a value nobody will see, still unique.
                store.ghost += 1;
                mops.push((store.write_f(), k, Val::Int(store.ghost)));
            }
        }
        t.mops = mops;
        at += 1;
    }
    (planned, injected)
}

/// Each client's transactions, back to back, with random durations.
fn schedule(o: &TxnSynthOptions, rng: &mut Rng) -> Vec<Planned> {
    let mut planned = Vec::with_capacity(o.txns);
    let mut clock = vec![0u64; o.clients];
    let mut process: Vec<u64> = (0..o.clients as u64).collect();
    for i in 0..o.txns {
        let c = i % o.clients;
        let call = clock[c] + 1 + rng.below(1000);
        let apply = call + 1 + rng.below(5000);
        let ret = apply + 1 + rng.below(5000);
        clock[c] = ret;
        let crashed = rng.chance(o.crash_rate);
        planned.push(Planned {
            process: process[c],
            call,
            apply,
            ret,
            crashed,
            mops: Vec::new(),
        });
        if crashed {
            process[c] += o.clients as u64;
        }
    }
    planned
}

/// Rewrites three consecutive transactions (in apply order) into the anomaly, on
/// fresh keys; the third reads what the first two did.
fn inject(a: TxnAnomaly, store: &mut Store, planned: &mut [Planned], group: &[usize]) {
    let (x, y) = (store.fresh_key(), store.fresh_key());
    let w = store.write_f();
    let push = |s: &mut Store, k: u64, v: i64| s.lists[k as usize].push(v);
    let (t1, t2, t3): (Vec<_>, Vec<_>, Vec<_>) = match a {
        TxnAnomaly::G0 => {
            // x: [1 2] (T1 then T2); y: [2 1] (T2 then T1).
            push(store, x, 1);
            push(store, x, 2);
            push(store, y, 2);
            push(store, y, 1);
            (
                vec![(w, x, Val::Int(1)), (w, y, Val::Int(1))],
                vec![(w, x, Val::Int(2)), (w, y, Val::Int(2))],
                vec![("r", x, store.read(x)), ("r", y, store.read(y))],
            )
        }
        TxnAnomaly::G1c => {
            push(store, x, 1);
            push(store, y, 1);
            let (rx, ry) = (store.read(x), store.read(y));
            (
                vec![(w, x, Val::Int(1)), ("r", y, ry)],
                vec![(w, y, Val::Int(1)), ("r", x, rx)],
                vec![],
            )
        }
        TxnAnomaly::GSingle => {
            let before = store.read(y);
            push(store, x, 1);
            push(store, y, 1);
            (
                vec![(w, x, Val::Int(1)), (w, y, Val::Int(1))],
                vec![("r", x, store.read(x)), ("r", y, before)],
                vec![],
            )
        }
        TxnAnomaly::G2Item => {
            let (rx, ry) = (store.read(x), store.read(y));
            push(store, x, 1);
            push(store, y, 1);
            (
                vec![
                    ("r", x, rx.clone()),
                    ("r", y, ry.clone()),
                    (w, x, Val::Int(1)),
                ],
                vec![("r", x, rx), ("r", y, ry), (w, y, Val::Int(1))],
                vec![("r", x, store.read(x)), ("r", y, store.read(y))],
            )
        }
    };
    store.writes[x as usize] = 2;
    store.writes[y as usize] = 2;
    for (i, mops) in [t1, t2, t3].into_iter().enumerate() {
        let t = &mut planned[group[i]];
        t.crashed = false;
        t.mops = mops;
    }
}

/// Every invocation and completion, in time order: (time, transaction, completion?).
fn timeline(planned: &[Planned]) -> Vec<(u64, u32, bool)> {
    let mut timed: Vec<(u64, u32, bool)> = Vec::with_capacity(planned.len() * 2);
    for (i, t) in planned.iter().enumerate() {
        timed.push((t.call, i as u32, false));
        timed.push((t.ret, i as u32, true));
    }
    timed.sort_unstable();
    timed
}

/// The events: invocations with reads blank, completions with reads filled (a
/// crashed transaction completes `info`, with its invocation's value).
fn events(planned: Vec<Planned>) -> History {
    let mut events = Vec::with_capacity(planned.len() * 2);
    each_event(&planned, |e| {
        events.push(e);
        Ok(())
    })
    .expect("collecting events cannot fail");
    History::from_events(events).expect("synthesized histories are well formed")
}

/// Writes the history [`generate_txns`] makes as JSONL, one event at a time: a
/// million transactions as a `History` would take about 11 GB, written this way
/// only the simulation's own transactions are held. Returns the number of events and
/// the invoke time of the injected anomaly's first transaction.
pub fn write_txns_jsonl(
    o: &TxnSynthOptions,
    out: &mut dyn std::io::Write,
) -> std::io::Result<(usize, Option<u64>)> {
    let (planned, injected) = simulate(o);
    let mut count = 0;
    each_event(&planned, |e| {
        count += 1;
        writeln!(out, "{}", e.to_jsonl_line())
    })?;
    Ok((count, injected.map(|i| planned[i].call)))
}

/// Calls `emit` with every event of the history, in order.
fn each_event(
    planned: &[Planned],
    mut emit: impl FnMut(Event) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for (index, (time, i, done)) in timeline(planned).into_iter().enumerate() {
        let t = &planned[i as usize];
        let filled = done && !t.crashed;
        let value = Value::Array(
            t.mops
                .iter()
                .map(|(f, k, v)| {
                    let v = if *f == "r" && !filled {
                        Value::Null
                    } else {
                        v.json()
                    };
                    json!([f, k, v])
                })
                .collect(),
        );
        let kind = match (done, t.crashed) {
            (false, _) => EventType::Invoke,
            (true, false) => EventType::Ok,
            (true, true) => EventType::Info,
        };
        emit(
            Event::new(index as u64, time, Process::Client(t.process), kind, "txn")
                .with_value(value),
        )?;
    }
    Ok(())
}
