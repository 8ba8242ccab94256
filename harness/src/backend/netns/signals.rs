//! Tear clusters down when the harness is interrupted (Ctrl-C, SIGTERM, SIGHUP).
//!
//! Live clusters register here. The signal handler only writes the signal number to a
//! pipe (all a handler may safely do); a thread reads it, tears every live cluster
//! down, then puts back the disposition that was there before and raises the signal
//! again, so the process ends the way it would have (or, if a runner installed its own
//! handler, that handler runs next and finds the clusters already gone). If someone
//! installed a handler over ours in the meantime, they own the signal: we clean up and
//! do not re-raise.

use std::sync::{Mutex, OnceLock, Weak};

/// Something that can be torn down synchronously from the signal thread.
pub trait Teardown: Send + Sync {
    fn teardown_blocking(&self) -> anyhow::Result<()>;
    fn describe(&self) -> String;
}

fn live() -> &'static Mutex<Vec<Weak<dyn Teardown>>> {
    static LIVE: OnceLock<Mutex<Vec<Weak<dyn Teardown>>>> = OnceLock::new();
    LIVE.get_or_init(|| Mutex::new(Vec::new()))
}

pub fn register(item: Weak<dyn Teardown>) {
    let mut l = live().lock().unwrap_or_else(|e| e.into_inner());
    l.retain(|w| w.strong_count() > 0);
    l.push(item);
}

/// Tears down every cluster still alive in this process. For runners that handle
/// signals themselves (`ClusterOptions::handle_signals = false`).
pub fn teardown_all() -> Vec<anyhow::Error> {
    let items: Vec<_> = live()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .filter_map(|w| w.upgrade())
        .collect();
    let mut errors = Vec::new();
    for item in items {
        if let Err(e) = item.teardown_blocking() {
            errors.push(e.context(format!("tearing down {}", item.describe())));
        }
    }
    errors
}

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
static PIPE_WRITE: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = PIPE_WRITE.load(std::sync::atomic::Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe.
        unsafe {
            libc::write(fd, &b as *const u8 as *const libc::c_void, 1);
        }
    }
}

/// Installs the handlers once per process.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let mut fds = [0; 2];
        // SAFETY: plain syscalls on owned memory.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            eprintln!(
                "faultline: cannot install signal handlers: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        PIPE_WRITE.store(fds[1], std::sync::atomic::Ordering::Relaxed);
        let mut previous: Vec<(libc::c_int, libc::sigaction)> = Vec::new();
        for sig in SIGNALS {
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        let read_fd = fds[0];
        let spawned = std::thread::Builder::new()
            .name("faultline-signals".into())
            .spawn(move || loop {
                let mut b = 0u8;
                let n = unsafe { libc::read(read_fd, &mut b as *mut u8 as *mut libc::c_void, 1) };
                if n != 1 {
                    if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                let sig = b as libc::c_int;
                eprintln!("faultline: signal {sig} received; tearing down the cluster(s)");
                for e in teardown_all() {
                    eprintln!("faultline: {e:#}");
                }
                unsafe {
                    let mut current: libc::sigaction = std::mem::zeroed();
                    libc::sigaction(sig, std::ptr::null(), &mut current);
                    if current.sa_sigaction != on_signal as *const () as usize {
                        continue; // someone else handles it now
                    }
                    if let Some((_, old)) = previous.iter().find(|(s, _)| *s == sig) {
                        libc::sigaction(sig, old, std::ptr::null_mut());
                    }
                    libc::raise(sig);
                }
            });
        if let Err(e) = spawned {
            eprintln!("faultline: cannot start the signal thread: {e}");
        }
    });
}
