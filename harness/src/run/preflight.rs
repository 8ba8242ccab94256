//! What is checked before a test starts anything, not even its results folder:
//! privileges, that the system can start here, and that the workload, the system's
//! client protocol and the client settings fit together. A refusal here is the
//! user's to fix (bad input), except missing privileges (the harness's).

use crate::adapter::{self, ClientProtocol};
use crate::config::TestConfig;
use crate::error::bad_input;
use crate::system::SystemSpec;
use crate::workload::required_protocol;
use anyhow::Result;
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::generator::{Workload, BANK_ACCOUNTS, BANK_INITIAL_BALANCE};

/// The system of a test, with its extra arguments, ready to start.
pub fn system(config: &TestConfig) -> Result<SystemSpec> {
    let spec = SystemSpec::resolve(&config.system)
        .map_err(|e| bad_input(format!("--system: {e:#}")))?
        .with_extra_args(config.system_args.iter().cloned());
    if let Some(why) = &spec.unavailable {
        return Err(bad_input(format!("--system: {why}")));
    }
    Ok(spec)
}

/// The client factory for the system's protocol, after checking the workload fits.
pub fn client_factory(config: &TestConfig, spec: &SystemSpec) -> Result<Arc<dyn ClientFactory>> {
    check_workload(config, spec)?;
    let settings = adapter::ClientSettings {
        adapter: spec.client.clone(),
        ..config.client_settings()
    };
    adapter::client_factory(spec.protocol, &settings).map_err(|e| bad_input(format!("{e:#}")))
}

/// Refuses a workload the system cannot run soundly. The bank workload needs atomic
/// transfers between accounts and whole-bank reads, which the KV protocol cannot
/// express (a transfer changes two keys, and no KV operation does that atomically);
/// a bank speaks nothing else.
fn check_workload(config: &TestConfig, spec: &SystemSpec) -> Result<()> {
    if let Some((needed, why)) = required_protocol(config.workload) {
        if !needed.contains(&spec.protocol) {
            return Err(bad_input(format!(
                "--workload {}: {} cannot run it, since it speaks {}: {why}",
                config.workload,
                spec.origin(),
                spec.protocol.describe()
            )));
        }
    }
    if spec.protocol == ClientProtocol::Maelstrom
        && matches!(
            config.workload,
            Workload::Append | Workload::Set | Workload::Bank
        )
    {
        return Err(bad_input(format!(
            "--workload {}: Maelstrom nodes run the workloads Maelstrom's messages express: echo, lin-kv (cas-register), register, g-counter (counter), pn-counter, unique-ids, broadcast, g-set, txn-list-append (txn-append), txn-rw-register (txn-register), kafka (docs/maelstrom.md)",
            config.workload
        )));
    }
    if config.maelstrom.topology != Default::default() && config.workload != Workload::Broadcast {
        return Err(bad_input(format!(
            "--topology {}: only the broadcast workload sends a topology, not {}",
            config.maelstrom.topology, config.workload
        )));
    }
    if matches!(
        spec.protocol,
        ClientProtocol::Postgres | ClientProtocol::Mysql
    ) && config.workload.txn_model().is_none()
    {
        return Err(bad_input(format!(
            "--workload {}: {} runs transactions; use --workload txn-append or txn-register",
            config.workload,
            spec.origin()
        )));
    }
    if spec.protocol == ClientProtocol::Bank && config.workload != Workload::Bank {
        return Err(bad_input(format!(
            "--workload {}: {} is a bank (transfers and snapshots), not a key-value store; use --workload bank",
            config.workload,
            spec.origin()
        )));
    }
    // The bank checker's expected total is the workload's accounts times their
    // initial balance, which are cl-bank's defaults.
    if let Some(a) = config
        .system_args
        .iter()
        .find(|a| a.starts_with("--accounts") || a.starts_with("--initial-balance"))
    {
        if spec.protocol == ClientProtocol::Bank {
            return Err(bad_input(format!(
                "--system-arg {a}: the bank workload uses {BANK_ACCOUNTS} accounts of {BANK_INITIAL_BALANCE} each (cl-bank's defaults); other bank sizes are not supported"
            )));
        }
    }
    Ok(())
}
