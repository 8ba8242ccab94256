//! Transactions: the `txn-append` and `txn-register` workloads, as Elle's list-append
//! and rw-register generators make them.
//!
//! A transaction is one operation, `f` = `txn`, whose value is its micro-operations:
//! `["append", k, v]`, `["w", k, v]` and `["r", k, null]` on invocation; an `ok`
//! completion fills in what each read saw (`["r", k, [1, 2]]` for a list, `["r", k,
//! 5]` for a register, `null` for a key never written). Keys and values are integers.
//!
//! Why the generator looks the way it does (Kingsbury & Alvaro, "Elle", VLDB 2020):
//! every value written to a key is unique, so a read names the write it saw; a few
//! keys are live at once so transactions collide on them; and a key is retired for a
//! fresh one after `max_writes_per_key` writes, because a list that keeps growing makes
//! every read longer and a register's version order harder to infer the more writes
//! it has. Each micro-op is a read or a write with equal odds, as in Elle.

use crate::op::{Op, OpFn};
use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// What a transactional workload's transactions look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOptions {
    /// The most micro-operations a transaction has (each has 1 to this many).
    pub max_length: usize,
    /// Writes a key gets before it is retired for a fresh one.
    pub max_writes_per_key: u64,
}

impl Default for TxnOptions {
    /// Jepsen's PostgreSQL append test's usual settings.
    fn default() -> Self {
        TxnOptions {
            max_length: 4,
            max_writes_per_key: 32,
        }
    }
}

/// The two shapes of transactional data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnModel {
    /// Keys hold lists; writes append one element; a read returns the whole list.
    ListAppend,
    /// Keys hold one integer; writes overwrite it; a read returns it.
    RwRegister,
}

/// What a read saw: the checker's own type (`Unknown` on invocation).
pub use checker::txn::mop::ReadValue;

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    Append { key: u64, value: i64 },
    Write { key: u64, value: i64 },
    Read { key: u64, value: ReadValue },
}

impl Mop {
    pub fn key(&self) -> u64 {
        match self {
            Mop::Append { key, .. } | Mop::Write { key, .. } | Mop::Read { key, .. } => *key,
        }
    }

    pub fn is_read(&self) -> bool {
        matches!(self, Mop::Read { .. })
    }

    /// The history's form: `["append", k, v]`, `["w", k, v]`, `["r", k, result]`.
    pub fn to_json(&self) -> Value {
        let (f, key, value) = match self {
            Mop::Append { key, value } => ("append", key, Value::from(*value)),
            Mop::Write { key, value } => ("w", key, Value::from(*value)),
            Mop::Read { key, value } => (
                "r",
                key,
                match value {
                    ReadValue::Unknown | ReadValue::Register(None) => Value::Null,
                    ReadValue::List(items) => Value::from(items.clone()),
                    ReadValue::Register(Some(v)) => Value::from(*v),
                },
            ),
        };
        Value::Array(vec![Value::from(f), Value::from(*key), value])
    }

    /// Reads one micro-op of an invocation (a read's value is ignored: it is asked,
    /// not known).
    pub fn from_json(v: &Value) -> Result<Mop, String> {
        let parts = v
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| format!("a micro-op is [f, key, value], not {v}"))?;
        let key = parts[1]
            .as_u64()
            .ok_or_else(|| format!("{v}: the key is not a non-negative integer"))?;
        let value = || {
            parts[2]
                .as_i64()
                .ok_or_else(|| format!("{v}: the written value is not an integer"))
        };
        match parts[0].as_str() {
            Some("append") => Ok(Mop::Append {
                key,
                value: value()?,
            }),
            Some("w") => Ok(Mop::Write {
                key,
                value: value()?,
            }),
            Some("r") => Ok(Mop::Read {
                key,
                value: ReadValue::Unknown,
            }),
            _ => Err(format!("{v}: the function is not append, w or r")),
        }
    }
}

/// A transaction's micro-ops as the history's value.
pub fn to_json(mops: &[Mop]) -> Value {
    Value::Array(mops.iter().map(Mop::to_json).collect())
}

/// A transaction's micro-ops from an operation's value; the error says what is wrong.
pub fn from_json(v: &Value) -> Result<Vec<Mop>, String> {
    let items = v
        .as_array()
        .ok_or_else(|| format!("a transaction is a list of micro-ops, not {v}"))?;
    if items.is_empty() {
        return Err("a transaction has at least one micro-op".into());
    }
    items.iter().map(Mop::from_json).collect()
}

/// The micro-ops of an `ok` answer to the transaction `invoked`: the same functions,
/// keys and written values in the same order, every read filled in with a value of
/// the model's shape (a list of integers, or an integer; `null` for a key never
/// written). Why not, if not: a client adapter's answer is checked before it enters
/// the history.
pub fn completed(invoked: &[Mop], answer: &Value, model: TxnModel) -> Result<Vec<Mop>, String> {
    let items = answer
        .as_array()
        .filter(|a| a.len() == invoked.len())
        .ok_or_else(|| {
            format!(
                "a transaction of {} micro-ops was answered with {answer}",
                invoked.len()
            )
        })?;
    invoked
        .iter()
        .zip(items)
        .map(|(asked, got)| {
            let parsed = Mop::from_json(got)?;
            let Mop::Read { key, .. } = asked else {
                return if &parsed == asked {
                    Ok(parsed)
                } else {
                    Err(format!("{got} answers {asked}"))
                };
            };
            if parsed.key() != *key || !parsed.is_read() {
                return Err(format!("{got} answers {asked}"));
            }
            let v = &got[2];
            let value = match (model, v) {
                (TxnModel::ListAppend, Value::Null) => ReadValue::List(Vec::new()),
                (TxnModel::ListAppend, Value::Array(items)) => ReadValue::List(
                    items
                        .iter()
                        .map(Value::as_i64)
                        .collect::<Option<Vec<i64>>>()
                        .ok_or_else(|| format!("{got}: a list read holds a non-integer"))?,
                ),
                (TxnModel::RwRegister, Value::Null) => ReadValue::Register(None),
                (TxnModel::RwRegister, n) if n.is_i64() => ReadValue::Register(n.as_i64()),
                _ => return Err(format!("{got}: a read of the wrong shape for {model:?}")),
            };
            Ok(Mop::Read { key: *key, value })
        })
        .collect()
}

impl fmt::Display for Mop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// One live key: its id and the writes it has had.
#[derive(Debug, Clone)]
struct LiveKey {
    key: u64,
    writes: u64,
}

/// The transaction source of one test: seeded, over a pool of live keys that are
/// retired after `max_writes_per_key` writes each.
#[derive(Debug, Clone)]
pub struct TxnGenerator {
    model: TxnModel,
    options: TxnOptions,
    live: Vec<LiveKey>,
    next_key: u64,
}

impl TxnGenerator {
    pub fn new(model: TxnModel, active_keys: usize, options: TxnOptions) -> TxnGenerator {
        let active = active_keys.max(1) as u64;
        TxnGenerator {
            model,
            options: TxnOptions {
                max_length: options.max_length.max(1),
                max_writes_per_key: options.max_writes_per_key.max(1),
            },
            live: (0..active).map(|key| LiveKey { key, writes: 0 }).collect(),
            next_key: active,
        }
    }

    /// Every key used so far is below this.
    pub fn keys_used(&self) -> u64 {
        self.next_key
    }

    /// The next transaction, drawing from `rng`. A written value is the key's write
    /// count, so values are unique per key (1, 2, 3, ... in the order generated).
    pub fn next_op(&mut self, rng: &mut SmallRng) -> Op {
        let length = rng.gen_range(1..=self.options.max_length);
        let mut mops = Vec::with_capacity(length);
        for _ in 0..length {
            let slot = rng.gen_range(0..self.live.len());
            let live = &mut self.live[slot];
            let key = live.key;
            if rng.gen_bool(0.5) {
                mops.push(Mop::Read {
                    key,
                    value: ReadValue::Unknown,
                });
                continue;
            }
            live.writes += 1;
            let value = live.writes as i64;
            mops.push(match self.model {
                TxnModel::ListAppend => Mop::Append { key, value },
                TxnModel::RwRegister => Mop::Write { key, value },
            });
            if live.writes >= self.options.max_writes_per_key {
                *live = LiveKey {
                    key: self.next_key,
                    writes: 0,
                };
                self.next_key += 1;
            }
        }
        Op::txn(&mops)
    }
}

impl Op {
    /// A transaction of these micro-ops (`f` = `txn`; no key of its own).
    pub fn txn(mops: &[Mop]) -> Op {
        Op {
            f: OpFn::Txn,
            key: 0,
            value: to_json(mops),
            kind: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::{HashMap, HashSet};

    fn txns(model: TxnModel, seed: u64, n: usize, keys: usize, o: TxnOptions) -> Vec<Vec<Mop>> {
        let mut g = TxnGenerator::new(model, keys, o);
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n)
            .map(|_| from_json(&g.next_op(&mut rng).value).unwrap())
            .collect()
    }

    #[test]
    fn transactions_have_one_to_max_length_micro_ops_of_the_models_kind() {
        let o = TxnOptions {
            max_length: 3,
            max_writes_per_key: 10,
        };
        let lengths: HashSet<usize> = txns(TxnModel::ListAppend, 1, 2000, 4, o)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(lengths, HashSet::from([1, 2, 3]));
        for t in txns(TxnModel::RwRegister, 1, 500, 4, o) {
            assert!(t.iter().all(|m| !matches!(m, Mop::Append { .. })), "{t:?}");
        }
        let all = txns(TxnModel::ListAppend, 2, 2000, 4, o).concat();
        let reads = all.iter().filter(|m| m.is_read()).count();
        assert!(
            reads * 10 > all.len() * 4 && reads * 10 < all.len() * 6,
            "{reads} of {}",
            all.len()
        );
    }

    #[test]
    fn values_are_unique_per_key_and_keys_retire_after_their_writes() {
        let o = TxnOptions {
            max_length: 4,
            max_writes_per_key: 5,
        };
        let mut written: HashMap<u64, HashSet<i64>> = HashMap::new();
        let mut first_seen: Vec<u64> = Vec::new();
        for t in txns(TxnModel::RwRegister, 9, 3000, 3, o) {
            for m in t {
                if !first_seen.contains(&m.key()) {
                    first_seen.push(m.key());
                }
                if let Mop::Write { key, value } = m {
                    assert!(
                        written.entry(key).or_default().insert(value),
                        "{key} {value}"
                    );
                }
            }
        }
        assert!(written.values().all(|vs| vs.len() <= 5));
        let full = written.values().filter(|vs| vs.len() == 5).count();
        assert!(full + 3 >= written.len() && full > 100, "{full}");
        // A fresh key is the next integer: the keys used are 0..n, none skipped.
        let mut sorted = first_seen.clone();
        sorted.sort();
        assert_eq!(sorted, (0..first_seen.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn the_same_seed_gives_the_same_transactions() {
        let o = TxnOptions::default();
        assert_eq!(
            txns(TxnModel::ListAppend, 4, 300, 5, o),
            txns(TxnModel::ListAppend, 4, 300, 5, o)
        );
        assert_ne!(
            txns(TxnModel::ListAppend, 4, 300, 5, o),
            txns(TxnModel::ListAppend, 5, 300, 5, o)
        );
    }

    #[test]
    fn micro_ops_round_trip_through_the_history_form_and_bad_ones_are_named() {
        let mops = vec![
            Mop::Append { key: 3, value: 7 },
            Mop::Read {
                key: 3,
                value: ReadValue::Unknown,
            },
            Mop::Write { key: 1, value: 2 },
        ];
        let v = to_json(&mops);
        assert_eq!(v.to_string(), r#"[["append",3,7],["r",3,null],["w",1,2]]"#);
        assert_eq!(from_json(&v).unwrap(), mops);
        let read = Mop::Read {
            key: 3,
            value: ReadValue::List(vec![1, 2]),
        };
        assert_eq!(read.to_json().to_string(), r#"["r",3,[1,2]]"#);
        let e = from_json(&serde_json::json!([["cas", 1, 2]])).unwrap_err();
        assert!(e.contains("not append, w or r"), "{e}");
        let e = from_json(&serde_json::json!([["w", -1, 2]])).unwrap_err();
        assert!(e.contains("key"), "{e}");
        assert!(from_json(&serde_json::json!([])).is_err());
    }
}
