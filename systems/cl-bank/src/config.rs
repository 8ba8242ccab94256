//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use systems_common::peers::{self, parse_peers};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Bug {
    /// `POST /snapshot` reads every node's local balances, without markers or channel
    /// recording: money in flight is missed and the total comes out wrong under load.
    NaiveSnapshot,
}

/// One node of cl-bank: accounts spread over nodes, transfers as messages on FIFO
/// channels, and Chandy-Lamport global snapshots.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
pub struct Args {
    /// This node's id; must appear in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to listen on for clients and channel traffic, e.g. 127.0.0.1:7001.
    #[arg(long)]
    pub listen: String,
    /// Every node as id=host:port. Account i lives on the node at position i mod nodes.
    #[arg(long)]
    pub peers: String,
    /// Accepted for uniformity with the other systems; cl-bank keeps its state in memory
    /// (the snapshot algorithm assumes no failures).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Number of accounts, numbered 0..N-1.
    #[arg(long, default_value_t = 10)]
    pub accounts: u64,
    /// Every account's balance at start.
    #[arg(long, default_value_t = 100)]
    pub initial_balance: i64,
    /// Each channel message is delivered no earlier than this long after it was sent
    /// (FIFO order is kept), so that money is visibly in flight.
    #[arg(long, default_value_t = 0)]
    pub channel_delay_ms: u64,
    /// A random extra delay in 0..=this per message, on top of --channel-delay-ms
    /// (still FIFO: a message never overtakes an earlier one on its channel).
    #[arg(long, default_value_t = 0)]
    pub channel_jitter_ms: u64,
    /// A client request (transfer, snapshot) not done within this time is answered
    /// `504 timeout`.
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Turn on a bug (repeatable).
    #[arg(long = "bug", value_enum)]
    pub bugs: Vec<Bug>,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub id: String,
    pub listen: String,
    pub peers: Vec<(String, String)>,
    pub index: usize,
    pub accounts: u64,
    pub initial_balance: i64,
    pub channel_delay: Duration,
    pub channel_jitter: Duration,
    pub request_timeout: Duration,
    pub bugs: Vec<Bug>,
}

impl Config {
    pub fn from_args(a: Args) -> Result<Config> {
        let peers = peers::require_some(parse_peers(&a.peers)?)?;
        let index = peers::position_of(&peers, &a.id, &a.listen)?;
        if a.accounts == 0 {
            bail!("--accounts must be at least 1");
        }
        if a.initial_balance < 0 {
            bail!("--initial-balance must not be negative");
        }
        if a.request_timeout_ms == 0 {
            bail!("--request-timeout-ms must be at least 1");
        }
        if let Some(d) = &a.data_dir {
            std::fs::create_dir_all(d)
                .map_err(|e| anyhow::anyhow!("--data-dir {}: {e}", d.display()))?;
        }
        let mut bugs = a.bugs;
        bugs.sort();
        bugs.dedup();
        Ok(Config {
            id: a.id,
            listen: a.listen,
            peers,
            index,
            accounts: a.accounts,
            initial_balance: a.initial_balance,
            channel_delay: Duration::from_millis(a.channel_delay_ms),
            channel_jitter: Duration::from_millis(a.channel_jitter_ms),
            request_timeout: Duration::from_millis(a.request_timeout_ms),
            bugs,
        })
    }

    pub fn has(&self, bug: Bug) -> bool {
        self.bugs.contains(&bug)
    }

    pub fn bug_names(&self) -> Vec<String> {
        self.bugs
            .iter()
            .map(|b| b.to_possible_value().unwrap().get_name().to_string())
            .collect()
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.peers.iter().position(|(p, _)| p == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut v = vec![
            "cl-bank",
            "--id",
            "n2",
            "--listen",
            "127.0.0.1:2",
            "--peers",
            "n1=127.0.0.1:1,n2=127.0.0.1:2",
        ];
        v.extend_from_slice(extra);
        Args::parse_from(v)
    }

    #[test]
    fn a_valid_command_line_places_the_node() {
        let c = Config::from_args(args(&[
            "--bug",
            "naive-snapshot",
            "--bug",
            "naive-snapshot",
        ]))
        .unwrap();
        assert_eq!((c.index, c.accounts, c.initial_balance), (1, 10, 100));
        assert_eq!(c.bug_names(), vec!["naive-snapshot"]);
        assert_eq!(c.index_of("n1"), Some(0));
    }

    #[test]
    fn mistakes_are_named() {
        let e = |extra: &[&str]| Config::from_args(args(extra)).unwrap_err().to_string();
        assert!(e(&["--accounts", "0"]).contains("--accounts"));
        assert!(e(&["--initial-balance=-1"]).contains("--initial-balance"));
        let mut a = args(&[]);
        a.listen = "127.0.0.1:9".into();
        assert!(Config::from_args(a)
            .unwrap_err()
            .to_string()
            .contains("--listen is 127.0.0.1:9"));
        assert!(parse_peers("n1=nowhere")
            .unwrap_err()
            .to_string()
            .contains("n1=nowhere"));
        assert!(peers::require_some(parse_peers("").unwrap())
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }
}
