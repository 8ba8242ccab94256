//! Runs faultline's iptables scripts in the node namespaces: all namespaces at once,
//! one `iptables-restore --noflush` (one atomic commit) per namespace.

use crate::control::NodeRef;
use crate::iptables::{self, Installed};
use crate::netns::{self, Netns};
use anyhow::{anyhow, Context, Result};
use std::collections::BTreeSet;
use tokio::io::AsyncWriteExt;

/// Which node namespaces have faultline's chains installed.
#[derive(Debug, Default)]
pub struct Netfilter {
    installed: BTreeSet<String>,
}

impl Netfilter {
    /// Installs the (empty) chains and their jumps in every namespace that lacks them, so
    /// applying a fault later is a single chain rewrite. Idempotent.
    pub async fn install(&mut self, nodes: &[NodeRef]) -> Result<()> {
        let todo: Vec<&NodeRef> = nodes
            .iter()
            .filter(|n| !self.installed.contains(&n.netns))
            .collect();
        if todo.is_empty() {
            return Ok(());
        }
        let saved = run_all(todo.iter().map(|n| (*n, Job::Save)).collect()).await;
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
        for (node, r) in nodes_done.iter().zip(run_all(scripts).await) {
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
    pub async fn apply(&mut self, scripts: Vec<(NodeRef, String)>) -> Result<()> {
        let need: Vec<NodeRef> = scripts.iter().map(|(n, _)| n.clone()).collect();
        self.install(&need).await?;
        let jobs = scripts
            .iter()
            .map(|(n, s)| (n, Job::Restore(s.clone())))
            .collect();
        combine(
            run_all(jobs)
                .await
                .into_iter()
                .filter_map(Result::err)
                .collect(),
        )
    }

    /// Removes every faultline chain and jump from the nodes' namespaces (whatever this
    /// process installed or an earlier one left). Namespaces that no longer exist are
    /// skipped: nothing can be left in them.
    pub async fn remove(&mut self, nodes: &[NodeRef]) -> Result<()> {
        let live: Vec<&NodeRef> = nodes
            .iter()
            .filter(|n| netns::path_of(&n.netns).is_ok_and(|p| p.exists()))
            .collect();
        let saved = run_all(live.iter().map(|n| (*n, Job::Save)).collect()).await;
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
        errors.extend(run_all(jobs).await.into_iter().filter_map(Result::err));
        self.installed.clear();
        combine(errors)
    }

    /// The blocking twin of [`Netfilter::remove`], for `Drop`.
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

/// Starts every job's process first and only then waits, so the namespaces are
/// changed concurrently.
async fn run_all(jobs: Vec<(&NodeRef, Job)>) -> Vec<Result<String>> {
    let mut running = Vec::with_capacity(jobs.len());
    for (node, job) in jobs {
        running.push(start(node, job).await);
    }
    let mut out = Vec::with_capacity(running.len());
    for r in running {
        out.push(match r {
            Ok((node, child)) => finish(&node, child).await,
            Err(e) => Err(e),
        });
    }
    out
}

async fn start(node: &NodeRef, job: Job) -> Result<(String, tokio::process::Child)> {
    let ns = Netns::open(&node.netns).with_context(|| format!("node {}", node.id))?;
    let (program, args, input): (&str, &[&str], Option<String>) = match job {
        Job::Save => ("iptables-save", &[], None),
        Job::Restore(s) => ("iptables-restore", &["-w", "--noflush"], Some(s)),
    };
    let mut child = ns
        .command(program)
        .args(args)
        .stdin(if input.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| {
            format!(
                "node {}: starting {program} in namespace {:?}",
                node.id, node.netns
            )
        })?;
    if let Some(input) = input {
        let mut pipe = child.stdin.take().expect("piped stdin");
        // Scripts are a few KiB at most: far below a pipe's buffer, so this never waits
        // on the child.
        pipe.write_all(input.as_bytes())
            .await
            .with_context(|| format!("node {}: feeding {program}", node.id))?;
    }
    Ok((
        format!("node {} (namespace {:?}): {program}", node.id, node.netns),
        child,
    ))
}

async fn finish(what: &str, child: tokio::process::Child) -> Result<String> {
    let out = child
        .wait_with_output()
        .await
        .with_context(|| what.to_string())?;
    if !out.status.success() {
        return Err(anyhow!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
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
