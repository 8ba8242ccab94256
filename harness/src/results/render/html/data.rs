//! The report's data, typed: lanes, operations (each one, or counted in bins far from
//! any counterexample), fault bands and counterexamples, as the page's script reads
//! them. Times are milliseconds since the history began.

use super::evidence_text;
use super::nodes::{node_lanes, NodeMark, NodeSpan};
use crate::check::{CheckReport, CheckResult};
pub use crate::results::faults::Band;
use crate::results::faults::{bands, end_ms, ms};
use checker::history::{Event, History, Operation, Outcome};
use checker::linearizability::{BlockedOp, OpSummary};
use checker::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Up to this many operations, every one is drawn on its own.
pub const KEEP_ALL: usize = 5_000;
/// Past [`KEEP_ALL`], operations this close (in invocation order) to one in a
/// counterexample are still drawn on their own.
const NEAR: usize = 250;
/// Past [`KEEP_ALL`], the run is cut into this many bins per lane.
const BINS: usize = 600;

#[derive(Debug, Serialize)]
pub struct Data {
    /// Where the history ends (ms).
    pub end: f64,
    /// Operations in the history, drawn one by one or in bins.
    pub total_ops: usize,
    /// One label per process lane.
    pub lanes: Vec<String>,
    pub ops: Vec<Op>,
    /// The width of a bin (ms); 0 when every operation is drawn on its own.
    pub bin_ms: f64,
    pub bins: Vec<Bin>,
    pub bands: Vec<Band>,
    pub ces: Vec<Ce>,
    /// One lane per node, below the processes, with what the nemesis did to it.
    pub nodes: Vec<String>,
    pub marks: Vec<NodeMark>,
    pub spans: Vec<NodeSpan>,
}

/// One operation drawn on its own.
#[derive(Debug, Serialize)]
pub struct Op {
    /// The index of its invocation in the history.
    pub i: u64,
    /// Its lane.
    pub l: usize,
    pub p: u64,
    /// Invoked and completed (ms); an `info` operation ends at its completion event,
    /// or at the end of the history.
    pub s: f64,
    pub e: f64,
    /// `ok`, `fail` or `info`.
    pub o: &'static str,
    pub f: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub k: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub n: String,
    /// What was asked, what came back, and why it failed.
    pub v: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub r: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub err: String,
    /// Part of a counterexample.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub c: bool,
}

/// Operations of one lane invoked in one bin, counted by outcome.
#[derive(Debug, Serialize)]
pub struct Bin {
    pub l: usize,
    pub b: usize,
    pub ok: u32,
    pub fail: u32,
    pub info: u32,
}

/// One failing check's counterexample.
#[derive(Debug, Serialize)]
pub struct Ce {
    pub check: String,
    /// One sentence naming the operation that ends it, its node, times and fault.
    pub headline: String,
    /// The checker's own words.
    pub text: String,
    /// Invocation indices of its operations.
    pub ops: Vec<u64>,
    /// The operation that ends it, when the checker names one.
    pub culprit: Option<u64>,
    /// The timeline window that shows it (ms).
    pub window: (f64, f64),
}

impl Data {
    pub fn build(history: &History, checks: &[CheckResult]) -> Data {
        let times = Times(&history.events);
        let end = end_ms(history);
        let (lanes, lane_of) = lanes(history);
        let bands = bands(history, end);
        let (nodes, marks, spans) = node_lanes(history, end);
        let by_event = ops_by_event(history);
        let ces: Vec<Ce> = checks
            .iter()
            .filter(|c| c.verdict == Verdict::Invalid)
            .map(|c| counterexample(c, &by_event, &times, &bands, end))
            .collect();
        let flagged: BTreeSet<u64> = ces.iter().flat_map(|c| c.ops.iter().copied()).collect();
        let keep = kept(history, &flagged);
        let bin_ms = if keep.iter().all(|k| *k) {
            0.0
        } else {
            (end / BINS as f64).max(1e-3)
        };
        let mut ops = Vec::new();
        let mut counts: BTreeMap<(usize, usize), [u32; 3]> = BTreeMap::new();
        for (op, keep) in history.ops.iter().zip(&keep) {
            let lane = lane_of[&op.process];
            if *keep {
                ops.push(drawn(
                    op,
                    lane,
                    &times,
                    end,
                    flagged.contains(&op.invoke_index),
                ));
            } else {
                let b = ((ms(op.call) / bin_ms) as usize).min(BINS - 1);
                let slot = match op.outcome {
                    Outcome::Ok => 0,
                    Outcome::Fail => 1,
                    Outcome::Info => 2,
                };
                counts.entry((lane, b)).or_default()[slot] += 1;
            }
        }
        let bins = counts
            .into_iter()
            .map(|((l, b), [ok, fail, info])| Bin {
                l,
                b,
                ok,
                fail,
                info,
            })
            .collect();
        Data {
            end,
            total_ops: history.ops.len(),
            lanes,
            ops,
            bin_ms,
            bins,
            bands,
            ces,
            nodes,
            marks,
            spans,
        }
    }
}

/// One lane per client process, ascending, labelled with its node when it sent
/// every operation to one.
fn lanes(history: &History) -> (Vec<String>, HashMap<u64, usize>) {
    let mut nodes: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    for op in &history.ops {
        let set = nodes.entry(op.process).or_default();
        if let Some(n) = &op.node {
            set.insert(n);
        }
    }
    let mut labels = Vec::new();
    let mut lane_of = HashMap::new();
    for (i, (p, set)) in nodes.iter().enumerate() {
        lane_of.insert(*p, i);
        labels.push(match set.len() {
            1 => format!("p{p} {}", set.iter().next().unwrap()),
            _ => format!("p{p}"),
        });
    }
    (labels, lane_of)
}

/// Which operations are drawn one by one: all of a small history; in a large one,
/// those near an operation of a counterexample.
fn kept(history: &History, flagged: &BTreeSet<u64>) -> Vec<bool> {
    let n = history.ops.len();
    if n <= KEEP_ALL {
        return vec![true; n];
    }
    let mut keep = vec![false; n];
    for (j, op) in history.ops.iter().enumerate() {
        if flagged.contains(&op.invoke_index) {
            for k in keep
                .iter_mut()
                .take((j + NEAR + 1).min(n))
                .skip(j.saturating_sub(NEAR))
            {
                *k = true;
            }
        }
    }
    keep
}

fn drawn(op: &Operation, lane: usize, times: &Times, end: f64, c: bool) -> Op {
    let (_, e) = span(op, times, end);
    let compact = |v: &Value| {
        if v.is_null() {
            String::new()
        } else {
            v.to_string()
        }
    };
    Op {
        i: op.invoke_index,
        l: lane,
        p: op.process,
        s: ms(op.call),
        e: e.max(ms(op.call)),
        o: match op.outcome {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
        },
        f: op.f.clone(),
        k: op.key.as_ref().map(compact).unwrap_or_default(),
        n: op.node.clone().unwrap_or_default(),
        v: compact(&op.input),
        r: compact(&op.output),
        err: op.error.clone().unwrap_or_default(),
        c,
    }
}

/// Event times by history index (events are in increasing index order), without a
/// hash table of every event: a large history is looked up a few times only.
pub struct Times<'a>(&'a [Event]);

impl Times<'_> {
    pub fn get(&self, index: &u64) -> Option<&u64> {
        let at = self.0.binary_search_by_key(index, |e| e.index).ok()?;
        Some(&self.0[at].time)
    }
}

/// Operations by the history index of their invocation or of their completion.
pub struct ByEvent<'a> {
    ops: &'a [Operation],
    /// (completion index, position in `ops`), sorted.
    completions: Vec<(u64, usize)>,
}

impl<'a> ByEvent<'a> {
    pub fn get(&self, index: &u64) -> Option<&'a Operation> {
        if let Ok(at) = self.ops.binary_search_by_key(index, |o| o.invoke_index) {
            return Some(&self.ops[at]);
        }
        let at = self.completions.binary_search_by_key(index, |c| c.0).ok()?;
        Some(&self.ops[self.completions[at].1])
    }
}

fn ops_by_event(history: &History) -> ByEvent<'_> {
    let mut completions: Vec<(u64, usize)> = history
        .ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.complete_index.map(|c| (c, i)))
        .collect();
    completions.sort_unstable();
    ByEvent {
        ops: &history.ops,
        completions,
    }
}

/// The faults in force while `op` ran, in words.
pub fn faults_during(bands: &[Band], s: f64, e: f64) -> String {
    let during: Vec<String> = bands
        .iter()
        .filter(|b| b.s <= e && b.e >= s)
        .map(|b| format!("{} {}", b.kind, b.detail))
        .collect();
    if during.is_empty() {
        "no fault in force".into()
    } else {
        format!("fault in force: {}", during.join("; "))
    }
}

fn counterexample(
    c: &CheckResult,
    by_event: &ByEvent,
    times: &Times,
    bands: &[Band],
    end: f64,
) -> Ce {
    let (mut ids, culprit, lead) = named_ops(c, by_event);
    ids.sort_unstable();
    ids.dedup();
    let spans: Vec<(f64, f64)> = ids
        .iter()
        .filter_map(|i| by_event.get(i))
        .map(|o| span(o, times, end))
        .collect();
    let lo = spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
    let hi = spans.iter().map(|s| s.1).fold(0.0, f64::max);
    let window = if spans.is_empty() {
        (0.0, end)
    } else {
        // A margin around the operations: 15% of their span, at least 5 ms in a
        // real run, and never more than the run.
        let pad = ((hi - lo) * 0.15).max(5.0f64.min(end * 0.01));
        ((lo - pad).max(0.0), (hi + pad).min(end.max(hi)))
    };
    let named = culprit
        .and_then(|i| by_event.get(&i))
        .map(|o| describe(o, times, bands, end));
    let headline = match named {
        Some(n) => format!("{lead} {n}"),
        None => c.summary.clone(),
    };
    Ce {
        check: c.name.to_string(),
        headline,
        text: evidence_text(c),
        ops: ids,
        culprit,
        window,
    }
}

/// The operations a failing check's report names (invocation indices), the one that
/// ends it, and the words that lead to it.
fn named_ops(c: &CheckResult, by_event: &ByEvent) -> (Vec<u64>, Option<u64>, String) {
    let key = |k: &Value| {
        if k.is_null() {
            String::new()
        } else {
            format!("Key {k}: ")
        }
    };
    let spelled = |tail: &[OpSummary], blocked: &[BlockedOp]| -> Vec<u64> {
        tail.iter()
            .map(|o| o.invoke_index)
            .chain(blocked.iter().map(|b| b.op.invoke_index))
            .collect()
    };
    match &c.report {
        CheckReport::Linearizable(r) if r.counterexample.is_some() => {
            let ce = r.counterexample.as_ref().unwrap();
            let mut ids = spelled(&ce.prefix_tail, &ce.blocked);
            ids.push(ce.must_precede.invoke_index);
            if let Some(p) = &ce.shortest_prefix {
                // The anomaly first; the search's stuck point stays outlined too.
                ids.push(p.ends.invoke_index);
                ids.extend(p.concurrent.iter().map(|o| o.invoke_index));
                let lead = format!(
                    "{}linearizable until this operation returned, and with its result no order of the key's operations exists (the shortest non-linearizable prefix: {} of {} operations; where the search over the whole key got stuck is in the checker's words, below):",
                    key(&ce.key),
                    p.ops,
                    p.key_ops
                );
                return (ids, Some(p.ends.invoke_index), lead);
            }
            let lead = format!(
                "{}after the longest linearizable order the search found ({} operations, state {}), this operation must take effect before it returns, yet no operation can come next:",
                key(&ce.key),
                ce.prefix.len(),
                ce.state
            );
            (ids, Some(ce.must_precede.invoke_index), lead)
        }
        CheckReport::Sequential(r) if r.evidence.is_some() => {
            let ev = r.evidence.as_ref().unwrap();
            let lead = format!(
                "{}the longest order that respects every process's program order ({} operations, state {}) cannot go on: no process's next operation can come next. The first of them:",
                key(&ev.key),
                ev.prefix.len(),
                ev.state
            );
            let first = ev.blocked.first().map(|b| b.op.invoke_index);
            (spelled(&ev.prefix_tail, &ev.blocked), first, lead)
        }
        report => {
            let mut found = Vec::new();
            indices(
                &serde_json::to_value(report).unwrap_or(Value::Null),
                &mut found,
            );
            let ids: Vec<u64> = found
                .into_iter()
                .filter_map(|i| by_event.get(&i).map(|o| o.invoke_index))
                .collect();
            let lead = format!("{}. The first operation it names:", c.summary);
            let first = ids.first().copied();
            (ids, first, lead)
        }
    }
}

/// When an operation was invoked and when it was last heard of (ms): an `info`
/// operation ends at its completion event, or at the end of the history.
fn span(op: &Operation, times: &Times, end: f64) -> (f64, f64) {
    let e = match op.outcome {
        Outcome::Info => op
            .complete_index
            .and_then(|i| times.get(&i))
            .map_or(end, |t| ms(*t)),
        _ => ms(op.ret),
    };
    (ms(op.call), e)
}

/// A time for people, in the unit the history's length calls for: seconds for a
/// real run, milliseconds, microseconds or nanoseconds for an imported history on a
/// logical clock (as the page's script shows them).
pub fn when(ms: f64, end: f64) -> String {
    in_unit_of(ms, end, 3)
}

/// A latency for people: milliseconds, or smaller units for a logical clock.
pub fn duration(ms: f64) -> String {
    in_unit_of(ms, ms.min(999.0), 1)
}

/// `ms` in the unit that suits a magnitude of `scale` (ms): s, ms, µs or ns.
fn in_unit_of(ms: f64, scale: f64, decimals: usize) -> String {
    let (factor, unit, decimals) = match scale {
        s if s >= 1000.0 => (1e-3, "s", decimals),
        s if s >= 1.0 => (1.0, "ms", decimals),
        s if s >= 1e-3 => (1e3, "µs", decimals),
        _ => (1e6, "ns", 0),
    };
    format!("{:.*} {unit}", decimals, ms * factor)
}

/// Seconds for a `#t=` link, to the nanosecond, without trailing zeros.
pub fn link_seconds(ms: f64) -> String {
    let s = format!("{:.9}", ms / 1000.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// An operation in one sentence: index, process, node, what it did, when, under
/// which fault.
pub fn describe(op: &Operation, times: &Times, bands: &[Band], end: f64) -> String {
    let (s, e) = span(op, times, end);
    let result = match op.outcome {
        Outcome::Ok if op.output.is_null() || op.output == op.input => "ok".to_string(),
        Outcome::Ok => format!("ok {}", op.output),
        Outcome::Fail => format!(
            "fail{}",
            op.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
        Outcome::Info => "unknown outcome".to_string(),
    };
    let asked = if op.input.is_null() {
        String::new()
    } else {
        format!(" {}", op.input)
    };
    let node = op
        .node
        .as_ref()
        .map(|n| format!(" on node {n}"))
        .unwrap_or_default();
    format!(
        "operation #{} by process {}{node}: {}{}{} → {}, invoked at {}, {} at {} ({}); {}.",
        op.invoke_index,
        op.process,
        op.f,
        op.key
            .as_ref()
            .map(|k| format!(" key {k}"))
            .unwrap_or_default(),
        asked,
        result,
        when(s, end),
        if op.outcome == Outcome::Info {
            "last heard of"
        } else {
            "returned"
        },
        when(e, end),
        duration(e - s),
        faults_during(bands, s, e)
    )
}

/// Every integer under a key that names a history index (`index`, `invoke_index`,
/// `complete_index`, `*_index`), in document order.
fn indices(v: &Value, out: &mut Vec<u64>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "index" || k.ends_with("_index") {
                    if let Some(i) = x.as_u64() {
                        out.push(i);
                    }
                }
                indices(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| indices(x, out)),
        _ => {}
    }
}
