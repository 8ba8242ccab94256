//! The harness as a library: what the `faultline` binary is built from, and what
//! integration tests drive directly.
//!
//! - [`cluster`]: real clusters, one network namespace per node.
//! - [`real_systems`]: the built-in etcd and Redis-with-Sentinel specs.
//! - [`system`]: what a system under test is (built-in or from a TOML file).

pub mod cluster;
pub mod real_systems;
pub mod system;
