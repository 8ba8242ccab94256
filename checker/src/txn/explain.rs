//! Anomalies in words: each step of a cycle as "T1 < T2 because ...", and every
//! transaction involved in full.

use super::cycles::Step;
use super::graph::{kind_name, Kinds, PROCESS, REALTIME};
use super::mop::{mops_text, Txns};
use super::{txn_name, Inference};
use crate::history::Outcome;
use serde::Serialize;

/// A transaction as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnRef {
    /// `T<invoke index>`.
    pub name: String,
    /// The invoke event's index in the history.
    pub index: u64,
    pub process: u64,
    pub outcome: Outcome,
    /// Its micro-operations, reads as they returned: `[append 5 3] [r 7 [1 2]]`.
    pub text: String,
}

/// One step of a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CycleStep {
    pub from: String,
    pub to: String,
    /// `ww`, `wr`, `rw`, `process` or `realtime`.
    pub kind: String,
    /// Why `from` precedes `to`.
    pub why: String,
}

pub fn txn_ref(txns: &Txns, t: u32) -> TxnRef {
    let x = &txns.txns[t as usize];
    TxnRef {
        name: txn_name(txns, t),
        index: x.invoke_index,
        process: x.process,
        outcome: x.outcome,
        text: mops_text(txns, x),
    }
}

/// Why `a` precedes `b` along an edge of kind `kind`.
fn why(txns: &Txns, inference: &dyn Inference, a: u32, b: u32, kind: Kinds) -> String {
    let (na, nb) = (txn_name(txns, a), txn_name(txns, b));
    let (ta, tb) = (&txns.txns[a as usize], &txns.txns[b as usize]);
    match kind {
        PROCESS => format!(
            "{na} and {nb} ran one after the other on process {}",
            ta.process
        ),
        REALTIME => format!(
            "{na} completed (at {:.3} ms) before {nb} began (at {:.3} ms)",
            ta.ret as f64 / 1e6,
            tb.call as f64 / 1e6
        ),
        _ => inference
            .explain(a, b, kind)
            .unwrap_or_else(|| format!("{na} precedes {nb} ({})", kind_name(kind))),
    }
}

/// The steps of a cycle, each explained, and the whole as one paragraph.
pub fn cycle(txns: &Txns, inference: &dyn Inference, steps: &[Step]) -> (Vec<CycleStep>, String) {
    let explained: Vec<CycleStep> = steps
        .iter()
        .map(|&(a, b, k)| CycleStep {
            from: txn_name(txns, a),
            to: txn_name(txns, b),
            kind: kind_name(k).to_string(),
            why: why(txns, inference, a, b, k),
        })
        .collect();
    let mut text: Vec<String> = explained
        .iter()
        .map(|s| format!("{} < {} because {} ({})", s.from, s.to, s.why, s.kind))
        .collect();
    if let Some(first) = explained.first() {
        text.push(format!("so {} < {}: a cycle", first.from, first.from));
    }
    (explained, text.join("; "))
}
