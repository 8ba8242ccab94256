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

/// One operation: a function on a key with an argument (`null` for reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub f: OpFn,
    /// The key; written to the history as a JSON integer and to the wire as a path
    /// segment.
    pub key: u64,
    pub value: Value,
}

impl Op {
    pub fn read(key: u64) -> Op {
        Op {
            f: OpFn::Read,
            key,
            value: Value::Null,
        }
    }

    pub fn final_read(key: u64) -> Op {
        Op {
            f: OpFn::FinalRead,
            key,
            value: Value::Null,
        }
    }

    pub fn write(key: u64, value: i64) -> Op {
        Op {
            f: OpFn::Write,
            key,
            value: Value::from(value),
        }
    }

    pub fn cas(key: u64, from: Value, to: i64) -> Op {
        Op {
            f: OpFn::Cas,
            key,
            value: Value::Array(vec![from, Value::from(to)]),
        }
    }

    pub fn append(key: u64, element: i64) -> Op {
        Op {
            f: OpFn::Append,
            key,
            value: Value::from(element),
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
}

impl Completion {
    pub fn ok(value: Value) -> Completion {
        Completion {
            outcome: Outcome::Ok,
            value,
            error: None,
        }
    }

    pub fn fail(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Fail,
            value,
            error: Some(error.into()),
        }
    }

    pub fn info(value: Value, error: impl Into<String>) -> Completion {
        Completion {
            outcome: Outcome::Info,
            value,
            error: Some(error.into()),
        }
    }
}
