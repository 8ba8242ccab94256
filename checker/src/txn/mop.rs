//! Transactions as the checker sees them: a history's `txn` operations parsed once
//! into micro-operations over interned keys, so the inference never touches JSON.
//!
//! The format (docs/history.md, "Transactions"): `"f": "txn"`, `"value"` a list of
//! `["append", k, v]`, `["r", k, v]`, `["w", k, v]`; the invocation carries the
//! requests (reads with `null`), the `ok` completion the same list with reads filled
//! in. Keys are integers or strings, values integers.

use crate::history::{History, Operation, Outcome};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::fmt;

/// The function every transaction operation carries.
pub const TXN_F: &str = "txn";

/// A key as the history spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyName {
    Int(i64),
    Str(String),
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyName::Int(i) => write!(f, "{i}"),
            KeyName::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// An interned key: an index into [`Txns::keys`].
pub type KeyId = u32;

/// What a read returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadValue {
    /// Not known: the transaction failed or is indeterminate, so its reads say nothing.
    Unknown,
    /// A list-append read (`null` or `[]` for a key never appended to).
    List(Vec<i64>),
    /// A register read (`None` for a key never written).
    Register(Option<i64>),
}

/// One micro-operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    Append { key: KeyId, value: i64 },
    Write { key: KeyId, value: i64 },
    Read { key: KeyId, value: ReadValue },
}

impl Mop {
    pub fn key(&self) -> KeyId {
        match self {
            Mop::Append { key, .. } | Mop::Write { key, .. } | Mop::Read { key, .. } => *key,
        }
    }
}

/// A transaction: one `txn` operation of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct Txn {
    /// The operation's id in [`History::ops`].
    pub op: usize,
    pub process: u64,
    pub outcome: Outcome,
    pub call: u64,
    /// `u64::MAX` when indeterminate.
    pub ret: u64,
    /// Index of the invoke event: how explanations name the transaction (`T12`).
    pub invoke_index: u64,
    pub mops: Vec<Mop>,
}

/// Which datatype the reads are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    List,
    Register,
}

/// The transactions of a history and the keys they name.
#[derive(Debug, Clone, Default)]
pub struct Txns {
    pub txns: Vec<Txn>,
    pub keys: Vec<KeyName>,
}

/// Why a history cannot be read as transactions; names the operation by its
/// invoke event's index.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation invoked at index {index}: {what}")]
pub struct TxnError {
    pub index: u64,
    pub what: String,
}

impl Txns {
    pub fn key(&self, k: KeyId) -> &KeyName {
        &self.keys[k as usize]
    }

    /// Parses every `txn` operation of `history` (other operations are skipped).
    pub fn parse(history: &History, kind: ReadKind) -> Result<Txns, TxnError> {
        let mut interner = FxHashMap::default();
        let mut keys = Vec::new();
        let mut txns = Vec::new();
        for op in history.ops.iter().filter(|o| o.f == TXN_F) {
            let err = |what: String| TxnError {
                index: op.invoke_index,
                what,
            };
            let source = if op.outcome == Outcome::Ok && op.output.is_array() {
                &op.output
            } else {
                &op.input
            };
            let list = source.as_array().ok_or_else(|| {
                err(format!(
                    "a txn's value must be a list of micro-operations, found {source}"
                ))
            })?;
            let known = op.outcome == Outcome::Ok;
            let mut mops = Vec::with_capacity(list.len());
            for (i, m) in list.iter().enumerate() {
                let mop = parse_mop(m, kind, known, &mut |name| {
                    *interner.entry(name).or_insert_with_key(|n: &KeyName| {
                        keys.push(n.clone());
                        (keys.len() - 1) as KeyId
                    })
                })
                .map_err(|w| err(format!("micro-operation {i} ({m}): {w}")))?;
                mops.push(mop);
            }
            txns.push(txn(op, mops));
        }
        Ok(Txns { txns, keys })
    }
}

fn txn(op: &Operation, mops: Vec<Mop>) -> Txn {
    Txn {
        op: op.id,
        process: op.process,
        outcome: op.outcome,
        call: op.call,
        ret: op.ret,
        invoke_index: op.invoke_index,
        mops,
    }
}

/// One `[f, k, v]`.
fn parse_mop(
    m: &Value,
    kind: ReadKind,
    known: bool,
    intern: &mut dyn FnMut(KeyName) -> KeyId,
) -> Result<Mop, String> {
    let parts = m
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or("a micro-operation is a list [f, key, value]")?;
    let f = parts[0].as_str().ok_or("its function must be a string")?;
    let f = f.strip_prefix(':').unwrap_or(f);
    let key = intern(match &parts[1] {
        Value::Number(n) => KeyName::Int(n.as_i64().ok_or("a key must be an integer or a string")?),
        Value::String(s) => KeyName::Str(s.clone()),
        other => {
            return Err(format!(
                "a key must be an integer or a string, found {other}"
            ))
        }
    });
    let int = |v: &Value| {
        v.as_i64()
            .ok_or_else(|| format!("a value must be an integer, found {v}"))
    };
    match f {
        "append" => Ok(Mop::Append {
            key,
            value: int(&parts[2])?,
        }),
        "w" => Ok(Mop::Write {
            key,
            value: int(&parts[2])?,
        }),
        "r" => {
            let value = if !known {
                ReadValue::Unknown
            } else {
                read_value(&parts[2], kind)?
            };
            Ok(Mop::Read { key, value })
        }
        other => Err(format!("unknown function `{other}` (known: append, r, w)")),
    }
}

fn read_value(v: &Value, kind: ReadKind) -> Result<ReadValue, String> {
    match (kind, v) {
        (ReadKind::List, Value::Null) => Ok(ReadValue::List(Vec::new())),
        (ReadKind::List, Value::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_i64()
                    .ok_or_else(|| format!("a list element must be an integer, found {x}"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(ReadValue::List),
        (ReadKind::List, other) => Err(format!(
            "a list-append read must be a list or null, found {other}"
        )),
        (ReadKind::Register, Value::Null) => Ok(ReadValue::Register(None)),
        (ReadKind::Register, Value::Number(n)) => n
            .as_i64()
            .map(|i| ReadValue::Register(Some(i)))
            .ok_or_else(|| format!("a register read must be an integer or null, found {n}")),
        (ReadKind::Register, other) => Err(format!(
            "a register read must be an integer or null, found {other}"
        )),
    }
}

/// A transaction's micro-operations as text: `[append 5 3] [r 7 [1 2]]`.
pub fn mops_text(txns: &Txns, t: &Txn) -> String {
    t.mops
        .iter()
        .map(|m| match m {
            Mop::Append { key, value } => format!("[append {} {value}]", txns.key(*key)),
            Mop::Write { key, value } => format!("[w {} {value}]", txns.key(*key)),
            Mop::Read { key, value } => format!("[r {} {}]", txns.key(*key), read_text(value)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn read_text(v: &ReadValue) -> String {
    match v {
        ReadValue::Unknown | ReadValue::Register(None) => "nil".into(),
        ReadValue::Register(Some(x)) => x.to_string(),
        ReadValue::List(l) => list_text(l),
    }
}

pub fn list_text(l: &[i64]) -> String {
    let items: Vec<String> = l.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(" "))
}
