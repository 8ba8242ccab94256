//! Hinted handoff: hints for an owner that gossip shows alive are sent to it and,
//! once it has stored them, deleted here.

use crate::node::Node;
use std::sync::Arc;

/// Keys handed off per request.
const BATCH: usize = 64;

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.cfg.handoff_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for (owner, entries) in node.hints_by_owner() {
            if !node.is_alive(&owner) {
                continue;
            }
            for batch in entries.chunks(BATCH) {
                if node.cfg.bugs.no_handoff {
                    eprintln!(
                        "dynamo-kv {}: bug no-handoff: dropping {} hints for {owner}",
                        node.id(),
                        batch.len()
                    );
                } else if let Err(e) = node.ask_merge(&owner, batch.to_vec(), None).await {
                    eprintln!("dynamo-kv {}: handoff to {owner} failed: {e}", node.id());
                    // Wait for gossip to show it back rather than retrying every scan.
                    node.suspect(&owner);
                    break;
                }
                let (n, owner, batch) = (node.clone(), owner.clone(), batch.to_vec());
                let removed = tokio::task::spawn_blocking(move || {
                    for e in &batch {
                        let dots: Vec<_> = e.versions.iter().map(|v| v.dot.clone()).collect();
                        n.remove_hint(&owner, &e.key, &dots)?;
                    }
                    anyhow::Ok(())
                })
                .await;
                match removed {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!(
                        "dynamo-kv {}: removing handed-off hints failed: {e:#}",
                        node.id()
                    ),
                    Err(e) => eprintln!(
                        "dynamo-kv {}: removing handed-off hints failed: {e}",
                        node.id()
                    ),
                }
            }
        }
    }
}
