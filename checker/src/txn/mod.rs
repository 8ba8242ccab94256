//! Transactional isolation checking, Elle-style (Kingsbury & Alvaro, VLDB 2020):
//! infer from the values transactions read which transaction came before which
//! (write-write, write-read and read-write dependencies, plus process and real-time
//! order as separate kinds), look for cycles, name each as Adya's anomalies are
//! named, and say which isolation models the history rules out.
//!
//! One file per concern: [`mop`] parses transactions, [`list_append`] and
//! [`register`] infer version orders and dependencies, [`graph`] holds the graph,
//! [`cycles`] finds cycles (bounded in time), [`anomaly`] names anomalies and the
//! models they rule out, [`explain`] puts them in words; [`stream`] reads a JSONL
//! file straight into the parsed form, for histories too big to hold as JSON.

pub mod anomaly;
pub mod cycles;
pub mod explain;
pub mod graph;
pub mod list_append;
pub mod mop;
pub mod register;
mod report;
pub mod stream;

pub use anomaly::{AnomalyKind, IsolationModel, Realm};
pub use explain::{CycleStep, TxnRef};
pub use mop::{ReadKind, TxnError, Txns, TXN_F};
pub use report::{Anomaly, Component, TxnReport};
pub use stream::{read_jsonl, TxnReadError};

use crate::history::History;
use graph::{EdgeList, Kinds};
use std::time::Duration;

/// What to check.
#[derive(Debug, Clone)]
pub struct TxnOptions {
    /// Add each process's own order (the session models).
    pub process: bool,
    /// Add real-time order (strict serializability, strong snapshot isolation).
    pub realtime: bool,
    /// The bound on the cycle search; past it, components with cycles are named
    /// without their shortest cycle.
    pub time_limit: Duration,
    /// How many anomalies of each kind the report explains (all are counted).
    pub max_examples: usize,
}

impl Default for TxnOptions {
    fn default() -> Self {
        TxnOptions {
            process: true,
            realtime: true,
            time_limit: Duration::from_secs(60),
            max_examples: 8,
        }
    }
}

/// How an inference explains one of its edges.
pub trait Inference {
    /// Why `a` precedes `b` by an edge of `kind` (ww, wr or rw), in words.
    fn explain(&self, a: u32, b: u32, kind: Kinds) -> Option<String>;
}

/// An anomaly found outside cycles: its kind, the transactions involved, why.
#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: AnomalyKind,
    pub txns: Vec<u32>,
    pub why: String,
}

/// What an inference produces.
pub struct Inferred {
    /// Which transactions took effect: committed ones, and indeterminate ones whose
    /// writes someone read.
    pub included: Vec<bool>,
    pub edges: EdgeList,
    pub findings: Vec<Finding>,
    /// Where an order could not be inferred, and why.
    pub notes: Vec<String>,
}

impl Inferred {
    fn new(txns: &Txns) -> Inferred {
        Inferred {
            included: txns
                .txns
                .iter()
                .map(|t| t.outcome == crate::history::Outcome::Ok)
                .collect(),
            edges: EdgeList::default(),
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn found(&mut self, kind: AnomalyKind, txns: Vec<u32>, why: String) {
        self.findings.push(Finding { kind, txns, why });
    }
}

/// How explanations name a transaction: by its invoke event's index.
pub fn txn_name(txns: &Txns, t: u32) -> String {
    format!("T{}", txns.txns[t as usize].invoke_index)
}

/// Checks a list-append history.
pub fn check_list_append(history: &History, options: &TxnOptions) -> Result<TxnReport, TxnError> {
    let txns = Txns::parse(history, ReadKind::List)?;
    Ok(check_txns(&txns, ReadKind::List, options))
}

/// Checks transactions already parsed (list-append when `kind` is `List`).
pub fn check_txns(txns: &Txns, kind: ReadKind, options: &TxnOptions) -> TxnReport {
    match kind {
        ReadKind::List => {
            let (inference, inferred) = list_append::infer(txns);
            report::build(txns, "list-append", &inference, inferred, options)
        }
        ReadKind::Register => {
            let (inference, inferred) = register::infer(txns);
            report::build(txns, "rw-register", &inference, inferred, options)
        }
    }
}

/// Checks a read-write register history.
pub fn check_rw_register(history: &History, options: &TxnOptions) -> Result<TxnReport, TxnError> {
    let txns = Txns::parse(history, ReadKind::Register)?;
    Ok(check_txns(&txns, ReadKind::Register, options))
}

#[cfg(test)]
mod tests;
