//! Consistency models weaker than linearizability: session guarantees, eventual
//! consistency, application invariants, and where a history sits in the hierarchy.
//!
//! Every checker here is a pure function of a [`History`](crate::history::History)
//! and an options struct, returns a serde-serializable report with a
//! [`Verdict`](crate::verdict::Verdict) and bounded evidence, and runs in
//! near-linear time so it can be run on every history a test produces. The exact
//! rules, evidence formats and complexities are documented in `docs/consistency.md`.
//!
//! - [`session`]: monotonic reads, monotonic writes, read-your-writes and
//!   writes-follow-reads (Terry et al. 1994), exact on the append workload, and on
//!   registers that expose a version.
//! - [`eventual`]: eventual consistency, the union of [`convergence`] (the final
//!   reads agree) and [`set_full`] (every element of set and append workloads
//!   classified as Jepsen's set-full does, nothing acknowledged lost).
//! - [`invariants`]: bank, counter and unique-ID invariants.
//! - [`snowflake`]: a time-based unique-ID generator (40 bits of milliseconds, a
//!   sequence, a node id) with its clock injected, the thing the unique-ID checker is
//!   pointed at.
//! - [`hierarchy`]: the one line that names the strongest model a history satisfies.

pub mod append_index;
pub mod convergence;
pub mod eventual;
pub mod hierarchy;
pub mod invariants;
pub mod session;
pub mod set_full;
pub mod snowflake;

use crate::history::Operation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The default number of example violations a report keeps per kind. Counts are
/// always exact; only the list of examples is bounded, so a report on a badly broken
/// million-operation history stays readable and small.
pub const DEFAULT_MAX_EXAMPLES: usize = 10;

/// The functions whose completions are reads of a whole object: ordinary reads and
/// the final reads the runner takes from every node after the last heal.
pub const READ_F: &str = "read";
pub const FINAL_READ_F: &str = "final-read";

/// Points at one operation of the history: its position in `History::ops`, and the
/// indices of its invoke and completion events in the source history (what a person
/// looks up in `history.jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRef {
    pub op: usize,
    pub invoke_index: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_index: Option<u64>,
}

impl OpRef {
    pub fn of(op: &Operation) -> OpRef {
        OpRef {
            op: op.id,
            invoke_index: op.invoke_index,
            complete_index: op.complete_index,
        }
    }
}

/// A history whose operations do not have the shape a checker needs: names the
/// operation (by its invoke event index) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("history event {invoke_index} (operation {op}, f {f:?}): {message}")]
pub struct ShapeError {
    pub op: usize,
    pub invoke_index: u64,
    pub f: String,
    pub message: String,
}

impl ShapeError {
    pub fn at(op: &Operation, message: impl Into<String>) -> ShapeError {
        ShapeError {
            op: op.id,
            invoke_index: op.invoke_index,
            f: op.f.clone(),
            message: message.into(),
        }
    }
}

/// A JSON scalar (or the canonical text of anything else) in a form that can be
/// hashed: `serde_json::Value` cannot. Integers stay integers so that `1` and `1.0`
/// are different elements only if the history says so.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Atom {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(u64),
    Str(String),
    /// Arrays and objects, by their canonical JSON text.
    Json(String),
}

impl Atom {
    pub fn of(v: &Value) -> Atom {
        match v {
            Value::Null => Atom::Null,
            Value::Bool(b) => Atom::Bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Atom::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Atom::UInt(u)
                } else {
                    Atom::Float(n.as_f64().unwrap_or(f64::NAN).to_bits())
                }
            }
            Value::String(s) => Atom::Str(s.clone()),
            other => Atom::Json(other.to_string()),
        }
    }
}

/// Bounded list of examples with an exact count of everything offered to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Examples<T> {
    /// How many were found in all.
    pub count: u64,
    /// The first `limit` of them, in history order.
    pub examples: Vec<T>,
}

impl<T> Examples<T> {
    pub fn new() -> Self {
        Examples {
            count: 0,
            examples: Vec::new(),
        }
    }

    /// Counts one more; `make` is only called when the example is kept, so building
    /// a readable description costs nothing once the list is full.
    pub fn offer(&mut self, limit: usize, make: impl FnOnce() -> T) {
        self.count += 1;
        if self.examples.len() < limit {
            self.examples.push(make());
        }
    }
}

impl<T> Default for Examples<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Renders a list for an error message: short lists whole, long ones by their ends.
pub fn show_list(items: &[Value]) -> String {
    const EDGE: usize = 4;
    let shown = |xs: &[Value]| {
        xs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if items.len() <= 2 * EDGE + 1 {
        format!("[{}]", shown(items))
    } else {
        format!(
            "[{}, … {} more …, {}] (length {})",
            shown(&items[..EDGE]),
            items.len() - 2 * EDGE,
            shown(&items[items.len() - EDGE..]),
            items.len()
        )
    }
}

/// The key an operation touches, as written in the history, for reports.
pub fn show_key(key: &Option<Value>) -> Value {
    key.clone().unwrap_or(Value::Null)
}

/// Whether an operation's function is a read of a whole object.
pub fn is_read(op: &Operation) -> bool {
    op.f == READ_F || op.f == FINAL_READ_F
}

/// The hasher of these checkers' hot hash maps: rustc's fast non-cryptographic "Fx"
/// hash. The inputs are a test's own history, never attacker-chosen, so resistance
/// to hash flooding buys nothing and SipHash would cost a third of the running time.
pub type FastHasher = rustc_hash::FxHasher;

/// A hash map with [`FastHasher`].
pub type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Quantiles of a set of durations (ns), for latency evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub min_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

impl LatencySummary {
    pub fn of(mut xs: Vec<u64>) -> LatencySummary {
        if xs.is_empty() {
            return LatencySummary::default();
        }
        xs.sort_unstable();
        let q = |p: f64| xs[(((xs.len() - 1) as f64) * p).round() as usize];
        LatencySummary {
            count: xs.len() as u64,
            min_ns: xs[0],
            p50_ns: q(0.5),
            p90_ns: q(0.9),
            p99_ns: q(0.99),
            max_ns: *xs.last().unwrap(),
        }
    }
}
