//! Entering the node namespaces, and only those.
//!
//! Commands (iptables-restore, tc) run in a namespace by `setns` in the child between
//! fork and exec, which costs one exec less than `ip netns exec` and matters for the
//! time from a fault's decision to the fault being in force. Netlink sockets (the
//! packet shaper) are opened from a thread that enters the namespace and comes back:
//! a socket stays in the namespace it was created in.
//!
//! Every entry point refuses a namespace that is the caller's own, so a bug or a bad
//! `NodeRef` can never touch the host's firewall.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::sync::Arc;

/// The file that names a namespace: `/run/netns/<name>` as `ip netns add` makes it, or
/// the name itself when it is an absolute path (e.g. `/proc/<pid>/ns/net`).
pub fn path_of(netns: &str) -> Result<PathBuf> {
    if netns.is_empty() {
        bail!("empty network namespace name");
    }
    if netns.starts_with('/') {
        return Ok(PathBuf::from(netns));
    }
    if netns.contains('/') || netns == "." || netns == ".." {
        bail!("bad network namespace name {netns:?}");
    }
    Ok(PathBuf::from("/run/netns").join(netns))
}

/// The full path of a system tool: from `PATH`, else `/usr/sbin` or `/sbin`, where
/// iptables and tc live but which `sudo` and CI environments often leave off `PATH`.
/// `None` when it is nowhere.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    from_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// [`find_tool`], falling back to the bare name (so the spawn error names it).
pub fn tool(name: &str) -> PathBuf {
    find_tool(name).unwrap_or_else(|| PathBuf::from(name))
}

/// An open handle on a node's namespace, checked not to be the caller's own.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: Arc<File>,
}

impl Netns {
    pub fn open(netns: &str) -> Result<Netns> {
        let path = path_of(netns)?;
        let file = File::open(&path).with_context(|| {
            format!(
                "network namespace {netns:?}: cannot open {}",
                path.display()
            )
        })?;
        let meta = file.metadata()?;
        let own = std::fs::metadata("/proc/self/ns/net").context("reading /proc/self/ns/net")?;
        if meta.dev() == own.dev() && meta.ino() == own.ino() {
            bail!(
                "network namespace {netns:?} is the harness's own namespace; refusing to change it"
            );
        }
        Ok(Netns {
            name: netns.to_string(),
            file: Arc::new(file),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside this namespace.
    pub fn command(&self, program: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::from(self.std_command(program));
        cmd.kill_on_drop(true);
        cmd
    }

    /// The blocking flavour of [`Netns::command`].
    pub fn std_command(&self, program: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(tool(program));
        // The command owns a reference to the namespace file, so the descriptor is
        // open in the child whenever the command is spawned.
        let file = Arc::clone(&self.file);
        // SAFETY: the closure runs between fork and exec and only calls setns, which is
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs `f` on a fresh thread inside this namespace; sockets `f` creates belong to
    /// the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        let fd = self.file.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| -> Result<T> {
                // SAFETY: plain syscall on a valid fd; it changes only this thread,
                // which ends when the scope does.
                if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
                    return Err(std::io::Error::last_os_error())
                        .with_context(|| format!("entering network namespace {:?}", self.name));
                }
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| bail!("thread inside namespace {:?} panicked", self.name))
        })
    }
}

/// Runs `program args` in the namespace with `stdin` fed to it, and fails with its
/// stderr when it exits non-zero.
pub async fn run_with_input(
    ns: &Netns,
    program: &str,
    args: &[&str],
    stdin: &str,
) -> Result<String> {
    use tokio::io::AsyncWriteExt;
    let mut child = ns
        .command(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program} in namespace {:?}", ns.name()))?;
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = stdin.as_bytes().to_vec();
    let writer = async move {
        let r = pipe.write_all(&input).await;
        drop(pipe);
        r
    };
    let (w, out) = tokio::join!(writer, child.wait_with_output());
    let out = out.with_context(|| format!("waiting for {program} in namespace {:?}", ns.name()))?;
    if !out.status.success() {
        bail!(
            "{program} {} in namespace {:?} failed ({}): {}",
            args.join(" "),
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    w.with_context(|| format!("feeding {program} in namespace {:?}", ns.name()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args` in the namespace and returns its stdout, failing with its stderr.
pub async fn run(ns: &Netns, program: &str, args: &[&str]) -> Result<String> {
    let out = ns
        .command(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("starting {program} in namespace {:?}", ns.name()))?;
    if !out.status.success() {
        bail!(
            "{program} {} in namespace {:?} failed ({}): {}",
            args.join(" "),
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The blocking twin of [`run`], for cleanup in `Drop` where no runtime may be left.
pub fn run_blocking(
    ns: &Netns,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String> {
    use std::io::Write;
    let mut cmd = ns.std_command(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {program} in namespace {:?}", ns.name()))?;
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{program} {} in namespace {:?} failed ({}): {}",
            args.join(" "),
            ns.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `command` in `node`'s local namespace: [`ClusterControl::run_in_node`]'s
/// default.
///
/// [`ClusterControl::run_in_node`]: crate::control::ClusterControl::run_in_node
pub async fn run_command(
    node: crate::control::NodeRef,
    command: crate::control::NodeCommand,
) -> Result<String> {
    let ns = Netns::open(&node.netns).with_context(|| format!("node {}", node.id))?;
    let args: Vec<&str> = command.args.iter().map(String::as_str).collect();
    let out = match &command.input {
        Some(input) => run_with_input(&ns, &command.program, &args, input).await,
        None => run(&ns, &command.program, &args).await,
    };
    out.with_context(|| format!("node {}", node.id))
}
