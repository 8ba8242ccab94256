//! dynamo-kv: a Dynamo-style leaderless key-value store, the reference system under
//! test for eventual consistency. See docs/systems.md for its design and guarantees.

pub mod anti_entropy;
pub mod api;
pub mod config;
pub mod coordinator;
pub mod dots;
pub mod gossip;
pub mod handoff;
pub mod membership;
pub mod merkle;
pub mod node;
pub mod ring;
pub mod rpc;
pub mod storage;
pub mod version;
