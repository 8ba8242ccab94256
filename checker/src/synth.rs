//! Synthetic histories from a simulated linearizable object, for tests and
//! benchmarks: many clients, any length, crashed operations, and optionally one
//! injected anomaly that makes the history provably non-linearizable.
//!
//! The simulation is pure and seeded: the same options always give the same history.
//! Each client invokes an operation, which takes effect atomically at a random
//! instant before it completes (its linearization point), so the history is
//! linearizable by construction. Every value written is unique, as in Jepsen's
//! register workloads, unless a value count is given ([`SynthOptions::values`]):
//! then values are drawn from `1..=N` and repeat, the harder shape for a checker. A
//! crashed operation (probability `crash_rate`) takes effect or not at random,
//! completes with `info` (or never completes), and retires its process: the client
//! continues under a fresh process number, as Jepsen's do. Either way the crashed
//! operation stays open to the end of the history, so crashed operations
//! accumulate (1% of a million operations is 10,000 open ones), as in real runs.

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
    /// Once, halfway through, a read returns a value no write has produced yet; the
    /// only write of that value is invoked after the read completed (if the history
    /// goes on long enough for one).
    FutureRead,
}

impl Anomaly {
    pub const NAMES: &'static [&'static str] = &["stale-read", "lost-write", "future-read"];

    pub fn from_name(name: &str) -> Option<Anomaly> {
        match name {
            "stale-read" => Some(Anomaly::StaleRead),
            "lost-write" => Some(Anomaly::LostWrite),
            "future-read" => Some(Anomaly::FutureRead),
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
    /// How many distinct values writes draw from (`1..=N`, repeated); `None`: every
    /// value written is unique.
    pub values: Option<u64>,
}

impl SynthOptions {
    /// Why these options cannot make the history they describe, if they cannot: a
    /// stale read or lost write is a guaranteed violation only when written values
    /// are unique (a repeated value may be explained by another write of it).
    pub fn validate(&self) -> Result<(), String> {
        if self.values == Some(0) {
            return Err("--values must be at least 1".into());
        }
        match self.anomaly {
            Some(a @ (Anomaly::StaleRead | Anomaly::LostWrite)) if self.values.is_some() => {
                Err(format!(
                    "the {} anomaly is a guaranteed violation only with unique values: drop --values (future-read works with both)",
                    if a == Anomaly::StaleRead { "stale-read" } else { "lost-write" }
                ))
            }
            _ => Ok(()),
        }
    }
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
            values: None,
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

/// Simulates `options.clients` clients against one correct object (or one with the
/// anomaly asked for) and records the history they see. The same options always give
/// the same history.
pub fn generate(options: &SynthOptions) -> SynthOutcome {
    let mut sim = Sim::new(options);
    while let Some(Reverse((time, _, client, phase))) = sim.queue.pop() {
        match phase {
            INVOKE => sim.invoke(time, client),
            LINEARIZE => sim.linearize(time, client),
            _ => sim.complete(time, client),
        }
    }
    let history =
        History::from_events(sim.events).expect("the simulation produces well-formed histories");
    SynthOutcome {
        history,
        anomaly_at: sim.anomaly_at,
    }
}

/// The phases of one operation, in the order the simulation's queue runs them.
const INVOKE: u8 = 0;
const LINEARIZE: u8 = 1;
const COMPLETE: u8 = 2;

/// The simulation's whole state: the object, the clients' operations in flight, the
/// queue of what happens next, and the events recorded so far. One method per phase
/// of an operation, so each fits on a screen.
struct Sim<'a> {
    options: &'a SynthOptions,
    rng: Rng,
    clients: usize,
    keys: usize,
    cells: Vec<Cell>,
    overwritten: Vec<Vec<Overwritten>>,
    /// Each client's last value seen, for the `from` of its next CAS.
    last_seen: Vec<Value>,
    /// Each client's current process number (a new one after a crash).
    process_of: Vec<u64>,
    pending: HashMap<usize, Pending>,
    /// (time, order, client, phase).
    queue: BinaryHeap<Reverse<(u64, u64, usize, u8)>>,
    order: u64,
    events: Vec<Event>,
    invoked: usize,
    next_value: u64,
    anomaly_at: Option<u64>,
    anomaly_armed: bool,
    /// Lost write: the key frozen, and the completion time after which a read ends it.
    frozen: Option<(usize, u64)>,
    /// Future read: the value read before anyone wrote it, the serial number of the
    /// read, and its completion time once known (writes invoked after it write it).
    future: Option<FutureValue>,
}

/// The future-read anomaly's value, once a read has returned it.
struct FutureValue {
    value: u64,
    reader: u64,
    /// The key it was read from.
    cell: usize,
    read_done: Option<u64>,
    written: bool,
}

impl<'a> Sim<'a> {
    /// Every key at its initial value, every client's first invocation queued.
    fn new(options: &'a SynthOptions) -> Sim<'a> {
        let clients = options.clients.max(1);
        let kv = options.model == SynthModel::Kv;
        let keys = if kv { options.keys.max(1) } else { 1 };
        let initial = if kv { json!("") } else { Value::Null };
        let cell = Cell {
            value: initial,
            writer_ret: 0,
            writer: 0,
        };
        let mut sim = Sim {
            options,
            rng: Rng::new(options.seed),
            clients,
            keys,
            cells: vec![cell; keys],
            overwritten: vec![Vec::new(); keys],
            last_seen: vec![Value::Null; clients],
            process_of: (0..clients as u64).collect(),
            pending: HashMap::new(),
            queue: BinaryHeap::new(),
            order: 0,
            events: Vec::new(),
            invoked: 0,
            next_value: 1,
            anomaly_at: None,
            anomaly_armed: options.anomaly.is_some(),
            frozen: None,
            future: None,
        };
        for c in 0..clients {
            let at = sim.rng.range(0, 50);
            sim.schedule(at, c, INVOKE);
        }
        sim
    }

    /// Queues `phase` of `client`'s operation at `time` (ties in queueing order).
    fn schedule(&mut self, time: u64, client: usize, phase: u8) {
        self.queue.push(Reverse((time, self.order, client, phase)));
        self.order += 1;
    }

    /// Records one event of `process`.
    fn emit(&mut self, time: u64, process: u64, kind: EventType, op: &Pending, value: Value) {
        let index = self.events.len() as u64;
        self.events.push(Event {
            index,
            time,
            process: Process::Client(process),
            kind,
            f: op.f.to_string(),
            key: op.key.clone(),
            value,
            node: None,
            error: None,
            version: None,
            wall_start: None,
        });
    }

    /// The next operation `client` invokes: its function, what it does, its input.
    fn draw_action(&mut self, client: usize) -> (&'static str, Action, Value) {
        let roll = self.rng.range(0, 99);
        let model = self.options.model;
        let mut fresh = || match self.options.values {
            Some(n) => self.rng.range(1, n),
            None => {
                self.next_value += 1;
                self.next_value
            }
        };
        match model {
            SynthModel::Register if roll < 50 => ("read", Action::Read, Value::Null),
            SynthModel::Register => {
                let v = fresh();
                ("write", Action::Write(json!(v)), json!(v))
            }
            SynthModel::CasRegister if roll < 40 => ("read", Action::Read, Value::Null),
            SynthModel::CasRegister if roll < 70 => {
                let v = fresh();
                ("write", Action::Write(json!(v)), json!(v))
            }
            SynthModel::CasRegister => {
                let v = fresh();
                let from = self.last_seen[client].clone();
                ("cas", Action::Cas(from.clone(), json!(v)), json!([from, v]))
            }
            SynthModel::Kv if roll < 40 => ("get", Action::Read, Value::Null),
            SynthModel::Kv if roll < 50 => {
                let v = format!("p{} ", fresh());
                ("put", Action::Write(json!(v)), json!(v))
            }
            SynthModel::Kv => {
                let v = format!("a{} ", fresh());
                ("append", Action::Append(v.clone()), json!(v))
            }
        }
    }

    /// `client` invokes its next operation (unless every operation is invoked), and
    /// its linearization point is queued.
    fn invoke(&mut self, time: u64, client: usize) {
        if self.invoked >= self.options.ops {
            return;
        }
        self.invoked += 1;
        let cell = self.rng.range(0, self.keys as u64 - 1) as usize;
        let key = (self.options.model == SynthModel::Kv).then(|| json!(cell.to_string()));
        let (f, action, input) = self.draw_action(client);
        let (action, input) = self.write_future_value(time, cell, action, input);
        let process = self.process_of[client];
        let crashed = self.rng.chance(self.options.crash_rate);
        let op = Pending {
            serial: self.invoked as u64,
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
        };
        self.emit(time, process, EventType::Invoke, &op, op.input.clone());
        self.pending.insert(client, op);
        let lin = time + self.rng.range(1, 200);
        self.schedule(lin, client, LINEARIZE);
    }

    /// The future-read anomaly's write: once the read of the future value has
    /// completed, the next write invoked on its key writes that value, once.
    fn write_future_value(
        &mut self,
        time: u64,
        cell: usize,
        action: Action,
        input: Value,
    ) -> (Action, Value) {
        let Some(future) = self.future.as_mut() else {
            return (action, input);
        };
        if future.written || future.cell != cell || future.read_done.is_none_or(|done| time <= done)
        {
            return (action, input);
        }
        let v = future_json(self.options.model, future.value);
        // A write, not a CAS: a CAS may fail, and then nothing would write the value.
        let Action::Write(_) = action else {
            return (action, input);
        };
        future.written = true;
        (Action::Write(v.clone()), v)
    }

    /// `client`'s operation takes effect (or, crashed, may not), and its completion
    /// is queued.
    fn linearize(&mut self, time: u64, client: usize) {
        let mut op = self
            .pending
            .remove(&client)
            .expect("a linearization follows an invoke");
        let takes_effect = !op.crashed || self.rng.chance(0.5);
        let is_frozen = self.frozen.is_some_and(|(k, _)| k == op.cell);
        let current = self.cells[op.cell].value.clone();
        let next: Option<Value> = match &op.action {
            Action::Read => {
                self.read(&mut op, current, is_frozen);
                None
            }
            Action::Write(v) => Some(v.clone()),
            Action::Cas(from, to) if *from == current => Some(to.clone()),
            Action::Cas(..) => {
                op.ok = false;
                None
            }
            Action::Append(s) => Some(json!(format!("{}{s}", current.as_str().unwrap_or("")))),
        };
        if let (Some(v), true) = (next, takes_effect) {
            self.write(&mut op, v, is_frozen);
        }
        self.pending.insert(client, op);
        let done = time + self.rng.range(1, 200);
        self.schedule(done, client, COMPLETE);
    }

    /// A read's value: the key's current one, or, when the stale-read anomaly strikes,
    /// one no order can justify. A read after a lost write's completion thaws the key.
    fn read(&mut self, op: &mut Pending, current: Value, is_frozen: bool) {
        op.output = current;
        if self.anomaly_armed
            && self.options.anomaly == Some(Anomaly::FutureRead)
            && self.invoked * 2 >= self.options.ops
            && !op.crashed
        {
            // A value no write uses: the next unique one, or one past the value count.
            let value = match self.options.values {
                Some(n) => n + 1,
                None => {
                    self.next_value += 1;
                    self.next_value
                }
            };
            op.output = future_json(self.options.model, value);
            self.future = Some(FutureValue {
                value,
                reader: op.serial,
                cell: op.cell,
                read_done: None,
                written: false,
            });
            self.anomaly_armed = false;
            self.anomaly_at = Some(op.call);
            return;
        }
        if is_frozen && self.frozen.is_some_and(|(_, after)| op.call > after) {
            self.frozen = None;
        }
        if self.anomaly_armed
            && self.options.anomaly == Some(Anomaly::StaleRead)
            && self.invoked * 2 >= self.options.ops
        {
            // The newest value overwritten by an operation that completed before this
            // read began, itself written by an operation that completed before that
            // one was invoked: no order can justify reading it now.
            let stale = self.overwritten[op.cell]
                .iter()
                .rev()
                .find(|o| o.by_ret < op.call && o.value != op.output);
            if let Some(old) = stale {
                op.output = old.value.clone();
                self.anomaly_armed = false;
                self.anomaly_at = Some(op.call);
            }
        }
    }

    /// A change taking effect: applied, or, when the lost-write anomaly strikes,
    /// acknowledged but dropped (and the key frozen); a frozen key drops it too.
    fn write(&mut self, op: &mut Pending, value: Value, is_frozen: bool) {
        let cell = &mut self.cells[op.cell];
        let lose = self.anomaly_armed
            && self.options.anomaly == Some(Anomaly::LostWrite)
            && self.invoked * 2 >= self.options.ops
            && !op.crashed
            && cell.writer_ret < op.call;
        if lose {
            self.anomaly_armed = false;
            self.anomaly_at = Some(op.call);
            self.frozen = Some((op.cell, u64::MAX));
        } else if !is_frozen {
            if cell.writer_ret < op.call {
                op.replaced = Some(cell.value.clone());
            }
            cell.value = value;
            cell.writer = op.serial;
            cell.writer_ret = u64::MAX;
            op.wrote = true;
        }
    }

    /// `client`'s operation completes (or, crashed, maybe says `info`, and the client
    /// goes on as a new process), and its next invocation is queued.
    fn complete(&mut self, time: u64, client: usize) {
        let op = self
            .pending
            .remove(&client)
            .expect("a completion follows a linearization");
        self.record_completion(time, &op);
        if op.crashed {
            if self.rng.chance(0.5) {
                self.emit(time, op.process, EventType::Info, &op, op.input.clone());
            }
            self.process_of[client] += self.clients as u64;
        } else {
            let (kind, value) = match (&op.action, op.ok) {
                (Action::Read, _) => (EventType::Ok, op.output.clone()),
                (_, true) => (EventType::Ok, op.input.clone()),
                (_, false) => (EventType::Fail, op.input.clone()),
            };
            if let Action::Read = op.action {
                self.last_seen[client] = op.output.clone();
            }
            if let (Action::Cas(_, to), true) = (&op.action, op.ok) {
                self.last_seen[client] = to.clone();
            }
            self.emit(time, op.process, kind, &op, value);
        }
        let next = time + self.rng.range(0, 50);
        self.schedule(next, client, INVOKE);
    }

    /// What the anomalies need to know of a completion: when a lost write completed
    /// (a read after it thaws the key), when a value's writer completed, and which
    /// values are now provably overwritten.
    fn record_completion(&mut self, time: u64, op: &Pending) {
        if let Some(future) = self.future.as_mut() {
            if future.reader == op.serial {
                future.read_done = Some(time);
            }
        }
        if let Some((k, after)) = self.frozen.as_mut() {
            if *k == op.cell && *after == u64::MAX && self.anomaly_at == Some(op.call) {
                *after = time;
            }
        }
        if op.wrote && !op.crashed {
            let cell = &mut self.cells[op.cell];
            if cell.writer == op.serial && cell.writer_ret == u64::MAX {
                cell.writer_ret = time;
            }
        }
        if let (Some(value), false) = (op.replaced.clone(), op.crashed) {
            self.overwritten[op.cell].push(Overwritten {
                value,
                by_ret: time,
            });
        }
    }
}

/// How the model writes the value `v`: the number for registers, `"p<v> "` for kv
/// (as its puts do).
fn future_json(model: SynthModel, v: u64) -> Value {
    match model {
        SynthModel::Kv => json!(format!("p{v} ")),
        _ => json!(v),
    }
}
