//! The relay's command line, written by the harness (`system::maelstrom`), never by
//! hand: `faultline maelstrom-relay --id n1 --listen IP:PORT --peers n1=IP:PORT,...
//! --dir DATA_DIR [--keep-data] -- NODE-COMMAND...`.

use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Clone)]
pub struct RelayArgs {
    /// This node's id (n1, n2, ...).
    #[arg(long)]
    pub id: String,
    /// The node's address: UDP for messages, TCP for readiness.
    #[arg(long)]
    pub listen: SocketAddrV4,
    /// Every node as id=ip:port, comma-separated.
    #[arg(long)]
    pub peers: String,
    /// The node's data directory; the node runs in its `node/` folder.
    #[arg(long)]
    pub dir: PathBuf,
    /// Keep `node/` across restarts (for nodes that persist their state).
    #[arg(long)]
    pub keep_data: bool,
    /// The node's program and its arguments.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

impl RelayArgs {
    pub fn peers(&self) -> Result<HashMap<String, SocketAddr>> {
        parse_peers(&self.peers)
    }

    pub fn node_dir(&self) -> PathBuf {
        self.dir.join("node")
    }
}

/// `n1=10.77.3.1:7070,n2=...` as a map.
pub fn parse_peers(text: &str) -> Result<HashMap<String, SocketAddr>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (id, addr) = item
                .split_once('=')
                .ok_or_else(|| anyhow!("--peers: `{item}` is not id=ip:port"))?;
            let addr: SocketAddr = addr
                .parse()
                .map_err(|e| anyhow!("--peers: `{item}`: {e}"))?;
            Ok((id.to_string(), addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_parse_and_a_malformed_one_is_named() {
        let p = parse_peers("n1=10.0.0.1:7,n2=10.0.0.2:7").unwrap();
        assert_eq!(p["n2"], "10.0.0.2:7".parse().unwrap());
        let e = parse_peers("n1=10.0.0.1:7,n2").unwrap_err().to_string();
        assert!(e.contains("`n2`"), "{e}");
    }
}
