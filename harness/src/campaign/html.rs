//! The matrix as one self-contained HTML page (`matrix.html`): the markdown's table,
//! with each broken cell linking to its fastest-failing run's results folder. Kept
//! minimal and apart from the run reports' renderer, which it only links to.

use super::matrix::{Cell, Matrix};
use std::fmt::Write;
use std::path::Path;

/// The page; links are relative to `campaign_dir` where the run is inside it.
pub fn html(m: &Matrix, campaign_dir: &Path) -> String {
    let mut out = format!(
        "<!doctype html>\n<meta charset=\"utf-8\">\n<title>Consistency matrix: {plan}</title>\n\
         <style>body{{font-family:sans-serif}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}\
         .held{{background:#e6f4e6}}.broken{{background:#fbe3e3}}.promised{{font-weight:bold}}.broken.promised{{background:#f4a6a6}}</style>\n\
         <h1>Consistency matrix: {plan}</h1>\n<p>{from} to {to}, on {machine}. Bold: promised; red: broken (median time to the first violating operation; the link opens the fastest-failing run).</p>\n",
        plan = escape(&m.plan),
        from = escape(&m.started_at),
        to = escape(&m.finished_at),
        machine = escape(&m.machine)
    );
    for t in &m.tables {
        let _ = write!(
            out,
            "<h2>Faults: {}</h2>\n<table>\n<tr><th>system and setting</th>",
            escape(&t.faults)
        );
        for c in &m.columns {
            let _ = write!(out, "<th>{c}</th>");
        }
        out.push_str("<th>strongest held in every run</th></tr>\n");
        for r in &t.rows {
            let _ = write!(out, "<tr><td>{}</td>", escape(&r.entry));
            for col in &m.columns {
                match r.cells.iter().find(|(x, _)| x == col) {
                    Some((_, c)) => out.push_str(&cell(c, campaign_dir)),
                    None => out.push_str("<td></td>"),
                }
            }
            let _ = writeln!(out, "<td>{}</td></tr>", escape(&r.strongest));
        }
        out.push_str("</table>\n");
    }
    out
}

fn cell(c: &Cell, campaign_dir: &Path) -> String {
    let text = escape(&c.text().replace("**", ""));
    let mut class = match (c.broken > 0, c.held > 0) {
        (true, _) => "broken",
        (false, true) => "held",
        _ => "",
    }
    .to_string();
    if c.promised {
        class.push_str(" promised");
    }
    let body = match &c.fastest_run {
        Some(run) => {
            let href = run.strip_prefix(campaign_dir).unwrap_or(run);
            format!(
                "<a href=\"{}\">{text}</a>",
                escape(&href.display().to_string())
            )
        }
        None => text,
    };
    format!("<td class=\"{}\">{body}</td>", class.trim())
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::matrix::{FaultTable, Row};
    use crate::system::Model;
    use std::path::PathBuf;

    #[test]
    fn a_broken_cell_links_to_its_fastest_run_relative_to_the_campaign() {
        let broken = Cell {
            promised: true,
            runs: 2,
            broken: 1,
            held: 1,
            median_first_violation_s: Some(1.5),
            fastest_run: Some(PathBuf::from("/c/runs/a--p/20261207T0000Z")),
            ..Cell::default()
        };
        let m = Matrix {
            plan: "p".into(),
            started_at: "s".into(),
            finished_at: "f".into(),
            machine: "m".into(),
            columns: vec![Model::Linearizable],
            tables: vec![FaultTable {
                faults: "a <b>".into(),
                rows: vec![Row {
                    entry: "x".into(),
                    runs: 2,
                    errors: 0,
                    cells: vec![(Model::Linearizable, broken)],
                    promise_broken: 1,
                    median_detect_s: Some(1.5),
                    strongest: "none".into(),
                }],
            }],
        };
        let page = html(&m, Path::new("/c"));
        assert!(page.contains("<h2>Faults: a &lt;b&gt;</h2>"), "{page}");
        assert!(
            page.contains("<td class=\"broken promised\"><a href=\"runs/a--p/20261207T0000Z\">broken 1/2 (median 1.5 s) ⚠</a></td>"),
            "{page}"
        );
    }
}
