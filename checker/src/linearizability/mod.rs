//! Exact linearizability checking.
//!
//! [`check`] answers whether a history is linearizable with respect to a [`Model`]:
//! `valid` if and only if it is, `invalid` with a counterexample when it is not, and
//! `unknown` (with what was proven) when the time limit or memory budget ran out.
//!
//! How, one file per job:
//! - `partition`: splits the history by key into independent objects
//!   (P-compositionality) and checks them in parallel on all cores, stopping at the
//!   first violation unless every key is asked for.
//! - `prune`: exact simplifications before any search (operations that can neither
//!   change nor constrain the state are left out).
//! - `future_read`: a cheap exact pre-check that finds an observation no operation
//!   invoked before its completion could satisfy (a read of a value written only
//!   later), in one pass, before the search.
//! - `search`: the general exact search (Wing & Gong / Lowe, as in porcupine). The
//!   sequential-consistency checker runs it first on each key (a linearizable key
//!   needs no other search), so it is visible to the crate.
//! - `open_index`: the operations open to the end, by class of identical operations
//!   and by the state they need, for the search's stuck points.
//! - `twins`: identical completed operations, of which the search offers only the
//!   callable one that returns first.
//! - `counterexample`: explains a violation.
//! - `shortest_prefix`: where a failing key stops being linearizable (the shortest
//!   non-linearizable prefix in real time), found by re-checking cuts of it; run by
//!   the caller after a check, since it costs a few checks of the key.
//! - `report`: the serializable answer.
//!
//! The budget, the memo of explored configurations and the per-key driver are shared
//! with the sequential-consistency checker, in [`crate::search`].

mod counterexample;
mod future_read;
mod open_index;
mod partition;
mod prune;
mod report;
pub(crate) mod search;
mod shortest_prefix;
mod twins;

pub use crate::search::{BlockedOp, OpSummary};
pub use report::{Counterexample, PartitionReport, Report};
pub use shortest_prefix::{shortest_invalid_prefix, ShortestPrefix};

use crate::history::History;
use crate::model::{Model, ModelError};
use crate::search::budget::Budget;
use std::time::{Duration, Instant};

/// Limits and choices for one check.
#[derive(Debug, Clone)]
pub struct Options {
    /// Past this the answer is `unknown`, with the partitions decided so far.
    pub timeout: Option<Duration>,
    /// Approximate bytes the search's tables may use, summed over every partition
    /// checked at once. Past it the answer is `unknown`.
    pub memory_limit: usize,
    /// Check every key even after one is found invalid, to diagnose them all.
    pub all_keys: bool,
}

/// 4 GiB: enough for any search that finishes in minutes, small enough to leave a
/// test machine standing.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            all_keys: false,
        }
    }
}

/// Checks `history` against `model`. Fails only when an operation does not fit the
/// model (an unknown `f`, a malformed value); everything else is in the report.
pub fn check<M: Model>(
    history: &History,
    model: &M,
    options: &Options,
) -> Result<Report, ModelError> {
    check_with(history, model, options, true)
}

/// [`check`] without its cheap pre-checks (the future-read one): every partition is
/// decided by the search. For differential tests and benchmarks that compare the two;
/// the verdict is always the same as [`check`]'s, only slower to reach.
pub fn check_by_search_only<M: Model>(
    history: &History,
    model: &M,
    options: &Options,
) -> Result<Report, ModelError> {
    check_with(history, model, options, false)
}

fn check_with<M: Model>(
    history: &History,
    model: &M,
    options: &Options,
    prechecks: bool,
) -> Result<Report, ModelError> {
    let started = Instant::now();
    let budget = Budget::starting(started, options.timeout, options.memory_limit);
    let partitions = match prune::prepare_all(history, model, &budget)? {
        Ok(prepared) => {
            let reports = partition::check_partitions(
                history,
                model,
                &prepared,
                &budget,
                options.all_keys,
                prechecks,
            );
            crate::search::phase::drop_aside(prepared, history.ops.len());
            reports
        }
        Err(reason) => vec![partition::unprepared(history, reason)],
    };
    let verdict = crate::verdict::Verdict::all(partitions.iter().map(|p| p.verdict));
    let counterexample = partitions.iter().find_map(|p| p.counterexample.clone());
    Ok(Report {
        verdict,
        model: model.name(),
        ops: history.ops.len(),
        checked_ops: partitions.iter().map(|p| p.checked_ops).sum(),
        partitions,
        counterexample,
        elapsed: started.elapsed(),
    })
}
