//! A time-based unique-ID generator of the kind every distributed-systems course
//! proposes (and the seed-004 notes do: "40 bits for time (ms granularity, choose
//! your own epoch!), 14 bits for seq num, 10 bits for node id"), with its clock
//! injected so tests can move time backwards.
//!
//! It is here as a *system under test* for the unique-ID checker: the scheme is
//! unique only while each node's clock never goes backwards. [`ClockPolicy::Trust`]
//! is the textbook version, which reissues IDs after a backward clock step (an NTP
//! correction, a libfaketime bump); [`ClockPolicy::HoldLast`] never lets its
//! timestamp go below the last one it used, and stays unique.
//!
//! Layout, most significant first: 40 bits of milliseconds since `epoch_ms`, 14 bits
//! of sequence within the millisecond, 10 bits of node id. 2^40 ms is about 34.8
//! years; 2^14 IDs per millisecond per node; 1024 nodes.

use serde::{Deserialize, Serialize};

pub const TIME_BITS: u32 = 40;
pub const SEQUENCE_BITS: u32 = 14;
pub const NODE_BITS: u32 = 10;
pub const MAX_SEQUENCE: u64 = (1 << SEQUENCE_BITS) - 1;
pub const MAX_NODE: u16 = (1 << NODE_BITS) - 1;
pub const MAX_TIME: u64 = (1 << TIME_BITS) - 1;

/// What the generator does when the clock reads earlier than the last ID's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClockPolicy {
    /// Use the clock as read: after a backward step the sequence restarts at 0 in
    /// milliseconds already used, and IDs repeat.
    Trust,
    /// Never go below the last millisecond used; when a millisecond's sequence is
    /// exhausted, move on to the next one (the timestamp runs ahead of the clock
    /// until the clock catches up).
    HoldLast,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("node id {0} does not fit in {NODE_BITS} bits (at most {MAX_NODE})")]
    NodeOutOfRange(u16),
    #[error("clock {now_ms} ms is before the epoch {epoch_ms} ms")]
    BeforeEpoch { now_ms: u64, epoch_ms: u64 },
    #[error("{elapsed_ms} ms since the epoch does not fit in {TIME_BITS} bits")]
    TimeOverflow { elapsed_ms: u64 },
    #[error("all {} sequence numbers of millisecond {ms} are used (policy trust cannot borrow the next one)", MAX_SEQUENCE + 1)]
    SequenceExhausted { ms: u64 },
}

/// One node's generator. Pure: every call is handed the current time.
#[derive(Debug, Clone)]
pub struct SnowflakeGenerator {
    node: u16,
    epoch_ms: u64,
    policy: ClockPolicy,
    /// Milliseconds since the epoch of the last ID, and its sequence number.
    last: Option<(u64, u64)>,
}

impl SnowflakeGenerator {
    pub fn new(node: u16, epoch_ms: u64, policy: ClockPolicy) -> Result<Self, IdError> {
        if node > MAX_NODE {
            return Err(IdError::NodeOutOfRange(node));
        }
        Ok(SnowflakeGenerator {
            node,
            epoch_ms,
            policy,
            last: None,
        })
    }

    /// The next ID, given the node's wall clock now (ms since the Unix epoch).
    pub fn next_id(&mut self, now_ms: u64) -> Result<u64, IdError> {
        let elapsed = now_ms
            .checked_sub(self.epoch_ms)
            .ok_or(IdError::BeforeEpoch {
                now_ms,
                epoch_ms: self.epoch_ms,
            })?;
        let (ms, seq) = match (self.policy, self.last) {
            (_, None) => (elapsed, 0),
            (ClockPolicy::Trust, Some((last_ms, last_seq))) => {
                if elapsed == last_ms {
                    if last_seq == MAX_SEQUENCE {
                        return Err(IdError::SequenceExhausted { ms: elapsed });
                    }
                    (elapsed, last_seq + 1)
                } else {
                    (elapsed, 0)
                }
            }
            (ClockPolicy::HoldLast, Some((last_ms, last_seq))) => {
                if elapsed > last_ms {
                    (elapsed, 0)
                } else if last_seq < MAX_SEQUENCE {
                    (last_ms, last_seq + 1)
                } else {
                    (last_ms + 1, 0)
                }
            }
        };
        if ms > MAX_TIME {
            return Err(IdError::TimeOverflow { elapsed_ms: ms });
        }
        self.last = Some((ms, seq));
        Ok(compose(ms, seq, self.node))
    }
}

/// Packs the three fields into an ID.
pub fn compose(ms: u64, seq: u64, node: u16) -> u64 {
    (ms << (SEQUENCE_BITS + NODE_BITS)) | (seq << NODE_BITS) | node as u64
}

/// Splits an ID into (milliseconds since the epoch, sequence, node).
pub fn decompose(id: u64) -> (u64, u64, u16) {
    (
        id >> (SEQUENCE_BITS + NODE_BITS),
        (id >> NODE_BITS) & MAX_SEQUENCE,
        (id & MAX_NODE as u64) as u16,
    )
}
