//! The latency distribution of each node's requests, for the network section of a
//! Maelstrom run's results (`network.latency_ms_per_node`): a node that answers
//! slowly, because it is overloaded, waits on its services or sits behind a lossy
//! link, stands out here where the run-wide latency hides it.

use super::convergence::{quantiles, Quantiles};
use checker::history::{History, Outcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One node's requests: how many completed (ok or fail), and their latency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeLatency {
    pub completed: usize,
    pub latency_ms: Quantiles,
}

/// Per node, the latency of its completed operations (an indeterminate one has no
/// end, so none of its own).
pub fn per_node(history: &History) -> BTreeMap<String, NodeLatency> {
    let mut ns: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for op in &history.ops {
        if let (Some(node), false) = (&op.node, op.outcome == Outcome::Info) {
            ns.entry(node.clone())
                .or_default()
                .push(op.ret.saturating_sub(op.call));
        }
    }
    ns.into_iter()
        .map(|(node, mut v)| {
            v.sort_unstable();
            let latency_ms = quantiles(&v);
            (
                node,
                NodeLatency {
                    completed: v.len(),
                    latency_ms,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn each_nodes_completed_requests_make_its_latency_and_indeterminate_ones_do_not() {
        let ms = 1_000_000u64;
        // (time in ms, type, process, node), in time order.
        let lines = [
            (0, "invoke", 0, "n1"),
            (1, "invoke", 1, "n2"),
            (3, "fail", 1, "n2"),
            (4, "ok", 0, "n1"),
            (5, "invoke", 2, "n1"),
            (7, "info", 2, "n1"),
        ];
        let text: String = lines
            .iter()
            .map(|(t, ty, p, node)| {
                format!(
                    "{{\"type\":\"{ty}\",\"f\":\"read\",\"process\":{p},\"time\":{},\"value\":null,\"node\":\"{node}\"}}\n",
                    t * ms
                )
            })
            .collect();
        let h = parse_jsonl(&text).unwrap();
        let l = per_node(&h);
        assert_eq!((l["n1"].completed, l["n1"].latency_ms.max), (1, 4.0));
        assert_eq!((l["n2"].completed, l["n2"].latency_ms.p50), (1, 2.0));
    }
}
