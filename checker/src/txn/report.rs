//! The report: the graph built, cycles searched, every anomaly explained, the
//! models ruled out, the verdict.

use super::anomaly::{ruled_out, AnomalyKind, IsolationModel, Realm};
use super::cycles::{self, Search};
use super::explain::{self, CycleStep, TxnRef};
use super::graph::{self, EdgeList, Graph};
use super::mop::Txns;
use super::{txn_name, Inference, Inferred, TxnOptions};
use crate::history::Outcome;
use crate::verdict::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// One anomaly, explained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    pub kind: AnomalyKind,
    pub meaning: String,
    /// The transactions involved, in full (for a cycle: in cycle order).
    pub txns: Vec<TxnRef>,
    /// A cycle's steps; empty for anomalies that are not cycles.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<CycleStep>,
    pub explanation: String,
}

/// A strongly connected component that holds a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Component {
    pub size: usize,
    /// Its first transactions (at most 10).
    pub txns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TxnReport {
    /// `list-append` or `rw-register`.
    pub datatype: String,
    pub verdict: Verdict,
    pub transactions: usize,
    pub committed: usize,
    pub indeterminate: usize,
    pub failed: usize,
    pub keys: usize,
    pub edges: usize,
    /// How many of each anomaly were found.
    pub counts: BTreeMap<String, usize>,
    /// The anomalies explained (a few of each kind).
    pub anomalies: Vec<Anomaly>,
    /// Every model the anomalies rule out.
    pub ruled_out: Vec<IsolationModel>,
    /// The weakest of them: ruling these out rules out the rest.
    pub weakest_ruled_out: Vec<IsolationModel>,
    /// The strongest models not ruled out (not proven to hold: nothing here proves a
    /// model holds beyond "no anomaly was found").
    pub strongest_not_ruled_out: Vec<IsolationModel>,
    /// Components with cycles the search did not name (past its time bound).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unnamed_cycles: Vec<Component>,
    pub timed_out: bool,
    /// Where the inference could not order versions, and other caveats.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

fn realms(options: &TxnOptions) -> Vec<Realm> {
    let mut r = vec![Realm::Data];
    if options.process {
        r.push(Realm::Process);
    }
    if options.realtime {
        r.push(Realm::Realtime);
    }
    r
}

/// The graph: data edges among transactions that took effect, then process and
/// real-time order as asked.
fn graph(txns: &Txns, inferred: &mut Inferred, options: &TxnOptions) -> Graph {
    let included = &inferred.included;
    let mut edges = EdgeList {
        edges: std::mem::take(&mut inferred.edges.edges)
            .into_iter()
            .filter(|&(a, b, _)| included[a as usize] && included[b as usize])
            .collect(),
    };
    if options.process {
        graph::process_edges(&txns.txns, included, &mut edges);
    }
    let aux = if options.realtime {
        graph::realtime_edges(&txns.txns, included, &mut edges)
    } else {
        0
    };
    Graph::build(txns.txns.len() + aux, txns.txns.len(), edges)
}

pub fn build(
    txns: &Txns,
    datatype: &str,
    inference: &dyn Inference,
    mut inferred: Inferred,
    options: &TxnOptions,
) -> TxnReport {
    let started = Instant::now();
    let g = graph(txns, &mut inferred, options);
    let search = cycles::search(&g, &realms(options), started + options.time_limit);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut kinds = Vec::new();
    let mut anomalies = Vec::new();
    let mut note = |kind: AnomalyKind, make: &mut dyn FnMut() -> Anomaly| {
        let n = counts.entry(kind.name()).or_default();
        *n += 1;
        kinds.push(kind);
        if *n <= options.max_examples {
            anomalies.push(make());
        }
    };
    for f in &inferred.findings {
        note(f.kind, &mut || Anomaly {
            kind: f.kind,
            meaning: f.kind.meaning().into(),
            txns: f.txns.iter().map(|&t| explain::txn_ref(txns, t)).collect(),
            steps: Vec::new(),
            explanation: f.why.clone(),
        });
    }
    for c in &search.cycles {
        note(c.kind, &mut || {
            let (steps, text) = explain::cycle(txns, inference, &c.steps);
            Anomaly {
                kind: c.kind,
                meaning: c.kind.meaning().into(),
                txns: c
                    .steps
                    .iter()
                    .map(|s| explain::txn_ref(txns, s.0))
                    .collect(),
                steps,
                explanation: text,
            }
        });
    }
    let unnamed = unnamed(txns, &search);
    let (mut out, _) = ruled_out(kinds);
    if !unnamed.is_empty() {
        // A cycle of some shape exists: at least the strongest model checked is out.
        out.push(strongest_checked(options));
        out.sort();
        out.dedup();
    }
    let weakest = minimal(&out);
    let verdict = if !out.is_empty() {
        Verdict::Invalid
    } else if search.timed_out {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let count = |o: Outcome| txns.txns.iter().filter(|t| t.outcome == o).count();
    TxnReport {
        datatype: datatype.into(),
        verdict,
        transactions: txns.txns.len(),
        committed: count(Outcome::Ok),
        indeterminate: count(Outcome::Info),
        failed: count(Outcome::Fail),
        keys: txns.keys.len(),
        edges: g.edge_count(),
        counts,
        anomalies,
        strongest_not_ruled_out: maximal_not(&out),
        ruled_out: out,
        weakest_ruled_out: weakest,
        unnamed_cycles: unnamed,
        timed_out: search.timed_out,
        notes: inferred.notes,
    }
}

fn strongest_checked(options: &TxnOptions) -> IsolationModel {
    if options.realtime {
        IsolationModel::StrictSerializable
    } else if options.process {
        IsolationModel::StrongSessionSerializable
    } else {
        IsolationModel::Serializable
    }
}

/// The components with cycles the search named no cycle in (it ran out of time).
fn unnamed(txns: &Txns, search: &Search) -> Vec<Component> {
    if !search.timed_out {
        return Vec::new();
    }
    search
        .components
        .iter()
        .filter(|c| {
            !search
                .cycles
                .iter()
                .any(|cy| cy.steps.iter().any(|s| c.binary_search(&s.0).is_ok()))
        })
        .map(|c| Component {
            size: c.len(),
            txns: c.iter().take(10).map(|&t| txn_name(txns, t)).collect(),
        })
        .collect()
}

fn minimal(out: &[IsolationModel]) -> Vec<IsolationModel> {
    out.iter()
        .copied()
        .filter(|m| !out.iter().any(|o| o != m && m.implies_model(*o)))
        .collect()
}

/// The strongest models not ruled out.
fn maximal_not(out: &[IsolationModel]) -> Vec<IsolationModel> {
    let left: Vec<IsolationModel> = IsolationModel::ALL
        .into_iter()
        .filter(|m| !out.contains(m))
        .collect();
    left.iter()
        .copied()
        .filter(|m| !left.iter().any(|o| o != m && o.implies_model(*m)))
        .collect()
}

fn names(models: &[IsolationModel]) -> String {
    models
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl TxnReport {
    /// One line for the summary table.
    pub fn summary(&self) -> String {
        let found: Vec<String> = self
            .counts
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        match self.verdict {
            Verdict::Valid => format!(
                "no anomaly in {} transactions ({} committed) over {} keys",
                self.transactions, self.committed, self.keys
            ),
            Verdict::Unknown => format!(
                "no anomaly named before the time bound in {} transactions; not judged",
                self.transactions
            ),
            Verdict::Invalid if found.is_empty() => format!(
                "cycles past the search's time bound in {} components; rules out {}",
                self.unnamed_cycles.len(),
                names(&self.ruled_out)
            ),
            Verdict::Invalid => format!(
                "{}; rules out {} (weakest: {})",
                found.join(", "),
                names(&self.ruled_out),
                names(&self.weakest_ruled_out)
            ),
        }
    }

    /// Every anomaly explained, with its transactions in full; then the cycles
    /// not named and the notes.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for a in &self.anomalies {
            out.push_str(&format!(
                "{} ({}): {}\n",
                a.kind.name(),
                a.meaning,
                a.explanation
            ));
            let mut shown: Vec<&str> = Vec::new();
            for t in &a.txns {
                if !shown.contains(&t.name.as_str()) {
                    shown.push(&t.name);
                    out.push_str(
                        &format!(
                            "  {} (process {}, {:?}): {}\n",
                            t.name, t.process, t.outcome, t.text
                        )
                        .replace("Ok)", "ok)")
                        .replace("Info)", "info)")
                        .replace("Fail)", "fail)"),
                    );
                }
            }
        }
        for (kind, n) in &self.counts {
            if *n
                > self
                    .anomalies
                    .iter()
                    .filter(|a| &a.kind.name() == kind)
                    .count()
            {
                out.push_str(&format!("({n} {kind} in all; the first are explained)\n"));
            }
        }
        for c in &self.unnamed_cycles {
            out.push_str(&format!(
                "a cycle among {} transactions (the search ran out of time before naming it): {}{}\n",
                c.size,
                c.txns.join(", "),
                if c.size > c.txns.len() { ", ..." } else { "" }
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("note: {n}\n"));
        }
        out
    }

    /// The hierarchy line: where the history sits among isolation models.
    pub fn placement_line(&self) -> String {
        let mut line = format!(
            "strongest isolation not ruled out: {}",
            if self.strongest_not_ruled_out.is_empty() {
                "none".to_string()
            } else {
                names(&self.strongest_not_ruled_out)
            }
        );
        if !self.ruled_out.is_empty() {
            line.push_str(&format!("; violates {}", names(&self.ruled_out)));
        }
        if self.verdict == Verdict::Unknown {
            line.push_str("; the cycle search ran out of time");
        }
        line
    }
}
