//! Command templates: a node's command line with `{placeholder}`s, rendered per node.
//! One template per argument, so a substituted value (a data directory with a space
//! in it) never splits into two arguments.

use super::SystemSpec;
use anyhow::{anyhow, bail, Result};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

/// A command line with `{placeholder}`s, one template per argument, so a substituted
/// value (a data directory with a space in it) never splits into two arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTemplate {
    pub program: String,
    pub args: Vec<String>,
}

/// Placeholders a command template may use. `{{` and `}}` stand for literal braces.
pub const PLACEHOLDERS: &[(&str, &str)] = &[
    ("id", "the node's id: n1, n2, ..."),
    ("index", "the node's number: 1, 2, ..."),
    ("ip", "the node's IP address"),
    ("port", "the client port"),
    ("addr", "ip:port, the address the node serves clients on"),
    (
        "peers",
        "every node (this one included) as id=ip:port, comma-separated",
    ),
    ("others", "every other node as id=ip:port, comma-separated"),
    (
        "data_dir",
        "the node's own data directory, kept across restarts",
    ),
    ("node_count", "the number of nodes"),
    ("peer_port", "the peer port (needs `peer_port`)"),
    ("peer_addr", "ip:peer_port (needs `peer_port`)"),
    (
        "initial_cluster",
        "every node as id=http://ip:peer_port, comma-separated, etcd style (needs `peer_port`)",
    ),
];

/// What a template is filled in with for one node.
#[derive(Debug, Clone)]
pub struct NodeVars<'a> {
    pub id: &'a str,
    pub index: usize,
    pub ip: Ipv4Addr,
    pub data_dir: &'a Path,
    /// Every node of the cluster, this one included, in order.
    pub members: &'a [(String, Ipv4Addr)],
    /// How far a node's ports are shifted from the system's `port` and `peer_port`
    /// (several nodes on one host, each on ports of its own); a node not listed is
    /// not shifted.
    pub port_shifts: &'a [(String, u16)],
}

impl NodeVars<'_> {
    /// The shift of node `id`'s ports (see [`NodeVars::port_shifts`]).
    pub fn shift(&self, id: &str) -> u16 {
        self.port_shifts
            .iter()
            .find(|(n, _)| n == id)
            .map_or(0, |(_, s)| *s)
    }
}

impl CommandTemplate {
    /// A template from one line, split as a POSIX shell splits words (quotes and
    /// backslashes, no expansion), so `sh -c "exec my-node {id}"` is three words.
    pub fn parse_words(line: &str) -> Result<CommandTemplate> {
        let words = shell_words::split(line).map_err(|e| anyhow!("{e} in {}", excerpt(line)))?;
        CommandTemplate::from_words(words)
    }

    pub fn from_words(mut words: Vec<String>) -> Result<CommandTemplate> {
        if words.is_empty() || words[0].trim().is_empty() {
            bail!("the command is empty");
        }
        let program = words.remove(0);
        Ok(CommandTemplate {
            program,
            args: words,
        })
    }

    fn words(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.program).chain(self.args.iter())
    }

    /// The placeholders the template names (a malformed word names none).
    pub fn placeholders(&self) -> Vec<String> {
        self.words()
            .flat_map(|w| placeholders_in(w).unwrap_or_default())
            .collect()
    }

    /// Checks every placeholder is known (and usable with this spec).
    pub fn validate(&self, has_peer_port: bool) -> Result<()> {
        for w in self.words() {
            for name in placeholders_in(w)? {
                if !PLACEHOLDERS.iter().any(|(p, _)| *p == name) {
                    let known: Vec<String> = PLACEHOLDERS
                        .iter()
                        .map(|(p, _)| format!("{{{p}}}"))
                        .collect();
                    bail!("unknown placeholder {{{name}}} in {} (known: {}; write {{{{ and }}}} for literal braces)", excerpt(w), known.join(", "));
                }
                if !has_peer_port
                    && matches!(name.as_str(), "peer_port" | "peer_addr" | "initial_cluster")
                {
                    bail!(
                        "placeholder {{{name}}} in {} needs `peer_port` to be set",
                        excerpt(w)
                    );
                }
            }
        }
        Ok(())
    }

    /// The program and arguments for one node.
    pub fn render(&self, spec: &SystemSpec, vars: &NodeVars) -> Result<(String, Vec<String>)> {
        let program = render_word(&self.program, spec, vars)?;
        let args = self
            .args
            .iter()
            .map(|a| render_word(a, spec, vars))
            .collect::<Result<Vec<_>>>()?;
        Ok((program, args))
    }
}

impl fmt::Display for CommandTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&shell_words::join(self.words()))
    }
}

/// A word as quoted in an error message, shortened if it is an inline script.
fn excerpt(word: &str) -> String {
    if word.chars().count() <= 60 {
        format!("{word:?}")
    } else {
        let head: String = word.chars().take(57).collect();
        format!("{head:?}...")
    }
}

fn placeholders_in(word: &str) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        let c = rest.as_bytes()[i];
        let after = &rest[i + 1..];
        if after.starts_with(c as char) {
            rest = &after[1..];
            continue;
        }
        if c == b'}' {
            bail!(
                "unmatched '}}' in {} (write '}}}}' for a literal brace)",
                excerpt(word)
            );
        }
        let end = after.find('}').ok_or_else(|| {
            anyhow!(
                "unclosed '{{' in {} (write '{{{{' for a literal brace)",
                excerpt(word)
            )
        })?;
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(out)
}

pub(crate) fn render_word(word: &str, spec: &SystemSpec, v: &NodeVars) -> Result<String> {
    let peer_port = spec.peer_port;
    let need_peer =
        |name: &str| peer_port.ok_or_else(|| anyhow!("{{{name}}} needs the system's peer_port"));
    // Each member with its own (shifted) port and peer port.
    let join = |f: &dyn Fn(&str, Ipv4Addr, u16, u16) -> String, skip_self: bool| -> String {
        v.members
            .iter()
            .filter(|(id, _)| !(skip_self && id == v.id))
            .map(|(id, ip)| {
                let s = v.shift(id);
                f(id, *ip, spec.port + s, peer_port.map_or(0, |p| p + s))
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let shift = v.shift(v.id);
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i] as char;
        let after = &rest[i + 1..];
        if after.starts_with(c) {
            out.push(c);
            rest = &after[1..];
            continue;
        }
        if c == '}' {
            bail!("unmatched '}}' in {word:?}");
        }
        let end = after
            .find('}')
            .ok_or_else(|| anyhow!("unclosed '{{' in {word:?}"))?;
        let name = &after[..end];
        let port = spec.port + shift;
        let value = match name {
            "id" => v.id.to_string(),
            "index" => v.index.to_string(),
            "ip" => v.ip.to_string(),
            "port" => port.to_string(),
            "addr" => format!("{}:{port}", v.ip),
            "peers" => join(&|id, ip, p, _| format!("{id}={ip}:{p}"), false),
            "others" => join(&|id, ip, p, _| format!("{id}={ip}:{p}"), true),
            "data_dir" => v.data_dir.display().to_string(),
            "node_count" => v.members.len().to_string(),
            "peer_port" => (need_peer(name)? + shift).to_string(),
            "peer_addr" => format!("{}:{}", v.ip, need_peer(name)? + shift),
            "initial_cluster" => {
                need_peer(name)?;
                join(&|id, ip, _, pp| format!("{id}=http://{ip}:{pp}"), false)
            }
            other => bail!("unknown placeholder {{{other}}} in {word:?}"),
        };
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
