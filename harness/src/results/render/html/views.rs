//! Drawn counterexamples of the checks whose evidence is not a search (session
//! guarantees, eventual consistency, bank, counter, unique IDs), from the typed
//! reports the checker returns: a person sees the violation, not a JSON dump.
//!
//! - session: the client's operations on the key, in session order, with the
//!   violating pair marked (what it had seen or written; the later read that missed it);
//! - eventual: each lost or partly missing element with its append and every node's
//!   final read, "gone everywhere" apart from "missing on some nodes";
//! - bank, counter, unique IDs: the totals, values or IDs read over time, the bad ones
//!   marked.

use super::data::when;
use super::esc;
use super::plots::{linear_ticks, Frame, BOTTOM, H, LEFT, RIGHT, TOP, W};
use crate::check::{CheckReport, CheckResult};
use crate::results::faults::{ms, Band};
use checker::consistency::eventual::EventualReport;
use checker::consistency::session::{SessionReport, SessionViolation};
use checker::consistency::OpRef;
use checker::consistency::FINAL_READ_F;
use checker::history::{History, Operation, Outcome};
use serde_json::Value;
use std::fmt::Write;

/// Violations drawn per check (the rest are in the checker's words).
const SHOWN: usize = 3;

/// The drawing of a failing check's evidence, or nothing when the generic
/// process-lane drawing is the view (linearizability, sequential consistency).
pub fn view(c: &CheckResult, history: &History, bands: &[Band], end: f64) -> String {
    let frame = Frame { end: end.max(1e-6) };
    match &c.report {
        CheckReport::Session(r) => session(r, history, end),
        CheckReport::Eventual(r) => eventual(r, history, end),
        CheckReport::Bank(r) => {
            let bad: Vec<u64> = r.violations.examples.iter().map(bank_read).collect();
            let mut points = reads(history, bank_total, &bad, "total");
            // Every wrong total is marked, not only the examples the report keeps.
            if let Some(t) = r.expected_total {
                points.iter_mut().for_each(|p| p.2 |= p.1 != t as f64);
            }
            let expected = r
                .expected_total
                .map(|t| (t as f64, format!("expected total {t}")));
            values_plot(
                &frame,
                "bank-totals",
                "Total of every read over time",
                &points,
                expected,
                bands,
            )
        }
        CheckReport::Counter(r) => {
            let bad: Vec<u64> = r
                .violations
                .examples
                .iter()
                .map(|v| v.read.invoke_index)
                .collect();
            let points = reads(history, |v| v.as_f64(), &bad, "read");
            values_plot(
                &frame,
                "counter-values",
                "Value of every read over time",
                &points,
                None,
                bands,
            )
        }
        CheckReport::UniqueIds(r) => {
            let bad: Vec<u64> = r
                .duplicates
                .examples
                .iter()
                .flat_map(|d| [d.first.invoke_index, d.second.invoke_index])
                .collect();
            let points = generated(history, &bad);
            values_plot(
                &frame,
                "unique-ids",
                "Every acknowledged ID over time (duplicates marked)",
                &points,
                None,
                bands,
            )
        }
        _ => String::new(),
    }
}

fn op<'a>(history: &'a History, r: &OpRef) -> Option<&'a Operation> {
    history.ops.get(r.op)
}

/// An operation in a few words: `#12 read →[1 2]` or `#9 append 3 (info)`.
fn short(o: &Operation) -> String {
    let show = |v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            format!(" {v}")
        }
    };
    match o.outcome {
        Outcome::Ok if !o.output.is_null() && o.output != o.input => {
            format!(
                "#{} {}{} →{}",
                o.invoke_index,
                o.f,
                show(&o.input),
                show(&o.output).trim()
            )
        }
        Outcome::Ok => format!("#{} {}{}", o.invoke_index, o.f, show(&o.input)),
        Outcome::Fail => format!("#{} {}{} (fail)", o.invoke_index, o.f, show(&o.input)),
        Outcome::Info => format!("#{} {}{} (info)", o.invoke_index, o.f, show(&o.input)),
    }
}

/// Each session violation drawn: the process's operations on the key from two
/// before the first of the pair to the second, as boxes in session order.
fn session(r: &SessionReport, history: &History, end: f64) -> String {
    let all = [
        &r.monotonic_reads,
        &r.monotonic_writes,
        &r.read_your_writes,
        &r.writes_follow_reads,
    ];
    let mut out = String::new();
    for v in all
        .iter()
        .flat_map(|g| g.violations.examples.iter())
        .take(SHOWN)
    {
        out.push_str(&session_one(v, history, end));
    }
    out
}

fn session_one(v: &SessionViolation, history: &History, end: f64) -> String {
    let seq: Vec<&Operation> = history
        .ops
        .iter()
        .filter(|o| o.process == v.process && o.key.as_ref().is_none_or(|k| *k == v.key))
        .collect();
    let at = |r: &OpRef| seq.iter().position(|o| o.id == r.op);
    let (Some(a), Some(b)) = (at(&v.first), at(&v.second)) else {
        return String::new();
    };
    let mut shown: Vec<&Operation> = seq[a.saturating_sub(2)..=b.min(seq.len() - 1)].to_vec();
    if shown.len() > 12 {
        // Far apart: the two before the first, the first, and the second.
        shown = seq[a.saturating_sub(2)..=a]
            .iter()
            .chain([&seq[b]])
            .copied()
            .collect();
    }
    let witness = v.witness.as_ref().and_then(|w| op(history, w));
    let node = |o: &Operation| {
        o.node
            .as_deref()
            .map(|n| format!(" on {n}"))
            .unwrap_or_default()
    };
    let mut s = format!(
        "<div class=\"view session\" data-guarantee=\"{g}\"><p><b>{g}</b> broken for process {} on key {}: expected {}, observed {}.</p>",
        v.process,
        esc(&v.key.to_string()),
        esc(&v.expected),
        esc(&v.observed),
        g = v.guarantee.name()
    );
    let bw = (W - 20.0) / shown.len().max(1) as f64;
    let fits = ((bw - 14.0) / 6.3) as usize;
    let _ = write!(
        s,
        "<svg class=\"seq\" viewBox=\"0 0 {W} 92\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, o) in shown.iter().enumerate() {
        let x = 10.0 + i as f64 * bw;
        let (class, tag) = if o.id == v.first.op {
            ("first", "① seen / written")
        } else if o.id == v.second.op {
            ("second", "② missed it")
        } else {
            ("other", "")
        };
        let _ = write!(
            s,
            "<g class=\"sop {class}\" data-op=\"{}\"><title>{}{} at {}</title><rect x=\"{x:.1}\" y=\"18\" width=\"{:.1}\" height=\"34\" rx=\"4\"/>\
             <text x=\"{:.1}\" y=\"39\">{}</text><text class=\"tag\" x=\"{:.1}\" y=\"13\">{tag}</text>\
             <text class=\"when\" x=\"{:.1}\" y=\"68\">{}{}</text></g>",
            o.invoke_index,
            esc(&short(o)),
            esc(&node(o)),
            when(ms(o.call), end),
            bw - 8.0,
            x + 5.0,
            esc(&fit(&short(o), fits)),
            x + 2.0,
            x + 2.0,
            when(ms(o.call), end),
            esc(&node(o)),
        );
    }
    s.push_str("</svg>");
    if let Some(w) = witness {
        let _ = write!(
            s,
            "<p class=\"witness\">Seen in a read by process {}{}: {} at {}.</p>",
            w.process,
            esc(&node(w)),
            esc(&short(w)),
            when(ms(w.call), end)
        );
    }
    s.push_str("</div>");
    s
}

/// `text` in at most `max` characters: a long read keeps its head up to the list and
/// the list's end, where a session's reads differ.
fn fit(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_string();
    }
    let head = chars
        .iter()
        .position(|c| *c == '[')
        .map_or(max / 2, |p| p + 1)
        .min(max.saturating_sub(4));
    let tail = max.saturating_sub(head + 1);
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// Lost and partly missing elements, each with its append and every node's final
/// read of its key.
fn eventual(r: &EventualReport, history: &History, end: f64) -> String {
    let Some(e) = &r.elements else {
        return String::new();
    };
    let nodes = final_read_nodes(history);
    let mut out = String::from("<div class=\"view eventual\">");
    let groups = [
        (
            "gone everywhere (lost)",
            "lost",
            e.lost_elements
                .iter()
                .map(|l| (&l.key, &l.element, &l.add))
                .collect::<Vec<_>>(),
        ),
        (
            "missing on some nodes",
            "partly",
            e.missing_on_some_nodes_examples
                .iter()
                .map(|l| (&l.key, &l.element, &l.add))
                .collect(),
        ),
    ];
    for (title, class, items) in groups {
        if items.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "<h4>{title}</h4><table class=\"elements {class}\"><tr><th>key</th><th>element</th><th>its append</th>"
        );
        for n in &nodes {
            let _ = write!(out, "<th>final read on {}</th>", esc(n));
        }
        out.push_str("</tr>");
        for (key, element, add) in items.into_iter().take(20) {
            let appended =
                add.as_ref()
                    .and_then(|a| op(history, a))
                    .map_or("unknown".into(), |o| {
                        format!(
                            "{} by process {}{} at {}",
                            short(o),
                            o.process,
                            o.node
                                .as_deref()
                                .map(|n| format!(" on {n}"))
                                .unwrap_or_default(),
                            when(ms(o.call), end)
                        )
                    });
            let _ = write!(
                out,
                "<tr data-element=\"{}\"><td>{}</td><td><b>{}</b></td><td>{}</td>",
                esc(&element.to_string()),
                esc(&key.to_string()),
                esc(&element.to_string()),
                esc(&appended)
            );
            for n in &nodes {
                out.push_str(&final_cell(history, n, key, element));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>");
    }
    out.push_str("</div>");
    out
}

/// The nodes that answered a final read, in natural order.
fn final_read_nodes(history: &History) -> Vec<String> {
    let mut nodes: Vec<String> = history
        .ops
        .iter()
        .filter(|o| o.f == FINAL_READ_F)
        .filter_map(|o| o.node.clone())
        .collect();
    nodes.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    nodes.dedup();
    nodes
}

/// Whether `node`'s last final read of `key` holds `element`: ✔ has it, ✘ lacks it,
/// or no answer.
fn final_cell(history: &History, node: &str, key: &Value, element: &Value) -> String {
    let read = history.ops.iter().rev().find(|o| {
        o.f == FINAL_READ_F
            && o.node.as_deref() == Some(node)
            && o.key.as_ref() == Some(key)
            && o.outcome == Outcome::Ok
    });
    match read {
        Some(o) => {
            let has = o.output.as_array().is_some_and(|a| a.contains(element));
            let (class, mark) = if has {
                ("has", "✔ has it")
            } else {
                ("lacks", "✘ lacks it")
            };
            format!(
                "<td class=\"{class}\" title=\"#{}\">{mark}</td>",
                o.invoke_index
            )
        }
        None => "<td class=\"noread\">no answer</td>".into(),
    }
}

fn bank_read(v: &checker::consistency::invariants::bank::BankViolation) -> u64 {
    use checker::consistency::invariants::bank::BankViolation as B;
    match v {
        B::WrongTotal { read, .. }
        | B::NegativeBalance { read, .. }
        | B::WrongAccounts { read, .. } => read.invoke_index,
    }
}

/// The sum of a bank read's balances.
fn bank_total(v: &Value) -> Option<f64> {
    match v {
        Value::Object(m) => m.values().map(|b| b.as_f64()).sum(),
        Value::Array(a) => a.iter().map(|b| b.as_f64()).sum(),
        _ => None,
    }
}

/// (time ms, value, bad, label) of every ok read whose result `value` reads.
type Points = Vec<(f64, f64, bool, String)>;

fn reads(
    history: &History,
    value: impl Fn(&Value) -> Option<f64>,
    bad: &[u64],
    what: &str,
) -> Points {
    history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok && (o.f == "read" || o.f == FINAL_READ_F))
        .filter_map(|o| {
            let v = value(&o.output)?;
            let label = format!("#{} {what} {v}", o.invoke_index);
            Some((ms(o.call), v, bad.contains(&o.invoke_index), label))
        })
        .collect()
}

/// Every acknowledged ID that is a number, at its completion.
fn generated(history: &History, bad: &[u64]) -> Points {
    history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .filter_map(|o| {
            let v = o.output.as_f64()?;
            let label = format!("#{} id {v} (process {})", o.invoke_index, o.process);
            Some((ms(o.ret), v, bad.contains(&o.invoke_index), label))
        })
        .collect()
}

/// Values over time: ok points as dots, the bad ones as large red crosses with
/// their labels, and an optional expected line.
fn values_plot(
    frame: &Frame,
    id: &str,
    title: &str,
    points: &Points,
    expected: Option<(f64, String)>,
    bands: &[Band],
) -> String {
    let ys = points
        .iter()
        .map(|p| p.1)
        .chain(expected.as_ref().map(|e| e.0));
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
        (a.min(y), b.max(y))
    });
    if !lo.is_finite() {
        return String::new();
    }
    let pad = ((hi - lo) * 0.1).max(1.0);
    let (lo, hi) = (lo - pad, hi + pad);
    let y = |v: f64| TOP + (hi - v) / (hi - lo) * (H - TOP - BOTTOM);
    let mut s = frame.open(id, title, bands);
    s.push_str(&linear_ticks(&[lo + pad, hi - pad], y));
    if let Some((v, label)) = &expected {
        let _ = write!(
            s,
            "<line class=\"expected\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/><text x=\"{}\" y=\"{:.1}\">{}</text>",
            W - RIGHT,
            LEFT + 4.0,
            y(*v) - 3.0,
            esc(label),
            y = y(*v)
        );
    }
    let mut dots = String::new();
    for p in points.iter().filter(|p| !p.2) {
        let _ = write!(dots, "M{:.1} {:.1}h0", frame.x(p.0), y(p.1));
    }
    let _ = write!(s, "<path class=\"dots ok\" d=\"{dots}\"/>");
    // Every bad one a cross (one path), the first few labelled, each with its title.
    let bad: Vec<_> = points.iter().filter(|p| p.2).collect();
    let mut crosses = String::new();
    for p in &bad {
        let _ = write!(
            crosses,
            "M{:.1} {:.1}l8 8m0-8l-8 8",
            frame.x(p.0) - 4.0,
            y(p.1) - 4.0
        );
    }
    let _ = write!(
        s,
        "<g class=\"bad\" data-bad=\"{}\"><path d=\"{crosses}\"/>",
        bad.len()
    );
    for (i, p) in bad.iter().take(3).enumerate() {
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            frame.x(p.0) + 6.0,
            y(p.1) - 5.0 + i as f64 * 12.0,
            esc(&p.3)
        );
    }
    s.push_str("</g>");
    s.push_str("</svg></figure>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_read_keeps_its_head_and_the_end_of_its_list() {
        assert_eq!(fit("#7 read →[1,2,3,4,5,6,7,8]", 18), "#7 read →[…,6,7,8]");
        assert_eq!(fit("#7 read →[1]", 18), "#7 read →[1]");
    }
}
