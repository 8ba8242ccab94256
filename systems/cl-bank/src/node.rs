//! The node's shared state: the bank and the outgoing channel queues live under one lock,
//! so the order in which events happen at this node is exactly the order in which their
//! messages enter each channel. That is what makes a marker separate "before the
//! snapshot" from "after" on every channel.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::Notify;

use crate::bank::{Bank, Msg};
use crate::config::Config;

/// A message waiting on an outgoing channel until it is acknowledged by the receiver.
pub struct Queued {
    pub seq: u64,
    pub msg: Msg,
    /// Not delivered before this instant (`--channel-delay-ms`); never earlier than the
    /// message before it, so delays keep FIFO order.
    pub ready_at: Instant,
}

#[derive(Default)]
pub struct OutQueue {
    pub next_seq: u64,
    pub queue: VecDeque<Queued>,
    last_ready: Option<Instant>,
}

pub struct State {
    pub bank: Bank,
    /// Outgoing channel queues by receiver index.
    pub out: BTreeMap<usize, OutQueue>,
    /// Per incoming channel (sender index): the last sequence number delivered.
    pub received: BTreeMap<usize, u64>,
}

pub struct Node {
    pub cfg: Config,
    state: Mutex<State>,
    /// Wakes the sender task of each outgoing channel (by receiver index).
    pub wake: BTreeMap<usize, Arc<Notify>>,
    pub http: reqwest::Client,
    counter: AtomicU64,
    /// Distinguishes ids minted by this process from those of an earlier run.
    incarnation: u64,
}

impl Node {
    pub fn new(cfg: Config, http: reqwest::Client) -> Arc<Node> {
        let n = cfg.peers.len();
        let others: Vec<usize> = (0..n).filter(|&p| p != cfg.index).collect();
        let state = State {
            bank: Bank::new(cfg.index, n, cfg.accounts, cfg.initial_balance),
            out: others
                .iter()
                .map(|&p| {
                    (
                        p,
                        OutQueue {
                            next_seq: 1,
                            ..Default::default()
                        },
                    )
                })
                .collect(),
            received: others.iter().map(|&p| (p, 0)).collect(),
        };
        let wake = others
            .iter()
            .map(|&p| (p, Arc::new(Notify::new())))
            .collect();
        let incarnation = rand::thread_rng().gen_range(0..1u64 << 32);
        Arc::new(Node {
            cfg,
            state: Mutex::new(state),
            wake,
            http,
            counter: AtomicU64::new(0),
            incarnation,
        })
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A cluster-unique id for a transfer or snapshot started here.
    pub fn mint(&self, prefix: &str) -> String {
        let c = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{prefix}-{}-{:x}-{c}", self.cfg.id, self.incarnation)
    }

    /// Puts messages on their channels, in order. Call with the state lock held, right
    /// after the event that produced them.
    pub fn emit(&self, st: &mut State, msgs: Vec<(usize, Msg)>) {
        let now = Instant::now();
        for (to, msg) in msgs {
            let q = st.out.get_mut(&to).expect("a channel to every other node");
            let jitter = if self.cfg.channel_jitter.is_zero() {
                std::time::Duration::ZERO
            } else {
                rand::thread_rng().gen_range(std::time::Duration::ZERO..=self.cfg.channel_jitter)
            };
            let mut ready_at = now + self.cfg.channel_delay + jitter;
            if let Some(prev) = q.last_ready {
                ready_at = ready_at.max(prev);
            }
            q.last_ready = Some(ready_at);
            let seq = q.next_seq;
            q.next_seq += 1;
            q.queue.push_back(Queued { seq, msg, ready_at });
            self.wake[&to].notify_one();
        }
    }

    pub fn health(&self) -> Value {
        let st = self.state();
        let channels: serde_json::Map<String, Value> = st
            .out
            .iter()
            .map(|(&p, q)| {
                let money: i64 = q.queue.iter().map(|m| if let Msg::Credit { amount, .. } = m.msg { amount } else { 0 }).sum();
                let v = json!({"queued": q.queue.len(), "queued_amount": money, "sent": q.next_seq - 1, "received": st.received[&p]});
                (self.cfg.peers[p].0.clone(), v)
            })
            .collect();
        json!({
            "node": self.cfg.id,
            "role": "member",
            "leader": null,
            "accounts": st.bank.balances().len(),
            "local_total": st.bank.balances().values().sum::<i64>(),
            "channels": channels,
            "active_snapshots": st.bank.active_snapshots(),
            "bugs": self.cfg.bug_names(),
        })
    }
}
