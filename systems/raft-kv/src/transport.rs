//! Peer messaging over HTTP/JSON. Each peer gets one sender task that drains its queue into a
//! single `POST /raft/messages` at a time, so messages to a peer stay in order and a slow or
//! unreachable peer costs one in-flight request. Losing messages is fine: Raft retransmits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::core::{Message, NodeId};
use crate::logging::log;

/// Body of `POST /raft/messages`. `from_addr` lets a node that was never told the sender's
/// address (one started with `--join`) answer it.
#[derive(Serialize, Deserialize)]
pub struct Batch {
    pub from: NodeId,
    pub from_addr: String,
    pub messages: Vec<Message>,
}

const QUEUE: usize = 8192;
const BATCH: usize = 256;

pub struct Transport {
    me: NodeId,
    my_addr: String,
    client: reqwest::Client,
    rt: Handle,
    queues: Mutex<HashMap<NodeId, mpsc::Sender<Message>>>,
    addrs: RwLock<BTreeMap<NodeId, String>>,
}

impl Transport {
    pub fn new(
        me: NodeId,
        my_addr: String,
        addrs: BTreeMap<NodeId, String>,
        rt: Handle,
        timeout: Duration,
    ) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_millis(500))
            .pool_max_idle_per_host(4)
            .build()
            .expect("HTTP client builds");
        Arc::new(Transport {
            me,
            my_addr,
            client,
            rt,
            queues: Mutex::new(HashMap::new()),
            addrs: RwLock::new(addrs),
        })
    }

    pub fn addr_of(&self, id: &str) -> Option<String> {
        self.addrs.read().unwrap().get(id).cloned()
    }

    /// Adds or updates addresses (never forgets one: a removed node may still be forwarded to).
    pub fn learn(&self, addrs: &BTreeMap<NodeId, String>) {
        let mut book = self.addrs.write().unwrap();
        for (id, a) in addrs {
            if id != &self.me && book.get(id) != Some(a) {
                book.insert(id.clone(), a.clone());
            }
        }
    }

    /// Queues a message; drops it when the peer's queue is full (the peer is down or slow).
    pub fn send(self: &Arc<Self>, msg: Message) {
        let mut queues = self.queues.lock().unwrap();
        let tx = queues.entry(msg.to.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            let this = self.clone();
            let peer = msg.to.clone();
            self.rt.spawn(async move { this.run_peer(peer, rx).await });
            tx
        });
        let _ = tx.try_send(msg);
    }

    async fn run_peer(self: Arc<Self>, peer: NodeId, mut rx: mpsc::Receiver<Message>) {
        let mut failures: u32 = 0;
        while let Some(first) = rx.recv().await {
            let mut messages = vec![first];
            while messages.len() < BATCH {
                match rx.try_recv() {
                    Ok(m) => messages.push(m),
                    Err(_) => break,
                }
            }
            let Some(addr) = self.addr_of(&peer) else {
                continue;
            };
            let batch = Batch {
                from: self.me.clone(),
                from_addr: self.my_addr.clone(),
                messages,
            };
            let res = self
                .client
                .post(format!("http://{addr}/raft/messages"))
                .json(&batch)
                .send()
                .await;
            match res.and_then(|r| r.error_for_status()) {
                Ok(_) => {
                    if failures > 0 {
                        log(
                            "info",
                            &self.me,
                            "peer-reachable",
                            serde_json::json!({"peer": peer}),
                        );
                    }
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 {
                        log(
                            "warn",
                            &self.me,
                            "peer-unreachable",
                            serde_json::json!({"peer": peer, "error": e.to_string()}),
                        );
                    }
                    // Back off a little so a dead peer does not cost a busy loop.
                    tokio::time::sleep(Duration::from_millis(20 * failures.min(5) as u64)).await;
                    // What queued up meanwhile is stale; Raft resends what still matters.
                    while rx.try_recv().is_ok() {}
                }
            }
        }
    }
}
