//! The packet shaper: holds queued packets for a while, then lets them go.
//!
//! This machine's kernel has no netem, so delay, jitter and reordering happen here:
//! iptables rules in a node's namespace hand the chosen links' packets to an NFQUEUE
//! queue; a thread bound to that queue (its socket opened inside the namespace)
//! records each packet's id with the time it may leave, and issues the ACCEPT verdict
//! then. The packet itself never leaves the kernel. Reordering falls out of jitter:
//! a packet given less delay overtakes one given more.
//!
//! On stop, every held packet is released at once before the queue is unbound (the
//! kernel would drop whatever is still queued). The rules use `--queue-bypass`, so if
//! the shaper dies, traffic flows undelayed instead of stopping.

use super::nfqueue::{self, Incoming, QueueSocket};
use crate::netns::Netns;
use crate::rng::SeededRng;
use anyhow::{Context, Result};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long each packet is held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Hold {
    /// `ms` ± a uniform `jitter_ms`, never below zero.
    Delay { ms: u64, jitter_ms: u64 },
    /// A fraction `p` leaves at once, the rest after `ms`.
    Reorder { p: f64, ms: u64 },
}

impl Hold {
    fn sample(&self, rng: &mut SeededRng) -> Duration {
        match *self {
            Hold::Delay { ms, jitter_ms } => {
                let us = ms as i64 * 1000;
                let j = jitter_ms as i64 * 1000;
                let off = if j > 0 {
                    rng.below(2 * j as u64 + 1) as i64 - j
                } else {
                    0
                };
                Duration::from_micros((us + off).max(0) as u64)
            }
            Hold::Reorder { p, ms } => {
                if rng.unit() < p {
                    Duration::ZERO
                } else {
                    Duration::from_millis(ms)
                }
            }
        }
    }
}

/// What a shaper did, for tests and the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShaperStats {
    /// Packets that went through the queue.
    pub packets: u64,
    /// Packets released early because the shaper stopped.
    pub released_on_stop: u64,
}

/// A running shaper thread for one queue in one namespace.
pub struct Shaper {
    netns: String,
    queue: u16,
    wake: OwnedFd,
    thread: Option<JoinHandle<Result<ShaperStats>>>,
}

impl Shaper {
    /// Binds `queue` inside `ns` and starts holding its packets. Returns once the queue
    /// is bound, so rules installed afterwards never bypass it.
    pub fn start(ns: &Netns, queue: u16, hold: Hold, seed: u64) -> Result<Shaper> {
        let sock = ns
            .run(|| QueueSocket::bind(queue))?
            .with_context(|| format!("packet shaper in namespace {:?}", ns.name()))?;
        // SAFETY: eventfd returns a new fd or -1.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(std::io::Error::last_os_error()).context("eventfd for the packet shaper");
        }
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        let wake_fd = wake.as_raw_fd();
        let thread = std::thread::Builder::new()
            .name(format!("faultline-shaper-{queue}"))
            .spawn(move || run(sock, wake_fd, hold, seed))
            .context("starting the packet shaper thread")?;
        Ok(Shaper {
            netns: ns.name().to_string(),
            queue,
            wake,
            thread: Some(thread),
        })
    }

    pub fn netns(&self) -> &str {
        &self.netns
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Releases every held packet, unbinds the queue and ends the thread.
    pub fn stop(mut self) -> Result<ShaperStats> {
        self.halt()
    }

    fn halt(&mut self) -> Result<ShaperStats> {
        let one: u64 = 1;
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            )
        };
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("packet shaper thread panicked"))),
            None => Ok(ShaperStats::default()),
        }
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

type Held = BinaryHeap<Reverse<(Instant, u64, u32)>>;

/// The thread: shapes until woken, then releases whatever it still holds (also after
/// an error, so a failing shaper never turns into packet loss) and unbinds.
fn run(sock: QueueSocket, wake: i32, hold: Hold, seed: u64) -> Result<ShaperStats> {
    let mut held: Held = BinaryHeap::new();
    let mut stats = ShaperStats::default();
    let shaped = shape(&sock, wake, hold, seed, &mut held, &mut stats);
    release_all(&sock, &mut held, &mut stats);
    let unbound = sock.unbind().context("unbinding the packet shaper's queue");
    shaped.and(unbound).map(|_| stats)
}

fn shape(
    sock: &QueueSocket,
    wake: i32,
    hold: Hold,
    seed: u64,
    held: &mut Held,
    stats: &mut ShaperStats,
) -> Result<()> {
    let mut rng = SeededRng::new(seed);
    let mut order = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let queue = sock.queue();
    loop {
        let timeout = held
            .peek()
            .map(|Reverse((due, _, _))| due.saturating_duration_since(Instant::now()));
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: d.subsec_nanos() as i64,
        });
        let mut fds = [
            libc::pollfd {
                fd: sock.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: fds and ts live across the call.
        let r = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                2,
                ts.as_ref().map_or(std::ptr::null(), |t| t as *const _),
                std::ptr::null(),
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINTR) {
                return Err(e).context("waiting on the packet shaper's queue");
            }
        }
        if fds[1].revents != 0 {
            return Ok(());
        }
        if fds[0].revents != 0 {
            loop {
                let n = sock.recv(&mut buf, false)?;
                if n == 0 {
                    break;
                }
                let now = Instant::now();
                for m in nfqueue::parse(&buf[..n]) {
                    if let Incoming::Packet { id } = m {
                        stats.packets += 1;
                        let d = hold.sample(&mut rng);
                        order += 1;
                        held.push(Reverse((now + d, order, id)));
                    }
                }
            }
        }
        let now = Instant::now();
        out.clear();
        while let Some(Reverse((due, _, id))) = held.peek().copied() {
            if due > now {
                break;
            }
            held.pop();
            out.extend_from_slice(&nfqueue::verdict_message(queue, id, nfqueue::NF_ACCEPT));
            if out.len() > 60 * 1024 {
                sock.send(&out)?;
                out.clear();
            }
        }
        if !out.is_empty() {
            sock.send(&out)?;
        }
    }
}

fn release_all(sock: &QueueSocket, held: &mut Held, stats: &mut ShaperStats) {
    let mut out = Vec::new();
    while let Some(Reverse((_, _, id))) = held.pop() {
        stats.released_on_stop += 1;
        out.extend_from_slice(&nfqueue::verdict_message(
            sock.queue(),
            id,
            nfqueue::NF_ACCEPT,
        ));
        if out.len() > 60 * 1024 {
            let _ = sock.send(&out);
            out.clear();
        }
    }
    if !out.is_empty() {
        let _ = sock.send(&out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_samples_stay_within_jitter_and_never_go_negative() {
        let mut rng = SeededRng::new(1);
        let h = Hold::Delay {
            ms: 10,
            jitter_ms: 5,
        };
        let samples: Vec<Duration> = (0..2000).map(|_| h.sample(&mut rng)).collect();
        assert!(samples
            .iter()
            .all(|d| *d >= Duration::from_millis(5) && *d <= Duration::from_millis(15)));
        assert!(
            samples.iter().any(|d| *d < Duration::from_millis(7))
                && samples.iter().any(|d| *d > Duration::from_millis(13))
        );
        let h = Hold::Delay {
            ms: 1,
            jitter_ms: 50,
        };
        assert!((0..2000).all(|_| h.sample(&mut rng) <= Duration::from_millis(51)));
    }

    #[test]
    fn reorder_lets_about_p_through_at_once() {
        let mut rng = SeededRng::new(2);
        let h = Hold::Reorder { p: 0.25, ms: 40 };
        let quick = (0..4000).filter(|_| h.sample(&mut rng).is_zero()).count();
        assert!((800..1200).contains(&quick), "{quick}");
    }
}
