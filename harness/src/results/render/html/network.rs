//! The report's network section, for runs whose clients count their network
//! (Maelstrom): messages per operation as Maelstrom reports them, and per node
//! what it sent and received and how fast its requests were answered, so that a
//! chatty or slow node shows at a glance.

use super::esc;
use crate::results::convergence::{Convergence, Quantiles};
use crate::results::network::NodeLatency;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use workloads::maelstrom::stats::RelayCounts;

/// The parts of `results.json`'s `network` the section shows.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Network {
    operations: u64,
    server_messages: u64,
    all_messages: u64,
    server_messages_per_operation: f64,
    all_messages_per_operation: f64,
    unmatched_replies: u64,
    service_requests: BTreeMap<String, u64>,
    nodes: BTreeMap<String, RelayCounts>,
    requests_per_node: BTreeMap<String, u64>,
    latency_ms_per_node: BTreeMap<String, NodeLatency>,
    convergence: Option<Convergence>,
}

/// A row's latency cells.
fn cells(q: &Quantiles) -> String {
    format!(
        "<td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td>",
        q.p50, q.p95, q.p99, q.max
    )
}

/// The section; empty when the run counted no network.
pub fn section(network: Option<&Value>) -> String {
    let Some(n) = network.and_then(|v| Network::deserialize(v).ok()) else {
        return String::new();
    };
    let mut out = String::from("<section id=\"network\"><h2>Network</h2>\n");
    let services: Vec<String> = n
        .service_requests
        .iter()
        .map(|(s, c)| format!("{} {c}", esc(s)))
        .collect();
    let _ = writeln!(
        out,
        "<p>{} operations; {} messages between nodes ({:.2} per operation); {} messages in all ({:.2} per operation); service requests: {}; {} replies no request waited for.</p>",
        n.operations,
        n.server_messages,
        n.server_messages_per_operation,
        n.all_messages,
        n.all_messages_per_operation,
        if services.is_empty() { "none".to_string() } else { services.join(", ") },
        n.unmatched_replies
    );
    out.push_str(
        "<table id=\"net-nodes\"><tr><th>node</th><th>requests</th><th>sent to nodes</th><th>sent to clients and services</th><th>received</th><th>dropped</th><th>completed</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th></tr>",
    );
    let mut names: Vec<&String> = n.nodes.keys().chain(n.latency_ms_per_node.keys()).collect();
    names.sort_by_key(|id| (id.len(), id.to_string()));
    names.dedup();
    let none = RelayCounts::default();
    let no_latency = NodeLatency::default();
    for id in names {
        let c = n.nodes.get(id).unwrap_or(&none);
        let l = n.latency_ms_per_node.get(id).unwrap_or(&no_latency);
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}</tr>",
            esc(id),
            n.requests_per_node.get(id).copied().unwrap_or(0),
            c.to_nodes,
            c.to_controller,
            c.received,
            c.dropped,
            l.completed,
            cells(&l.latency_ms)
        );
    }
    out.push_str("</table>\n");
    if let Some(c) = &n.convergence {
        let _ = writeln!(
            out,
            "<p>Convergence: {} of {} acknowledged elements reached every node; stable latency (ms):</p><table id=\"net-convergence\"><tr><th>p50</th><th>p95</th><th>p99</th><th>max</th></tr><tr>{}</tr></table>",
            c.reached_every_node,
            c.acknowledged,
            cells(&c.stable_latency_ms)
        );
    }
    out.push_str("</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_network_section_shows_messages_per_operation_and_each_nodes_counts_and_latency() {
        let net = json!({
            "operations": 10, "server_messages": 25, "all_messages": 60,
            "server_messages_per_operation": 2.5, "all_messages_per_operation": 6.0,
            "service_requests": {"lin-kv": 4},
            "nodes": {"n1": {"to_nodes": 20, "to_controller": 9, "received": 30, "dropped": 1}},
            "requests_per_node": {"n1": 10},
            "latency_ms_per_node": {"n1": {"completed": 9, "latency_ms": {"p50": 1.5, "p95": 3.0, "p99": 4.0, "max": 9.0}}},
            "convergence": {"acknowledged": 5, "reached_every_node": 4, "stable_latency_ms": {"p50": 10.0, "p95": 20.0, "p99": 30.0, "max": 40.0}}
        });
        let s = section(Some(&net));
        assert!(
            s.contains("2.50 per operation") && s.contains("lin-kv 4"),
            "{s}"
        );
        assert!(
            s.contains("<tr><td>n1</td><td>10</td><td>20</td><td>9</td><td>30</td><td>1</td><td>9</td><td>1.5</td><td>3.0</td><td>4.0</td><td>9.0</td></tr>"),
            "{s}"
        );
        assert!(s.contains("4 of 5 acknowledged"), "{s}");
        assert_eq!(section(None), "");
    }
}
