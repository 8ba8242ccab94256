//! Command line and the validated configuration a node runs with.

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// A Dynamo-style leaderless key-value store speaking the faultline KV protocol.
#[derive(Parser, Debug, Clone)]
// A flag given twice keeps its last value, so a harness can append overrides.
#[command(name = "dynamo-kv", version, args_override_self = true)]
pub struct Cli {
    /// This node's id; must be one of the ids in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to serve HTTP on (clients and peers).
    #[arg(long)]
    pub listen: SocketAddr,
    /// Cluster members as ID=HOST:PORT, comma-separated or repeated. This node may be
    /// listed (with the address peers reach it at) or left out (then --listen is used).
    #[arg(long, value_delimiter = ',', required = true)]
    pub peers: Vec<String>,
    /// Directory for the data log, the hint log and the incarnation counter.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Replicas per key.
    #[arg(long, default_value_t = 3)]
    pub n: usize,
    /// Replies a read waits for.
    #[arg(long, default_value_t = 2)]
    pub r: usize,
    /// Acknowledgements a write waits for (the coordinator's own included).
    #[arg(long, default_value_t = 2)]
    pub w: usize,
    /// Sloppy quorums with hinted handoff (the default).
    #[arg(long, conflicts_with = "strict")]
    pub sloppy: bool,
    /// Strict quorums: only the key's N preferred replicas count.
    #[arg(long)]
    pub strict: bool,
    /// Resolve conflicts by wall-clock last-write-wins instead of keeping causal siblings.
    #[arg(long)]
    pub lww: bool,
    /// Deliberate bug to switch on: no-handoff, no-merge. May be repeated.
    #[arg(long = "bug", value_name = "NAME")]
    pub bugs: Vec<String>,
    /// Virtual nodes (ring tokens) per physical node.
    #[arg(long, default_value_t = 64)]
    pub vnodes: usize,
    /// Gossip round period.
    #[arg(long, default_value_t = 1000)]
    pub gossip_interval_ms: u64,
    /// A member whose heartbeat has not grown for this long is considered down.
    #[arg(long, default_value_t = 3000)]
    pub fail_after_ms: u64,
    /// Time limit of one request to a peer.
    #[arg(long, default_value_t = 1000)]
    pub rpc_timeout_ms: u64,
    /// Time limit of a client request (after it the answer is an indeterminate timeout).
    #[arg(long, default_value_t = 3000)]
    pub request_timeout_ms: u64,
    /// Period of Merkle-tree anti-entropy with a random peer; 0 turns it off.
    #[arg(long, default_value_t = 1000)]
    pub anti_entropy_ms: u64,
    /// Depth of the anti-entropy Merkle trees (2^depth leaves).
    #[arg(long, default_value_t = 8)]
    pub merkle_depth: u32,
    /// Period of the scan that hands hints off to owners gossip shows alive.
    #[arg(long, default_value_t = 500)]
    pub handoff_interval_ms: u64,
    /// Turn read repair off (to observe anti-entropy or handoff alone).
    #[arg(long)]
    pub no_read_repair: bool,
}

/// Deliberate bugs the harness must be able to catch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Hints are dropped instead of handed off.
    pub no_handoff: bool,
    /// A write supersedes every version the coordinator's read saw, not just its
    /// context: concurrent siblings are overwritten (lost updates).
    pub no_merge: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub listen: SocketAddr,
    /// Every member (this node included) and the address peers reach it at.
    pub members: BTreeMap<String, SocketAddr>,
    pub data_dir: PathBuf,
    pub n: usize,
    pub r: usize,
    pub w: usize,
    pub sloppy: bool,
    pub lww: bool,
    pub bugs: Bugs,
    pub vnodes: usize,
    pub gossip_interval: Duration,
    pub fail_after: Duration,
    pub rpc_timeout: Duration,
    pub request_timeout: Duration,
    pub anti_entropy: Option<Duration>,
    pub merkle_depth: u32,
    pub handoff_interval: Duration,
    pub read_repair: bool,
}

impl Config {
    pub fn from_cli(cli: Cli) -> Result<Config> {
        let mut members = BTreeMap::new();
        for entry in &cli.peers {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let (id, addr) = entry
                .split_once('=')
                .with_context(|| format!("--peers: {entry:?} is not ID=HOST:PORT"))?;
            let id = id.trim();
            if id.is_empty() || id.contains('\0') {
                bail!("--peers: {entry:?} has an empty or invalid id");
            }
            let addr = addr
                .trim()
                .to_socket_addrs()
                .with_context(|| format!("--peers: cannot resolve the address of {id}: {addr:?}"))?
                .next()
                .with_context(|| format!("--peers: no address for {id}"))?;
            if members.insert(id.to_string(), addr).is_some() {
                bail!("--peers: {id} is listed twice");
            }
        }
        members.entry(cli.id.clone()).or_insert(cli.listen);
        let count = members.len();
        if cli.n == 0 || cli.n > count {
            bail!(
                "--n {} must be between 1 and the number of members ({count})",
                cli.n
            );
        }
        if cli.r == 0 || cli.r > cli.n {
            bail!("--r {} must be between 1 and --n {}", cli.r, cli.n);
        }
        if cli.w == 0 || cli.w > cli.n {
            bail!("--w {} must be between 1 and --n {}", cli.w, cli.n);
        }
        let mut bugs = Bugs::default();
        for b in &cli.bugs {
            match b.as_str() {
                "no-handoff" => bugs.no_handoff = true,
                "no-merge" => bugs.no_merge = true,
                other => bail!("--bug {other:?}: unknown bug (known: no-handoff, no-merge)"),
            }
        }
        if !(1..=20).contains(&cli.merkle_depth) {
            bail!(
                "--merkle-depth {} must be between 1 and 20",
                cli.merkle_depth
            );
        }
        for (name, v) in [
            ("--gossip-interval-ms", cli.gossip_interval_ms),
            ("--fail-after-ms", cli.fail_after_ms),
            ("--rpc-timeout-ms", cli.rpc_timeout_ms),
            ("--request-timeout-ms", cli.request_timeout_ms),
            ("--handoff-interval-ms", cli.handoff_interval_ms),
        ] {
            if v == 0 {
                bail!("{name} must be greater than 0");
            }
        }
        Ok(Config {
            id: cli.id,
            listen: cli.listen,
            members,
            data_dir: cli.data_dir,
            n: cli.n,
            r: cli.r,
            w: cli.w,
            sloppy: !cli.strict,
            lww: cli.lww,
            bugs,
            vnodes: cli.vnodes.max(1),
            gossip_interval: Duration::from_millis(cli.gossip_interval_ms),
            fail_after: Duration::from_millis(cli.fail_after_ms),
            rpc_timeout: Duration::from_millis(cli.rpc_timeout_ms),
            request_timeout: Duration::from_millis(cli.request_timeout_ms),
            anti_entropy: (cli.anti_entropy_ms > 0)
                .then(|| Duration::from_millis(cli.anti_entropy_ms)),
            merkle_depth: cli.merkle_depth,
            handoff_interval: Duration::from_millis(cli.handoff_interval_ms),
            read_repair: !cli.no_read_repair,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &str) -> Result<Config> {
        let argv = std::iter::once("dynamo-kv").chain(args.split_whitespace());
        Config::from_cli(Cli::try_parse_from(argv)?)
    }

    #[test]
    fn accepts_a_normal_command_line() {
        let c = parse("--id n1 --listen 127.0.0.1:7001 --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir /tmp/x --bug no-merge").unwrap();
        assert_eq!(c.members.len(), 3);
        assert!(c.sloppy && c.bugs.no_merge && !c.bugs.no_handoff);
        assert!(!parse("--id n1 --listen 127.0.0.1:7001 --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir d --strict").unwrap().sloppy);
    }

    #[test]
    fn a_repeated_flag_keeps_its_last_value() {
        let c = parse("--id n1 --listen 127.0.0.1:7001 --peers n2=127.0.0.1:7002,n3=127.0.0.1:7003 --data-dir d --w 2 --w 3").unwrap();
        assert_eq!(c.w, 3);
    }

    #[test]
    fn rejects_bad_input_naming_the_flag() {
        let peers = "--peers n2=127.0.0.1:7002,n3=127.0.0.1:7003";
        let e = |extra: &str| {
            parse(&format!(
                "--id n1 --listen 127.0.0.1:7001 {peers} --data-dir d {extra}"
            ))
            .unwrap_err()
            .to_string()
        };
        assert!(e("--r 4").contains("--r"));
        assert!(e("--n 4").contains("--n"));
        assert!(e("--bug nope").contains("nope"));
        let bad = parse("--id n1 --listen 127.0.0.1:7001 --peers n2 --data-dir d")
            .unwrap_err()
            .to_string();
        assert!(bad.contains("ID=HOST:PORT"), "{bad}");
        let dup = parse("--id n1 --listen 127.0.0.1:7001 --peers n2=127.0.0.1:1,n2=127.0.0.1:2 --data-dir d --n 1 --r 1 --w 1").unwrap_err().to_string();
        assert!(dup.contains("twice"), "{dup}");
    }
}
