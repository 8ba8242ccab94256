//! What a linearizability check answers, in a shape that serializes to JSON as is.
//! The parts the sequential-consistency report shares are in `crate::search::report`.

use crate::search::report::seconds;
use crate::search::{BlockedOp, OpSummary};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// The answer about a whole history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub verdict: Verdict,
    /// The model's name, as selected with `--model`.
    pub model: String,
    /// Client operations in the history, and how many of them the check had to
    /// consider (the rest could neither change nor constrain the state: failed
    /// writes, reads with unknown results).
    pub ops: usize,
    pub checked_ops: usize,
    /// One entry per key (one entry in all for unkeyed histories), in order of first
    /// appearance.
    pub partitions: Vec<PartitionReport>,
    /// The first violation found, if any (also in its partition's report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    /// Wall-clock time the check took.
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

/// The answer about one independent part of a history (one key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionReport {
    /// The key, or nil for an unkeyed history.
    pub key: Value,
    pub verdict: Verdict,
    pub ops: usize,
    pub checked_ops: usize,
    /// Why the verdict is unknown: the time limit, the memory budget, or a search
    /// stopped because another key already proved the history invalid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which algorithm decided this partition (`search` is the general exact one).
    pub method: String,
    /// Search nodes explored (model steps attempted), a measure of effort.
    pub explored: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

impl PartitionReport {
    /// A partition not decided (yet): `ops` operations, `checked_ops` of them
    /// considered, nothing explored.
    pub(crate) fn undecided(key: Value, ops: usize, checked_ops: usize) -> Self {
        PartitionReport {
            key,
            verdict: Verdict::Unknown,
            ops,
            checked_ops,
            reason: None,
            method: "search".into(),
            explored: 0,
            counterexample: None,
            elapsed: Duration::ZERO,
        }
    }
}

/// Why one partition is not linearizable, in terms a person can follow: the longest
/// order of operations the search could justify, the state it leaves the object in,
/// and the operations none of which can come next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Counterexample {
    pub key: Value,
    /// Where the key's history stops being linearizable, when it was looked for
    /// ([`super::shortest_invalid_prefix`]): the operation whose return ends the
    /// shortest non-linearizable prefix. It points at the anomaly; the fields below
    /// are the search's stuck point over the whole history, secondary evidence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortest_prefix: Option<Box<super::ShortestPrefix>>,
    /// Operation ids ([`Operation::id`]) of the longest linearizable prefix found, in
    /// linearization order.
    pub prefix: Vec<usize>,
    /// The last operations of that prefix, spelled out (at most [`crate::search::TAIL`]).
    pub prefix_tail: Vec<OpSummary>,
    /// The model state after the prefix.
    pub state: String,
    /// The operation that had to take effect before it returned and could not.
    pub must_precede: OpSummary,
    /// Every operation that could have come next, and why it cannot.
    pub blocked: Vec<BlockedOp>,
    /// Set when the pre-check decided without a search: why `must_precede` could
    /// never happen (it needs a state that nothing invoked before it completed
    /// produces). `blocked` then lists the operations that produce that state, all
    /// invoked too late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impossible: Option<String>,
}

impl std::fmt::Display for Counterexample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.key.is_null() {
            writeln!(f, "key {}:", self.key)?;
        }
        if let Some(p) = &self.shortest_prefix {
            write!(f, "{p}")?;
            writeln!(f, "  the search over the whole key (secondary evidence):")?;
        }
        if let Some(why) = &self.impossible {
            writeln!(f, "  {} can never happen: {why}", self.must_precede)?;
            if !self.blocked.is_empty() {
                writeln!(
                    f,
                    "  the operations that could produce it, all invoked too late:"
                )?;
            }
            for b in &self.blocked {
                writeln!(f, "    {}: {}", b.op, b.reason)?;
            }
            return Ok(());
        }
        writeln!(
            f,
            "  longest linearizable prefix: {} operations",
            self.prefix.len()
        )?;
        if self.prefix.len() > self.prefix_tail.len() {
            writeln!(
                f,
                "    ... ({} earlier operations)",
                self.prefix.len() - self.prefix_tail.len()
            )?;
        }
        for op in &self.prefix_tail {
            writeln!(f, "    {op}")?;
        }
        writeln!(f, "  state after the prefix: {}", self.state)?;
        writeln!(
            f,
            "  {} must take effect before it returns, but nothing can come next:",
            self.must_precede
        )?;
        for b in &self.blocked {
            writeln!(f, "    {}: {}", b.op, b.reason)?;
        }
        Ok(())
    }
}

impl std::fmt::Display for super::ShortestPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "  linearizable until {} returned at {:.3} s; with its result no order exists (the shortest non-linearizable prefix: {} of the key's {} operations{}):",
            self.ends,
            self.time as f64 / 1e9,
            self.ops,
            self.key_ops,
            if self.minimal { "" } else { "; a time limit left shorter prefixes undecided" }
        )?;
        writeln!(f, "    {}", self.ends)?;
        if !self.concurrent.is_empty() {
            writeln!(f, "  concurrent with it:")?;
            for op in &self.concurrent {
                writeln!(f, "    {op}")?;
            }
        }
        Ok(())
    }
}
