//! raft-kv: the Raft reference system under test for faultline.
//!
//! `core` is the deterministic consensus state machine; everything else drives it with real
//! time, disk and network: `storage` (fsync'd hard state, log and snapshot), `transport` (peer
//! messages over HTTP/JSON), `node` (the single thread that owns the core), `server` (the
//! faultline KV protocol, forwarding, ReadIndex), `kv` (the replicated state machine).

pub mod bugs;
pub mod core;
pub mod kv;
pub use systems_common::logging;
pub mod node;
pub mod server;
pub mod storage;
pub mod transport;
