//! PostgreSQL: transactions of the transactional workloads over its own protocol,
//! at the isolation level the test asks for (`workloads::postgres`).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::postgres::{PgClientFactory, PgOptions};
use workloads::txn::TxnModel;

pub struct Postgres;

impl Adapter for Postgres {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Postgres
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["isolation"]
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        // Preflight refuses other workloads; list-append is what a stray one gets.
        let model = settings
            .workload
            .txn_model()
            .unwrap_or(TxnModel::ListAppend);
        Ok(Arc::new(PgClientFactory::new(PgOptions {
            timeout: settings.timeout,
            isolation: settings.isolation,
            model,
        })))
    }
}
