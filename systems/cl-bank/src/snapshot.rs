//! The initiator's side of a global snapshot: start it here, collect every node's part
//! once its markers have arrived everywhere, and combine the parts into the global state.
//! Also the deliberately wrong `--bug naive-snapshot`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bank::LocalSnapshot;
use crate::node::Node;

pub enum SnapshotError {
    /// Some node's part did not complete (or could not be fetched) in time.
    Timeout(String),
}

/// Runs a Chandy-Lamport snapshot initiated by this node and returns the global state.
pub async fn chandy_lamport(node: &Arc<Node>) -> Result<Value, SnapshotError> {
    let id = node.mint("s");
    {
        let mut st = node.state();
        let markers = st.bank.start_snapshot(&id);
        node.emit(&mut st, markers);
    }
    let deadline = Instant::now() + node.cfg.request_timeout;
    let mut parts: BTreeMap<usize, LocalSnapshot> = BTreeMap::new();
    loop {
        for p in 0..node.cfg.peers.len() {
            if parts.contains_key(&p) {
                continue;
            }
            if let Some(part) = fetch_part(node, p, &id, deadline).await {
                if part.complete {
                    parts.insert(p, part);
                }
            }
        }
        if parts.len() == node.cfg.peers.len() {
            break;
        }
        if Instant::now() >= deadline {
            let missing: Vec<&str> = (0..node.cfg.peers.len())
                .filter(|p| !parts.contains_key(p))
                .map(|p| node.cfg.peers[p].0.as_str())
                .collect();
            return Err(SnapshotError::Timeout(format!(
                "snapshot {id}: no complete part from {missing:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(combine(node, &id, &parts))
}

async fn fetch_part(
    node: &Arc<Node>,
    p: usize,
    id: &str,
    deadline: Instant,
) -> Option<LocalSnapshot> {
    if p == node.cfg.index {
        return node.state().bank.snapshot(id).cloned();
    }
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(50));
    let url = format!("http://{}/internal/snapshot/{id}", node.cfg.peers[p].1);
    let r = node.http.get(url).timeout(left).send().await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

/// The global state: every account's recorded balance, every channel's recorded credits
/// (keyed `"<sender>-><receiver>"`, every channel listed), their sum and the total.
fn combine(node: &Node, id: &str, parts: &BTreeMap<usize, LocalSnapshot>) -> Value {
    let mut balances = BTreeMap::new();
    let mut channels = serde_json::Map::new();
    let mut in_flight = 0i64;
    for (&p, part) in parts {
        for (a, b) in &part.balances {
            balances.insert(*a, *b);
        }
        for (&from, credits) in &part.channels {
            in_flight += credits.iter().map(|c| c.amount).sum::<i64>();
            channels.insert(
                format!("{}->{}", node.cfg.peers[from].0, node.cfg.peers[p].0),
                json!(credits),
            );
        }
    }
    let total = balances.values().sum::<i64>() + in_flight;
    json!({
        "snapshot": id,
        "initiator": node.cfg.id,
        "balances": balances.iter().map(|(a, b)| (a.to_string(), json!(b))).collect::<serde_json::Map<_, _>>(),
        "channels": channels,
        "in_flight": in_flight,
        "total": total,
    })
}

/// `--bug naive-snapshot`: every node's current local balances, read one by one without
/// markers. Credits still travelling between nodes are in nobody's balance, so the total
/// comes out short whenever a transfer is in flight.
pub async fn naive(node: &Arc<Node>) -> Result<Value, SnapshotError> {
    let deadline = Instant::now() + node.cfg.request_timeout;
    let mut all: BTreeMap<u64, i64> = BTreeMap::new();
    for (p, (id, addr)) in node.cfg.peers.iter().enumerate() {
        let local: BTreeMap<u64, i64> = if p == node.cfg.index {
            node.state().bank.balances().clone()
        } else {
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(50));
            let r = node
                .http
                .get(format!("http://{addr}/balances"))
                .timeout(left)
                .send()
                .await;
            let v: Option<Value> = match r {
                Ok(r) if r.status().is_success() => r.json().await.ok(),
                _ => None,
            };
            let Some(b) = v.and_then(|v| {
                serde_json::from_value::<BTreeMap<String, i64>>(v["balances"].clone()).ok()
            }) else {
                return Err(SnapshotError::Timeout(format!(
                    "naive snapshot: no balances from {id}"
                )));
            };
            b.into_iter()
                .filter_map(|(a, v)| a.parse().ok().map(|a| (a, v)))
                .collect()
        };
        all.extend(local);
    }
    let total: i64 = all.values().sum();
    let balances: serde_json::Map<String, Value> =
        all.iter().map(|(a, b)| (a.to_string(), json!(b))).collect();
    Ok(json!({
        "snapshot": node.mint("naive"),
        "initiator": node.cfg.id,
        "balances": balances,
        "channels": {},
        "in_flight": 0,
        "total": total,
        "naive": true,
    }))
}
