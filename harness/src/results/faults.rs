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

/// A fault's value in words, for a band's label and the "fault in force" sentence: a
/// partition's grudge as its sides (`n1 n3 | n2 n4 n5`), other fields as `name: value`
/// without JSON's quotes; the `fault` field repeats the band's kind and is left out.
fn short(v: &Value) -> String {
    let mut s = in_words(v);
    super::render::html::cut(&mut s, 300, "…");
    s
}

fn in_words(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(in_words).collect::<Vec<_>>().join(", "),
        Value::Object(fields) => fields
            .iter()
            .filter(|(k, _)| k.as_str() != "fault")
            .map(|(k, v)| match (k.as_str(), v) {
                ("grudge", Value::Object(g)) => format!("sides {}", sides(g)),
                _ => format!("{k}: {}", in_words(v)),
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The sides of a partition: each node with the nodes it can still reach (every node
/// named in the grudge but those it holds a grudge against), one side per distinct set.
fn sides(grudge: &serde_json::Map<String, Value>) -> String {
    use std::collections::BTreeSet;
    let named = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut all: BTreeSet<String> = grudge.keys().cloned().collect();
    grudge.values().for_each(|v| all.extend(named(v)));
    let mut out: Vec<BTreeSet<String>> = Vec::new();
    for node in &all {
        let cut = grudge.get(node).map(named).unwrap_or_default();
        let side: BTreeSet<String> = all.difference(&cut).cloned().collect();
        if !out.contains(&side) {
            out.push(side);
        }
    }
    out.iter()
        .map(|s| s.iter().cloned().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_partition_is_described_by_its_sides_not_its_json() {
        let v = json!({"fault": "partition", "kind": "halves", "grudge": {
            "n1": ["n2", "n4", "n5"], "n3": ["n2", "n4", "n5"],
            "n2": ["n1", "n3"], "n4": ["n1", "n3"], "n5": ["n1", "n3"]}});
        assert_eq!(short(&v), "kind: halves; sides n1 n3 | n2 n4 n5");
    }

    #[test]
    fn other_fault_values_lose_their_quotes() {
        assert_eq!(short(&json!(["n1", "n2"])), "n1, n2");
        assert_eq!(
            short(&json!({"nodes": ["n3"], "delta_ms": -6000})),
            "nodes: n3; delta_ms: -6000"
        );
        assert_eq!(short(&Value::Null), "");
    }
}
