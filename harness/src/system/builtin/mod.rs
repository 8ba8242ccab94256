//! The built-in systems: the reference systems built from our design documents (one
//! workspace binary each, all speaking the faultline KV protocol except cl-bank) and
//! real systems from the distribution's packages (etcd, Redis with Sentinel,
//! PostgreSQL with streaming replicas, MariaDB Galera).

mod etcd;
mod galera;
mod postgres;
pub mod promises;
mod redis;

use super::faults::FaultSet;
use super::file::is_executable;
use super::leader::LeaderLookup;
use super::template::CommandTemplate;
use super::{Readiness, SpecSource, SystemSpec};
use crate::adapter::ClientProtocol;
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use etcd::{ETCD_CLIENT_PORT, ETCD_PEER_PORT};

/// The built-in systems `faultline test --system NAME` knows.
pub const BUILTIN_NAMES: &[&str] = &[
    "raft-kv",
    "dynamo-kv",
    "pb-kv",
    "cl-bank",
    "etcd",
    "redis-sentinel",
    "postgres",
    "galera",
];

/// A built-in system by name.
pub fn builtin(name: &str) -> Result<SystemSpec> {
    Ok(match name {
        "raft-kv" => {
            let spec = kv_reference("raft-kv", LeaderLookup::Health);
            SystemSpec {
                membership: Some(super::membership::kv_admin(&spec.command)),
                faults: FaultSet {
                    membership: true,
                    ..spec.faults
                },
                ..spec
            }
        }
        "dynamo-kv" => kv_reference("dynamo-kv", LeaderLookup::None),
        "pb-kv" => kv_reference("pb-kv", LeaderLookup::Health),
        // Chandy-Lamport assumes no failures and reliable FIFO channels: crashes lose
        // its in-memory state and partitions stall every snapshot, so only faults
        // that delay (pauses, packet delay and loss, which its channels resend
        // through) are allowed. It speaks the bank endpoints, not the KV protocol.
        "cl-bank" => SystemSpec {
            protocol: ClientProtocol::Bank,
            faults: FaultSet {
                partition: false,
                kill: false,
                clock: false,
                ..FaultSet::ALL
            },
            ..kv_reference("cl-bank", LeaderLookup::None)
        },
        "etcd" => needs(etcd::spec(), &["etcd"]),
        "redis-sentinel" => needs(redis::spec(), &["redis-server", "redis-sentinel"]),
        "postgres" => needs(
            postgres::spec(),
            &[
                &format!("{}/postgres", postgres::POSTGRES_BIN),
                &format!("{}/pg_basebackup", postgres::POSTGRES_BIN),
                "setpriv",
            ],
        ),
        "galera" => galera::needs_provider(needs(
            galera::spec(),
            &[galera::MARIADBD, "mariadb-install-db", "rsync", "setpriv"],
        )),
        other => bail!(
            "unknown system {other:?}: built-in systems are {}; for your own system pass a TOML file (see docs/systems.md)",
            BUILTIN_NAMES.join(", ")
        ),
    })
}

/// The arguments of `/bin/sh -c SCRIPT NAME ARGS...`: a node started by a small
/// shell wrapper. The script's `${...}` are shell, not placeholders, so its braces
/// are escaped for the command template; the other arguments are templates.
fn sh_script_args(script: &str, name: &str, args: &[&str]) -> Vec<String> {
    let escaped = script.replace('{', "{{").replace('}', "}}");
    ["-c".to_string(), escaped, name.to_string()]
        .into_iter()
        .chain(args.iter().map(|a| a.to_string()))
        .collect()
}

/// A real system from the distribution's packages is unavailable (with the command
/// that installs it) when one of its programs is not installed, so a run says so
/// before it starts anything instead of failing to start a node.
fn needs(spec: SystemSpec, programs: &[&str]) -> SystemSpec {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| super::file::check_program(p).is_err())
        .collect();
    if missing.is_empty() {
        return spec;
    }
    SystemSpec {
        unavailable: Some(format!(
            "{} needs {} on PATH, which this machine does not have; scripts/setup.sh installs it (the distribution's packages)",
            spec.name,
            missing.join(" and ")
        )),
        ..spec
    }
}

/// The reference systems share one command line (`--id --listen --peers
/// --data-dir`), the KV protocol and `/health`. A binary that is not built yet makes
/// the spec unavailable (with the command that builds it), not unknown: what the
/// system is does not depend on whether it is built.
fn kv_reference(name: &str, leader: LeaderLookup) -> SystemSpec {
    let (program, unavailable) = match find_workspace_binary(name) {
        Ok(bin) => (bin.display().to_string(), None),
        Err(e) => (name.to_string(), Some(e.to_string())),
    };
    let args = [
        "--id",
        "{id}",
        "--listen",
        "{addr}",
        "--peers",
        "{peers}",
        "--data-dir",
        "{data_dir}",
    ];
    SystemSpec {
        name: name.to_string(),
        command: CommandTemplate {
            program,
            args: args.map(String::from).to_vec(),
        },
        restart: None,
        extra_args: Vec::new(),
        env: Vec::new(),
        working_dir: None,
        protocol: ClientProtocol::Kv,
        port: 8080,
        peer_port: None,
        readiness: Readiness::Http {
            path: "/health".into(),
        },
        cluster_ready: crate::system::ClusterReadiness::Nodes,
        ready_timeout: Duration::from_secs(20),
        leader,
        // Membership changes only where the harness knows the admin interface
        // (raft-kv, above).
        faults: FaultSet {
            membership: false,
            ..FaultSet::ALL
        },
        source: SpecSource::Builtin,
        unavailable,
        promises: None,
        client: None,
        membership: None,
    }
}

/// Finds a workspace binary (a reference system) next to the running executable, or
/// in the workspace's `target/release` or `target/debug`.
pub fn find_workspace_binary(name: &str) -> Result<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            candidates.push(dir.join(name));
            // Test binaries live in target/<profile>/deps.
            if dir.ends_with("deps") {
                if let Some(up) = dir.parent() {
                    candidates.push(up.join(name));
                }
            }
        }
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf);
    for root in workspace.into_iter().chain(std::env::current_dir().ok()) {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        candidates.push(target.join("release").join(name));
        candidates.push(target.join("debug").join(name));
    }
    if let Some(found) = candidates.iter().find(|c| is_executable(c)) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    bail!(
        "the {name} binary was not found (looked in: {}); build it with `cargo build --release -p {name}`",
        looked.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_real_system_whose_program_is_missing_is_unavailable_and_says_how_to_install_it() {
        let spec = needs(etcd::spec(), &["sh", "no-such-program-fl"]);
        let why = spec.unavailable.expect("unavailable");
        assert!(
            why.contains("no-such-program-fl") && why.contains("scripts/setup.sh"),
            "{why}"
        );
        assert!(!why.contains(" sh "), "{why}");
        assert!(needs(etcd::spec(), &["sh"]).unavailable.is_none());
    }
}
