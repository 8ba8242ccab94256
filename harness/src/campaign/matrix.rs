//! The consistency matrix of a campaign: per fault set, one row per entry (system and
//! setting), one column per model; a cell says held in k of n runs, or broken in k of
//! n with the median time to the first violating operation and the fastest-failing
//! run; promised models are marked, so a broken promise stands out.

use crate::check::promises::Status;
use crate::system::Model;
use serde::{Deserialize, Serialize};
use std::fmt::Write;
use std::path::PathBuf;

/// One finished run, as the campaign's ledger (`runs.jsonl`) records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub entry: String,
    pub faults: String,
    pub seed: u64,
    /// The run's results folder; absent when it could not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// Why the run has no verdict (the harness could not do its job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub models: Vec<ModelRecord>,
}

/// One model in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub model: Model,
    pub promised: bool,
    pub status: RecordStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_violation_s: Option<f64>,
}

/// [`Status`], as stored (the ledger is read back on resume).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordStatus {
    Held,
    Broken,
    Unknown,
    NotChecked,
}

impl From<Status> for RecordStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Held => RecordStatus::Held,
            Status::Broken => RecordStatus::Broken,
            Status::Unknown => RecordStatus::Unknown,
            Status::NotChecked => RecordStatus::NotChecked,
        }
    }
}

/// A cell: what the runs of one entry under one fault set say about one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cell {
    pub promised: bool,
    /// Runs with a verdict (errors left out).
    pub runs: u32,
    pub held: u32,
    pub broken: u32,
    pub unknown: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_first_violation_s: Option<f64>,
    /// The run whose first violation came soonest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fastest_run: Option<PathBuf>,
    /// Every run with a verdict, seed by seed, for the HTML page's links to each run's
    /// report (the ledger has them too, so matrix.json leaves them out).
    #[serde(skip)]
    pub each_run: Vec<CellRun>,
}

/// One run of a cell: its seed, what it said of the cell's model, and its folder.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRun {
    pub seed: u64,
    pub status: RecordStatus,
    pub run_dir: Option<PathBuf>,
}

impl Cell {
    /// The cell's text: `held 3/3`, `broken 2/3 (median 4.1 s)`, `–` when no run
    /// judged the model; promised cells in bold, a broken promise flagged.
    pub fn text(&self) -> String {
        let judged = self.held + self.broken + self.unknown;
        if judged == 0 {
            return "–".into();
        }
        let mut t = if self.broken > 0 {
            let median = self
                .median_first_violation_s
                .map(|s| format!(" (median {s:.1} s)"))
                .unwrap_or_default();
            format!("broken {}/{}{median}", self.broken, self.runs)
        } else if self.held > 0 {
            format!("held {}/{}", self.held, self.runs)
        } else {
            format!("unknown {}/{}", self.unknown, self.runs)
        };
        if self.unknown > 0 && self.broken + self.held > 0 {
            let _ = write!(t, ", unknown {}", self.unknown);
        }
        match (self.promised, self.broken > 0) {
            (true, true) => format!("**{t}** ⚠"),
            (true, false) => format!("**{t}**"),
            _ => t,
        }
    }
}

/// A row: one entry under one fault set.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub entry: String,
    pub runs: u32,
    pub errors: u32,
    pub cells: Vec<(Model, Cell)>,
    /// Runs in which some promised model was broken: for a bug switch, the runs that
    /// caught it (its detection rate is this over `runs`).
    pub promise_broken: u32,
    /// The median, over those runs, of the time to the first operation that broke a
    /// promise (where the evidence names one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub median_detect_s: Option<f64>,
    /// The strongest model of the chain (linearizable, sequential, the four session
    /// guarantees, eventual) held in every run of the row, or for transactional rows
    /// the strongest isolation models held; `none` when none was.
    pub strongest: String,
}

/// The strongest model held in every run: of the chain linearizable, sequential,
/// session (the four guarantees as one step), eventual; or, where a row judged
/// isolation, the isolation models held that no other held one implies (snapshot
/// isolation and repeatable read are not comparable, so both may be named).
fn strongest(runs: u32, cells: &[(Model, Cell)]) -> String {
    let held = |m: Model| {
        cells
            .iter()
            .any(|(x, c)| *x == m && runs > 0 && c.held == runs)
    };
    let isolation: Vec<Model> = Model::ALL
        .iter()
        .copied()
        .filter(|m| m.isolation().is_some() && held(*m))
        .collect();
    let strongest_isolation: Vec<&str> = isolation
        .iter()
        .filter(|m| !isolation.iter().any(|o| o.implies().contains(m)))
        .map(|m| m.name())
        .collect();
    if !strongest_isolation.is_empty() {
        return strongest_isolation.join(", ");
    }
    if held(Model::Linearizable) {
        "linearizable"
    } else if held(Model::Sequential) {
        "sequential"
    } else if Model::SESSION.iter().all(|m| held(*m)) {
        "session"
    } else if held(Model::Eventual) {
        "eventual"
    } else {
        "none"
    }
    .to_string()
}

/// The rows of one fault set.
#[derive(Debug, Clone, Serialize)]
pub struct FaultTable {
    pub faults: String,
    pub rows: Vec<Row>,
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    pub plan: String,
    pub started_at: String,
    pub finished_at: String,
    pub machine: String,
    pub columns: Vec<Model>,
    pub tables: Vec<FaultTable>,
}

/// Builds the matrix from the ledger, in the plan's order of entries and fault sets.
pub fn build(entries: &[String], fault_sets: &[String], records: &[RunRecord]) -> Vec<FaultTable> {
    fault_sets
        .iter()
        .map(|f| FaultTable {
            faults: f.clone(),
            rows: entries
                .iter()
                .map(|e| {
                    row(
                        e,
                        records.iter().filter(|r| &r.entry == e && &r.faults == f),
                    )
                })
                // An entry limited to other fault sets has no runs here, and no row.
                .filter(|r| r.runs + r.errors > 0)
                .collect(),
        })
        .collect()
}

fn row<'a>(entry: &str, records: impl Iterator<Item = &'a RunRecord>) -> Row {
    let records: Vec<&RunRecord> = records.collect();
    let ok: Vec<&&RunRecord> = records.iter().filter(|r| r.error.is_none()).collect();
    let cells: Vec<(Model, Cell)> = Model::ALL
        .into_iter()
        .map(|m| {
            let mut c = Cell {
                runs: ok.len() as u32,
                ..Cell::default()
            };
            let mut times: Vec<(f64, Option<&PathBuf>)> = Vec::new();
            for r in &ok {
                let Some(mr) = r.models.iter().find(|x| x.model == m) else {
                    continue;
                };
                c.each_run.push(CellRun {
                    seed: r.seed,
                    status: mr.status,
                    run_dir: r.run_dir.clone(),
                });
                c.promised |= mr.promised;
                match mr.status {
                    RecordStatus::Held => c.held += 1,
                    RecordStatus::Broken => {
                        c.broken += 1;
                        if let Some(t) = mr.first_violation_s {
                            times.push((t, r.run_dir.as_ref()));
                        }
                    }
                    RecordStatus::Unknown => c.unknown += 1,
                    RecordStatus::NotChecked => {}
                }
            }
            c.each_run.sort_by_key(|r| r.seed);
            times.sort_by(|a, b| a.0.total_cmp(&b.0));
            c.median_first_violation_s = median(&times.iter().map(|t| t.0).collect::<Vec<_>>());
            c.fastest_run = times.first().and_then(|t| t.1.cloned());
            (m, c)
        })
        .collect();
    let runs = ok.len() as u32;
    let (promise_broken, median_detect_s) = detection(&ok);
    Row {
        entry: entry.to_string(),
        runs,
        errors: (records.len() - ok.len()) as u32,
        strongest: strongest(runs, &cells),
        promise_broken,
        median_detect_s,
        cells,
    }
}

/// How many runs broke a promise, and the median time to the first violation of a
/// promised model in them.
fn detection(runs: &[&&RunRecord]) -> (u32, Option<f64>) {
    let mut caught = 0;
    let mut times = Vec::new();
    for r in runs {
        let broken = r
            .models
            .iter()
            .filter(|m| m.promised && m.status == RecordStatus::Broken);
        let first = broken
            .clone()
            .filter_map(|m| m.first_violation_s)
            .reduce(f64::min);
        if broken.count() > 0 {
            caught += 1;
            times.extend(first);
        }
    }
    times.sort_by(f64::total_cmp);
    (caught, median(&times))
}

fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The columns worth showing: the consistency models always, an invariant or an
/// isolation model only when some run judged it.
pub fn columns(tables: &[FaultTable]) -> Vec<Model> {
    Model::ALL
        .into_iter()
        .filter(|m| {
            !(matches!(m, Model::Bank | Model::Counter | Model::UniqueIds)
                || m.isolation().is_some())
                || tables.iter().flat_map(|t| &t.rows).any(|r| {
                    r.cells
                        .iter()
                        .any(|(x, c)| x == m && c.held + c.broken + c.unknown > 0)
                })
        })
        .collect()
}

/// One line per row of every table: how often a promise broke, and the strongest
/// model held in every run; the short form of the matrix, for a README.
pub fn summary(m: &Matrix) -> String {
    let mut out = String::from(
        "\n## Summary\n\n| system and setting | faults | a promise broken | strongest held in every run |\n|---|---|---|---|\n",
    );
    for t in &m.tables {
        for r in &t.rows {
            let errors = if r.errors > 0 {
                format!(" ({} failed to run)", r.errors)
            } else {
                String::new()
            };
            let broken = format!("{} of {}{errors}", r.promise_broken, r.runs);
            let broken = if r.promise_broken > 0 {
                format!("**{broken}** ⚠")
            } else {
                broken
            };
            let _ = writeln!(
                out,
                "| {} | {} | {broken} | {} |",
                r.entry, t.faults, r.strongest
            );
        }
    }
    out
}

/// The matrix as markdown, ready for a README.
pub fn markdown(m: &Matrix) -> String {
    let mut out = format!(
        "# Consistency matrix: {}\n\n{} to {}, on {}. A cell: held in k of n runs, or broken in k of n with the median time from the first operation to the first violating one. **Bold**: promised by the system in that setting; ⚠: a broken promise.\n",
        m.plan, m.started_at, m.finished_at, m.machine
    );
    out.push_str(&summary(m));
    for t in &m.tables {
        let _ = write!(out, "\n## Faults: {}\n\n| system and setting |", t.faults);
        for c in &m.columns {
            let _ = write!(out, " {c} |");
        }
        out.push_str(" strongest held in every run |\n|---|");
        out.push_str(&"---|".repeat(m.columns.len() + 1));
        out.push('\n');
        for r in &t.rows {
            let errors = if r.errors > 0 {
                format!(" ({} runs failed to run)", r.errors)
            } else {
                String::new()
            };
            let _ = write!(out, "| {}{errors} |", r.entry);
            for col in &m.columns {
                let cell = r
                    .cells
                    .iter()
                    .find(|(x, _)| x == col)
                    .map(|(_, c)| c.text());
                let _ = write!(out, " {} |", cell.unwrap_or_default());
            }
            let _ = writeln!(out, " {} |", r.strongest);
        }
    }
    let bugs: Vec<(&str, &Row)> = m
        .tables
        .iter()
        .flat_map(|t| t.rows.iter().map(move |r| (t.faults.as_str(), r)))
        .filter(|(_, r)| r.entry.contains("--bug"))
        .collect();
    if !bugs.is_empty() {
        out.push_str("\n## Bug switches\n\n| bug build | faults | caught (a promise broken) | median time to detect |\n|---|---|---|---|\n");
        for (faults, r) in bugs {
            let median = r
                .median_detect_s
                .map_or("–".to_string(), |s| format!("{s:.1} s"));
            let _ = writeln!(
                out,
                "| {} | {faults} | {} of {} | {median} |",
                r.entry, r.promise_broken, r.runs
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        entry: &str,
        seed: u64,
        status: RecordStatus,
        t: Option<f64>,
        promised: bool,
    ) -> RunRecord {
        RunRecord {
            entry: entry.into(),
            faults: "partitions".into(),
            seed,
            run_dir: Some(PathBuf::from(format!("/r/{entry}/{seed}"))),
            error: None,
            models: vec![ModelRecord {
                model: Model::MonotonicReads,
                promised,
                status,
                first_violation_s: t,
            }],
        }
    }

    #[test]
    fn a_transactional_row_names_the_strongest_isolation_models_held() {
        let cell = |held: u32| Cell {
            runs: 3,
            held,
            broken: 3 - held,
            ..Default::default()
        };
        let cells = |held: &[Model]| -> Vec<(Model, Cell)> {
            Model::ALL
                .iter()
                .filter(|m| m.isolation().is_some())
                .map(|m| (*m, cell(if held.contains(m) { 3 } else { 2 })))
                .collect()
        };
        use Model::*;
        let si = [SnapshotIsolation, ReadCommitted, ReadUncommitted];
        assert_eq!(strongest(3, &cells(&si)), "snapshot-isolation");
        let both = [
            Serializable,
            SnapshotIsolation,
            RepeatableRead,
            ReadCommitted,
            ReadUncommitted,
        ];
        assert_eq!(
            strongest(3, &cells(&both)),
            "serializable, snapshot-isolation"
        );
        assert_eq!(strongest(3, &cells(&[])), "none");
    }

    #[test]
    fn a_cell_counts_runs_and_takes_the_median_and_fastest_violation() {
        let records = vec![
            rec("a", 1, RecordStatus::Broken, Some(4.0), false),
            rec("a", 2, RecordStatus::Held, None, false),
            rec("a", 3, RecordStatus::Broken, Some(2.0), false),
            rec("b", 1, RecordStatus::Held, None, true),
        ];
        let tables = build(&["a".into(), "b".into()], &["partitions".into()], &records);
        let cell = |row: usize| {
            tables[0].rows[row]
                .cells
                .iter()
                .find(|(m, _)| *m == Model::MonotonicReads)
                .unwrap()
                .1
                .clone()
        };
        let a = cell(0);
        assert_eq!((a.runs, a.broken, a.held), (3, 2, 1));
        assert_eq!(a.median_first_violation_s, Some(3.0));
        assert_eq!(a.fastest_run, Some(PathBuf::from("/r/a/3")));
        assert_eq!(a.text(), "broken 2/3 (median 3.0 s)");
        assert_eq!(cell(1).text(), "**held 1/1**");
        let mut promised_broken = a.clone();
        promised_broken.promised = true;
        assert_eq!(promised_broken.text(), "**broken 2/3 (median 3.0 s)** ⚠");
        let linearizable = &tables[0].rows[0].cells[0];
        assert_eq!(
            (linearizable.0, linearizable.1.text()),
            (Model::Linearizable, "–".to_string())
        );
    }

    #[test]
    fn the_markdown_sums_up_each_row_and_rates_each_bug_switch() {
        let records = vec![
            rec("x --bug y", 1, RecordStatus::Broken, Some(4.0), true),
            rec("x --bug y", 2, RecordStatus::Broken, Some(2.0), true),
            rec("x --bug y", 3, RecordStatus::Held, None, true),
            rec("x", 1, RecordStatus::Held, None, true),
        ];
        let tables = build(
            &["x".into(), "x --bug y".into()],
            &["partitions".into()],
            &records,
        );
        let m = Matrix {
            plan: "p".into(),
            started_at: "s".into(),
            finished_at: "f".into(),
            machine: "m".into(),
            columns: columns(&tables),
            tables,
        };
        let md = markdown(&m);
        assert!(md.contains("| x | partitions | 0 of 1 | none |\n"), "{md}");
        assert!(
            md.contains("| x --bug y | partitions | **2 of 3** ⚠ | none |\n"),
            "{md}"
        );
        assert!(
            md.contains("| x --bug y | partitions | 2 of 3 | 3.0 s |\n"),
            "{md}"
        );
        assert!(
            md.contains("| x --bug y | – | – | **broken 2/3 (median 3.0 s)** ⚠ |"),
            "{md}"
        );
    }
}
