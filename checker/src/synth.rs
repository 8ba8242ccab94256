//! Synthetic histories from a simulated linearizable object, for tests and
//! benchmarks: many clients, any length, crashed operations, and optionally one
//! injected anomaly that makes the history provably non-linearizable.
//!
//! The simulation is pure and seeded: the same options always give the same history.
//! Each client invokes an operation, which takes effect atomically at a random
//! instant before it completes (its linearization point), so the history is
//! linearizable by construction. Every value written is unique, as in Jepsen's
//! register workloads. A crashed operation (probability `crash_rate`) takes effect
//! or not at random, completes with `info` (or never completes), and retires its
//! process: the client continues under a fresh process number, as Jepsen's do.

use crate::history::{Event, EventType, History, Process};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256StarStar;
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The data types the simulation can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynthModel {
    Register,
    CasRegister,
    /// Keys `"0"`, `"1"`, ... of a store with get/put/append.
    Kv,
}

impl SynthModel {
    pub const NAMES: &'static [&'static str] = &["register", "cas-register", "kv"];

    pub fn from_name(name: &str) -> Option<SynthModel> {
        Some(match name {
            "register" => SynthModel::Register,
            "cas-register" => SynthModel::CasRegister,
            "kv" => SynthModel::Kv,
            _ => return None,
        })
    }
}

/// A deliberate fault in the simulated object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    /// Once, halfway through, a read returns a value that a write which completed
    /// before the read began had already overwritten.
    StaleRead,
    /// Once, halfway through, a write is acknowledged but not applied; the object then
    /// drops every change until a read has witnessed the old value.
    LostWrite,
}

impl Anomaly {
    pub fn from_name(name: &str) -> Option<Anomaly> {
        match name {
            "stale-read" => Some(Anomaly::StaleRead),
            "lost-write" => Some(Anomaly::LostWrite),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SynthOptions {
    pub model: SynthModel,
    pub clients: usize,
    /// Operations to invoke in all.
    pub ops: usize,
    /// Probability that an operation crashes (completes `info`, or never).
    pub crash_rate: f64,
    /// Keys, for `kv`.
    pub keys: usize,
    pub anomaly: Option<Anomaly>,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            model: SynthModel::CasRegister,
            clients: 5,
            ops: 1000,
            crash_rate: 0.0,
            keys: 1,
            anomaly: None,
            seed: 0,
        }
    }
}

/// What the generator did, besides the history: whether the anomaly asked for was
/// injected, and where.
#[derive(Debug, Clone)]
pub struct SynthOutcome {
    pub history: History,
    /// Event index of the invocation of the operation the anomaly struck, if any.
    pub anomaly_at: Option<u64>,
}

/// xoshiro256** seeded by SplitMix64 (`rand_xoshiro`): small, fast, and the same on
/// every platform and release, so a seed always synthesizes the same history.
struct Rng(Xoshiro256StarStar);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(Xoshiro256StarStar::seed_from_u64(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// One key's value in the simulated object, with who produced it, for anomalies
/// that must be provably visible.
#[derive(Clone)]
struct Cell {
    value: Value,
    /// Completion time of the operation that produced the value (0 for the initial
    /// value); `u64::MAX` while that operation is still running or crashed.
    writer_ret: u64,
    /// Serial number of that operation (to recognise it when it completes).
    writer: u64,
}

/// A value a completed operation overwrote, whose own writer had completed before the
/// overwriting operation was invoked: no order puts a read of it after `by_ret`.
#[derive(Clone)]
struct Overwritten {
    value: Value,
    /// When the overwriting operation completed.
    by_ret: u64,
}

#[derive(Clone)]
enum Action {
    Read,
    Write(Value),
    Cas(Value, Value),
    Append(String),
}

struct Pending {
    /// Invocation order, from 1.
    serial: u64,
    process: u64,
    f: &'static str,
    key: Option<Value>,
    action: Action,
    input: Value,
    call: u64,
    crashed: bool,
    /// Set at the linearization point.
    output: Value,
    ok: bool,
    /// Index into `cells` of the key, and whether the op changed it.
    cell: usize,
    wrote: bool,
    /// The value this operation overwrote, if its writer had completed before this
    /// operation was invoked: once this one completes, reading it is provably stale.
    replaced: Option<Value>,
}

pub fn generate(options: &SynthOptions) -> SynthOutcome {
    let mut rng = Rng::new(options.seed);
    let clients = options.clients.max(1);
    let keys = if options.model == SynthModel::Kv {
        options.keys.max(1)
    } else {
        1
    };
    let initial = if options.model == SynthModel::Kv {
        json!("")
    } else {
        Value::Null
    };
    let mut cells: Vec<Cell> = vec![
        Cell {
            value: initial,
            writer_ret: 0,
            writer: 0
        };
        keys
    ];
    let mut overwritten: Vec<Vec<Overwritten>> = vec![Vec::new(); keys];
    let mut last_seen: Vec<Value> = vec![Value::Null; clients];
    let mut process_of: Vec<u64> = (0..clients as u64).collect();
    let mut pending: HashMap<usize, Pending> = HashMap::new();
    // (time, order, client, phase): phase 0 invoke, 1 linearize, 2 complete.
    let mut queue: BinaryHeap<Reverse<(u64, u64, usize, u8)>> = BinaryHeap::new();
    let mut order = 0u64;
    for c in 0..clients {
        queue.push(Reverse((rng.range(0, 50), order, c, 0)));
        order += 1;
    }
    let mut events: Vec<Event> = Vec::new();
    let mut invoked = 0usize;
    let mut next_value: u64 = 1;
    let mut anomaly_at = None;
    let mut anomaly_armed = options.anomaly.is_some();
    // Lost write: the key frozen, and the completion time after which a read ends it.
    let mut frozen: Option<(usize, u64)> = None;
    let emit = |events: &mut Vec<Event>,
                time: u64,
                process: u64,
                kind: EventType,
                f: &str,
                key: &Option<Value>,
                value: Value| {
        let index = events.len() as u64;
        events.push(Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: key.clone(),
            value,
            node: None,
            error: None,
            version: None,
        });
    };

    while let Some(Reverse((time, _, client, phase))) = queue.pop() {
        match phase {
            0 => {
                if invoked >= options.ops {
                    continue;
                }
                invoked += 1;
                let cell = rng.range(0, keys as u64 - 1) as usize;
                let key = (options.model == SynthModel::Kv).then(|| json!(cell.to_string()));
                let roll = rng.range(0, 99);
                let (f, action, input) = match options.model {
                    SynthModel::Register if roll < 50 => ("read", Action::Read, Value::Null),
                    SynthModel::Register => {
                        next_value += 1;
                        ("write", Action::Write(json!(next_value)), json!(next_value))
                    }
                    SynthModel::CasRegister if roll < 40 => ("read", Action::Read, Value::Null),
                    SynthModel::CasRegister if roll < 70 => {
                        next_value += 1;
                        ("write", Action::Write(json!(next_value)), json!(next_value))
                    }
                    SynthModel::CasRegister => {
                        next_value += 1;
                        let from = last_seen[client].clone();
                        (
                            "cas",
                            Action::Cas(from.clone(), json!(next_value)),
                            json!([from, next_value]),
                        )
                    }
                    SynthModel::Kv if roll < 40 => ("get", Action::Read, Value::Null),
                    SynthModel::Kv if roll < 50 => {
                        next_value += 1;
                        let v = format!("p{next_value} ");
                        ("put", Action::Write(json!(v)), json!(v))
                    }
                    SynthModel::Kv => {
                        next_value += 1;
                        let v = format!("a{next_value} ");
                        ("append", Action::Append(v.clone()), json!(v))
                    }
                };
                let process = process_of[client];
                let crashed = rng.chance(options.crash_rate);
                emit(
                    &mut events,
                    time,
                    process,
                    EventType::Invoke,
                    f,
                    &key,
                    input.clone(),
                );
                pending.insert(
                    client,
                    Pending {
                        serial: invoked as u64,
                        process,
                        f,
                        key,
                        action,
                        input,
                        call: time,
                        crashed,
                        output: Value::Null,
                        ok: true,
                        cell,
                        wrote: false,
                        replaced: None,
                    },
                );
                let lin = time + rng.range(1, 200);
                queue.push(Reverse((lin, order, client, 1)));
                order += 1;
            }
            1 => {
                let op = pending
                    .get_mut(&client)
                    .expect("a linearization follows an invoke");
                let takes_effect = !op.crashed || rng.chance(0.5);
                let cell = &mut cells[op.cell];
                let is_frozen = frozen.is_some_and(|(k, _)| k == op.cell);
                let mut next: Option<Value> = None;
                match &op.action {
                    Action::Read => {
                        op.output = cell.value.clone();
                        if is_frozen && frozen.is_some_and(|(_, after)| op.call > after) {
                            frozen = None;
                        }
                        if anomaly_armed
                            && options.anomaly == Some(Anomaly::StaleRead)
                            && invoked * 2 >= options.ops
                        {
                            // The newest value overwritten by an operation that completed
                            // before this read began, itself written by an operation that
                            // completed before that one was invoked: no order can justify
                            // reading it now.
                            let stale = overwritten[op.cell]
                                .iter()
                                .rev()
                                .find(|o| o.by_ret < op.call && o.value != op.output);
                            if let Some(old) = stale {
                                op.output = old.value.clone();
                                anomaly_armed = false;
                                anomaly_at = Some(op.call);
                            }
                        }
                    }
                    Action::Write(v) => next = Some(v.clone()),
                    Action::Cas(from, to) => {
                        if *from == cell.value {
                            next = Some(to.clone());
                        } else {
                            op.ok = false;
                        }
                    }
                    Action::Append(s) => {
                        next = Some(json!(format!("{}{s}", cell.value.as_str().unwrap_or(""))))
                    }
                }
                if let (Some(v), true) = (next, takes_effect) {
                    let lose = anomaly_armed
                        && options.anomaly == Some(Anomaly::LostWrite)
                        && invoked * 2 >= options.ops
                        && !op.crashed
                        && cell.writer_ret < op.call;
                    if lose {
                        anomaly_armed = false;
                        anomaly_at = Some(op.call);
                        frozen = Some((op.cell, u64::MAX));
                    } else if !is_frozen {
                        if cell.writer_ret < op.call {
                            op.replaced = Some(cell.value.clone());
                        }
                        cell.value = v;
                        cell.writer = op.serial;
                        cell.writer_ret = u64::MAX;
                        op.wrote = true;
                    }
                }
                let done = time + rng.range(1, 200);
                queue.push(Reverse((done, order, client, 2)));
                order += 1;
            }
            _ => {
                let op = pending
                    .remove(&client)
                    .expect("a completion follows a linearization");
                if let Some((k, after)) = frozen.as_mut() {
                    if *k == op.cell && *after == u64::MAX && anomaly_at == Some(op.call) {
                        *after = time;
                    }
                }
                if op.wrote && !op.crashed {
                    let cell = &mut cells[op.cell];
                    if cell.writer == op.serial && cell.writer_ret == u64::MAX {
                        cell.writer_ret = time;
                    }
                }
                if let (Some(value), false) = (op.replaced.clone(), op.crashed) {
                    overwritten[op.cell].push(Overwritten {
                        value,
                        by_ret: time,
                    });
                }
                if op.crashed {
                    if rng.chance(0.5) {
                        emit(
                            &mut events,
                            time,
                            op.process,
                            EventType::Info,
                            op.f,
                            &op.key,
                            op.input.clone(),
                        );
                    }
                    process_of[client] += clients as u64;
                } else {
                    let (kind, value) = match (&op.action, op.ok) {
                        (Action::Read, _) => (EventType::Ok, op.output.clone()),
                        (_, true) => (EventType::Ok, op.input.clone()),
                        (_, false) => (EventType::Fail, op.input.clone()),
                    };
                    if let Action::Read = op.action {
                        last_seen[client] = op.output.clone();
                    }
                    if let (Action::Cas(_, to), true) = (&op.action, op.ok) {
                        last_seen[client] = to.clone();
                    }
                    emit(&mut events, time, op.process, kind, op.f, &op.key, value);
                }
                queue.push(Reverse((time + rng.range(0, 50), order, client, 0)));
                order += 1;
            }
        }
    }
    let history =
        History::from_events(events).expect("the simulation produces well-formed histories");
    SynthOutcome {
        history,
        anomaly_at,
    }
}
