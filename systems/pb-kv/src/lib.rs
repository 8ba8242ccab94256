//! pb-kv: the primary-backup (passive replication) reference system for faultline.
//!
//! `config` holds the command line and the peer order (which decides who is primary in
//! each epoch), `store` the deterministic key-value operations, `wal` the fsynced log the
//! node restarts from, `node` the shared replica state, `replication` the primary's
//! per-backup links (one ordered stream each), `failover` heartbeat-timeout promotion and
//! restart recovery, `api` the faultline KV protocol plus the node-to-node endpoints.

pub mod api;
pub mod config;
pub mod failover;
pub use systems_common::logging;
pub mod node;
pub mod replication;
pub mod store;
pub mod wal;
