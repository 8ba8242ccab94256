//! The verdicts of a command, short, for scripts and CI: one JSON object
//! (`faultline test --summary json` prints it as its only standard output) and the
//! same as markdown for a CI job's page (`GITHUB_STEP_SUMMARY`).

use super::RunResults;
use crate::check::{CheckReport, CheckResult};
use checker::verdict::Verdict;
use serde::Serialize;
use std::fmt::Write;
use std::path::PathBuf;

/// Every test of one command.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The worst of the tests: `invalid`, `error`, `unknown` or `valid`, as the exit
    /// code says it.
    pub verdict: String,
    pub exit_code: u8,
    pub tests: Vec<TestSummary>,
}

/// One test: its verdicts, the counterexample in one line, where to look.
#[derive(Debug, Clone, Serialize)]
pub struct TestSummary {
    pub name: String,
    pub seed: u64,
    /// `valid`, `invalid`, `unknown` (the promises' verdict when the system has
    /// some), or `error` when the harness could not check the run.
    pub verdict: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub interrupted: bool,
    pub checks: Vec<CheckLine>,
    /// The first failing check's counterexample, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// `report.html`, when the run was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckLine {
    pub check: String,
    pub verdict: Verdict,
    pub summary: String,
}

impl TestSummary {
    pub fn checked(r: &RunResults) -> TestSummary {
        TestSummary {
            name: r.name.clone(),
            seed: r.seed,
            verdict: r.decisive_verdict().to_string(),
            run_id: Some(r.run_id.clone()),
            interrupted: r.interrupted,
            checks: r
                .checks
                .iter()
                .map(|c| CheckLine {
                    check: c.name.to_string(),
                    verdict: c.verdict,
                    summary: c.summary.clone(),
                })
                .collect(),
            counterexample: r
                .checks
                .iter()
                .find(|c| c.verdict == Verdict::Invalid)
                .map(one_line),
            run_dir: Some(r.run_dir.clone()),
            report: Some(r.run_dir.join("report.html")),
            replay: Some(r.replay.clone()),
            error: None,
        }
    }

    /// A test the harness could not check.
    pub fn failed(name: &str, seed: u64, error: &str, run_dir: Option<PathBuf>) -> TestSummary {
        TestSummary {
            name: name.to_string(),
            seed,
            verdict: "error".into(),
            run_id: None,
            interrupted: false,
            checks: Vec::new(),
            counterexample: None,
            run_dir,
            report: None,
            replay: None,
            error: Some(error.to_string()),
        }
    }
}

/// A failing check's counterexample in one line: the operation it ends at and why.
pub fn one_line(c: &CheckResult) -> String {
    let key = |k: &serde_json::Value| {
        if k.is_null() {
            String::new()
        } else {
            format!("key {k}: ")
        }
    };
    match &c.report {
        CheckReport::Linearizable(r) => match &r.counterexample {
            Some(ce) => match &ce.shortest_prefix {
                Some(p) => format!(
                    "{}: {}linearizable until {} returned at {:.3} s, no valid order after",
                    c.name,
                    key(&ce.key),
                    p.ends,
                    p.time as f64 / 1e9
                ),
                None => format!(
                    "{}: {}{} must take effect, but nothing can come next (state {})",
                    c.name,
                    key(&ce.key),
                    ce.must_precede,
                    ce.state
                ),
            },
            None => format!("{}: {}", c.name, c.summary),
        },
        CheckReport::Sequential(r) => match r.evidence.as_ref().and_then(|e| e.blocked.first()) {
            Some(b) => format!(
                "{}: no process's next operation can come next, first {}: {}",
                c.name, b.op, b.reason
            ),
            None => format!("{}: {}", c.name, c.summary),
        },
        _ => format!("{}: {}", c.name, c.summary),
    }
}

/// The markdown for a CI job's summary page: a table of the tests and, for each
/// failing one, its counterexample and report.
pub fn markdown(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### faultline: {}\n", s.verdict);
    let _ = writeln!(out, "| test | seed | verdict | checks |\n|---|---|---|---|");
    for t in &s.tests {
        let checks: Vec<String> = t
            .checks
            .iter()
            .map(|c| format!("{} {}", c.check, c.verdict))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | **{}**{} | {} |",
            cell(&t.name),
            t.seed,
            t.verdict,
            if t.interrupted { " (interrupted)" } else { "" },
            cell(&checks.join(", "))
        );
    }
    for t in s.tests.iter().filter(|t| t.verdict != "valid") {
        let _ = writeln!(
            out,
            "\n**{} seed {}**: {}\n",
            cell(&t.name),
            t.seed,
            t.verdict
        );
        if let Some(ce) = &t.counterexample {
            let _ = writeln!(out, "- counterexample: `{}`", ce.replace('`', "'"));
        }
        if let Some(e) = &t.error {
            let _ = writeln!(out, "- error: {}", cell(e));
        }
        if let Some(r) = &t.report {
            let _ = writeln!(out, "- report: `{}`", r.display());
        }
        if let Some(r) = &t.replay {
            let _ = writeln!(out, "- replay: `{r}`");
        }
    }
    out
}

/// Text in a markdown table cell: no line breaks, no column bars.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_markdown_names_each_failing_test_with_its_counterexample_and_report() {
        let s = Summary {
            verdict: "invalid".into(),
            exit_code: 1,
            tests: vec![
                TestSummary {
                    name: "a|b".into(),
                    seed: 3,
                    verdict: "invalid".into(),
                    run_id: Some("r".into()),
                    interrupted: false,
                    checks: vec![CheckLine {
                        check: "linearizable".into(),
                        verdict: Verdict::Invalid,
                        summary: "x".into(),
                    }],
                    counterexample: Some("linearizable: key 1: op 5 read".into()),
                    run_dir: Some("/r/a/1".into()),
                    report: Some("/r/a/1/report.html".into()),
                    replay: Some("faultline test --config /r/a/1/test.toml".into()),
                    error: None,
                },
                TestSummary::failed("a|b", 4, "node n3 did not start", None),
            ],
        };
        let md = markdown(&s);
        assert!(md.starts_with("### faultline: invalid\n"), "{md}");
        assert!(
            md.contains("| a\\|b | 3 | **invalid** | linearizable invalid |"),
            "{md}"
        );
        assert!(
            md.contains("- counterexample: `linearizable: key 1: op 5 read`"),
            "{md}"
        );
        assert!(md.contains("- report: `/r/a/1/report.html`"), "{md}");
        assert!(md.contains("- error: node n3 did not start"), "{md}");
    }
}
