//! PostgreSQL: transactions of the transactional workloads over its own protocol,
//! at the isolation level the test asks for (`workloads::postgres`).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::postgres::{PgClientFactory, PgOptions};

pub struct Postgres;

impl Adapter for Postgres {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Postgres
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["isolation"]
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let model = super::txn_model(settings);
        Ok(Arc::new(PgClientFactory::new(PgOptions {
            timeout: settings.timeout,
            isolation: settings.isolation,
            model,
        })))
    }
}
