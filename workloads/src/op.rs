//! An operation as a client process invokes it, and how it completed.
//!
//! The names are the history's (`docs/history.md`): what is written here is exactly
//! what the checker reads back, so a workload never needs a translation step.

use checker::history::EventType;
use serde_json::Value;
use std::fmt;

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpFn {
    /// Read a key's value.
    Read,
    /// Overwrite a key's value.
    Write,
    /// Compare-and-set: the value is `[from, to]`.
    Cas,
    /// Append one element to the list a key holds.
    Append,
    /// A read taken from every node after the final heal; the eventual-consistency
    /// checker compares these across nodes.
    FinalRead,
    /// A transaction: the value is its micro-ops ([`crate::txn`]).
    Txn,
}

impl OpFn {
    /// The history's `f`.
    pub fn name(self) -> &'static str {
        match self {
            OpFn::Read => "read",
            OpFn::Write => "write",
            OpFn::Cas => "cas",
            OpFn::Append => "append",
            OpFn::FinalRead => checker::consistency::FINAL_READ_F,
            OpFn::Txn => checker::txn::TXN_F,
        }
    }

    /// Reads change nothing, so an indeterminate read is as good as a failed one.
    pub fn is_read(self) -> bool {
        matches!(self, OpFn::Read | OpFn::FinalRead)
    }
}

impl fmt::Display for OpFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an operation means to its workload, when that is more than its [`OpFn`].
///
/// The KV protocol has reads, writes, CASes and appends; the set, counter and
/// unique-ID workloads are built on them, and the bank workload needs a system with
/// atomic transfers. A client sees the protocol operation (`f`); the history records
/// the workload's operation (`docs/consistency.md`), and the runner translates one
/// into the other ([`Op::history_f`], [`Op::interpret`], and
/// [`crate::composite`] for operations made of several requests). Clients of real
/// systems therefore support the new workloads without knowing about them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Kind {
    /// The protocol operation is the workload's operation.
    #[default]
    Plain,
    /// Set `add`: an `append` of a unique element; reads return the list (a set
    /// with the order the store gave it; `null` reads as `[]`).
    SetAdd,
    /// Set read or final read: `null` (an absent key) becomes `[]`.
    SetRead,
    /// Counter `add`: an `append` of the increment to the counter's key. An atomic
    /// add over the KV protocol: the store appends atomically, and the counter's
    /// value is the sum of what was appended. (A read-then-CAS loop is not an atomic
    /// add: retried after an indeterminate CAS it can add twice.)
    CounterAdd,
    /// Counter read or final read: the sum of the key's list (`null` is 0).
    CounterRead,
    /// Unique-ID `generate`: read the key, CAS it from that value to one more, and
    /// the ID is `"<key>:<new value>"`; retried on a CAS mismatch. Unique exactly
    /// when the store's CAS is atomic.
    Generate,
    /// Bank `transfer` (`value: {"from", "to", "amount"}`): bank systems only.
    Transfer,
    /// Bank whole-bank read (a Chandy-Lamport snapshot on cl-bank): bank systems
    /// only. Completes with `{"account": balance, ...}`.
    BankRead,
    /// Maelstrom's `echo` of a text (the value), answered with the same text.
    Echo,
    /// Maelstrom's kafka `send` of a message (the value) to the log `key`.
    KafkaSend,
    /// Maelstrom's kafka `poll` of the logs named in the value, each from the
    /// client's position in it.
    KafkaPoll,
    /// Maelstrom's kafka `commit_offsets` of the client's positions in the logs
    /// named in the value.
    KafkaCommit,
    /// Maelstrom's kafka `list_committed_offsets` of the logs named in the value.
    KafkaList,
}

/// One operation: a function on a key with an argument (`null` for reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub f: OpFn,
    /// The key; written to the history as a JSON integer and to the wire as a path
    /// segment.
    pub key: u64,
    pub value: Value,
    /// What the workload means by it; [`Kind::Plain`] for register and append.
    pub kind: Kind,
}

impl Op {
    pub fn read(key: u64) -> Op {
        Op {
            f: OpFn::Read,
            key,
            value: Value::Null,
            kind: Kind::Plain,
        }
    }

    pub fn final_read(key: u64) -> Op {
        Op {
            f: OpFn::FinalRead,
            key,
            value: Value::Null,
            kind: Kind::Plain,
        }
    }

    pub fn write(key: u64, value: i64) -> Op {
        Op {
            f: OpFn::Write,
            key,
            value: Value::from(value),
            kind: Kind::Plain,
        }
    }

    pub fn cas(key: u64, from: Value, to: i64) -> Op {
        Op {
            f: OpFn::Cas,
            key,
            value: Value::Array(vec![from, Value::from(to)]),
            kind: Kind::Plain,
        }
    }

    pub fn append(key: u64, element: i64) -> Op {
        Op {
            f: OpFn::Append,
            key,
            value: Value::from(element),
            kind: Kind::Plain,
        }
    }

    /// The same operation with a workload meaning.
    pub fn with_kind(mut self, kind: Kind) -> Op {
        self.kind = kind;
        self
    }

    /// A set `add` of a unique element (an append on the wire).
    pub fn set_add(key: u64, element: i64) -> Op {
        Op::append(key, element).with_kind(Kind::SetAdd)
    }

    /// A counter `add` of `increment` (an append of it on the wire).
    pub fn counter_add(key: u64, increment: i64) -> Op {
        Op::append(key, increment).with_kind(Kind::CounterAdd)
    }

    /// A unique-ID `generate` on the allocation counter `key`.
    pub fn generate(key: u64) -> Op {
        Op {
            f: OpFn::Cas,
            key,
            value: Value::Null,
            kind: Kind::Generate,
        }
    }

    /// A Maelstrom `echo` of `text`.
    pub fn echo(text: String) -> Op {
        Op {
            f: OpFn::Read,
            key: 0,
            value: Value::String(text),
            kind: Kind::Echo,
        }
    }

    /// A kafka `send` of `msg` to the log `key`.
    pub fn kafka_send(key: u64, msg: i64) -> Op {
        Op::append(key, msg).with_kind(Kind::KafkaSend)
    }

    /// A kafka final poll: every message of the logs `keys`, from offset 0, polled
    /// until the node has no more (`checker::kafka::FINAL_POLL_F`).
    pub fn kafka_final_poll(keys: &[u64]) -> Op {
        Op {
            f: OpFn::FinalRead,
            ..Op::kafka(Kind::KafkaPoll, keys)
        }
    }

    /// A kafka poll, commit or list of the logs `keys` (the value: their names).
    pub fn kafka(kind: Kind, keys: &[u64]) -> Op {
        let names: Vec<Value> = keys.iter().map(|k| Value::from(k.to_string())).collect();
        Op {
            f: if kind == Kind::KafkaCommit {
                OpFn::Write
            } else {
                OpFn::Read
            },
            key: 0,
            value: Value::Array(names),
            kind,
        }
    }

    /// A bank transfer.
    pub fn transfer(from: u64, to: u64, amount: i64) -> Op {
        Op {
            f: OpFn::Write,
            key: 0,
            value: serde_json::json!({ "from": from, "to": to, "amount": amount }),
            kind: Kind::Transfer,
        }
    }

    /// A whole-bank read (`final` for the read taken from every node at the end).
    pub fn bank_read(final_read: bool) -> Op {
        Op {
            f: if final_read {
                OpFn::FinalRead
            } else {
                OpFn::Read
            },
            key: 0,
            value: Value::Null,
            kind: Kind::BankRead,
        }
    }

    /// The history's `f` for this operation.
    pub fn history_f(&self) -> &'static str {
        match self.kind {
            Kind::SetAdd | Kind::CounterAdd => "add",
            Kind::Generate => "generate",
            Kind::Transfer => "transfer",
            Kind::Echo => "echo",
            Kind::KafkaSend => checker::kafka::SEND_F,
            Kind::KafkaPoll if self.f == OpFn::FinalRead => checker::kafka::FINAL_POLL_F,
            Kind::KafkaPoll => checker::kafka::POLL_F,
            Kind::KafkaCommit => checker::kafka::COMMIT_F,
            Kind::KafkaList => checker::kafka::LIST_F,
            _ => self.f.name(),
        }
    }

    /// The history's invocation value (a `generate` has none to give).
    pub fn history_value(&self) -> Value {
        self.value.clone()
    }

    /// Turns a protocol completion into the workload's: a counter read's list into
    /// its sum, a set read's `null` into `[]`. A list that cannot be summed is a
    /// malformed answer, recorded as a failed read (reads change nothing).
    pub fn interpret(&self, c: Completion) -> Completion {
        if c.outcome != Outcome::Ok || !self.f.is_read() {
            return c;
        }
        match self.kind {
            Kind::SetRead => match c.value {
                Value::Null => Completion::ok(Value::Array(Vec::new())),
                _ => c,
            },
            Kind::CounterRead => match &c.value {
                Value::Null => Completion::ok(Value::from(0)),
                Value::Array(items) => {
                    let mut sum: i64 = 0;
                    for item in items {
                        match item.as_i64().and_then(|i| sum.checked_add(i)) {
                            Some(s) => sum = s,
                            None => {
                                return Completion::fail(
                                    Value::Null,
                                    format!("malformed-response: counter list holds {item}, not an integer increment (or the sum overflows)"),
                                )
                            }
                        }
                    }
                    Completion::ok(Value::from(sum))
                }
                other => Completion::fail(
                    Value::Null,
                    format!(
                        "malformed-response: a counter reads as a list of increments, not {other}"
                    ),
                ),
            },
            _ => c,
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It took effect; the completion's value is what it returned.
    Ok,
    /// It certainly did not take effect.
    Fail,
    /// Nobody knows: it may take effect at any later time. The process that invoked
    /// it is retired.
    Info,
}

impl Outcome {
    pub fn event_type(self) -> EventType {
        match self {
            Outcome::Ok => EventType::Ok,
            Outcome::Fail => EventType::Fail,
            Outcome::Info => EventType::Info,
        }
    }
}

/// A completion: the outcome, the value to record, and why it was not `ok`.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub outcome: Outcome,
    /// For `ok` reads, the value read; otherwise the invocation's value (as Jepsen
    /// records it, so a completion line is readable on its own).
    pub value: Value,
    pub error: Option<String>,
    /// For `ok` operations on systems that report one, the key's version: of the
    /// value read (0 for a key never written), or created by the write. Recorded as
    /// the history event's `version` (`docs/history.md`), kept apart from `value` so
    /// that the models still compare plain values.
    pub version: Option<u64>,
    /// A `fail` because the operation never reached the node: the connection was
    /// refused or had no route, so nothing was sent. Not part of the history; the
    /// runner backs off after it, since retrying a dead node at once only burns CPU
    /// and fills the history with failures ([`crate::runner::Backoff`]).
    pub unreached: bool,
}

impl Completion {
    /// A transaction sent to a client whose protocol has none: certainly without
    /// effect (the harness refuses such a test before it starts).
    pub fn no_transactions(op: &Op, protocol: &str) -> Completion {
        Completion::fail(
            op.value.clone(),
            format!("unsupported: {protocol} has no multi-key transactions"),
        )
    }

    pub fn ok(value: Value) -> Completion {
        Completion {
            outcome: Outcome::Ok,
            value,
            error: None,
            version: None,
            unreached: false,
        }
    }

    pub fn fail(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Fail,
            value,
            error: Some(error.into()),
            version: None,
            unreached: false,
        }
    }

    pub fn info(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Info,
            value,
            error: Some(error.into()),
            version: None,
            unreached: false,
        }
    }

    /// A `fail` of an operation that never reached its node (see
    /// [`Completion::unreached`]).
    pub fn unreached(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            unreached: true,
            ..Completion::fail(value, error)
        }
    }

    /// The same completion with the key's version (`None`: the system gave none).
    pub fn with_version(mut self, version: Option<u64>) -> Completion {
        self.version = version;
        self
    }
}
