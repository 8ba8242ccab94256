//! Names of everything a run creates. Every name carries the `fl` prefix and the run
//! id, so a run's objects can be found (and only its objects removed) by name alone.
//!
//! Linux caps interface names at 15 bytes: `fl` + 6-char run id + a node id of at most
//! 5 chars + a one-char suffix is 14.

use anyhow::{bail, Result};
use rand::Rng;

/// Length of a run id.
pub const RUN_ID_LEN: usize = 6;
/// Longest node id that keeps interface names within Linux's limit.
pub const MAX_NODE_ID_LEN: usize = 5;
/// Marker put on our interfaces (`ip link ... alias`), so `faultline clean` can tell a
/// namespace of ours from one that merely looks like it.
pub const ALIAS_PREFIX: &str = "faultline:";

/// A fresh random run id: 6 lowercase letters and digits.
pub fn new_run_id() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::thread_rng();
    (0..RUN_ID_LEN)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

pub fn is_run_id(s: &str) -> bool {
    s.len() == RUN_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

pub fn check_run_id(s: &str) -> Result<()> {
    if !is_run_id(s) {
        bail!("bad run id {s:?}: a run id is {RUN_ID_LEN} lowercase letters or digits (e.g. \"a3f9k2\")");
    }
    Ok(())
}

pub fn check_node_id(s: &str) -> Result<()> {
    if s.is_empty()
        || s.len() > MAX_NODE_ID_LEN
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        || s == "sw"
    {
        bail!("bad node id {s:?}: 1 to {MAX_NODE_ID_LEN} lowercase letters or digits, not \"sw\"");
    }
    Ok(())
}

/// The node ids of an `n`-node cluster: n1, n2, ...
pub fn node_ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("n{i}")).collect()
}

/// The names of one run's network objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunNames {
    pub run_id: String,
}

impl RunNames {
    pub fn new(run_id: &str) -> RunNames {
        RunNames {
            run_id: run_id.to_string(),
        }
    }

    /// The namespace that holds the bridge (the run's private switch).
    pub fn switch_netns(&self) -> String {
        format!("fl-{}-sw", self.run_id)
    }
    pub fn node_netns(&self, node: &str) -> String {
        format!("fl-{}-{node}", self.run_id)
    }
    /// The bridge, inside the switch namespace.
    pub fn bridge(&self) -> String {
        format!("fl{}br", self.run_id)
    }
    /// The node's interface, inside its namespace.
    pub fn node_link(&self, node: &str) -> String {
        format!("fl{}{node}", self.run_id)
    }
    /// The other end of the node's veth, on the bridge.
    pub fn node_peer_link(&self, node: &str) -> String {
        format!("fl{}{node}s", self.run_id)
    }
    /// The one interface in the host's namespace: the controller's way in.
    pub fn host_link(&self) -> String {
        format!("fl{}h", self.run_id)
    }
    pub fn host_peer_link(&self) -> String {
        format!("fl{}hs", self.run_id)
    }
    pub fn alias(&self) -> String {
        format!("{ALIAS_PREFIX}{}", self.run_id)
    }
}

/// The run id in a namespace name of ours (`fl-<runid>-<node|sw>`), if it is one.
pub fn run_id_of_netns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("fl-")?;
    let (id, tail) = rest.split_once('-')?;
    (is_run_id(id) && (tail == "sw" || check_node_id(tail).is_ok())).then_some(id)
}

/// The run id in a host interface name of ours (`fl<runid>h`), if it is one.
pub fn run_id_of_host_link(name: &str) -> Option<&str> {
    let id = name.strip_prefix("fl")?.strip_suffix('h')?;
    is_run_id(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_interface_limit() {
        let n = RunNames::new("abc123");
        for name in [
            n.bridge(),
            n.node_link("n9999"),
            n.node_peer_link("n9999"),
            n.host_link(),
            n.host_peer_link(),
        ] {
            assert!(name.len() <= 15, "{name}");
            assert!(name.starts_with("flabc123"), "{name}");
        }
        assert_eq!(n.node_netns("n1"), "fl-abc123-n1");
    }

    #[test]
    fn run_ids() {
        for _ in 0..100 {
            assert!(is_run_id(&new_run_id()));
        }
        assert!(check_run_id("ABC123").is_err());
        assert!(check_run_id("abc12").is_err());
        assert!(check_node_id("n123456").is_err());
    }

    #[test]
    fn recognises_our_names_only() {
        assert_eq!(run_id_of_netns("fl-abc123-n1"), Some("abc123"));
        assert_eq!(run_id_of_netns("fl-abc123-sw"), Some("abc123"));
        assert_eq!(run_id_of_netns("fl-abc12-n1"), None);
        assert_eq!(run_id_of_netns("flnemesis-x"), None);
        assert_eq!(run_id_of_host_link("flabc123h"), Some("abc123"));
        assert_eq!(run_id_of_host_link("eth0"), None);
    }
}
