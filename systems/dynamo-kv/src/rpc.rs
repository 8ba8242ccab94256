//! Node-to-node messages and the client that sends them.
//!
//! Internal requests are JSON over HTTP under `/internal/`, each carrying the
//! sender's id in the `x-dynamo-from` header so a node isolated for a test
//! (`POST /admin/isolate`) can drop traffic both ways.

use crate::membership::Beat;
use crate::version::Version;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

pub const FROM_HEADER: &str = "x-dynamo-from";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVersions {
    pub key: String,
    pub versions: Vec<Version>,
}

/// `POST /internal/get`: a replica's versions of a key (its hints for the key included).
#[derive(Debug, Serialize, Deserialize)]
pub struct GetRequest {
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GetResponse {
    pub versions: Vec<Version>,
}

/// `POST /internal/merge`: store versions durably before answering. With `hint_for`,
/// the receiver is a stand-in and keeps them in its hint store for that owner.
#[derive(Debug, Serialize, Deserialize)]
pub struct MergeRequest {
    pub entries: Vec<KeyVersions>,
    #[serde(default)]
    pub hint_for: Option<String>,
}

/// `POST /internal/gossip`: the sender's view; the answer is the receiver's.
#[derive(Debug, Serialize, Deserialize)]
pub struct GossipMessage {
    pub view: BTreeMap<String, Beat>,
}

/// `POST /internal/merkle`: hashes of the given nodes of the receiver's tree over the
/// keys it shares with `peer` (the sender).
#[derive(Debug, Serialize, Deserialize)]
pub struct MerkleRequest {
    pub peer: String,
    pub depth: u32,
    pub nodes: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct MerkleResponse {
    /// Hex digests in request order (`None` for an index outside the tree).
    pub hashes: Vec<Option<String>>,
}

/// `POST /internal/range`: every key (and its versions) the receiver shares with
/// `peer` in the given Merkle leaves.
#[derive(Debug, Serialize, Deserialize)]
pub struct RangeRequest {
    pub peer: String,
    pub depth: u32,
    pub leaves: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RangeResponse {
    pub entries: Vec<KeyVersions>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Empty {}

/// Why a call to a peer failed, and whether the request may have reached it.
#[derive(Debug, Clone)]
pub enum RpcError {
    /// Certainly not delivered: no connection, unknown peer, or isolated.
    NotSent(String),
    /// Sent but no good answer (timeout, error status, bad body): it may have applied.
    Unknown(String),
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RpcError::NotSent(m) => write!(f, "not sent: {m}"),
            RpcError::Unknown(m) => write!(f, "{m}"),
        }
    }
}

pub struct Peers {
    me: String,
    addrs: BTreeMap<String, SocketAddr>,
    http: reqwest::Client,
    isolated: Mutex<HashSet<String>>,
}

impl Peers {
    pub fn new(
        me: &str,
        addrs: BTreeMap<String, SocketAddr>,
        timeout: Duration,
    ) -> anyhow::Result<Peers> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_millis(500)))
            .timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Peers {
            me: me.to_string(),
            addrs,
            http,
            isolated: Mutex::new(HashSet::new()),
        })
    }

    pub fn is_isolated_from(&self, node: &str) -> bool {
        self.isolated.lock().unwrap().contains(node)
    }

    pub fn isolated(&self) -> Vec<String> {
        let mut v: Vec<String> = self.isolated.lock().unwrap().iter().cloned().collect();
        v.sort();
        v
    }

    /// Drops all traffic to and from `nodes` (every other member when empty).
    pub fn isolate(&self, nodes: &[String]) {
        let mut set = self.isolated.lock().unwrap();
        if nodes.is_empty() {
            set.extend(self.addrs.keys().filter(|n| **n != self.me).cloned());
        } else {
            set.extend(nodes.iter().filter(|n| **n != self.me).cloned());
        }
    }

    pub fn heal(&self) {
        self.isolated.lock().unwrap().clear();
    }

    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node: &str,
        path: &str,
        body: &Req,
    ) -> Result<Resp, RpcError> {
        let addr = self
            .addrs
            .get(node)
            .ok_or_else(|| RpcError::NotSent(format!("unknown node {node}")))?;
        if self.is_isolated_from(node) {
            return Err(RpcError::NotSent(format!("isolated from {node}")));
        }
        let url = format!("http://{addr}{path}");
        let resp = self
            .http
            .post(&url)
            .header(FROM_HEADER, &self.me)
            .json(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RpcError::NotSent(format!("{node} ({addr}): {e}"))
                } else {
                    RpcError::Unknown(format!("{node} ({addr}): {e}"))
                }
            })?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(RpcError::Unknown(format!("{node} {path}: {status} {text}")));
        }
        resp.json::<Resp>()
            .await
            .map_err(|e| RpcError::Unknown(format!("{node} {path}: bad answer: {e}")))
    }
}
