//! Who is primary: recovery after a restart, and promotion when the primary falls silent.
//!
//! There is no consensus here, on purpose: a backup that stops hearing the primary cannot
//! tell a dead primary from a partition, so `--failover auto` can create two primaries.
//! Epochs make the damage bounded and visible: the first message between the two
//! deposes the one with the older epoch, and its unreplicated writes are discarded by
//! the full install that follows.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use crate::config::Failover;
use crate::logging::log;
use crate::node::{Node, Position, Role};
use crate::store::Store;

/// A node that owns its epoch at start-up asks its peers whether someone moved on
/// while it was down, before it serves as primary.
pub async fn recover(node: Arc<Node>) {
    if node.core().role != Role::Recovering {
        return;
    }
    let positions = survey(&node).await;
    let mut c = node.core();
    if c.role != Role::Recovering {
        return; // a primary of a newer epoch reached us meanwhile
    }
    let newest = positions.iter().map(|(_, p)| p.epoch).max().unwrap_or(0);
    if newest > c.epoch {
        node.adopt_epoch(&mut c, newest, "a peer is in a newer epoch");
    } else {
        for link in &node.links {
            link.reset(c.epoch);
        }
        c.role = Role::Primary;
        log(
            "info",
            &node.cfg.id,
            "primary",
            json!({"epoch": c.epoch, "seq": c.seq, "reachable": positions.len()}),
        );
    }
}

/// With `--failover auto`, watches the primary's heartbeats and promotes this node when
/// it is the first live successor of a silent primary.
pub async fn monitor(node: Arc<Node>) {
    if node.cfg.failover != Failover::Auto {
        return;
    }
    loop {
        tokio::time::sleep(node.cfg.heartbeat).await;
        let (epoch, silent, heard) = {
            let c = node.core();
            if c.role != Role::Backup {
                continue;
            }
            (c.epoch, c.last_heard.elapsed(), c.heard)
        };
        let rank = node.cfg.succession_rank(node.cfg.owner(epoch)) as u32;
        if silent > node.cfg.failover_timeout * (rank + 1) {
            promote(&node, epoch, heard).await;
        }
    }
}

async fn promote(node: &Arc<Node>, epoch: u64, heard: u64) {
    node.core().role = Role::Recovering;
    let positions = survey(node).await;
    // The most advanced copy among the reachable nodes: a sync write acknowledged by the
    // old primary is on every backup that was live then, which need not include us.
    let me = node.position();
    let best = positions
        .iter()
        .filter(|(_, p)| (p.synced_epoch, p.seq) > (me.synced_epoch, me.seq))
        .max_by_key(|(_, p)| (p.synced_epoch, p.seq));
    let pulled: Option<(String, u64, Store)> = match best {
        Some((id, _)) => dump(node, id)
            .await
            .map(|(seq, store)| (id.clone(), seq, store)),
        None => None,
    };
    let newest = positions.iter().map(|(_, p)| p.epoch).max().unwrap_or(0);
    let mut c = node.core();
    if c.role != Role::Recovering || c.epoch != epoch || c.heard != heard {
        if c.role == Role::Recovering {
            c.role = Role::Backup;
        }
        return; // the primary (or a newer one) spoke meanwhile
    }
    if newest > c.epoch {
        node.adopt_epoch(&mut c, newest, "a peer is in a newer epoch");
        return;
    }
    if best.is_some() && pulled.is_none() {
        c.role = Role::Backup; // the better copy vanished mid-way; try again later
        c.last_heard = Instant::now() - node.cfg.failover_timeout;
        return;
    }
    let new_epoch = node.cfg.next_own_epoch(c.epoch);
    if let Some((from, seq, store)) = &pulled {
        log(
            "info",
            &node.cfg.id,
            "pulled-state",
            json!({"from": from, "seq": seq}),
        );
        c.store = store.clone();
        c.seq = *seq;
    }
    c.epoch = new_epoch;
    c.synced_epoch = new_epoch;
    c.rewrite_log();
    for link in &node.links {
        link.reset(new_epoch);
    }
    c.role = Role::Primary;
    log(
        "info",
        &node.cfg.id,
        "promoted",
        json!({"epoch": new_epoch, "old_epoch": epoch, "seq": c.seq, "reachable": positions.len()}),
    );
}

/// The positions of every peer that answers within the peer timeout.
async fn survey(node: &Arc<Node>) -> Vec<(String, Position)> {
    let asks = node.cfg.others().map(|(id, addr)| {
        let node = node.clone();
        let (id, addr) = (id.clone(), addr.clone());
        async move {
            if node.is_isolated_from(&id) {
                return None;
            }
            let r = node
                .http
                .get(format!("http://{addr}/internal/status"))
                .header("x-pb-from", node.cfg.id.as_str())
                .timeout(node.cfg.peer_timeout)
                .send()
                .await
                .ok()?;
            let p: Position = r.json().await.ok()?;
            Some((id, p))
        }
    });
    let all: Vec<_> = futures_join(asks).await;
    all.into_iter().flatten().collect()
}

async fn dump(node: &Node, id: &str) -> Option<(u64, Store)> {
    if node.is_isolated_from(id) {
        return None;
    }
    let addr = node.cfg.addr_of(id)?;
    let r = node
        .http
        .get(format!("http://{addr}/internal/dump"))
        .header("x-pb-from", node.cfg.id.as_str())
        .timeout(node.cfg.peer_timeout * 4)
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    let seq = v["seq"].as_u64()?;
    let store: Store = serde_json::from_value(v["store"].clone()).ok()?;
    Some((seq, store))
}

/// Runs futures concurrently and collects their outputs in order.
async fn futures_join<F: std::future::Future + Send + 'static>(
    fs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}
