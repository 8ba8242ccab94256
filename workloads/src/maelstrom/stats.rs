//! Network statistics of a Maelstrom run, as Maelstrom reports them (messages per
//! operation, between servers and in all) and per node. Relays count what they carry
//! and send the cumulative counts to the switchboard every half second, tagged with
//! their process id: a restarted node's new relay starts from zero, so the counts of
//! its earlier incarnations are kept aside and added. Counts a relay made after its
//! last report before a kill are lost (at most half a second's worth).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One relay's counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RelayCounts {
    /// Messages the node sent to other nodes.
    pub to_nodes: u64,
    /// Messages the node sent to clients and services.
    pub to_controller: u64,
    /// Messages the node received (from nodes, clients and services).
    pub received: u64,
    /// Lines the node wrote that could not be sent (not JSON, no `dest`, too long).
    pub dropped: u64,
}

impl RelayCounts {
    fn add(&mut self, o: &RelayCounts) {
        self.to_nodes += o.to_nodes;
        self.to_controller += o.to_controller;
        self.received += o.received;
        self.dropped += o.dropped;
    }
}

#[derive(Debug, Default)]
pub struct NetStats {
    /// Per node: the current incarnation's process id and counts.
    current: HashMap<String, (u64, RelayCounts)>,
    /// Per node: the sum over its earlier incarnations.
    earlier: HashMap<String, RelayCounts>,
    /// Client requests sent, by node, and of them those that got any reply.
    requests: BTreeMap<String, (u64, u64)>,
    /// Datagrams to the switchboard that were not JSON.
    pub malformed: u64,
    /// Replies to clients that no request was waiting for (late, or duplicated).
    pub unmatched_replies: u64,
}

impl NetStats {
    /// A relay's cumulative report.
    pub fn relay_report(&mut self, node: &str, body: &Value) {
        let incarnation = body["incarnation"].as_u64().unwrap_or(0);
        let to_nodes = body["to_nodes"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        let counts = RelayCounts {
            to_nodes,
            to_controller: body["to_controller"].as_u64().unwrap_or(0),
            received: body["received"].as_u64().unwrap_or(0),
            dropped: body["dropped"].as_u64().unwrap_or(0),
        };
        match self.current.get_mut(node) {
            Some((inc, c)) if *inc == incarnation => *c = counts,
            Some((inc, c)) => {
                self.earlier.entry(node.to_string()).or_default().add(c);
                *inc = incarnation;
                *c = counts;
            }
            None => {
                self.current.insert(node.to_string(), (incarnation, counts));
            }
        }
    }

    /// A client request to `node`, and whether any reply came.
    pub fn client_request(&mut self, node: &str, answered: bool) {
        let e = self.requests.entry(node.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(answered);
    }

    /// Per node, every incarnation summed.
    pub fn per_node(&self) -> BTreeMap<String, RelayCounts> {
        let mut out: BTreeMap<String, RelayCounts> = BTreeMap::new();
        for (node, (_, c)) in &self.current {
            out.entry(node.clone()).or_default().add(c);
        }
        for (node, c) in &self.earlier {
            out.entry(node.clone()).or_default().add(c);
        }
        out
    }

    /// The statistics as results.json keeps them.
    pub fn to_json(&self, service_requests: &HashMap<&'static str, u64>) -> Value {
        let nodes = self.per_node();
        let server: u64 = nodes.values().map(|c| c.to_nodes).sum();
        let requests: u64 = self.requests.values().map(|r| r.0).sum();
        let replies: u64 = self.requests.values().map(|r| r.1).sum();
        let services: u64 = service_requests.values().sum();
        // Every message on the network: client requests, node-to-node messages, and
        // what nodes sent to clients and services, plus the services' answers.
        let to_controller: u64 = nodes.values().map(|c| c.to_controller).sum();
        let all = requests + server + to_controller + services;
        let per_op = |n: u64| {
            if requests == 0 {
                0.0
            } else {
                n as f64 / requests as f64
            }
        };
        serde_json::json!({
            "operations": requests,
            "operations_answered": replies,
            "server_messages": server,
            "all_messages": all,
            "server_messages_per_operation": per_op(server),
            "all_messages_per_operation": per_op(all),
            "service_requests": service_requests,
            "nodes": nodes,
            "requests_per_node": self.requests.iter().map(|(n, r)| (n.clone(), r.0)).collect::<BTreeMap<_, _>>(),
            "unmatched_replies": self.unmatched_replies,
            "malformed_datagrams": self.malformed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_restarted_relays_counts_add_to_its_earlier_incarnations() {
        let mut s = NetStats::default();
        let report = |inc: u64, n: u64| json!({"incarnation": inc, "to_nodes": {"n2": n}, "to_controller": 1, "received": 2});
        s.relay_report("n1", &report(10, 5));
        s.relay_report("n1", &report(10, 7)); // cumulative: replaces
        s.relay_report("n1", &report(11, 3)); // restarted
        let n1 = &s.per_node()["n1"];
        assert_eq!((n1.to_nodes, n1.to_controller, n1.received), (10, 2, 4));
        s.client_request("n1", true);
        s.client_request("n1", false);
        let j = s.to_json(&HashMap::new());
        assert_eq!(j["server_messages_per_operation"], json!(5.0));
    }
}
