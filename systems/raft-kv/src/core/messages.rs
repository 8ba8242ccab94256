//! The messages Raft nodes exchange, and the log entries they carry.
//!
//! Every message is one-way: a response is a message of its own, sent back later. That keeps
//! the core free of request/response plumbing and lets the transport batch, drop, delay or
//! duplicate freely (the simulation does all four).

use serde::{Deserialize, Serialize};

use super::config::Membership;

/// Node identifiers are the names given on the command line (`n1`, `n2`, ...).
pub type NodeId = String;

/// One entry of the replicated log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub payload: Payload,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// Appended by every new leader, so it can commit an entry of its own term (and with it
    /// everything before) without waiting for a client.
    Noop,
    /// An opaque state-machine command (for raft-kv, a JSON-encoded KV operation).
    Command(String),
    /// A cluster configuration; it takes effect as soon as it is appended, not when committed.
    Config(Membership),
}

impl Entry {
    /// Rough size in bytes, used to decide when the log is big enough to compact.
    pub fn approx_size(&self) -> usize {
        24 + match &self.payload {
            Payload::Noop => 0,
            Payload::Command(c) => c.len(),
            Payload::Config(m) => 32 * (m.voters.len() + m.outgoing.len()) + 64,
        }
    }
}

/// Identity and configuration of the state a snapshot captures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
    pub membership: Membership,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    #[serde(with = "hex_bytes")]
    pub data: Vec<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    RequestVote {
        last_log_index: u64,
        last_log_term: u64,
    },
    RequestVoteResponse {
        granted: bool,
    },
    AppendEntries {
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    },
    AppendEntriesResponse {
        /// On success, the highest index now known to match the leader's log. On failure,
        /// the `prev_log_index` that was refused (so stale refusals can be recognised).
        index: u64,
        success: bool,
        /// On failure, the index the leader should try next (the follower's last index + 1
        /// or the first index of the conflicting term), so catching up skips whole terms.
        hint: u64,
    },
    /// Leadership assertion and ReadIndex confirmation. `commit` is capped by what the
    /// follower is known to hold, so it can adopt it without a log check.
    Heartbeat {
        commit: u64,
        read_round: u64,
    },
    HeartbeatResponse {
        read_round: u64,
    },
    InstallSnapshot {
        meta: SnapshotMeta,
        offset: u64,
        #[serde(with = "hex_bytes")]
        data: Vec<u8>,
        done: bool,
    },
    InstallSnapshotResponse {
        /// The snapshot's last included index, identifying which transfer this answers.
        index: u64,
        /// The byte offset the follower expects next (the total size once installed).
        next_offset: u64,
        done: bool,
    },
}

/// Snapshot bytes travel as hex inside the JSON peer protocol.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(DIGITS[(b >> 4) as usize] as char);
            out.push(DIGITS[(b & 15) as usize] as char);
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let digit = |c: u8| -> Result<u8, D::Error> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                b'A'..=b'F' => Ok(c - b'A' + 10),
                _ => Err(serde::de::Error::custom(
                    "invalid hex digit in snapshot data",
                )),
            }
        };
        let b = s.as_bytes();
        if b.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd-length hex in snapshot data"));
        }
        b.chunks(2)
            .map(|p| Ok(digit(p[0])? << 4 | digit(p[1])?))
            .collect()
    }
}
