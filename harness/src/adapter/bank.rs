//! A bank's transfers and whole-bank snapshots (cl-bank's endpoints).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::bank::BankClientFactory;
use workloads::client::ClientFactory;

pub struct Bank;

impl Adapter for Bank {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Bank
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        Ok(Arc::new(BankClientFactory::new(settings.timeout)?))
    }
}
