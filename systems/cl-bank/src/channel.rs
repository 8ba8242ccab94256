//! FIFO reliable channels between nodes, over HTTP.
//!
//! Each ordered pair (this node, peer) has one sender task that delivers the queue in
//! order: a batch of consecutive messages per request, each numbered; the receiver
//! applies exactly the next number and skips duplicates, and answers with the last
//! number it applied; the sender drops what was acknowledged and resends the rest. So
//! messages arrive once and in order as long as the peer eventually answers, which is
//! the algorithm's assumption of reliable FIFO channels.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::bank::Msg;
use crate::logging::log;
use crate::node::Node;

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Numbered {
    pub seq: u64,
    #[serde(flatten)]
    pub msg: Msg,
}

#[derive(Serialize, Deserialize)]
pub struct Delivery {
    pub from: String,
    pub messages: Vec<Numbered>,
}

#[derive(Serialize, Deserialize)]
pub struct Ack {
    pub acked: u64,
}

const MAX_BATCH: usize = 256;
const RETRY: Duration = Duration::from_millis(50);

/// Delivers the channel from this node to node `to`, forever.
pub async fn run_sender(node: Arc<Node>, to: usize) {
    let wake = node.wake[&to].clone();
    let addr = node.cfg.peers[to].1.clone();
    let mut failing = false;
    loop {
        let (batch, wait_until) = {
            let st = node.state();
            let q = &st.out[&to];
            let now = Instant::now();
            let batch: Vec<Numbered> = q
                .queue
                .iter()
                .take_while(|m| m.ready_at <= now)
                .take(MAX_BATCH)
                .map(|m| Numbered {
                    seq: m.seq,
                    msg: m.msg.clone(),
                })
                .collect();
            (batch, q.queue.front().map(|m| m.ready_at))
        };
        if batch.is_empty() {
            match wait_until {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), wake.notified()).await;
                }
            }
            continue;
        }
        let body = Delivery {
            from: node.cfg.id.clone(),
            messages: batch,
        };
        let res = node
            .http
            .post(format!("http://{addr}/internal/channel"))
            .json(&body)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        let acked = match res {
            Ok(r) if r.status().is_success() => r.json::<Ack>().await.ok().map(|a| a.acked),
            _ => None,
        };
        match acked {
            Some(acked) => {
                if failing {
                    log(
                        "info",
                        &node.cfg.id,
                        "channel-up",
                        json!({"to": node.cfg.peers[to].0}),
                    );
                    failing = false;
                }
                let mut st = node.state();
                let q = st.out.get_mut(&to).unwrap();
                while q.queue.front().is_some_and(|m| m.seq <= acked) {
                    q.queue.pop_front();
                }
            }
            None => {
                if !failing {
                    log(
                        "warn",
                        &node.cfg.id,
                        "channel-down",
                        json!({"to": node.cfg.peers[to].0, "queued": body.messages.len()}),
                    );
                    failing = true;
                }
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Applies a delivery from another node's sender: each message exactly once, in order.
/// Returns the last sequence number applied on that channel.
pub fn receive(node: &Node, d: Delivery) -> Result<u64, String> {
    let from = node
        .cfg
        .index_of(&d.from)
        .filter(|&i| i != node.cfg.index)
        .ok_or_else(|| format!("unknown sender {:?}", d.from))?;
    let mut st = node.state();
    for m in d.messages {
        let last = st.received[&from];
        if m.seq <= last {
            continue; // a resend of something already applied
        }
        if m.seq != last + 1 {
            break; // a gap: cannot happen with one sender per channel; the sender resends
        }
        st.received.insert(from, m.seq);
        let out = st.bank.receive(from, m.msg);
        node.emit(&mut st, out);
    }
    Ok(st.received[&from])
}
