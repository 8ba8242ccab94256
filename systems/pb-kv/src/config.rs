//! The command line and the peer order.
//!
//! Epochs are owned: epoch `e` belongs to the peer at position `(e - 1) mod n` of
//! `--peers`, so the first peer owns epoch 1 and starts as primary. Two nodes can never
//! claim the same epoch, and every message's epoch alone names its primary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use systems_common::peers::{self, parse_peers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Replicate {
    /// Forward each client request; backups execute it themselves.
    Requests,
    /// Forward the resulting value of the touched key.
    State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Ack {
    /// Acknowledge after every live backup has acknowledged (the seed's commit point).
    Sync,
    /// Acknowledge after the primary's own fsync; replicate afterwards.
    Async,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Failover {
    /// Backups never take over: a dead primary means no service until it restarts.
    Off,
    /// A backup that hears nothing from the primary for the timeout promotes itself.
    Auto,
}

/// One node of pb-kv, a primary-backup key-value store speaking the faultline KV protocol.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// This node's id; must appear in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to listen on for clients and peers, e.g. 127.0.0.1:7001.
    #[arg(long)]
    pub listen: String,
    /// Every node as id=host:port, in order: the first one starts as primary, and on
    /// failover the next one in this order takes over.
    #[arg(long)]
    pub peers: String,
    /// Directory for the write-ahead log (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long, value_enum, default_value = "requests")]
    pub replicate: Replicate,
    #[arg(long, value_enum, default_value = "sync")]
    pub ack: Ack,
    #[arg(long, value_enum, default_value = "off")]
    pub failover: Failover,
    /// How often the primary heartbeats each backup (and retries a dead one).
    #[arg(long, default_value_t = 100)]
    pub heartbeat_ms: u64,
    /// With --failover auto: silence from the primary after which the first backup in
    /// peer order after it promotes itself; the k-th waits k times as long.
    #[arg(long, default_value_t = 1000)]
    pub failover_timeout_ms: u64,
    /// One node-to-node request; a backup that does not answer in time is dead until
    /// it answers a heartbeat again.
    #[arg(long, default_value_t = 500)]
    pub peer_timeout_ms: u64,
    /// A client request not done within this time is answered `504 timeout` (indeterminate).
    #[arg(long, default_value_t = 2000)]
    pub request_timeout_ms: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub id: String,
    pub listen: String,
    /// In --peers order.
    pub peers: Vec<(String, String)>,
    pub index: usize,
    pub data_dir: PathBuf,
    pub replicate: Replicate,
    pub ack: Ack,
    pub failover: Failover,
    pub heartbeat: Duration,
    pub failover_timeout: Duration,
    pub peer_timeout: Duration,
    pub request_timeout: Duration,
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        let peers = peers::require_some(parse_peers(&a.peers)?)?;
        let index = peers::position_of(&peers, &a.id, &a.listen)?;
        for (name, v) in [
            ("--heartbeat-ms", a.heartbeat_ms),
            ("--failover-timeout-ms", a.failover_timeout_ms),
            ("--peer-timeout-ms", a.peer_timeout_ms),
            ("--request-timeout-ms", a.request_timeout_ms),
        ] {
            if v == 0 {
                bail!("{name} must be at least 1");
            }
        }
        if a.failover == Failover::Auto && a.failover_timeout_ms <= a.heartbeat_ms {
            bail!(
                "--failover-timeout-ms ({}) must exceed --heartbeat-ms ({})",
                a.failover_timeout_ms,
                a.heartbeat_ms
            );
        }
        Ok(Config {
            id: a.id,
            listen: a.listen,
            peers,
            index,
            data_dir: a.data_dir,
            replicate: a.replicate,
            ack: a.ack,
            failover: a.failover,
            heartbeat: Duration::from_millis(a.heartbeat_ms),
            failover_timeout: Duration::from_millis(a.failover_timeout_ms),
            peer_timeout: Duration::from_millis(a.peer_timeout_ms),
            request_timeout: Duration::from_millis(a.request_timeout_ms),
        })
    }

    /// The primary of epoch `e` (epochs start at 1).
    pub fn owner(&self, epoch: u64) -> &str {
        let n = self.peers.len() as u64;
        &self.peers[((epoch.max(1) - 1) % n) as usize].0
    }

    /// The smallest epoch above `above` that this node owns.
    pub fn next_own_epoch(&self, above: u64) -> u64 {
        let n = self.peers.len() as u64;
        let mut e = above + 1;
        while (e - 1) % n != self.index as u64 {
            e += 1;
        }
        e
    }

    pub fn addr_of(&self, id: &str) -> Option<&str> {
        self.peers
            .iter()
            .find(|(p, _)| p == id)
            .map(|(_, a)| a.as_str())
    }

    pub fn others(&self) -> impl Iterator<Item = &(String, String)> {
        self.peers.iter().filter(move |(p, _)| *p != self.id)
    }

    /// This node's place among the would-be successors of `primary` (0 = next in order).
    pub fn succession_rank(&self, primary: &str) -> usize {
        let n = self.peers.len();
        let p = self
            .peers
            .iter()
            .position(|(id, _)| id == primary)
            .unwrap_or(0);
        match (self.index + n - p) % n {
            0 => n - 1, // this node itself: last in line
            d => d - 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(id: &str) -> Config {
        let a = Args::parse_from([
            "pb-kv",
            "--id",
            id,
            "--listen",
            match id {
                "n1" => "127.0.0.1:1",
                "n2" => "127.0.0.1:2",
                _ => "127.0.0.1:3",
            },
            "--peers",
            "n1=127.0.0.1:1,n2=127.0.0.1:2,n3=127.0.0.1:3",
            "--data-dir",
            "/tmp/x",
        ]);
        Config::from_args(a).unwrap()
    }

    #[test]
    fn epochs_are_owned_round_robin_in_peer_order() {
        let c = cfg("n2");
        assert_eq!(c.owner(1), "n1");
        assert_eq!(c.owner(2), "n2");
        assert_eq!(c.owner(4), "n1");
        assert_eq!(c.next_own_epoch(1), 2);
        assert_eq!(c.next_own_epoch(2), 5);
        assert_eq!(cfg("n3").next_own_epoch(1), 3);
        assert_eq!(cfg("n1").next_own_epoch(3), 4);
    }

    #[test]
    fn the_next_peer_after_the_primary_ranks_first() {
        assert_eq!(cfg("n2").succession_rank("n1"), 0);
        assert_eq!(cfg("n3").succession_rank("n1"), 1);
        assert_eq!(cfg("n1").succession_rank("n3"), 0);
        assert_eq!(cfg("n1").succession_rank("n2"), 1);
    }

    #[test]
    fn bad_peer_lists_are_named() {
        assert!(parse_peers("n1=127.0.0.1:1,n1=127.0.0.1:2")
            .unwrap_err()
            .to_string()
            .contains("twice"));
        assert!(parse_peers("n1:127.0.0.1")
            .unwrap_err()
            .to_string()
            .contains("n1:127.0.0.1"));
        let a = Args::parse_from([
            "pb-kv",
            "--id",
            "n4",
            "--listen",
            "127.0.0.1:1",
            "--peers",
            "n1=127.0.0.1:1",
            "--data-dir",
            "/x",
        ]);
        assert!(Config::from_args(a).unwrap_err().to_string().contains("n4"));
    }
}
