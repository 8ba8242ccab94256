//! The nodes' log lines around the first violation, on the history's clock: the
//! history records the wall-clock time of its time 0 (`wall_start` on its first
//! event), and each log line's own timestamp is put on the same axis, so a line
//! shown at 1.234 s happened when the history's operations at 1.234 s ran.
//!
//! Timestamps read: faultline's own notes (`[faultline 2026-...Z]`), JSON lines with
//! `ts` (Unix seconds, as the reference systems write, or RFC 3339, as etcd does),
//! and lines that begin with an RFC 3339 time. A line without one shares the time of
//! the line before it.

use super::data::when;
use super::esc;
use chrono::DateTime;
use std::fmt::Write;
use std::path::Path;

/// Lines this close (ms) to the violation are shown...
const AROUND_MS: f64 = 3_000.0;
/// ...at most this many before it and as many after.
const LINES: usize = 15;

/// One section with every node's log lines around `at` (ms on the history's
/// clock), linking each full log (`nodes/<id>.log`, relative to the report).
pub fn section(run_dir: &Path, wall_start: Option<u64>, at: f64, end: f64, what: &str) -> String {
    let Ok(dir) = std::fs::read_dir(run_dir.join("nodes")) else {
        return String::new();
    };
    let mut logs: Vec<(String, std::path::PathBuf)> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
        .collect();
    logs.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
    if logs.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<section id=\"nodelogs\"><h2>Node logs around the first violation</h2>\
         <p class=\"help\">{}: {what}. Times are on the history's clock.</p>\n",
        when(at, end)
    );
    if wall_start.is_none() {
        out.push_str("<p class=\"warn\">This history does not record its wall-clock start (histories written before it did), so its times cannot be matched with the logs: only the links to the full logs are given.</p>");
    }
    for (node, path) in &logs {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let _ = write!(
            out,
            "<div class=\"nodelog\" data-node=\"{n}\"><h3>node {n} <a href=\"nodes/{n}.log\">full log</a></h3>",
            n = esc(node)
        );
        if let Some(start) = wall_start {
            out.push_str(&excerpt(&text, start, at, end, what));
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
    out
}

/// The lines near `at`, each with its time on the history's clock, and a marker
/// where the violation falls.
fn excerpt(text: &str, wall_start: u64, at: f64, end: f64, what: &str) -> String {
    let timed = on_history_clock(text, wall_start);
    let split = timed.partition_point(|(t, _)| *t < at);
    let near = |(t, _): &&(f64, &str)| (t - at).abs() <= AROUND_MS;
    let before: Vec<_> = timed[..split]
        .iter()
        .rev()
        .filter(near)
        .take(LINES)
        .collect();
    let after: Vec<_> = timed[split..].iter().filter(near).take(LINES).collect();
    if before.is_empty() && after.is_empty() {
        return format!(
            "<p>No line within {} of it.</p>",
            when(AROUND_MS, end.max(AROUND_MS))
        );
    }
    let mut out = String::from("<pre class=\"loglines\">");
    let line = |out: &mut String, (t, l): &(f64, &str)| {
        let _ = writeln!(
            out,
            "<span class=\"t\">{:>9}</span> {}",
            when(*t, end),
            esc(l)
        );
    };
    for l in before.into_iter().rev() {
        line(&mut out, l);
    }
    let _ = write!(
        out,
        "<b class=\"here\">{:>9} ──── {} ────</b>",
        when(at, end),
        esc(what)
    );
    for l in after {
        line(&mut out, l);
    }
    out.push_str("</pre>");
    out
}

/// Every line with its time in ms since the history's time 0; lines before the
/// first timestamp are left out. Times are kept non-decreasing.
fn on_history_clock(text: &str, wall_start: u64) -> Vec<(f64, &str)> {
    let mut out = Vec::new();
    let mut last: Option<f64> = None;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(ns) = timestamp(l) {
            let t = (ns as f64 - wall_start as f64) / 1e6;
            last = Some(last.map_or(t, |p: f64| p.max(t)));
        }
        if let Some(t) = last {
            out.push((t, l));
        }
    }
    out
}

/// A log line's wall-clock time, ns since the Unix epoch.
fn timestamp(line: &str) -> Option<u64> {
    let rfc = |s: &str| {
        DateTime::parse_from_rfc3339(s)
            .ok()
            .and_then(|d| d.timestamp_nanos_opt())
            .map(|n| n as u64)
    };
    if let Some(rest) = line.strip_prefix("[faultline ") {
        return rfc(rest.split(']').next()?);
    }
    if line.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(line).ok()?;
        return match v.get("ts")? {
            serde_json::Value::Number(n) => Some((n.as_f64()? * 1e9) as u64),
            serde_json::Value::String(s) => rfc(s),
            _ => None,
        };
    }
    rfc(line.split_whitespace().next()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_read_from_faultline_notes_json_lines_and_rfc3339_prefixes() {
        let ns = 1_796_000_000_123_000_000u64;
        assert_eq!(
            timestamp("[faultline 2026-11-30T00:53:20.123Z] n1 paused by faultline"),
            Some(ns)
        );
        assert_eq!(
            timestamp(r#"{"ts":1796000000.123,"level":"info","node":"n1","event":"x"}"#)
                .map(|t| t.abs_diff(ns) < 1_000),
            Some(true),
            "a float of Unix seconds, to the microsecond"
        );
        assert_eq!(
            timestamp(r#"{"level":"info","ts":"2026-11-30T00:53:20.123Z","msg":"x"}"#),
            Some(ns)
        );
        assert_eq!(timestamp("2026-11-30T00:53:20.123Z INFO hello"), Some(ns));
        assert_eq!(timestamp("a line without a time"), None);
    }

    #[test]
    fn the_excerpt_shows_the_lines_near_the_violation_on_the_history_clock() {
        let start = 1_796_000_000_000_000_000u64;
        let log = "[faultline 2026-11-30T00:53:20.500Z] n1 running as pid 7\n\
                   {\"ts\":1796000001.0,\"event\":\"became-leader\"}\n\
                   a continuation line\n\
                   {\"ts\":1796000002.0,\"event\":\"append\"}\n\
                   {\"ts\":1796000009.0,\"event\":\"far-away\"}\n";
        let x = excerpt(log, start, 1_500.0, 10_000.0, "operation #6");
        let here = x.find("operation #6").unwrap();
        for (line, before) in [
            ("running as pid 7", true),
            ("became-leader", true),
            ("a continuation line", true),
            ("append", false),
        ] {
            let at = x
                .find(line)
                .unwrap_or_else(|| panic!("{line} missing: {x}"));
            assert_eq!(at < here, before, "{line}: {x}");
        }
        assert!(x.contains("0.500 s") && x.contains("2.000 s"), "{x}");
        assert!(!x.contains("far-away"), "{x}");
    }
}
