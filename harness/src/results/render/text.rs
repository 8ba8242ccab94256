//! The console summary of a run: operations per function, each check's verdict, the
//! findings (crashed nodes, warnings), the first counterexample, the verdict line,
//! the replay command and the report's path (when not valid) and, last, where the
//! history sits among the models.

use super::{Renderer, RunResults};
use crate::check::promises::{PromiseReport, Status};
use crate::check::{CheckReport, CheckResult};
use crate::results::Stats;
use crate::system::promise::names;
use checker::verdict::Verdict;
use std::fmt::Write;

pub struct Text;

impl Renderer for Text {
    fn render(&self, r: &RunResults) -> String {
        let mut out = String::new();
        out.push_str(&summary_table(&r.stats, &r.checks));
        for c in &r.crashed_nodes {
            let _ = writeln!(
                out,
                "finding: node {} exited on its own ({}); its log ends:",
                c.node, c.status
            );
            for line in c.log_tail.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
        for w in &r.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        if let Some(text) = r
            .checks
            .iter()
            .find(|c| c.verdict == Verdict::Invalid)
            .and_then(counterexample)
        {
            let _ = write!(out, "\n{text}");
        }
        let partial = if r.interrupted {
            "  (interrupted: the history is partial)"
        } else {
            ""
        };
        if r.promises.promises.is_some() {
            let _ = write!(out, "\n{}", models_table(&r.promises));
        }
        let _ = writeln!(
            out,
            "\nverdict: {}{}   seed {}   {}{partial}",
            r.decisive_verdict(),
            promise_note(&r.promises),
            r.seed,
            r.run_dir.display()
        );
        // Every run that did not pass names its report: an interrupted one too.
        if r.verdict != Verdict::Valid || r.interrupted {
            let _ = writeln!(out, "replay: {}", r.replay);
            let _ = writeln!(out, "report: {}", r.run_dir.join("report.html").display());
        }
        match &r.hierarchy {
            Some(p) => {
                let _ = writeln!(out, "{}", p.line);
            }
            None => {
                let _ = writeln!(
                    out,
                    "no consistency model checked (the {} workload is judged by its invariant)",
                    r.workload
                );
            }
        }
        out
    }
}

/// Each model: promised or not, its status, the evidence and when it first broke.
pub fn models_table(p: &PromiseReport) -> String {
    let mut out = String::new();
    if let Some(promises) = &p.promises {
        let _ = writeln!(
            out,
            "promises ({}): {}",
            promises.from.describe(),
            names(&promises.models)
        );
    }
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:<12} evidence",
        "model", "promised", "status"
    );
    for m in &p.models {
        let promised = match (m.promised, m.promised_as_part_of) {
            (false, _) => "no".to_string(),
            (true, None) => "yes".to_string(),
            (true, Some(_)) => "implied".to_string(),
        };
        let when = m
            .first_violation_s
            .map(|s| format!(" (first at {s:.1} s)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<12} {}{when}",
            m.model.name(),
            promised,
            m.status.name(),
            m.evidence
        );
    }
    out
}

/// What the verdict rests on when the run has promises: broken, undecided (a check
/// could not tell) or kept, and the findings (broken models nobody promised).
pub fn promise_note(p: &PromiseReport) -> String {
    let Some(promises) = &p.promises else {
        return String::new();
    };
    let promised = |status: Status| -> Vec<&str> {
        p.models
            .iter()
            .filter(|m| m.promised && m.status == status)
            .map(|m| m.model.name())
            .collect()
    };
    let (broken, unknown) = (promised(Status::Broken), promised(Status::Unknown));
    let mut note = if promises.models.is_empty() {
        "no model promised".to_string()
    } else if !broken.is_empty() {
        format!("promise broken: {}", broken.join(", "))
    } else if !unknown.is_empty() {
        format!("promise undecided: {}", unknown.join(", "))
    } else {
        format!("promises kept: {}", names(&promises.models))
    };
    let findings: Vec<&str> = p.findings().map(|m| m.model.name()).collect();
    if !findings.is_empty() {
        note.push_str(&format!(
            "; findings, not promised: {} broken",
            findings.join(", ")
        ));
    }
    format!(" ({note})")
}

/// A failing check's counterexample or evidence, as text.
pub fn counterexample(c: &CheckResult) -> Option<String> {
    let body = match &c.report {
        CheckReport::Linearizable(r) => r.counterexample.as_ref()?.to_string(),
        CheckReport::Sequential(r) => r.evidence.as_ref()?.to_string(),
        CheckReport::Txn(r) if !r.anomalies.is_empty() || !r.unnamed_cycles.is_empty() => r.text(),
        _ => return None,
    };
    Some(format!("{} counterexample:\n{body}\n", c.name))
}

/// The table of operations per function, then one line per check.
pub fn summary_table(stats: &Stats, checks: &[CheckResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8} {:>10} {:>10} {:>10}",
        "f", "ok", "fail", "info", "p50 ms", "p99 ms", "max ms"
    );
    for (f, c) in &stats.counts {
        let l = stats.latency_ms.get(f).cloned().unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:>8} {:>8} {:>8} {:>10.2} {:>10.2} {:>10.2}",
            f, c.ok, c.fail, c.info, l.p50, l.p99, l.max
        );
    }
    let _ = writeln!(
        out,
        "{:<12} {:>8} {:>8} {:>8}   ({} nemesis events, {:.1} s; {:.0} ok/s of {:.0} attempts/s)",
        "total",
        stats.total.ok,
        stats.total.fail,
        stats.total.info,
        stats.nemesis_events,
        stats.duration_s,
        stats.ok_per_s,
        stats.attempts_per_s
    );
    out.push('\n');
    for c in checks {
        out.push_str(&check_line(c));
    }
    out
}

/// One check: name, verdict, summary, time.
pub fn check_line(c: &CheckResult) -> String {
    format!(
        "{:<14} {:<8} {}  ({:.2} s)\n",
        c.name.to_string(),
        c.verdict.to_string(),
        c.summary,
        c.seconds
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{run_checks, CheckContext, CheckKind};
    use crate::results::render::html::tests::stale_read_history;
    use crate::results::Recheck;
    use workloads::generator::Workload;

    fn results() -> RunResults {
        let h = stale_read_history();
        let ctx = CheckContext::new(Workload::CasRegister, vec![CheckKind::Linearizable]);
        RunResults::rechecked(
            &h,
            run_checks(&h, &ctx, "h.jsonl"),
            Recheck {
                name: "t".into(),
                seed: 1,
                run_id: "r".into(),
                workload: Workload::CasRegister,
                run_dir: "/tmp/run".into(),
                replay: "faultline test --config /tmp/run/test.toml".into(),
                crashed_nodes: Vec::new(),
                warnings: Vec::new(),
                promises: None,
            },
        )
    }

    #[test]
    fn the_console_names_the_report_of_every_run_that_did_not_pass() {
        let mut r = results();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(Text.render(&r).contains("report: /tmp/run/report.html"));
        r.verdict = Verdict::Unknown;
        assert!(Text.render(&r).contains("report: /tmp/run/report.html"));
        r.verdict = Verdict::Valid;
        r.interrupted = true;
        assert!(Text.render(&r).contains("report: /tmp/run/report.html"));
        r.interrupted = false;
        assert!(!Text.render(&r).contains("report:"));
    }
}
