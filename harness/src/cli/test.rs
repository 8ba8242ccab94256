//! `faultline test`: runs one test (or `--test-count N` independent ones), shows its
//! progress and results, and maps the outcomes onto the exit codes: 0 valid,
//! 1 invalid, 2 unknown, 3 bad input, 4 the harness could not do its job (including
//! an interrupted run). A setting the system cannot honour is bad input, found
//! before anything starts.

use super::{exit, out, outln};
use crate::config::{self, TestArgs, TestConfig};
use crate::error::is_bad_input;
use crate::results::render::{junit, text::Text, Renderer};
use crate::results::summary::{self, Summary, TestSummary};
use crate::run::{self, interrupt, Observer, Outcome};
use anyhow::Context;
use checker::verdict::Verdict;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

pub fn run(args: TestArgs) -> ExitCode {
    let junit = args.junit.clone();
    let json_summary = args.summary.is_some();
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
    let code = runtime.block_on(run_all(config, junit.as_deref(), json_summary));
    // Tasks still running (a client stuck past its timeout) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    exit::code(code)
}

/// A message from faultline itself, on standard error.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "faultline test: {message}");
}

async fn run_all(config: TestConfig, junit: Option<&Path>, json_summary: bool) -> u8 {
    // With --summary json the summary object is standard output's only content.
    let print: fn(&str) = if json_summary { err } else { out };
    let interrupt = interrupt::watch_signals(say);
    let observer = Console {
        quiet: config.quiet,
    };
    let mut outcomes: Vec<(u64, Outcome)> = Vec::new();
    for i in 0..config.test_count {
        let seed = config.seed.wrapping_add(i as u64);
        let outcome =
            run::run_real(&config.with_seed(seed), i + 1, interrupt.clone(), &observer).await;
        show(&outcome, print);
        let stop = outcome.interrupted() || *interrupt.borrow();
        outcomes.push((seed, outcome));
        if stop {
            break;
        }
    }
    if config.test_count > 1 {
        print(&format!(
            "\n{:<6} {:<22} {:<11} results\n",
            "test", "seed", "verdict"
        ));
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
            print(&format!(
                "{:<6} {:<22} {:<11} {dir}\n",
                i + 1,
                seed,
                verdict
            ));
        }
    }
    let mut code = exit_code(&outcomes.iter().map(|(_, o)| o).collect::<Vec<_>>());
    if let Some(path) = junit {
        if let Err(e) = write_junit(path, &config, &outcomes) {
            say(&format!("--junit: {e:#}"));
            // A CI that asked for the file must not read a missing one as a pass.
            if code != exit::INVALID && code != exit::BAD_INPUT {
                code = exit::HARNESS_ERROR;
            }
        }
    }
    let summary = summarize(&config, &outcomes, code);
    if json_summary {
        match serde_json::to_string(&summary) {
            Ok(json) => outln!("{json}"),
            Err(e) => say(&format!("--summary json: {e}")),
        }
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        if let Err(e) = append_markdown(Path::new(&path), &summary) {
            say(&format!("GITHUB_STEP_SUMMARY: {e:#}"));
        }
    }
    code
}

/// Every test's verdicts, counterexample and report path, for `--summary json` and
/// the CI job's summary page.
fn summarize(config: &TestConfig, outcomes: &[(u64, Outcome)], code: u8) -> Summary {
    let tests = outcomes
        .iter()
        .map(|(seed, o)| match o {
            Outcome::Checked(r) => TestSummary::checked(r),
            _ => TestSummary::failed(
                &config.name,
                *seed,
                o.error().unwrap_or("failed"),
                o.run_dir().map(Path::to_path_buf),
            ),
        })
        .collect();
    let verdict = match code {
        exit::VALID => "valid",
        exit::INVALID => "invalid",
        exit::UNKNOWN => "unknown",
        _ => "error",
    };
    Summary {
        verdict: verdict.into(),
        exit_code: code,
        tests,
    }
}

/// Appends the markdown summary to the file GitHub Actions shows on the job's page.
fn append_markdown(path: &Path, summary: &Summary) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(format!("{}\n", summary::markdown(summary)).as_bytes())
        .with_context(|| format!("appending to {}", path.display()))
}

/// `--junit FILE`: every test's verdicts in one JUnit document, and each test that
/// ended without verdicts as an error.
fn write_junit(
    path: &Path,
    config: &TestConfig,
    outcomes: &[(u64, Outcome)],
) -> anyhow::Result<()> {
    let checked: Vec<&crate::results::RunResults> = outcomes
        .iter()
        .filter_map(|(_, o)| match o {
            Outcome::Checked(r) => Some(&**r),
            _ => None,
        })
        .collect();
    let broken: Vec<junit::Broken> = outcomes
        .iter()
        .filter(|(_, o)| !matches!(o, Outcome::Checked(_)))
        .filter_map(|(seed, o)| {
            o.error().map(|e| junit::Broken {
                name: config.name.clone(),
                seed: *seed,
                error: e.to_string(),
            })
        })
        .collect();
    // CI tools often name a folder that does not exist yet (`reports/junit.xml`).
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    crate::results::store::write_file(path, junit::document_with(&checked, &broken).as_bytes())
}

/// Standard error, for what would go to standard output without --summary json.
fn err(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// One test's results on the console, or why there are none.
fn show(outcome: &Outcome, print: fn(&str)) {
    match outcome {
        Outcome::Checked(r) => {
            print("\n");
            print(&Text.render(r));
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

    #[test]
    fn junit_holds_a_suite_per_test_and_an_error_for_a_test_without_verdicts() {
        use crate::check::{run_checks, CheckContext, CheckKind};
        use crate::results::render::html::tests::stale_read_history;
        use crate::results::{Recheck, RunResults};
        use workloads::generator::Workload;
        let config = config::resolve(&TestArgs::default()).unwrap();
        let h = stale_read_history();
        let ctx = CheckContext::new(Workload::CasRegister, vec![CheckKind::Linearizable]);
        let checked = RunResults::rechecked(
            &h,
            run_checks(&h, &ctx, "h.jsonl"),
            Recheck {
                name: config.name.clone(),
                seed: 1,
                run_id: "r1".into(),
                workload: Workload::CasRegister,
                run_dir: "/tmp/r1".into(),
                replay: String::new(),
                crashed_nodes: Vec::new(),
                warnings: Vec::new(),
                promises: None,
            },
        );
        let outcomes = vec![
            (1, Outcome::Checked(Box::new(checked))),
            (
                2,
                Outcome::HarnessError {
                    error: "node n3 did not start".into(),
                    run_dir: None,
                },
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reports/ci/junit.xml");
        write_junit(&path, &config, &outcomes).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        assert!(
            xml.contains(&format!("name=\"{} seed 1\"", config.name)),
            "{xml}"
        );
        assert!(xml.contains("<failure message="), "{xml}");
        assert!(
            xml.contains(&format!("name=\"{} seed 2\"", config.name)),
            "{xml}"
        );
        assert!(
            xml.contains("type=\"harness-error\">node n3 did not start</error>"),
            "{xml}"
        );
        assert!(
            xml.contains("tests=\"2\" failures=\"1\" errors=\"1\""),
            "{xml}"
        );
    }
}
