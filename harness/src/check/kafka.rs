//! Maelstrom's kafka checks (`checker::kafka`): lost writes, duplicated and
//! inconsistent offsets, non-monotonic polls, committed offsets going backwards.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::kafka::check_kafka;

pub struct Kafka;

impl Checker for Kafka {
    fn kind(&self) -> CheckKind {
        CheckKind::Kafka
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let r = check_kafka(input.history);
        let found: Vec<String> = r.counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let summary = format!(
            "{} sends, {} polls ({} final), {} commits, {} lists acknowledged; {}",
            r.sends_acknowledged,
            r.polls_acknowledged + r.final_polls_acknowledged,
            r.final_polls_acknowledged,
            r.commits_acknowledged,
            r.lists_acknowledged,
            if found.is_empty() {
                "no anomaly".to_string()
            } else {
                found.join(", ")
            }
        );
        Ok(super::invariant(
            r.verdict,
            r.sends_acknowledged,
            "no send was acknowledged",
            summary,
            CheckReport::Kafka(Box::new(r)),
        ))
    }
}
