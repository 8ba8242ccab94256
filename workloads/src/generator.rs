//! Seeded operation generators over many independent keys, and the rate limiter.
//!
//! Why independent keys: checking linearizability is exponential in the number of
//! concurrent operations on one object, so, as Jepsen's `independent` generator does,
//! each key gets a bounded number of operations (`ops_per_key`, ~150 by default) and
//! is then retired for a fresh one. A few keys are live at once so that concurrent
//! processes collide on the same key. Every value written to a key (by `write`, as the
//! `to` of a `cas`, or appended) is unique for that key, which lets the checker prune
//! its search: a read names the one write it saw.
//!
//! A generator is deterministic for its seed: the same seed gives the same sequence of
//! operations. Which process runs which operation depends on timing, as in any real
//! test; the sequence itself does not.

use crate::op::{Kind, Op};
use crate::txn::{TxnGenerator, TxnModel, TxnOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The workloads a test can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Reads and writes of registers.
    Register,
    /// Reads, writes and compare-and-sets of registers.
    CasRegister,
    /// Appends of unique elements to lists, and reads of whole lists.
    Append,
    /// Adds of unique elements to sets (appends on the wire), and reads of whole sets.
    Set,
    /// Adds of small positive increments to counters (appends of the increment on
    /// the wire), and reads of their sums.
    Counter,
    /// Transfers between [`BANK_ACCOUNTS`] accounts and whole-bank reads; needs a
    /// system with atomic transfers and snapshot reads (cl-bank).
    Bank,
    /// `generate`s of IDs, each a read-then-CAS allocation on a counter key.
    UniqueIds,
    /// Transactions of list appends and whole-list reads (Elle's list-append).
    TxnAppend,
    /// Transactions of register writes and reads (Elle's rw-register).
    TxnRegister,
    /// Maelstrom's broadcast: `broadcast` of unique integers and `read`s of every
    /// message a node has seen (set adds and reads); Maelstrom nodes only.
    Broadcast,
    /// Maelstrom's g-set: `add` of unique elements and `read`s of the whole set;
    /// Maelstrom nodes only (the KV protocol's sets are the `set` workload).
    GSet,
    /// Maelstrom's echo: `echo` of a unique text, answered with the same text;
    /// Maelstrom nodes only.
    Echo,
    /// Adds of small increments of either sign (never 0) to counters, and reads of
    /// their sums: Maelstrom's pn-counter, and the KV protocol's counter with
    /// decrements.
    PnCounter,
    /// Maelstrom's kafka: `send`s of unique messages to a few logs, `poll`s of them
    /// from each client's position, `commit_offsets` and `list_committed_offsets`;
    /// Maelstrom nodes only. The logs are the active keys, never rotated.
    Kafka,
}

/// The bank workload's accounts, `0..BANK_ACCOUNTS`, and each one's balance at the
/// start: cl-bank's defaults, which the harness also passes to it explicitly.
pub const BANK_ACCOUNTS: u64 = 10;
pub const BANK_INITIAL_BALANCE: i64 = 100;

impl Workload {
    pub const NAMES: &'static [&'static str] = &[
        "register",
        "cas-register",
        "append",
        "set",
        "counter",
        "bank",
        "unique-ids",
        "txn-append",
        "txn-register",
        "broadcast",
        "g-set",
        "echo",
        "pn-counter",
        "kafka",
    ];

    /// Maelstrom's names for faultline's workloads, accepted by `--workload`.
    pub const ALIASES: &'static [(&'static str, Workload)] = &[
        ("lin-kv", Workload::CasRegister),
        ("g-counter", Workload::Counter),
        ("txn-list-append", Workload::TxnAppend),
        ("txn-rw-register", Workload::TxnRegister),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Register => "register",
            Workload::CasRegister => "cas-register",
            Workload::Append => "append",
            Workload::Set => "set",
            Workload::Counter => "counter",
            Workload::Bank => "bank",
            Workload::UniqueIds => "unique-ids",
            Workload::Broadcast => "broadcast",
            Workload::GSet => "g-set",
            Workload::Echo => "echo",
            Workload::PnCounter => "pn-counter",
            Workload::Kafka => "kafka",
            Workload::TxnAppend => "txn-append",
            Workload::TxnRegister => "txn-register",
        }
    }

    /// The transactional model of a transactional workload.
    pub fn txn_model(self) -> Option<TxnModel> {
        match self {
            Workload::TxnAppend => Some(TxnModel::ListAppend),
            Workload::TxnRegister => Some(TxnModel::RwRegister),
            _ => None,
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "register" => Ok(Workload::Register),
            "cas-register" => Ok(Workload::CasRegister),
            "append" => Ok(Workload::Append),
            "set" => Ok(Workload::Set),
            "counter" => Ok(Workload::Counter),
            "bank" => Ok(Workload::Bank),
            "unique-ids" => Ok(Workload::UniqueIds),
            "txn-append" => Ok(Workload::TxnAppend),
            "txn-register" => Ok(Workload::TxnRegister),
            "broadcast" => Ok(Workload::Broadcast),
            "g-set" => Ok(Workload::GSet),
            "echo" => Ok(Workload::Echo),
            "pn-counter" => Ok(Workload::PnCounter),
            "kafka" => Ok(Workload::Kafka),
            other => match Workload::ALIASES.iter().find(|(name, _)| *name == other) {
                Some((_, w)) => Ok(*w),
                None => Err(format!(
                    "unknown workload `{other}` (known: {}; Maelstrom's lin-kv, g-counter, txn-list-append and txn-rw-register are cas-register, counter, txn-append and txn-register)",
                    Workload::NAMES.join(", ")
                )),
            },
        }
    }
}

/// How keys are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyOptions {
    /// Keys live at once; each operation picks one of them at random.
    pub active_keys: usize,
    /// Operations a key gets before it is retired for a fresh key.
    pub ops_per_key: u64,
}

impl Default for KeyOptions {
    fn default() -> Self {
        KeyOptions {
            active_keys: 4,
            ops_per_key: 150,
        }
    }
}

/// How many recently written values a `cas` may name as `from`: recent enough that
/// many CASes succeed, varied enough that many fail.
const CAS_CANDIDATES: usize = 3;

#[derive(Debug, Clone)]
struct KeyState {
    key: u64,
    issued: u64,
    /// The next unique value (or element) for this key.
    next_value: i64,
    /// Values recently written to this key (newest last), for `cas` to compare with.
    recent: VecDeque<i64>,
}

impl KeyState {
    fn new(key: u64) -> KeyState {
        KeyState {
            key,
            issued: 0,
            next_value: 1,
            recent: VecDeque::with_capacity(CAS_CANDIDATES),
        }
    }

    fn fresh_value(&mut self) -> i64 {
        let v = self.next_value;
        self.next_value += 1;
        if self.recent.len() == CAS_CANDIDATES {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
        v
    }
}

/// The operation source of one test: a seeded random mix over rotating keys.
#[derive(Debug, Clone)]
pub struct Generator {
    workload: Workload,
    keys: KeyOptions,
    rng: SmallRng,
    active: Vec<KeyState>,
    next_key: u64,
    generated: u64,
    /// The transaction source, for the transactional workloads.
    txn: Option<TxnGenerator>,
}

impl Generator {
    pub fn new(workload: Workload, seed: u64, keys: KeyOptions) -> Generator {
        let active_keys = keys.active_keys.max(1);
        let keys = KeyOptions {
            active_keys,
            ops_per_key: keys.ops_per_key.max(1),
        };
        Generator {
            workload,
            keys,
            // A distinct stream from the nemesis's, which is seeded from the same seed.
            rng: SmallRng::seed_from_u64(seed ^ 0x776f_726b_6c6f_6164),
            active: (0..active_keys as u64).map(KeyState::new).collect(),
            next_key: active_keys as u64,
            generated: 0,
            txn: workload
                .txn_model()
                .map(|m| TxnGenerator::new(m, active_keys, TxnOptions::default())),
        }
    }

    /// The same generator with these transaction settings (only the transactional
    /// workloads use them).
    pub fn with_txn_options(mut self, options: TxnOptions) -> Generator {
        if let Some(model) = self.workload.txn_model() {
            self.txn = Some(TxnGenerator::new(model, self.keys.active_keys, options));
        }
        self
    }

    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// Every key used so far (`0..keys_used()`): what the final reads read.
    pub fn keys_used(&self) -> u64 {
        match &self.txn {
            Some(t) => t.keys_used(),
            None => self.next_key,
        }
    }

    pub fn generated(&self) -> u64 {
        self.generated
    }

    /// The reads taken from every node after the final heal: every key used, read as
    /// the workload reads it; for the bank, one whole-bank read; for kafka, one poll
    /// of every log from its start; none for unique IDs (their allocation counters
    /// say nothing about uniqueness).
    pub fn final_read_ops(&self) -> Vec<Op> {
        let kind = match self.workload {
            Workload::Set | Workload::Broadcast | Workload::GSet => Kind::SetRead,
            Workload::Counter | Workload::PnCounter => Kind::CounterRead,
            Workload::Bank => return vec![Op::bank_read(true)],
            Workload::UniqueIds | Workload::Echo | Workload::TxnAppend | Workload::TxnRegister => {
                return Vec::new()
            }
            Workload::Kafka => {
                let logs: Vec<u64> = (0..self.keys_used()).collect();
                return vec![Op::kafka_final_poll(&logs)];
            }
            Workload::Register | Workload::CasRegister | Workload::Append => Kind::Plain,
        };
        (0..self.keys_used())
            .map(|k| Op::final_read(k).with_kind(kind))
            .collect()
    }

    /// The next operation.
    pub fn next_op(&mut self) -> Op {
        if let Some(txn) = &mut self.txn {
            self.generated += 1;
            return txn.next_op(&mut self.rng);
        }
        let slot = self.rng.gen_range(0..self.active.len());
        let roll: u32 = self.rng.gen_range(0..6);
        let state = &mut self.active[slot];
        let key = state.key;
        let op = match self.workload {
            Workload::Register => {
                if roll < 3 {
                    Op::read(key)
                } else {
                    Op::write(key, state.fresh_value())
                }
            }
            Workload::CasRegister => match roll {
                0 | 1 => Op::read(key),
                2 | 3 => Op::write(key, state.fresh_value()),
                _ => {
                    // Compare with a recent value (or nil, before anything was written).
                    let from = if state.recent.is_empty() {
                        Value::Null
                    } else {
                        let i = self.rng.gen_range(0..state.recent.len());
                        Value::from(state.recent[i])
                    };
                    Op::cas(key, from, state.fresh_value())
                }
            },
            Workload::Append => {
                if roll < 3 {
                    Op::read(key)
                } else {
                    Op::append(key, state.fresh_value())
                }
            }
            Workload::Set | Workload::Broadcast | Workload::GSet => {
                if roll < 2 {
                    Op::read(key).with_kind(Kind::SetRead)
                } else {
                    Op::set_add(key, state.fresh_value())
                }
            }
            Workload::Counter => {
                if roll < 3 {
                    Op::read(key).with_kind(Kind::CounterRead)
                } else {
                    Op::counter_add(key, self.rng.gen_range(1..=5))
                }
            }
            Workload::PnCounter => {
                if roll < 3 {
                    Op::read(key).with_kind(Kind::CounterRead)
                } else {
                    let magnitude = self.rng.gen_range(1..=5);
                    let sign = if self.rng.gen_bool(0.5) { 1 } else { -1 };
                    Op::counter_add(key, sign * magnitude)
                }
            }
            Workload::UniqueIds => Op::generate(key),
            Workload::TxnAppend | Workload::TxnRegister => {
                unreachable!("transactional workloads have a transaction generator")
            }
            Workload::Echo => Op::echo(format!("echo {}", state.fresh_value())),
            Workload::Kafka => {
                // The logs are fixed: a poll after a send must be able to ask for
                // its log, so keys do not rotate.
                self.generated += 1;
                return self.kafka_op(roll, key);
            }
            Workload::Bank => {
                // The bank is one object: keys do not rotate.
                self.generated += 1;
                return if roll < 2 {
                    Op::bank_read(false)
                } else {
                    let from = self.rng.gen_range(0..BANK_ACCOUNTS);
                    let to = (from + self.rng.gen_range(1..BANK_ACCOUNTS)) % BANK_ACCOUNTS;
                    Op::transfer(from, to, self.rng.gen_range(1..=5))
                };
            }
        };
        state.issued += 1;
        if state.issued >= self.keys.ops_per_key {
            *state = KeyState::new(self.next_key);
            self.next_key += 1;
        }
        self.generated += 1;
        op
    }
}

impl Generator {
    /// A kafka operation: half sends to `key` (of a message unique in the test),
    /// a third polls of every log, the rest commits and lists of committed offsets.
    fn kafka_op(&mut self, roll: u32, key: u64) -> Op {
        let logs: Vec<u64> = self.active.iter().map(|s| s.key).collect();
        match roll {
            0..=2 => Op::kafka_send(key, self.generated as i64),
            3 | 4 => Op::kafka(Kind::KafkaPoll, &logs),
            _ if self.rng.gen_bool(0.5) => Op::kafka(Kind::KafkaCommit, &logs),
            _ => Op::kafka(Kind::KafkaList, &logs),
        }
    }
}

/// Spaces operations out to a target rate over all processes together: each caller
/// takes the next free slot on a shared timeline and sleeps until it.
///
/// A slot missed (the processes were all busy) is not made up for in a burst: the
/// timeline never runs behind the present by more than one interval.
#[derive(Debug)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `ops_per_second` of 0 (or not finite) means no limit.
    pub fn new(ops_per_second: f64) -> RateLimiter {
        let interval = (ops_per_second.is_finite() && ops_per_second > 0.0)
            .then(|| Duration::from_secs_f64(1.0 / ops_per_second));
        RateLimiter {
            interval,
            next: Mutex::new(Instant::now()),
        }
    }

    pub fn unlimited() -> RateLimiter {
        RateLimiter::new(0.0)
    }

    /// The instant the caller may go, reserving it; `None` when unlimited.
    pub fn reserve(&self) -> Option<Instant> {
        let interval = self.interval?;
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if *next + interval < now { now } else { *next };
        *next = slot + interval;
        Some(slot)
    }

    /// Waits for the caller's slot.
    pub async fn acquire(&self) {
        if let Some(at) = self.reserve() {
            tokio::time::sleep_until(at.into()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpFn;
    use std::collections::{HashMap, HashSet};

    fn ops(workload: Workload, seed: u64, n: usize) -> Vec<Op> {
        let mut g = Generator::new(workload, seed, KeyOptions::default());
        (0..n).map(|_| g.next_op()).collect()
    }

    #[test]
    fn same_seed_same_operations_other_seed_other_operations() {
        for w in [Workload::Register, Workload::CasRegister, Workload::Append] {
            assert_eq!(ops(w, 7, 2000), ops(w, 7, 2000));
            assert_ne!(ops(w, 7, 2000), ops(w, 8, 2000));
        }
    }

    #[test]
    fn written_values_are_unique_per_key() {
        for w in [Workload::Register, Workload::CasRegister, Workload::Append] {
            let mut seen: HashSet<(u64, i64)> = HashSet::new();
            for op in ops(w, 3, 20_000) {
                let written = match op.f {
                    OpFn::Write | OpFn::Append => op.value.as_i64(),
                    OpFn::Cas => op.value[1].as_i64(),
                    _ => None,
                };
                if let Some(v) = written {
                    assert!(
                        seen.insert((op.key, v)),
                        "{w}: value {v} written twice to key {}",
                        op.key
                    );
                }
            }
            assert!(seen.len() > 5000, "{w}: only {} writes", seen.len());
        }
    }

    #[test]
    fn keys_rotate_after_a_bounded_number_of_operations() {
        let keys = KeyOptions {
            active_keys: 3,
            ops_per_key: 100,
        };
        let mut g = Generator::new(Workload::CasRegister, 1, keys);
        let mut per_key: HashMap<u64, u64> = HashMap::new();
        for _ in 0..10_000 {
            *per_key.entry(g.next_op().key).or_default() += 1;
        }
        assert!(
            per_key.values().all(|&n| n <= 100),
            "a key got more than 100 ops"
        );
        // All but the keys still active got exactly their quota.
        let full = per_key.values().filter(|&&n| n == 100).count();
        assert!(
            full >= per_key.len() - 3,
            "{full} of {} keys full",
            per_key.len()
        );
        // Keys just rotated in may not have had an operation yet.
        let used = g.keys_used() as usize;
        assert!(
            used >= per_key.len() && used <= per_key.len() + 3,
            "{used} keys for {}",
            per_key.len()
        );
    }

    #[test]
    fn the_mix_has_every_function_of_the_workload() {
        let count = |w, f| ops(w, 11, 3000).iter().filter(|o| o.f == f).count();
        for f in [OpFn::Read, OpFn::Write, OpFn::Cas] {
            assert!(
                count(Workload::CasRegister, f) > 700,
                "cas-register has too few {f}"
            );
        }
        assert_eq!(count(Workload::Register, OpFn::Cas), 0);
        assert!(count(Workload::Append, OpFn::Append) > 1200);
        assert_eq!(count(Workload::Append, OpFn::Write), 0);
    }

    #[test]
    fn cas_compares_with_a_recently_written_value() {
        let mut g = Generator::new(
            Workload::CasRegister,
            5,
            KeyOptions {
                active_keys: 1,
                ops_per_key: 1_000_000,
            },
        );
        let mut written: Vec<i64> = Vec::new();
        for _ in 0..5000 {
            let op = g.next_op();
            match op.f {
                OpFn::Write => written.push(op.value.as_i64().unwrap()),
                OpFn::Cas => {
                    if let Some(from) = op.value[0].as_i64() {
                        assert!(written
                            .iter()
                            .rev()
                            .take(CAS_CANDIDATES)
                            .any(|&w| w == from));
                    } else {
                        assert!(written.is_empty());
                    }
                    written.push(op.value[1].as_i64().unwrap());
                }
                _ => {}
            }
        }
    }

    #[test]
    fn the_new_workloads_record_their_own_functions_and_final_reads() {
        let names = |w: Workload| -> HashSet<&'static str> {
            ops(w, 5, 2000).iter().map(|o| o.history_f()).collect()
        };
        assert_eq!(names(Workload::Set), HashSet::from(["add", "read"]));
        assert_eq!(names(Workload::Counter), HashSet::from(["add", "read"]));
        assert_eq!(names(Workload::UniqueIds), HashSet::from(["generate"]));
        assert_eq!(names(Workload::Bank), HashSet::from(["transfer", "read"]));
        for op in ops(Workload::Bank, 5, 2000) {
            if op.kind == Kind::Transfer {
                let (from, to) = (
                    op.value["from"].as_u64().unwrap(),
                    op.value["to"].as_u64().unwrap(),
                );
                assert!(
                    from != to && from < BANK_ACCOUNTS && to < BANK_ACCOUNTS,
                    "{op:?}"
                );
                assert!((1..=5).contains(&op.value["amount"].as_i64().unwrap()));
            }
        }
        for op in ops(Workload::Counter, 5, 2000) {
            if op.kind == Kind::CounterAdd {
                assert!((1..=5).contains(&op.value.as_i64().unwrap()));
            }
        }
        let pn: Vec<i64> = ops(Workload::PnCounter, 5, 2000)
            .iter()
            .filter(|o| o.kind == Kind::CounterAdd)
            .map(|o| o.value.as_i64().unwrap())
            .collect();
        assert!(pn.iter().all(|d| (1..=5).contains(&d.abs())), "{pn:?}");
        assert!(pn.iter().any(|d| *d < 0) && pn.iter().any(|d| *d > 0));
        let mut g = Generator::new(Workload::Counter, 1, KeyOptions::default());
        for _ in 0..1000 {
            g.next_op();
        }
        let finals = g.final_read_ops();
        assert_eq!(finals.len() as u64, g.keys_used());
        assert!(finals
            .iter()
            .all(|o| o.f == OpFn::FinalRead && o.kind == Kind::CounterRead));
        let bank = Generator::new(Workload::Bank, 1, KeyOptions::default()).final_read_ops();
        assert_eq!(bank, vec![Op::bank_read(true)]);
        assert!(
            Generator::new(Workload::UniqueIds, 1, KeyOptions::default())
                .final_read_ops()
                .is_empty()
        );
    }

    #[test]
    fn workload_names_parse() {
        for name in Workload::NAMES {
            assert_eq!(name.parse::<Workload>().unwrap().name(), *name);
        }
        assert!("queue"
            .parse::<Workload>()
            .unwrap_err()
            .contains("known: register"));
    }

    #[tokio::test]
    async fn rate_limiter_spaces_operations() {
        let limiter = RateLimiter::new(1000.0);
        let slots: Vec<Instant> = (0..50).map(|_| limiter.reserve().unwrap()).collect();
        for pair in slots.windows(2) {
            assert_eq!(pair[1] - pair[0], Duration::from_millis(1));
        }
        assert!(RateLimiter::unlimited().reserve().is_none());
        assert!(RateLimiter::new(0.0).reserve().is_none());
    }
}
