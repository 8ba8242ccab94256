//! `faultline test`: runs one test (or `--test-count N` independent ones) and maps the
//! outcome onto the exit codes: 0 valid, 1 invalid, 2 unknown, 3 bad input, 4 the
//! harness could not do its job (including an interrupted run).
//! A setting the system cannot honour (an unknown system, a fault it does not support)
//! is bad input (3), found before anything starts.
//!
//! Ctrl-C (or SIGTERM/SIGHUP) stops the workload and the faults, heals, tears the
//! cluster down and still checks and stores what was recorded; a second one tears
//! down at once and exits.

pub use crate::config::TestArgs;

use crate::config::{self, TestConfig};
use crate::exit;
use crate::runner::{self, TestOutcome};
use checker::verdict::Verdict;
use std::process::ExitCode;
use tokio::sync::watch;

pub fn run(args: TestArgs) -> ExitCode {
    let config = match config::resolve(&args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("faultline test: {message}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("faultline test: cannot start the async runtime: {e}");
            return exit::code(exit::HARNESS_ERROR);
        }
    };
    let code = runtime.block_on(run_all(config));
    // Tasks still running (a client stuck past its timeout) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    exit::code(code)
}

async fn run_all(config: TestConfig) -> u8 {
    let interrupt = watch_signals();
    let mut outcomes: Vec<(u64, TestOutcome)> = Vec::new();
    for i in 0..config.test_count {
        let seed = config.seed.wrapping_add(i as u64);
        let test = config.with_seed(seed);
        let outcome = runner::run_real(&test, i + 1, interrupt.clone()).await;
        if let Some(e) = &outcome.error {
            eprintln!("faultline test: {e}");
        }
        let stop = outcome.interrupted || *interrupt.borrow();
        outcomes.push((seed, outcome));
        if stop {
            break;
        }
    }
    if config.test_count > 1 {
        println!("\n{:<6} {:<22} {:<9} results", "test", "seed", "verdict");
        for (i, (seed, o)) in outcomes.iter().enumerate() {
            let verdict = match (&o.verdict, &o.error) {
                (Some(v), None) => v.to_string(),
                (Some(_), Some(_)) => "interrupted".into(),
                (None, _) => "error".into(),
            };
            let dir = o
                .run_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default();
            println!("{:<6} {:<22} {:<9} {dir}", i + 1, seed, verdict);
        }
    }
    exit_code(&outcomes.iter().map(|(_, o)| o).collect::<Vec<_>>())
}

/// Invalid anywhere wins (a proven bug), then a harness error, then unknown.
fn exit_code(outcomes: &[&TestOutcome]) -> u8 {
    if outcomes.iter().any(|o| o.verdict == Some(Verdict::Invalid)) {
        exit::INVALID
    } else if outcomes.iter().any(|o| o.bad_input) {
        exit::BAD_INPUT
    } else if outcomes
        .iter()
        .any(|o| o.error.is_some() || o.verdict.is_none())
    {
        exit::HARNESS_ERROR
    } else if outcomes.iter().any(|o| o.verdict == Some(Verdict::Unknown)) {
        exit::UNKNOWN
    } else {
        exit::VALID
    }
}

/// Turns true on the first SIGINT/SIGTERM/SIGHUP; on a second, tears every cluster
/// down now and exits.
fn watch_signals() -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            eprintln!("faultline test: cannot install signal handlers; Ctrl-C will not clean up");
            return;
        };
        let mut first = true;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if first {
                first = false;
                eprintln!("\nfaultline test: interrupted; healing, tearing down and saving the history (again to quit now)");
                let _ = tx.send(true);
            } else {
                eprintln!("faultline test: interrupted twice; tearing down now");
                for e in harness::cluster::teardown_all() {
                    eprintln!("faultline: {e:#}");
                }
                std::process::exit(exit::HARNESS_ERROR as i32);
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(verdict: Option<Verdict>, error: Option<&str>) -> TestOutcome {
        TestOutcome {
            verdict,
            error: error.map(String::from),
            interrupted: false,
            bad_input: false,
            run_dir: None,
        }
    }

    #[test]
    fn exit_code_is_the_worst_outcome() {
        let valid = outcome(Some(Verdict::Valid), None);
        let invalid = outcome(Some(Verdict::Invalid), None);
        let unknown = outcome(Some(Verdict::Unknown), None);
        let broken = outcome(None, Some("no root"));
        assert_eq!(exit_code(&[&valid, &valid]), exit::VALID);
        assert_eq!(exit_code(&[&valid, &unknown]), exit::UNKNOWN);
        assert_eq!(exit_code(&[&unknown, &broken]), exit::HARNESS_ERROR);
        assert_eq!(exit_code(&[&broken, &invalid, &valid]), exit::INVALID);
        let mut bad = outcome(None, Some("--system: unknown system"));
        bad.bad_input = true;
        assert_eq!(exit_code(&[&broken, &bad]), exit::BAD_INPUT);
    }
}
