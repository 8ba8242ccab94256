//! Redis over RESP, the primary found through Sentinel, writes optionally waiting
//! for replicas (`WAIT`).

use super::{Adapter, ClientProtocol, ClientSettings};
use std::sync::Arc;
use workloads::client::ClientFactory;
use workloads::redis::{RedisClientFactory, RedisOptions};

pub struct Redis;

impl Adapter for Redis {
    fn protocol(&self) -> ClientProtocol {
        ClientProtocol::Redis
    }

    fn own_settings(&self) -> &'static [&'static str] {
        &["redis-wait"]
    }

    fn factory(&self, settings: &ClientSettings) -> anyhow::Result<Arc<dyn ClientFactory>> {
        let options = RedisOptions::new(settings.timeout, settings.redis_wait);
        Ok(Arc::new(RedisClientFactory::new(options)))
    }
}
