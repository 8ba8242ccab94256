//! The faultline KV protocol over HTTP (`docs/protocol.md`): the reference systems
//! and any user system that speaks it.

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::{ClientFactory, KvClientFactory};

pub struct Kv;

impl Adapter for Kv {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Kv
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        Ok(Arc::new(KvClientFactory::new(settings.timeout)?))
    }
}
