//! etcd v3 through its HTTP JSON gateway, reads linearizable or serializable.

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::etcd::EtcdClientFactory;

pub struct Etcd;

impl Adapter for Etcd {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Etcd
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["etcd-reads"]
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        Ok(Arc::new(EtcdClientFactory::new(
            settings.timeout,
            settings.etcd_reads,
        )?))
    }
}
