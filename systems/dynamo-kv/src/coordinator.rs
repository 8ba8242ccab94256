//! Coordinating client requests: quorum reads and writes over a key's preference
//! list, sloppy quorums with hints, read repair, and the client operations on top.
//!
//! The node that receives a client request coordinates it itself (it need not be a
//! replica of the key); see docs/systems.md for why.

use crate::dots::DotSet;
use crate::node::{now_ms, Node};
use crate::rpc::{KeyVersions, RpcError};
use crate::version::{as_list, context_of, merge_lists, reconcile, same_dots, Version};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// How a client operation failed, mapped onto the protocol's error bodies by the API.
#[derive(Debug)]
pub enum OpError {
    /// Not enough replicas answered. `definite` when no replica can have applied it.
    Unavailable {
        definite: bool,
        detail: String,
    },
    /// The client's deadline passed first (always indeterminate).
    Timeout {
        detail: String,
    },
    BadRequest(String),
    CasMismatch(Value),
}

/// Stand-ins for unreachable preferred replicas, shared by a request's slots: the
/// nodes after the first N on the ring walk, handed out once each.
struct Fallbacks {
    queue: Mutex<VecDeque<String>>,
}

impl Fallbacks {
    fn take(&self, node: &Node) -> Option<String> {
        let mut q = self.queue.lock().unwrap();
        // Prefer a stand-in gossip shows alive; a suspected one is better than none.
        let pos = q.iter().position(|f| node.is_alive(f)).unwrap_or(0);
        q.remove(pos)
    }
}

struct Plan {
    preferred: Vec<String>,
    fallbacks: Arc<Fallbacks>,
}

fn plan(node: &Node, key: &str) -> Plan {
    let walk = node.ring.walk(key);
    let n = node.cfg.n.min(walk.len());
    let fallbacks = if node.cfg.sloppy {
        walk[n..].iter().cloned().collect()
    } else {
        VecDeque::new()
    };
    Plan {
        preferred: walk[..n].to_vec(),
        fallbacks: Arc::new(Fallbacks {
            queue: Mutex::new(fallbacks),
        }),
    }
}

/// Where a slot (one of the N replica positions) ends up sending its request.
struct Target {
    node: String,
    /// The preferred owner this stand-in serves, when it is one.
    hint_for: Option<String>,
}

fn first_target(node: &Node, owner: &str, fallbacks: &Fallbacks) -> Target {
    if node.cfg.sloppy && !node.is_alive(owner) {
        if let Some(f) = fallbacks.take(node) {
            return Target {
                node: f,
                hint_for: Some(owner.to_string()),
            };
        }
    }
    Target {
        node: owner.to_string(),
        hint_for: None,
    }
}

/// After a failure: mark the node suspect and pick a stand-in (sloppy mode only).
fn next_target(node: &Node, owner: &str, failed: &str, fallbacks: &Fallbacks) -> Option<Target> {
    node.suspect(failed);
    if !node.cfg.sloppy {
        return None;
    }
    fallbacks.take(node).map(|f| Target {
        node: f,
        hint_for: Some(owner.to_string()),
    })
}

struct WriteOutcome {
    acked: bool,
    maybe_sent: bool,
    last_error: Option<String>,
}

async fn write_slot(
    node: Arc<Node>,
    owner: String,
    entry: KeyVersions,
    fallbacks: Arc<Fallbacks>,
) -> WriteOutcome {
    let mut target = first_target(&node, &owner, &fallbacks);
    let mut maybe_sent = false;
    loop {
        match node
            .ask_merge(&target.node, vec![entry.clone()], target.hint_for.clone())
            .await
        {
            Ok(()) => {
                return WriteOutcome {
                    acked: true,
                    maybe_sent: true,
                    last_error: None,
                }
            }
            Err(e) => {
                maybe_sent |= matches!(e, RpcError::Unknown(_));
                match next_target(&node, &owner, &target.node, &fallbacks) {
                    Some(t) => target = t,
                    None => {
                        return WriteOutcome {
                            acked: false,
                            maybe_sent,
                            last_error: Some(e.to_string()),
                        }
                    }
                }
            }
        }
    }
}

/// Sends `version` to the key's N replicas (or their stand-ins) in parallel and
/// returns after W acknowledgements. Slots still running carry on in the background,
/// so every reachable replica gets the write.
pub async fn replicate(node: &Arc<Node>, key: &str, version: Version) -> Result<(), OpError> {
    let plan = plan(node, key);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let entry = KeyVersions {
        key: key.to_string(),
        versions: vec![version],
    };
    for owner in plan.preferred {
        let (node, entry, fallbacks, tx) = (
            node.clone(),
            entry.clone(),
            plan.fallbacks.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            let _ = tx.send(write_slot(node, owner, entry, fallbacks).await);
        });
    }
    drop(tx);
    let w = node.cfg.w;
    let mut acks = 0;
    let mut maybe_sent = false;
    let mut errors: Vec<String> = Vec::new();
    let wait = async {
        while let Some(o) = rx.recv().await {
            if o.acked {
                acks += 1;
                if acks >= w {
                    return true;
                }
            }
            maybe_sent |= o.maybe_sent;
            errors.extend(o.last_error);
        }
        false
    };
    match tokio::time::timeout(node.cfg.request_timeout, wait).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(OpError::Unavailable {
            definite: acks == 0 && !maybe_sent,
            detail: format!(
                "{acks} of the {w} acknowledgements needed: {}",
                errors.join("; ")
            ),
        }),
        Err(_) => Err(OpError::Timeout {
            detail: format!("{acks} of {w} acknowledgements before the deadline"),
        }),
    }
}

struct ReadOutcome {
    /// The preferred owner, when the answer came from it (not from a stand-in).
    owner: Option<String>,
    versions: Result<Vec<Version>, String>,
}

async fn read_slot(
    node: Arc<Node>,
    owner: String,
    key: String,
    fallbacks: Arc<Fallbacks>,
) -> ReadOutcome {
    let mut target = first_target(&node, &owner, &fallbacks);
    loop {
        match node.ask_get(&target.node, &key).await {
            Ok(versions) => {
                let owner = target.hint_for.is_none().then(|| owner.clone());
                return ReadOutcome {
                    owner,
                    versions: Ok(versions),
                };
            }
            Err(e) => match next_target(&node, &owner, &target.node, &fallbacks) {
                Some(t) => target = t,
                None => {
                    return ReadOutcome {
                        owner: None,
                        versions: Err(e.to_string()),
                    }
                }
            },
        }
    }
}

/// Asks the key's N replicas (or stand-ins) and answers with the reconciled versions
/// of the first R replies. The remaining replies are awaited in the background and
/// every owner that lacks a version is repaired.
pub async fn read(node: &Arc<Node>, key: &str) -> Result<Vec<Version>, OpError> {
    let plan = plan(node, key);
    let (tx, mut rx) = mpsc::unbounded_channel();
    for owner in plan.preferred {
        let (node, key, fallbacks, tx) = (
            node.clone(),
            key.to_string(),
            plan.fallbacks.clone(),
            tx.clone(),
        );
        tokio::spawn(async move {
            let _ = tx.send(read_slot(node, owner, key, fallbacks).await);
        });
    }
    drop(tx);
    let r = node.cfg.r;
    let mut replies: Vec<(Option<String>, Vec<Version>)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let wait = async {
        while let Some(o) = rx.recv().await {
            match o.versions {
                Ok(v) => {
                    replies.push((o.owner, v));
                    if replies.len() >= r {
                        return true;
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        false
    };
    let enough = tokio::time::timeout(node.cfg.request_timeout, wait).await;
    let merged = replies
        .iter()
        .fold(Vec::new(), |acc, (_, v)| reconcile(&acc, v, node.resolver));
    match enough {
        Ok(true) => {}
        Ok(false) => {
            return Err(OpError::Unavailable {
                definite: true,
                detail: format!(
                    "{} of the {r} replies needed: {}",
                    replies.len(),
                    errors.join("; ")
                ),
            })
        }
        Err(_) => {
            return Err(OpError::Timeout {
                detail: format!("{} of {r} replies before the deadline", replies.len()),
            })
        }
    }
    if node.cfg.read_repair {
        let node = node.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            while let Some(o) = rx.recv().await {
                if let Ok(v) = o.versions {
                    replies.push((o.owner, v));
                }
            }
            let all = replies
                .iter()
                .fold(Vec::new(), |acc, (_, v)| reconcile(&acc, v, node.resolver));
            for (owner, versions) in &replies {
                if let Some(owner) = owner {
                    if !same_dots(versions, &all) {
                        let entry = KeyVersions {
                            key: key.clone(),
                            versions: all.clone(),
                        };
                        let _ = node.ask_merge(owner, vec![entry], None).await;
                    }
                }
            }
        });
    }
    Ok(merged)
}

/// Writes a new version coordinated by this node that supersedes what `seen` covers.
///
/// With `--bug no-merge` the coordinator first re-reads the key and supersedes
/// everything that read shows as well, so a write overwrites concurrent siblings it
/// never saw (a blind `PUT`, or an `append` racing another append): lost updates.
async fn write_new(
    node: &Arc<Node>,
    key: &str,
    value: Value,
    mut seen: DotSet,
) -> Result<(), OpError> {
    if node.cfg.bugs.no_merge {
        if let Ok(current) = read(node, key).await {
            seen.merge(&context_of(&current));
        }
    }
    let version = Version {
        value,
        dot: node.next_dot(),
        seen,
        ts_ms: now_ms(),
    };
    replicate(node, key, version).await
}

/// `PUT`: a new version superseding what `context` saw (nothing, without one).
pub async fn put(
    node: &Arc<Node>,
    key: &str,
    value: Value,
    context: Option<DotSet>,
) -> Result<(), OpError> {
    write_new(node, key, value, context.unwrap_or_default()).await
}

/// `append`: a read of R replicas, the merge of their sibling lists plus the element,
/// written back superseding exactly the versions that read saw. A client `context` is
/// accepted but cannot widen that: superseding a version whose list the coordinator
/// did not read would drop its elements.
pub async fn append(
    node: &Arc<Node>,
    key: &str,
    element: Value,
    _client_context: Option<DotSet>,
) -> Result<(), OpError> {
    let current = read(node, key).await?;
    let mut lists = Vec::with_capacity(current.len());
    for v in &current {
        lists.push(as_list(&v.value).map_err(OpError::BadRequest)?);
    }
    let mut list = merge_lists(&lists);
    list.push(element);
    write_new(node, key, Value::Array(list), context_of(&current)).await
}

/// `cas`: read R replicas; if they show exactly one version (or none, for `from:
/// null`) equal to `from`, write `to` over it. Not atomic across coordinators.
pub async fn cas(node: &Arc<Node>, key: &str, from: Value, to: Value) -> Result<(), OpError> {
    let current = read(node, key).await?;
    let value = crate::version::resolved_value(&current);
    let single = current.len() <= 1;
    if !single || value != from {
        return Err(OpError::CasMismatch(value));
    }
    write_new(node, key, to, context_of(&current)).await
}
