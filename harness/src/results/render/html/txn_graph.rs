//! The transactional anomalies of a report: each cycle drawn as a graph (hand-written
//! SVG: transactions on a circle, one arrow per dependency, coloured by kind), its
//! steps in words, and the transactions in full. Anomalies that are not cycles get
//! their words and transactions.

use super::esc;
use crate::check::{CheckReport, CheckResult};
use checker::txn::{Anomaly, TxnReport};
use std::f64::consts::PI;
use std::fmt::Write;

/// The section, or nothing when no transactional check found an anomaly.
pub fn section(checks: &[CheckResult]) -> String {
    let reports: Vec<(&CheckResult, &TxnReport)> = checks
        .iter()
        .filter_map(|c| match &c.report {
            CheckReport::Txn(r) if !r.anomalies.is_empty() => Some((c, r.as_ref())),
            _ => None,
        })
        .collect();
    if reports.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "<section id=\"txn-anomalies\"><h2>Transactional anomalies</h2>\n\
         <p class=\"help\">Arrows: <b style=\"color:#c0392b\">ww</b> write-write, \
         <b style=\"color:#2471a3\">wr</b> write-read, <b style=\"color:#d68910\">rw</b> \
         read-write (anti-dependency, dashed), <b style=\"color:#7f8c8d\">process</b>, \
         <b style=\"color:#8e44ad\">realtime</b> (dotted).</p>\n",
    );
    for (c, r) in reports {
        // The summary already names the anomalies and every model they rule out.
        let _ = writeln!(
            out,
            "<h3>{}: {}</h3>",
            esc(&c.name.to_string()),
            esc(&c.summary)
        );
        for a in &r.anomalies {
            out.push_str(&anomaly(a));
        }
    }
    out.push_str("</section>\n");
    out
}

fn anomaly(a: &Anomaly) -> String {
    let mut out = format!(
        "<div class=\"ce txn\"><h4>{} <small>({})</small></h4>\n",
        esc(&a.kind.name()),
        esc(&a.meaning)
    );
    if !a.steps.is_empty() {
        out.push_str(&svg(a));
        out.push_str("<ol>");
        for s in &a.steps {
            let _ = write!(
                out,
                "<li>{} &lt; {} because {} ({})</li>",
                esc(&s.from),
                esc(&s.to),
                esc(&s.why),
                esc(&s.kind)
            );
        }
        out.push_str("</ol>\n");
    } else {
        let _ = writeln!(out, "<p>{}</p>", esc(&a.explanation));
    }
    out.push_str("<pre>");
    let mut shown: Vec<&str> = Vec::new();
    for t in &a.txns {
        if !shown.contains(&t.name.as_str()) {
            shown.push(&t.name);
            let outcome = serde_json::to_value(t.outcome).unwrap_or_default();
            let _ = writeln!(
                out,
                "{} (process {}, {}, invoked at index {}): {}",
                esc(&t.name),
                t.process,
                esc(outcome.as_str().unwrap_or("?")),
                t.index,
                esc(&t.text)
            );
        }
    }
    out.push_str("</pre></div>\n");
    out
}

fn colour(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "ww" => ("#c0392b", ""),
        "wr" => ("#2471a3", ""),
        "rw" => ("#d68910", " stroke-dasharray=\"6 4\""),
        "process" => ("#7f8c8d", ""),
        _ => ("#8e44ad", " stroke-dasharray=\"2 3\""),
    }
}

/// The cycle: its transactions on a circle, in cycle order, an arrow per step.
pub fn svg(a: &Anomaly) -> String {
    let n = a.steps.len().max(1);
    let radius = 50.0 + 22.0 * n as f64;
    let (w, h) = (2.0 * radius + 160.0, 2.0 * radius + 80.0);
    let (cx, cy) = (w / 2.0, h / 2.0);
    let at = |i: usize| {
        let angle = -PI / 2.0 + 2.0 * PI * i as f64 / n as f64;
        (cx + radius * angle.cos(), cy + radius * angle.sin())
    };
    let mut out = format!(
        "<svg class=\"txngraph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" \
         viewBox=\"0 0 {w:.0} {h:.0}\" role=\"img\" aria-label=\"{} cycle\">",
        esc(&a.kind.name())
    );
    for (kind, _) in ["ww", "wr", "rw", "process", "realtime"].map(|k| (k, ())) {
        let _ = write!(
            out,
            "<defs><marker id=\"arrow-{kind}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
             markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker></defs>",
            colour(kind).0
        );
    }
    for (i, s) in a.steps.iter().enumerate() {
        let ((x1, y1), (x2, y2)) = (at(i), at((i + 1) % n));
        let (dx, dy) = (x2 - x1, y2 - y1);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Offset sideways so that the two arrows of a two-transaction cycle part.
        let (ox, oy) = (-uy * 7.0, ux * 7.0);
        let trim = |t: f64| {
            (38.0 / ux.abs().max(0.01))
                .min(16.0 / uy.abs().max(0.01))
                .min(len / 2.0 - 4.0)
                * t
        };
        let (sx, sy) = (x1 + ux * trim(1.0) + ox, y1 + uy * trim(1.0) + oy);
        let (ex, ey) = (x2 - ux * trim(1.0) + ox, y2 - uy * trim(1.0) + oy);
        let (col, dash) = colour(&s.kind);
        let _ = write!(
            out,
            "<line x1=\"{sx:.1}\" y1=\"{sy:.1}\" x2=\"{ex:.1}\" y2=\"{ey:.1}\" stroke=\"{col}\" \
             stroke-width=\"2\"{dash} marker-end=\"url(#arrow-{})\"><title>{}</title></line>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"{col}\" text-anchor=\"middle\">{}</text>",
            esc(&s.kind),
            esc(&s.why),
            (sx + ex) / 2.0 + ox * 1.6,
            (sy + ey) / 2.0 + oy * 1.6 + 4.0,
            esc(&s.kind)
        );
    }
    for (i, s) in a.steps.iter().enumerate() {
        let (x, y) = at(i);
        let text = a
            .txns
            .iter()
            .find(|t| t.name == s.from)
            .map_or(String::new(), |t| t.text.clone());
        let _ = write!(
            out,
            "<g><title>{}: {}</title><rect x=\"{:.1}\" y=\"{:.1}\" width=\"76\" height=\"28\" rx=\"6\" \
             fill=\"#fdfefe\" stroke=\"#34495e\"/><text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"13\" \
             text-anchor=\"middle\" font-family=\"monospace\">{}</text></g>",
            esc(&s.from),
            esc(&text),
            x - 38.0,
            y - 14.0,
            y + 5.0,
            esc(&s.from)
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::CheckKind;
    use checker::history::parse_jsonl;
    use checker::txn::{check_list_append, TxnOptions};
    use checker::verdict::Verdict;

    /// Write skew: two transactions read two empty keys and each appends to one.
    const WRITE_SKEW: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null],["append",1,1]]}
{"index":1,"time":1,"process":1,"type":"invoke","f":"txn","value":[["r",1,null],["r",2,null],["append",2,1]]}
{"index":2,"time":2,"process":0,"type":"ok","f":"txn","value":[["r",1,[]],["r",2,[]],["append",1,1]]}
{"index":3,"time":3,"process":1,"type":"ok","f":"txn","value":[["r",1,[]],["r",2,[]],["append",2,1]]}
"#;

    fn result() -> CheckResult {
        let h = parse_jsonl(WRITE_SKEW).unwrap();
        let report = check_list_append(&h, &TxnOptions::default()).unwrap();
        CheckResult {
            name: CheckKind::ListAppend,
            verdict: report.verdict,
            summary: report.summary(),
            report: CheckReport::Txn(Box::new(report)),
            error: None,
            replay: None,
            seconds: 0.0,
        }
    }

    #[test]
    fn a_cycle_is_drawn_with_one_arrow_per_step_and_its_transactions_in_full() {
        let c = result();
        assert_eq!(c.verdict, Verdict::Invalid);
        let html = section(std::slice::from_ref(&c));
        assert!(html.contains("<h4>G2-item"), "{html}");
        assert_eq!(html.matches("<svg").count(), 1);
        assert_eq!(html.matches("<line ").count(), 2, "two rw steps");
        assert_eq!(
            html.matches("stroke-dasharray=\"6 4\"").count(),
            2,
            "rw is dashed"
        );
        assert!(
            html.contains("T0 (process 0, ok, invoked at index 0): [r 1 []] [r 2 []] [append 1 1]"),
            "{html}"
        );
        assert!(
            html.contains("T0 &lt; T1 because T0 read key 2 = [], without T1&#39;s append of 1"),
            "{html}"
        );
    }

    #[test]
    fn no_anomaly_draws_nothing() {
        let h = parse_jsonl(&WRITE_SKEW.lines().take(3).collect::<Vec<_>>().join("\n")).unwrap();
        let report = check_list_append(&h, &TxnOptions::default()).unwrap();
        let mut c = result();
        c.report = CheckReport::Txn(Box::new(report));
        assert_eq!(section(&[c]), "");
    }
}
