//! The configuration of `faultline test`: raw flags ([`flags`]) and a TOML test file
//! ([`file`]) resolved ([`resolve`]) into one typed [`TestConfig`], with every default
//! in [`defaults`].
//!
//! Precedence: a flag given on the command line beats the test file, which beats the
//! defaults. Every resolved value, the seed included, is stored in `test.json` and
//! `test.toml`, so a run can be replayed exactly.

pub mod defaults;
pub mod file;
pub mod flags;
mod resolve;

pub use file::TestFile;
pub use flags::TestArgs;
pub use resolve::resolve;

use crate::adapter::ClientSettings;
use crate::check::{CheckContext, CheckKind};
use nemesis::{ClockBumpRange, FaultKind, FaultParams};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use workloads::generator::Workload;

/// When a run keeps its nodes' data directories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepData {
    /// Only when the run was not valid: the data may explain the failure, and a valid
    /// run's data is only disk space (one 30 s etcd run kept 612 MB).
    #[default]
    OnFailure,
    Always,
    Never,
}

impl KeepData {
    pub fn name(self) -> &'static str {
        match self {
            KeepData::OnFailure => "on-failure",
            KeepData::Always => "always",
            KeepData::Never => "never",
        }
    }
}

impl fmt::Display for KeepData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeepData {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [KeepData::OnFailure, KeepData::Always, KeepData::Never]
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("`{s}` is not on-failure, always or never"))
    }
}

/// A test, fully resolved: what `test.json` holds and what the runner runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct TestConfig {
    pub name: String,
    /// A built-in system's name, or the absolute path of a system file.
    pub system: String,
    pub system_args: Vec<String>,
    pub nodes: usize,
    /// Nodes made but not started, for membership changes to add (`--spare-nodes`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spare_nodes: usize,
    pub workload: Workload,
    pub concurrency: usize,
    /// How client processes pick nodes (sticky in test files written before it).
    #[serde(default)]
    pub sessions: workloads::sessions::Sessions,
    pub rate: f64,
    #[serde(with = "seconds")]
    pub time_limit: Duration,
    /// The fault kinds, groups expanded.
    pub nemesis: Vec<FaultKind>,
    /// Default fault kinds left out because the system does not support them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nemesis_left_out: Vec<FaultKind>,
    #[serde(with = "seconds")]
    pub nemesis_interval: Duration,
    /// The range clock bumps are drawn from (`--clock-bump`), when given.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "optional_text"
    )]
    pub clock_bump: Option<ClockBumpRange>,
    /// The files disk faults may damage (`--disk-files`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_files: Option<String>,
    pub checks: Vec<CheckKind>,
    /// Check every key for linearizability, even after one failed.
    #[serde(default)]
    pub all_keys: bool,
    /// Node data directories on the lazy filesystem (`--lazyfs`, or a disk fault).
    #[serde(default)]
    pub lazyfs: bool,
    pub seed: u64,
    pub test_count: u32,
    pub results_dir: PathBuf,
    #[serde(with = "seconds")]
    pub client_timeout: Duration,
    pub keys: usize,
    pub ops_per_key: u64,
    /// Transactional workloads: the most micro-ops per transaction, and the writes
    /// a key gets before it is retired (absent in test files written before them).
    #[serde(default = "default_txn_length")]
    pub txn_length: usize,
    #[serde(default = "default_max_writes_per_key")]
    pub max_writes_per_key: u64,
    /// PostgreSQL's and MariaDB's isolation level (refused for other systems' clients unless the
    /// default).
    #[serde(default)]
    pub isolation: workloads::postgres::Isolation,
    #[serde(with = "seconds")]
    pub recovery_timeout: Duration,
    #[serde(with = "seconds")]
    pub quiet_period: Duration,
    #[serde(with = "seconds")]
    pub check_timeout: Duration,
    /// The memory budget of each check's search tables, in bytes; `None`: each
    /// checker's default.
    #[serde(default)]
    pub check_memory: Option<usize>,
    #[serde(default)]
    pub keep_data: KeepData,
    /// etcd's read mode (refused for other systems' clients unless the default).
    #[serde(default)]
    pub etcd_reads: workloads::etcd::EtcdReads,
    /// Replicas a Redis write waits for; 0 for none.
    #[serde(default)]
    pub redis_wait: u32,
    /// Maelstrom's broadcast topology and key-value services (refused for other
    /// systems' clients unless the defaults).
    #[serde(default)]
    pub maelstrom: workloads::maelstrom::MaelstromOptions,
    /// The models the run is judged by (`--expect`, else the system's promises);
    /// `None`: the system promises nothing known, and every check decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promises: Option<crate::system::Promises>,
    #[serde(skip)]
    pub quiet: bool,
    /// Where the settings came from, for the record (absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// The hosts nodes run on over SSH, each taking its `nodes` (`--hosts`, or
    /// `[[hosts]]` in the test file); empty: every node in a local namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<crate::backend::ssh::hosts::Host>,
}

impl TestConfig {
    /// The magnitudes of faults: the defaults, with `--clock-bump` if given.
    pub fn fault_params(&self) -> FaultParams {
        FaultParams {
            clock_bump: self.clock_bump,
            disk_files: self.disk_files.clone(),
            ..FaultParams::default()
        }
    }

    /// The same test with another seed (for the i-th of `--test-count` tests).
    pub fn with_seed(&self, seed: u64) -> TestConfig {
        TestConfig {
            seed,
            ..self.clone()
        }
    }

    /// The client settings of the test.
    pub fn client_settings(&self) -> ClientSettings {
        ClientSettings {
            timeout: self.client_timeout,
            etcd_reads: self.etcd_reads,
            redis_wait: self.redis_wait,
            maelstrom: self.maelstrom,
            isolation: self.isolation,
            workload: self.workload,
            adapter: None,
            seed: self.seed,
        }
    }

    /// What the checks need: the settings, and the nodes the final reads went to.
    /// The whole-history sequential search gets a budget proportional to the run
    /// (its time limit, at least 10 s), never more than a fifth of the check timeout:
    /// it is exponential on a history that already failed linearizability.
    pub fn check_context(&self, nodes: &[String]) -> CheckContext {
        let proportional = self.time_limit.max(Duration::from_secs(10));
        CheckContext {
            workload: self.workload,
            checks: self.checks.clone(),
            quiet_period: self.quiet_period,
            check_timeout: self.check_timeout,
            check_memory: self.check_memory,
            sequential_timeout: proportional.min(self.check_timeout / 5),
            nodes: nodes.to_vec(),
            all_keys: self.all_keys,
            bank: Some(crate::check::generated_bank()),
        }
    }
}

fn default_txn_length() -> usize {
    defaults::TXN_LENGTH
}

fn default_max_writes_per_key() -> u64 {
    defaults::MAX_WRITES_PER_KEY
}

impl TestConfig {
    /// The transaction settings of the transactional workloads.
    pub fn txn_options(&self) -> workloads::txn::TxnOptions {
        workloads::txn::TxnOptions {
            max_length: self.txn_length,
            max_writes_per_key: self.max_writes_per_key,
        }
    }
}

/// Durations as seconds in JSON.
mod seconds {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Duration::try_from_secs_f64(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An optional value kept as its text (`"-30s..-6s"`).
mod optional_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::fmt::Display;
    use std::str::FromStr;

    pub fn serialize<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(d)?
            .map(|t| t.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests;
