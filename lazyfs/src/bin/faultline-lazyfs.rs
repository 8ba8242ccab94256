//! `faultline-lazyfs MOUNTPOINT BACKING --control SOCKET [--name NAME]`: mounts the lazy filesystem
//! over MOUNTPOINT, passing through to BACKING, and serves the control protocol
//! (`lazyfs::control`) on SOCKET once the mount is up. On SIGTERM or SIGINT it makes
//! everything durable (a clean shutdown), unmounts (lazily, if a process still holds
//! a file open) and removes the socket. Runs as root: it mounts with mount(2), no
//! fusermount needed.
//!
//! `faultline-lazyfs --control SOCKET --request COMMAND`: sends one command to a
//! running mount and prints its JSON answer. The ssh backend drives mounts on remote
//! hosts this way, through a shell it keeps open there (no `socat` needed on a host).

use anyhow::{bail, Context, Result};
use clap::Parser;
use fuser::{MountOption, Notifier, Session};
use lazyfs::control::{Command, Reply};
use lazyfs::fs::{LazyFs, SharedOverlay};
use lazyfs::overlay::Overlay;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(about = "faultline's lazy filesystem: unsynced writes live in memory until fsync")]
struct Args {
    /// Where the filesystem appears (an existing directory).
    #[arg(required_unless_present = "request")]
    mountpoint: Option<PathBuf>,
    /// The directory that holds what is durable.
    #[arg(required_unless_present = "request")]
    backing: Option<PathBuf>,
    /// The control socket (lose-unsynced, torn-write, stats, sync).
    #[arg(long)]
    control: PathBuf,
    /// The mount's source as mount tables show it, after `faultline-lazyfs:` (default:
    /// the backing directory). faultline names its run and node here, so `faultline
    /// clean` can tell whose a leftover mount is from /proc/self/mountinfo alone.
    #[arg(long)]
    name: Option<String>,
    /// Instead of mounting: send this command to the mount serving `--control` and
    /// print its answer (one JSON line).
    #[arg(long, conflicts_with_all = ["mountpoint", "backing", "name"])]
    request: Option<String>,
}

fn main() {
    let args = Args::parse();
    let result = match &args.request {
        Some(command) => request(&args.control, command),
        None => run(args),
    };
    if let Err(e) = result {
        eprintln!("faultline-lazyfs: {e:#}");
        std::process::exit(1);
    }
}

/// How long a requested command may take (a torn write writes to the disk).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Sends one control command and prints the mount's answer.
fn request(control: &Path, command: &str) -> Result<()> {
    let reply = lazyfs::control::request(control, Command::parse(command)?, REQUEST_TIMEOUT)?;
    println!("{}", serde_json::to_string(&reply)?);
    Ok(())
}

fn run(args: Args) -> Result<()> {
    let (Some(mountpoint), Some(backing)) = (&args.mountpoint, &args.backing) else {
        bail!("a mount needs MOUNTPOINT and BACKING");
    };
    for (what, dir) in [("mountpoint", mountpoint), ("backing", backing)] {
        if !dir.is_dir() {
            bail!("{what} {} is not a directory", dir.display());
        }
    }
    let backing = std::fs::canonicalize(backing)?;
    let mountpoint = std::fs::canonicalize(mountpoint)?;
    // Signals are taken by sigwait below, so every thread must have them blocked.
    let signals = block_signals();
    let overlay: SharedOverlay = Arc::new(Mutex::new(Overlay::new()));
    let fs = LazyFs::new(backing.clone(), overlay.clone());
    let options = [
        MountOption::FSName(format!(
            "faultline-lazyfs:{}",
            args.name
                .clone()
                .unwrap_or_else(|| backing.display().to_string())
        )),
        MountOption::Subtype("faultline-lazyfs".into()),
        MountOption::AllowOther,
        MountOption::DefaultPermissions,
    ];
    let session = Session::new(fs, &mountpoint, &options)
        .with_context(|| format!("mounting {}", mountpoint.display()))?;
    let notifier = session.notifier();
    let background = session.spawn()?;
    let _ = std::fs::remove_file(&args.control);
    let listener = UnixListener::bind(&args.control)
        .with_context(|| format!("binding {}", args.control.display()))?;
    {
        let overlay = overlay.clone();
        std::thread::spawn(move || serve(listener, overlay, notifier));
    }
    wait_for_signal(&signals, &background);
    let synced = overlay.lock().unwrap_or_else(|e| e.into_inner()).sync_all();
    drop(background);
    detach_if_mounted(&mountpoint);
    let _ = std::fs::remove_file(&args.control);
    synced.context("making unsynced data durable at unmount")
}

fn block_signals() -> libc::sigset_t {
    // SAFETY: plain signal-mask calls on a zeroed set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Returns on SIGTERM/SIGINT/SIGHUP, or when the session ended (unmounted from
/// outside).
fn wait_for_signal(set: &libc::sigset_t, session: &fuser::BackgroundSession) {
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        // SAFETY: `set` is a valid signal set; no siginfo is asked for.
        let sig = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
        if sig > 0 || session.guard.is_finished() {
            return;
        }
    }
}

fn detach_if_mounted(mountpoint: &Path) {
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(4) == Some(&*mountpoint.to_string_lossy()))
        })
        .unwrap_or(false);
    if mounted {
        if let Ok(c) = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes()) {
            // SAFETY: a valid C string; MNT_DETACH has no other preconditions.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn serve(listener: UnixListener, overlay: SharedOverlay, notifier: Notifier) {
    for conn in listener.incoming().flatten() {
        let reply = answer(&conn, &overlay, &notifier);
        let mut conn = conn;
        let line = serde_json::to_string(&reply).expect("replies serialize");
        let _ = writeln!(conn, "{line}");
    }
}

fn answer(conn: &UnixStream, overlay: &SharedOverlay, notifier: &Notifier) -> Reply {
    let mut line = String::new();
    if let Err(e) = BufReader::new(conn).read_line(&mut line) {
        return Reply::Error {
            message: e.to_string(),
        };
    }
    let command = match Command::parse(&line) {
        Ok(c) => c,
        Err(e) => {
            return Reply::Error {
                message: e.to_string(),
            }
        }
    };
    let mut o = overlay.lock().unwrap_or_else(|e| e.into_inner());
    let dropped = match command {
        Command::Stats => return Reply::Stats(o.stats()),
        Command::Sync => {
            return match o.sync_all() {
                Ok(()) => Reply::Synced,
                Err(e) => Reply::Error {
                    message: format!("sync: {e}"),
                },
            }
        }
        Command::LoseUnsynced => Ok(o.lose_unsynced()),
        Command::TornWrite => o.torn_write(),
    };
    drop(o);
    match dropped {
        Ok(report) => {
            // Pages the kernel cached from the dropped writes are stale now.
            for ino in &report.tags {
                let _ = notifier.inval_inode(*ino, 0, 0);
            }
            Reply::Dropped(report)
        }
        Err(e) => Reply::Error {
            message: format!("{}: {e}", command.name()),
        },
    }
}
