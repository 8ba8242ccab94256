//! Following the sentinels' `+switch-master` announcements, as Jedis, Lettuce and
//! redis-py's Sentinel clients do: one subscription per sentinel, and a shared epoch
//! that advances on every announcement for our master. A client compares the epoch
//! it found its primary under with the current one before each operation and asks
//! the sentinels again when they differ. Only where the next operation goes changes;
//! an operation in flight keeps its own outcome rules.
//!
//! The subscription is RESP3 pub/sub on a dedicated connection per sentinel (push
//! messages arrive on a channel, so no stream combinators are needed). It pings the
//! sentinel when it has heard nothing for a while, so a partition that silently
//! swallows the connection is noticed, and it reconnects with a small back-off.
//! Dropping the last factory clone aborts every subscription task, which drops its
//! connection.

use ::redis::aio::MultiplexedConnection;
use ::redis::{cmd, PushInfo, PushKind, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::task::JoinHandle;

/// The channel sentinels announce a completed failover on.
pub(super) const SWITCH_CHANNEL: &str = "+switch-master";
/// First wait before reconnecting to a sentinel that could not be reached.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Silence after which the subscription pings its sentinel.
const PING_AFTER: Duration = Duration::from_secs(1);

/// The master name of a `+switch-master` payload
/// (`<master-name> <old-ip> <old-port> <new-ip> <new-port>`), `None` if it is not one.
pub(super) fn switched_master(payload: &str) -> Option<&str> {
    let words: Vec<&str> = payload.split_whitespace().collect();
    match words.as_slice() {
        [name, _old_ip, old_port, _new_ip, new_port]
            if old_port.parse::<u16>().is_ok() && new_port.parse::<u16>().is_ok() =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// The subscriptions of one factory (shared by its clones) and the epoch its clients
/// read. Dropping it aborts the tasks.
pub(super) struct Switches {
    master_name: String,
    sentinel_port: u16,
    timeout: Duration,
    epoch: Arc<AtomicU64>,
    /// Held by every running task: how many are still running, for tests.
    alive: Arc<()>,
    tasks: Mutex<Vec<(String, JoinHandle<()>)>>,
}

impl Switches {
    pub(super) fn new(master_name: String, sentinel_port: u16, timeout: Duration) -> Switches {
        Switches {
            master_name,
            sentinel_port,
            timeout,
            epoch: Arc::default(),
            alive: Arc::new(()),
            tasks: Mutex::default(),
        }
    }

    /// The epoch clients compare against; it advances on every announcement.
    pub(super) fn epoch(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.epoch)
    }

    /// Subscription tasks still running (ended tasks have dropped their token).
    #[cfg(test)]
    pub(super) fn running(&self) -> usize {
        Arc::strong_count(&self.alive) - 1
    }

    /// A token a test can keep to watch the tasks end after the factory is dropped.
    #[cfg(test)]
    pub(super) fn alive_token(&self) -> std::sync::Weak<()> {
        Arc::downgrade(&self.alive)
    }

    /// Starts a subscription to every host's sentinel not yet followed. Outside a
    /// tokio runtime there is nothing to spawn on: the next call from inside one
    /// (every operation makes one) starts them.
    pub(super) fn follow(&self, hosts: &[String]) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        for host in hosts {
            if tasks.iter().any(|(h, _)| h == host) {
                continue;
            }
            let follower = Follower {
                addr: format!("{host}:{}", self.sentinel_port),
                master_name: self.master_name.clone(),
                timeout: self.timeout,
                epoch: Arc::clone(&self.epoch),
                _alive: Arc::clone(&self.alive),
            };
            tasks.push((host.clone(), runtime.spawn(follower.run())));
        }
    }
}

impl Drop for Switches {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, task) in tasks.drain(..) {
            task.abort();
        }
    }
}

/// One sentinel's subscription task.
struct Follower {
    addr: String,
    master_name: String,
    timeout: Duration,
    epoch: Arc<AtomicU64>,
    _alive: Arc<()>,
}

impl Follower {
    /// Subscribes, listens until the connection is lost, and starts over after a
    /// back-off that grows while the sentinel stays unreachable.
    async fn run(self) {
        let mut backoff = BACKOFF_MIN;
        loop {
            if let Ok((conn, pushes)) = self.subscribe().await {
                backoff = BACKOFF_MIN;
                self.listen(conn, pushes).await;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    async fn subscribe(
        &self,
    ) -> Result<(MultiplexedConnection, UnboundedReceiver<PushInfo>), ::redis::RedisError> {
        let client = ::redis::Client::open(format!("redis://{}/?protocol=resp3", self.addr))?;
        let (tx, rx) = unbounded_channel();
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_push_sender(tx);
        let mut conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        conn.subscribe(SWITCH_CHANNEL).await?;
        Ok((conn, rx))
    }

    /// Until the connection breaks or stops answering pings.
    async fn listen(
        &self,
        mut conn: MultiplexedConnection,
        mut pushes: UnboundedReceiver<PushInfo>,
    ) {
        loop {
            match tokio::time::timeout(PING_AFTER, pushes.recv()).await {
                Ok(None) => return,
                Ok(Some(push)) if push.kind == PushKind::Disconnection => return,
                Ok(Some(push)) => self.note(&push),
                Err(_) => {
                    let ping = cmd("PING");
                    let pong = ping.query_async::<Value>(&mut conn);
                    if !matches!(tokio::time::timeout(self.timeout, pong).await, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }

    /// Advances the epoch if `push` announces a switch of our master.
    fn note(&self, push: &PushInfo) {
        if push.kind != PushKind::Message {
            return;
        }
        let [channel, payload] = push.data.as_slice() else {
            return;
        };
        let text = |v: &Value| ::redis::from_redis_value::<String>(v).ok();
        if text(channel).as_deref() != Some(SWITCH_CHANNEL) {
            return;
        }
        if let Some(payload) = text(payload) {
            if switched_master(&payload) == Some(self.master_name.as_str()) {
                self.epoch.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_switch_announcement_names_its_master() {
        assert_eq!(
            switched_master("faultline 127.0.0.1 6379 127.0.0.1 6380"),
            Some("faultline")
        );
        assert_eq!(switched_master("faultline 127.0.0.1 6379"), None);
        assert_eq!(switched_master("faultline a b c d"), None);
        assert_eq!(switched_master(""), None);
    }
}
