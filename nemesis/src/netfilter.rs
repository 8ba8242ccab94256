//! Runs faultline's iptables scripts in the node namespaces: all namespaces at once,
//! one `iptables-restore --noflush` (one atomic commit) per namespace.

use crate::control::{ClusterControl, NodeCommand, NodeRef};
use crate::iptables::{self, Installed};
use crate::netns::{self, Netns};
use anyhow::{anyhow, Result};
use std::collections::BTreeSet;

/// Which node namespaces have faultline's chains installed.
#[derive(Debug, Default)]
pub struct Netfilter {
    installed: BTreeSet<String>,
}

impl Netfilter {
    /// Installs the (empty) chains and their jumps in every namespace that lacks them, so
    /// applying a fault later is a single chain rewrite. Idempotent.
    pub async fn install<C: ClusterControl>(
        &mut self,
        cluster: &C,
        nodes: &[NodeRef],
    ) -> Result<()> {
        let todo: Vec<&NodeRef> = nodes
            .iter()
            .filter(|n| !self.installed.contains(&n.netns))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let saved = run_all(cluster, todo.iter().map(|n| (*n, Job::Save)).collect()).await;
        let mut scripts = Vec::new();
        let mut errors = Vec::new();
        for (node, out) in todo.iter().zip(saved) {
            match out {
                Ok(save) => {
                    let inst = Installed::parse(&save);
                    scripts.push((*node, Job::Restore(inst.install_script())));
                }
                Err(e) => errors.push(e),
            }
        }
        let nodes_done: Vec<&NodeRef> = scripts.iter().map(|(n, _)| *n).collect();
        for (node, r) in nodes_done.iter().zip(run_all(cluster, scripts).await) {
            match r {
                Ok(_) => {
                    self.installed.insert(node.netns.clone());
                }
                Err(e) => errors.push(e),
            }
        }
        combine(errors)
    }

    /// Runs each node's script in its namespace, all concurrently, installing the chains
    /// first where needed. Fails with every namespace's error if any failed.
    pub async fn apply<C: ClusterControl>(
        &mut self,
        cluster: &C,
        scripts: Vec<(NodeRef, String)>,
    ) -> Result<()> {
        let need: Vec<NodeRef> = scripts.iter().map(|(n, _)| n.clone()).collect();
        self.install(cluster, &need).await?;
        let jobs = scripts
            .iter()
            .map(|(n, s)| (n, Job::Restore(s.clone())))
            .collect();
        combine(
            run_all(cluster, jobs)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect(),
        )
    }

    /// Removes every faultline chain and jump from the nodes' namespaces (whatever this
    /// process installed or an earlier one left). Namespaces that no longer exist are
    /// skipped: nothing can be left in them.
    pub async fn remove<C: ClusterControl>(
        &mut self,
        cluster: &C,
        nodes: &[NodeRef],
    ) -> Result<()> {
        // A local namespace that is gone has nothing left in it; a node elsewhere is
        // asked, and answers with its error.
        let live: Vec<&NodeRef> = nodes
            .iter()
            .filter(|n| {
                !cluster.local_network() || netns::path_of(&n.netns).is_ok_and(|p| p.exists())
            })
            .collect();
        let saved = run_all(cluster, live.iter().map(|n| (*n, Job::Save)).collect()).await;
        let mut jobs = Vec::new();
        let mut errors = Vec::new();
        for (node, out) in live.iter().zip(saved) {
            match out {
                Ok(save) => {
                    if let Some(script) = Installed::parse(&save).removal_script() {
                        jobs.push((*node, Job::Restore(script)));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        errors.extend(
            run_all(cluster, jobs)
                .await
                .into_iter()
                .filter_map(Result::err),
        );
        self.installed.clear();
        combine(errors)
    }

    /// The blocking twin of [`Netfilter::remove`], for `Drop`, where no async context
    /// is left to ask the cluster: local namespaces only.
    pub fn remove_blocking(&mut self, nodes: &[NodeRef]) {
        for node in nodes {
            let Ok(ns) = Netns::open(&node.netns) else {
                continue;
            };
            if let Ok(save) = netns::run_blocking(&ns, "iptables-save", &[], None) {
                if let Some(script) = Installed::parse(&save).removal_script() {
                    let _ = netns::run_blocking(
                        &ns,
                        "iptables-restore",
                        &["-w", "--noflush"],
                        Some(&script),
                    );
                }
            }
        }
        self.installed.clear();
    }

    /// What is installed in one namespace now (for tests and `faultline clean`).
    pub async fn inspect(node: &NodeRef) -> Result<Installed> {
        let ns = Netns::open(&node.netns)?;
        Ok(Installed::parse(
            &netns::run(&ns, "iptables-save", &[]).await?,
        ))
    }
}

enum Job {
    Save,
    Restore(String),
}

/// Runs every job at once (each in its own task), so the namespaces are changed
/// concurrently, through the cluster's [`ClusterControl::run_in_node`].
async fn run_all<C: ClusterControl>(
    cluster: &C,
    jobs: Vec<(&NodeRef, Job)>,
) -> Vec<Result<String>> {
    let running: Vec<_> = jobs
        .into_iter()
        .map(|(node, job)| {
            let command = match job {
                Job::Save => NodeCommand::new("iptables-save", &[], None),
                Job::Restore(s) => {
                    NodeCommand::new("iptables-restore", &["-w", "--noflush"], Some(s))
                }
            };
            tokio::spawn(cluster.run_in_node(node, command))
        })
        .collect();
    let mut out = Vec::with_capacity(running.len());
    for task in running {
        out.push(
            task.await
                .unwrap_or_else(|e| Err(anyhow!("a netfilter task failed: {e}"))),
        );
    }
    out
}

/// One error naming every failure, or Ok.
pub fn combine(errors: Vec<anyhow::Error>) -> Result<()> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.into_iter().next().unwrap()),
        _ => Err(anyhow!(
            "{}",
            errors
                .iter()
                .map(|e| format!("{e:#}"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

/// Scripts that set `chain` in every given namespace to that namespace's rules.
pub fn chain_scripts(
    chain: &str,
    per_node: Vec<(NodeRef, Vec<iptables::Rule>)>,
) -> Vec<(NodeRef, String)> {
    per_node
        .into_iter()
        .map(|(n, rules)| (n, iptables::replace_chain(chain, &rules)))
        .collect()
}

impl Netfilter {
    /// Whether this process installed chains that are not removed yet.
    pub fn any_installed(&self) -> bool {
        !self.installed.is_empty()
    }
}

/// Removes faultline's chains and jumps from one namespace by name, whoever left them
/// (for `faultline clean` after a crashed run). Blocking. Returns whether anything was
/// there; a namespace that does not exist has nothing left.
pub fn remove_leftovers(netns_name: &str) -> Result<bool> {
    if !netns::path_of(netns_name)?.exists() {
        return Ok(false);
    }
    let ns = Netns::open(netns_name)?;
    let save = netns::run_blocking(&ns, "iptables-save", &[], None)?;
    match Installed::parse(&save).removal_script() {
        Some(script) => {
            netns::run_blocking(&ns, "iptables-restore", &["-w", "--noflush"], Some(&script))?;
            Ok(true)
        }
        None => Ok(false),
    }
}
