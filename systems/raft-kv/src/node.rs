//! The driver: one OS thread owns the Raft core, the storage and the state machine. It feeds
//! the core ticks (monotonic clock) and events, and carries out each `Ready` in the order Raft
//! needs: persist with fsync, then send, then apply and answer clients.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Result;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::bugs::{Bug, Bugs};
use crate::core::{
    Membership, Message, NodeId, Payload, ProposeError, Raft, RaftConfig, Ready, Role,
};
use crate::kv::{Command, Kv, Outcome};
use crate::logging::log;
use crate::storage::Storage;
use crate::transport::Transport;

mod lease;
use lease::WallLease;

#[derive(Clone, Debug)]
pub struct NodeOptions {
    pub id: NodeId,
    pub listen: String,
    /// Configuration used on first boot (ignored once the data directory holds state).
    pub bootstrap: Membership,
    pub data_dir: PathBuf,
    pub bugs: Bugs,
    pub tick: Duration,
    pub election_ticks_min: u32,
    pub election_ticks_max: u32,
    pub request_timeout: Duration,
    pub snapshot_threshold_bytes: usize,
    pub snapshot_chunk_bytes: usize,
}

/// Requests from the HTTP layer to the driver thread.
pub enum Event {
    Peer(Vec<Message>),
    Write {
        cmd: Command,
        reply: oneshot::Sender<Reply>,
    },
    /// `local`: answer from this node's state machine without any check (`--bug stale-read`).
    Read {
        key: String,
        local: bool,
        reply: oneshot::Sender<Reply>,
    },
    AddMember {
        id: NodeId,
        addr: String,
        reply: oneshot::Sender<Reply>,
    },
    RemoveMember {
        id: NodeId,
        reply: oneshot::Sender<Reply>,
    },
    /// Make the voters exactly these (id -> address), however many change at once.
    SetMembers {
        members: BTreeMap<NodeId, String>,
        reply: oneshot::Sender<Reply>,
    },
}

#[derive(Debug)]
pub enum Reply {
    /// A read's value and the key's version (the log index of its last write; 0 if never
    /// written).
    Value(Value, u64),
    /// A write, CAS or append took effect; the key's new version (its entry's log index).
    Written(u64),
    Done,
    CasMismatch(Value),
    NotAList(Value),
    NotLeader(Option<NodeId>),
    /// Not known to have taken effect or not (deadline passed, or outcome lost).
    Indeterminate(&'static str),
    /// Certainly did not take effect.
    Failed(String),
}

/// What `/health` reports, refreshed by the driver after every batch.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub id: NodeId,
    pub role: &'static str,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub commit_index: u64,
    pub applied_index: u64,
    pub last_index: u64,
    pub snapshot_index: u64,
    pub membership: Membership,
}

impl Status {
    pub fn to_json(&self, bugs: &Bugs) -> Value {
        json!({
            "node": self.id, "role": self.role, "term": self.term, "leader": self.leader,
            "commit_index": self.commit_index, "applied_index": self.applied_index,
            "last_index": self.last_index, "snapshot_index": self.snapshot_index,
            "members": self.membership.voters, "outgoing_members": self.membership.outgoing,
            "joint": self.membership.is_joint(), "bugs": bugs.names(),
        })
    }
}

struct PendingWrite {
    term: u64,
    reply: oneshot::Sender<Reply>,
    deadline: Instant,
}

struct PendingRead {
    key: String,
    reply: oneshot::Sender<Reply>,
    deadline: Instant,
}

enum AdminChange {
    Add(NodeId),
    Remove(NodeId),
    Set(BTreeSet<NodeId>),
}

struct PendingAdmin {
    change: AdminChange,
    reply: oneshot::Sender<Reply>,
    deadline: Instant,
}

/// Marks the ReadIndex contexts of `--bug lease-read` lease probes (client reads count up from 1).
const LEASE_CTX_BIT: u64 = 1 << 63;

pub struct Driver {
    opts: NodeOptions,
    raft: Raft,
    storage: Storage,
    kv: Kv,
    transport: Arc<Transport>,
    status: Arc<RwLock<Status>>,
    writes: BTreeMap<u64, PendingWrite>,
    reads: HashMap<u64, PendingRead>,
    /// Confirmed reads waiting for the state machine to reach their index.
    reads_to_serve: Vec<(u64, PendingRead)>,
    admin: Option<PendingAdmin>,
    next_ctx: u64,
    /// `--bug lease-read`: the wall-clock lease that serves reads and deposes the leader.
    lease: WallLease,
    last_role: Role,
    last_term: u64,
}

impl Driver {
    /// Opens storage and builds the core. Errors (unreadable data directory) are reported
    /// before the node starts serving.
    pub fn open(
        opts: NodeOptions,
        transport: Arc<Transport>,
        status: Arc<RwLock<Status>>,
    ) -> Result<Driver> {
        let (storage, restored) = if opts.bugs.has(Bug::VolatileState) {
            Storage::volatile(opts.bootstrap.clone())
        } else {
            let (s, r) = Storage::open(&opts.data_dir, opts.bootstrap.clone())?;
            if opts.bugs.has(Bug::NoFsync) {
                (s.without_log_fsync(), r)
            } else {
                (s, r)
            }
        };
        let kv = Kv::from_snapshot(&restored.snapshot.data, restored.snapshot.meta.index)?;
        let mut cfg = RaftConfig::new(opts.id.clone());
        cfg.election_ticks_min = opts.election_ticks_min;
        cfg.election_ticks_max = opts.election_ticks_max;
        cfg.check_candidate_log = !opts.bugs.has(Bug::NoLogCheck);
        // BUG (lease-read): the wall-clock lease replaces check-quorum (see `node::lease`).
        cfg.check_quorum = !opts.bugs.has(Bug::LeaseRead);
        cfg.snapshot_chunk_bytes = opts.snapshot_chunk_bytes;
        cfg.seed = seed_from_clock(&opts.id);
        log(
            "info",
            &opts.id,
            "restored",
            json!({
                "term": restored.hard_state.term, "vote": restored.hard_state.vote,
                "snapshot_index": restored.snapshot.meta.index, "entries": restored.entries.len(),
                "members": restored.snapshot.meta.membership.voters,
            }),
        );
        let raft = Raft::new(cfg, restored);
        let lease = WallLease::new(opts.tick, opts.election_ticks_min);
        transport.learn(&raft.peer_addrs());
        Ok(Driver {
            opts,
            raft,
            storage,
            kv,
            transport,
            status,
            writes: BTreeMap::new(),
            reads: HashMap::new(),
            reads_to_serve: Vec::new(),
            admin: None,
            next_ctx: 1,
            lease,
            last_role: Role::Follower,
            last_term: 0,
        })
    }

    /// Runs until every event sender is gone. A storage error is fatal: a node that cannot
    /// persist must not keep voting or acknowledging.
    pub fn run(mut self, events: Receiver<Event>) {
        let mut next_tick = Instant::now() + self.opts.tick;
        self.publish_status();
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match events.recv_timeout(wait) {
                Ok(ev) => {
                    self.handle(ev);
                    // Batch whatever else is queued into the same fsync.
                    for _ in 0..4096 {
                        match events.try_recv() {
                            Ok(ev) => self.handle(ev),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = Instant::now();
            if now >= next_tick {
                self.raft.tick();
                self.on_tick(now);
                // After a pause (SIGSTOP) do not replay the missed ticks in a burst.
                next_tick = if now > next_tick + self.opts.tick {
                    now + self.opts.tick
                } else {
                    next_tick + self.opts.tick
                };
            }
            loop {
                let ready = self.raft.ready();
                if ready.is_empty() {
                    break;
                }
                if let Err(e) = self.process(ready) {
                    log(
                        "error",
                        &self.opts.id,
                        "storage-failed",
                        json!({"error": format!("{e:#}")}),
                    );
                    std::process::exit(2);
                }
            }
            self.maybe_snapshot();
            self.publish_status();
        }
    }

    /// One event from the HTTP side or a peer. Each kind has its own method below, so
    /// that the path a client request takes through the driver reads on one screen.
    fn handle(&mut self, ev: Event) {
        let deadline = Instant::now() + self.opts.request_timeout;
        match ev {
            Event::Peer(msgs) => {
                for m in msgs {
                    self.raft.step(m);
                }
            }
            Event::Write { cmd, reply } => self.handle_write(cmd, reply, deadline),
            Event::Read { key, local, reply } => {
                let read = PendingRead {
                    key,
                    reply,
                    deadline,
                };
                self.handle_read(read, local)
            }
            Event::AddMember { id, addr, reply } => {
                // Learn the address first: the leader must reach the new node to catch
                // it up before the joint configuration can commit.
                let book = BTreeMap::from([(id.clone(), addr.clone())]);
                self.transport.learn(&book);
                let proposal = |raft: &mut Raft| raft.propose_add(id.clone(), addr);
                self.handle_membership(AdminChange::Add(id.clone()), reply, proposal)
            }
            Event::RemoveMember { id, reply } => {
                let proposal = |raft: &mut Raft| raft.propose_remove(&id);
                self.handle_membership(AdminChange::Remove(id.clone()), reply, proposal)
            }
            Event::SetMembers { members, reply } => self.handle_set_members(members, reply),
        }
    }

    /// A client write: proposed to the log, answered when its entry is applied (or,
    /// with the early-ack bug, at once).
    fn handle_write(&mut self, cmd: Command, reply: oneshot::Sender<Reply>, deadline: Instant) {
        let encoded = serde_json::to_string(&cmd).expect("commands serialize");
        match self.raft.propose(encoded) {
            Ok((index, _)) if self.opts.bugs.has(Bug::EarlyAck) => {
                // BUG (early-ack): answer now, from the leader's current state,
                // before the entry is replicated or committed.
                let _ = reply.send(outcome_reply(self.kv.predict(&cmd, index)));
            }
            Ok((index, term)) => {
                let pending = PendingWrite {
                    term,
                    reply,
                    deadline,
                };
                self.writes.insert(index, pending);
            }
            Err(e) => {
                let _ = reply.send(propose_error_reply(e));
            }
        }
    }

    /// A client read: linearizable through ReadIndex (a quorum confirms leadership),
    /// unless a bug switch answers it from local state (`local`) or a wall-clock lease.
    fn handle_read(&mut self, read: PendingRead, local: bool) {
        if local {
            let _ = read.reply.send(read_reply(&self.kv, &read.key));
            return;
        }
        if self.opts.bugs.has(Bug::LeaseRead)
            && self.raft.role() == Role::Leader
            && self.lease.serves_reads(SystemTime::now())
        {
            // BUG (lease-read): trust the wall-clock lease instead of a quorum.
            let index = self.raft.commit_index();
            self.reads_to_serve.push((index, read));
            self.serve_reads();
            return;
        }
        let ctx = self.next_ctx;
        self.next_ctx += 1;
        match self.raft.read_index(ctx) {
            Ok(()) => {
                self.reads.insert(ctx, read);
            }
            Err(e) => {
                let _ = read.reply.send(propose_error_reply(e));
            }
        }
    }

    /// Adding or removing a member: one change at a time (a second is refused while the
    /// first is in flight), given ten request timeouts because a new node must first
    /// catch up.
    fn handle_membership(
        &mut self,
        change: AdminChange,
        reply: oneshot::Sender<Reply>,
        propose: impl FnOnce(&mut Raft) -> Result<(), ProposeError>,
    ) {
        if self.admin.is_some() {
            let busy = "a membership change is already in progress";
            let _ = reply.send(Reply::Failed(busy.into()));
            return;
        }
        match propose(&mut self.raft) {
            Ok(()) => {
                let deadline = Instant::now() + self.opts.request_timeout * 10;
                self.admin = Some(PendingAdmin {
                    change,
                    reply,
                    deadline,
                });
            }
            Err(e) => {
                let _ = reply.send(propose_error_reply(e));
            }
        }
    }

    /// `PUT /admin/members`: the voters become exactly `members`. Idempotent: a leader
    /// whose configuration already is that answers done at once, so a caller that lost
    /// an answer can ask again.
    fn handle_set_members(
        &mut self,
        members: BTreeMap<NodeId, String>,
        reply: oneshot::Sender<Reply>,
    ) {
        let wanted: BTreeSet<NodeId> = members.keys().cloned().collect();
        let current = self.raft.membership();
        if self.raft.role() == Role::Leader
            && self.admin.is_none()
            && !current.is_joint()
            && current.voters == wanted
        {
            let _ = reply.send(Reply::Done);
            return;
        }
        self.transport.learn(&members);
        let single_step = self.opts.bugs.has(Bug::SingleStepMembership);
        let proposal = |raft: &mut Raft| raft.propose_set(members, single_step);
        self.handle_membership(AdminChange::Set(wanted), reply, proposal)
    }

    fn on_tick(&mut self, now: Instant) {
        // Expire requests past their deadline: their outcome is unknown.
        let expired: Vec<u64> = self
            .writes
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(i, _)| *i)
            .collect();
        for i in expired {
            let w = self.writes.remove(&i).unwrap();
            let _ = w.reply.send(Reply::Indeterminate("timeout"));
        }
        let expired: Vec<u64> = self
            .reads
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(c, _)| *c)
            .collect();
        for c in expired {
            let r = self.reads.remove(&c).unwrap();
            let _ = r.reply.send(Reply::Indeterminate("timeout"));
        }
        let (late, keep): (Vec<_>, Vec<_>) = self
            .reads_to_serve
            .drain(..)
            .partition(|(_, r)| r.deadline <= now);
        self.reads_to_serve = keep;
        for (_, r) in late {
            let _ = r.reply.send(Reply::Indeterminate("timeout"));
        }
        if self.admin.as_ref().is_some_and(|a| a.deadline <= now) {
            let admin = self.admin.take().unwrap();
            if let AdminChange::Add(id) = &admin.change {
                self.raft.cancel_add(id);
            }
            let _ = admin.reply.send(Reply::Indeterminate("timeout"));
        }
        if self.opts.bugs.has(Bug::LeaseRead) {
            self.tick_lease();
        }
    }

    /// BUG (lease-read), once per tick: a leader whose wall-clock lease has lapsed steps down
    /// (this build has no check-quorum); otherwise it probes for a fresh lease with a ReadIndex
    /// round stamped with the wall clock before the round starts.
    fn tick_lease(&mut self) {
        let now = SystemTime::now();
        self.observe_lease(now);
        if self.raft.role() != Role::Leader {
            return;
        }
        if self.lease.lapsed(now) {
            log(
                "info",
                &self.opts.id,
                "lease-lapsed",
                json!({"term": self.raft.term()}),
            );
            self.raft.step_down();
            self.observe_lease(now);
            return;
        }
        let ctx = LEASE_CTX_BIT | self.next_ctx;
        self.next_ctx += 1;
        if self.raft.read_index(ctx).is_ok() {
            self.lease.probe_sent(ctx, now);
        }
    }

    /// Tells the lease whether (and in which term) this node leads at wall time `now`.
    fn observe_lease(&mut self, now: SystemTime) {
        let leader_term = (self.raft.role() == Role::Leader).then(|| self.raft.term());
        self.lease.observe(leader_term, now);
    }

    fn process(&mut self, ready: Ready) -> Result<()> {
        if let Some(hs) = &ready.hard_state {
            self.storage.save_hard_state(hs)?;
        }
        if let Some(snap) = &ready.snapshot {
            self.storage.save_snapshot(snap)?;
        }
        if let Some((from, entries)) = &ready.entries {
            self.storage.append(*from, entries)?;
        }
        for m in ready.messages {
            self.transport.send(m);
        }
        if let Some(snap) = ready.snapshot {
            self.kv = Kv::from_snapshot(&snap.data, snap.meta.index)?;
            log(
                "info",
                &self.opts.id,
                "snapshot-installed",
                json!({"index": snap.meta.index, "bytes": snap.data.len()}),
            );
            // Writes this node proposed up to there were applied inside the snapshot; their
            // individual results are lost.
            let covered: Vec<u64> = self
                .writes
                .range(..=snap.meta.index)
                .map(|(i, _)| *i)
                .collect();
            for i in covered {
                let _ = self
                    .writes
                    .remove(&i)
                    .unwrap()
                    .reply
                    .send(Reply::Indeterminate("unavailable"));
            }
        }
        for e in ready.committed {
            let outcome = match &e.payload {
                Payload::Command(c) => match serde_json::from_str::<Command>(c) {
                    Ok(cmd) => Some(self.kv.apply(&cmd, e.index)),
                    Err(err) => {
                        log(
                            "error",
                            &self.opts.id,
                            "bad-command",
                            json!({"index": e.index, "error": err.to_string()}),
                        );
                        None
                    }
                },
                Payload::Config(m) => {
                    self.on_config_applied(m);
                    None
                }
                Payload::Noop => None,
            };
            if let Some(w) = self.writes.remove(&e.index) {
                let reply = match outcome {
                    // Our entry committed at its index: its result is the apply result.
                    Some(o) if w.term == e.term => outcome_reply(o),
                    // Another entry committed at that index; ours can never commit anywhere.
                    _ => Reply::Failed("superseded".into()),
                };
                let _ = w.reply.send(reply);
            }
        }
        for rs in ready.read_states {
            if rs.ctx & LEASE_CTX_BIT != 0 {
                if self.lease.probe_confirmed(rs.ctx) {
                    // Once per leadership: from here on this leader answers reads alone.
                    log(
                        "info",
                        &self.opts.id,
                        "lease-held",
                        json!({"term": self.raft.term()}),
                    );
                }
                continue;
            }
            if let Some(r) = self.reads.remove(&rs.ctx) {
                self.reads_to_serve.push((rs.index, r));
            }
        }
        for ctx in ready.dropped_reads {
            if let Some(r) = self.reads.remove(&ctx) {
                let _ = r.reply.send(Reply::NotLeader(None));
            }
        }
        self.serve_reads();
        Ok(())
    }

    fn serve_reads(&mut self) {
        let applied = self.raft.applied_index();
        if self.reads_to_serve.iter().all(|(i, _)| *i > applied) {
            return;
        }
        let (ready, wait): (Vec<_>, Vec<_>) = self
            .reads_to_serve
            .drain(..)
            .partition(|(i, _)| *i <= applied);
        self.reads_to_serve = wait;
        for (_, r) in ready {
            let _ = r.reply.send(read_reply(&self.kv, &r.key));
        }
    }

    fn on_config_applied(&mut self, m: &Membership) {
        log(
            "info",
            &self.opts.id,
            "membership-applied",
            json!({"voters": m.voters, "outgoing": m.outgoing}),
        );
        if m.is_joint() {
            return;
        }
        let done = match &self.admin {
            Some(PendingAdmin {
                change: AdminChange::Add(id),
                ..
            }) => m.voters.contains(id),
            Some(PendingAdmin {
                change: AdminChange::Remove(id),
                ..
            }) => !m.voters.contains(id),
            Some(PendingAdmin {
                change: AdminChange::Set(ids),
                ..
            }) => &m.voters == ids,
            None => false,
        };
        if done {
            let _ = self.admin.take().unwrap().reply.send(Reply::Done);
        }
    }

    fn maybe_snapshot(&mut self) {
        if self.raft.log_bytes() < self.opts.snapshot_threshold_bytes {
            return;
        }
        let applied = self.raft.applied_index();
        if let Some(snap) = self.raft.compact(applied, self.kv.to_bytes()) {
            if let Err(e) = self.storage.save_snapshot(&snap) {
                log(
                    "error",
                    &self.opts.id,
                    "storage-failed",
                    json!({"error": format!("{e:#}")}),
                );
                std::process::exit(2);
            }
            log(
                "info",
                &self.opts.id,
                "snapshot-taken",
                json!({"index": snap.meta.index, "bytes": snap.data.len()}),
            );
        }
    }

    fn publish_status(&mut self) {
        let (role, term) = (self.raft.role(), self.raft.term());
        if role != self.last_role || term != self.last_term {
            log(
                "info",
                &self.opts.id,
                "role",
                json!({"role": role.as_str(), "term": term, "leader": self.raft.leader()}),
            );
            self.last_role = role;
            self.last_term = term;
            if self.opts.bugs.has(Bug::LeaseRead) {
                self.observe_lease(SystemTime::now());
            }
        }
        self.transport.learn(&self.raft.peer_addrs());
        let mut st = self.status.write().unwrap();
        st.id = self.opts.id.clone();
        st.role = role.as_str();
        st.term = term;
        st.leader = self.raft.leader().cloned();
        st.commit_index = self.raft.commit_index();
        st.applied_index = self.raft.applied_index();
        st.last_index = self.raft.last_index();
        st.snapshot_index = self.raft.snapshot_meta().index;
        if &st.membership != self.raft.membership() {
            st.membership = self.raft.membership().clone();
        }
    }
}

fn read_reply(kv: &Kv, key: &str) -> Reply {
    let (value, version) = kv.read(key);
    Reply::Value(value, version)
}

fn outcome_reply(o: Outcome) -> Reply {
    match o {
        Outcome::Ok { version } => Reply::Written(version),
        Outcome::CasMismatch { current } => Reply::CasMismatch(current),
        Outcome::NotAList { current } => Reply::NotAList(current),
    }
}

fn propose_error_reply(e: ProposeError) -> Reply {
    match e {
        ProposeError::NotLeader { leader } => Reply::NotLeader(leader),
        other => Reply::Failed(other.to_string()),
    }
}

/// Election-timeout randomness differs between nodes and runs (determinism matters only in
/// the simulation, which seeds the core itself).
fn seed_from_clock(id: &str) -> u64 {
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    id.bytes().fold(t ^ std::process::id() as u64, |h, b| {
        h.wrapping_mul(31).wrapping_add(b as u64)
    })
}
