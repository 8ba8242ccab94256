//! Node processes: launched inside their namespace, each in a process group of its
//! own, with stdout and stderr appended to the node's log; killed, paused, resumed and
//! always reaped.
//!
//! The child enters the namespace with `setns` between fork and exec, so the pid we
//! hold is the node's own (not an `ip netns exec` wrapper) and signals reach it
//! directly. Children are forked from one long-lived thread and ask for SIGKILL when
//! that thread dies (`PR_SET_PDEATHSIG`): the thread lives as long as the harness, so a
//! harness killed with -9 takes its nodes with it instead of leaving them running.

use anyhow::{anyhow, bail, Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Everything needed to start one node process.
#[derive(Debug, Clone)]
pub struct Launch {
    pub node: String,
    pub netns: String,
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub log: PathBuf,
}

impl Launch {
    /// The argv as it is run, quoted as a shell would need it, so a word with spaces
    /// shows as one word.
    pub fn command_line(&self) -> String {
        shell_words::join(std::iter::once(&self.program).chain(&self.args))
    }
}

/// Appends a line of the harness's own to a node's log, so the log tells when the
/// node was started, killed, paused or exited, among the node's own output.
pub fn note(log: &Path, msg: &str) {
    if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(log) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let _ = writeln!(f, "[faultline {now}] {msg}");
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The thread all node processes are forked from (see the module docs).
fn spawner() -> &'static Mutex<mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("faultline-spawner".into())
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .expect("starting the process spawner thread");
        Mutex::new(tx)
    })
}

/// Starts `launch` inside its namespace; returns the running child.
pub fn spawn(launch: &Launch) -> Result<Child> {
    let launch = launch.clone();
    on_spawner(move || spawn_here(&launch))
}

/// Runs `f` on the spawner thread and returns what it returns.
fn on_spawner<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let (tx, rx) = mpsc::sync_channel(1);
    let job: Job = Box::new(move || {
        let _ = tx.send(f());
    });
    spawner()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send(job)
        .map_err(|_| anyhow!("the process spawner thread is gone"))?;
    rx.recv()
        .map_err(|_| anyhow!("the process spawner thread is gone"))?
}

/// Between fork and exec: asks for SIGKILL when the spawner thread dies, and gives
/// up if it died already (between fork and prctl). Async-signal-safe.
fn tie_to(parent: libc::pid_t) -> std::io::Result<()> {
    // SAFETY: prctl and getppid are async-signal-safe and have no preconditions.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error());
    }
    if unsafe { libc::getppid() } != parent {
        return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
    }
    Ok(())
}

/// Starts `cmd` from the spawner thread, asking for SIGKILL when that thread (the
/// harness) dies, in a process group of its own (so a Ctrl-C at the terminal does
/// not reach it before the harness has used it to clean up): for helpers that must
/// not outlive a harness killed with -9, such as the SSH backend's master
/// connections.
pub fn spawn_tied(mut cmd: Command) -> Result<Child> {
    on_spawner(move || {
        let parent = std::process::id() as libc::pid_t;
        cmd.process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || tie_to(parent));
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.spawn()
            .map_err(|e| anyhow!("cannot start {program}: {e}"))
    })
}

fn spawn_here(l: &Launch) -> Result<Child> {
    let ns_path = Path::new("/run/netns").join(&l.netns);
    let ns = File::open(&ns_path).with_context(|| {
        format!(
            "node {}: opening its namespace {}",
            l.node,
            ns_path.display()
        )
    })?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&l.log)
        .with_context(|| format!("node {}: opening its log {}", l.node, l.log.display()))?;
    let err = log.try_clone()?;
    let ns_fd = ns.as_raw_fd();
    let parent = std::process::id() as libc::pid_t;
    let mut cmd = Command::new(&l.program);
    cmd.args(&l.args)
        .envs(l.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&l.cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0);
    // SAFETY: only async-signal-safe calls (setns, prctl, getppid) between fork and
    // exec; `ns` stays open in the parent until spawn() returns, which is after exec.
    unsafe {
        cmd.pre_exec(move || {
            tie_to(parent)?;
            if libc::setns(ns_fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    note(
        &l.log,
        &format!("starting {} in {}: {}", l.node, l.netns, l.command_line()),
    );
    let child = cmd.spawn().map_err(|e| {
        note(&l.log, &format!("could not start {}: {e}", l.node));
        anyhow!(
            "node {}: cannot start `{}`: {e} (log: {})",
            l.node,
            l.program,
            l.log.display()
        )
    })?;
    note(&l.log, &format!("{} running as pid {}", l.node, child.id()));
    drop(ns);
    Ok(child)
}

/// A node's process over its life: started, maybe killed and restarted, reaped.
#[derive(Debug, Default)]
pub struct NodeProcess {
    child: Option<Child>,
    /// How the last process ended, once reaped.
    pub last_exit: Option<ExitStatus>,
    /// The last process ended on its own (reaped), not by a kill from faultline.
    pub exited_on_its_own: bool,
}

impl NodeProcess {
    pub fn new(child: Child) -> NodeProcess {
        NodeProcess {
            child: Some(child),
            last_exit: None,
            exited_on_its_own: false,
        }
    }

    /// The pid of the running (or exited but unreaped) process.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    pub fn set(&mut self, child: Child) {
        self.child = Some(child);
        self.last_exit = None;
        self.exited_on_its_own = false;
    }

    /// Reaps the process if it has exited; returns its status the first time.
    pub fn reap(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                self.last_exit = Some(status);
                self.exited_on_its_own = true;
                Some(status)
            }
            _ => None,
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.reap();
        self.child.is_some()
    }

    /// Sends `sig` to the node's process group. False when no process is running.
    pub fn signal_group(&mut self, sig: libc::c_int) -> Result<bool> {
        if !self.is_running() {
            return Ok(false);
        }
        let pid = self.pid().expect("running");
        // The child is not reaped while we hold it, so its pid (= the group id) cannot
        // have been recycled.
        if unsafe { libc::killpg(pid, sig) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e).context(format!("signalling process group {pid}"));
            }
        }
        Ok(true)
    }

    /// Asks the group to stop (SIGTERM) and gives it `grace` to exit before
    /// `kill -9`, so a node can flush and close what it holds; returns how it ended,
    /// if it was running. A paused group is resumed first, or it could not act on
    /// the SIGTERM.
    pub fn stop(&mut self, grace: Duration) -> Result<Option<ExitStatus>> {
        // Not `is_running()`: that would reap a node that already obeyed an earlier
        // SIGTERM and lose how it ended.
        let Some(pid) = self.pid() else {
            return Ok(None);
        };
        unsafe {
            libc::killpg(pid, libc::SIGTERM);
            libc::killpg(pid, libc::SIGCONT);
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(status) = self.reap() {
                self.exited_on_its_own = false;
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return self.kill();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `kill -9` the group and reap the process; returns how it ended, if it was
    /// running.
    pub fn kill(&mut self) -> Result<Option<ExitStatus>> {
        if self.child.is_none() {
            return Ok(None);
        }
        let pid = self.pid().expect("child");
        unsafe {
            libc::killpg(pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
        let mut child = self.child.take().expect("child");
        let status = child.wait().with_context(|| format!("reaping pid {pid}"))?;
        self.last_exit = Some(status);
        Ok(Some(status))
    }
}

/// The state letter of a process (`R`, `S`, `T` for stopped, `Z`, ...).
pub fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].chars().next()
}

/// Waits until every process of group `pgid` is stopped (`stopped`) or none is
/// (`!stopped`): signals are delivered asynchronously, and a pause is only in force
/// once the process has actually stopped.
pub fn wait_group_stopped(pgid: i32, stopped: bool, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let members = group_members(pgid);
        let done = members.iter().all(|p| match process_state(*p) {
            Some('T') | Some('t') => stopped,
            Some('Z') | None => true,
            Some(_) => !stopped,
        });
        if done {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "process group {pgid} not {} after {timeout:?}",
                if stopped { "stopped" } else { "running" }
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The pids in process group `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s[s.rfind(')')? + 2..]
                        .split_whitespace()
                        .nth(2)?
                        .parse::<i32>()
                        .ok()
                })
                == Some(pgid)
        })
        .collect()
}

/// How an exit status reads in a message.
pub fn describe_exit(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!(
            "signal {s}{}",
            if s == libc::SIGKILL { " (SIGKILL)" } else { "" }
        ),
        _ => status.to_string(),
    }
}

/// The pids of every process whose network namespace is `netns`.
pub fn pids_in_netns(netns: &str) -> Vec<i32> {
    let Ok(target) = std::fs::metadata(Path::new("/run/netns").join(netns)) else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/ns/net"))
                .map(|m| m.ino() == target.ino() && m.dev() == target.dev())
                .unwrap_or(false)
        })
        .collect()
}

/// Which processes in a namespace to kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sweep {
    /// Everything: the namespace is about to go.
    All,
    /// All but the harness's own children: after a node is killed, its strays go,
    /// but a command the nemesis is running in the namespace right then (an
    /// `iptables-restore`) must not.
    NodeStrays,
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// SIGKILLs the processes in `netns` that `sweep` selects and waits (up to
/// `timeout`) until none is left. Returns the pids it killed.
pub fn kill_netns_processes(netns: &str, sweep: Sweep, timeout: Duration) -> Result<Vec<i32>> {
    let deadline = Instant::now() + timeout;
    let me = std::process::id() as i32;
    let mut killed = Vec::new();
    loop {
        let mut pids = pids_in_netns(netns);
        if sweep == Sweep::NodeStrays {
            pids.retain(|p| parent_of(*p) != Some(me));
        }
        if pids.is_empty() {
            return Ok(killed);
        }
        for pid in &pids {
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
            if !killed.contains(pid) {
                killed.push(*pid);
            }
        }
        if Instant::now() >= deadline {
            bail!("processes {pids:?} in namespace {netns} survived SIGKILL for {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The last `max_lines` lines of a log, for error messages.
pub fn log_tail(path: &Path, max_lines: usize) -> String {
    let Ok(bytes) = std::fs::read(path) else {
        return format!("(cannot read {})", path.display());
    };
    let start = bytes.len().saturating_sub(8192);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(max_lines)..];
    if tail.is_empty() {
        "(the log is empty)".to_string()
    } else {
        tail.iter()
            .map(|l| format!("    | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_command_line_quotes_words_with_spaces() {
        let l = Launch {
            node: "n1".into(),
            netns: "x".into(),
            program: "sh".into(),
            args: vec!["-c".into(), "exec node --id n1".into()],
            env: vec![],
            cwd: "/".into(),
            log: "/dev/null".into(),
        };
        assert_eq!(l.command_line(), "sh -c 'exec node --id n1'");
    }
}
