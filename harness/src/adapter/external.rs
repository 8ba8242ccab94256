//! Client adapters in any language (`docs/adapters.md`): the system file's
//! `[client]` command, one process per logical client, driven by
//! `workloads::external`.

use super::{Adapter, ClientProtocol, ClientSettings};
use anyhow::Context;
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::external::{AdapterClientFactory, AdapterOptions};

pub struct External;

impl Adapter for External {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::External
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let command = settings
            .adapter
            .clone()
            .context("the external protocol needs a system file with a [client] command")?;
        Ok(Arc::new(AdapterClientFactory::new(AdapterOptions {
            command,
            timeout: settings.timeout,
            workload: settings.workload,
        })))
    }
}
