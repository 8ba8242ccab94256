//! What a sequential-consistency check answers, in a shape that serializes to JSON
//! as is.

use crate::search::report::seconds;
use crate::search::{BlockedOp, OpSummary, StopReason};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// What a verdict rests on. Sequential consistency is not compositional: every key
/// can be sequentially consistent on its own while the history as a whole is not. So
/// only a search over the whole history (or linearizability, which implies it) can
/// prove it; one key on its own can only disprove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Decided for the whole history: by a search over every key at once, or the
    /// history has one key (or none), so its one search is the whole.
    WholeHistory,
    /// From the keys one at a time: `invalid` because a key on its own has no order
    /// (so the whole has none), or `unknown` because the whole-history search did not
    /// finish, whatever the keys say.
    PerKey,
    /// Every key is linearizable, so the whole history is (linearizability is
    /// compositional), hence sequentially consistent.
    Linearizability,
}

impl Basis {
    /// How the verdict is named to people: "sequential (per key)" is not a claim
    /// about the whole history.
    pub fn label(self) -> &'static str {
        match self {
            Basis::WholeHistory => "sequential (whole history)",
            Basis::PerKey => "sequential (per key)",
            Basis::Linearizability => "sequential (implied by linearizability)",
        }
    }
}

/// The answer about a whole history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Whether the history is sequentially consistent. `valid` only when proven for
    /// the whole history.
    pub verdict: Verdict,
    pub basis: Basis,
    /// Whether every key on its own is sequentially consistent (a necessary
    /// condition, not a sufficient one).
    pub per_key: Verdict,
    pub model: String,
    pub ops: usize,
    /// Operations the searches had to order (failed writes and reads with unknown
    /// results are left out: they can neither change nor constrain anything).
    pub checked_ops: usize,
    /// One entry per key, in order of first appearance.
    pub keys: Vec<KeyReport>,
    /// The search over every key at once; absent when the history has at most one
    /// key (the key's search is the whole) or when a key already disproved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whole: Option<WholeReport>,
    /// The first violation found, if any (also in its key's or the whole's report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

/// The answer about one key's operations on their own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyReport {
    pub key: Value,
    pub verdict: Verdict,
    pub ops: usize,
    pub checked_ops: usize,
    /// `linearizable` (its linearizability search succeeded, which decides it),
    /// `search` (the sequential-consistency search decided or stopped), `skipped`.
    pub method: String,
    /// Why the verdict is unknown, in words: which budget ran out and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which budget stopped the search, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    pub explored: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

/// The answer about every key at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WholeReport {
    pub verdict: Verdict,
    /// `linearizable` (every key is), `search`, or `skipped` (with the reason).
    pub method: String,
    /// Why the verdict is unknown, in words: which budget ran out and its size, or
    /// why the search was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Which budget stopped the search, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    pub keys: usize,
    pub checked_ops: usize,
    pub explored: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    #[serde(with = "seconds")]
    pub elapsed: Duration,
}

/// Why no sequentially consistent order exists, in terms a person can follow: the
/// longest order of operations that respects every process's program order and the
/// model, the state it leaves, and each process's next operation, none of which can
/// come next.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Evidence {
    /// The key, or null for an unkeyed history or a whole-history search.
    pub key: Value,
    /// Whether the search that failed was over every key at once (so no key on its
    /// own is a violation: the keys' orders cannot be merged).
    pub whole_history: bool,
    /// The processes that still had operations to order.
    pub processes: Vec<u64>,
    /// Operation ids ([`crate::history::Operation::id`]) of the longest order found.
    pub prefix: Vec<usize>,
    /// Its last operations, spelled out (at most [`crate::search::TAIL`]).
    pub prefix_tail: Vec<OpSummary>,
    /// The state after it (per key, for a whole-history search: the keys the
    /// blocked operations touch).
    pub state: String,
    /// Each process's next operation, and why it cannot come next.
    pub blocked: Vec<BlockedOp>,
    /// When the search saw at once why nothing can follow the order: an operation
    /// still to order that can never happen (it needs a value nothing left can set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starved: Option<String>,
}

/// How many blocked operations the text shows (the ones that cannot happen at all
/// come first).
const SHOWN: usize = 8;

impl std::fmt::Display for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.whole_history {
            writeln!(
                f,
                "every key at once (each key alone has an order; they cannot be merged):"
            )?;
        } else if !self.key.is_null() {
            writeln!(f, "key {}:", self.key)?;
        }
        writeln!(
            f,
            "  longest order respecting every process's program order: {} operations",
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
        writeln!(f, "  state after it: {}", self.state)?;
        if let Some(starved) = &self.starved {
            writeln!(f, "  {starved}")?;
        }
        let procs: Vec<String> = self.processes.iter().map(|p| p.to_string()).collect();
        writeln!(
            f,
            "  no process can go on (processes {}):",
            procs.join(", ")
        )?;
        for b in self.blocked.iter().take(SHOWN) {
            writeln!(f, "    {}: {}", b.op, b.reason)?;
        }
        if self.blocked.len() > SHOWN {
            writeln!(
                f,
                "    ... and {} more processes' next operations (all in the JSON report)",
                self.blocked.len() - SHOWN
            )?;
        }
        Ok(())
    }
}

impl Report {
    /// A one-line account for summaries.
    pub fn summary(&self) -> String {
        let keys = self.keys.len();
        let invalid = self
            .keys
            .iter()
            .filter(|k| k.verdict == Verdict::Invalid)
            .count();
        let reason = || {
            self.whole
                .as_ref()
                .and_then(|w| w.reason.clone())
                .or_else(|| self.keys.iter().find_map(|k| k.reason.clone()))
                .unwrap_or_default()
        };
        match (self.verdict, self.basis) {
            (Verdict::Valid, Basis::Linearizability) if keys == 0 => format!(
                "{} ops, sequentially consistent (implied: linearizable)",
                self.ops
            ),
            (Verdict::Valid, Basis::Linearizability) => format!(
                "{} ops on {keys} keys, sequentially consistent (implied: every key is linearizable)",
                self.ops
            ),
            (Verdict::Valid, _) => format!(
                "{} ops on {keys} keys, sequentially consistent (whole history)",
                self.ops
            ),
            (Verdict::Invalid, Basis::PerKey) => format!(
                "{} ops on {keys} keys, {invalid} key(s) not sequentially consistent on their own",
                self.ops
            ),
            (Verdict::Invalid, _) if keys > 1 => format!(
                "{} ops on {keys} keys, each key sequentially consistent but not the history as a whole",
                self.ops
            ),
            (Verdict::Invalid, _) => format!("{} ops, not sequentially consistent", self.ops),
            (Verdict::Unknown, _) if self.per_key == Verdict::Valid => format!(
                "{} ops on {keys} keys, sequentially consistent per key; whole history not decided: {}",
                self.ops,
                reason()
            ),
            (Verdict::Unknown, _) => format!(
                "{} ops on {keys} keys, not decided: {}",
                self.ops,
                reason()
            ),
        }
    }
}
