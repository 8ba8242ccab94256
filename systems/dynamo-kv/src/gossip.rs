//! The gossip loop: every round, bump our heartbeat and swap views with one random peer.

use crate::node::Node;
use crate::rpc::GossipMessage;
use rand::seq::SliceRandom;
use std::sync::Arc;
use std::time::Instant;

pub async fn run(node: Arc<Node>) {
    let mut tick = tokio::time::interval(node.cfg.gossip_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (view, peer) = {
            let mut m = node.membership.lock().unwrap();
            m.tick(Instant::now());
            let others: Vec<String> = m.members().into_iter().filter(|n| n != node.id()).collect();
            (m.view(), others.choose(&mut rand::thread_rng()).cloned())
        };
        let Some(peer) = peer else { continue };
        let node = node.clone();
        // A slow peer must not delay our own heartbeat.
        tokio::spawn(async move {
            match node
                .call::<_, GossipMessage>(&peer, "/internal/gossip", &GossipMessage { view })
                .await
            {
                Ok(reply) => node
                    .membership
                    .lock()
                    .unwrap()
                    .merge(&reply.view, Instant::now()),
                Err(_) => node.suspect(&peer),
            }
        });
    }
}
