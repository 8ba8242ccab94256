//! Every default of `faultline test`, in one place: the resolver falls back on these,
//! `--help` shows them (see [`shown`]), and `test.toml` records the resolved values,
//! so the three can never disagree.
//!
//! The defaults are the README's main job: a 5-node raft-kv cluster, the cas-register
//! workload, partitions, kills and pauses every 5 s, for 30 s.

use super::KeepData;
use crate::units::duration_text;
use std::time::Duration;
use workloads::generator::Workload;
use workloads::sessions::Sessions;

pub const SYSTEM: &str = "raft-kv";
pub const NODES: usize = 5;
pub const WORKLOAD: Workload = Workload::CasRegister;
pub const CONCURRENCY: usize = 10;
pub const SESSIONS: Sessions = Sessions::Sticky;
pub const RATE: f64 = 200.0;
pub const TIME_LIMIT: Duration = Duration::from_secs(30);
pub const NEMESIS_INTERVAL: Duration = Duration::from_secs(5);
pub const TEST_COUNT: u32 = 1;
pub const RESULTS_DIR: &str = "results";
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
pub const KEYS: usize = 4;
pub const OPS_PER_KEY: u64 = 150;
pub const TXN_LENGTH: usize = 4;
pub const MAX_WRITES_PER_KEY: u64 = 32;
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(30);
pub const QUIET_PERIOD: Duration = Duration::from_secs(2);
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(300);
pub const KEEP_DATA: KeepData = KeepData::OnFailure;
pub const REDIS_WAIT: u32 = 0;

/// The default shown in `--help` for a flag, by its long name.
pub fn shown(flag: &str) -> Option<String> {
    let d = duration_text;
    Some(match flag {
        "system" => SYSTEM.to_string(),
        "nodes" => NODES.to_string(),
        "workload" => WORKLOAD.to_string(),
        "concurrency" => CONCURRENCY.to_string(),
        "sessions" => SESSIONS.to_string(),
        "rate" => RATE.to_string(),
        "time-limit" => d(TIME_LIMIT),
        "nemesis-interval" => d(NEMESIS_INTERVAL),
        "test-count" => TEST_COUNT.to_string(),
        "results-dir" => RESULTS_DIR.to_string(),
        "client-timeout" => d(CLIENT_TIMEOUT),
        "keys" => KEYS.to_string(),
        "ops-per-key" => OPS_PER_KEY.to_string(),
        "txn-length" => TXN_LENGTH.to_string(),
        "max-writes-per-key" => MAX_WRITES_PER_KEY.to_string(),
        "isolation" => workloads::postgres::Isolation::default().to_string(),
        "recovery-timeout" => d(RECOVERY_TIMEOUT),
        "quiet-period" => d(QUIET_PERIOD),
        "check-timeout" => d(CHECK_TIMEOUT),
        "keep-data" => KEEP_DATA.to_string(),
        "etcd-reads" => workloads::etcd::EtcdReads::default().to_string(),
        "redis-wait" => REDIS_WAIT.to_string(),
        _ => return None,
    })
}
