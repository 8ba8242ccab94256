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

/// What a read returned, as clients hold it (the workloads build their results with
/// it); the checker keeps lists more compactly, as [`Read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadValue {
    /// Not known: the transaction failed or is indeterminate.
    Unknown,
    /// A list-append read (`null` or `[]` for a key never appended to).
    List(Vec<i64>),
    /// A register read (`None` for a key never written).
    Register(Option<i64>),
}

/// What a read returned, as the checker stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Not known: the transaction failed or is indeterminate, so its reads say nothing.
    Unknown,
    /// A list-append read (`null` or `[]` for a key never appended to), stored in
    /// [`Txns::lists`].
    List(ListRef),
    /// A register read (`None` for a key never written).
    Register(Option<i64>),
}

/// A list read, as a prefix of one of [`Lists`]' chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRef {
    pub chain: u32,
    pub len: u32,
}

/// Every list-append read, stored once: the reads of a key are, in a history with
/// no incompatible orders, prefixes of its longest read, so each key keeps one chain
/// (its longest read so far, extended in place) and a read is a prefix of it. A read
/// that is not starts a chain of its own. A million transactions' reads take a few
/// megabytes this way instead of hundreds (one vector per read).
#[derive(Debug, Clone, Default)]
pub struct Lists {
    chains: Vec<Vec<i64>>,
    /// Each key's chain, by [`KeyId`] (`u32::MAX`: none yet).
    current: Vec<u32>,
}

impl Lists {
    /// The list `r` names.
    pub fn get(&self, r: ListRef) -> &[i64] {
        match self.chains.get(r.chain as usize) {
            Some(chain) => &chain[..r.len as usize],
            None => &[],
        }
    }

    /// How many lists are stored (at least one per key read).
    pub fn chain_count(&self) -> usize {
        self.chains.len()
    }

    /// Stores a read of `key`.
    pub fn add(&mut self, key: KeyId, list: &[i64]) -> ListRef {
        let len = list.len() as u32;
        if list.is_empty() {
            return ListRef {
                chain: u32::MAX,
                len,
            };
        }
        if self.current.len() <= key as usize {
            self.current.resize(key as usize + 1, u32::MAX);
        }
        let at = self.current[key as usize];
        if let Some(chain) = self.chains.get_mut(at as usize) {
            if chain.starts_with(list) {
                return ListRef { chain: at, len };
            }
            if list.starts_with(chain) {
                let known = chain.len();
                chain.extend_from_slice(&list[known..]);
                return ListRef { chain: at, len };
            }
        }
        // The first read of the key, or one incompatible with its chain: the key's
        // chain from now on (later reads more likely extend the latest).
        self.chains.push(list.to_vec());
        let chain = (self.chains.len() - 1) as u32;
        self.current[key as usize] = chain;
        ListRef { chain, len }
    }
}

/// One micro-operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mop {
    Append { key: KeyId, value: i64 },
    Write { key: KeyId, value: i64 },
    Read { key: KeyId, value: Read },
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
    /// The lists list-append reads returned.
    pub lists: Lists,
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

    /// The list a list-append read returned.
    pub fn list(&self, r: ListRef) -> &[i64] {
        self.lists.get(r)
    }

    /// Parses every `txn` operation of `history` (other operations are skipped).
    pub fn parse(history: &History, kind: ReadKind) -> Result<Txns, TxnError> {
        let mut builder = TxnsBuilder::new(kind);
        for op in history.ops.iter().filter(|o| o.f == TXN_F) {
            let known = op.outcome == Outcome::Ok;
            let source = if known && op.output.is_array() {
                &op.output
            } else {
                &op.input
            };
            let mops = builder.mops(source, known).map_err(|what| TxnError {
                index: op.invoke_index,
                what,
            })?;
            builder.txns.push(txn(op, mops));
        }
        Ok(builder.finish())
    }
}

/// Transactions being read: the keys interned so far, and the transactions. Both
/// readers use it ([`Txns::parse`] on a history, [`super::stream`] on a file), so a
/// micro-operation means the same whichever way it came in.
pub(crate) struct TxnsBuilder {
    kind: ReadKind,
    interner: FxHashMap<KeyName, KeyId>,
    keys: Vec<KeyName>,
    lists: Lists,
    pub(crate) txns: Vec<Txn>,
}

impl TxnsBuilder {
    pub(crate) fn new(kind: ReadKind) -> TxnsBuilder {
        TxnsBuilder {
            kind,
            interner: FxHashMap::default(),
            keys: Vec::new(),
            lists: Lists::default(),
            txns: Vec::new(),
        }
    }

    /// The micro-operations of a txn's value; reads are `Unknown` unless `known`
    /// (an `ok` completion). The error says which micro-operation is wrong and why.
    pub(crate) fn mops(&mut self, source: &Value, known: bool) -> Result<Vec<Mop>, String> {
        let list = source.as_array().ok_or_else(|| {
            format!("a txn's value must be a list of micro-operations, found {source}")
        })?;
        list.iter()
            .enumerate()
            .map(|(i, m)| {
                self.mop(m, known)
                    .map_err(|w| format!("micro-operation {i} ({m}): {w}"))
            })
            .collect()
    }

    fn intern(&mut self, name: KeyName) -> KeyId {
        let keys = &mut self.keys;
        *self.interner.entry(name).or_insert_with_key(|n: &KeyName| {
            keys.push(n.clone());
            (keys.len() - 1) as KeyId
        })
    }

    pub(crate) fn finish(self) -> Txns {
        Txns {
            txns: self.txns,
            keys: self.keys,
            lists: self.lists,
        }
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

impl TxnsBuilder {
    /// One `[f, k, v]`.
    fn mop(&mut self, m: &Value, known: bool) -> Result<Mop, String> {
        let parts = m
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or("a micro-operation is a list [f, key, value]")?;
        let f = parts[0].as_str().ok_or("its function must be a string")?;
        let f = f.strip_prefix(':').unwrap_or(f);
        let key = self.intern(match &parts[1] {
            Value::Number(n) => {
                KeyName::Int(n.as_i64().ok_or("a key must be an integer or a string")?)
            }
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
                    Read::Unknown
                } else {
                    self.read_value(key, &parts[2])?
                };
                Ok(Mop::Read { key, value })
            }
            other => Err(format!("unknown function `{other}` (known: append, r, w)")),
        }
    }

    fn read_value(&mut self, key: KeyId, v: &Value) -> Result<Read, String> {
        match (self.kind, v) {
            (ReadKind::List, Value::Null) => Ok(Read::List(self.lists.add(key, &[]))),
            (ReadKind::List, Value::Array(items)) => {
                let list = items
                    .iter()
                    .map(|x| {
                        x.as_i64()
                            .ok_or_else(|| format!("a list element must be an integer, found {x}"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Read::List(self.lists.add(key, &list)))
            }
            (ReadKind::List, other) => Err(format!(
                "a list-append read must be a list or null, found {other}"
            )),
            (ReadKind::Register, Value::Null) => Ok(Read::Register(None)),
            (ReadKind::Register, Value::Number(n)) => n
                .as_i64()
                .map(|i| Read::Register(Some(i)))
                .ok_or_else(|| format!("a register read must be an integer or null, found {n}")),
            (ReadKind::Register, other) => Err(format!(
                "a register read must be an integer or null, found {other}"
            )),
        }
    }
}

/// A transaction's micro-operations as text: `[append 5 3] [r 7 [1 2]]`.
pub fn mops_text(txns: &Txns, t: &Txn) -> String {
    t.mops
        .iter()
        .map(|m| match m {
            Mop::Append { key, value } => format!("[append {} {value}]", txns.key(*key)),
            Mop::Write { key, value } => format!("[w {} {value}]", txns.key(*key)),
            Mop::Read { key, value } => {
                format!("[r {} {}]", txns.key(*key), read_text(txns, value))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn read_text(txns: &Txns, v: &Read) -> String {
    match v {
        Read::Unknown | Read::Register(None) => "nil".into(),
        Read::Register(Some(x)) => x.to_string(),
        Read::List(l) => list_text(txns.list(*l)),
    }
}

pub fn list_text(l: &[i64]) -> String {
    let items: Vec<String> = l.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(" "))
}
