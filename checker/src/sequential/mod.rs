//! Exact sequential-consistency checking.
//!
//! A history is sequentially consistent (Lamport, 1979) when some single order of its
//! operations is legal for the model and keeps every process's operations in the
//! order that process issued them. It is linearizability without the real-time
//! order: a read may return a value already overwritten by a write that finished
//! before the read began, as long as every process sees the writes in one order
//! consistent with its own (stale but ordered reads). So every linearizable history
//! is sequentially consistent, and a replica that serves reads from a lagging copy
//! can be sequentially consistent without being linearizable.
//!
//! [`check`] answers `valid` only when it proved the whole history sequentially
//! consistent, `invalid` with evidence when no order exists, `unknown` (with the
//! reason) when the time limit or memory budget ran out. Unlike linearizability,
//! sequential consistency is not compositional: each key may have an order of its
//! own while the keys' orders cannot be merged into one. So keys are checked one at
//! a time (a violation there proves the whole history is one), then the whole
//! history at once ([`Report::basis`] says which decided).
//!
//! One file per job:
//! - `chains`: the operations and each process's program order.
//! - `search`: the memoized depth-first search for an order.
//! - `feasibility`: the search's early detection of dead ends.
//! - `scope`: per-key checks in parallel, then the whole-history search.
//! - `evidence`: explains a violation.
//! - `report`: the serializable answer.
//!
//! Crashed (`info`) and failed operations are prepared exactly as for
//! linearizability ([`Model::prepare`]): a failed operation had no effect and is left
//! out; a crashed one may have taken effect at any point after its process's earlier
//! operations, or never.

pub mod chains;
pub mod evidence;
pub mod feasibility;
pub mod report;
pub mod scope;
pub mod search;

pub use report::{Basis, Evidence, KeyReport, Report, WholeReport};

use crate::history::History;
use crate::linearizability::budget::Budget;
use crate::linearizability::DEFAULT_MEMORY_LIMIT;
use crate::model::{BuiltinModel, Model, ModelError, UseModel};
use crate::verdict::Verdict;
use std::time::{Duration, Instant};

/// Limits and choices for one check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Past this the answer is `unknown`, with what was decided so far. Shared by the
    /// per-key checks and the whole-history search that follows them.
    pub timeout: Option<Duration>,
    /// Approximate bytes the searches' tables may use, summed over every search
    /// running at once.
    pub memory_limit: usize,
    /// Check every key even after one is found invalid, to diagnose them all.
    pub all_keys: bool,
    /// Search every key at once when no key alone is a violation (the only way to
    /// prove a history with several keys sequentially consistent, unless every key
    /// is linearizable). Without it, such a history's verdict is `unknown`.
    pub whole_history: bool,
    /// A time limit for the whole-history search alone (within `timeout`). It is the
    /// one search that can take exponential time on a history that is not
    /// sequentially consistent, and one that has not finished in a minute rarely
    /// finishes in an hour; past it the verdict is `unknown`, per key decided.
    pub whole_timeout: Option<Duration>,
    /// Try each key's linearizability search first: it is exact, usually much faster,
    /// and a linearizable key needs no other search. Off only to measure the
    /// sequential search alone.
    pub linearizability_first: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            all_keys: false,
            whole_history: true,
            whole_timeout: None,
            linearizability_first: true,
        }
    }
}

/// Checks `history` for sequential consistency with respect to `model` (one object
/// per key). Fails only when an operation does not fit the model.
pub fn check<M: Model>(
    history: &History,
    model: &M,
    options: &Options,
) -> Result<Report, ModelError> {
    let started = Instant::now();
    let prepared: Vec<Option<M::Op>> = history
        .ops
        .iter()
        .map(|op| model.prepare(op))
        .collect::<Result<_, _>>()?;
    let budget = Budget::new(options.timeout.map(|t| started + t), options.memory_limit);
    let parts = scope::key_parts(history, model, &prepared);
    let keys = scope::check_keys(
        history,
        model,
        &parts,
        &budget,
        options.all_keys,
        options.linearizability_first,
    );
    let mut per_key = Verdict::all(keys.iter().map(|k| k.verdict));
    let all_linearizable = keys.iter().all(|k| k.method == "linearizable");
    let skipped = |reason: &str| WholeReport {
        verdict: Verdict::Unknown,
        method: "skipped".into(),
        reason: Some(reason.into()),
        keys: parts.len(),
        checked_ops: parts.iter().map(|p| p.seq.len()).sum(),
        explored: 0,
        evidence: None,
        elapsed: Duration::ZERO,
    };
    let (verdict, basis, whole) = if parts.len() <= 1 {
        let basis = if all_linearizable && per_key == Verdict::Valid {
            Basis::Linearizability
        } else {
            Basis::WholeHistory
        };
        (per_key, basis, None)
    } else if per_key == Verdict::Invalid {
        (Verdict::Invalid, Basis::PerKey, None)
    } else if all_linearizable {
        let mut w = skipped("every key is linearizable, so the whole history is");
        w.verdict = Verdict::Valid;
        w.method = "linearizable".into();
        w.reason = None;
        (Verdict::Valid, Basis::Linearizability, Some(w))
    } else if !options.whole_history {
        let w = skipped("the whole-history search was not asked for");
        (Verdict::Unknown, Basis::PerKey, Some(w))
    } else {
        let deadline = [
            options.timeout.map(|t| started + t),
            options.whole_timeout.map(|t| Instant::now() + t),
        ]
        .into_iter()
        .flatten()
        .min();
        let whole_budget = Budget::new(deadline, options.memory_limit);
        let w = scope::check_whole(history, model, &parts, &whole_budget);
        let basis = match w.verdict {
            Verdict::Unknown => Basis::PerKey,
            _ => Basis::WholeHistory,
        };
        if w.verdict == Verdict::Valid {
            // An order of the whole history orders each key.
            per_key = Verdict::Valid;
        }
        (w.verdict, basis, Some(w))
    };
    let evidence = keys
        .iter()
        .find_map(|k| k.evidence.clone())
        .or_else(|| whole.as_ref().and_then(|w| w.evidence.clone()));
    Ok(Report {
        verdict,
        basis,
        per_key,
        model: model.name(),
        ops: history.ops.len(),
        checked_ops: parts.iter().map(|p| p.seq.len()).sum(),
        keys,
        whole,
        evidence,
        elapsed: started.elapsed(),
    })
}

/// A report that needs no search: the history was already proven linearizable
/// (by a linearizability check of the same history and model).
pub fn implied_by_linearizability(history: &History, model: &str) -> Report {
    Report {
        verdict: Verdict::Valid,
        basis: Basis::Linearizability,
        per_key: Verdict::Valid,
        model: model.to_string(),
        ops: history.ops.len(),
        checked_ops: 0,
        keys: Vec::new(),
        whole: None,
        evidence: None,
        elapsed: Duration::ZERO,
    }
}

/// Checks `history` for sequential consistency with a built-in model.
pub fn check_builtin(
    model: BuiltinModel,
    history: &History,
    options: &Options,
) -> Result<Report, ModelError> {
    struct Sequential<'a>(&'a History, &'a Options);
    impl UseModel for Sequential<'_> {
        type Output = Result<Report, ModelError>;
        fn with<M: Model>(self, model: &M) -> Self::Output {
            check(self.0, model, self.1)
        }
    }
    model.use_model(Sequential(history, options))
}
