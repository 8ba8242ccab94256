//! Maelstrom clients and services (`docs/maelstrom.md`): the harness's side of the
//! network that Maelstrom nodes run on under faultline.
//!
//! Each node runs under a relay in its namespace (`faultline maelstrom-relay`) that
//! turns the node's stdout lines into UDP datagrams and datagrams into stdin lines.
//! The harness holds one UDP socket, the *switchboard*, on the controller's address
//! (`.254` of the run's subnet, the same port as the relays): clients `c1`, `c2`, ...
//! send their requests from it, and everything a node sends to a client or a service
//! comes back to it. Replies are matched to requests by `(dest, in_reply_to)`; the
//! services (`lin-kv`, `seq-kv`, `lww-kv`, `lin-tso`) are answered here
//! ([`services`]). For broadcast, every node is sent its `topology` ([`topology`])
//! at the start and again every second (a restarted node has forgotten it).
//!
//! A request without a reply within the client timeout is indeterminate (`info`;
//! `fail` for reads); replies follow Maelstrom's error table ([`messages`]).

pub mod kafka;
pub mod messages;
pub mod services;
pub mod stats;
pub mod topology;

use crate::client::{indeterminate, BoxFuture, Client, ClientFactory, Target};
use crate::generator::Workload;
use crate::op::{Completion, Op, OpFn};
use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use services::KvServices;
use stats::NetStats;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use topology::Topology;

/// The last octet of the controller's address on a run's subnet.
const CONTROLLER_OCTET: u8 = 254;

/// Where the relays send their statistics.
const STATS_DEST: &str = "faultline";

/// Mixed into the run's seed for the services' random choices (which stale state
/// seq-kv serves, when lww-kv syncs), so they differ from the workload's draws.
const SERVICES_SEED: u64 = 0x6d61_656c;

/// The `src` of the harness's own messages to nodes (topology); their replies are
/// not waited for.
const HARNESS_SRC: &str = "c0";

/// The settings only Maelstrom tests have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MaelstromOptions {
    /// Broadcast's `topology` (`--topology`).
    pub topology: Topology,
    /// How seq-kv and lww-kv behave (`--kv-services`).
    pub kv_services: KvServices,
}

/// Makes Maelstrom clients; [`ClientFactory::prepare`] opens the switchboard.
pub struct MaelstromFactory {
    workload: Workload,
    timeout: Duration,
    options: MaelstromOptions,
    /// The run's seed: the services draw from it, so another seed explores other
    /// stale states and the same seed repeats the same choices.
    seed: u64,
    board: OnceLock<Arc<Switchboard>>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// The harness's end of the network: one socket, the requests in flight, the
/// services and the statistics.
struct Switchboard {
    socket: UdpSocket,
    nodes: HashMap<String, SocketAddr>,
    pending: Mutex<HashMap<(String, u64), oneshot::Sender<Value>>>,
    next_msg: AtomicU64,
    services: Mutex<services::Services>,
    stats: Mutex<NetStats>,
}

impl MaelstromFactory {
    pub fn new(
        workload: Workload,
        timeout: Duration,
        options: MaelstromOptions,
        seed: u64,
    ) -> MaelstromFactory {
        MaelstromFactory {
            workload,
            timeout,
            options,
            seed,
            board: OnceLock::new(),
            tasks: Mutex::new(Vec::new()),
        }
    }

    fn board(&self) -> anyhow::Result<&Arc<Switchboard>> {
        self.board.get().ok_or_else(|| {
            anyhow!("Maelstrom clients opened before the cluster's nodes were known")
        })
    }
}

impl Drop for MaelstromFactory {
    fn drop(&mut self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// A node's relay address from its target URL (`http://ip:port`).
fn relay_addr(t: &Target) -> anyhow::Result<SocketAddr> {
    let rest = t.url.split_once("://").map_or(t.url.as_str(), |(_, r)| r);
    rest.trim_end_matches('/')
        .parse()
        .with_context(|| format!("node {}'s address {}", t.id, t.url))
}

impl ClientFactory for MaelstromFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        self.open_process(0, target)
    }

    fn open_process(&self, process: u64, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        let board = Arc::clone(self.board()?);
        let addr = *board
            .nodes
            .get(&target.id)
            .ok_or_else(|| anyhow!("no node {}", target.id))?;
        Ok(Arc::new(MaelstromClient {
            board,
            name: format!("c{}", process + 1),
            node: target.id.clone(),
            addr,
            workload: self.workload,
            timeout: self.timeout,
            consumer: kafka::Consumer::default(),
        }))
    }

    fn prepare(&self, _run_dir: &std::path::Path, targets: &[Target]) -> anyhow::Result<()> {
        let nodes: HashMap<String, SocketAddr> = targets
            .iter()
            .map(|t| Ok((t.id.clone(), relay_addr(t)?)))
            .collect::<anyhow::Result<_>>()?;
        let first = nodes
            .values()
            .next()
            .ok_or_else(|| anyhow!("a Maelstrom test needs at least one node"))?;
        let IpAddr::V4(ip) = first.ip() else {
            anyhow::bail!("Maelstrom nodes need IPv4 addresses, got {first}");
        };
        let [a, b, c, _] = ip.octets();
        let controller = SocketAddr::from((Ipv4Addr::new(a, b, c, CONTROLLER_OCTET), first.port()));
        let std_socket = std::net::UdpSocket::bind(controller)
            .with_context(|| format!("binding the Maelstrom switchboard on UDP {controller}"))?;
        std_socket.set_nonblocking(true)?;
        let socket = UdpSocket::from_std(std_socket)?;
        let board = Arc::new(Switchboard {
            socket,
            nodes,
            pending: Mutex::new(HashMap::new()),
            next_msg: AtomicU64::new(1),
            services: Mutex::new(services::Services::new(
                self.options.kv_services,
                self.seed ^ SERVICES_SEED,
            )),
            stats: Mutex::default(),
        });
        self.board
            .set(Arc::clone(&board))
            .map_err(|_| anyhow!("Maelstrom clients prepared twice"))?;
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(tokio::spawn(Arc::clone(&board).receive()));
        if self.workload == Workload::Broadcast {
            tasks.push(tokio::spawn(board.send_topology(self.options.topology)));
        }
        Ok(())
    }

    fn network_stats(&self) -> Option<Value> {
        let board = self.board.get()?;
        let s = board.stats.lock().unwrap_or_else(|e| e.into_inner());
        let services = board.services.lock().unwrap_or_else(|e| e.into_inner());
        Some(s.to_json(&services.requests))
    }
}

impl Switchboard {
    /// Receives every datagram sent to the controller until the run ends.
    async fn receive(self: Arc<Self>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((n, from)) = self.socket.recv_from(&mut buf).await else {
                continue;
            };
            let Ok(msg) = serde_json::from_slice::<Value>(&buf[..n]) else {
                self.stats().malformed += 1;
                continue;
            };
            self.dispatch(msg, from).await;
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, NetStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn dispatch(&self, msg: Value, from: SocketAddr) {
        let src = msg["src"].as_str().unwrap_or("").to_string();
        let dest = msg["dest"].as_str().unwrap_or("");
        let body = &msg["body"];
        if dest == STATS_DEST {
            self.stats().relay_report(&src, body);
            return;
        }
        if services::SERVICES.contains(&dest) {
            let reply = self
                .services
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .handle(dest, &src, body);
            let out = json!({"src": dest, "dest": src, "body": reply});
            let _ = self.socket.send_to(out.to_string().as_bytes(), from).await;
            return;
        }
        let waiting = body["in_reply_to"].as_u64().and_then(|id| {
            self.pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&(dest.to_string(), id))
        });
        match waiting {
            Some(tx) => {
                let _ = tx.send(body.clone());
            }
            None if dest == HARNESS_SRC => {}
            None => self.stats().unmatched_replies += 1,
        }
    }

    /// Sends every node its topology now and every second after (a restarted
    /// node has forgotten it; a lost datagram is sent again).
    async fn send_topology(self: Arc<Self>, shape: Topology) {
        let mut ids: Vec<&String> = self.nodes.keys().collect();
        ids.sort_by_key(|id| (id.len(), id.to_string()));
        let topology = shape.neighbours(&ids);
        loop {
            for (id, addr) in &self.nodes {
                let msg_id = self.next_msg.fetch_add(1, Ordering::Relaxed);
                let body = json!({"type": "topology", "msg_id": msg_id, "topology": topology});
                let msg = json!({"src": HARNESS_SRC, "dest": id, "body": body});
                let _ = self.socket.send_to(msg.to_string().as_bytes(), addr).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Client `c<process + 1>` of one node.
struct MaelstromClient {
    board: Arc<Switchboard>,
    name: String,
    node: String,
    addr: SocketAddr,
    workload: Workload,
    timeout: Duration,
    /// Kafka only: the client's positions in the logs.
    consumer: kafka::Consumer,
}

impl MaelstromClient {
    async fn perform(&self, op: &Op) -> Completion {
        if self.workload == Workload::Kafka && op.f == OpFn::FinalRead {
            return self.final_poll(op).await;
        }
        self.request(op).await
    }

    /// A kafka final poll: polls every log from offset 0 until a poll brings nothing
    /// new (a node may answer a poll with part of a log), recorded as one operation
    /// holding every message, so a message the logs lost shows as missing from it.
    async fn final_poll(&self, op: &Op) -> Completion {
        self.consumer.rewind();
        let mut all = kafka::FinalPoll::default();
        for _ in 0..kafka::FINAL_POLL_ROUNDS {
            let c = self.request(op).await;
            if c.outcome != crate::op::Outcome::Ok {
                return c;
            }
            if !all.add(&c.value) {
                return Completion::ok(all.into_value());
            }
        }
        Completion::fail(
            op.value.clone(),
            format!(
                "final poll still returned new messages after {} polls",
                kafka::FINAL_POLL_ROUNDS
            ),
        )
    }

    /// One request and its reply.
    async fn request(&self, op: &Op) -> Completion {
        let Some(mut body) = messages::request(self.workload, op) else {
            return Completion::fail(
                op.value.clone(),
                format!(
                    "the {} workload has no Maelstrom message for {}",
                    self.workload, op.f
                ),
            );
        };
        let msg_id = self.board.next_msg.fetch_add(1, Ordering::Relaxed);
        body["msg_id"] = json!(msg_id);
        if self.workload == Workload::Kafka {
            self.consumer.prepare(op, &mut body);
        }
        let key = (self.name.clone(), msg_id);
        let (tx, rx) = oneshot::channel();
        self.board
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), tx);
        let msg = json!({"src": self.name, "dest": self.node, "body": body});
        let sent = self
            .board
            .socket
            .send_to(msg.to_string().as_bytes(), self.addr)
            .await;
        let reply = match sent {
            Err(e) => Err(Completion::unreached(
                op.value.clone(),
                format!("send: {e}"),
            )),
            Ok(_) => match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(reply)) => Ok(reply),
                _ => Err(indeterminate(op, "timeout: no reply".into())),
            },
        };
        self.board
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        let c = match reply {
            Ok(r) if self.workload == Workload::Kafka => self.consumer.completion(op, &body, &r),
            Ok(r) => messages::completion(self.workload, op, &r),
            Err(c) => c,
        };
        self.board.stats().client_request(&self.node, sent_ok(&c));
        c
    }
}

/// Whether the request got any reply (for the statistics).
fn sent_ok(c: &Completion) -> bool {
    !c.error
        .as_deref()
        .is_some_and(|e| e.starts_with("timeout") || e.starts_with("send"))
}

impl Client for MaelstromClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }

    fn whole_operations(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relay_address_comes_from_the_node_url() {
        let t = Target {
            id: "n1".into(),
            url: "http://10.77.3.1:7070".into(),
        };
        assert_eq!(relay_addr(&t).unwrap(), "10.77.3.1:7070".parse().unwrap());
    }
}
