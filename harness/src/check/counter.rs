//! The counter invariant: every read lies between the acknowledged increments and
//! all increments (acknowledged or indeterminate) invoked before it completed.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::invariants::counter;

pub struct Counter;

impl Checker for Counter {
    fn kind(&self) -> CheckKind {
        CheckKind::Counter
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let r = counter::check(input.history, &counter::CounterOptions::default())
            .map_err(anyhow::Error::new)?;
        let summary = format!(
            "{} reads of {} counters, {} out of bounds ({} increments acknowledged, {} indeterminate)",
            r.reads_checked,
            r.keys,
            r.violations.count,
            r.increments_acknowledged,
            r.increments_indeterminate
        );
        Ok(super::invariant(
            r.verdict,
            r.reads_checked,
            "no counter read completed",
            summary,
            CheckReport::Counter(Box::new(r)),
        ))
    }
}
