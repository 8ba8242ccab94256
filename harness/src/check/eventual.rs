//! Eventual consistency (`checker::consistency::eventual`): every node's final reads
//! agree after the quiet period, and (for sets and appends) no acknowledged element
//! is lost. It needs what the runner vouches for: the quiet period it waited after
//! the final heal, and every node it read from. Its summary is the checker's own
//! (`EventualReport::summary`), which says what the verdict rests on.

use super::{quiet_period_flag, CheckContext, CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::eventual;
use workloads::generator::Workload;

pub struct Eventual;

/// The options the runner can vouch for.
pub fn options(context: &CheckContext) -> eventual::EventualOptions {
    let collection = match context.workload {
        Workload::Append => eventual::Collection::Append,
        Workload::Set | Workload::Broadcast | Workload::GSet => eventual::Collection::Set,
        _ => eventual::Collection::Register,
    };
    let mut options = eventual::EventualOptions::new(collection);
    options.quiet_period_ns = Some(context.quiet_period.as_nanos() as u64);
    options.nodes = (!context.nodes.is_empty()).then(|| context.nodes.clone());
    options
}

impl Checker for Eventual {
    fn kind(&self) -> CheckKind {
        CheckKind::Eventual
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let opts = options(input.context);
        let report = if input.context.workload == Workload::Append {
            eventual::check_append_indexed(input.history, input.append_index()?, &opts)
        } else {
            eventual::check(input.history, &opts)
        }
        .map_err(anyhow::Error::new)?;
        Ok(Found {
            verdict: report.verdict,
            summary: report.summary(),
            report: CheckReport::Eventual(Box::new(report)),
        })
    }

    fn replay_flags(&self, context: &CheckContext) -> String {
        let mut flags = quiet_period_flag(context);
        if !context.nodes.is_empty() {
            flags.push_str(&format!(" --nodes {}", context.nodes.join(",")));
        }
        flags
    }
}
