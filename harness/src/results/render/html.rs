//! `report.html`: one self-contained page a person opens to see a run, offline
//! (inline CSS, JS and SVG; no CDN, no fonts). The top says what ran and every
//! check's verdict; each failing check's counterexample is spelled out and drawn,
//! naming its operations, their nodes and the fault in force; the timeline draws
//! every operation on its process lane with the nemesis's faults as bands, with zoom,
//! pan and details on hover or click; a Maelstrom run adds its network figures.
//!
//! The page's data is one typed JSON document ([`Data`]) the script draws from. A
//! large history stays small and fast: past [`KEEP_ALL`] operations, only those
//! near a counterexample's operations are kept one by one; the rest are counted in
//! bins per lane and time ([`Bin`]).

mod data;
mod logs;
mod network;
mod nodes;
mod plots;
mod txn_graph;
mod views;

use super::{Renderer, RunResults};
use crate::check::{CheckReport, CheckResult};
use checker::history::History;
use checker::verdict::Verdict;
pub use data::{Bin, Data, KEEP_ALL};
use std::fmt::Write;

/// The report's style sheet; the campaign matrix page shares it.
pub const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// The HTML report of a run: [`RunResults`] and what the results do not hold.
pub struct Html<'a> {
    /// The history the results judged (every operation is drawn from it).
    pub history: &'a History,
    /// The system under test, when known (a run's; not an imported history's).
    pub system: Option<String>,
    /// Every setting of the test, as the test file that replays it; `None` when
    /// unknown.
    pub settings: Option<String>,
}

impl Renderer for Html<'_> {
    fn render(&self, r: &RunResults) -> String {
        let data = Data::build(self.history, &r.checks);
        let mut out = String::with_capacity(64 * 1024);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <title>faultline: {} {}</title><style>{CSS}</style></head><body>\n",
            esc(&r.name),
            r.verdict
        );
        out.push_str(&self.top(r));
        out.push_str(&counterexamples(&data, &r.checks, self.history));
        out.push_str(&txn_graph::section(&r.checks));
        if let Some((at, what)) = first_violation(&data) {
            let wall = self.history.wall_start();
            out.push_str(&logs::section(&r.run_dir, wall, at, data.end, &what));
        }
        out.push_str(TIMELINE);
        out.push_str(&plots::section(self.history, &data, &r.availability));
        out.push_str(&network::section(r.network.as_ref()));
        if let Some(s) = &self.settings {
            let _ = writeln!(
                out,
                "<details id=\"settings\"><summary>Settings (the test file that replays this run)</summary><pre>{}</pre></details>",
                esc(s)
            );
        }
        let json = serde_json::to_string(&data).expect("report data serializes");
        // `</` cannot end the script element early inside a JSON string.
        let json = json.replace("</", "<\\/");
        let _ = write!(
            out,
            "<script type=\"application/json\" id=\"data\">{json}</script>\n<script>{JS}</script>\n</body></html>\n"
        );
        out
    }
}

/// The timeline's frame; the script draws into it.
const TIMELINE: &str = "<section id=\"timeline\"><h2>Timeline</h2>\
<p class=\"help\">Every operation is a bar on its process's lane, from invocation to completion. \
<span class=\"key ok\">ok</span> solid; <span class=\"key fail\">fail</span> cross-hatched; \
<span class=\"key info\">info</span> (unknown outcome) striped with an open end; \
<span class=\"key flag\">outlined</span>: in a counterexample. Shaded bands: faults in force. Node lanes (below): red while down, blue paused, amber on a moved clock, \
purple out of the cluster (hover a mark for the members after a change). \
Wheel or buttons to zoom, drag to pan, hover or click an operation for its details.</p>\
<div class=\"controls\"><button id=\"zin\">zoom in</button><button id=\"zout\">zoom out</button>\
<button id=\"zall\">whole run</button> <span id=\"window\"></span></div>\
<div id=\"tlwrap\"><svg id=\"tl\" xmlns=\"http://www.w3.org/2000/svg\"></svg></div>\
<div id=\"tip\" hidden></div><pre id=\"detail\">Click an operation for its details.</pre></section>\n";

impl Html<'_> {
    /// What ran, every check's verdict, the hierarchy line, warnings, crashed nodes.
    fn top(&self, r: &RunResults) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<header><h1>{} <span class=\"verdict {v}\">{v}</span></h1><dl>",
            esc(&r.name),
            v = r.verdict
        );
        let mut row = |k: &str, v: String| {
            let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
        };
        if let Some(s) = &self.system {
            row("system", esc(s));
        }
        row("workload", esc(&r.workload.to_string()));
        // A history from elsewhere has no seed of faultline's.
        if self.system.is_some() {
            row("seed", r.seed.to_string());
        }
        if !r.run_id.is_empty() {
            row("run", esc(&r.run_id));
        }
        row("folder", esc(&r.run_dir.display().to_string()));
        if !r.replay.is_empty() {
            row(
                "replay",
                format!("<code id=\"replay\">{}</code>", esc(&r.replay)),
            );
        }
        row(
            "operations",
            format!(
                "{} ok, {} fail, {} info; {} nemesis events over {:.1} s",
                r.stats.total.ok,
                r.stats.total.fail,
                r.stats.total.info,
                r.stats.nemesis_events,
                r.stats.duration_s
            ),
        );
        out.push_str("</dl>");
        if r.interrupted {
            out.push_str("<p class=\"warn\">The run was interrupted: the history is partial.</p>");
        }
        for w in &r.warnings {
            let class = if w.starts_with("no fault was injected") {
                "warn nofault"
            } else {
                "warn"
            };
            let _ = write!(out, "<p class=\"{class}\">warning: {}</p>", esc(w));
        }
        out.push_str(&checks_table(&r.checks));
        if let Some(p) = &r.hierarchy {
            let _ = write!(out, "<p id=\"hierarchy\">{}</p>", esc(&p.line));
        }
        for c in &r.crashed_nodes {
            let _ = write!(
                out,
                "<div class=\"crashed\"><p>finding: node <b>{}</b> exited on its own ({}); its log ends:</p><pre>{}</pre></div>",
                esc(&c.node),
                esc(&c.status),
                esc(&c.log_tail)
            );
        }
        out.push_str("</header>\n");
        out
    }
}

/// One row per check: its name, its verdict (a word and a mark, not colour alone),
/// and its one line of why.
fn checks_table(checks: &[CheckResult]) -> String {
    let mut out = String::from(
        "<table id=\"checks\"><tr><th>check</th><th>verdict</th><th>why</th><th>time</th></tr>",
    );
    for c in checks {
        let mark = match c.verdict {
            Verdict::Valid => "✔",
            Verdict::Invalid => "✘",
            Verdict::Unknown => "?",
        };
        let why = match &c.error {
            Some(e) => format!("{} ({})", c.summary, e),
            None => c.summary.clone(),
        };
        let _ = write!(
            out,
            "<tr class=\"{v}\"><td>{}</td><td class=\"verdict {v}\">{mark} {v}</td><td>{}</td><td>{:.2} s</td></tr>",
            esc(&c.name.to_string()),
            esc(&why),
            c.seconds,
            v = c.verdict
        );
    }
    out.push_str("</table>\n");
    out
}

/// Each failing check's counterexample: in words, naming the operation that ends
/// it (process, node, times, fault in force), the full text, a drawing (made by the
/// script from the data) and a link to the same window of the timeline.
fn counterexamples(data: &Data, checks: &[CheckResult], history: &History) -> String {
    if data.ces.is_empty() {
        return String::new();
    }
    let mut out = String::from("<section id=\"counterexamples\"><h2>Counterexamples</h2>\n");
    let failing = checks.iter().filter(|c| c.verdict == Verdict::Invalid);
    for (i, (ce, check)) in data.ces.iter().zip(failing).enumerate() {
        let _ = writeln!(
            out,
            "<div class=\"ce\" id=\"ce{i}\"><h3>{}</h3><p class=\"culprit\">{}</p>\
             <div class=\"cesvg\" data-ce=\"{i}\"></div>{}\
             <p><a href=\"#t={}-{}&amp;ce={i}\" class=\"zoomto\">Show {} to {} in the timeline</a></p>\
             <details><summary>The checker's words</summary><pre>{}</pre></details></div>",
            esc(&ce.check),
            esc(&ce.headline),
            views::view(check, history, &data.bands, data.end),
            data::link_seconds(ce.window.0),
            data::link_seconds(ce.window.1),
            data::when(ce.window.0, data.end),
            data::when(ce.window.1, data.end),
            esc(&ce.text),
        );
    }
    out.push_str("</section>\n");
    out
}

/// When the earliest operation a counterexample ends with was invoked (ms), and
/// which it was.
fn first_violation(data: &Data) -> Option<(f64, String)> {
    data.ces
        .iter()
        .filter_map(|ce| {
            let op = data.ops.iter().find(|o| Some(o.i) == ce.culprit)?;
            let node = if op.n.is_empty() {
                String::new()
            } else {
                format!(" on node {}", op.n)
            };
            Some((
                op.s,
                format!(
                    "{} operation #{} ({} by process {}{node})",
                    ce.check, op.i, op.f, op.p
                ),
            ))
        })
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

/// The text of a failing check's counterexample or evidence: the checker's own
/// words where it has them, else its report as JSON.
pub fn evidence_text(c: &CheckResult) -> String {
    match &c.report {
        CheckReport::Linearizable(r) => match &r.counterexample {
            Some(ce) => ce.to_string(),
            None => c.summary.clone(),
        },
        CheckReport::Sequential(r) => match &r.evidence {
            Some(e) => e.to_string(),
            None => c.summary.clone(),
        },
        CheckReport::None => c.error.clone().unwrap_or_else(|| c.summary.clone()),
        CheckReport::Txn(r) => r.text(),
        other => {
            let mut text = serde_json::to_string_pretty(other).unwrap_or_default();
            cut(
                &mut text,
                20_000,
                "\n... (cut; the whole report is in results.json)",
            );
            text
        }
    }
}

/// Cuts `text` to at most `max` bytes (at a character boundary), marking the cut.
pub fn cut(text: &mut String, max: usize, mark: &str) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
        text.push_str(mark);
    }
}

/// Text made safe for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
