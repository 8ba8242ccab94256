//! Session guarantees (`checker::consistency::session`): monotonic reads and writes,
//! read-your-writes, writes-follow-reads. Exact on append histories; on registers,
//! judged from the per-key versions a system reports, and `unknown` (saying why)
//! on a history without them.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::session::{self, GuaranteeReport, SessionReport};
use workloads::generator::Workload;

pub struct Session;

/// The summary of a register session check on a history without versions.
pub const NO_VERSIONS: &str = "not judged: no operation carries a per-key integer version (the \
    system reports none, or only a partial order such as vector clocks), and a register read \
    alone does not say which writes it saw";

impl Checker for Session {
    fn kind(&self) -> CheckKind {
        CheckKind::Session
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        if matches!(
            input.context.workload,
            Workload::Register | Workload::CasRegister
        ) {
            return Ok(registers(input));
        }
        let ix = input.append_index()?;
        let report = session::check_indexed(input.history, ix, &session::SessionOptions::default());
        let summary = [
            ("monotonic-reads", &report.monotonic_reads),
            ("monotonic-writes", &report.monotonic_writes),
            ("read-your-writes", &report.read_your_writes),
            ("writes-follow-reads", &report.writes_follow_reads),
        ]
        .iter()
        .map(|(n, g)| format!("{n} {}", g.verdict))
        .collect::<Vec<_>>()
        .join(", ");
        Ok(found(report, summary))
    }
}

fn found(report: SessionReport, summary: String) -> Found {
    Found {
        verdict: report.verdict,
        summary,
        report: CheckReport::Session(Box::new(report)),
    }
}

/// The register form, from per-key versions.
fn registers(input: &CheckInput) -> Found {
    let report = session::check_registers(input.history, &session::RegisterOptions::default());
    if input.history.ops.iter().all(|op| op.version.is_none()) {
        return found(report, NO_VERSIONS.to_string());
    }
    let part = |name: &str, g: &GuaranteeReport, what: &str| {
        let violations = match g.violations.count {
            0 => String::new(),
            n => format!(", {n} violating"),
        };
        format!("{name} {} ({} {what}{violations})", g.verdict, g.checked)
    };
    let conflicts = match report.version_conflicts.as_ref().map_or(0, |c| c.count) {
        0 => String::new(),
        n => format!("; {n} version conflicts: the system's versions contradict each other"),
    };
    let summary = format!(
        "{}, {}, {}, {}; from per-key versions{conflicts}",
        part("monotonic-reads", &report.monotonic_reads, "reads"),
        part("monotonic-writes", &report.monotonic_writes, "writes"),
        part("read-your-writes", &report.read_your_writes, "reads"),
        part("writes-follow-reads", &report.writes_follow_reads, "writes"),
    );
    found(report, summary)
}
