//! The timeline's node lanes: what the nemesis did to each node (kills, restarts,
//! pauses, resumes, clock bumps and resets, removals from the cluster and additions
//! back), read back from the history's nemesis events, as marks at the instant each
//! took effect and spans while a node was down, paused, on a moved clock or out of
//! the cluster. Partitions and packet faults act on links, not nodes: they stay bands
//! across every lane.

use crate::results::faults::ms;
use checker::history::History;
use nemesis::Fault;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One action on one node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeMark {
    /// The node's lane (its index in `Data::nodes`).
    pub n: usize,
    /// When it took effect (ms): the completion of the nemesis's event.
    pub t: f64,
    /// `kill`, `restart`, `pause`, `resume`, `clock +5000 ms`, `clock-strobe`,
    /// `clock-reset`, `removed`, `added`.
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// For a membership change: the members asked for (from then on, unless `err`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// One action of the nemesis on one node, at the completion of its event.
struct Action {
    t: f64,
    node: String,
    what: String,
    err: Option<String>,
    members: Option<Vec<String>>,
}

/// A node down (killed), paused, on a moved clock or out of the cluster, from `s` to
/// `e` (ms).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NodeSpan {
    pub n: usize,
    pub s: f64,
    pub e: f64,
    /// `down`, `paused`, `clock` or `out`.
    pub state: &'static str,
}

/// The nodes (those operations went to and those the nemesis acted on, in natural
/// order), the marks on them and the spans between marks.
pub fn node_lanes(history: &History, end: f64) -> (Vec<String>, Vec<NodeMark>, Vec<NodeSpan>) {
    let actions = actions(history);
    let mut names: BTreeSet<(usize, String)> = history
        .ops
        .iter()
        .filter_map(|o| o.node.clone())
        .map(|n| (n.len(), n))
        .collect();
    names.extend(actions.iter().map(|a| (a.node.len(), a.node.clone())));
    let nodes: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
    let lane: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let marks: Vec<NodeMark> = actions
        .into_iter()
        .map(|a| NodeMark {
            n: lane[a.node.as_str()],
            t: a.t,
            what: a.what,
            err: a.err,
            members: a.members,
        })
        .collect();
    let spans = spans(&marks, end);
    (nodes, marks, spans)
}

/// Every process, clock or membership action, at the completion of its event (an
/// event that repeats the one before it with the same `f` is its completion:
/// Jepsen's convention, which faultline follows).
fn actions(history: &History) -> Vec<Action> {
    let mut out: Vec<Action> = Vec::new();
    let mut last: Option<(&str, usize)> = None;
    for ev in history.nemesis_events() {
        let t = ms(ev.time);
        if let Some((_, from)) = last.filter(|(f, _)| *f == ev.f) {
            // The final heal's error may be another fault's; its adding back says
            // its own.
            let err = match ev.f.as_str() {
                "heal-all" => ev.value["added_back_error"].as_str().map(String::from),
                _ => ev.error.clone(),
            };
            for a in &mut out[from..] {
                a.t = t;
                a.err = err.clone();
            }
            last = None;
            continue;
        }
        let from = out.len();
        for (node, what, members) in on_nodes(&ev.f, &ev.value) {
            out.push(Action {
                t,
                node,
                what,
                err: ev.error.clone(),
                members,
            });
        }
        last = Some((ev.f.as_str(), from));
    }
    out
}

/// What a nemesis event does to which nodes: each part of a composed `f` with its
/// part of the fault. A value that is not faultline's (an imported history) is read
/// for a `nodes` list or a list of node names. A membership change carries the
/// members asked for; the final heal carries the nodes it adds back (`added_back`).
fn on_nodes(f: &str, value: &Value) -> Vec<(String, String, Option<Vec<String>>)> {
    if f == "heal-all" {
        let added = &value["added_back"];
        return match serde_json::from_value::<Fault>(added.clone()) {
            Ok(Fault::Membership { .. }) => on_nodes("add-members", added),
            _ => Vec::new(),
        };
    }
    let faults = match serde_json::from_value::<Fault>(value.clone()) {
        Ok(Fault::Composed { faults }) => faults.into_iter().map(Some).collect(),
        Ok(fault) => vec![Some(fault)],
        Err(_) => vec![None],
    };
    let mut out = Vec::new();
    for (i, part) in f.split('+').enumerate() {
        let fault = faults.get(i).cloned().flatten();
        let nodes = match &fault {
            Some(fault) => targets(fault),
            None => loose_nodes(value),
        };
        let members = match &fault {
            Some(Fault::Membership { members, .. }) => Some(members.clone()),
            _ => None,
        };
        for (node, delta) in nodes {
            let what = match (part, delta) {
                ("kill" | "kill-all", _) => "kill".to_string(),
                ("restart" | "restart-all", _) => "restart".into(),
                ("pause", _) => "pause".into(),
                ("resume", _) => "resume".into(),
                ("clock-bump", Some(d)) => format!("clock {d:+} ms"),
                ("clock-strobe" | "clock-reset", _) => part.into(),
                ("remove-members", _) => "removed".into(),
                ("add-members", _) => "added".into(),
                _ => continue,
            };
            out.push((node, what, members.clone()));
        }
    }
    out
}

/// The nodes a fault acts on, with the clock delta for a clock bump.
fn targets(fault: &Fault) -> Vec<(String, Option<i64>)> {
    match fault {
        Fault::Kill { nodes }
        | Fault::KillAll { nodes }
        | Fault::KillLeader { nodes, .. }
        | Fault::Pause { nodes }
        | Fault::PauseLeader { nodes, .. }
        | Fault::ClockStrobe { nodes, .. }
        | Fault::Membership { nodes, .. } => nodes.iter().map(|n| (n.clone(), None)).collect(),
        Fault::ClockBump { deltas_ms } => deltas_ms
            .iter()
            .map(|(n, d)| (n.clone(), Some(*d)))
            .collect(),
        _ => Vec::new(),
    }
}

fn loose_nodes(value: &Value) -> Vec<(String, Option<i64>)> {
    let list = value.get("nodes").unwrap_or(value);
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| n.as_str())
                .map(|n| (n.to_string(), None))
                .collect()
        })
        .unwrap_or_default()
}

/// Down from a kill to its restart, paused from a pause to its resume, on a moved
/// clock from a bump or strobe to the reset, out from a removal (even one that
/// failed: it may have happened) to the addition back; one still open runs to `end`.
fn spans(marks: &[NodeMark], end: f64) -> Vec<NodeSpan> {
    let mut open: BTreeMap<(usize, &'static str), f64> = BTreeMap::new();
    let mut out = Vec::new();
    for m in marks {
        let (state, opens) = match m.what.as_str() {
            "kill" => ("down", true),
            "restart" => ("down", false),
            "pause" => ("paused", true),
            "resume" => ("paused", false),
            "removed" => ("out", true),
            // A failed addition leaves the nodes out (or maybe out).
            "added" if m.err.is_some() => continue,
            "added" => ("out", false),
            "clock-reset" => ("clock", false),
            _ => ("clock", true),
        };
        if opens {
            open.entry((m.n, state)).or_insert(m.t);
        } else if let Some(s) = open.remove(&(m.n, state)) {
            out.push(NodeSpan {
                n: m.n,
                s,
                e: m.t,
                state,
            });
        }
    }
    out.extend(open.into_iter().map(|((n, state), s)| NodeSpan {
        n,
        s,
        e: end,
        state,
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn kills_pauses_and_clock_bumps_become_marks_and_spans_on_their_nodes() {
        let h = parse_jsonl(
            r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read","node":"n10"}
{"index":1,"time":1000000,"process":0,"type":"ok","f":"read","node":"n10"}
{"index":2,"time":2000000,"process":"nemesis","type":"info","f":"kill","value":{"fault":"kill","nodes":["n2"]}}
{"index":3,"time":3000000,"process":"nemesis","type":"info","f":"kill","value":{"fault":"kill","nodes":["n2"]}}
{"index":4,"time":4000000,"process":"nemesis","type":"info","f":"restart","value":{"fault":"kill","nodes":["n2"]}}
{"index":5,"time":5000000,"process":"nemesis","type":"info","f":"restart","value":{"fault":"kill","nodes":["n2"]}}
{"index":6,"time":6000000,"process":"nemesis","type":"info","f":"pause+clock-bump","value":{"fault":"composed","faults":[{"fault":"pause","nodes":["n1"]},{"fault":"clock-bump","deltas_ms":{"n1":-3000}}]}}
{"index":7,"time":7000000,"process":"nemesis","type":"info","f":"pause+clock-bump","value":{"fault":"composed","faults":[{"fault":"pause","nodes":["n1"]},{"fault":"clock-bump","deltas_ms":{"n1":-3000}}]}}
{"index":8,"time":8000000,"process":"nemesis","type":"info","f":"start-partition","value":{"n1":["n2"]}}
"#,
        )
        .unwrap();
        let (nodes, marks, spans) = node_lanes(&h, 10.0);
        assert_eq!(nodes, vec!["n1", "n2", "n10"]);
        let got: Vec<(usize, f64, &str)> =
            marks.iter().map(|m| (m.n, m.t, m.what.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (1, 3.0, "kill"),
                (1, 5.0, "restart"),
                (0, 7.0, "pause"),
                (0, 7.0, "clock -3000 ms")
            ]
        );
        let got: Vec<(usize, f64, f64, &str)> =
            spans.iter().map(|s| (s.n, s.s, s.e, s.state)).collect();
        assert!(got.contains(&(1, 3.0, 5.0, "down")), "{got:?}");
        assert!(got.contains(&(0, 7.0, 10.0, "paused")), "{got:?}");
        assert!(got.contains(&(0, 7.0, 10.0, "clock")), "{got:?}");
    }

    #[test]
    fn membership_changes_mark_their_nodes_with_the_members_after_and_span_the_time_out_until_an_addition_succeeds(
    ) {
        let h = parse_jsonl(
            r#"{"index":0,"time":1000000,"process":"nemesis","type":"info","f":"start-partition+remove-members","value":{"fault":"composed","faults":[{"fault":"partition","kind":"halves","grudge":{"n1":["n3"]}},{"fault":"membership","change":"remove","nodes":["n4","n5"],"members":["n1","n2","n3"]}]}}
{"index":1,"time":2000000,"process":"nemesis","type":"info","f":"start-partition+remove-members","value":{"fault":"composed","faults":[{"fault":"partition","kind":"halves","grudge":{"n1":["n3"]}},{"fault":"membership","change":"remove","nodes":["n4","n5"],"members":["n1","n2","n3"]}]}}
{"index":2,"time":6000000,"process":"nemesis","type":"info","f":"add-members","value":{"fault":"membership","change":"add","nodes":["n4","n5"],"members":["n1","n2","n3","n4","n5"]}}
{"index":3,"time":7000000,"process":"nemesis","type":"info","f":"add-members","value":{"fault":"membership","change":"add","nodes":["n4","n5"],"members":["n1","n2","n3","n4","n5"]},"error":"refused"}
{"index":4,"time":8000000,"process":"nemesis","type":"info","f":"add-members","value":{"fault":"membership","change":"add","nodes":["n4","n5"],"members":["n1","n2","n3","n4","n5"]}}
{"index":5,"time":9000000,"process":"nemesis","type":"info","f":"add-members","value":{"fault":"membership","change":"add","nodes":["n4","n5"],"members":["n1","n2","n3","n4","n5"]}}
"#,
        )
        .unwrap();
        let (nodes, marks, spans) = node_lanes(&h, 10.0);
        assert_eq!(nodes, vec!["n4", "n5"]);
        let got: Vec<(usize, f64, &str, usize, bool)> = marks
            .iter()
            .map(|m| {
                let members = m.members.as_ref().map_or(0, Vec::len);
                (m.n, m.t, m.what.as_str(), members, m.err.is_some())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (0, 2.0, "removed", 3, false),
                (1, 2.0, "removed", 3, false),
                (0, 7.0, "added", 5, true),
                (1, 7.0, "added", 5, true),
                (0, 9.0, "added", 5, false),
                (1, 9.0, "added", 5, false),
            ]
        );
        let got: Vec<(usize, f64, f64, &str)> =
            spans.iter().map(|s| (s.n, s.s, s.e, s.state)).collect();
        // The failed addition at 7 ms left them out until the one at 9 ms.
        assert_eq!(got, vec![(0, 2.0, 9.0, "out"), (1, 2.0, 9.0, "out")]);
    }

    #[test]
    fn the_final_heal_adding_a_node_back_ends_its_time_out() {
        let h = parse_jsonl(
            r#"{"index":0,"time":1000000,"process":"nemesis","type":"info","f":"remove-members","value":{"fault":"membership","change":"remove","nodes":["n3"],"members":["n1","n2"]}}
{"index":1,"time":2000000,"process":"nemesis","type":"info","f":"remove-members","value":{"fault":"membership","change":"remove","nodes":["n3"],"members":["n1","n2"]}}
{"index":2,"time":6000000,"process":"nemesis","type":"info","f":"heal-all","value":{"faults":"out of the cluster n3","added_back":{"fault":"membership","change":"add","nodes":["n3"],"members":["n1","n2","n3"]}}}
{"index":3,"time":7000000,"process":"nemesis","type":"info","f":"heal-all","value":{"faults":"out of the cluster n3","added_back":{"fault":"membership","change":"add","nodes":["n3"],"members":["n1","n2","n3"]}},"error":"restart of n1 failed"}
"#,
        )
        .unwrap();
        let (nodes, marks, spans) = node_lanes(&h, 10.0);
        assert_eq!(nodes, vec!["n3"]);
        let got: Vec<(f64, &str, bool)> = marks
            .iter()
            .map(|m| (m.t, m.what.as_str(), m.err.is_some()))
            .collect();
        assert_eq!(got, vec![(2.0, "removed", false), (7.0, "added", false)]);
        let got: Vec<(f64, f64, &str)> = spans.iter().map(|s| (s.s, s.e, s.state)).collect();
        assert_eq!(got, vec![(2.0, 7.0, "out")]);
    }
}
