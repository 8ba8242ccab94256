//! Limits on one check: a deadline, a memory budget shared by every search running at
//! once, and a stop signal. Searches poll through a [`Meter`] every few thousand
//! steps, so a check past its limits stops promptly and answers `unknown` instead of
//! running on or taking the machine's memory.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Why a search stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The time budget ran out.
    Timeout,
    /// The memory budget ran out.
    Memory,
    /// Another partition proved the history invalid and every key was not asked for.
    Cancelled,
}

impl StopReason {
    /// The reason in words, as reports give it.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Timeout => "time limit reached",
            StopReason::Memory => "memory budget exhausted",
            StopReason::Cancelled => "not decided: another key was already found invalid (use --all-keys to diagnose every key)",
        }
    }
}

/// The limits every search of one check shares (see the module's doc).
pub(crate) struct Budget {
    deadline: Option<Instant>,
    memory_limit: usize,
    memory_used: AtomicUsize,
    cancelled: AtomicBool,
}

impl Budget {
    pub(crate) fn new(deadline: Option<Instant>, memory_limit: usize) -> Budget {
        Budget {
            deadline,
            memory_limit,
            memory_used: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
        }
    }

    /// A budget for a check that started at `started` and may take `timeout`.
    pub(crate) fn starting(
        started: Instant,
        timeout: Option<Duration>,
        memory_limit: usize,
    ) -> Budget {
        Budget::new(timeout.map(|t| started + t), memory_limit)
    }

    /// The memory budget, in bytes.
    pub(crate) fn memory_limit(&self) -> usize {
        self.memory_limit
    }

    /// Records memory a search allocated (or, negative, released).
    pub(crate) fn charge(&self, bytes: isize) {
        if bytes >= 0 {
            self.memory_used
                .fetch_add(bytes as usize, Ordering::Relaxed);
        } else {
            self.memory_used
                .fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
        }
    }

    /// Stops every search sharing this budget (another key was found invalid).
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Which limit, if any, is reached.
    pub(crate) fn exhausted(&self) -> Option<StopReason> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Some(StopReason::Cancelled);
        }
        if self.memory_used.load(Ordering::Relaxed) > self.memory_limit {
            return Some(StopReason::Memory);
        }
        match self.deadline {
            Some(d) if Instant::now() >= d => Some(StopReason::Timeout),
            _ => None,
        }
    }
}

/// How often (in steps) a search polls its budget (a power of two): often enough to
/// stop within milliseconds, rarely enough to cost nothing measurable. A step is not
/// of fixed cost: one where the walk is stuck scans the open operations (10,000 of
/// them in a million-operation history with 1% crashed) and tests the lookahead, up
/// to tens of microseconds, so 4,096 steps between polls let a check overrun its
/// time limit by a second; 256 keep it within milliseconds, and one clock read per
/// 256 steps is still nothing.
const POLL: u64 = 1 << 8;

/// One search's account with the shared [`Budget`]: it counts the search's steps,
/// and every [`POLL`] steps charges what the search's tables now hold and says
/// whether a limit is reached. What it charged is given back when it is dropped, so
/// a finished search leaves the budget to the searches still running.
pub(crate) struct Meter<'a> {
    budget: &'a Budget,
    charged: isize,
    steps: u64,
}

impl<'a> Meter<'a> {
    pub(crate) fn new(budget: &'a Budget) -> Meter<'a> {
        Meter {
            budget,
            charged: 0,
            steps: 0,
        }
    }

    /// Counts one step; on every [`POLL`]th, charges `used()` bytes (the search's
    /// current total) and returns the limit reached, if any.
    #[inline]
    pub(crate) fn step(&mut self, used: impl FnOnce() -> isize) -> Option<StopReason> {
        self.steps += 1;
        if self.steps & (POLL - 1) != 0 {
            return None;
        }
        let used = used();
        self.budget.charge(used - self.charged);
        self.charged = used;
        self.budget.exhausted()
    }
}

impl Drop for Meter<'_> {
    fn drop(&mut self) {
        self.budget.charge(-self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn reports_each_limit() {
        let b = Budget::new(None, 100);
        assert_eq!(b.exhausted(), None);
        b.charge(101);
        assert_eq!(b.exhausted(), Some(StopReason::Memory));
        b.charge(-50);
        assert_eq!(b.exhausted(), None);
        let past = Instant::now() - Duration::from_millis(1);
        assert_eq!(
            Budget::new(Some(past), 100).exhausted(),
            Some(StopReason::Timeout)
        );
        b.cancel();
        assert_eq!(b.exhausted(), Some(StopReason::Cancelled));
    }

    #[test]
    fn a_meter_charges_every_poll_and_gives_its_charge_back_when_dropped() {
        let b = Budget::new(None, 1000);
        {
            let mut m = Meter::new(&b);
            for _ in 1..POLL {
                assert_eq!(m.step(|| panic!("charged before the poll")), None);
            }
            assert_eq!(m.step(|| 2000), Some(StopReason::Memory));
            for _ in 1..POLL {
                m.step(|| 0);
            }
            assert_eq!(m.step(|| 10), None);
        }
        b.charge(995);
        assert_eq!(
            b.exhausted(),
            None,
            "the dropped meter gave its charge back"
        );
    }
}
