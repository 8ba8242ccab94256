//! faultline's own iptables chains inside a node namespace, written as
//! `iptables-restore --noflush` scripts so each change is one atomic commit per
//! namespace, and healing is rewriting a chain empty.
//!
//! Layout, inside each node namespace only (never the host's tables):
//! - `filter INPUT -> FAULTLINE-PART`: partition drops (`-s <peer> -j DROP`).
//! - `filter INPUT -> FAULTLINE-PKT`: packet loss (`statistic` drops) and the NFQUEUE
//!   rules that hand packets to the delay shaper.
//! - `mangle POSTROUTING -> FAULTLINE-DUP`: duplication by `TEE` (a copy of the packet
//!   sent to the same destination).
//!
//! Rendering is pure (tested below); running the scripts lives in [`crate::netfilter`].

use std::fmt::Write;
use std::net::Ipv4Addr;

pub const PARTITION_CHAIN: &str = "FAULTLINE-PART";
pub const PACKET_CHAIN: &str = "FAULTLINE-PKT";
pub const DUPLICATE_CHAIN: &str = "FAULTLINE-DUP";

/// The jumps faultline installs: (table, built-in chain, our chain), in the order they
/// must appear at the top of the built-in chain.
pub const JUMPS: [(&str, &str, &str); 3] = [
    ("filter", "INPUT", PARTITION_CHAIN),
    ("filter", "INPUT", PACKET_CHAIN),
    ("mangle", "POSTROUTING", DUPLICATE_CHAIN),
];

/// One rule of a faultline chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Drop everything from `src`.
    Drop { src: Ipv4Addr },
    /// Drop packets from `src` with probability `p`.
    RandomDrop { src: Ipv4Addr, p: f64 },
    /// Hand packets from `src` to NFQUEUE `queue`; they pass untouched if no program
    /// listens (`--queue-bypass`), so a dead shaper never becomes a partition.
    Queue { src: Ipv4Addr, queue: u16 },
    /// Send a copy of packets to `dst` with probability `p`.
    Duplicate { dst: Ipv4Addr, p: f64 },
}

impl Rule {
    fn render(&self, chain: &str, out: &mut String) {
        let _ = match self {
            Rule::Drop { src } => writeln!(out, "-A {chain} -s {src}/32 -j DROP"),
            Rule::RandomDrop { src, p } => writeln!(
                out,
                "-A {chain} -s {src}/32 -m statistic --mode random --probability {} -j DROP",
                probability(*p)
            ),
            Rule::Queue { src, queue } => {
                writeln!(
                    out,
                    "-A {chain} -s {src}/32 -j NFQUEUE --queue-num {queue} --queue-bypass"
                )
            }
            Rule::Duplicate { dst, p } => {
                let m = if *p >= 1.0 {
                    String::new()
                } else {
                    format!(
                        " -m statistic --mode random --probability {}",
                        probability(*p)
                    )
                };
                writeln!(out, "-A {chain} -d {dst}/32{m} -j TEE --gateway {dst}")
            }
        };
    }
}

fn probability(p: f64) -> String {
    format!("{:.6}", p.clamp(0.0, 1.0))
}

/// The table a chain lives in.
pub fn table_of(chain: &str) -> &'static str {
    JUMPS
        .iter()
        .find(|(_, _, c)| *c == chain)
        .map(|(t, _, _)| *t)
        .unwrap_or("filter")
}

/// A script that replaces the contents of `chain` with `rules` (an empty list heals).
pub fn replace_chain(chain: &str, rules: &[Rule]) -> String {
    let mut s = format!("*{}\n:{chain} - [0:0]\n", table_of(chain));
    for r in rules {
        r.render(chain, &mut s);
    }
    s.push_str("COMMIT\n");
    s
}

/// Counts, in `iptables-save` output, the jumps from each built-in chain to ours and
/// which of our chains exist, so install and removal can be exact and idempotent.
#[derive(Debug, Default, PartialEq)]
pub struct Installed {
    /// For each entry of [`JUMPS`], how many times the jump appears.
    pub jumps: [usize; 3],
    /// For each entry of [`JUMPS`], whether our chain exists.
    pub chains: [bool; 3],
}

impl Installed {
    pub fn parse(save: &str) -> Installed {
        let mut inst = Installed::default();
        let mut table = "";
        for line in save.lines() {
            let line = line.trim();
            if let Some(t) = line.strip_prefix('*') {
                table = match t {
                    "filter" => "filter",
                    "mangle" => "mangle",
                    _ => "",
                };
                continue;
            }
            for (i, (t, builtin, chain)) in JUMPS.iter().enumerate() {
                if table != *t {
                    continue;
                }
                if line.starts_with(&format!(":{chain} ")) {
                    inst.chains[i] = true;
                }
                if line == format!("-A {builtin} -j {chain}") {
                    inst.jumps[i] += 1;
                }
            }
        }
        inst
    }

    /// True when exactly the expected chains and one jump each exist.
    pub fn complete(&self) -> bool {
        self.jumps.iter().all(|&j| j == 1) && self.chains.iter().all(|&c| c)
    }

    /// True when nothing of faultline's is left.
    pub fn is_empty(&self) -> bool {
        self.jumps.iter().all(|&j| j == 0) && self.chains.iter().all(|&c| !c)
    }

    /// A script that leaves exactly one jump to each (empty) chain at the top of its
    /// built-in chain, whatever was there before.
    pub fn install_script(&self) -> String {
        let mut s = String::new();
        for table in ["filter", "mangle"] {
            let _ = writeln!(s, "*{table}");
            for (_, _, chain) in JUMPS.iter().filter(|(t, _, _)| *t == table) {
                let _ = writeln!(s, ":{chain} - [0:0]");
            }
            for (i, (_, builtin, chain)) in JUMPS
                .iter()
                .enumerate()
                .filter(|(_, (t, _, _))| *t == table)
            {
                for _ in 0..self.jumps[i] {
                    let _ = writeln!(s, "-D {builtin} -j {chain}");
                }
            }
            // Inserted at 1 in reverse, so they end up in JUMPS order at the top.
            for (_, builtin, chain) in JUMPS.iter().rev().filter(|(t, _, _)| *t == table) {
                let _ = writeln!(s, "-I {builtin} 1 -j {chain}");
            }
            s.push_str("COMMIT\n");
        }
        s
    }

    /// A script that removes every jump and chain of faultline's that exists, or `None`
    /// when nothing is left.
    pub fn removal_script(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut s = String::new();
        for table in ["filter", "mangle"] {
            let mut body = String::new();
            for (i, (_, builtin, chain)) in JUMPS
                .iter()
                .enumerate()
                .filter(|(_, (t, _, _))| *t == table)
            {
                for _ in 0..self.jumps[i] {
                    let _ = writeln!(body, "-D {builtin} -j {chain}");
                }
            }
            for (i, (_, _, chain)) in JUMPS
                .iter()
                .enumerate()
                .filter(|(_, (t, _, _))| *t == table)
            {
                if self.chains[i] {
                    let _ = writeln!(body, "-F {chain}\n-X {chain}");
                }
            }
            if !body.is_empty() {
                let _ = write!(s, "*{table}\n{body}COMMIT\n");
            }
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVED: &str = "*mangle\n:POSTROUTING ACCEPT [0:0]\n:FAULTLINE-DUP - [0:0]\n-A POSTROUTING -j FAULTLINE-DUP\nCOMMIT\n\
        *filter\n:INPUT ACCEPT [0:0]\n:FAULTLINE-PART - [0:0]\n:FAULTLINE-PKT - [0:0]\n-A INPUT -j FAULTLINE-PART\n\
        -A INPUT -j FAULTLINE-PART\n-A INPUT -j FAULTLINE-PKT\n-A INPUT -s 10.0.0.1/32 -j ACCEPT\nCOMMIT\n";

    #[test]
    fn parses_what_is_installed() {
        let inst = Installed::parse(SAVED);
        assert_eq!(inst.jumps, [2, 1, 1]);
        assert_eq!(inst.chains, [true, true, true]);
        assert!(!inst.complete());
        assert!(Installed::parse("*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n").is_empty());
    }

    #[test]
    fn install_removes_duplicate_jumps_and_keeps_order() {
        let s = Installed::parse(SAVED).install_script();
        assert_eq!(s.matches("-D INPUT -j FAULTLINE-PART").count(), 2);
        let part = s.find("-I INPUT 1 -j FAULTLINE-PART").unwrap();
        let pkt = s.find("-I INPUT 1 -j FAULTLINE-PKT").unwrap();
        assert!(pkt < part, "PKT inserted first so PART ends on top");
        assert!(s.contains("*mangle\n:FAULTLINE-DUP - [0:0]\n-D POSTROUTING -j FAULTLINE-DUP\n-I POSTROUTING 1 -j FAULTLINE-DUP"));
    }

    #[test]
    fn removal_touches_only_what_exists() {
        assert_eq!(Installed::default().removal_script(), None);
        let s = Installed::parse(SAVED).removal_script().unwrap();
        assert!(s.contains("-F FAULTLINE-PKT\n-X FAULTLINE-PKT"));
        assert!(s.contains("-D POSTROUTING -j FAULTLINE-DUP"));
        assert!(
            !s.contains("ACCEPT"),
            "rules that are not ours are never named"
        );
    }

    #[test]
    fn renders_rules() {
        let ip: Ipv4Addr = "10.78.1.2".parse().unwrap();
        let s = replace_chain(
            PACKET_CHAIN,
            &[
                Rule::RandomDrop { src: ip, p: 0.25 },
                Rule::Queue { src: ip, queue: 7 },
            ],
        );
        assert_eq!(
            s,
            "*filter\n:FAULTLINE-PKT - [0:0]\n\
             -A FAULTLINE-PKT -s 10.78.1.2/32 -m statistic --mode random --probability 0.250000 -j DROP\n\
             -A FAULTLINE-PKT -s 10.78.1.2/32 -j NFQUEUE --queue-num 7 --queue-bypass\nCOMMIT\n"
        );
        let d = replace_chain(DUPLICATE_CHAIN, &[Rule::Duplicate { dst: ip, p: 1.0 }]);
        assert!(
            d.starts_with("*mangle\n") && d.contains("-d 10.78.1.2/32 -j TEE --gateway 10.78.1.2")
        );
        assert_eq!(
            replace_chain(PARTITION_CHAIN, &[]),
            "*filter\n:FAULTLINE-PART - [0:0]\nCOMMIT\n"
        );
    }
}
