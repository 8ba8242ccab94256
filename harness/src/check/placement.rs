//! Where a history sits in the hierarchy of consistency models
//! (`checker::consistency::hierarchy`), from the checks' verdicts: the run's last line
//! and `results.json`'s `hierarchy`.

use super::session::NO_VERSIONS;
use super::{CheckKind, CheckReport, CheckResult};
use checker::consistency::hierarchy::{self, ModelVerdicts, Placement};
use checker::verdict::Verdict;

/// The placement; `None` when no consistency model was checked (an invariant-only
/// workload).
pub fn placement(checks: &[CheckResult]) -> Option<Placement> {
    let isolation = isolation(checks);
    match (models(checks), isolation) {
        (Some(mut p), Some(i)) => {
            p.line.push_str(&format!("; isolation: {}", i.line));
            Some(p)
        }
        (p, i) => p.or(i),
    }
}

/// Where transactional checks place the history among isolation models: the first
/// transactional check's line (`checker::txn::TxnReport::placement_line`).
fn isolation(checks: &[CheckResult]) -> Option<Placement> {
    checks.iter().find_map(|c| match &c.report {
        CheckReport::Txn(r) => Some(Placement {
            strongest: r
                .strongest_not_ruled_out
                .iter()
                .map(|m| m.name())
                .collect::<Vec<_>>()
                .join(", "),
            line: r.placement_line(),
        }),
        _ => None,
    })
}

/// The placement among the non-transactional models.
fn models(checks: &[CheckResult]) -> Option<Placement> {
    let mut v = ModelVerdicts::default();
    let mut any = false;
    let mut sequential_per_key: Option<Verdict> = None;
    for c in checks {
        match (&c.name, &c.report) {
            (CheckKind::Linearizable, _) => v.linearizable = Some(c.verdict),
            (CheckKind::Eventual, _) => v.eventual = Some(c.verdict),
            (CheckKind::Sequential, report) => {
                v.sequential = Some(c.verdict);
                if let CheckReport::Sequential(r) = report {
                    sequential_per_key = Some(r.per_key);
                }
            }
            (CheckKind::Session, report) => {
                let verdict =
                    |pick: fn(&checker::consistency::session::SessionReport) -> Verdict| {
                        match report {
                            CheckReport::Session(r) => Some(pick(r)),
                            _ => Some(Verdict::Unknown),
                        }
                    };
                v.monotonic_reads = verdict(|r| r.monotonic_reads.verdict);
                v.monotonic_writes = verdict(|r| r.monotonic_writes.verdict);
                v.read_your_writes = verdict(|r| r.read_your_writes.verdict);
                v.writes_follow_reads = verdict(|r| r.writes_follow_reads.verdict);
            }
            _ => continue,
        }
        any = true;
    }
    any.then(|| {
        let mut placed = hierarchy::place_with_per_key(&v, sequential_per_key);
        if let Some(why) = register_sessions_unjudged(checks) {
            // Only where the guarantees were left open: linearizability or sequential
            // consistency implies them, and then the line does not list them.
            if placed.line.contains("not determined") {
                placed.line.push_str(&format!(" ({why})"));
            }
        }
        placed
    })
}

/// Why a register session check could judge nothing, for the hierarchy line: a reader
/// should see that it is for want of versions, not for something the system did.
fn register_sessions_unjudged(checks: &[CheckResult]) -> Option<&'static str> {
    let c = checks.iter().find(|c| c.name == CheckKind::Session)?;
    let register = matches!(&c.report, CheckReport::Session(r) if r.workload == "register");
    let unjudged = c.verdict == Verdict::Unknown && c.summary == NO_VERSIONS;
    (register && unjudged).then_some(
        "session guarantees on registers need the per-key versions this system does not report",
    )
}
