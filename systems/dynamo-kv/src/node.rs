//! A node's shared state and its replica-side operations (what a peer asks of it).

use crate::config::Config;
use crate::dots::Dot;
use crate::membership::Membership;
use crate::merkle::{key_digest, leaf_of, MerkleTree};
use crate::ring::Ring;
use crate::rpc::{KeyVersions, Peers, RpcError};
use crate::storage::LogStore;
use crate::version::{reconcile, Resolver, Version};
use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Separates owner and key in the hint store's keys (ids cannot contain NUL).
const HINT_SEP: char = '\0';

pub struct Node {
    pub cfg: Config,
    pub ring: Ring,
    pub store: LogStore,
    /// Versions held for unreachable owners, keyed `owner NUL key`.
    pub hints: LogStore,
    pub membership: Mutex<Membership>,
    pub peers: Peers,
    pub resolver: Resolver,
    pub incarnation: u64,
    counter: AtomicU64,
    merkle_cache: Mutex<HashMap<String, (u64, Arc<MerkleTree>)>>,
}

impl Node {
    pub fn open(cfg: Config) -> Result<Arc<Node>> {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("--data-dir {}: cannot create", cfg.data_dir.display()))?;
        let incarnation = crate::storage::next_incarnation(&cfg.data_dir)?;
        let store = LogStore::open(&cfg.data_dir.join("data.log"))?;
        let hints = LogStore::open(&cfg.data_dir.join("hints.log"))?;
        let names: Vec<String> = cfg.members.keys().cloned().collect();
        let ring = Ring::new(&names, cfg.vnodes);
        let membership =
            Membership::new(&cfg.id, &names, incarnation, cfg.fail_after, Instant::now());
        let peers = Peers::new(&cfg.id, cfg.members.clone(), cfg.rpc_timeout)?;
        let resolver = if cfg.lww {
            Resolver::Lww
        } else {
            Resolver::Causal
        };
        Ok(Arc::new(Node {
            ring,
            store,
            hints,
            membership: Mutex::new(membership),
            peers,
            resolver,
            incarnation,
            counter: AtomicU64::new(incarnation << 40),
            merkle_cache: Mutex::new(HashMap::new()),
            cfg,
        }))
    }

    pub fn id(&self) -> &str {
        &self.cfg.id
    }

    /// A fresh, cluster-unique write event coordinated by this node.
    pub fn next_dot(&self) -> Dot {
        Dot {
            node: self.cfg.id.clone(),
            counter: self.counter.fetch_add(1, Ordering::SeqCst) + 1,
        }
    }

    pub fn is_alive(&self, node: &str) -> bool {
        self.membership
            .lock()
            .unwrap()
            .is_alive(node, Instant::now())
    }

    pub fn suspect(&self, node: &str) {
        self.membership.lock().unwrap().suspect(node);
    }

    /// Calls a peer, or this node itself without the network.
    pub async fn ask_get(
        self: &Arc<Self>,
        node: &str,
        key: &str,
    ) -> Result<Vec<Version>, RpcError> {
        if node == self.id() {
            return Ok(self.local_versions(key));
        }
        let resp: crate::rpc::GetResponse = self
            .call(
                node,
                "/internal/get",
                &crate::rpc::GetRequest {
                    key: key.to_string(),
                },
            )
            .await?;
        Ok(resp.versions)
    }

    pub async fn ask_merge(
        self: &Arc<Self>,
        node: &str,
        entries: Vec<KeyVersions>,
        hint_for: Option<String>,
    ) -> Result<(), RpcError> {
        if node == self.id() {
            let me = self.clone();
            return tokio::task::spawn_blocking(move || {
                me.apply_merge(&entries, hint_for.as_deref())
            })
            .await
            .map_err(|e| RpcError::Unknown(format!("local write task failed: {e}")))?
            .map_err(|e| RpcError::Unknown(format!("local write failed: {e:#}")));
        }
        let _: crate::rpc::Empty = self
            .call(
                node,
                "/internal/merge",
                &crate::rpc::MergeRequest { entries, hint_for },
            )
            .await?;
        Ok(())
    }

    pub async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        node: &str,
        path: &str,
        body: &Req,
    ) -> Result<Resp, RpcError> {
        self.peers.call(node, path, body).await
    }

    /// This node's versions of `key`: its replica data plus any hints it holds for the
    /// key (a stand-in answers reads with what it was handed).
    pub fn local_versions(&self, key: &str) -> Vec<Version> {
        let mut versions = self.store.get(key);
        for owner in self.cfg.members.keys() {
            let hinted = self.hints.get(&hint_key(owner, key));
            if !hinted.is_empty() {
                versions = reconcile(&versions, &hinted, self.resolver);
            }
        }
        versions
    }

    /// Hints held for each owner of `key`.
    pub fn local_hints(&self, key: &str) -> BTreeMap<String, Vec<Version>> {
        self.cfg
            .members
            .keys()
            .filter_map(|owner| {
                let v = self.hints.get(&hint_key(owner, key));
                (!v.is_empty()).then(|| (owner.clone(), v))
            })
            .collect()
    }

    /// Stores versions durably (blocking: fsync). A hint for this node itself is
    /// ordinary data.
    pub fn apply_merge(&self, entries: &[KeyVersions], hint_for: Option<&str>) -> Result<()> {
        for e in entries {
            match hint_for {
                Some(owner) if owner != self.id() => {
                    self.hints
                        .merge(&hint_key(owner, &e.key), &e.versions, self.resolver)?;
                }
                _ => {
                    self.store.merge(&e.key, &e.versions, self.resolver)?;
                }
            }
        }
        Ok(())
    }

    /// Hints grouped by owner: owner -> [(key, versions)].
    pub fn hints_by_owner(&self) -> BTreeMap<String, Vec<KeyVersions>> {
        self.hints.with_entries(|m| {
            let mut out: BTreeMap<String, Vec<KeyVersions>> = BTreeMap::new();
            for (k, versions) in m {
                if let Some((owner, key)) = k.split_once(HINT_SEP) {
                    out.entry(owner.to_string()).or_default().push(KeyVersions {
                        key: key.to_string(),
                        versions: versions.clone(),
                    });
                }
            }
            out
        })
    }

    pub fn remove_hint(&self, owner: &str, key: &str, dots: &[Dot]) -> Result<()> {
        self.hints.remove_dots(&hint_key(owner, key), dots)?;
        Ok(())
    }

    pub fn hint_count(&self) -> usize {
        self.hints.with_entries(|m| m.len())
    }

    /// Whether `key` is replicated by both this node and `peer` (the keys their
    /// anti-entropy compares).
    fn shared_with(&self, peer: &str, key: &str) -> bool {
        let pref = self.ring.preference_list(key, self.cfg.n);
        pref.iter().any(|n| n == peer) && pref.iter().any(|n| n == self.id())
    }

    /// The Merkle tree over the keys this node shares with `peer`, rebuilt only when
    /// the store changed since the last build.
    pub fn merkle_tree(&self, peer: &str, depth: u32) -> Arc<MerkleTree> {
        let generation = self.store.generation();
        if let Some((g, t)) = self.merkle_cache.lock().unwrap().get(peer) {
            if *g == generation && t.depth() == depth {
                return t.clone();
            }
        }
        let digests: Vec<(String, crate::merkle::Hash)> = self.store.with_entries(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), key_digest(k, v)))
                .collect()
        });
        let shared = digests
            .iter()
            .filter(|(k, _)| self.shared_with(peer, k))
            .map(|(k, d)| (k.as_str(), *d));
        let tree = Arc::new(MerkleTree::build(depth, shared));
        self.merkle_cache
            .lock()
            .unwrap()
            .insert(peer.to_string(), (generation, tree.clone()));
        tree
    }

    /// Every key shared with `peer` that falls in one of `leaves`, with its versions.
    pub fn range(&self, peer: &str, depth: u32, leaves: &[usize]) -> Vec<KeyVersions> {
        let entries: Vec<KeyVersions> = self.store.with_entries(|m| {
            m.iter()
                .filter(|(k, _)| leaves.contains(&leaf_of(depth, k)))
                .map(|(k, v)| KeyVersions {
                    key: k.clone(),
                    versions: v.clone(),
                })
                .collect()
        });
        entries
            .into_iter()
            .filter(|e| self.shared_with(peer, &e.key))
            .collect()
    }
}

fn hint_key(owner: &str, key: &str) -> String {
    format!("{owner}{HINT_SEP}{key}")
}

/// Wall-clock milliseconds through libc's clock (so libfaketime can move it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
