//! The Raft state machine itself, free of I/O: the driver feeds it ticks, peer messages and
//! client requests, and collects from `ready()` what must be persisted (before anything is
//! sent), sent, applied and answered. Identical inputs give identical outputs, which is what
//! lets the simulation replay a failing seed exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::config::Membership;
use super::log::RaftLog;
use super::messages::{Body, Entry, Message, NodeId, Payload, Snapshot, SnapshotMeta};
use super::progress::{Progress, ReplicaState, SnapshotTransfer};

/// How many entries behind the commit index a node being added may be when it becomes a voter.
const CATCH_UP_SLACK: u64 = 64;

#[derive(Clone, Debug)]
pub struct RaftConfig {
    pub id: NodeId,
    /// Election timeout, in ticks, drawn uniformly from `election_ticks_min ..= election_ticks_max`
    /// every time the timer is reset.
    pub election_ticks_min: u32,
    pub election_ticks_max: u32,
    pub heartbeat_ticks: u32,
    /// Refuse votes to candidates whose log is behind ours (Raft §5.4.1). Only the
    /// `no-log-check` bug switch turns this off.
    pub check_candidate_log: bool,
    /// Check-quorum (Raft thesis §6.2): a leader that has not heard from a quorum within a
    /// minimum election timeout steps down, so an isolated leader stops acting as one before
    /// a successor can be elected. Only the `lease-read` bug switch turns this off; its driver
    /// then deposes the leader itself, on a wall-clock lease, through [`Raft::step_down`].
    pub check_quorum: bool,
    pub max_entries_per_message: usize,
    pub max_bytes_per_message: usize,
    pub snapshot_chunk_bytes: usize,
    /// Seed of the election-timeout randomness.
    pub seed: u64,
}

impl RaftConfig {
    pub fn new(id: impl Into<NodeId>) -> Self {
        RaftConfig {
            id: id.into(),
            election_ticks_min: 6,
            election_ticks_max: 12,
            heartbeat_ticks: 1,
            check_candidate_log: true,
            check_quorum: true,
            max_entries_per_message: 512,
            max_bytes_per_message: 1 << 20,
            snapshot_chunk_bytes: 256 << 10,
            seed: 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// The state Raft requires on stable storage before answering any RPC.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HardState {
    pub term: u64,
    pub vote: Option<NodeId>,
}

/// What a node starts from: what storage holds (or, on first boot, the bootstrap configuration).
#[derive(Clone, Debug, Default)]
pub struct Restored {
    pub hard_state: HardState,
    /// The latest snapshot; when there is none, its `meta` is index 0 with the bootstrap
    /// membership (empty for a node that waits to be added) and `data` is empty.
    pub snapshot: Snapshot,
    pub entries: Vec<Entry>,
}

/// A confirmed linearizable read: answer request `ctx` once the state machine has applied
/// `index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadState {
    pub ctx: u64,
    pub index: u64,
}

/// Everything the driver must do after feeding the core, in this order: persist `hard_state`,
/// `snapshot` and `entries` durably; then send `messages`; then restore the state machine from
/// `snapshot` and apply `committed`; then answer `read_states` and fail `dropped_reads`.
#[derive(Debug, Default)]
pub struct Ready {
    pub hard_state: Option<HardState>,
    pub snapshot: Option<Snapshot>,
    /// Truncate the stored log at `.0` and append `.1`.
    pub entries: Option<(u64, Vec<Entry>)>,
    pub messages: Vec<Message>,
    pub committed: Vec<Entry>,
    pub read_states: Vec<ReadState>,
    /// Read requests that can no longer be confirmed (leadership lost).
    pub dropped_reads: Vec<u64>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.hard_state.is_none()
            && self.snapshot.is_none()
            && self.entries.is_none()
            && self.messages.is_empty()
            && self.committed.is_empty()
            && self.read_states.is_empty()
            && self.dropped_reads.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProposeError {
    NotLeader {
        leader: Option<NodeId>,
    },
    /// A membership change is already under way (only one at a time).
    ChangeInProgress,
    AlreadyMember,
    NotMember,
    /// Removing this node would leave no voter.
    LastMember,
}

impl std::fmt::Display for ProposeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProposeError::NotLeader { leader } => write!(f, "not the leader (leader: {leader:?})"),
            ProposeError::ChangeInProgress => {
                write!(f, "a membership change is already in progress")
            }
            ProposeError::AlreadyMember => write!(f, "node is already a member"),
            ProposeError::NotMember => write!(f, "node is not a member"),
            ProposeError::LastMember => write!(f, "cannot remove the last member"),
        }
    }
}

struct PendingRead {
    ctx: u64,
    index: u64,
    round: u64,
}

/// A node being brought up to date before it joins the configuration as a voter.
#[derive(Clone, Debug)]
struct CatchingUp {
    id: NodeId,
    addr: String,
}

/// An InstallSnapshot transfer being received.
struct IncomingSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

pub struct Raft {
    cfg: RaftConfig,
    rng: SmallRng,
    term: u64,
    vote: Option<NodeId>,
    role: Role,
    leader: Option<NodeId>,
    log: RaftLog,
    /// The configuration in force: the latest one in the log, else the snapshot's.
    membership: Membership,
    /// Index of the entry that carried `membership` (the snapshot index when it came from one).
    membership_index: u64,
    snapshot: Snapshot,
    snapshot_data: Arc<Vec<u8>>,
    election_elapsed: u32,
    election_timeout: u32,
    heartbeat_elapsed: u32,
    check_quorum_elapsed: u32,
    votes: BTreeMap<NodeId, bool>,
    progress: BTreeMap<NodeId, Progress>,
    catching_up: Option<CatchingUp>,
    read_round: u64,
    read_heartbeat_due: bool,
    pending_reads: Vec<PendingRead>,
    reads_awaiting_commit: Vec<u64>,
    incoming_snapshot: Option<IncomingSnapshot>,
    // Output buffers.
    messages: Vec<Message>,
    read_states: Vec<ReadState>,
    dropped_reads: Vec<u64>,
    snapshot_to_install: Option<Snapshot>,
    persisted_hard_state: HardState,
}

impl Raft {
    pub fn new(cfg: RaftConfig, restored: Restored) -> Self {
        let rng = SmallRng::seed_from_u64(cfg.seed);
        let log = RaftLog::new(&restored.snapshot.meta, restored.entries);
        let mut raft = Raft {
            rng,
            term: restored.hard_state.term,
            vote: restored.hard_state.vote.clone(),
            role: Role::Follower,
            leader: None,
            log,
            membership: restored.snapshot.meta.membership.clone(),
            membership_index: restored.snapshot.meta.index,
            snapshot_data: Arc::new(restored.snapshot.data.clone()),
            snapshot: restored.snapshot,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            check_quorum_elapsed: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            catching_up: None,
            read_round: 0,
            read_heartbeat_due: false,
            pending_reads: Vec::new(),
            reads_awaiting_commit: Vec::new(),
            incoming_snapshot: None,
            messages: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            snapshot_to_install: None,
            persisted_hard_state: restored.hard_state,
            cfg,
        };
        raft.refresh_membership();
        raft.reset_election_timer();
        raft
    }

    // ----- accessors -----

    pub fn id(&self) -> &str {
        &self.cfg.id
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn vote(&self) -> Option<&NodeId> {
        self.vote.as_ref()
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> Option<&NodeId> {
        self.leader.as_ref()
    }
    pub fn commit_index(&self) -> u64 {
        self.log.committed
    }
    pub fn applied_index(&self) -> u64 {
        self.log.applied
    }
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    pub fn membership(&self) -> &Membership {
        &self.membership
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    pub fn snapshot_meta(&self) -> &SnapshotMeta {
        &self.snapshot.meta
    }
    /// Every node this one may need to send to, with its address (members plus a node being
    /// caught up before joining).
    pub fn peer_addrs(&self) -> BTreeMap<NodeId, String> {
        let mut out = self.membership.addrs.clone();
        if let Some(c) = &self.catching_up {
            out.insert(c.id.clone(), c.addr.clone());
        }
        out
    }
    /// Bytes of log held since the last snapshot, to decide when to compact.
    pub fn log_bytes(&self) -> usize {
        self.log.bytes()
    }

    // ----- inputs -----

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        match self.role {
            Role::Leader => self.tick_leader(),
            Role::Follower | Role::Candidate => {
                self.election_elapsed = self.election_elapsed.saturating_add(1);
                if self.election_elapsed >= self.election_timeout && self.promotable() {
                    self.campaign();
                }
            }
        }
    }

    /// Appends a client command to the log. Returns its (index, term): the command took effect
    /// iff the entry committed at that index has that term.
    pub fn propose(&mut self, command: String) -> Result<(u64, u64), ProposeError> {
        self.require_leader()?;
        Ok(self.append_own(Payload::Command(command)))
    }

    /// Starts a linearizable read identified by `ctx`; it comes back in `Ready::read_states`
    /// once a quorum has confirmed this node was still the leader after the read arrived.
    pub fn read_index(&mut self, ctx: u64) -> Result<(), ProposeError> {
        self.require_leader()?;
        if self.log.term(self.log.committed) == Some(self.term) {
            self.start_read(ctx);
        } else {
            // The commit index of a new leader may lag; it is current only once an entry of
            // its own term commits.
            self.reads_awaiting_commit.push(ctx);
        }
        Ok(())
    }

    /// Adds a voter: the node first receives the log as a non-voting learner, then joins
    /// through a joint configuration.
    pub fn propose_add(&mut self, id: NodeId, addr: String) -> Result<(), ProposeError> {
        self.require_leader()?;
        if self.membership.voters.contains(&id) && !self.membership.is_joint() {
            return Err(ProposeError::AlreadyMember);
        }
        if self.change_in_progress() {
            return Err(ProposeError::ChangeInProgress);
        }
        self.progress
            .insert(id.clone(), Progress::new(self.log.last_index()));
        self.catching_up = Some(CatchingUp {
            id: id.clone(),
            addr,
        });
        self.send_append(&id);
        self.maybe_promote_learner();
        Ok(())
    }

    /// Gives up adding a node that has not caught up yet (it is unreachable, say), so that
    /// other changes can proceed. No effect once its joint configuration is in the log.
    pub fn cancel_add(&mut self, id: &str) {
        if self.catching_up.as_ref().is_some_and(|c| c.id == id) {
            self.catching_up = None;
            self.sync_progress();
        }
    }

    /// Removes a voter through a joint configuration.
    pub fn propose_remove(&mut self, id: &str) -> Result<(), ProposeError> {
        self.require_leader()?;
        if !self.membership.voters.contains(id) {
            return Err(ProposeError::NotMember);
        }
        if self.change_in_progress() {
            return Err(ProposeError::ChangeInProgress);
        }
        let mut voters = self.membership.voters.clone();
        voters.remove(id);
        if voters.is_empty() {
            return Err(ProposeError::LastMember);
        }
        let joint = self
            .membership
            .enter_joint(voters, self.membership.addrs.clone());
        self.append_own(Payload::Config(joint));
        Ok(())
    }

    /// Sets the voters to exactly `addrs` (any number added and removed at once), through
    /// the joint configuration C_old,new; with `single_step` (the `single-step-membership`
    /// bug) straight to C_new. New voters are not caught up first: the joint
    /// configuration waits for a majority of C_new to hold its entry, which is safe, only
    /// slower than [`Raft::propose_add`].
    pub fn propose_set(
        &mut self,
        addrs: BTreeMap<NodeId, String>,
        single_step: bool,
    ) -> Result<(), ProposeError> {
        self.require_leader()?;
        if addrs.is_empty() {
            return Err(ProposeError::LastMember);
        }
        if self.change_in_progress() {
            return Err(ProposeError::ChangeInProgress);
        }
        let voters: BTreeSet<NodeId> = addrs.keys().cloned().collect();
        if voters == self.membership.voters {
            return Err(ProposeError::AlreadyMember);
        }
        let next = if single_step {
            // BUG (single-step-membership): C_old -> C_new with no C_old,new between.
            Membership::new(addrs)
        } else {
            let mut all = self.membership.addrs.clone();
            all.extend(addrs);
            self.membership.enter_joint(voters, all)
        };
        self.append_own(Payload::Config(next));
        for peer in self.progress.keys().cloned().collect::<Vec<_>>() {
            self.send_append(&peer);
        }
        Ok(())
    }

    /// Gives up leadership: becomes a follower in the same term that knows no leader, failing
    /// pending reads as when deposed. For drivers that decide leadership lapsed by a rule of
    /// their own (the wall-clock lease of the `lease-read` bug); a no-op unless leader.
    pub fn step_down(&mut self) {
        if self.role == Role::Leader {
            self.become_follower(self.term, None);
        }
    }

    /// Folds the log up to `index` (already applied) into a snapshot whose state-machine bytes
    /// are `data`. Returns the snapshot for the driver to persist.
    pub fn compact(&mut self, index: u64, data: Vec<u8>) -> Option<Snapshot> {
        if index <= self.log.snapshot_index || index > self.log.applied {
            return None;
        }
        let term = self.log.term(index)?;
        let membership = self.membership_at(index);
        self.log.compact_to(index, term);
        self.snapshot = Snapshot {
            meta: SnapshotMeta {
                index,
                term,
                membership,
            },
            data,
        };
        self.snapshot_data = Arc::new(self.snapshot.data.clone());
        Some(self.snapshot.clone())
    }

    /// Handles one message from a peer: first its term (which may end this node's
    /// leadership or mark the message stale), then its body.
    pub fn step(&mut self, m: Message) {
        if m.to != self.cfg.id || !self.observe_term(&m) {
            return;
        }
        self.dispatch(m);
    }

    /// Brings this node's term in line with a message's (Raft's first rule): a newer
    /// term makes it a follower, an older one is answered with a refusal carrying this
    /// node's term so the sender steps down. Whether the message is to be handled.
    fn observe_term(&mut self, m: &Message) -> bool {
        if m.term > self.term {
            if let Body::RequestVote { .. } = m.body {
                // A node that hears from a live leader ignores vote requests, so servers removed
                // from the configuration (or partitioned ones returning) cannot depose it.
                let in_lease = self.role == Role::Leader
                    || (self.leader.is_some()
                        && self.election_elapsed < self.cfg.election_ticks_min);
                if in_lease {
                    return false;
                }
            }
            let leader = match m.body {
                Body::AppendEntries { .. }
                | Body::Heartbeat { .. }
                | Body::InstallSnapshot { .. } => Some(m.from.clone()),
                _ => None,
            };
            self.become_follower(m.term, leader);
            true
        } else if m.term < self.term {
            self.refuse_stale(m);
            false
        } else {
            true
        }
    }

    /// Tells a stale leader or candidate about the newer term so it steps down.
    fn refuse_stale(&mut self, m: &Message) {
        let refusal = match &m.body {
            Body::AppendEntries { prev_log_index, .. } => Body::AppendEntriesResponse {
                index: *prev_log_index,
                success: false,
                hint: 0,
            },
            Body::Heartbeat { .. } => Body::HeartbeatResponse { read_round: 0 },
            Body::InstallSnapshot { meta, .. } => Body::InstallSnapshotResponse {
                index: meta.index,
                next_offset: 0,
                done: false,
            },
            Body::RequestVote { .. } => Body::RequestVoteResponse { granted: false },
            _ => return,
        };
        self.send(&m.from, refusal);
    }

    /// Handles a message of the current term, by kind.
    fn dispatch(&mut self, m: Message) {
        match m.body {
            Body::RequestVote {
                last_log_index,
                last_log_term,
            } => self.handle_request_vote(&m.from, last_log_index, last_log_term),
            Body::RequestVoteResponse { granted } => self.handle_vote_response(&m.from, granted),
            Body::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                self.accept_leader(&m.from);
                self.handle_append(
                    &m.from,
                    prev_log_index,
                    prev_log_term,
                    entries,
                    leader_commit,
                );
            }
            Body::AppendEntriesResponse {
                index,
                success,
                hint,
            } => self.handle_append_response(&m.from, index, success, hint),
            Body::Heartbeat { commit, read_round } => {
                self.accept_leader(&m.from);
                let commit = commit.min(self.log.last_index());
                if commit > self.log.committed {
                    self.log.committed = commit;
                }
                self.send(&m.from, Body::HeartbeatResponse { read_round });
            }
            Body::HeartbeatResponse { read_round } => {
                self.handle_heartbeat_response(&m.from, read_round)
            }
            Body::InstallSnapshot {
                meta,
                offset,
                data,
                done,
            } => {
                self.accept_leader(&m.from);
                self.handle_install_snapshot(&m.from, meta, offset, data, done);
            }
            Body::InstallSnapshotResponse {
                index,
                next_offset,
                done,
            } => self.handle_snapshot_response(&m.from, index, next_offset, done),
        }
    }

    /// Collects the work accumulated since the last call.
    pub fn ready(&mut self) -> Ready {
        if self.role == Role::Leader {
            if self.read_heartbeat_due {
                self.read_heartbeat_due = false;
                self.broadcast_heartbeat();
            }
            let peers: Vec<NodeId> = self.progress.keys().cloned().collect();
            for p in peers {
                self.send_append(&p);
            }
        }
        let hs = HardState {
            term: self.term,
            vote: self.vote.clone(),
        };
        let hard_state = if hs != self.persisted_hard_state {
            self.persisted_hard_state = hs.clone();
            Some(hs)
        } else {
            None
        };
        let snapshot = self.snapshot_to_install.take();
        let entries = self.log.take_unstable();
        let committed = if snapshot.is_some() {
            Vec::new()
        } else {
            self.log.take_committed(4096)
        };
        Ready {
            hard_state,
            snapshot,
            entries,
            messages: std::mem::take(&mut self.messages),
            committed,
            read_states: std::mem::take(&mut self.read_states),
            dropped_reads: std::mem::take(&mut self.dropped_reads),
        }
    }

    /// True when `ready()` would return work (entries still to apply included).
    pub fn has_ready(&self) -> bool {
        !self.messages.is_empty()
            || !self.read_states.is_empty()
            || !self.dropped_reads.is_empty()
            || self.snapshot_to_install.is_some()
            || self.log.applied < self.log.committed
            || self.read_heartbeat_due
    }

    // ----- roles and elections -----

    fn promotable(&self) -> bool {
        self.membership.contains(&self.cfg.id)
    }

    fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let (lo, hi) = (
            self.cfg.election_ticks_min,
            self.cfg.election_ticks_max.max(self.cfg.election_ticks_min),
        );
        self.election_timeout = self.rng.gen_range(lo..=hi);
    }

    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        if self.role == Role::Leader {
            self.abandon_leadership();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_election_timer();
    }

    fn abandon_leadership(&mut self) {
        self.progress.clear();
        self.catching_up = None;
        self.dropped_reads
            .extend(self.pending_reads.drain(..).map(|r| r.ctx));
        self.dropped_reads.append(&mut self.reads_awaiting_commit);
        self.read_heartbeat_due = false;
    }

    fn campaign(&mut self) {
        self.term += 1;
        self.vote = Some(self.cfg.id.clone());
        self.role = Role::Candidate;
        self.leader = None;
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.cfg.id.clone(), true);
        if self
            .membership
            .is_quorum(|id| self.votes.get(id) == Some(&true))
        {
            self.become_leader();
            return;
        }
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        for peer in self.membership.members() {
            if peer != self.cfg.id {
                self.send(
                    &peer,
                    Body::RequestVote {
                        last_log_index,
                        last_log_term,
                    },
                );
            }
        }
    }

    /// Grants a vote to a candidate whose log is at least as up to date, once per term.
    /// A node that knows no configuration yet (started empty to wait to be added) grants
    /// none: it may reuse the id of a removed member whose log and vote it does not hold,
    /// and a lagging node that still counts that id as a voter could otherwise win an
    /// election with it that misses entries committed under a later configuration.
    fn handle_request_vote(&mut self, from: &str, last_log_index: u64, last_log_term: u64) {
        let can_vote =
            self.vote.as_deref() == Some(from) || (self.vote.is_none() && self.leader.is_none());
        let log_ok =
            !self.cfg.check_candidate_log || self.log.is_up_to_date(last_log_index, last_log_term);
        let knows_a_configuration = !self.membership.members().is_empty();
        let granted = can_vote && log_ok && knows_a_configuration;
        if granted {
            self.vote = Some(from.to_string());
            self.reset_election_timer();
        }
        self.send(from, Body::RequestVoteResponse { granted });
    }

    fn handle_vote_response(&mut self, from: &str, granted: bool) {
        if self.role != Role::Candidate {
            return;
        }
        self.votes.insert(from.to_string(), granted);
        if self
            .membership
            .is_quorum(|id| self.votes.get(id) == Some(&true))
        {
            self.become_leader();
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        self.heartbeat_elapsed = 0;
        self.check_quorum_elapsed = 0;
        self.read_round = 0;
        self.progress.clear();
        self.sync_progress();
        // An entry of the new term: committing it commits everything before it (§5.4.2) and
        // makes the commit index current for ReadIndex.
        self.append_own(Payload::Noop);
        self.broadcast_heartbeat();
    }

    fn accept_leader(&mut self, from: &str) {
        if self.role != Role::Follower || self.leader.as_deref() != Some(from) {
            self.become_follower(self.term, Some(from.to_string()));
        }
        self.election_elapsed = 0;
    }

    fn require_leader(&self) -> Result<(), ProposeError> {
        if self.role == Role::Leader {
            Ok(())
        } else {
            Err(ProposeError::NotLeader {
                leader: self.leader.clone(),
            })
        }
    }

    // ----- leader: replication -----

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed += 1;
        if self.cfg.check_quorum && self.quorum_lost() {
            // Cut off from a quorum: stop serving rather than act as a leader that may
            // already have been replaced.
            self.become_follower(self.term, None);
            return;
        }
        if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
            self.heartbeat_elapsed = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Check-quorum: every minimum election timeout, whether a quorum was heard from since the
    /// last check.
    fn quorum_lost(&mut self) -> bool {
        self.check_quorum_elapsed += 1;
        if self.check_quorum_elapsed < self.cfg.election_ticks_min {
            return false;
        }
        self.check_quorum_elapsed = 0;
        let me = self.cfg.id.clone();
        let active = self
            .membership
            .is_quorum(|id| id == me || self.progress.get(id).is_some_and(|p| p.recently_active));
        for p in self.progress.values_mut() {
            p.recently_active = false;
        }
        !active
    }

    fn broadcast_heartbeat(&mut self) {
        let last = self.log.last_index();
        let peers: Vec<NodeId> = self.progress.keys().cloned().collect();
        for peer in peers {
            let pr = self.progress.get_mut(&peer).unwrap();
            let mut resend_chunk = false;
            match &mut pr.state {
                ReplicaState::Probe { waiting } => *waiting = false,
                ReplicaState::Replicate => {
                    // No progress for a whole heartbeat while entries are outstanding: assume
                    // they were lost and resend from the last known match.
                    if pr.match_index < last && pr.match_index == pr.match_at_last_heartbeat {
                        pr.become_probe();
                    }
                }
                ReplicaState::Snapshot(t) => {
                    t.idle_heartbeats += 1;
                    if t.idle_heartbeats >= 3 {
                        t.idle_heartbeats = 0;
                        resend_chunk = true;
                    }
                }
            }
            pr.match_at_last_heartbeat = pr.match_index;
            let commit = pr.match_index.min(self.log.committed);
            let read_round = self.read_round;
            self.send(&peer, Body::Heartbeat { commit, read_round });
            if resend_chunk {
                self.send_snapshot_chunk(&peer);
            }
        }
    }

    fn append_own(&mut self, payload: Payload) -> (u64, u64) {
        let index = self.log.last_index() + 1;
        let is_config = matches!(payload, Payload::Config(_));
        self.log.append(Entry {
            index,
            term: self.term,
            payload,
        });
        if is_config {
            self.refresh_membership();
        }
        self.maybe_commit();
        (index, self.term)
    }

    /// Sends `peer` the entries it lacks, or the next snapshot chunk, as its state allows.
    fn send_append(&mut self, peer: &str) {
        let Some(pr) = self.progress.get(peer) else {
            return;
        };
        match pr.state {
            ReplicaState::Snapshot(_) | ReplicaState::Probe { waiting: true } => return,
            ReplicaState::Replicate if pr.next_index > self.log.last_index() => return,
            _ => {}
        }
        let prev = pr.next_index - 1;
        let Some(prev_term) = self.log.term(prev) else {
            // The entries it needs are compacted away.
            let transfer = SnapshotTransfer {
                meta: self.snapshot.meta.clone(),
                data: self.snapshot_data.clone(),
                acked: 0,
                idle_heartbeats: 0,
            };
            self.progress.get_mut(peer).unwrap().state = ReplicaState::Snapshot(transfer);
            self.send_snapshot_chunk(peer);
            return;
        };
        let mut entries = Vec::new();
        let mut bytes = 0;
        for e in self.log.slice(prev + 1, self.log.last_index()) {
            if entries.len() >= self.cfg.max_entries_per_message
                || (bytes > 0 && bytes + e.approx_size() > self.cfg.max_bytes_per_message)
            {
                break;
            }
            bytes += e.approx_size();
            entries.push(e.clone());
        }
        let sent_to = prev + entries.len() as u64;
        let pr = self.progress.get_mut(peer).unwrap();
        match &mut pr.state {
            ReplicaState::Replicate => pr.next_index = sent_to + 1,
            ReplicaState::Probe { waiting } => *waiting = true,
            ReplicaState::Snapshot(_) => unreachable!(),
        }
        let leader_commit = self.log.committed;
        self.send(
            peer,
            Body::AppendEntries {
                prev_log_index: prev,
                prev_log_term: prev_term,
                entries,
                leader_commit,
            },
        );
    }

    fn send_snapshot_chunk(&mut self, peer: &str) {
        let Some(Progress {
            state: ReplicaState::Snapshot(t),
            ..
        }) = self.progress.get(peer)
        else {
            return;
        };
        let start = (t.acked as usize).min(t.data.len());
        let end = (start + self.cfg.snapshot_chunk_bytes.max(1)).min(t.data.len());
        let body = Body::InstallSnapshot {
            meta: t.meta.clone(),
            offset: start as u64,
            data: t.data[start..end].to_vec(),
            done: end == t.data.len(),
        };
        self.send(peer, body);
    }

    fn handle_append_response(&mut self, from: &str, index: u64, success: bool, hint: u64) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.progress.get_mut(from) else {
            return;
        };
        pr.recently_active = true;
        if success {
            let advanced = pr.acknowledge(index);
            if let ReplicaState::Snapshot(t) = &pr.state {
                if index >= t.meta.index {
                    pr.state = ReplicaState::Replicate;
                }
            }
            if advanced {
                self.maybe_commit();
                self.maybe_promote_learner();
            }
        } else {
            if index <= pr.match_index || matches!(pr.state, ReplicaState::Snapshot(_)) {
                return; // stale refusal
            }
            pr.next_index = hint.min(index).max(pr.match_index + 1);
            pr.state = ReplicaState::Probe { waiting: false };
        }
        self.send_append(from);
    }

    fn handle_heartbeat_response(&mut self, from: &str, read_round: u64) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.progress.get_mut(from) else {
            return;
        };
        pr.recently_active = true;
        pr.read_round_acked = pr.read_round_acked.max(read_round);
        if let ReplicaState::Probe { waiting } = &mut pr.state {
            *waiting = false;
        }
        if pr.match_index < self.log.last_index() {
            self.send_append(from);
        }
        self.advance_reads();
    }

    fn handle_snapshot_response(&mut self, from: &str, index: u64, next_offset: u64, done: bool) {
        if self.role != Role::Leader {
            return;
        }
        let Some(pr) = self.progress.get_mut(from) else {
            return;
        };
        pr.recently_active = true;
        let ReplicaState::Snapshot(t) = &mut pr.state else {
            return;
        };
        if t.meta.index != index {
            return;
        }
        if done {
            pr.match_index = pr.match_index.max(index);
            pr.next_index = index + 1;
            pr.state = ReplicaState::Probe { waiting: false };
            self.maybe_commit();
            self.maybe_promote_learner();
            self.send_append(from);
        } else {
            t.acked = next_offset;
            t.idle_heartbeats = 0;
            self.send_snapshot_chunk(from);
        }
    }

    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let me = self.cfg.id.clone();
        let last = self.log.last_index();
        let q = self.membership.quorum_index(|id| {
            if id == me {
                last
            } else {
                self.progress.get(id).map_or(0, |p| p.match_index)
            }
        });
        // Only entries of the current term are committed by counting replicas (§5.4.2).
        if q > self.log.committed && self.log.term(q) == Some(self.term) {
            self.log.committed = q;
            self.on_commit_advanced();
        }
    }

    fn on_commit_advanced(&mut self) {
        for ctx in std::mem::take(&mut self.reads_awaiting_commit) {
            self.start_read(ctx);
        }
        if self.membership_index <= self.log.committed {
            if self.membership.is_joint() {
                // C_old,new is committed: move on to C_new.
                let new = self.membership.leave_joint();
                self.append_own(Payload::Config(new));
            } else if !self.membership.contains(&self.cfg.id) {
                // C_new is committed without this leader: hand over by stepping down.
                self.become_follower(self.term, None);
            }
        }
    }

    fn change_in_progress(&self) -> bool {
        self.catching_up.is_some()
            || self.membership.is_joint()
            || self.membership_index > self.log.committed
    }

    /// Once the node being added has caught up with the commit index, propose C_old,new.
    fn maybe_promote_learner(&mut self) {
        let Some(c) = self.catching_up.clone() else {
            return;
        };
        // Close enough that it will not hold up commits once it votes; an exact match could
        // starve under steady load.
        let caught_up = self.progress.get(&c.id).is_some_and(|p| {
            p.match_index > 0 && p.match_index + CATCH_UP_SLACK >= self.log.committed
        });
        if !caught_up {
            return;
        }
        self.catching_up = None;
        let mut voters = self.membership.voters.clone();
        voters.insert(c.id.clone());
        let mut addrs = self.membership.addrs.clone();
        addrs.insert(c.id, c.addr);
        let joint = self.membership.enter_joint(voters, addrs);
        self.append_own(Payload::Config(joint));
    }

    /// Keeps one progress record per node to replicate to.
    fn sync_progress(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut wanted: BTreeSet<NodeId> = self.membership.members();
        if let Some(c) = &self.catching_up {
            wanted.insert(c.id.clone());
        }
        wanted.remove(&self.cfg.id);
        self.progress.retain(|id, _| wanted.contains(id));
        let last = self.log.last_index();
        for id in wanted {
            self.progress
                .entry(id)
                .or_insert_with(|| Progress::new(last));
        }
    }

    // ----- leader: ReadIndex -----

    fn start_read(&mut self, ctx: u64) {
        self.read_round += 1;
        self.pending_reads.push(PendingRead {
            ctx,
            index: self.log.committed,
            round: self.read_round,
        });
        self.read_heartbeat_due = true;
        self.advance_reads();
    }

    fn advance_reads(&mut self) {
        if self.pending_reads.is_empty() {
            return;
        }
        let me = self.cfg.id.clone();
        let acked = |id: &str, r: u64| {
            id == me
                || self
                    .progress
                    .get(id)
                    .is_some_and(|p| p.read_round_acked >= r)
        };
        // Highest round a quorum has confirmed (rounds only grow, so search downwards).
        let confirmed = self
            .pending_reads
            .iter()
            .rev()
            .map(|r| r.round)
            .find(|&r| self.membership.is_quorum(|id| acked(id, r)))
            .unwrap_or(0);
        if confirmed == 0 {
            return;
        }
        let (done, rest): (Vec<_>, Vec<_>) = self
            .pending_reads
            .drain(..)
            .partition(|r| r.round <= confirmed);
        self.pending_reads = rest;
        self.read_states.extend(done.into_iter().map(|r| ReadState {
            ctx: r.ctx,
            index: r.index,
        }));
    }

    // ----- follower -----

    fn handle_append(
        &mut self,
        from: &str,
        prev: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    ) {
        let committed = self.log.committed;
        if prev < committed {
            // Everything up to our commit index is known to match; skip what overlaps it.
            let rest: Vec<Entry> = entries
                .into_iter()
                .filter(|e| e.index > committed)
                .collect();
            if rest.is_empty() {
                self.send(
                    from,
                    Body::AppendEntriesResponse {
                        index: committed,
                        success: true,
                        hint: 0,
                    },
                );
                return;
            }
            let prev_term = self
                .log
                .term(committed)
                .expect("term of commit index is known");
            return self.handle_append(from, committed, prev_term, rest, leader_commit);
        }
        if self.log.term(prev) != Some(prev_term) {
            let hint = if prev > self.log.last_index() {
                self.log.last_index() + 1
            } else {
                // Skip back over the whole conflicting term.
                let t = self.log.term(prev);
                let mut i = prev;
                while i > self.log.committed + 1 && self.log.term(i - 1) == t {
                    i -= 1;
                }
                i
            };
            self.send(
                from,
                Body::AppendEntriesResponse {
                    index: prev,
                    success: false,
                    hint,
                },
            );
            return;
        }
        let mut config_changed = false;
        for e in entries.iter() {
            match self.log.term(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    if self.membership_index >= e.index {
                        config_changed = true;
                    }
                    self.log.truncate_from(e.index);
                }
                None => {}
            }
            config_changed |= matches!(e.payload, Payload::Config(_));
            self.log.append(e.clone());
        }
        if config_changed {
            self.refresh_membership();
        }
        let last_new = prev + entries.len() as u64;
        let commit = leader_commit.min(last_new);
        if commit > self.log.committed {
            self.log.committed = commit;
        }
        self.send(
            from,
            Body::AppendEntriesResponse {
                index: last_new,
                success: true,
                hint: 0,
            },
        );
    }

    fn handle_install_snapshot(
        &mut self,
        from: &str,
        meta: SnapshotMeta,
        offset: u64,
        data: Vec<u8>,
        done: bool,
    ) {
        let index = meta.index;
        if index <= self.log.committed {
            // We already hold (at least) this state; tell the leader where we are.
            self.incoming_snapshot = None;
            let committed = self.log.committed;
            self.send(
                from,
                Body::AppendEntriesResponse {
                    index: committed,
                    success: true,
                    hint: 0,
                },
            );
            return;
        }
        if offset == 0 {
            self.incoming_snapshot = Some(IncomingSnapshot {
                meta: meta.clone(),
                data: Vec::new(),
            });
        }
        let expected = match &self.incoming_snapshot {
            Some(s) if s.meta == meta => s.data.len() as u64,
            _ => 0,
        };
        if offset != expected {
            self.send(
                from,
                Body::InstallSnapshotResponse {
                    index,
                    next_offset: expected,
                    done: false,
                },
            );
            return;
        }
        let incoming = self.incoming_snapshot.as_mut().unwrap();
        incoming.data.extend_from_slice(&data);
        if !done {
            let next_offset = incoming.data.len() as u64;
            self.send(
                from,
                Body::InstallSnapshotResponse {
                    index,
                    next_offset,
                    done: false,
                },
            );
            return;
        }
        let incoming = self.incoming_snapshot.take().unwrap();
        let size = incoming.data.len() as u64;
        if self.log.term(index) == Some(meta.term) {
            // Our log already continues past the snapshot consistently: keep that suffix.
            self.log.compact_to(index, meta.term);
            self.log.committed = index;
            self.log.applied = index;
        } else {
            self.log.reset_to_snapshot(index, meta.term);
        }
        self.snapshot = Snapshot {
            meta: incoming.meta,
            data: incoming.data,
        };
        self.snapshot_data = Arc::new(self.snapshot.data.clone());
        self.snapshot_to_install = Some(self.snapshot.clone());
        self.refresh_membership();
        self.send(
            from,
            Body::InstallSnapshotResponse {
                index,
                next_offset: size,
                done: true,
            },
        );
    }

    // ----- configuration -----

    /// The configuration in force at `index` (for a snapshot taken there).
    fn membership_at(&self, index: u64) -> Membership {
        let mut i = index;
        while i > self.log.snapshot_index {
            if let Some(Entry {
                payload: Payload::Config(m),
                ..
            }) = self.log.entry(i)
            {
                return m.clone();
            }
            i -= 1;
        }
        self.snapshot.meta.membership.clone()
    }

    fn refresh_membership(&mut self) {
        let mut i = self.log.last_index();
        let (mut m, mut at) = (
            self.snapshot.meta.membership.clone(),
            self.snapshot.meta.index,
        );
        while i > self.log.snapshot_index {
            if let Some(Entry {
                payload: Payload::Config(c),
                ..
            }) = self.log.entry(i)
            {
                m = c.clone();
                at = i;
                break;
            }
            i -= 1;
        }
        self.membership = m;
        self.membership_index = at;
        self.sync_progress();
    }

    fn send(&mut self, to: &str, body: Body) {
        self.messages.push(Message {
            from: self.cfg.id.clone(),
            to: to.to_string(),
            term: self.term,
            body,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node `a` of {a, b, c}, elected leader with b's vote and then cut off from both.
    fn isolated_leader(check_quorum: bool) -> Raft {
        let addrs: BTreeMap<NodeId, String> = ["a", "b", "c"]
            .iter()
            .map(|id| (id.to_string(), format!("{id}:1")))
            .collect();
        let restored = Restored {
            snapshot: Snapshot {
                meta: SnapshotMeta {
                    membership: Membership::new(addrs),
                    ..Default::default()
                },
                data: vec![],
            },
            ..Default::default()
        };
        let mut cfg = RaftConfig::new("a");
        cfg.check_quorum = check_quorum;
        let mut a = Raft::new(cfg, restored);
        for _ in 0..=a.cfg.election_ticks_max {
            a.tick();
        }
        assert_eq!(a.role(), Role::Candidate);
        let term = a.term();
        a.step(Message {
            from: "b".into(),
            to: "a".into(),
            term,
            body: Body::RequestVoteResponse { granted: true },
        });
        assert_eq!(a.role(), Role::Leader);
        a.ready();
        a
    }

    #[test]
    fn a_node_waiting_to_be_added_grants_no_vote_even_to_a_longer_log() {
        let mut fresh = Raft::new(RaftConfig::new("d"), Restored::default());
        fresh.step(Message {
            from: "b".into(),
            to: "d".into(),
            term: 5,
            body: Body::RequestVote {
                last_log_index: 10,
                last_log_term: 4,
            },
        });
        let answers: Vec<Body> = fresh.ready().messages.into_iter().map(|m| m.body).collect();
        assert_eq!(answers, vec![Body::RequestVoteResponse { granted: false }]);
        assert_eq!(fresh.vote(), None);
    }

    #[test]
    fn check_quorum_deposes_an_isolated_leader_within_an_election_timeout() {
        let mut a = isolated_leader(true);
        let term = a.term();
        let mut ticks = 0;
        while a.role() == Role::Leader {
            a.tick();
            ticks += 1;
            assert!(
                ticks <= a.cfg.election_ticks_min,
                "still leader after {ticks} ticks"
            );
        }
        assert_eq!(
            (a.role(), a.term(), a.leader()),
            (Role::Follower, term, None)
        );
    }

    #[test]
    fn without_check_quorum_an_isolated_leader_stays_until_told_to_step_down() {
        let mut a = isolated_leader(false);
        let term = a.term();
        a.read_index(42).unwrap();
        for _ in 0..10 * a.cfg.election_ticks_max {
            a.tick();
            assert_eq!(a.role(), Role::Leader);
        }
        a.step_down();
        assert_eq!(
            (a.role(), a.term(), a.leader()),
            (Role::Follower, term, None)
        );
        assert_eq!(
            a.vote(),
            Some(&"a".to_string()),
            "the vote of the term is kept"
        );
        assert_eq!(a.ready().dropped_reads, vec![42], "pending reads fail");
        a.step_down();
        assert_eq!(a.role(), Role::Follower, "a no-op when not leading");
    }
}
