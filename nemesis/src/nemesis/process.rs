//! Process faults through the cluster control: kill, restart, pause, resume, for
//! every node of a fault at once.

use super::Nemesis;
use crate::control::ClusterControl;
use crate::netfilter::combine;
use anyhow::{anyhow, Result};

impl<C: ClusterControl + 'static> Nemesis<C> {
    pub(super) async fn kill(&mut self, nodes: &[String]) -> Result<()> {
        for n in nodes {
            self.node(n)?;
        }
        let results = self.each_blocking(nodes, |c, n| c.kill(n)).await;
        let mut errors = Vec::new();
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(()) => {
                    // A killed process is no longer paused; restart brings a fresh one.
                    self.paused.remove(n);
                    self.killed.insert(n.clone());
                }
                Err(e) => errors.push(e.context(format!("killing node {n}"))),
            }
        }
        combine(errors)
    }

    pub(super) async fn restart(&mut self, nodes: &[String]) -> Result<()> {
        let todo: Vec<String> = nodes
            .iter()
            .filter(|n| self.killed.contains(*n))
            .cloned()
            .collect();
        let mut set = tokio::task::JoinSet::new();
        for n in todo {
            let c = self.control.clone();
            set.spawn(async move {
                let r = c.restart(&n).await;
                (n, r)
            });
        }
        let mut errors = Vec::new();
        while let Some(j) = set.join_next().await {
            match j {
                Ok((n, Ok(()))) => {
                    self.killed.remove(&n);
                }
                Ok((n, Err(e))) => errors.push(e.context(format!("restarting node {n}"))),
                Err(e) => errors.push(anyhow!("restart task failed: {e}")),
            }
        }
        combine(errors)
    }

    pub(super) async fn pause(&mut self, nodes: &[String]) -> Result<()> {
        for n in nodes {
            self.node(n)?;
        }
        let results = self.each_blocking(nodes, |c, n| c.pause(n)).await;
        let mut errors = Vec::new();
        for (n, r) in nodes.iter().zip(results) {
            match r {
                Ok(()) => {
                    self.paused.insert(n.clone());
                }
                Err(e) => errors.push(e.context(format!("pausing node {n}"))),
            }
        }
        combine(errors)
    }

    pub(super) async fn resume(&mut self, nodes: &[String]) -> Result<()> {
        let todo: Vec<String> = nodes
            .iter()
            .filter(|n| self.paused.contains(*n))
            .cloned()
            .collect();
        let results = self.each_blocking(&todo, |c, n| c.resume(n)).await;
        let mut errors = Vec::new();
        for (n, r) in todo.iter().zip(results) {
            match r {
                Ok(()) => {
                    self.paused.remove(n);
                }
                Err(e) => errors.push(e.context(format!("resuming node {n}"))),
            }
        }
        combine(errors)
    }

    /// Runs a blocking control call for every node at once ("kill every node at once").
    pub(super) async fn each_blocking(
        &self,
        nodes: &[String],
        f: fn(&C, &str) -> Result<()>,
    ) -> Vec<Result<()>> {
        let handles: Vec<_> = nodes
            .iter()
            .map(|n| {
                let c = self.control.clone();
                let n = n.clone();
                tokio::task::spawn_blocking(move || f(&c, &n))
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(
                h.await
                    .unwrap_or_else(|e| Err(anyhow!("control task failed: {e}"))),
            );
        }
        out
    }
}
