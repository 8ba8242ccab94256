//! Anti-entropy: periodically compare the Merkle tree of the keys this node shares
//! with a random live peer against the peer's, descending level by level into the
//! subtrees that differ, then exchange the keys of the differing leaves both ways.

use crate::node::Node;
use crate::rpc::{
    Empty, MergeRequest, MerkleRequest, MerkleResponse, RangeRequest, RangeResponse, RpcError,
};
use rand::seq::SliceRandom;
use std::sync::Arc;
use std::time::Duration;

/// Keys pushed to a peer per request, to keep request bodies small.
const PUSH_BATCH: usize = 256;

pub async fn run(node: Arc<Node>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let peers: Vec<String> = node
            .cfg
            .members
            .keys()
            .filter(|p| *p != node.id() && node.is_alive(p))
            .cloned()
            .collect();
        let Some(peer) = peers.choose(&mut rand::thread_rng()).cloned() else {
            continue;
        };
        if let Err(e) = sync_with(&node, &peer).await {
            eprintln!("dynamo-kv {}: anti-entropy with {peer}: {e}", node.id());
        }
    }
}

/// One exchange with `peer`; returns how many differing leaves were repaired.
pub async fn sync_with(node: &Arc<Node>, peer: &str) -> Result<usize, RpcError> {
    let depth = node.cfg.merkle_depth;
    let local = {
        let (n, p) = (node.clone(), peer.to_string());
        tokio::task::spawn_blocking(move || n.merkle_tree(&p, depth))
            .await
            .map_err(|e| RpcError::Unknown(format!("building the Merkle tree: {e}")))?
    };
    let mut frontier = vec![0usize];
    let mut leaves = Vec::new();
    while !frontier.is_empty() {
        let req = MerkleRequest {
            peer: node.id().to_string(),
            depth,
            nodes: frontier.clone(),
        };
        let resp: MerkleResponse = node.call(peer, "/internal/merkle", &req).await?;
        let mut next = Vec::new();
        for (i, remote) in frontier.iter().zip(resp.hashes) {
            let mine = local.hash(*i).map(hex);
            if mine == remote {
                continue;
            }
            if local.is_leaf(*i) {
                leaves.push(local.leaf_number(*i));
            } else {
                next.push(2 * i + 1);
                next.push(2 * i + 2);
            }
        }
        frontier = next;
    }
    if leaves.is_empty() {
        return Ok(0);
    }
    let req = RangeRequest {
        peer: node.id().to_string(),
        depth,
        leaves: leaves.clone(),
    };
    let theirs: RangeResponse = node.call(peer, "/internal/range", &req).await?;
    // Pull: fold their versions into ours.
    if !theirs.entries.is_empty() {
        node.ask_merge(node.id(), theirs.entries, None).await?;
    }
    // Push: ours (now including theirs) to them.
    let mine = {
        let (n, p, l) = (node.clone(), peer.to_string(), leaves.clone());
        tokio::task::spawn_blocking(move || n.range(&p, depth, &l))
            .await
            .map_err(|e| RpcError::Unknown(format!("collecting the range: {e}")))?
    };
    for batch in mine.chunks(PUSH_BATCH) {
        let req = MergeRequest {
            entries: batch.to_vec(),
            hint_for: None,
        };
        let _: Empty = node.call(peer, "/internal/merge", &req).await?;
    }
    Ok(leaves.len())
}

pub fn hex(h: crate::merkle::Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}
