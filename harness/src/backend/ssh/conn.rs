//! One SSH connection per host, through the system's OpenSSH client.
//!
//! Why OpenSSH and not a Rust SSH crate: no new cryptography in faultline's
//! dependencies; the user's `~/.ssh/config`, agent, known hosts, jump hosts and keys
//! work as they do for `ssh` itself; and with a ControlMaster every command of a run
//! is a new channel on one TCP connection per host (authenticated once), so a fault
//! costs one local fork and one round trip, not a handshake.
//!
//! The nemesis's commands (partitions: `iptables-save`, `iptables-restore`) go
//! through a long-lived `sh` on each host instead ([`Conn::run_in_shell`]): a new
//! channel still costs an `ssh` process here and a session with a login shell there,
//! which on a loaded machine is most of a fault's latency.
//!
//! The master (`ssh -M -N`) is started from the harness's spawner thread with
//! `PR_SET_PDEATHSIG`, so a harness killed with -9 takes it along; what the run left
//! on the hosts is then `faultline clean --hosts`'s job.

use super::hosts::Host;
use crate::backend::netns::process::spawn_tied;
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long connecting and authenticating to a host may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A host's master connection, and commands over it.
pub struct Conn {
    pub host: Host,
    control: PathBuf,
    master: Mutex<Option<Child>>,
    /// Commands go through `sudo -n` (the user is not root).
    sudo: AtomicBool,
    /// The long-lived shell, once started (`None` again after it failed).
    shell: tokio::sync::Mutex<Option<Shell>>,
    /// Numbers each command's end marker in the shell.
    commands: std::sync::atomic::AtomicU64,
}

/// A long-lived `sh` on the host, fed scripts on its standard input.
struct Shell {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    stdout: tokio::io::BufReader<tokio::process::ChildStdout>,
}

impl Conn {
    /// Connects to `host`, with the master's socket at `control` (short: a Unix
    /// socket path has at most 107 bytes) and its errors in `control`.err.
    pub fn open(host: &Host, control: &Path) -> Result<Conn> {
        let err_path = control.with_extension("err");
        let err = std::fs::File::create(&err_path)
            .with_context(|| format!("creating {}", err_path.display()))?;
        let mut cmd = Command::new("ssh");
        cmd.args(["-M", "-N", "-o", "ControlPersist=no"])
            .args(base_args(host, control))
            .arg(target(host))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let mut child = spawn_tied(cmd).context("the ssh backend needs OpenSSH's `ssh` client")?;
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                let why = std::fs::read_to_string(&err_path).unwrap_or_default();
                bail!("cannot connect ({status}): {}", why.trim());
            }
            if control.exists() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("cannot connect within {}s", CONNECT_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Conn {
            host: host.clone(),
            control: control.to_path_buf(),
            master: Mutex::new(Some(child)),
            sudo: AtomicBool::new(false),
            shell: tokio::sync::Mutex::new(None),
            commands: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn set_sudo(&self, sudo: bool) {
        self.sudo.store(sudo, Ordering::Relaxed);
    }

    /// `ssh` running `script` with `sh` on the host (as root: through `sudo -n`
    /// when the user is not root).
    fn command(&self, script: &str) -> Command {
        let sudo = if self.sudo.load(Ordering::Relaxed) {
            "sudo -n "
        } else {
            ""
        };
        let mut cmd = Command::new("ssh");
        cmd.args(base_args(&self.host, &self.control))
            .args(["-o", "ControlMaster=no"])
            .arg(target(&self.host))
            .arg(format!("{sudo}sh -c {}", shell_words::quote(script)));
        cmd
    }

    /// Runs `script` on the host, feeding it `input`; its standard output, or an
    /// error with its standard error.
    pub fn run(&self, script: &str, input: Option<&str>) -> Result<String> {
        let mut cmd = self.command(script);
        let out = run_with_input(&mut cmd, input)?;
        self.output(out)
    }

    /// [`Conn::run`] through the host's long-lived shell (started on first use);
    /// a shell that fails is dropped and the command runs as [`Conn::run_async`].
    pub async fn run_in_shell(&self, script: &str, input: Option<String>) -> Result<String> {
        let mut shell = self.shell.lock().await;
        if shell.is_none() {
            *shell = self.start_shell().ok();
        }
        if let Some(sh) = shell.as_mut() {
            let n = self.commands.fetch_add(1, Ordering::Relaxed);
            match sh.run(n, script, input.as_deref()).await {
                Ok(Ok(out)) => return Ok(out),
                Ok(Err(e)) => return Err(e),
                Err(_) => *shell = None,
            }
        }
        drop(shell);
        self.run_async(script, input).await
    }

    fn start_shell(&self) -> Result<Shell> {
        let mut cmd = tokio::process::Command::from(self.command("exec sh"));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting ssh")?;
        let stdin = child.stdin.take().context("no stdin")?;
        let stdout = child.stdout.take().context("no stdout")?;
        Ok(Shell {
            _child: child,
            stdin,
            stdout: tokio::io::BufReader::new(stdout),
        })
    }

    /// [`Conn::run`] without blocking the runtime.
    pub async fn run_async(&self, script: &str, input: Option<String>) -> Result<String> {
        let mut cmd = tokio::process::Command::from(self.command(script));
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting ssh")?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(text.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        self.output(out)
    }

    fn output(&self, out: Output) -> Result<String> {
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Err(anyhow!("{}: {}", out.status, err.trim()))
    }

    /// Copies a local file to `remote` on the host (scp over the master; modes kept).
    pub fn upload(&self, local: &Path, remote: &str) -> Result<()> {
        let to = format!("{}:{remote}", target(&self.host));
        self.scp(&[local.to_string_lossy().as_ref(), &to])
    }

    /// Copies `remote` (a file, or a folder with `recursive`) from the host.
    pub fn fetch(&self, remote: &str, local: &Path, recursive: bool) -> Result<()> {
        let from = format!("{}:{remote}", target(&self.host));
        let mut args = vec![];
        if recursive {
            args.push("-r");
        }
        let local = local.to_string_lossy();
        args.extend([from.as_str(), local.as_ref()]);
        self.scp(&args)
    }

    fn scp(&self, paths: &[&str]) -> Result<()> {
        let mut args = vec!["-p".to_string(), "-q".to_string()];
        args.extend(base_args(&self.host, &self.control));
        let mut cmd = Command::new("scp");
        cmd.args(&args).args(["-o", "ControlMaster=no"]).args(paths);
        let out = run_with_input(&mut cmd, None)?;
        self.output(out).map(|_| ())
    }

    /// Ends the master connection. Idempotent.
    pub fn close(&self) {
        if let Ok(mut shell) = self.shell.try_lock() {
            *shell = None;
        }
        let mut master = self.master.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(mut child) = master.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.control);
        let _ = std::fs::remove_file(self.control.with_extension("err"));
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shell {
    /// Runs `script` (in a child `sh`, fed `input`), and reads its output up to its
    /// numbered end marker, which carries its status and standard error. The outer
    /// `Err` is the shell's own failure (start another); the inner one, the script's.
    async fn run(
        &mut self,
        n: u64,
        script: &str,
        input: Option<&str>,
    ) -> std::io::Result<Result<String>> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let marker = format!("__FL_END_{n}__");
        let stdin_part = match input {
            Some(text) => {
                let nl = if text.ends_with('\n') { "" } else { "\n" };
                format!("<<'__FL_IN_{n}__'\n{text}{nl}__FL_IN_{n}__\n")
            }
            None => "< /dev/null\n".to_string(),
        };
        // Standard output goes straight back (fd 3); standard error is kept in a
        // variable and sent, on one line, after the marker.
        let job = format!(
            "{{ fl_err=$( {{ sh -c {} {stdin_part}}} 2>&1 1>&3 ); fl_rc=$?; }} 3>&1\n\
             printf '\\n{marker} %s %s\\n' \"$fl_rc\" \"$(printf %s \"$fl_err\" | tr '\\n' ' ')\"\n",
            shell_words::quote(script)
        );
        self.stdin.write_all(job.as_bytes()).await?;
        self.stdin.flush().await?;
        let mut out = String::new();
        loop {
            let mut line = String::new();
            if self.stdout.read_line(&mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(rest) = line.strip_prefix(&marker) {
                // The marker's leading newline ended the output's last line.
                out.pop();
                let rest = rest.trim();
                let (rc, err) = rest.split_once(' ').unwrap_or((rest, ""));
                return Ok(if rc == "0" {
                    Ok(out)
                } else {
                    Err(anyhow!("exit status {rc}: {}", err.trim()))
                });
            }
            out.push_str(&line);
        }
    }
}

/// `user@address`
fn target(host: &Host) -> String {
    format!("{}@{}", host.user, host.address)
}

/// Options every ssh and scp of a host shares. The port goes as `-o Port=` so the
/// same words suit both (scp's `-p` is not a port).
fn base_args(host: &Host, control: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        format!("ControlPath={}", control.display()),
        "BatchMode=yes".to_string(),
        format!("ConnectTimeout={}", CONNECT_TIMEOUT.as_secs()),
        "ServerAliveInterval=5".to_string(),
        "LogLevel=ERROR".to_string(),
        format!("Port={}", host.port),
    ]
    .into_iter()
    .chain(host.ssh_options.iter().cloned())
    .flat_map(|o| ["-o".to_string(), o])
    .collect();
    if let Some(key) = &host.key {
        args.extend([
            "-i".to_string(),
            key.display().to_string(),
            "-o".to_string(),
            "IdentitiesOnly=yes".to_string(),
        ]);
    }
    args
}

fn run_with_input(cmd: &mut Command, input: Option<&str>) -> Result<Output> {
    use std::io::Write;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().context("starting ssh")?;
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin.write_all(text.as_bytes())?;
    }
    Ok(child.wait_with_output()?)
}
