//! The faults in force over a run, read back from the history's nemesis events: one
//! period per fault, from its start to its heal. The report shades them and the
//! availability figures ([`super::availability`]) are counted in them.

use checker::history::History;
use serde::Serialize;
use serde_json::Value;

/// A fault in force from `s` to `e` (ms since the history began).
#[derive(Debug, Clone, Serialize)]
pub struct Band {
    pub s: f64,
    pub e: f64,
    /// The fault's name (`partition`, `kill`, `pause+clock-bump`, ...).
    pub kind: String,
    /// Its targets, as the history's value holds them.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Whether a nemesis `f` heals (every part of a composed fault heals).
pub fn heals(f: &str) -> bool {
    f.split('+').all(|p| {
        p.starts_with("stop-")
            || p.starts_with("heal")
            || matches!(p, "restart" | "restart-all" | "resume" | "clock-reset")
    })
}

/// The faults in force over time: a band opens at a fault's first event and closes
/// at the last event of its heal; one still open at the end runs to `end` (ms).
pub fn bands(history: &History, end: f64) -> Vec<Band> {
    let mut out: Vec<Band> = Vec::new();
    let mut open: Option<Band> = None;
    let mut last_heal = String::new();
    for ev in history.nemesis_events() {
        let t = ms(ev.time);
        if heals(&ev.f) {
            if let Some(mut b) = open.take() {
                b.e = t;
                out.push(b);
                last_heal = ev.f.clone();
            } else if let Some(b) = out.last_mut().filter(|_| last_heal == ev.f) {
                b.e = t;
            }
            continue;
        }
        let b = open.get_or_insert_with(|| Band {
            s: t,
            e: end,
            kind: ev
                .f
                .split('+')
                .map(|p| p.trim_start_matches("start-"))
                .collect::<Vec<_>>()
                .join("+"),
            detail: short(&ev.value),
            error: None,
        });
        if let Some(err) = &ev.error {
            b.error = Some(err.clone());
        }
    }
    out.extend(open);
    out
}

/// Where a history ends (ms).
pub fn end_ms(history: &History) -> f64 {
    ms(history.events.iter().map(|e| e.time).max().unwrap_or(0))
}

fn short(v: &Value) -> String {
    let mut s = if v.is_null() {
        String::new()
    } else {
        v.to_string()
    };
    super::render::html::cut(&mut s, 300, "…");
    s
}
