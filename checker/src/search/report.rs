//! What both checkers' reports and searches share: operations spelled out for people,
//! and the outcome of one search.

use super::budget::StopReason;
use crate::history::{Operation, Outcome as OpOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How one search ended. `V` is what the search knows about a violation: the longest
/// prefix it could justify, and whatever explains why nothing can follow it.
#[derive(Debug)]
pub(crate) enum Outcome<V> {
    /// The property holds: the search found an order.
    Holds,
    /// No order exists.
    Violation(V),
    /// A limit was reached before either was proven.
    Stopped(StopReason),
}

/// A search's outcome and the effort it took.
#[derive(Debug)]
pub(crate) struct SearchResult<V> {
    pub outcome: Outcome<V>,
    /// Configurations explored, a measure of effort.
    pub explored: u64,
}

/// How many of the prefix's last operations a counterexample spells out.
pub const TAIL: usize = 12;

/// An operation that could have come next in a search's longest order, and why it
/// cannot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedOp {
    pub op: OpSummary,
    pub reason: String,
}

/// One operation, as counterexamples show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpSummary {
    pub id: usize,
    pub process: u64,
    pub f: String,
    pub input: Value,
    pub output: Value,
    pub outcome: OpOutcome,
    /// Positions of its events in the source history.
    pub invoke_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
}

impl OpSummary {
    pub fn of(op: &Operation) -> OpSummary {
        OpSummary {
            id: op.id,
            process: op.process,
            f: op.f.clone(),
            input: op.input.clone(),
            output: op.output.clone(),
            outcome: op.outcome,
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        }
    }
}

impl std::fmt::Display for OpSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "op {} (process {}, {} {}",
            self.id, self.process, self.f, self.input
        )?;
        match self.outcome {
            OpOutcome::Ok if !self.output.is_null() && self.output != self.input => {
                write!(f, " -> ok {}", self.output)?
            }
            // A read of nil says something (the register was empty): say it.
            OpOutcome::Ok if self.output.is_null() && self.f.contains("read") => {
                f.write_str(" -> ok nil")?
            }
            OpOutcome::Ok => f.write_str(" -> ok")?,
            OpOutcome::Fail => f.write_str(" -> fail")?,
            OpOutcome::Info => f.write_str(" -> unknown")?,
        }
        match self.complete_index {
            Some(c) => write!(f, ", events {}..{})", self.invoke_index, c),
            None => write!(
                f,
                ", invoked at event {}, never completed)",
                self.invoke_index
            ),
        }
    }
}

/// Durations as seconds (a float) in JSON.
pub(crate) mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
