//! The replica state every endpoint shares, and the rules a backup uses to accept or
//! reject what a primary sends it.
//!
//! Writes on the primary are serial (`write_lock`), and reads take the same lock, so a
//! read never sees a write that is still waiting for its backups. Every change reaches
//! the write-ahead log (fsynced) before it is applied in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::config::{Ack, Config};
use crate::logging::log;
use crate::replication::{Entry, Link, Payload};
use crate::store::{self, Op, OpError, Store};
use crate::wal::{Record, Recovered, Wal};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Primary,
    Backup,
    /// Owns its epoch but has not yet checked that no peer moved on (after a restart),
    /// or is promoting itself: serves no client request.
    Recovering,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Backup => "backup",
            Role::Recovering => "recovering",
        }
    }
}

pub struct Core {
    pub role: Role,
    /// The highest epoch this node has seen; its owner is the primary this node follows.
    pub epoch: u64,
    /// The epoch whose primary's history `store` is a prefix of. A backup accepts
    /// incremental entries only from that primary; anything else needs a full install.
    pub synced_epoch: u64,
    /// Number of the last operation applied to `store`.
    pub seq: u64,
    pub store: Store,
    pub last_heard: Instant,
    /// Bumped on every message accepted from a primary, so a promotion in progress can
    /// tell that the primary spoke meanwhile.
    pub heard: u64,
    wal: Wal,
}

/// Why a backup refused a message from a primary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "error", rename_all = "kebab-case")]
pub enum Reject {
    /// The sender's epoch is older than the receiver's: the sender must step down.
    StaleEpoch { epoch: u64 },
    /// The receiver's data is not the prefix the entries continue: send a full install.
    NeedSync { synced_epoch: u64, seq: u64 },
}

/// A backup's position, as heartbeats report it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub epoch: u64,
    pub synced_epoch: u64,
    pub seq: u64,
    pub role: String,
}

pub enum Reply {
    Value(Value),
    Done,
    CasMismatch(Value),
    NotAList(Value),
    NotPrimary,
    /// Replication did not finish within the request timeout (sync, paused replication).
    Timeout,
    /// This node lost its primaryship while the write was replicating.
    Deposed,
}

pub enum Request {
    Read(String),
    Write(Op),
}

pub struct Node {
    pub cfg: Config,
    core: Mutex<Core>,
    pub write_lock: tokio::sync::Mutex<()>,
    pub links: Vec<Arc<Link>>,
    pub paused: watch::Sender<bool>,
    pub http: reqwest::Client,
    pub replicated_bytes: AtomicU64,
    /// Test hook (`POST /admin/isolate`): peers this node neither sends to nor accepts
    /// node-to-node messages from.
    pub isolated: Mutex<std::collections::BTreeSet<String>>,
}

impl Node {
    pub fn new(
        cfg: Config,
        wal: Wal,
        rec: Recovered,
        links: Vec<Arc<Link>>,
        http: reqwest::Client,
    ) -> anyhow::Result<Arc<Node>> {
        let mut rec = rec;
        let fresh = !rec.existed;
        if fresh {
            rec.epoch = 1;
            rec.synced_epoch = 1;
        }
        let role = if cfg.owner(rec.epoch) == cfg.id {
            Role::Recovering
        } else {
            Role::Backup
        };
        let mut core = Core {
            role,
            epoch: rec.epoch,
            synced_epoch: rec.synced_epoch,
            seq: rec.seq,
            store: rec.store,
            last_heard: Instant::now(),
            heard: 0,
            wal,
        };
        if fresh {
            core.wal.append(&[Record::Meta {
                epoch: 1,
                synced_epoch: 1,
            }])?;
        }
        Ok(Arc::new(Node {
            cfg,
            core: Mutex::new(core),
            write_lock: tokio::sync::Mutex::new(()),
            links,
            paused: watch::channel(false).0,
            http,
            replicated_bytes: AtomicU64::new(0),
            isolated: Mutex::new(Default::default()),
        }))
    }

    pub fn is_isolated_from(&self, peer: &str) -> bool {
        self.isolated
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(peer)
    }

    pub fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The epoch this node is primary of, if it is primary.
    pub fn primary_epoch(&self) -> Option<u64> {
        let c = self.core();
        (c.role == Role::Primary).then_some(c.epoch)
    }

    pub fn position(&self) -> Position {
        let c = self.core();
        Position {
            epoch: c.epoch,
            synced_epoch: c.synced_epoch,
            seq: c.seq,
            role: c.role.name().into(),
        }
    }

    /// Serves a client request on the primary: the commit point of the seed, step 4 is
    /// the return of `Reply::Done`.
    pub async fn serve(&self, req: Request) -> Reply {
        let _serial = self.write_lock.lock().await;
        let (epoch, seq) = {
            let mut c = self.core();
            if c.role != Role::Primary {
                return Reply::NotPrimary;
            }
            let op = match req {
                Request::Read(key) => {
                    return Reply::Value(c.store.get(&key).cloned().unwrap_or(Value::Null))
                }
                Request::Write(op) => op,
            };
            let value = match op.execute(&c.store) {
                Ok(v) => v,
                Err(OpError::CasMismatch(v)) => return Reply::CasMismatch(v),
                Err(OpError::NotAList(v)) => return Reply::NotAList(v),
            };
            let seq = c.seq + 1;
            let key = op.key().to_string();
            c.log(&[Record::Entry {
                seq,
                key: key.clone(),
                value: value.clone(),
            }]);
            store::set(&mut c.store, &key, value.clone());
            c.seq = seq;
            let payload = match self.cfg.replicate {
                crate::config::Replicate::Requests => Payload::Request { op },
                crate::config::Replicate::State => Payload::State { key, value },
            };
            let entry = Entry { seq, payload };
            for link in &self.links {
                link.push(c.epoch, entry.clone());
            }
            (c.epoch, seq)
        };
        if self.cfg.ack == Ack::Sync {
            let all = async {
                for link in &self.links {
                    link.wait_acked(epoch, seq).await;
                }
            };
            if tokio::time::timeout(self.cfg.request_timeout, all)
                .await
                .is_err()
            {
                return Reply::Timeout;
            }
        }
        let c = self.core();
        if c.role != Role::Primary || c.epoch != epoch {
            return Reply::Deposed;
        }
        Reply::Done
    }

    /// Checks a primary's epoch, adopting it when it is newer.
    fn accept_primary(&self, c: &mut Core, epoch: u64) -> Result<(), Reject> {
        if epoch < c.epoch || (epoch == c.epoch && self.cfg.owner(epoch) == self.cfg.id) {
            return Err(Reject::StaleEpoch { epoch: c.epoch });
        }
        if epoch > c.epoch {
            self.adopt_epoch(c, epoch, "message from a newer primary");
        }
        if c.role == Role::Recovering {
            c.role = Role::Backup;
        }
        c.last_heard = Instant::now();
        c.heard += 1;
        Ok(())
    }

    /// Follows the owner of `epoch` from now on (stepping down if this node was primary).
    pub fn adopt_epoch(&self, c: &mut Core, epoch: u64, why: &str) {
        if epoch <= c.epoch {
            return;
        }
        let was = c.role;
        c.epoch = epoch;
        c.role = Role::Backup;
        c.last_heard = Instant::now();
        let rec = Record::Meta {
            epoch,
            synced_epoch: c.synced_epoch,
        };
        c.log(&[rec]);
        log(
            "info",
            &self.cfg.id,
            if was == Role::Backup {
                "new-epoch"
            } else {
                "stepped-down"
            },
            json!({"epoch": epoch, "primary": self.cfg.owner(epoch), "why": why}),
        );
    }

    pub fn step_down(&self, epoch: u64, why: &str) {
        let mut c = self.core();
        self.adopt_epoch(&mut c, epoch, why);
    }

    pub fn on_heartbeat(&self, epoch: u64) -> Result<Position, Reject> {
        let mut c = self.core();
        self.accept_primary(&mut c, epoch)?;
        Ok(Position {
            epoch: c.epoch,
            synced_epoch: c.synced_epoch,
            seq: c.seq,
            role: c.role.name().into(),
        })
    }

    pub fn on_replicate(&self, epoch: u64, entries: Vec<Entry>) -> Result<u64, Reject> {
        let mut c = self.core();
        self.accept_primary(&mut c, epoch)?;
        let need_sync = |c: &Core| Reject::NeedSync {
            synced_epoch: c.synced_epoch,
            seq: c.seq,
        };
        if c.synced_epoch != epoch || entries.first().is_some_and(|e| e.seq != c.seq + 1) {
            return Err(need_sync(&c));
        }
        let mut recs = Vec::with_capacity(entries.len());
        let mut diverged = false;
        for e in entries {
            if e.seq != c.seq + 1 {
                diverged = true;
                break;
            }
            let (key, value) = match e.payload {
                Payload::State { key, value } => (key, value),
                // Request replication: execute the operation here. It must succeed, since
                // the primary executed it on the same data; if not, the copies diverged.
                Payload::Request { op } => match op.execute(&c.store) {
                    Ok(v) => (op.key().to_string(), v),
                    Err(_) => {
                        log(
                            "warn",
                            &self.cfg.id,
                            "diverged",
                            json!({"seq": e.seq, "op": op}),
                        );
                        diverged = true;
                        break;
                    }
                },
            };
            store::set(&mut c.store, &key, value.clone());
            c.seq = e.seq;
            recs.push(Record::Entry {
                seq: e.seq,
                key,
                value,
            });
        }
        if diverged {
            // Forget the primary's history so that the next message is a full install.
            c.synced_epoch = 0;
            recs.push(Record::Meta {
                epoch: c.epoch,
                synced_epoch: 0,
            });
        }
        c.log(&recs);
        if diverged {
            return Err(need_sync(&c));
        }
        Ok(c.seq)
    }

    pub fn on_install(&self, epoch: u64, seq: u64, store: Store) -> Result<u64, Reject> {
        let mut c = self.core();
        self.accept_primary(&mut c, epoch)?;
        c.store = store;
        c.seq = seq;
        c.synced_epoch = epoch;
        c.rewrite_log();
        Ok(seq)
    }

    pub fn health(&self) -> Value {
        let c = self.core();
        let primary = self.cfg.owner(c.epoch).to_string();
        let backups: serde_json::Map<String, Value> = self
            .links
            .iter()
            .map(|l| (l.id.clone(), l.describe()))
            .collect();
        json!({
            "node": self.cfg.id,
            "role": c.role.name(),
            "leader": if c.role == Role::Recovering { Value::Null } else { json!(primary) },
            "epoch": c.epoch,
            "term": c.epoch,
            "commit_index": c.seq,
            "seq": c.seq,
            "synced_epoch": c.synced_epoch,
            "keys": c.store.len(),
            "replicate": format!("{:?}", self.cfg.replicate).to_lowercase(),
            "ack": format!("{:?}", self.cfg.ack).to_lowercase(),
            "failover": format!("{:?}", self.cfg.failover).to_lowercase(),
            "replication_paused": *self.paused.borrow(),
            "replicated_bytes": self.replicated_bytes.load(Ordering::Relaxed),
            "backups": if c.role == Role::Primary { Value::Object(backups) } else { json!({}) },
        })
    }
}

impl Core {
    /// Appends to the log; a node that cannot write its log stops (fail-stop), since
    /// going on would acknowledge what a restart would forget.
    pub fn log(&mut self, recs: &[Record]) {
        if recs.is_empty() {
            return;
        }
        let res = tokio::task::block_in_place(|| self.wal.append(recs));
        if let Err(e) = res {
            eprintln!("pb-kv: fatal: {e:#}");
            std::process::exit(1);
        }
    }

    pub fn rewrite_log(&mut self) {
        let rec = Recovered {
            epoch: self.epoch,
            synced_epoch: self.synced_epoch,
            seq: self.seq,
            store: self.store.clone(),
            existed: true,
        };
        let res = tokio::task::block_in_place(|| self.wal.rewrite(&rec));
        if let Err(e) = res {
            eprintln!("pb-kv: fatal: {e:#}");
            std::process::exit(1);
        }
    }
}
