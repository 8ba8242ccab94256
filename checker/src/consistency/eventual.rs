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
pub use super::set_full::{
    ElementsReport, LostElement, PartlyMissingElement, StaleElement, UnexpectedElement,
};
use super::{ShapeError, DEFAULT_MAX_EXAMPLES, FINAL_READ_F};
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

/// What the verdict rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// The final reads of every node after the final heal: convergence and element
    /// classification together.
    FinalReads,
    /// A set history without final reads (a Jepsen `set` test: adds, then one read
    /// of the whole set), so the last read of each key decides, as Jepsen's set checker
    /// does: lost = acknowledged elements it lacks, unexpected = elements it has that
    /// were never added, recovered = indeterminate adds it has. Convergence cannot be
    /// judged and does not enter the verdict.
    LastRead,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventualReport {
    /// Convergence and element verdicts together (see `basis`).
    pub verdict: Verdict,
    pub basis: Basis,
    pub convergence: ConvergenceReport,
    /// Absent for registers, whose reads do not show which writes they saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elements: Option<ElementsReport>,
}

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
            Ok(assemble(
                history,
                opts.collection,
                convergence,
                Some(elements),
            ))
        }
        Collection::Register => Ok(assemble(
            history,
            opts.collection,
            convergence(history, opts)?,
            None,
        )),
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
        history,
        opts.collection,
        convergence,
        Some(classify_append(history, ix, opts)),
    ))
}

fn assemble(
    history: &History,
    collection: Collection,
    convergence: ConvergenceReport,
    elements: Option<ElementsReport>,
) -> EventualReport {
    // Jepsen's set test has no final reads of every node; the append workload is
    // faultline's own, whose runner always takes them, so their absence there is a
    // broken run and stays `unknown`.
    let jepsen_set =
        collection == Collection::Set && !history.ops.iter().any(|o| o.f == FINAL_READ_F);
    let (basis, verdict) = match &elements {
        Some(e) if jepsen_set => (Basis::LastRead, e.verdict),
        _ => (
            Basis::FinalReads,
            convergence
                .verdict
                .and(elements.as_ref().map_or(Verdict::Valid, |e| e.verdict)),
        ),
    };
    EventualReport {
        verdict,
        basis,
        convergence,
        elements,
    }
}

impl EventualReport {
    /// One line for a person, saying what the verdict rests on.
    pub fn summary(&self) -> String {
        let mut out = match self.basis {
            Basis::FinalReads => format!(
                "convergence {} ({} keys)",
                self.convergence.verdict, self.convergence.keys_checked
            ),
            Basis::LastRead => {
                "no final reads: judged from the last read of each key, as Jepsen's set checker"
                    .to_string()
            }
        };
        if let Some(e) = &self.elements {
            out.push_str(&format!(
                ", elements {}: {} acknowledged, {} lost (gone from every node), {} missing on some nodes, \
                 {} stale, {} recovered, {} unexpected",
                e.verdict,
                e.acknowledged,
                e.lost,
                e.missing_on_some_nodes,
                e.stale,
                e.recovered,
                e.unexpected.count
            ));
            if e.never_read_acknowledged > 0 {
                out.push_str(&format!(
                    ", {} acknowledged never read after",
                    e.never_read_acknowledged
                ));
            }
        }
        out
    }
}
