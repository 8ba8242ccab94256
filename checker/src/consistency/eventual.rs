//! Eventual consistency: the final reads agree (convergence), and nothing
//! acknowledged is lost (every element classified as Jepsen's set-full does).
//!
//! Convergence looks at the `final-read` operations the runner takes from every node
//! after the final heal and a quiet period. The final heal is the time of the last
//! nemesis event in the history (the runner heals everything as the nemesis's last
//! act); the quiet period the history shows is the gap between it and the first
//! final read. Element classification looks at every read of every key, for the set
//! workload (`add`, reads return sets) and the append workload (`append`, reads
//! return lists). The exact rules are in `docs/consistency.md`.

use super::append_index::AppendIndex;
pub use super::convergence::{convergence, ConvergenceReport, Divergence, FinalValue};
use super::set_full::{classify_append, classify_set};
pub use super::set_full::{ElementsReport, LostElement, StaleElement, UnexpectedElement};
use super::{ShapeError, DEFAULT_MAX_EXAMPLES};
use crate::history::History;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// What the objects of the workload are, which decides how final reads compare and
/// whether elements can be classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    /// `append` / `read` → list: final reads must be equal lists.
    Append,
    /// `add` / `read` → set as a list: final reads must be equal as sets.
    Set,
    /// Registers: final reads must be equal values; an object with a `siblings`
    /// array (a multi-version store) compares by its set of siblings. No element
    /// classification.
    Register,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventualOptions {
    pub collection: Collection,
    pub max_examples: usize,
    /// How many lost elements the report lists (the count is always exact).
    pub max_lost: usize,
    /// The quiet period the runner promised between the final heal and the final
    /// reads. When set and the history shows a shorter gap, diverging final reads
    /// make convergence `unknown` instead of `invalid`: the system was not given the
    /// time it was owed.
    pub quiet_period_ns: Option<u64>,
    /// Every node that must have answered a final read of every key; when `None`,
    /// the nodes that appear in final reads.
    pub nodes: Option<Vec<String>>,
    /// Count stale elements (visible only after a delay) as a violation, as a
    /// linearizable set would require. Off for eventual consistency.
    pub stale_is_error: bool,
}

impl EventualOptions {
    pub fn new(collection: Collection) -> Self {
        EventualOptions {
            collection,
            max_examples: DEFAULT_MAX_EXAMPLES,
            max_lost: 1000,
            quiet_period_ns: None,
            nodes: None,
            stale_is_error: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventualReport {
    /// Convergence and element verdicts together.
    pub verdict: Verdict,
    pub convergence: ConvergenceReport,
    /// Absent for registers, whose reads do not show which writes they saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<ElementsReport>,
}

/// One group of nodes whose final reads of a key returned the same thing.
/// Checks convergence and, for set and append workloads, classifies every element.
pub fn check(history: &History, opts: &EventualOptions) -> Result<EventualReport, ShapeError> {
    match opts.collection {
        Collection::Append => {
            let index = AppendIndex::build(history)?;
            check_append_indexed(history, &index, opts)
        }
        Collection::Set => {
            let convergence = convergence(history, opts)?;
            let elements = classify_set(history, opts)?;
            Ok(assemble(convergence, Some(elements)))
        }
        Collection::Register => Ok(assemble(convergence(history, opts)?, None)),
    }
}

/// The append-workload check against a prebuilt index (shared with session checks);
/// the index must have been built from this history.
pub fn check_append_indexed(
    history: &History,
    ix: &AppendIndex,
    opts: &EventualOptions,
) -> Result<EventualReport, ShapeError> {
    let convergence = convergence(history, opts)?;
    Ok(assemble(
        convergence,
        Some(classify_append(history, ix, opts)),
    ))
}

fn assemble(convergence: ConvergenceReport, elements: Option<ElementsReport>) -> EventualReport {
    let verdict = convergence
        .verdict
        .and(elements.as_ref().map_or(Verdict::Valid, |e| e.verdict));
    EventualReport {
        verdict,
        convergence,
        elements,
    }
}
