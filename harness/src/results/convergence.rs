//! How long each acknowledged element of a grow-only set (Maelstrom's broadcast and
//! g-set) took to reach every node: Maelstrom's stable latency, measured on real
//! reads. An element is stable on a node from the first read (invoked after the add
//! was) from which on every read of that node holds it; its latency is the latest of
//! those instants over all nodes, minus the add's invocation. An element that some
//! node's last read lacks never became stable there (the eventual check says which).

use checker::history::{History, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// Adds acknowledged.
    pub acknowledged: usize,
    /// Of those, elements every node's reads held from some time on.
    pub reached_every_node: usize,
    /// Stable latency over the elements that reached every node, in milliseconds.
    pub stable_latency_ms: Quantiles,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// One node's successful reads: invocation, completion, elements.
type Reads = Vec<(u64, u64, HashSet<i64>)>;

/// The convergence of the set elements in `history` (`None` without any add).
pub fn convergence(history: &History) -> Option<Convergence> {
    let mut reads: BTreeMap<&str, Reads> = BTreeMap::new();
    let mut adds = Vec::new();
    for op in history.ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        match op.f.as_str() {
            "add" => adds.extend(op.input.as_i64().map(|e| (e, op.call))),
            f if f == "read" || f == checker::consistency::FINAL_READ_F => {
                let Some(node) = op.node.as_deref() else {
                    continue;
                };
                let set = op.output.as_array().into_iter().flatten();
                let set = set.filter_map(|v| v.as_i64()).collect();
                reads.entry(node).or_default().push((op.call, op.ret, set));
            }
            _ => {}
        }
    }
    if adds.is_empty() {
        return None;
    }
    reads.values_mut().for_each(|r| r.sort_by_key(|x| x.0));
    let mut latencies: Vec<u64> = adds
        .iter()
        .filter_map(|&(e, t0)| {
            let per_node = reads.values().map(|r| stable_on(r, e, t0));
            per_node
                .collect::<Option<Vec<u64>>>()
                .map(|v| v.into_iter().max().unwrap_or(t0).saturating_sub(t0))
        })
        .collect();
    latencies.sort_unstable();
    Some(Convergence {
        acknowledged: adds.len(),
        reached_every_node: latencies.len(),
        stable_latency_ms: quantiles(&latencies),
    })
}

/// When element `e`, added at `t0`, became stable on a node with `reads`; `None`
/// when its last read lacks it (or it has no read after the add).
fn stable_on(reads: &Reads, e: i64, t0: u64) -> Option<u64> {
    let after: Vec<&(u64, u64, HashSet<i64>)> = reads.iter().filter(|r| r.1 > t0).collect();
    let last = after.last()?;
    if !last.2.contains(&e) {
        return None;
    }
    let from = after
        .iter()
        .rposition(|r| !r.2.contains(&e))
        .map_or(0, |i| i + 1);
    Some(after[from].0.max(t0))
}

pub(crate) fn quantiles(sorted_ns: &[u64]) -> Quantiles {
    let at = |q: f64| {
        if sorted_ns.is_empty() {
            return 0.0;
        }
        let i = ((sorted_ns.len() - 1) as f64 * q).round() as usize;
        sorted_ns[i] as f64 / 1e6
    };
    Quantiles {
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        max: at(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn an_element_is_stable_once_every_nodes_reads_hold_it_and_never_if_one_lost_it() {
        let ms = 1_000_000u64;
        let lines = [
            (0, "invoke", "add", "1", "n1"),
            (1, "ok", "add", "1", "n1"),
            (2, "invoke", "add", "2", "n1"),
            (3, "ok", "add", "2", "n1"),
            // n2 lacks 1 at 10 ms, holds it from 20 ms; never sees 2.
            (10, "invoke", "read", "null", "n2"),
            (11, "ok", "read", "[]", "n2"),
            (20, "invoke", "read", "null", "n2"),
            (21, "ok", "read", "[1]", "n2"),
            (5, "invoke", "read", "null", "n1"),
            (6, "ok", "read", "[1,2]", "n1"),
        ];
        let mut text = String::new();
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|l| l.0);
        for (t, ty, f, v, node) in sorted {
            let process = if node == "n1" && f == "add" {
                0
            } else if node == "n1" {
                1
            } else {
                2
            };
            text.push_str(&format!(
                "{{\"type\":\"{ty}\",\"f\":\"{f}\",\"process\":{process},\"time\":{},\"value\":{v},\"node\":\"{node}\"}}\n",
                t * ms
            ));
        }
        let h = parse_jsonl(&text).unwrap();
        let c = convergence(&h).unwrap();
        assert_eq!((c.acknowledged, c.reached_every_node), (2, 1));
        // 1 was added at 0 ms and stable on n2 from the read invoked at 20 ms.
        assert_eq!(c.stable_latency_ms.max, 20.0);
    }
}
