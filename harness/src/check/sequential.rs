//! Sequential consistency (`checker::sequential`), with the linearizability check's
//! model. A history the `linearizable` check (run earlier in the list) proved
//! linearizable is sequentially consistent without a search. Otherwise each key is
//! checked, then the whole history at once: proving a violation can take exponential
//! time, on a run that may already have failed, so the search gets its own budget
//! ([`CheckContext::sequential_timeout`](super::CheckContext)) and says `unknown`
//! past it, with the reason and the per-key verdicts.

use super::linearizable::model_of;
use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::history::History;
use checker::model::{Model, ModelError, UseModel};
use checker::sequential::{self, Report};
use checker::verdict::Verdict;

pub struct Sequential;

impl Checker for Sequential {
    fn kind(&self) -> CheckKind {
        CheckKind::Sequential
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let ctx = input.context;
        let model = model_of(ctx.workload, input.readings);
        let name = model.model().name();
        let history = input.history_with_final_reads_as_reads();
        let proven_linearizable = input
            .earlier
            .iter()
            .any(|c| c.name == CheckKind::Linearizable && c.verdict == Verdict::Valid);
        let report = if proven_linearizable {
            sequential::implied_by_linearizability(history, name)
        } else {
            let options = sequential::Options {
                timeout: Some(ctx.sequential_timeout.min(ctx.check_timeout)),
                memory_limit: ctx.check_memory.unwrap_or(sequential::DEFAULT_MEMORY_LIMIT),
                ..sequential::Options::default()
            };
            model
                .use_model(Search(history, &options))
                .map_err(|e| anyhow::anyhow!("the history does not fit the {name} model: {e}"))?
        };
        Ok(Found {
            verdict: report.verdict,
            summary: report.summary(),
            report: CheckReport::Sequential(Box::new(report)),
        })
    }
}

/// The sequential search with whichever model the configured one turns out to be.
struct Search<'a>(&'a History, &'a sequential::Options);

impl UseModel for Search<'_> {
    type Output = Result<Report, ModelError>;
    fn with<M: Model>(self, model: &M) -> Self::Output {
        sequential::check(self.0, model, self.1)
    }
}
