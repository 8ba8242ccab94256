//! The history: what a test observed, one event per line.
//!
//! The vocabulary is Jepsen's (`invoke`, `ok`, `fail`, `info`) so that histories move
//! freely between faultline, Jepsen and Knossos-style tools. The format on disk is
//! specified in `docs/history.md`; this module is its single source of truth in code.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// Who performed an event: a logical client process, or the nemesis (fault injector).
///
/// On disk a client is a JSON integer and the nemesis is the string `"nemesis"`,
/// exactly as Jepsen writes `:nemesis` in place of a process number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.as_u64().is_some() => Ok(Process::Client(n.as_u64().unwrap())),
            Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
            other => Err(serde::de::Error::custom(format!(
                "process must be a non-negative integer or \"nemesis\", found {other}"
            ))),
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The kind of an event. `Fail` means the operation certainly did not take effect;
/// `Info` means its outcome is unknown: it may take effect at any time after its
/// invocation, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        })
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0, strictly increasing.
    pub index: u64,
    /// Nanoseconds since the test started, from a monotonic clock.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation's function: `read`, `write`, `cas`, `append`, ... For nemesis
    /// events, the fault (`start-partition`, `kill`, ...).
    pub f: String,
    /// The key the operation touches, for workloads over independent keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    /// The node the client sent the operation to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why an operation failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Completed and took effect; `output` holds what it returned.
    Ok,
    /// Completed and certainly did not take effect.
    Fail,
    /// Indeterminate: an `info` completion, or no completion before the history ended.
    Info,
}

/// A client operation: an invocation paired with its completion.
///
/// Indeterminate operations are open to the end of the history: their `ret` is
/// `u64::MAX`, because they may take effect at any time after they were invoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Position of this operation in [`History::ops`].
    pub id: usize,
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    /// The invocation's value (what was asked for).
    pub input: Value,
    /// The completion's value (what was returned), for `Ok` operations; otherwise
    /// whatever the completion carried, if anything.
    pub output: Value,
    pub outcome: Outcome,
    /// Invocation time (ns).
    pub call: u64,
    /// Completion time (ns); `u64::MAX` for indeterminate operations.
    pub ret: u64,
    /// Index of the invoke event, and of the completion event if there is one, in the
    /// source history: these are what error messages and counterexamples point at.
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
    pub node: Option<String>,
    pub error: Option<String>,
}

/// A parsed history: the raw events, and the client operations built from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub events: Vec<Event>,
    /// Client operations in invocation order.
    pub ops: Vec<Operation>,
}
