//! faultline's checker: the history format, importers and exporters, the models a
//! history is checked against, and the checkers themselves.
//!
//! This crate is deliberately pure: no async runtime, no network, no global state,
//! no I/O beyond parsing what it is handed. Anyone can depend on it alone to check
//! histories produced by their own tools.

pub mod consistency;
pub mod export;
pub mod history;
pub mod import;
pub mod kafka;
pub mod linearizability;
pub mod model;
pub mod search;
pub mod sequential;
pub mod synth;
pub mod synth_txn;
pub mod txn;
pub mod verdict;
