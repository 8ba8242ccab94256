//! The unique-ids invariant: no two acknowledged `generate`s returned the same id.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::invariants::unique_ids;

pub struct UniqueIds;

impl Checker for UniqueIds {
    fn kind(&self) -> CheckKind {
        CheckKind::UniqueIds
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let r = unique_ids::check(input.history, &unique_ids::UniqueIdOptions::default())
            .map_err(anyhow::Error::new)?;
        let summary = format!(
            "{} generated ({} attempted), {} distinct, {} duplicated",
            r.acknowledged, r.attempted, r.distinct, r.duplicates.count
        );
        Ok(super::invariant(
            r.verdict,
            r.acknowledged,
            "no generate was acknowledged",
            summary,
            CheckReport::UniqueIds(Box::new(r)),
        ))
    }
}
