//! Membership changes over SSH: the system's admin interface is asked over the
//! network, as for local nodes, through the steps the backends share
//! ([`crate::backend::netns::membership`]); the process side is this backend's own:
//! a node added back is killed, its data folder on its host emptied, and it is
//! started fresh with the system's `join` command under a new supervisor.

use super::{lock, remote, Inner, SshCluster};
use crate::backend::netns::membership::{MemberProcesses, FRESH_READY};
use crate::backend::netns::{process, readiness};
use crate::system::membership::{vars_of, MemberAddr};
use crate::system::SystemSpec;
use anyhow::{anyhow, Context, Result};
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;

impl MemberProcesses for SshCluster {
    fn system(&self) -> &SystemSpec {
        &self.inner.system
    }

    fn member_addrs(&self, ids: &[String]) -> Result<Vec<MemberAddr<'_>>> {
        let inner = &self.inner;
        ids.iter()
            .map(|id| {
                let i = inner.index_of(id)?;
                let n = &inner.nodes[i];
                Ok(MemberAddr {
                    id: &n.id,
                    index: i + 1,
                    ip: n.ip,
                    data_dir: &n.data_dir,
                    port_shift: inner.slots[i].shift,
                })
            })
            .collect()
    }

    /// In the controller's notes on the node, which follow the host's log in
    /// `nodes/<id>.log` at the end.
    fn note(&self, id: &str, msg: &str) -> Result<()> {
        let i = self.inner.index_of(id)?;
        process::note(&self.inner.nodes[i].log, msg);
        Ok(())
    }

    fn stop_and_wipe(&self, id: &str) -> impl Future<Output = Result<()>> + Send {
        blocking(&self.inner, id, |inner, id| inner.stop_and_wipe(id))
    }

    fn start_joining(
        &self,
        id: &str,
        members: &[(String, Ipv4Addr)],
    ) -> impl Future<Output = Result<()>> + Send {
        let members = members.to_vec();
        blocking(&self.inner, id, move |inner, id| {
            inner.start_joining(id, &members)
        })
    }

    fn wait_fresh(&self, id: &str) -> impl Future<Output = Result<()>> + Send {
        let node = self.inner.index_of(id).map(|i| self.inner.nodes[i].clone());
        async move { readiness::wait_ready(&node?, FRESH_READY).await }
    }
}

/// Runs `f` on the blocking pool (it waits on SSH commands).
fn blocking(
    inner: &Arc<Inner>,
    id: &str,
    f: impl FnOnce(&Inner, &str) -> Result<()> + Send + 'static,
) -> impl Future<Output = Result<()>> + Send {
    let (inner, id) = (inner.clone(), id.to_string());
    async move {
        tokio::task::spawn_blocking(move || f(&inner, &id))
            .await
            .map_err(|e| anyhow!("a membership step panicked: {e}"))?
    }
}

impl Inner {
    fn stop_and_wipe(&self, id: &str) -> Result<()> {
        self.check_live()?;
        let i = self.index_of(id)?;
        self.signal(id, "KILL", "stopped for a fresh start (SIGKILL)")?;
        self.conns[i]
            .run(&remote::wipe_data(&self.run_id, id), None)
            .with_context(|| {
                format!(
                    "node {id} on {}: wiping its data",
                    self.conns[i].host.label()
                )
            })?;
        process::note(
            &self.nodes[i].log,
            &format!("{id} stopped and data wiped by faultline"),
        );
        Ok(())
    }

    /// Starts node `id` with the system's `join` command (the membership after the
    /// change being `members`), on its host under a new supervisor.
    fn start_joining(&self, id: &str, members: &[(String, Ipv4Addr)]) -> Result<()> {
        self.check_live()?;
        let i = self.index_of(id)?;
        let spec = self
            .system
            .membership
            .as_ref()
            .ok_or_else(|| anyhow!("{} has no `join` command", self.system.origin()))?;
        let node = &self.nodes[i];
        let shifts: Vec<(String, u16)> = self
            .nodes
            .iter()
            .zip(&self.slots)
            .map(|(n, s)| (n.id.clone(), s.shift))
            .collect();
        let me = MemberAddr {
            id,
            index: i + 1,
            ip: node.ip,
            data_dir: &node.data_dir,
            port_shift: self.slots[i].shift,
        };
        let (program, mut args) = spec
            .join
            .render(&self.system, &vars_of(&me, members, &shifts))
            .with_context(|| {
                format!("{}: `membership.join` for node {id}", self.system.origin())
            })?;
        args.extend(self.system.extra_args.iter().cloned());
        let first = &self.launches[i].0;
        // The system's own binary was uploaded: a join with it runs the upload.
        let program = if program == self.system.command.program {
            first.program.clone()
        } else {
            program
        };
        let launch = remote::RemoteLaunch {
            program,
            args,
            ..first.clone()
        };
        if let Some(p) = *lock(&self.groups[i]) {
            anyhow::bail!("node {id} is running (process group {p}); it must be stopped before it starts fresh");
        }
        process::note(
            &node.log,
            &format!("{id} started fresh to join by faultline"),
        );
        self.start_with(i, &launch)
    }
}
