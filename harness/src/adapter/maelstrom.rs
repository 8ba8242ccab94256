//! Maelstrom clients (`c1`, `c2`, ...): Maelstrom's workload messages over UDP to
//! each node's relay, and the services Maelstrom provides to nodes
//! (`workloads::maelstrom`, `docs/maelstrom.md`).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::maelstrom::MaelstromFactory;

pub struct Maelstrom;

impl Adapter for Maelstrom {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Maelstrom
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        Ok(Arc::new(MaelstromFactory::new(
            settings.workload,
            settings.timeout,
            settings.maelstrom,
            settings.seed,
        )))
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["topology", "kv-services"]
    }
}
