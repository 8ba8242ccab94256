//! The run's private network: one namespace per node, a bridge in a "switch"
//! namespace of its own, and one veth into the host namespace for the controller.
//!
//! ```text
//!   host ns: flRh 10.77.X.254/24 ──veth── flRhs ┐
//!   fl-R-sw: bridge flRbr ────────────────────── ┤
//!   fl-R-n1: flRn1 10.77.X.1/24  ──veth── flRn1s ┤
//!   fl-R-n2: flRn2 10.77.X.2/24  ──veth── flRn2s ┘
//! ```
//!
//! Only one interface (and its connected route) ever appears in the host namespace;
//! the bridge lives where nothing else does, so no host interface, route or firewall
//! rule is touched. Nodes have no default route: they can reach each other and the
//! controller, nothing else. Commands go through `ip -batch`, one exec per namespace,
//! which keeps a 5-node setup well under a second.

use super::naming::RunNames;
use super::state::lease;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

/// The last octet of the controller's address on every run's subnet.
pub const HOST_OCTET: u8 = 254;

pub fn subnet_ip(octet: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 77, octet, host)
}

pub fn subnet_text(octet: u8) -> String {
    format!("10.77.{octet}.0/24")
}

/// Fails with a message saying how to run faultline when we cannot build namespaces.
pub fn check_privileges() -> Result<()> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| caps & (1u64 << bit) != 0;
    if !(has(CAP_NET_ADMIN) && has(CAP_SYS_ADMIN)) {
        bail!(
            "faultline needs root to build its test network (CAP_NET_ADMIN and CAP_SYS_ADMIN: network namespaces, \
             veth links, entering namespaces); run it as root, e.g. `sudo -E faultline test ...`, \
             or for the test suite `sudo -E env PATH=\"$PATH\" cargo test`"
        );
    }
    if !command_exists("ip") {
        bail!("the `ip` command (iproute2) is missing: install it with `apt-get install iproute2` (or run scripts/setup.sh)");
    }
    Ok(())
}

fn command_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
        || Path::new("/usr/sbin").join(name).is_file()
        || Path::new("/sbin").join(name).is_file()
}

/// Runs `ip` with `args`; the error carries the command and what `ip` said.
pub fn ip(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("running `ip` (is iproute2 installed?)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip [-n netns] -batch -` with `lines`. With `force`, keeps going past errors
/// (used for removal, where "already gone" is fine) and returns what failed.
fn ip_batch(netns: Option<&str>, lines: &[String], force: bool) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut cmd = Command::new("ip");
    if force {
        cmd.arg("-force");
    }
    if let Some(ns) = netns {
        cmd.args(["-n", ns]);
    }
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .context("running `ip` (is iproute2 installed?)")?;
    {
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(lines.join("\n").as_bytes())?;
        stdin.write_all(b"\n")?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let where_ = netns
            .map(|n| format!(" in namespace {n}"))
            .unwrap_or_default();
        bail!(
            "`ip -batch`{where_} failed: {}\n  commands were:\n    {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            lines.join("\n    ")
        );
    }
    Ok(())
}

/// Picks and leases a 10.77.X.0/24 nobody uses: no lease by another run, no host
/// address in it, no host route overlapping it. The search starts at a point derived
/// from the run id, so concurrent runs usually try different subnets first.
pub fn lease_subnet(run_id: &str) -> Result<u8> {
    let addrs = ip(&["-o", "-4", "addr", "show"]).unwrap_or_default();
    let routes = ip(&["-o", "-4", "route", "show", "table", "all"]).unwrap_or_default();
    let taken = host_prefixes(&addrs, &routes);
    let start = fnv1a(run_id.as_bytes()) % 256;
    for i in 0..256u32 {
        let octet = ((start + i) % 256) as u8;
        let net = (u32::from(subnet_ip(octet, 0)), 24);
        if taken.iter().any(|p| overlaps(*p, net)) {
            continue;
        }
        if lease::claim(octet, run_id)? {
            return Ok(octet);
        }
        // A lease whose run left no state file and no host link is stale: the run
        // died between claiming it and writing anything else.
        if let Some(holder) = lease::holder(octet) {
            let gone = !super::state::RunState::path_of(&holder).exists()
                && !link_exists(&RunNames::new(&holder).host_link());
            if gone && holder != run_id {
                lease::release(octet, &holder);
                if lease::claim(octet, run_id)? {
                    return Ok(octet);
                }
            }
        }
    }
    bail!("no free subnet in 10.77.0.0/16: every /24 is leased by a faultline run or used by the host; run `faultline clean` to remove leftovers of killed runs")
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c9dc5u32, |h, b| {
        (h ^ *b as u32).wrapping_mul(0x01000193)
    })
}

/// The IPv4 prefixes the host's addresses and routes cover (except default routes).
fn host_prefixes(addrs: &str, routes: &str) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    for line in addrs.lines() {
        // "2: eth0    inet 192.0.2.2/24 brd ..."
        let mut words = line.split_whitespace();
        if words.by_ref().any(|w| w == "inet") {
            if let Some(p) = words.next().and_then(parse_prefix) {
                out.push(p);
            }
        }
    }
    const TYPES: &[&str] = &[
        "local",
        "broadcast",
        "unicast",
        "multicast",
        "anycast",
        "blackhole",
        "unreachable",
        "prohibit",
        "throw",
        "nat",
    ];
    for line in routes.lines() {
        let mut words = line.split_whitespace();
        let mut first = words.next().unwrap_or("");
        if TYPES.contains(&first) {
            first = words.next().unwrap_or("");
        }
        if let Some(p) = parse_prefix(first) {
            if p.1 >= 8 {
                out.push(p);
            }
        }
    }
    out
}

fn parse_prefix(s: &str) -> Option<(u32, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok()?),
        None => (s, 32),
    };
    let addr: Ipv4Addr = addr.parse().ok()?;
    (len <= 32).then_some((u32::from(addr), len))
}

fn overlaps(a: (u32, u8), b: (u32, u8)) -> bool {
    let len = a.1.min(b.1);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a.0 & mask == b.0 & mask
}

/// Builds the network for `nodes` (id, address) on subnet `octet`.
pub fn create(names: &RunNames, octet: u8, nodes: &[(String, Ipv4Addr)]) -> Result<()> {
    let alias = names.alias();
    let sw = names.switch_netns();
    let br = names.bridge();
    let host = names.host_link();

    let mut host_cmds = vec![format!("netns add {sw}")];
    for (id, _) in nodes {
        host_cmds.push(format!("netns add {}", names.node_netns(id)));
    }
    for (id, _) in nodes {
        host_cmds.push(format!(
            "link add {} netns {} type veth peer name {} netns {sw}",
            names.node_link(id),
            names.node_netns(id),
            names.node_peer_link(id)
        ));
    }
    host_cmds.push(format!(
        "link add {host} type veth peer name {} netns {sw}",
        names.host_peer_link()
    ));
    ip_batch(None, &host_cmds, false)?;

    // `addrgenmode none` on every link, before it goes up: no IPv6 link-local
    // addresses, so nothing can talk past the IPv4 firewall rules of a partition, and
    // the host namespace gains no address beyond the one we add.
    let mut sw_cmds = vec![
        format!("link add {br} type bridge"),
        format!("link set {br} addrgenmode none"),
        format!("link set {br} alias {alias} up"),
    ];
    let ports = nodes
        .iter()
        .map(|(id, _)| names.node_peer_link(id))
        .chain([names.host_peer_link()]);
    for port in ports {
        sw_cmds.push(format!("link set {port} addrgenmode none"));
        sw_cmds.push(format!("link set {port} master {br} up"));
    }
    ip_batch(Some(&sw), &sw_cmds, false)?;

    for (id, addr) in nodes {
        let link = names.node_link(id);
        let cmds = vec![
            "link set lo up".to_string(),
            format!("link set {link} addrgenmode none"),
            format!("addr add {addr}/24 dev {link}"),
            format!("link set {link} alias {alias} up"),
        ];
        ip_batch(Some(&names.node_netns(id)), &cmds, false)?;
    }

    // The host end last: from here on the controller can reach the nodes.
    let host_cmds = vec![
        format!("link set {host} addrgenmode none"),
        format!("addr add {}/24 dev {host}", subnet_ip(octet, HOST_OCTET)),
        format!("link set {host} alias {alias} up"),
    ];
    ip_batch(None, &host_cmds, false)?;
    Ok(())
}

/// Removes the host link (none if empty) and `namespaces`, whichever exist. Removing the host end of
/// the veth removes both ends at once; the links inside namespaces go with them.
pub fn destroy(host_link: &str, namespaces: &[String]) -> Result<()> {
    let mut errors = Vec::new();
    if !host_link.is_empty() && link_exists(host_link) {
        if let Err(e) = ip(&["link", "del", host_link]) {
            errors.push(format!("{e:#}"));
        }
    }
    let present: Vec<String> = namespaces
        .iter()
        .filter(|n| netns_exists(n))
        .map(|n| format!("netns del {n}"))
        .collect();
    if let Err(e) = ip_batch(None, &present, true) {
        errors.push(format!("{e:#}"));
    }
    let left: Vec<&String> = namespaces.iter().filter(|n| netns_exists(n)).collect();
    if !left.is_empty() {
        errors.push(format!("namespaces still present: {left:?}"));
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

pub fn netns_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/run/netns").join(name).exists()
}

/// Every named network namespace (`ip netns list`, read directly).
pub fn list_netns() -> Vec<String> {
    sorted_names("/run/netns")
}

/// The names in a directory, sorted; none when it cannot be read.
fn sorted_names(dir: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    out.sort();
    out
}

pub fn link_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// The alias of an interface in the host namespace, if it has one.
pub fn host_link_alias(name: &str) -> Option<String> {
    let a = std::fs::read_to_string(Path::new("/sys/class/net").join(name).join("ifalias")).ok()?;
    let a = a.trim();
    (!a.is_empty()).then(|| a.to_string())
}

/// Every interface in the host namespace.
pub fn list_host_links() -> Vec<String> {
    sorted_names("/sys/class/net")
}

/// Whether an interface inside `netns` carries `alias` (our marker).
pub fn netns_has_alias(netns: &str, alias: &str) -> bool {
    ip(&["-n", netns, "-o", "link", "show"])
        .map(|out| {
            out.split_whitespace()
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| w[0] == "alias" && w[1] == alias)
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_overlap() {
        let addrs = "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 10.77.5.9/16 brd 10.77.255.255 scope global eth0\n";
        let routes = "default via 192.0.2.1 dev eth0\n10.77.9.0/24 dev x proto kernel\nlocal 10.77.200.1 dev y table local\nbroadcast 127.255.255.255 dev lo table local\n";
        let p = host_prefixes(addrs, routes);
        let net = |o| (u32::from(subnet_ip(o, 0)), 24);
        assert!(
            p.iter().any(|x| overlaps(*x, net(5))),
            "the /16 covers every 10.77 subnet"
        );
        assert!(p.iter().any(|x| overlaps(*x, net(9))));
        assert!(p.iter().any(|x| overlaps(*x, net(200))));
        assert!(!p.iter().any(|x| x.1 == 0), "default routes are ignored");
        let only_routes = host_prefixes("", routes);
        assert!(!only_routes.iter().any(|x| overlaps(*x, net(10))));
    }
}
