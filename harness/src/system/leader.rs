//! How to find a system's current leader or primary: the system's own knowledge,
//! asked over the network by whoever needs it (the nemesis's leader-targeted faults,
//! through the backend's `ClusterControl::leader`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How the harness finds the current leader or primary, if the system has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderLookup {
    /// The system has no leader (or the harness cannot ask).
    None,
    /// The `leader` field of `GET /health` (faultline KV protocol).
    Health,
    /// etcd's `/v3/maintenance/status`: the leader's member id, matched to a node.
    EtcdStatus,
    /// The primary most Redis sentinels name (`SENTINEL get-master-addr-by-name`).
    RedisSentinel,
    /// Always the first node: a primary with streaming replicas and no failover
    /// (PostgreSQL).
    FirstNode,
}

/// A node as a leader lookup addresses it.
#[derive(Debug, Clone)]
pub struct NodeAddr {
    pub id: String,
    pub ip: Ipv4Addr,
    pub port: u16,
}

impl NodeAddr {
    fn url(&self) -> String {
        format!("http://{}:{}", self.ip, self.port)
    }
}

/// How long one lookup may wait for each node.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

impl LeaderLookup {
    /// The id of the node the system names as its leader now, if it names one.
    pub async fn find(self, nodes: &[NodeAddr]) -> Option<String> {
        let index = match self {
            LeaderLookup::None => return None,
            LeaderLookup::FirstNode => 0,
            LeaderLookup::Health => return health_leader(nodes).await,
            LeaderLookup::EtcdStatus => {
                let urls: Vec<String> = nodes.iter().map(NodeAddr::url).collect();
                workloads::etcd::leader_index(&urls, ASK_TIMEOUT).await?
            }
            LeaderLookup::RedisSentinel => {
                let hosts: Vec<String> = nodes.iter().map(|n| n.ip.to_string()).collect();
                let options = workloads::redis::RedisOptions::new(ASK_TIMEOUT, 0);
                workloads::redis::primary_index(&hosts, &options).await?
            }
        };
        nodes.get(index).map(|n| n.id.clone())
    }
}

/// The `leader` field of every node's `GET /health` (faultline KV protocol): the
/// claim with the highest term wins; among equal terms, the most votes.
async fn health_leader(nodes: &[NodeAddr]) -> Option<String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(ASK_TIMEOUT)
        .build()
        .ok()?;
    let mut tasks = tokio::task::JoinSet::new();
    for node in nodes {
        let url = format!("{}/health", node.url());
        let client = client.clone();
        tasks.spawn(async move {
            let v: serde_json::Value = client
                .get(url)
                .send()
                .await
                .ok()?
                .error_for_status()
                .ok()?
                .json()
                .await
                .ok()?;
            let leader = v.get("leader")?.as_str()?.to_string();
            let term = v.get("term").and_then(|t| t.as_u64()).unwrap_or(0);
            Some((term, leader))
        });
    }
    let mut votes: BTreeMap<(u64, String), usize> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        if let Ok(Some((term, leader))) = r {
            if nodes.iter().any(|n| n.id == leader) {
                *votes.entry((term, leader)).or_default() += 1;
            }
        }
    }
    let top = votes.keys().map(|(t, _)| *t).max()?;
    votes
        .into_iter()
        .filter(|((t, _), _)| *t == top)
        .max_by_key(|(_, n)| *n)
        .map(|((_, l), _)| l)
}
