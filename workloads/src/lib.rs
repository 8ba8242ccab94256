//! faultline's workloads: what the client processes of a test do, and how what they
//! observe becomes a history.
//!
//! The pieces follow Jepsen's protocols, one module each:
//! - [`op`]: an operation as invoked, and how it completed (`ok`, `fail`, `info`).
//! - [`generator`]: seeded operation generators per workload (`register`,
//!   `cas-register`, `append`, `set`, `counter`, `bank`, `unique-ids`) over many independent keys, and the rate limiter.
//! - [`client`]: the [`client::Client`] trait and the HTTP client for the faultline
//!   KV protocol (`docs/protocol.md`), which maps every outcome onto ok/fail/info.
//! - [`recorder`]: the history writer, streaming JSONL to disk as events happen.
//! - [`runner`]: the logical client processes, one operation at a time each, spread
//!   over the nodes, retired after an indeterminate result as in Jepsen.
//! - [`sessions`]: which node each operation goes to: sticky (one node per process,
//!   as in Jepsen) or roaming (a seeded draw per operation, as Terry's sessions move).
//! - [`composite`]: workload operations built from protocol requests (unique-ID
//!   allocation by CAS, counter sums); [`bank`]: the client of bank systems.
//! - [`etcd`], [`redis`]: clients for real systems, etcd's JSON gateway and Redis
//!   primaries found through Sentinel.
//! - [`postgres`], [`galera`]: PostgreSQL and MariaDB Galera transactions for the
//!   transactional workloads, sharing [`sql`] (isolation levels, outcomes).
//! - [`external`]: clients written in any language, one adapter process per
//!   logical process, spoken to in JSON lines (`docs/adapters.md`).
//! - [`txn`]: transactions of micro-ops (`txn-append`, `txn-register`), generated
//!   as Elle's generators make them.
//! - [`fake_node`]: an instant in-memory node on loopback, for tests and benchmarks.

pub mod bank;
pub mod client;
pub mod composite;
pub mod etcd;
pub mod external;
pub mod fake_node;
pub mod galera;
pub mod generator;
pub mod maelstrom;
pub mod op;
pub mod postgres;
pub mod recorder;
pub mod redis;
pub mod runner;
pub mod sessions;
pub mod sql;
pub mod txn;
