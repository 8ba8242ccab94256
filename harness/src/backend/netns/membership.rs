//! Membership changes on a real cluster: the system's admin interface does the change
//! (`system::membership`); the cluster starts and stops the processes it needs. The
//! namespaces of every node exist for the whole run, so a node removed and added back
//! keeps its id, address and namespace, and comes back with an empty data directory.

use super::{lock, process, Cluster, Inner};
use crate::system::membership::{vars_of, MemberAddr, MembershipSpec};
use crate::system::SystemSpec;
use anyhow::{anyhow, bail, Context, Result};
use nemesis::MembershipChange;
use std::future::Future;
use std::net::Ipv4Addr;
use std::time::Duration;

/// How long a fresh node gets to answer its readiness check before it is added (it is
/// added anyway after that: the leader catches it up once it listens).
pub(crate) const FRESH_READY: Duration = Duration::from_secs(10);

/// The process side of a membership change, which each backend does its own way
/// (local namespaces here, hosts over SSH there); the order of the steps, and what
/// is asked of the system when, is the same for both ([`remove`], [`add_back`]).
pub(crate) trait MemberProcesses: Sync {
    fn system(&self) -> &SystemSpec;
    /// The nodes `ids` as a change names them.
    fn member_addrs(&self, ids: &[String]) -> Result<Vec<MemberAddr<'_>>>;
    /// Notes `msg` in node `id`'s log.
    fn note(&self, id: &str, msg: &str) -> Result<()>;
    /// Stops node `id` and empties its data directory.
    fn stop_and_wipe(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
    /// Starts node `id` with the system's `join` command, the membership after the
    /// change being `members`.
    fn start_joining(
        &self,
        id: &str,
        members: &[(String, Ipv4Addr)],
    ) -> impl Future<Output = Result<()>> + Send;
    /// Waits (at most [`FRESH_READY`]) until a fresh node answers its readiness check.
    fn wait_fresh(&self, id: &str) -> impl Future<Output = Result<()>> + Send;
}

fn membership_spec(system: &SystemSpec) -> Result<&MembershipSpec> {
    system.membership.as_ref().ok_or_else(|| {
        anyhow!(
            "{} has no membership interface the harness knows (a system file's [membership] commands; docs/systems.md)",
            system.origin()
        )
    })
}

/// Removes `nodes` through the system, leaving `members`; the removed nodes keep
/// running. Noted in each removed node's log.
pub(crate) async fn remove<P: MemberProcesses>(
    p: &P,
    nodes: &[String],
    members: &[String],
) -> Result<()> {
    let spec = membership_spec(p.system())?;
    let out = p.member_addrs(nodes)?;
    let stay = p.member_addrs(members)?;
    let r = spec
        .change(p.system(), MembershipChange::Remove, &out, &stay)
        .await;
    note_outcome(p, nodes, r, "removed from the cluster", "removal")
}

/// Notes in each node's log how the change went (`done`, or `what` failed), and
/// passes `r` on.
fn note_outcome<P: MemberProcesses>(
    p: &P,
    nodes: &[String],
    r: Result<()>,
    done: &str,
    what: &str,
) -> Result<()> {
    let how = match &r {
        Ok(()) => format!("{done} by faultline"),
        Err(e) => format!("{what} by faultline failed (it may still happen): {e:#}"),
    };
    for id in nodes {
        p.note(id, &format!("{id} {how}"))?;
    }
    r
}

/// Adds `nodes` back so that the members are `members`: confirms through the
/// system that they are out, then stops them, wipes their data, starts them with
/// the `join` command and adds them.
pub(crate) async fn add_back<P: MemberProcesses>(
    p: &P,
    nodes: &[String],
    members: &[String],
) -> Result<()> {
    let system = p.system();
    let spec = membership_spec(system)?;
    let back = p.member_addrs(nodes)?;
    let without: Vec<String> = members
        .iter()
        .filter(|m| !nodes.contains(m))
        .cloned()
        .collect();
    let stay = p.member_addrs(&without)?;
    spec.change(system, MembershipChange::Remove, &back, &stay)
        .await
        .context("confirming the nodes are out before wiping their data")?;
    let after = p.member_addrs(members)?;
    let pairs: Vec<(String, Ipv4Addr)> = after.iter().map(|m| (m.id.to_string(), m.ip)).collect();
    for node in &back {
        p.stop_and_wipe(node.id).await?;
    }
    // etcd refuses a node that is not a member yet: added first, started after.
    // A Raft node started with --join waits to be added, and its leader needs it
    // running to replicate to it: started first.
    let add_first = spec.add_before_start();
    let mut r = Ok(());
    if add_first {
        r = spec
            .change(system, MembershipChange::Add, &back, &after)
            .await;
    }
    for node in &back {
        p.start_joining(node.id, &pairs).await?;
    }
    for node in &back {
        // Best effort: readiness may wait for the node to catch up.
        let _ = p.wait_fresh(node.id).await;
    }
    if !add_first {
        r = spec
            .change(system, MembershipChange::Add, &back, &after)
            .await;
    }
    note_outcome(p, nodes, r, "added back to the cluster", "adding back")
}

impl Cluster {
    pub async fn remove_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        self.inner.check_live()?;
        remove(self, nodes, members).await
    }

    pub async fn add_members(&self, nodes: &[String], members: &[String]) -> Result<()> {
        self.inner.check_live()?;
        add_back(self, nodes, members).await
    }
}

impl MemberProcesses for Cluster {
    fn system(&self) -> &SystemSpec {
        &self.inner.system
    }

    fn member_addrs(&self, ids: &[String]) -> Result<Vec<MemberAddr<'_>>> {
        ids.iter()
            .map(|id| {
                let i = self.inner.index_of(id)?;
                let n = &self.inner.nodes[i];
                Ok(MemberAddr {
                    id: &n.id,
                    index: i + 1,
                    ip: n.ip,
                    data_dir: &n.data_dir,
                    port_shift: 0,
                })
            })
            .collect()
    }

    fn note(&self, id: &str, msg: &str) -> Result<()> {
        process::note(&self.node(id)?.log, msg);
        Ok(())
    }

    fn stop_and_wipe(&self, id: &str) -> impl Future<Output = Result<()>> + Send {
        let inner = self.inner.clone();
        let id = id.to_string();
        async move {
            tokio::task::spawn_blocking(move || inner.stop_and_wipe(&id))
                .await
                .map_err(|e| anyhow!("wiping a node panicked: {e}"))?
        }
    }

    fn start_joining(
        &self,
        id: &str,
        members: &[(String, Ipv4Addr)],
    ) -> impl Future<Output = Result<()>> + Send {
        let inner = self.inner.clone();
        let (id, members) = (id.to_string(), members.to_vec());
        async move {
            tokio::task::spawn_blocking(move || inner.start_joining(&id, &members))
                .await
                .map_err(|e| anyhow!("starting a fresh node panicked: {e}"))?
        }
    }

    fn wait_fresh(&self, id: &str) -> impl Future<Output = Result<()>> + Send {
        self.wait_ready(id, FRESH_READY)
    }
}

impl Inner {
    /// Stops node `id` and empties its data directory.
    fn stop_and_wipe(&self, id: &str) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        let node = &self.nodes[i];
        let mut p = lock(&self.procs[i]);
        p.kill()?;
        process::kill_netns_processes(
            &node.netns,
            process::Sweep::NodeStrays,
            Duration::from_secs(5),
        )?;
        wipe(&node.data_dir)?;
        process::note(
            &node.log,
            &format!("{id} stopped and data wiped by faultline"),
        );
        Ok(())
    }

    /// Starts node `id` with the system's `join` command, the membership after the
    /// change being `members`.
    fn start_joining(&self, id: &str, members: &[(String, Ipv4Addr)]) -> Result<()> {
        let i = self.index_of(id)?;
        self.check_live()?;
        let spec = self
            .system
            .membership
            .as_ref()
            .expect("checked by the caller");
        let node = &self.nodes[i];
        let mut p = lock(&self.procs[i]);
        if p.is_running() {
            bail!("node {id} is running; it must be stopped before it starts fresh");
        }
        let vars = vars_of(
            &MemberAddr {
                id,
                index: i + 1,
                ip: node.ip,
                data_dir: &node.data_dir,
                port_shift: 0,
            },
            members,
            &[],
        );
        let (program, mut args) = spec.join.render(&self.system, &vars).with_context(|| {
            format!("{}: `membership.join` for node {id}", self.system.origin())
        })?;
        args.extend(self.system.extra_args.iter().cloned());
        let launch = process::Launch {
            program,
            args,
            ..self.launches[i].0.clone()
        };
        process::note(
            &node.log,
            &format!("{id} started fresh to join by faultline"),
        );
        let child = process::spawn(&launch)?;
        self.record_pid(id, child.id() as i32);
        p.set(child);
        Ok(())
    }
}

/// Empties a data directory (keeps the directory itself: a mount may sit on it).
fn wipe(dir: &std::path::Path) -> Result<()> {
    if !dir.exists() {
        return std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()));
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let r = if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        r.with_context(|| format!("wiping {}", path.display()))?;
    }
    if std::fs::read_dir(dir)?.next().is_some() {
        bail!("{} is not empty after wiping it", dir.display());
    }
    Ok(())
}
