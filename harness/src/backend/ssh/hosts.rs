//! The hosts of an `ssh` test: `[[hosts]]` tables, in a hosts file (`--hosts FILE`)
//! or in the test file itself, in node order: each host takes `nodes` nodes (default
//! one), the first host n1.., the next host the following ones ([`place`]).
//!
//! ```toml
//! [[hosts]]
//! address = "10.0.0.11"   # an IPv4 address or a name that resolves to one
//! user = "root"           # default root; another user needs passwordless sudo
//! key = "~/.ssh/id_ed25519" # default: whatever ssh picks (agent, ~/.ssh/config)
//! port = 22               # default 22
//! nodes = 1               # how many nodes run on it, each on ports of its own
//! ssh-options = ["UserKnownHostsFile=/etc/faultline/known_hosts"] # each passed as -o
//! ```
//!
//! Every error names the file and the line of the host it is about.

use crate::error::bad_input;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::net::{Ipv4Addr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// One host as the file gives it (paths made absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Host {
    pub address: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    #[serde(default = "default_port")]
    pub port: u16,
    /// How many of the test's nodes run on this host; several are told apart by
    /// their ports ([`place`]).
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// Extra `ssh -o` options (`Name=value`), for host keys kept outside
    /// `~/.ssh/known_hosts`, a jump host, and the like.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_options: Vec<String>,
}

fn default_user() -> String {
    "root".to_string()
}

fn default_port() -> u16 {
    22
}

fn default_nodes() -> usize {
    1
}

/// How far apart the ports of two nodes on one host are: the k-th node on a host
/// (from 0) serves on the system's `port + k * PORT_STEP` (and `peer_port + k *
/// PORT_STEP`).
pub const PORT_STEP: u16 = 10;

/// Where one node runs: the index of its host in the hosts list, and how far its
/// ports are shifted from the system's ([`PORT_STEP`] per node before it on the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub host: usize,
    pub shift: u16,
}

/// Places `node_count` nodes on `hosts` in order: the first host's `nodes` nodes
/// first (n1, n2, ... on it), then the next host's; hosts left over are unused.
pub fn place(hosts: &[Host], node_count: usize) -> Result<Vec<Slot>> {
    let mut slots = Vec::with_capacity(node_count);
    for (h, host) in hosts.iter().enumerate() {
        for k in 0..host.nodes {
            if slots.len() == node_count {
                return Ok(slots);
            }
            let shift = u16::try_from(k)
                .ok()
                .and_then(|k| k.checked_mul(PORT_STEP))
                .ok_or_else(|| bad_input(format!("host {}: too many nodes on it", host.label())))?;
            slots.push(Slot { host: h, shift });
        }
    }
    if slots.len() < node_count {
        return Err(bad_input(format!(
            "--hosts: {node_count} nodes need {node_count} places, and the hosts listed take only {} \
             (one node per [[hosts]] table, or `nodes = N` on a table for several on that host)",
            slots.len()
        )));
    }
    Ok(slots)
}

impl Host {
    /// `user@address:port`, for messages.
    pub fn label(&self) -> String {
        format!("{}@{}:{}", self.user, self.address, self.port)
    }

    /// The host's IPv4 address: partition rules name peers by address.
    pub fn ipv4(&self) -> Result<Ipv4Addr> {
        if let Ok(ip) = self.address.parse() {
            return Ok(ip);
        }
        let found = (self.address.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| bad_input(format!("host {}: cannot resolve it: {e}", self.label())))?;
        found
            .filter_map(|a| match a.ip() {
                std::net::IpAddr::V4(v4) => Some(v4),
                _ => None,
            })
            .next()
            .ok_or_else(|| {
                bad_input(format!(
                    "host {}: it has no IPv4 address (partitions name peers by IPv4 address)",
                    self.label()
                ))
            })
    }
}

#[derive(Deserialize)]
struct Doc {
    #[serde(default)]
    hosts: Vec<toml::Spanned<Host>>,
}

/// Reads a hosts file: `[[hosts]]` tables and nothing else.
pub fn read_file(path: &Path) -> Result<Vec<Host>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        bad_input(format!(
            "hosts file {}: cannot read it: {e}",
            path.display()
        ))
    })?;
    let hosts = parse(&text, path)?;
    if hosts.is_empty() {
        return Err(bad_input(format!(
            "hosts file {}: no [[hosts]] table in it",
            path.display()
        )));
    }
    Ok(hosts)
}

/// The `[[hosts]]` of a TOML text (a hosts file or a test file; other keys are the
/// caller's), checked, with keys relative to the file's folder made absolute.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Host>> {
    let doc: Doc = toml::from_str(text)
        .map_err(|e| bad_input(format!("{}: {}", path.display(), e.to_string().trim_end())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut hosts: Vec<Host> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for spanned in doc.hosts {
        let line = line_of(text, spanned.span().start);
        let at = format!("{}:{line}", path.display());
        let mut host = spanned.into_inner();
        check(&host).map_err(|why| bad_input(format!("{at}: host {}: {why}", host.address)))?;
        if let Some(key) = &host.key {
            let key = expand_home(key);
            let key = if key.is_absolute() {
                key
            } else {
                base.join(key)
            };
            if !key.is_file() {
                return Err(bad_input(format!(
                    "{at}: host {}: key file {} does not exist",
                    host.address,
                    key.display()
                )));
            }
            host.key = Some(key);
        }
        let me = format!("{}:{}", host.address, host.port);
        if let Some((_, first)) = seen.iter().find(|(a, _)| *a == me) {
            return Err(bad_input(format!(
                "{at}: host {me} is listed twice (first at line {first}); for several nodes on one host write `nodes = N` in one table"
            )));
        }
        seen.push((me, line));
        hosts.push(host);
    }
    Ok(hosts)
}

/// What is wrong with a host's fields, if anything.
fn check(host: &Host) -> std::result::Result<(), String> {
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:".contains(c))
    };
    if !word(&host.address) {
        return Err("`address` must be an address or host name".into());
    }
    if !word(&host.user) {
        return Err(format!("`user` {:?} is not a user name", host.user));
    }
    if host.port == 0 {
        return Err("`port` must be 1 to 65535".into());
    }
    if host.nodes == 0 || host.nodes > 100 {
        return Err("`nodes` must be 1 to 100".into());
    }
    if let Some(bad) = host
        .ssh_options
        .iter()
        .find(|o| !o.contains('=') || o.starts_with('-'))
    {
        return Err(format!(
            "`ssh-options` entry {bad:?} is not of the form Name=value"
        ));
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Vec<Host>> {
        parse(text, Path::new("/tmp/hosts.toml"))
    }

    #[test]
    fn a_hosts_file_gives_every_host_with_its_defaults() {
        let hosts = parse_text(
            "[[hosts]]\naddress = \"10.1.0.1\"\n\n[[hosts]]\naddress = \"10.1.0.2\"\nuser = \"ops\"\nport = 2222\n",
        )
        .unwrap();
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0].user, "root");
        assert_eq!(hosts[0].port, 22);
        assert_eq!(hosts[1].label(), "ops@10.1.0.2:2222");
        assert_eq!(hosts[0].nodes, 1);
        assert_eq!(hosts[1].ipv4().unwrap(), Ipv4Addr::new(10, 1, 0, 2));
    }

    #[test]
    fn errors_name_the_file_and_the_line_of_the_host() {
        let text = "[[hosts]]\naddress = \"10.1.0.1\"\n\n[[hosts]]\naddress = \"10.1.0.2\"\nkey = \"/no/such/key\"\n";
        let e = format!("{:#}", parse_text(text).unwrap_err());
        assert!(
            e.contains("/tmp/hosts.toml:4") || e.contains("/tmp/hosts.toml:5"),
            "{e}"
        );
        assert!(e.contains("/no/such/key does not exist"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[[hosts]]\naddress = \"a\"\nprot = 22\n").unwrap_err()
        );
        assert!(e.contains("line 3") && e.contains("prot"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[[hosts]]\naddress = \"h\"\n[[hosts]]\naddress = \"h\"\n").unwrap_err()
        );
        assert!(e.contains("listed twice (first at line 1)"), "{e}");
        let e = format!(
            "{:#}",
            parse_text("[[hosts]]\naddress = \"h\"\nssh-options = [\"-oFoo\"]\n").unwrap_err()
        );
        assert!(e.contains("Name=value"), "{e}");
    }

    #[test]
    fn nodes_fill_each_host_in_turn_each_on_ports_of_its_own() {
        let hosts = parse_text(
            "[[hosts]]\naddress = \"10.1.0.1\"\nnodes = 3\n[[hosts]]\naddress = \"10.1.0.2\"\nnodes = 2\n",
        )
        .unwrap();
        let slots = place(&hosts, 5).unwrap();
        let got: Vec<(usize, u16)> = slots.iter().map(|s| (s.host, s.shift)).collect();
        assert_eq!(got, [(0, 0), (0, 10), (0, 20), (1, 0), (1, 10)]);
        assert_eq!(place(&hosts, 2).unwrap().len(), 2);
        let e = format!("{:#}", place(&hosts, 6).unwrap_err());
        assert!(
            e.contains("6 nodes need 6 places") && e.contains("take only 5"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            parse_text("[[hosts]]\naddress = \"h\"\nnodes = 0\n").unwrap_err()
        );
        assert!(
            e.contains("/tmp/hosts.toml:1") && e.contains("`nodes` must be"),
            "{e}"
        );
    }

    #[test]
    fn a_hosts_file_without_hosts_is_refused() {
        let dir = std::env::temp_dir().join(format!("fl-hosts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.toml");
        std::fs::write(&f, "# nothing\n").unwrap();
        let e = format!("{:#}", read_file(&f).unwrap_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(e.contains("no [[hosts]] table"), "{e}");
    }
}
