//! `faultline test`: runs one test (or `--test-count N` independent ones), shows its
//! progress and results, and maps the outcomes onto the exit codes: 0 valid,
//! 1 invalid, 2 unknown, 3 bad input, 4 the harness could not do its job (including
//! an interrupted run). A setting the system cannot honour is bad input, found
//! before anything starts.

use super::{exit, out, outln};
use crate::config::{self, TestArgs, TestConfig};
use crate::error::is_bad_input;
use crate::results::render::{text::Text, Renderer};
use crate::run::{self, interrupt, Observer, Outcome};
use checker::verdict::Verdict;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub fn run(args: TestArgs) -> ExitCode {
    let config = match config::resolve(&args) {
        Ok(c) => c,
        Err(e) => {
            say(&format!("{e:#}"));
            return exit::code(if is_bad_input(&e) {
                exit::BAD_INPUT
            } else {
                exit::HARNESS_ERROR
            });
        }
    };
    let Some(runtime) = super::runtime(say) else {
        return exit::code(exit::HARNESS_ERROR);
    };
    let code = runtime.block_on(run_all(config));
    // Tasks still running (a client stuck past its timeout) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    exit::code(code)
}

/// A message from faultline itself, on standard error.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "faultline test: {message}");
}

async fn run_all(config: TestConfig) -> u8 {
    let interrupt = interrupt::watch_signals(say);
    let observer = Console {
        quiet: config.quiet,
    };
    let mut outcomes: Vec<(u64, Outcome)> = Vec::new();
    for i in 0..config.test_count {
        let seed = config.seed.wrapping_add(i as u64);
        let outcome =
            run::run_real(&config.with_seed(seed), i + 1, interrupt.clone(), &observer).await;
        show(&outcome);
        let stop = outcome.interrupted() || *interrupt.borrow();
        outcomes.push((seed, outcome));
        if stop {
            break;
        }
    }
    if config.test_count > 1 {
        outln!("\n{:<6} {:<22} {:<11} results", "test", "seed", "verdict");
        for (i, (seed, o)) in outcomes.iter().enumerate() {
            let verdict = match (o.verdict(), o.interrupted()) {
                (Some(_), true) => "interrupted".to_string(),
                (Some(v), false) => v.to_string(),
                (None, _) => "error".into(),
            };
            let dir = o
                .run_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            outln!("{:<6} {:<22} {:<11} {dir}", i + 1, seed, verdict);
        }
    }
    exit_code(&outcomes.iter().map(|(_, o)| o).collect::<Vec<_>>())
}

/// One test's results on the console, or why there are none.
fn show(outcome: &Outcome) {
    match outcome {
        Outcome::Checked(r) => {
            out("\n");
            out(&Text.render(r));
        }
        Outcome::BadInput(e) | Outcome::HarnessError { error: e, .. } => say(e),
    }
}

/// Invalid anywhere wins (a proven bug), then bad input, then a harness error
/// (an interrupted run included), then unknown.
fn exit_code(outcomes: &[&Outcome]) -> u8 {
    let any = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().any(|o| f(o));
    if any(&|o| o.verdict() == Some(Verdict::Invalid)) {
        exit::INVALID
    } else if any(&|o| matches!(o, Outcome::BadInput(_))) {
        exit::BAD_INPUT
    } else if any(&|o| o.error().is_some()) {
        exit::HARNESS_ERROR
    } else if any(&|o| o.verdict() == Some(Verdict::Unknown)) {
        exit::UNKNOWN
    } else {
        exit::VALID
    }
}

/// The console: a line when a run starts, and the progress line (redrawn in place
/// on a terminal, a plain line every few seconds in CI logs).
struct Console {
    quiet: bool,
}

impl Observer for Console {
    fn started(&self, config: &TestConfig, test_number: u32, run_id: &str, run_dir: &Path) {
        let _ = writeln!(
            std::io::stderr(),
            "faultline test {} ({}/{}): seed {}, run {run_id}, results in {}",
            config.name,
            test_number,
            config.test_count,
            config.seed,
            run_dir.display()
        );
    }

    fn progress_every(&self) -> Option<Duration> {
        match (self.quiet, std::io::stderr().is_terminal()) {
            (true, _) => None,
            (false, true) => Some(Duration::from_millis(250)),
            (false, false) => Some(Duration::from_secs(5)),
        }
    }

    fn progress_done(&self) {
        if std::io::stderr().is_terminal() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }

    fn progress_sink(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        if std::io::stderr().is_terminal() {
            // Fit the terminal's usual width; \x1b[K clears what a longer line left.
            Arc::new(|line: &str| {
                let shown: String = line.chars().take(160).collect();
                let _ = write!(std::io::stderr(), "\r{shown}\x1b[K");
            })
        } else {
            Arc::new(|line: &str| {
                let _ = writeln!(std::io::stderr(), "{line}");
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_the_worst_outcome() {
        let harness = || Outcome::HarnessError {
            error: "no root".into(),
            run_dir: None,
        };
        let bad = || Outcome::BadInput("--system: unknown system".into());
        assert_eq!(exit_code(&[&harness(), &bad()]), exit::BAD_INPUT);
        assert_eq!(exit_code(&[&harness()]), exit::HARNESS_ERROR);
        assert_eq!(exit_code(&[]), exit::VALID);
    }
}
