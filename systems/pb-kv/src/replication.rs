//! The primary's side of replication: one `Link` per backup, drained by a single task,
//! so everything a backup receives from this primary (entries, installs, heartbeats)
//! travels over one ordered stream.
//!
//! A link is `InSync` when the backup holds exactly the primary's history up to `acked`
//! and the queued entries continue it; `Behind` when it answered but needs a full install
//! (a new epoch, a gap, a restart, a divergence); `Dead` when it did not answer within
//! `--peer-timeout-ms`. Dead backups are the ones a sync write does not wait for ("every
//! live backup"); a heartbeat that gets an answer turns a dead link back into `Behind`,
//! and the next install brings it in sync.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::logging::log;
use crate::node::{Node, Position, Reject};
use crate::store::{Op, Store};

/// One replicated operation, as a backup receives it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    #[serde(flatten)]
    pub payload: Payload,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Payload {
    /// Request replication: the client's operation.
    Request { op: Op },
    /// State replication: the touched key's new value.
    State { key: String, value: Value },
}

#[derive(Serialize, Deserialize)]
pub struct ReplicateMsg {
    pub epoch: u64,
    pub entries: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
pub struct InstallMsg {
    pub epoch: u64,
    pub seq: u64,
    pub store: Store,
}

#[derive(Serialize, Deserialize)]
pub struct HeartbeatMsg {
    pub epoch: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    Dead,
    Behind,
    InSync,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkStatus {
    /// The primary epoch this status belongs to.
    pub epoch: u64,
    pub state: LinkState,
    pub acked: u64,
}

pub struct Link {
    pub id: String,
    pub addr: String,
    tx: mpsc::UnboundedSender<(u64, Entry)>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<(u64, Entry)>>>,
    status: watch::Sender<LinkStatus>,
}

/// What came of one message to a backup.
enum Outcome<T> {
    Ok(T),
    Rejected(Reject),
    Unreachable(String),
}

const MAX_BATCH: usize = 512;

impl Link {
    pub fn new(id: &str, addr: &str) -> Arc<Link> {
        let (tx, rx) = mpsc::unbounded_channel();
        Arc::new(Link {
            id: id.into(),
            addr: addr.into(),
            tx,
            rx: Mutex::new(Some(rx)),
            status: watch::channel(LinkStatus {
                epoch: 0,
                state: LinkState::Behind,
                acked: 0,
            })
            .0,
        })
    }

    /// Queues an entry of `epoch` (called under the node's lock, so in seq order).
    pub fn push(&self, epoch: u64, e: Entry) {
        let _ = self.tx.send((epoch, e));
    }

    /// Returns once the backup has acknowledged `seq` of `epoch`, or is dead, or the
    /// link moved on to another epoch.
    pub async fn wait_acked(&self, epoch: u64, seq: u64) {
        let mut rx = self.status.subscribe();
        let _ = rx
            .wait_for(|s| s.state == LinkState::Dead || s.epoch > epoch || s.acked >= seq)
            .await;
    }

    /// Starts the link over for a new tenure as primary. Called before the node serves
    /// its first request of `epoch`, so that no write of the epoch finds the link still
    /// marked with an older tenure and goes unreplicated.
    pub fn reset(&self, epoch: u64) {
        self.set(epoch, LinkState::Behind, 0);
    }

    pub fn describe(&self) -> Value {
        let s = *self.status.borrow();
        let state = match s.state {
            LinkState::Dead => "dead",
            LinkState::Behind => "behind",
            LinkState::InSync => "in-sync",
        };
        json!({"state": state, "acked": s.acked})
    }

    /// Updates the status, unless it already belongs to a newer tenure (an answer that
    /// arrives after this node stepped down and was promoted again).
    fn set(&self, epoch: u64, state: LinkState, acked: u64) {
        let new = LinkStatus {
            epoch,
            state,
            acked,
        };
        self.status.send_if_modified(|s| {
            if s.epoch > epoch || *s == new {
                return false;
            }
            *s = new;
            true
        });
    }
}

/// The task that owns one link for the node's whole life.
pub async fn run_link(node: Arc<Node>, link: Arc<Link>) {
    let Some(mut rx) = link.rx.lock().unwrap().take() else {
        return;
    };
    let hb = node.cfg.heartbeat;
    let mut pending: VecDeque<Entry> = VecDeque::new();
    let mut paused = node.paused.subscribe();
    loop {
        let Some(epoch) = node.primary_epoch() else {
            pending.clear();
            while rx.try_recv().is_ok() {}
            {
                // Under the node's lock, which promotion holds while it resets the link:
                // a reset for a new tenure is never overwritten by this.
                let c = node.core();
                if c.role != crate::node::Role::Primary {
                    let s = *link.status.borrow();
                    link.set(s.epoch, LinkState::Dead, s.acked); // releases writers of a lost tenure
                }
            }
            tokio::time::sleep(hb).await;
            continue;
        };
        let mut st = *link.status.borrow();
        if st.epoch != epoch {
            pending.clear();
            st = LinkStatus {
                epoch,
                state: LinkState::Behind,
                acked: 0,
            };
            link.set(epoch, LinkState::Behind, 0);
        }
        while let Ok((e, entry)) = rx.try_recv() {
            if e == epoch {
                pending.push_back(entry);
            }
        }
        if *paused.borrow() {
            // Test hook: nothing but heartbeats reaches the backups, so they neither learn
            // of new writes nor start a failover.
            heartbeat(&node, &link, epoch, &st, false).await;
            let _ = tokio::time::timeout(hb, paused.changed()).await;
            continue;
        }
        if st.state != LinkState::InSync {
            pending.clear();
            if st.state == LinkState::Dead && !heartbeat(&node, &link, epoch, &st, false).await {
                tokio::time::sleep(hb).await;
                continue;
            }
            if !install(&node, &link, epoch).await {
                tokio::time::sleep(hb).await;
            }
            continue;
        }
        pending.retain(|e| e.seq > st.acked);
        if pending.is_empty() {
            match tokio::time::timeout(hb, rx.recv()).await {
                Ok(Some((e, entry))) if e == epoch => pending.push_back(entry),
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    heartbeat(&node, &link, epoch, &st, true).await;
                }
            }
            continue;
        }
        let n = pending.len().min(MAX_BATCH);
        let entries: Vec<Entry> = pending.iter().take(n).cloned().collect();
        let last = entries[n - 1].seq;
        match send::<u64>(
            &node,
            &link,
            "/internal/replicate",
            &ReplicateMsg { epoch, entries },
        )
        .await
        {
            Outcome::Ok(seq) if seq == last => {
                pending.drain(..n);
                link.set(epoch, LinkState::InSync, seq);
            }
            Outcome::Ok(seq) => {
                log(
                    "warn",
                    &node.cfg.id,
                    "replicate-mismatch",
                    json!({"backup": link.id, "sent": last, "acked": seq}),
                );
                link.set(epoch, LinkState::Behind, st.acked);
            }
            Outcome::Rejected(r) => rejected(&node, &link, epoch, &st, r),
            Outcome::Unreachable(why) => dead(&node, &link, epoch, &st, &why),
        }
    }
}

/// Sends a heartbeat; with `check`, a backup whose position differs from what the link
/// believes is marked `Behind`. Returns whether the backup answered.
async fn heartbeat(node: &Node, link: &Link, epoch: u64, st: &LinkStatus, check: bool) -> bool {
    match send::<Position>(node, link, "/internal/heartbeat", &HeartbeatMsg { epoch }).await {
        Outcome::Ok(p) => {
            if st.state == LinkState::Dead {
                log(
                    "info",
                    &node.cfg.id,
                    "backup-reachable",
                    json!({"backup": link.id}),
                );
                link.set(epoch, LinkState::Behind, st.acked);
            } else if check && (p.synced_epoch != epoch || p.seq != st.acked) {
                log(
                    "info",
                    &node.cfg.id,
                    "backup-behind",
                    json!({"backup": link.id, "position": p, "acked": st.acked}),
                );
                link.set(epoch, LinkState::Behind, st.acked);
            }
            true
        }
        Outcome::Rejected(r) => {
            rejected(node, link, epoch, st, r);
            true
        }
        Outcome::Unreachable(why) => {
            dead(node, link, epoch, st, &why);
            false
        }
    }
}

/// Sends the whole map as of the current operation. Returns whether the link is in sync.
async fn install(node: &Node, link: &Link, epoch: u64) -> bool {
    let (seq, store) = {
        let c = node.core();
        if c.epoch != epoch {
            return false;
        }
        (c.seq, c.store.clone())
    };
    let st = *link.status.borrow();
    match send::<u64>(
        node,
        link,
        "/internal/install",
        &InstallMsg { epoch, seq, store },
    )
    .await
    {
        Outcome::Ok(_) => {
            log(
                "info",
                &node.cfg.id,
                "installed",
                json!({"backup": link.id, "seq": seq, "epoch": epoch}),
            );
            link.set(epoch, LinkState::InSync, seq);
            true
        }
        Outcome::Rejected(r) => {
            rejected(node, link, epoch, &st, r);
            false
        }
        Outcome::Unreachable(why) => {
            dead(node, link, epoch, &st, &why);
            false
        }
    }
}

fn rejected(node: &Node, link: &Link, epoch: u64, st: &LinkStatus, r: Reject) {
    match r {
        Reject::StaleEpoch { epoch: theirs } => {
            node.step_down(theirs, &format!("{} is in epoch {theirs}", link.id));
            link.set(epoch, LinkState::Dead, st.acked);
        }
        Reject::NeedSync { .. } => link.set(epoch, LinkState::Behind, st.acked),
    }
}

fn dead(node: &Node, link: &Link, epoch: u64, st: &LinkStatus, why: &str) {
    if st.state != LinkState::Dead {
        log(
            "warn",
            &node.cfg.id,
            "backup-dead",
            json!({"backup": link.id, "why": why}),
        );
    }
    link.set(epoch, LinkState::Dead, st.acked);
}

async fn send<T: for<'de> Deserialize<'de>>(
    node: &Node,
    link: &Link,
    path: &str,
    msg: &impl Serialize,
) -> Outcome<T> {
    let body = match serde_json::to_vec(msg) {
        Ok(b) => b,
        Err(e) => return Outcome::Unreachable(format!("encode: {e}")),
    };
    if node.is_isolated_from(&link.id) {
        return Outcome::Unreachable("isolated (test hook)".into());
    }
    if path != "/internal/heartbeat" {
        node.replicated_bytes
            .fetch_add(body.len() as u64, Ordering::Relaxed);
    }
    let req = node
        .http
        .post(format!("http://{}{}", link.addr, path))
        .header("content-type", "application/json")
        .header("x-pb-from", node.cfg.id.as_str())
        .timeout(
            node.cfg.peer_timeout
                + Duration::from_millis(if path == "/internal/install" { 1000 } else { 0 }),
        )
        .body(body);
    let resp = match req.send().await {
        Ok(r) => r,
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    let status = resp.status();
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return Outcome::Unreachable(e.to_string()),
    };
    if status.is_success() {
        match serde_json::from_slice::<T>(&bytes) {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Unreachable(format!("bad answer: {e}")),
        }
    } else {
        match serde_json::from_slice::<Reject>(&bytes) {
            Ok(r) => Outcome::Rejected(r),
            Err(_) => {
                Outcome::Unreachable(format!("{status}: {}", String::from_utf8_lossy(&bytes)))
            }
        }
    }
}
