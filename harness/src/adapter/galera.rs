//! MariaDB Galera: transactions of the transactional workloads over MariaDB's
//! protocol, each process on its own node, at the isolation level the test asks for
//! (`workloads::galera`).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::galera::{GaleraClientFactory, GaleraOptions};

pub struct Mysql;

impl Adapter for Mysql {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Mysql
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["isolation"]
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let model = super::txn_model(settings);
        Ok(Arc::new(GaleraClientFactory::new(GaleraOptions {
            timeout: settings.timeout,
            isolation: settings.isolation,
            model,
        })))
    }
}
