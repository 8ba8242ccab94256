//! Each model's status in a run (held, broken, unknown, not checked) from the checks'
//! verdicts, and the run's verdict on its promises: 1 when a promised model is broken,
//! 2 when one is unknown, 0 otherwise even if a model nobody promised is broken (a
//! finding, not a failure).
//!
//! Models are judged through their implications as well as their own checks: a broken
//! read-your-writes breaks linearizability even on a workload whose linearizability is
//! not checked, and a linearizable history holds every session guarantee even when the
//! session check could not judge it (registers without versions). A promise of a
//! model is a promise of what it implies.

use super::{CheckKind, CheckReport, CheckResult};
use crate::system::{Model, Promises};
use checker::consistency::eventual::Basis;
use checker::consistency::session::{GuaranteeReport, SessionReport};
use checker::consistency::set_full::ElementsReport;
use checker::history::{History, Outcome};
use checker::txn::Anomaly as TxnAnomaly;
use checker::txn::IsolationModel;
use checker::verdict::Verdict;
use serde::Serialize;

/// What a run says about one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Held,
    Broken,
    /// A check ran and could not decide (time ran out, the history did not fit).
    Unknown,
    /// No check of this run judges the model (the workload has no such check).
    NotChecked,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Held => "held",
            Status::Broken => "broken",
            Status::Unknown => "unknown",
            Status::NotChecked => "not checked",
        }
    }

    fn of(v: Verdict) -> Status {
        match v {
            Verdict::Valid => Status::Held,
            Verdict::Invalid => Status::Broken,
            Verdict::Unknown => Status::Unknown,
        }
    }
}

/// One model in one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelOutcome {
    pub model: Model,
    pub promised: bool,
    /// The promised model that implies this one, when it was promised only so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_as_part_of: Option<Model>,
    pub status: Status,
    /// What the status rests on: the check's own words, or the model it follows from.
    pub evidence: String,
    /// Seconds from the first operation to the invocation of the first operation
    /// that shows the violation, when the evidence names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_violation_s: Option<f64>,
}

/// Every model's outcome, and the verdict on the promises.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PromiseReport {
    /// The promises the run was judged by; absent: none known, every check decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promises: Option<Promises>,
    /// Over the promised models only; absent without promises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// Every model some check of the run judged, or a promise names.
    pub models: Vec<ModelOutcome>,
}

impl PromiseReport {
    /// Broken models nobody promised, when there are promises: the findings.
    pub fn findings(&self) -> impl Iterator<Item = &ModelOutcome> {
        let judged = self.promises.is_some();
        self.models
            .iter()
            .filter(move |m| judged && !m.promised && m.status == Status::Broken)
    }
}

/// A model's own status from its check, before implications.
struct Own {
    status: Status,
    evidence: String,
    first_op: Option<usize>,
}

/// Judges every model from the checks, and the promises from the models.
pub fn judge(
    checks: &[CheckResult],
    history: &History,
    promises: Option<&Promises>,
) -> PromiseReport {
    let own: Vec<(Model, Own)> = Model::ALL
        .into_iter()
        .filter_map(|m| own_status(m, checks, history).map(|o| (m, o)))
        .collect();
    let find = |m: Model| own.iter().find(|(x, _)| *x == m).map(|(_, o)| o);
    let start = history.ops.iter().map(|o| o.call).min().unwrap_or(0);
    let promised_as = |m: Model| -> Option<Option<Model>> {
        let p = promises?;
        if p.models.contains(&m) {
            return Some(None);
        }
        p.models
            .iter()
            .find(|s| s.implies().contains(&m))
            .map(|s| Some(*s))
    };
    let mut models = Vec::new();
    for m in Model::ALL {
        let promised = promised_as(m);
        let (status, evidence, first_op) = derive(m, find(m), &find);
        if status == Status::NotChecked && promised.is_none() {
            continue;
        }
        models.push(ModelOutcome {
            model: m,
            promised: promised.is_some(),
            promised_as_part_of: promised.flatten(),
            status,
            evidence,
            first_violation_s: first_op
                .and_then(|id| history.ops.get(id))
                .map(|op| op.call.saturating_sub(start) as f64 / 1e9),
        });
    }
    let verdict = promises.map(|_| {
        let promised = models.iter().filter(|o| o.promised);
        Verdict::all(promised.filter_map(|o| match o.status {
            Status::Held | Status::NotChecked => None,
            Status::Broken => Some(Verdict::Invalid),
            Status::Unknown => Some(Verdict::Unknown),
        }))
    });
    PromiseReport {
        promises: promises.cloned(),
        verdict,
        models,
    }
}

/// The status after implications: its own when decided; else broken when a model it
/// implies is broken; else held when a model implying it holds; else its own.
fn derive<'a>(
    m: Model,
    own: Option<&Own>,
    find: &dyn Fn(Model) -> Option<&'a Own>,
) -> (Status, String, Option<usize>) {
    if let Some(o) = own.filter(|o| matches!(o.status, Status::Held | Status::Broken)) {
        return (o.status, o.evidence.clone(), o.first_op);
    }
    let weaker_broken = m.implies().iter().find_map(|w| {
        find(*w)
            .filter(|o| o.status == Status::Broken)
            .map(|o| (*w, o))
    });
    if let Some((w, o)) = weaker_broken {
        return (
            Status::Broken,
            format!("{w} is broken, which it implies"),
            o.first_op,
        );
    }
    let stronger_held = Model::ALL
        .into_iter()
        .find(|s| s.implies().contains(&m) && find(*s).is_some_and(|o| o.status == Status::Held));
    if let Some(s) = stronger_held {
        return (Status::Held, format!("implied by {s}, which holds"), None);
    }
    match own {
        Some(o) => (o.status, o.evidence.clone(), o.first_op),
        None => (
            Status::NotChecked,
            "no check of this run judges it".into(),
            None,
        ),
    }
}

/// A model's status from the check that judges it, if that check ran.
fn own_status(m: Model, checks: &[CheckResult], history: &History) -> Option<Own> {
    if let Some(level) = m.isolation() {
        return isolation(level, checks, history);
    }
    let kind = match m {
        Model::Linearizable => CheckKind::Linearizable,
        Model::Sequential => CheckKind::Sequential,
        Model::MonotonicReads
        | Model::MonotonicWrites
        | Model::ReadYourWrites
        | Model::WritesFollowReads => CheckKind::Session,
        Model::Eventual | Model::NoLostWrites => CheckKind::Eventual,
        Model::Bank => CheckKind::Bank,
        Model::Counter => CheckKind::Counter,
        Model::UniqueIds => CheckKind::UniqueIds,
        _ => return None,
    };
    let c = checks.iter().find(|c| c.name == kind)?;
    let whole = || Own {
        status: Status::of(c.verdict),
        evidence: c.summary.clone(),
        first_op: None,
    };
    match (&c.report, m) {
        (CheckReport::Linearizable(r), _) => Some(Own {
            first_op: r.counterexample.as_ref().map(|ce| ce.must_precede.id),
            ..whole()
        }),
        (CheckReport::Session(r), _) => Some(session(r, m)),
        (CheckReport::Eventual(r), Model::Eventual) => Some(match r.basis {
            Basis::FinalReads => Own {
                status: Status::of(r.convergence.verdict),
                evidence: format!(
                    "{} of {} keys diverge after the final heal",
                    r.convergence.divergent_keys.count, r.convergence.keys_checked
                ),
                first_op: None,
            },
            Basis::LastRead => Own {
                status: Status::NotChecked,
                evidence: "no final reads to judge convergence by".into(),
                first_op: None,
            },
        }),
        (CheckReport::Eventual(r), _) => Some(match &r.elements {
            Some(e) => lost_writes(e, history),
            None => Own {
                status: Status::NotChecked,
                evidence: "register reads do not show which writes they saw".into(),
                first_op: None,
            },
        }),
        // The check could not run, or an invariant: the check's own verdict.
        _ => Some(whole()),
    }
}

/// An isolation model from the transactional check (list-append or rw-register):
/// broken when an anomaly it proscribes was found (the evidence names them, the
/// first violation is the earliest transaction involved), unknown when the cycle
/// search ran out of time before ruling it out, held otherwise.
fn isolation(level: IsolationModel, checks: &[CheckResult], history: &History) -> Option<Own> {
    let c = checks
        .iter()
        .find(|c| matches!(c.name, CheckKind::ListAppend | CheckKind::RwRegister))?;
    let CheckReport::Txn(r) = &c.report else {
        // The check could not run: its own verdict.
        return Some(Own {
            status: Status::of(c.verdict),
            evidence: c.summary.clone(),
            first_op: None,
        });
    };
    let found: Vec<&TxnAnomaly> = r
        .anomalies
        .iter()
        .filter(|a| a.kind.rules_out().contains(&level))
        .collect();
    if r.ruled_out.contains(&level) {
        let mut names: Vec<String> = Vec::new();
        for name in found.iter().map(|a| a.kind.name()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let listed: Vec<String> = names
            .iter()
            .map(|n| format!("{n} x{}", r.counts.get(n).copied().unwrap_or(1)))
            .collect();
        let evidence = if listed.is_empty() {
            "a dependency cycle the search found but did not name before its time bound".into()
        } else {
            format!("{} ({level} proscribes them)", listed.join(", "))
        };
        let first = found
            .iter()
            .flat_map(|a| &a.txns)
            .filter_map(|t| history.ops.iter().position(|o| o.invoke_index == t.index))
            .min();
        return Some(Own {
            status: Status::Broken,
            evidence,
            first_op: first,
        });
    }
    if r.timed_out {
        return Some(Own {
            status: Status::Unknown,
            evidence: "the cycle search ran out of time before ruling it in or out".into(),
            first_op: None,
        });
    }
    Some(Own {
        status: Status::Held,
        evidence: format!(
            "no anomaly it proscribes among {} committed and {} indeterminate transactions",
            r.committed, r.indeterminate
        ),
        first_op: None,
    })
}

/// No lost writes: broken by an acknowledged write gone from every node. Indeterminate
/// writes a read saw and that vanished after are counted in the evidence, not against
/// the model: nothing promised them.
fn lost_writes(e: &ElementsReport, history: &History) -> Own {
    let acknowledged = |id: usize| {
        history
            .ops
            .get(id)
            .is_some_and(|o| o.outcome == Outcome::Ok)
    };
    let seen_only = e.lost.saturating_sub(e.lost_acknowledged);
    let also = if seen_only > 0 {
        format!("; {seen_only} indeterminate writes some read saw are gone too")
    } else {
        String::new()
    };
    Own {
        status: if e.lost_acknowledged > 0 {
            Status::Broken
        } else {
            Status::Held
        },
        evidence: format!(
            "{} of {} acknowledged writes lost (gone from every node){also}",
            e.lost_acknowledged, e.acknowledged
        ),
        first_op: e
            .lost_elements
            .iter()
            .filter_map(|l| l.add.as_ref().map(|a| a.op))
            .filter(|&id| acknowledged(id))
            .min(),
    }
}

/// One session guarantee from the session report.
fn session(r: &SessionReport, m: Model) -> Own {
    let g: &GuaranteeReport = match m {
        Model::MonotonicReads => &r.monotonic_reads,
        Model::MonotonicWrites => &r.monotonic_writes,
        Model::ReadYourWrites => &r.read_your_writes,
        _ => &r.writes_follow_reads,
    };
    let mut evidence = format!(
        "{} violations in {} operations checked",
        g.violations.count, g.checked
    );
    if let Some(note) = &g.note {
        evidence.push_str(&format!(" ({note})"));
    }
    Own {
        status: Status::of(g.verdict),
        evidence,
        first_op: g.violations.examples.iter().map(|v| v.second.op).min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::PromiseSource;

    /// Write skew: two transactions each read both keys empty and append to one; a
    /// third reads both appends. The list-append check's result on it.
    fn write_skew() -> (Vec<CheckResult>, History) {
        let lines = [
            r#"{"index":0,"time":1,"process":0,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null],["append",1,1]]}"#,
            r#"{"index":1,"time":2,"process":1,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null],["append",2,1]]}"#,
            r#"{"index":2,"time":3,"process":0,"type":"ok","f":"txn","value":[["r",1,[]],["r",2,[]],["append",1,1]]}"#,
            r#"{"index":3,"time":4,"process":1,"type":"ok","f":"txn","value":[["r",1,[]],["r",2,[]],["append",2,1]]}"#,
            r#"{"index":4,"time":5,"process":2,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null]]}"#,
            r#"{"index":5,"time":6,"process":2,"type":"ok","f":"txn","value":[["r",1,[1]],["r",2,[1]]]}"#,
        ];
        let history = checker::history::parse_jsonl(&lines.join("\n")).unwrap();
        let report =
            checker::txn::check_list_append(&history, &checker::txn::TxnOptions::default())
                .unwrap();
        let check = CheckResult {
            name: CheckKind::ListAppend,
            verdict: report.verdict,
            summary: report.summary(),
            report: CheckReport::Txn(Box::new(report)),
            error: None,
            replay: None,
            seconds: 0.0,
        };
        (vec![check], history)
    }

    fn promise(models: Vec<Model>) -> Promises {
        Promises {
            models,
            from: PromiseSource::Builtin,
        }
    }

    fn status(r: &PromiseReport, m: Model) -> Status {
        r.models.iter().find(|o| o.model == m).unwrap().status
    }

    #[test]
    fn write_skew_breaks_a_serializable_promise_but_keeps_a_snapshot_isolation_one() {
        let (checks, history) = write_skew();
        let si = judge(
            &checks,
            &history,
            Some(&promise(vec![Model::SnapshotIsolation])),
        );
        assert_eq!(si.verdict, Some(Verdict::Valid));
        assert_eq!(status(&si, Model::SnapshotIsolation), Status::Held);
        assert_eq!(status(&si, Model::ReadCommitted), Status::Held);
        assert_eq!(status(&si, Model::Serializable), Status::Broken);
        let broken = si.findings().map(|m| m.model).collect::<Vec<_>>();
        assert!(broken.contains(&Model::Serializable), "{broken:?}");
        let ser = judge(&checks, &history, Some(&promise(vec![Model::Serializable])));
        assert_eq!(ser.verdict, Some(Verdict::Invalid));
        let o = ser
            .models
            .iter()
            .find(|o| o.model == Model::Serializable)
            .unwrap();
        assert!(o.evidence.starts_with("G2-item x1"), "{}", o.evidence);
        assert_eq!(o.first_violation_s, Some(0.0));
        // Repeatable read forbids G2-item too; read committed, which it implies, holds.
        let rr = judge(
            &checks,
            &history,
            Some(&promise(vec![Model::RepeatableRead])),
        );
        assert_eq!(rr.verdict, Some(Verdict::Invalid));
    }

    #[test]
    fn isolation_models_are_not_checked_without_a_transactional_check() {
        let history = History {
            events: Vec::new(),
            ops: Vec::new(),
        };
        let r = judge(&[], &history, Some(&promise(vec![Model::Serializable])));
        assert_eq!(status(&r, Model::Serializable), Status::NotChecked);
        assert_eq!(r.verdict, Some(Verdict::Valid));
    }
}
