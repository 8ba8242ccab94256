//! Maelstrom nodes (`docs/maelstrom.md`): programs that speak Maelstrom's JSON
//! messages on stdin and stdout. `--system maelstrom:PATH` (or `protocol =
//! "maelstrom"` in a system file) runs each node as the user's binary under a relay
//! (`faultline maelstrom-relay`, [`crate::relay`]) in the node's namespace: the relay
//! is the node's process for the backend (started, killed, paused and restarted as
//! one process group with its child), and bridges the node's stdin/stdout to UDP.

use super::faults::FaultSet;
use super::file::check_program;
use super::template::CommandTemplate;
use super::{Readiness, SpecSource, SystemSpec};
use crate::adapter::ClientProtocol;
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Duration;

/// The prefix of `--system maelstrom:PATH`.
pub const PREFIX: &str = "maelstrom:";

/// The UDP port every relay listens on (and the controller, on its own address).
pub const PORT: u16 = 7070;

/// The spec of `maelstrom:PATH`: the binary at PATH, run under a relay, with
/// `--system-arg`s passed to it. Every fault but clock faults by default.
pub fn binary_spec(path: &str) -> Result<SystemSpec> {
    if path.trim().is_empty() {
        anyhow::bail!("`{PREFIX}PATH` needs the path of the node's binary after the colon");
    }
    let program = std::path::absolute(Path::new(path))
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.to_string());
    check_program(&program).with_context(|| format!("the Maelstrom node `{path}`"))?;
    let name = Path::new(&program)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("maelstrom")
        .to_string();
    let node = SystemSpec {
        name,
        command: CommandTemplate {
            program,
            args: Vec::new(),
        },
        restart: None,
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Maelstrom,
        port: PORT,
        peer_port: None,
        readiness: Readiness::Tcp,
        cluster_ready: super::ClusterReadiness::Nodes,
        ready_timeout: Duration::from_secs(20),
        leader: super::LeaderLookup::None,
        faults: FaultSet::ALL_BUT_CLOCK,
        source: SpecSource::Builtin,
        unavailable: None,
        promises: None,
        client: None,
        membership: None,
    };
    wrap(node, false)
}

impl SystemSpec {
    /// A Maelstrom system's node program: the first word after the relay's `--`.
    pub fn command_node_program(&self) -> String {
        let args = &self.command.args;
        args.iter()
            .position(|a| a == "--")
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| self.command.program.clone())
    }
}

/// Puts the relay in front of a Maelstrom node's command: the node's own command
/// (and the test's `--system-arg`s, appended when rendered) come after `--`. The
/// relay answers the readiness check once the node answered `init`.
pub fn wrap(spec: SystemSpec, keep_data: bool) -> Result<SystemSpec> {
    let relay = std::env::current_exe()
        .context("finding the faultline executable, which relays Maelstrom nodes")?;
    let mut args: Vec<String> = [
        "maelstrom-relay",
        "--id",
        "{id}",
        "--listen",
        "{addr}",
        "--peers",
        "{peers}",
        "--dir",
        "{data_dir}",
    ]
    .map(String::from)
    .to_vec();
    if keep_data {
        args.push("--keep-data".into());
    }
    args.push("--".into());
    args.push(spec.command.program.clone());
    args.extend(spec.command.args.iter().cloned());
    Ok(SystemSpec {
        command: CommandTemplate {
            program: relay.display().to_string(),
            args,
        },
        // A restart is a fresh start: a new relay sends a fresh init.
        restart: None,
        readiness: Readiness::Tcp,
        protocol: ClientProtocol::Maelstrom,
        ..spec
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maelstrom_binary_runs_under_the_relay_with_the_node_command_after_the_separator() {
        let spec = binary_spec("/bin/cat").unwrap();
        assert_eq!(spec.name, "cat");
        assert_eq!(spec.protocol, ClientProtocol::Maelstrom);
        assert_eq!(spec.command.args[0], "maelstrom-relay");
        let tail: Vec<&str> = spec
            .command
            .args
            .iter()
            .skip_while(|a| *a != "--")
            .map(String::as_str)
            .collect();
        assert_eq!(tail, vec!["--", "/bin/cat"]);
        spec.validate().unwrap();
    }

    #[test]
    fn a_system_file_with_the_maelstrom_protocol_runs_its_command_under_the_relay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        let text = "name = \"n\"\ncommand = \"/bin/cat -u\"\nprotocol = \"maelstrom\"\nport = 7070\nkeep_working_dir = true\n";
        std::fs::write(&path, text).unwrap();
        let spec = SystemSpec::from_toml_file(&path).unwrap();
        assert_eq!(spec.readiness, Readiness::Tcp);
        assert!(spec.command.args.contains(&"--keep-data".to_string()));
        assert_eq!(spec.command_node_program(), "/bin/cat");
        assert_eq!(spec.command.args.last().unwrap(), "-u");
        // Only a Maelstrom node has a working directory the harness manages.
        std::fs::write(
            &path,
            "name = \"n\"\ncommand = \"/bin/cat\"\nport = 1\nkeep_working_dir = true\n",
        )
        .unwrap();
        let e = format!("{:#}", SystemSpec::from_toml_file(&path).unwrap_err());
        assert!(
            e.contains("keep_working_dir") && e.contains("maelstrom"),
            "{e}"
        );
    }

    #[test]
    fn a_missing_maelstrom_binary_is_named() {
        let e = format!("{:#}", binary_spec("/no/such/node").unwrap_err());
        assert!(e.contains("/no/such/node"), "{e}");
        let e = format!("{:#}", binary_spec("").unwrap_err());
        assert!(e.contains("path of the node"), "{e}");
    }
}
