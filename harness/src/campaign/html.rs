//! The matrix as one self-contained HTML page (`matrix.html`), in the run reports'
//! style: per fault set, the table of the markdown, each cell linking to the report of
//! its fastest-failing run (or its first run, when none failed) and, under the text,
//! one dot per run linking to that run's report, coloured by what the run said of the
//! model; then the bug switches' detection. Links are relative to the campaign folder,
//! so the folder can be moved or served as it is.

use super::matrix::{Cell, CellRun, Matrix, RecordStatus};
use crate::results::render::html::{esc, CSS};
use std::fmt::Write;
use std::path::Path;

/// What the matrix page adds to the report's style: cell colours and the run dots.
const MATRIX_CSS: &str = "td.held{background:#e9f6ec}td.broken{background:#fdeceb}\
td.broken.promised{background:#f8c9c6}td.promised{font-weight:600}td.unknown{background:#fff6d6}\
td a{color:inherit}.dots{font-size:11px;letter-spacing:1px;font-weight:400}\
.dots a{text-decoration:none}.dots .held{color:#2e7d32}.dots .broken{color:#c62828}\
.dots .unknown{color:#b08800}.dots .not-checked{color:#999}";

/// The page; `campaign_dir` is where it is written.
pub fn html(m: &Matrix, campaign_dir: &Path) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Consistency matrix: {plan}</title><style>{CSS}{MATRIX_CSS}</style></head><body>\n\
         <h1>Consistency matrix: {plan}</h1>\n<p>{from} to {to}, on {machine}. A cell: held in k of n runs, \
         or broken in k of n with the median time from the first operation to the first violating one. \
         <b>Bold</b>: promised by the system in that setting; ⚠: a broken promise. The cell's text opens \
         the report of its fastest-failing run (its first run when none failed); each dot is one run \
         (<span class=\"dots\"><span class=\"held\">●</span> held, <span class=\"broken\">●</span> broken, \
         <span class=\"unknown\">●</span> unknown</span>), opening its report.</p>\n",
        plan = esc(&m.plan),
        from = esc(&m.started_at),
        to = esc(&m.finished_at),
        machine = esc(&m.machine)
    );
    for t in &m.tables {
        let _ = write!(
            out,
            "<h2>Faults: {}</h2>\n<table>\n<tr><th>system and setting</th>",
            esc(&t.faults)
        );
        for c in &m.columns {
            let _ = write!(out, "<th>{c}</th>");
        }
        out.push_str("<th>strongest held in every run</th></tr>\n");
        for r in &t.rows {
            let errors = if r.errors > 0 {
                format!(" ({} runs failed to run)", r.errors)
            } else {
                String::new()
            };
            let _ = write!(out, "<tr><td>{}{errors}</td>", esc(&r.entry));
            for col in &m.columns {
                match r.cells.iter().find(|(x, _)| x == col) {
                    Some((_, c)) => out.push_str(&cell(c, campaign_dir)),
                    None => out.push_str("<td></td>"),
                }
            }
            let _ = writeln!(out, "<td>{}</td></tr>", esc(&r.strongest));
        }
        out.push_str("</table>\n");
    }
    out.push_str(&bug_switches(m));
    out.push_str("</body></html>\n");
    out
}

/// One cell: its text linking to the fastest-failing run's report, and a dot per run.
fn cell(c: &Cell, campaign_dir: &Path) -> String {
    let text = esc(&c.text().replace("**", ""));
    let mut class = if c.broken > 0 {
        "broken"
    } else if c.held > 0 {
        "held"
    } else if c.unknown > 0 {
        "unknown"
    } else {
        ""
    }
    .to_string();
    if c.promised {
        class.push_str(" promised");
    }
    let first_broken = c
        .each_run
        .iter()
        .find(|r| r.status == RecordStatus::Broken)
        .and_then(|r| r.run_dir.as_ref());
    let target = c
        .fastest_run
        .as_ref()
        .or(first_broken)
        .or_else(|| c.each_run.iter().find_map(|r| r.run_dir.as_ref()));
    let body = match target {
        Some(run) => format!(
            "<a href=\"{}\">{text}</a>",
            esc(&report_link(run, campaign_dir))
        ),
        None => text,
    };
    let dots: String = c.each_run.iter().map(|r| dot(r, campaign_dir)).collect();
    let dots = if dots.is_empty() {
        String::new()
    } else {
        format!("<div class=\"dots\">{dots}</div>")
    };
    format!("<td class=\"{}\">{body}{dots}</td>", class.trim())
}

/// A run's dot: coloured by its status, titled with its seed, opening its report.
fn dot(r: &CellRun, campaign_dir: &Path) -> String {
    let status = match r.status {
        RecordStatus::Held => "held",
        RecordStatus::Broken => "broken",
        RecordStatus::Unknown => "unknown",
        RecordStatus::NotChecked => "not-checked",
    };
    let title = format!("seed {}: {}", r.seed, status.replace('-', " "));
    match &r.run_dir {
        Some(dir) => format!(
            "<a class=\"{status}\" href=\"{}\" title=\"{title}\">●</a>",
            esc(&report_link(dir, campaign_dir))
        ),
        None => format!("<span class=\"{status}\" title=\"{title}\">●</span>"),
    }
}

/// The run's `report.html`, relative to the campaign folder when the run is inside it.
fn report_link(run_dir: &Path, campaign_dir: &Path) -> String {
    run_dir
        .strip_prefix(campaign_dir)
        .unwrap_or(run_dir)
        .join("report.html")
        .display()
        .to_string()
}

/// The bug switches' detection: runs that broke a promise, and the median time.
fn bug_switches(m: &Matrix) -> String {
    let rows: Vec<String> = m
        .tables
        .iter()
        .flat_map(|t| t.rows.iter().map(move |r| (t, r)))
        .filter(|(_, r)| r.entry.contains("--bug"))
        .map(|(t, r)| {
            let median = r
                .median_detect_s
                .map_or("–".to_string(), |s| format!("{s:.1} s"));
            format!(
                "<tr><td>{}</td><td>{}</td><td>{} of {}</td><td>{median}</td></tr>\n",
                esc(&r.entry),
                esc(&t.faults),
                r.promise_broken,
                r.runs
            )
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(
        "<h2>Bug switches</h2>\n<table>\n<tr><th>bug build</th><th>faults</th>\
         <th>caught (a promise broken)</th><th>median time to detect</th></tr>\n{}</table>\n",
        rows.concat()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::matrix::{FaultTable, Row};
    use crate::system::Model;
    use std::path::PathBuf;

    fn run(seed: u64, status: RecordStatus) -> CellRun {
        CellRun {
            seed,
            status,
            run_dir: Some(PathBuf::from(format!("/c/runs/a--p/{seed}"))),
        }
    }

    fn matrix(cells: Vec<(Model, Cell)>, entry: &str) -> Matrix {
        Matrix {
            plan: "p".into(),
            started_at: "s".into(),
            finished_at: "f".into(),
            machine: "m".into(),
            columns: cells.iter().map(|c| c.0).collect(),
            tables: vec![FaultTable {
                faults: "a <b>".into(),
                rows: vec![Row {
                    entry: entry.into(),
                    runs: 2,
                    errors: 0,
                    cells,
                    promise_broken: 1,
                    median_detect_s: Some(1.5),
                    strongest: "none".into(),
                }],
            }],
        }
    }

    #[test]
    fn a_broken_cell_opens_its_fastest_runs_report_and_each_run_has_a_dot() {
        let broken = Cell {
            promised: true,
            runs: 2,
            broken: 1,
            held: 1,
            median_first_violation_s: Some(1.5),
            fastest_run: Some(PathBuf::from("/c/runs/a--p/2")),
            each_run: vec![run(1, RecordStatus::Held), run(2, RecordStatus::Broken)],
            ..Cell::default()
        };
        let page = html(
            &matrix(vec![(Model::Linearizable, broken)], "x --bug y"),
            Path::new("/c"),
        );
        assert!(page.contains("<h2>Faults: a &lt;b&gt;</h2>"), "{page}");
        assert!(
            page.contains("<td class=\"broken promised\"><a href=\"runs/a--p/2/report.html\">broken 1/2 (median 1.5 s) ⚠</a>\
<div class=\"dots\"><a class=\"held\" href=\"runs/a--p/1/report.html\" title=\"seed 1: held\">●</a>\
<a class=\"broken\" href=\"runs/a--p/2/report.html\" title=\"seed 2: broken\">●</a></div></td>"),
            "{page}"
        );
        assert!(
            page.contains(
                "<tr><td>x --bug y</td><td>a &lt;b&gt;</td><td>1 of 2</td><td>1.5 s</td></tr>"
            ),
            "{page}"
        );
    }

    #[test]
    fn a_held_cell_opens_its_first_runs_report() {
        let held = Cell {
            runs: 2,
            held: 2,
            each_run: vec![run(7, RecordStatus::Held), run(8, RecordStatus::Held)],
            ..Cell::default()
        };
        let page = html(&matrix(vec![(Model::Eventual, held)], "x"), Path::new("/c"));
        assert!(
            page.contains("<td class=\"held\"><a href=\"runs/a--p/7/report.html\">held 2/2</a>"),
            "{page}"
        );
        assert!(!page.contains("Bug switches"), "{page}");
    }
}
