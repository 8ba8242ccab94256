//! The shape every node's `main` has: parse the command line, run, and on error print
//! `<name>: error: <cause chain>` and exit 1 (the harness shows the log's last lines, so
//! the reason must be the last thing the node says).

use std::fmt::Display;

use clap::Parser;
use tokio::net::TcpListener;
use tokio::runtime::Runtime;

/// Parses `A` from the command line (clap exits with its own message on bad flags),
/// calls `run`, and exits 1 after printing the error if it fails. `{:#}` shows an
/// `anyhow` error's whole chain.
pub fn main_with<A: Parser, E: Display>(name: &str, run: impl FnOnce(A) -> Result<(), E>) {
    if let Err(e) = run(A::parse()) {
        eprintln!("{name}: error: {e:#}");
        std::process::exit(1);
    }
}

/// A multi-threaded runtime with timers and I/O. `worker_threads`: `None` for one per
/// core; the harness runs many nodes on one machine, so most systems ask for 2.
pub fn runtime(worker_threads: Option<usize>) -> std::io::Result<Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        b.worker_threads(n);
    }
    b.enable_all().build()
}

/// The `--listen` address could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("--listen {addr}: cannot bind")]
pub struct BindError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// Binds the `--listen` address, naming the flag when it fails (in use, not local).
pub async fn bind(listen: &str) -> Result<TcpListener, BindError> {
    TcpListener::bind(listen).await.map_err(|source| BindError {
        addr: listen.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_address_is_refused_naming_the_flag() {
        let held = bind("127.0.0.1:0").await.unwrap();
        let addr = held.local_addr().unwrap().to_string();
        let e = bind(&addr).await.unwrap_err();
        assert_eq!(e.to_string(), format!("--listen {addr}: cannot bind"));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_runtime_with_two_workers_runs_tasks() {
        let rt = runtime(Some(2)).unwrap();
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { 7 }).await })
                .unwrap(),
            7
        );
    }
}
