//! What a leader knows about each follower's log: the nextIndex/matchIndex of the Raft paper,
//! plus the replication mode that decides how eagerly to send.

use std::sync::Arc;

use super::messages::SnapshotMeta;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplicaState {
    /// The leader does not know where the follower's log matches; it sends one AppendEntries
    /// at a time and waits for the answer (or the next heartbeat) before sending another.
    Probe { waiting: bool },
    /// The follower's log matches up to `match_index`; new entries are streamed as they come.
    Replicate,
    /// The entries the follower needs are compacted away: a snapshot is being sent in chunks.
    Snapshot(SnapshotTransfer),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotTransfer {
    pub meta: SnapshotMeta,
    pub data: Arc<Vec<u8>>,
    /// Bytes the follower has confirmed.
    pub acked: u64,
    /// Heartbeats since the last confirmation, to resend a lost chunk.
    pub idle_heartbeats: u32,
}

#[derive(Clone, Debug)]
pub struct Progress {
    pub next_index: u64,
    pub match_index: u64,
    pub state: ReplicaState,
    /// Highest ReadIndex round this follower has acknowledged in the current term.
    pub read_round_acked: u64,
    /// Heard from since the last check-quorum round.
    pub recently_active: bool,
    /// `match_index` at the previous heartbeat, to notice a stalled pipeline (lost messages).
    pub match_at_last_heartbeat: u64,
}

impl Progress {
    pub fn new(last_index: u64) -> Self {
        Progress {
            next_index: last_index + 1,
            match_index: 0,
            state: ReplicaState::Probe { waiting: false },
            read_round_acked: 0,
            recently_active: false,
            match_at_last_heartbeat: 0,
        }
    }

    pub fn become_probe(&mut self) {
        self.next_index = self.match_index + 1;
        self.state = ReplicaState::Probe { waiting: false };
    }

    /// Records a successful append up to `index`; returns whether anything advanced.
    pub fn acknowledge(&mut self, index: u64) -> bool {
        let advanced = index > self.match_index;
        if advanced {
            self.match_index = index;
        }
        if self.next_index <= index {
            self.next_index = index + 1;
        }
        if !matches!(self.state, ReplicaState::Snapshot(_)) {
            self.state = ReplicaState::Replicate;
        }
        advanced
    }
}
