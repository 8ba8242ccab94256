//! Client protocols: how the harness's client processes speak to a system. Each
//! protocol is one file with one [`Adapter`]; [`adapter`] is the registry. A system
//! declares its protocol (`protocol = "kv"` in a system file); the runner asks the
//! registry for that protocol's client factory, with the test's client settings.
//!
//! Adding a protocol is a file, a [`ClientProtocol`] variant and a registry line.

mod bank;
mod etcd;
mod external;
mod galera;
mod kv;
mod maelstrom;
mod postgres;
mod redis;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use workloads::client::ClientFactory;
use workloads::etcd::EtcdReads;
use workloads::external::AdapterCommand;
use workloads::generator::Workload;
use workloads::maelstrom::MaelstromOptions;
use workloads::postgres::Isolation;

/// How the harness's clients speak to a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClientProtocol {
    /// The faultline KV protocol (`docs/protocol.md`).
    Kv,
    /// etcd v3's HTTP JSON gateway (`workloads::etcd`).
    Etcd,
    /// Redis (RESP), primaries found through Sentinel (`workloads::redis`).
    Redis,
    /// A bank's transfers and whole-bank snapshots (cl-bank's `POST /transfer`,
    /// `POST /snapshot`); the only protocol that serves the bank workload.
    Bank,
    /// A client adapter in any language, one process per logical client, spoken to
    /// in JSON lines (`workloads::external`, `docs/adapters.md`): a system file's
    /// `[client]` table.
    External,
    /// PostgreSQL's wire protocol, transactions of the transactional workloads
    /// (`workloads::postgres`).
    Postgres,
    /// MariaDB's protocol, transactions of the transactional workloads on a Galera
    /// cluster (`workloads::galera`).
    Mysql,
    /// Maelstrom's JSON messages, over UDP to each node's relay
    /// (`workloads::maelstrom`, `docs/maelstrom.md`).
    Maelstrom,
}

impl ClientProtocol {
    pub fn name(self) -> &'static str {
        match self {
            ClientProtocol::Kv => "kv",
            ClientProtocol::Etcd => "etcd",
            ClientProtocol::Redis => "redis",
            ClientProtocol::Bank => "bank",
            ClientProtocol::External => "external",
            ClientProtocol::Postgres => "postgres",
            ClientProtocol::Mysql => "mysql",
            ClientProtocol::Maelstrom => "maelstrom",
        }
    }

    /// The protocol as a sentence names it.
    pub fn describe(self) -> &'static str {
        match self {
            ClientProtocol::Kv => "the faultline KV protocol (docs/protocol.md)",
            ClientProtocol::Etcd => "etcd's HTTP gateway",
            ClientProtocol::Redis => "Redis's protocol",
            ClientProtocol::Bank => "the bank protocol",
            ClientProtocol::External => "the system's own client adapter (docs/adapters.md)",
            ClientProtocol::Postgres => "PostgreSQL's protocol",
            ClientProtocol::Mysql => "MariaDB's protocol",
            ClientProtocol::Maelstrom => "Maelstrom's messages (docs/maelstrom.md)",
        }
    }
}

impl fmt::Display for ClientProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The test's client settings, some of which only one protocol understands.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientSettings {
    /// Per request; a timed-out write is indeterminate.
    pub timeout: Duration,
    /// etcd only: how reads are served.
    pub etcd_reads: EtcdReads,
    /// Redis only: replicas every write waits for (`WAIT`); 0 for none.
    pub redis_wait: u32,
    /// PostgreSQL and MariaDB only: the isolation level of every transaction.
    pub isolation: Isolation,
    /// The test's workload (an adapter is told it in `init`).
    pub workload: Workload,
    /// External adapters only: the system file's `[client]` command.
    pub adapter: Option<AdapterCommand>,
    /// Maelstrom only: broadcast's topology and how seq-kv and lww-kv behave.
    pub maelstrom: MaelstromOptions,
    /// The run's seed, for a protocol's own random choices (Maelstrom's services).
    pub seed: u64,
}

/// One client protocol.
pub trait Adapter: Sync {
    fn protocol(&self) -> ClientProtocol;
    /// The settings this protocol's clients use, besides the timeout; a setting
    /// given for another protocol is refused rather than silently ignored.
    fn own_settings(&self) -> &'static [&'static str] {
        &[]
    }
    /// The factory that makes one client per client process.
    fn factory(&self, settings: &ClientSettings) -> Result<Arc<dyn ClientFactory>>;
}

/// The registry: the adapter of each protocol.
pub fn adapter(protocol: ClientProtocol) -> &'static dyn Adapter {
    match protocol {
        ClientProtocol::Kv => &kv::Kv,
        ClientProtocol::Etcd => &etcd::Etcd,
        ClientProtocol::Redis => &redis::Redis,
        ClientProtocol::Bank => &bank::Bank,
        ClientProtocol::External => &external::External,
        ClientProtocol::Postgres => &postgres::Postgres,
        ClientProtocol::Mysql => &galera::Mysql,
        ClientProtocol::Maelstrom => &maelstrom::Maelstrom,
    }
}

/// The transactional model a SQL client runs: the workload's (preflight refuses
/// other workloads; list-append is what a stray one gets).
fn txn_model(settings: &ClientSettings) -> workloads::txn::TxnModel {
    settings
        .workload
        .txn_model()
        .unwrap_or(workloads::txn::TxnModel::ListAppend)
}

/// The client factory for a protocol, refusing settings meant for another one.
pub fn client_factory(
    protocol: ClientProtocol,
    settings: &ClientSettings,
) -> Result<Arc<dyn ClientFactory>> {
    let a = adapter(protocol);
    let given = [
        ("etcd-reads", settings.etcd_reads != EtcdReads::default()),
        ("redis-wait", settings.redis_wait > 0),
        ("isolation", settings.isolation != Isolation::default()),
        (
            "topology",
            settings.maelstrom.topology != Default::default(),
        ),
        (
            "kv-services",
            settings.maelstrom.kv_services != Default::default(),
        ),
    ];
    for (flag, set) in given {
        if set && !a.own_settings().contains(&flag) {
            anyhow::bail!("--{flag}: does not apply to this system's clients, which speak the {protocol} protocol");
        }
    }
    a.factory(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ClientSettings {
        ClientSettings {
            timeout: Duration::from_secs(1),
            etcd_reads: EtcdReads::default(),
            redis_wait: 0,
            isolation: Isolation::default(),
            workload: Workload::CasRegister,
            adapter: Some(AdapterCommand {
                program: "true".into(),
                args: vec![],
                env: vec![],
                working_dir: None,
                settings: Default::default(),
            }),
            maelstrom: MaelstromOptions::default(),
            seed: 1,
        }
    }

    #[test]
    fn every_protocol_has_an_adapter_that_says_it_is_that_protocol() {
        for p in [
            ClientProtocol::Kv,
            ClientProtocol::Etcd,
            ClientProtocol::Redis,
            ClientProtocol::Bank,
            ClientProtocol::External,
            ClientProtocol::Postgres,
            ClientProtocol::Mysql,
            ClientProtocol::Maelstrom,
        ] {
            assert_eq!(adapter(p).protocol(), p);
            assert!(client_factory(p, &settings()).is_ok(), "{p}");
        }
    }

    #[test]
    fn a_setting_for_another_protocol_is_refused_and_named() {
        let s = ClientSettings {
            redis_wait: 2,
            ..settings()
        };
        let e = client_factory(ClientProtocol::Etcd, &s)
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.starts_with("--redis-wait") && e.contains("etcd protocol"),
            "{e}"
        );
        assert!(client_factory(ClientProtocol::Redis, &s).is_ok());
        let s = ClientSettings {
            etcd_reads: EtcdReads::Serializable,
            ..settings()
        };
        let e = client_factory(ClientProtocol::Kv, &s)
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("--etcd-reads"), "{e}");
    }
}
