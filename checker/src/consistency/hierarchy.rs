//! Where a history sits among the consistency models: the one line a run ends with.
//!
//! The chain, strongest first: linearizable ⇒ sequentially consistent ⇒ the four
//! session guarantees (per process, per key). Eventual consistency (convergence and
//! no lost writes) is a separate axis: a system can keep every session guarantee and
//! still diverge forever, or converge while serving stale reads. So the line names
//! the strongest model of the chain that holds, then adds eventual consistency, and
//! says what was violated or could not be judged.

use crate::consistency::eventual::EventualReport;
use crate::consistency::session::{Guarantee, SessionReport};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};

/// The verdicts to place; `None` where a checker was not run for this workload.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelVerdicts {
    pub linearizable: Option<Verdict>,
    /// About the whole history, not per key (see [`place_with_per_key`]).
    pub sequential: Option<Verdict>,
    pub monotonic_reads: Option<Verdict>,
    pub monotonic_writes: Option<Verdict>,
    pub read_your_writes: Option<Verdict>,
    pub writes_follow_reads: Option<Verdict>,
    pub eventual: Option<Verdict>,
}

impl ModelVerdicts {
    /// Fills in the four session guarantees from a session report.
    pub fn with_session(mut self, report: &SessionReport) -> Self {
        self.monotonic_reads = Some(report.monotonic_reads.verdict);
        self.monotonic_writes = Some(report.monotonic_writes.verdict);
        self.read_your_writes = Some(report.read_your_writes.verdict);
        self.writes_follow_reads = Some(report.writes_follow_reads.verdict);
        self
    }

    /// Fills in eventual consistency from an eventual-consistency report.
    pub fn with_eventual(mut self, report: &EventualReport) -> Self {
        self.eventual = Some(report.verdict);
        self
    }

    fn session(&self) -> [(Guarantee, Option<Verdict>); 4] {
        [
            (Guarantee::MonotonicReads, self.monotonic_reads),
            (Guarantee::MonotonicWrites, self.monotonic_writes),
            (Guarantee::ReadYourWrites, self.read_your_writes),
            (Guarantee::WritesFollowReads, self.writes_follow_reads),
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Placement {
    /// The strongest model proven to hold: `linearizable`, `sequential`,
    /// `session`, `eventual`, or `none`.
    pub strongest: String,
    /// The line for a person.
    pub line: String,
}

fn join(names: &[&str]) -> String {
    names.join(", ")
}

/// Names the strongest satisfied model in one line.
pub fn place(v: &ModelVerdicts) -> Placement {
    place_with_per_key(v, None)
}

/// [`place`], knowing also whether each key on its own is sequentially consistent
/// (the sequential-consistency report's `per_key`). `v.sequential` must be the
/// verdict about the whole history: sequential consistency is not compositional, so
/// "every key has an order" is not "the history has one", and the line says
/// "sequentially consistent" only when the whole history was proven so (or is
/// linearizable, which implies it). When the whole history was not decided but every
/// key is, the line says so instead of claiming the model.
pub fn place_with_per_key(v: &ModelVerdicts, sequential_per_key: Option<Verdict>) -> Placement {
    let mut v = v.clone();
    // Linearizable implies sequentially consistent, whatever a bounded search said.
    if v.linearizable == Some(Verdict::Valid) && v.sequential != Some(Verdict::Invalid) {
        v.sequential = v.sequential.map(|_| Verdict::Valid);
    }
    // A sequentially consistent history keeps every session guarantee: each process's
    // operations sit in one legal order in their own order, so no later read of a
    // process can see less than an earlier one, or miss its own writes. A guarantee
    // left undetermined (a register history without versions) is implied, not unknown.
    if v.linearizable == Some(Verdict::Valid) || v.sequential == Some(Verdict::Valid) {
        for g in [
            &mut v.monotonic_reads,
            &mut v.monotonic_writes,
            &mut v.read_your_writes,
            &mut v.writes_follow_reads,
        ] {
            if *g == Some(Verdict::Unknown) {
                *g = Some(Verdict::Valid);
            }
        }
    }
    let v = &v;
    let mut violated: Vec<&str> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    let mut note = |name: &'static str, verdict: Option<Verdict>| match verdict {
        Some(Verdict::Invalid) => violated.push(name),
        Some(Verdict::Unknown) => unknown.push(name),
        _ => {}
    };
    note("linearizability", v.linearizable);
    if v.sequential == Some(Verdict::Unknown) && sequential_per_key == Some(Verdict::Valid) {
        note(
            "sequential consistency (holds on every key alone; the whole history was not decided)",
            v.sequential,
        );
    } else {
        note("sequential consistency", v.sequential);
    }
    for (g, verdict) in v.session() {
        note(g.name(), verdict);
    }
    note("eventual consistency", v.eventual);

    let eventual = v.eventual == Some(Verdict::Valid);
    let held: Vec<&str> = v
        .session()
        .iter()
        .filter(|(_, verdict)| *verdict == Some(Verdict::Valid))
        .map(|(g, _)| g.name())
        .collect();
    let (strongest, head) = if v.linearizable == Some(Verdict::Valid) {
        ("linearizable", "linearizable".to_string())
    } else if v.sequential == Some(Verdict::Valid) {
        ("sequential", "sequentially consistent".to_string())
    } else if !held.is_empty() {
        let all = held.len() == 4;
        (
            "session",
            if all {
                format!("all four session guarantees ({})", join(&held))
            } else {
                format!("session guarantees {}", join(&held))
            },
        )
    } else if eventual {
        ("eventual", "eventually consistent".to_string())
    } else {
        ("none", "none of the checked models".to_string())
    };
    let mut line = format!("strongest model satisfied: {head}");
    if eventual && strongest != "eventual" {
        line.push_str(" + eventually consistent");
    }
    if !violated.is_empty() {
        line.push_str(&format!("; violates {}", join(&violated)));
    }
    if !unknown.is_empty() {
        line.push_str(&format!("; not determined: {}", join(&unknown)));
    }
    Placement {
        strongest: strongest.to_string(),
        line,
    }
}
