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
//! - `search`: the general exact search (Wing & Gong / Lowe, as in porcupine).
//! - `memo`: the search's table of explored configurations.
//! - `open_index`: the operations open to the end, by class of identical operations
//!   and by the state they need, for the search's stuck points.
//! - `budget`: deadline, memory budget, cancellation.
//! - `counterexample`: explains a violation.
//! - `report`: the serializable answer.

pub mod budget;
pub mod counterexample;
pub mod memo;
mod open_index;
pub mod partition;
pub mod prune;
pub mod report;
pub mod search;

pub use report::{BlockedOp, Counterexample, OpSummary, PartitionReport, Report};

use crate::history::History;
use crate::model::{Model, ModelError};
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

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            all_keys: false,
        }
    }
}

/// 4 GiB: enough for any search that finishes in minutes, small enough to leave a
/// test machine standing.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// Checks `history` against `model`. Fails only when an operation does not fit the
/// model (an unknown `f`, a malformed value); everything else is in the report.
pub fn check<M: Model>(
    history: &History,
    model: &M,
    options: &Options,
) -> Result<Report, ModelError> {
    let started = Instant::now();
    let prepared = prune::prepare_all(history, model)?;
    let budget = budget::Budget::new(options.timeout.map(|t| started + t), options.memory_limit);
    let partitions =
        partition::check_partitions(history, model, &prepared, &budget, options.all_keys);
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
