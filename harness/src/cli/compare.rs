//! `faultline compare PLAN.toml`: runs a campaign (every entry of the plan under
//! every fault set, for its seeds), with one progress line per run, and writes the
//! consistency matrix. Running the same command again after an interruption resumes
//! the campaign: finished runs are not run again; after an edit of the plan, only the
//! runs whose test file changed (and new ones) run. Exit codes: 0 the matrix is
//! written, 3 a bad plan, 4 interrupted or runs that could not run (run it again).

use super::{exit, outln};
use crate::campaign::matrix::RunRecord;
use crate::campaign::plan::{Plan, RunKey};
use crate::campaign::{Campaign, CampaignObserver};
use crate::error::is_bad_input;
use crate::run::interrupt;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// The plan: entries, fault sets and seeds (docs/running.md, "Comparing systems").
    #[arg(value_name = "PLAN.toml")]
    pub plan: PathBuf,
    /// Where campaigns go: DIR/compare/<plan>/<timestamp>/.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub results_dir: PathBuf,
    /// Tests run at once; each is a whole cluster, so more than one needs the cores.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub parallel: usize,
    /// Start a new campaign even if an unfinished one of this plan can be resumed.
    #[arg(long)]
    pub fresh: bool,
}

fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "faultline compare: {message}");
}

pub fn run(args: CompareArgs) -> ExitCode {
    let code = |e: &anyhow::Error| {
        say(&format!("{e:#}"));
        exit::code(if is_bad_input(e) {
            exit::BAD_INPUT
        } else {
            exit::HARNESS_ERROR
        })
    };
    if args.parallel == 0 || args.parallel > 64 {
        say(&format!(
            "--parallel: must be between 1 and 64, not {}",
            args.parallel
        ));
        return exit::code(exit::BAD_INPUT);
    }
    let plan = match Plan::read(&args.plan) {
        Ok(p) => p,
        Err(e) => return code(&crate::error::bad_input(format!("{e:#}"))),
    };
    let Some(runtime) = super::runtime(say) else {
        return exit::code(exit::HARNESS_ERROR);
    };
    let mut campaign = match Campaign::open(plan, &args.results_dir, args.fresh) {
        Ok(c) => c,
        Err(e) => return code(&e),
    };
    let configs = match campaign.configs() {
        Ok(c) => c,
        Err(e) => return code(&e),
    };
    let total = campaign.plan.runs().len();
    if let Some((earlier, n)) = &campaign.carried_from {
        say(&format!(
            "the plan changed since {}: {n} runs whose test file is the same are taken over, the others run",
            earlier.display()
        ));
    }
    say(&format!(
        "{} {}: {} runs, {} to do, in {}",
        if campaign.resumed {
            "resuming"
        } else {
            "campaign"
        },
        campaign.plan.name,
        total,
        configs.len(),
        campaign.dir.display()
    ));
    let started_at = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let interrupt = {
        let _guard = runtime.enter();
        interrupt::watch_signals(say)
    };
    let result = campaign.run(
        configs,
        args.parallel,
        runtime.handle(),
        interrupt,
        &Progress,
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Err(e) = result {
        return code(&e);
    }
    if !campaign.complete() {
        say(&format!(
            "stopped with {} of {total} runs to do; run the same command again to resume",
            campaign.pending().len()
        ));
        return exit::code(exit::HARNESS_ERROR);
    }
    match campaign.write_matrix(&started_at) {
        Ok(m) => {
            super::out(&crate::campaign::matrix::markdown(&m));
            outln!("\nmatrix: {}", campaign.dir.join("matrix.md").display());
            exit::code(exit::VALID)
        }
        Err(e) => code(&e),
    }
}

/// One line per run on standard error: which run, then its outcome.
struct Progress;

impl CampaignObserver for Progress {
    fn run_started(&self, done: usize, total: usize, key: &RunKey) {
        say(&format!(
            "[{done}/{total}] running {} / {} seed {}",
            key.entry, key.faults, key.seed
        ));
    }

    fn run_finished(&self, done: usize, total: usize, key: &RunKey, r: &RunRecord) {
        let what = match &r.error {
            Some(e) => format!("error: {e}"),
            None => {
                let broken: Vec<String> = r
                    .models
                    .iter()
                    .filter(|m| m.status == crate::campaign::matrix::RecordStatus::Broken)
                    .map(|m| format!("{}{}", m.model, if m.promised { " (promised)" } else { "" }))
                    .collect();
                if broken.is_empty() {
                    "every model judged held".to_string()
                } else {
                    format!("broken: {}", broken.join(", "))
                }
            }
        };
        say(&format!(
            "[{done}/{total}] {} / {} seed {}: {what}",
            key.entry, key.faults, key.seed
        ));
    }
}
