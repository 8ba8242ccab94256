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
//! history at once ([`Report::basis`] says which decided): first by two exact fast
//! paths about linear in the history (`saturate`, `merge`), then by the search.
//!
//! One file per job:
//! - `backwards`: a cheap exact pre-check for one process's reads going backwards
//!   (unique values), before any search.
//! - `chains`: the operations and each process's program order.
//! - `saturate`: forced order constraints across keys (a cycle proves no order).
//! - `topo`: topological orders of those constraints, and a cycle among them.
//! - `merge`: one order of the whole history from an order of each key.
//! - `repair`: other orders of concurrent writes, when the merge gets stuck.
//! - `search`: the memoized depth-first search for an order.
//! - `feasibility`: the search's early detection of dead ends.
//! - `scope`: per-key checks in parallel, then the whole-history search.
//! - `evidence`: explains a violation.
//! - `report`: the serializable answer.
//!
//! The budget, the memo of explored configurations and the per-key driver are shared
//! with the linearizability checker, in [`crate::search`].
//!
//! The whole-history search is exponential in the worst case, and its table of
//! explored configurations grows with it, so the check has a memory budget of its
//! own ([`DEFAULT_MEMORY_LIMIT`], 512 MiB, well below the linearizability check's):
//! past it, or past the time budget the caller gives, the verdict is `unknown` and the
//! report says which budget ran out ([`KeyReport::stopped`], [`WholeReport::stopped`]
//! and their `reason`).
//!
//! Crashed (`info`) and failed operations are prepared exactly as for
//! linearizability ([`Model::prepare`]): a failed operation had no effect and is left
//! out; a crashed one may have taken effect at any point after its process's earlier
//! operations, or never.

mod backwards;
mod chains;
mod evidence;
mod feasibility;
mod merge;
mod repair;
mod report;
mod saturate;
mod scope;
mod search;
mod topo;

pub use crate::search::StopReason;
pub use report::{Basis, Evidence, KeyReport, Report, WholeReport};

use crate::history::History;
use crate::model::{BuiltinModel, Model, ModelError, UseModel};
use crate::search::budget::Budget;
use crate::search::phase;
use crate::verdict::Verdict;
use scope::{KeyPart, TimeLimit};
use std::time::{Duration, Instant};

/// 512 MiB of search tables: the sequential check's default memory budget. The
/// whole-history search is the one search that can grow without bound on a history
/// that is not sequentially consistent, and one that has outgrown this rarely
/// finishes at all; past it the verdict is `unknown`, per key decided.
pub const DEFAULT_MEMORY_LIMIT: usize = 512 << 20;

/// Limits and choices for one check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Past this the answer is `unknown`, with what was decided so far. Shared by the
    /// per-key checks and the whole-history search that follows them.
    pub timeout: Option<Duration>,
    /// Approximate bytes the searches' tables may use, summed over every search
    /// running at once ([`DEFAULT_MEMORY_LIMIT`] unless set). Past it the answer is
    /// `unknown`, with the reason saying the memory budget ran out.
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
    /// Before the whole-history search, try the forced-order pre-check (`saturate`)
    /// and the merge of the keys' own orders (`merge`): both exact, both about
    /// linear. Off only to measure or test the search alone.
    pub merge_first: bool,
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
            merge_first: true,
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
    let budget = Budget::starting(started, options.timeout, options.memory_limit);
    let time = TimeLimit {
        name: "the check's timeout",
        limit: options.timeout,
    };
    // Preparing a million operations takes a tenth of a second or more: polled.
    let each = history.ops.iter().map(|op| model.prepare(op));
    let prepared = match phase::try_collect(&budget, each)? {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(unprepared(history, model, reason, &budget, time, started)),
    };
    let parts = match scope::key_parts(history, model, &prepared, &budget) {
        Ok(parts) => parts,
        Err(reason) => return Ok(unprepared(history, model, reason, &budget, time, started)),
    };
    let len = prepared.len();
    phase::drop_aside(prepared, len);
    let checked = scope::check_keys(
        history,
        model,
        &parts,
        &budget,
        time,
        options.all_keys,
        options.linearizability_first,
    );
    let (keys, orders): (Vec<KeyReport>, Vec<_>) = checked.into_iter().unzip();
    let mut per_key = Verdict::all(keys.iter().map(|k| k.verdict));
    let (verdict, basis, whole) =
        decide_whole(history, model, &parts, &keys, orders, options, started);
    if whole.as_ref().is_some_and(|w| w.verdict == Verdict::Valid) {
        // An order of the whole history orders each key.
        per_key = Verdict::Valid;
    }
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

/// The report of a check stopped by `reason` before the history was split by key:
/// one entry for the whole history, so the reason is still given.
fn unprepared<M: Model>(
    history: &History,
    model: &M,
    reason: StopReason,
    budget: &Budget,
    time: TimeLimit,
    started: Instant,
) -> Report {
    let key = KeyReport {
        key: serde_json::Value::Null,
        verdict: Verdict::Unknown,
        ops: history.ops.len(),
        checked_ops: 0,
        method: "skipped".into(),
        reason: Some(scope::stopped_because(reason, budget, time, 0)),
        stopped: Some(reason),
        explored: 0,
        evidence: None,
        elapsed: started.elapsed(),
    };
    Report {
        verdict: Verdict::Unknown,
        basis: Basis::PerKey,
        per_key: Verdict::Unknown,
        model: model.name(),
        ops: history.ops.len(),
        checked_ops: 0,
        keys: vec![key],
        whole: None,
        evidence: None,
        elapsed: started.elapsed(),
    }
}

/// The verdict for the whole history once every key is checked: from the keys alone
/// when they decide it (one key, a key with no order, every key linearizable), else
/// from a search over every key at once, under what is left of the time budget and
/// the whole-history limit.
fn decide_whole<M: Model>(
    history: &History,
    model: &M,
    parts: &[KeyPart<M::Op>],
    keys: &[KeyReport],
    orders: Vec<search::Found<M::State>>,
    options: &Options,
    started: Instant,
) -> (Verdict, Basis, Option<WholeReport>) {
    let per_key = Verdict::all(keys.iter().map(|k| k.verdict));
    let all_linearizable = keys.iter().all(|k| k.method == "linearizable");
    let skipped = |reason: &str| WholeReport {
        verdict: Verdict::Unknown,
        method: "skipped".into(),
        reason: Some(reason.into()),
        stopped: None,
        keys: parts.len(),
        checked_ops: parts.iter().map(|p| p.seq.len()).sum(),
        explored: 0,
        evidence: None,
        elapsed: Duration::ZERO,
    };
    if parts.len() <= 1 {
        let basis = if all_linearizable && per_key == Verdict::Valid {
            Basis::Linearizability
        } else {
            Basis::WholeHistory
        };
        return (per_key, basis, None);
    }
    if per_key == Verdict::Invalid {
        return (Verdict::Invalid, Basis::PerKey, None);
    }
    if all_linearizable {
        let mut w = skipped("every key is linearizable, so the whole history is");
        w.verdict = Verdict::Valid;
        w.method = "linearizable".into();
        w.reason = None;
        return (Verdict::Valid, Basis::Linearizability, Some(w));
    }
    if !options.whole_history {
        let w = skipped("the whole-history search was not asked for");
        return (Verdict::Unknown, Basis::PerKey, Some(w));
    }
    let overall = options.timeout.map(|t| started + t);
    let own = options.whole_timeout.map(|t| Instant::now() + t);
    // Name the time limit that will fire first, so the report says which one ran out.
    let time = match (overall, own) {
        (Some(o), Some(w)) if o <= w => TimeLimit {
            name: "the check's timeout",
            limit: options.timeout,
        },
        (_, Some(_)) => TimeLimit {
            name: "the whole-history search's time limit",
            limit: options.whole_timeout,
        },
        _ => TimeLimit {
            name: "the check's timeout",
            limit: options.timeout,
        },
    };
    let deadline = [overall, own].into_iter().flatten().min();
    let whole_budget = Budget::new(deadline, options.memory_limit);
    let w = scope::check_whole(
        history,
        model,
        parts,
        options.merge_first.then_some(orders),
        &whole_budget,
        time,
    );
    let basis = match w.verdict {
        Verdict::Unknown => Basis::PerKey,
        _ => Basis::WholeHistory,
    };
    (w.verdict, basis, Some(w))
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
