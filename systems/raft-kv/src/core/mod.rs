//! The sans-I/O Raft core: a deterministic state machine driven by ticks and messages, in the
//! style of etcd's raft and TiKV's raft-rs. No clocks, threads, sockets or files in here; the
//! driver (`crate::node`) and the simulation (`tests/sim.rs`) supply all of those.

pub mod config;
pub mod log;
pub mod messages;
pub mod progress;
pub mod raft;

pub use config::Membership;
pub use messages::{Body, Entry, Message, NodeId, Payload, Snapshot, SnapshotMeta};
pub use raft::{HardState, ProposeError, Raft, RaftConfig, ReadState, Ready, Restored, Role};
