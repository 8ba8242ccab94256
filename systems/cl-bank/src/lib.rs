//! cl-bank: a bank whose accounts are spread over nodes, with Chandy-Lamport global
//! snapshots, the reference system for faultline's bank invariant.
//!
//! `bank` is the deterministic core (accounts, transfers, snapshot bookkeeping), `channel`
//! the FIFO channels between nodes (one ordered, acknowledged stream per ordered pair),
//! `node` the shared state that ties them together under one lock, `snapshot` the
//! initiator's side (start, collect, combine, and the naive variant), `api` HTTP.

pub mod api;
pub mod bank;
pub mod channel;
pub mod config;
pub use systems_common::logging;
pub mod node;
pub mod snapshot;
