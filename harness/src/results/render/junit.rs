//! `junit.xml`: a run's verdicts as JUnit XML, the format every CI system reads
//! (GitLab, Jenkins, GitHub Actions through its reporters). One testsuite per test
//! (per seed, with `--test-count`), one testcase per check; an invalid check is a
//! `<failure>` carrying its counterexample and the path of `report.html`, an unknown
//! one an `<error>` (it could not judge: CI must not count it as passed).

use super::html::evidence_text;
use super::{Renderer, RunResults};
use checker::verdict::Verdict;
use std::fmt::Write;

pub struct Junit;

impl Renderer for Junit {
    fn render(&self, results: &RunResults) -> String {
        document(&[results])
    }
}

/// A test that ended without verdicts (the harness could not run or check it).
pub struct Broken {
    pub name: String,
    pub seed: u64,
    pub error: String,
}

/// One document holding a testsuite for each run.
pub fn document(runs: &[&RunResults]) -> String {
    document_with(runs, &[])
}

/// [`document`] plus a testsuite with one `<error>` for each broken test, so CI
/// sees a run that could not be checked.
pub fn document_with(runs: &[&RunResults], broken: &[Broken]) -> String {
    let count = |v: Verdict| -> usize {
        runs.iter()
            .map(|r| r.checks.iter().filter(|c| c.verdict == v).count())
            .sum()
    };
    let tests: usize = runs.iter().map(|r| r.checks.len()).sum();
    let time: f64 = runs
        .iter()
        .map(|r| r.checks.iter().map(|c| c.seconds).sum::<f64>())
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{}\" errors=\"{}\" time=\"{time:.3}\">",
        tests + broken.len(),
        count(Verdict::Invalid),
        count(Verdict::Unknown) + broken.len()
    );
    for r in runs {
        out.push_str(&suite(r));
    }
    for b in broken {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{} seed {}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0\">\n    <testcase name=\"run\" classname=\"faultline.{}\" time=\"0\">\n      <error message=\"{}\" type=\"harness-error\">{}</error>\n    </testcase>\n  </testsuite>",
            xml(&b.name),
            b.seed,
            xml(&b.name),
            xml(&b.error),
            xml(&b.error)
        );
    }
    out.push_str("</testsuites>\n");
    out
}

fn suite(r: &RunResults) -> String {
    let report = r.run_dir.join("report.html").display().to_string();
    let n = |v: Verdict| r.checks.iter().filter(|c| c.verdict == v).count();
    let time = r
        .timings_s
        .get("total")
        .copied()
        .unwrap_or_else(|| r.checks.iter().map(|c| c.seconds).sum());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  <testsuite name=\"{} seed {}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{time:.3}\">",
        xml(&r.name),
        r.seed,
        r.checks.len(),
        n(Verdict::Invalid),
        n(Verdict::Unknown)
    );
    out.push_str("    <properties>\n");
    for (k, v) in [
        ("seed", r.seed.to_string()),
        ("run_id", r.run_id.clone()),
        ("workload", r.workload.to_string()),
        ("verdict", r.verdict.to_string()),
        ("report", report.clone()),
        ("replay", r.replay.clone()),
    ] {
        let _ = writeln!(out, "      <property name=\"{k}\" value=\"{}\"/>", xml(&v));
    }
    out.push_str("    </properties>\n");
    for c in &r.checks {
        let _ = write!(
            out,
            "    <testcase name=\"{}\" classname=\"faultline.{}\" time=\"{:.3}\"",
            xml(&c.name.to_string()),
            xml(&r.name),
            c.seconds
        );
        let (tag, kind) = match c.verdict {
            Verdict::Valid => {
                out.push_str("/>\n");
                continue;
            }
            Verdict::Invalid => ("failure", "invalid"),
            Verdict::Unknown => ("error", "unknown"),
        };
        let body = format!(
            "{}\n\n{}\nreport: {report}\nreplay: {}\n",
            c.summary,
            evidence_text(c),
            r.replay
        );
        let _ = write!(
            out,
            ">\n      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>\n    </testcase>\n",
            xml(&c.summary),
            xml(&body)
        );
    }
    let _ = writeln!(
        out,
        "    <system-out>{}</system-out>\n  </testsuite>",
        xml(&format!(
            "results: {}\nreport: {report}",
            r.run_dir.display()
        ))
    );
    out
}

/// Text made safe for XML 1.0 content and attributes: markup escaped as for HTML,
/// line ends kept in attributes, and the control characters XML cannot hold at all
/// (node logs may have them) replaced.
pub fn xml(s: &str) -> String {
    let allowed: String = s
        .chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect();
    super::html::esc(&allowed).replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{run_checks, CheckContext, CheckKind};
    use crate::results::render::html::tests::stale_read_history;
    use crate::results::{Recheck, RunResults};
    use workloads::generator::Workload;

    fn results(seed: u64) -> RunResults {
        let h = stale_read_history();
        let ctx = CheckContext::new(
            Workload::CasRegister,
            vec![CheckKind::Linearizable, CheckKind::Sequential],
        );
        RunResults::rechecked(
            &h,
            run_checks(&h, &ctx, "h.jsonl"),
            Recheck {
                name: "raft-kv-cas-register".into(),
                seed,
                run_id: "r1".into(),
                workload: Workload::CasRegister,
                run_dir: "/tmp/run <1>".into(),
                replay: "faultline test --config '/tmp/run <1>/test.toml'".into(),
                crashed_nodes: Vec::new(),
                warnings: Vec::new(),
                promises: None,
            },
        )
    }

    /// Reads the document with junitparser (PyPI), as CI tools read JUnit, and
    /// prints what it found, one line per suite and per case.
    fn junitparser(xml: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        std::fs::write(&path, xml).unwrap();
        let script = r#"
import sys
from junitparser import JUnitXml
doc = JUnitXml.fromfile(sys.argv[1])
for suite in doc:
    print("suite", suite.name, suite.tests, suite.failures, suite.errors)
    for case in suite:
        for r in case.result:
            print("case", case.name, type(r).__name__, r.type, repr(r.message), repr(r.text))
        if not case.result:
            print("case", case.name, "passed")
"#;
        // Debian's python3-junitparser (scripts/setup.sh) is under /usr/bin/python3;
        // a `python3` earlier on the PATH may have it from PyPI instead.
        let python = ["python3", "/usr/bin/python3"]
            .into_iter()
            .find(|p| {
                std::process::Command::new(p)
                    .args(["-c", "import junitparser"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .expect("junitparser is missing: install Debian's python3-junitparser (scripts/setup.sh) or `pip install junitparser`");
        let out = std::process::Command::new(python)
            .arg("-c")
            .arg(script)
            .arg(&path)
            .output()
            .expect("running python3");
        assert!(
            out.status.success(),
            "junitparser could not read the document: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn junitparser_reads_one_suite_per_test_and_a_failure_with_the_counterexample() {
        let a = results(7);
        let b = results(8);
        let seen = junitparser(&document(&[&a, &b]));
        let lines: Vec<&str> = seen.lines().collect();
        assert_eq!(
            lines[0], "suite raft-kv-cas-register seed 7 2 1 0",
            "{seen}"
        );
        assert!(
            lines[1].starts_with("case linearizable Failure invalid"),
            "{seen}"
        );
        for needed in [
            "operation",
            "report: /tmp/run <1>/report.html",
            "must take effect",
        ] {
            assert!(lines[1].contains(needed), "{needed:?} missing: {seen}");
        }
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("suite raft-kv-cas-register seed 8")),
            "{seen}"
        );
        assert_eq!(seen.matches("Failure invalid").count(), 2, "{seen}");
    }

    #[test]
    fn control_characters_from_node_logs_cannot_break_the_document() {
        assert_eq!(xml("a\u{1b}[31m<b>\u{0}"), "a\u{FFFD}[31m&lt;b&gt;\u{FFFD}");
    }
}
