//! Limits on one check: a deadline, a memory budget shared by every partition, and a
//! stop signal. Searches poll [`Budget::exhausted`] every few thousand steps, so a
//! check past its limits stops promptly and answers `unknown` instead of running on
//! or taking the machine's memory.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Why a search stopped before deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Memory,
    /// Another partition proved the history invalid and every key was not asked for.
    Cancelled,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Timeout => "time limit reached",
            StopReason::Memory => "memory budget exhausted",
            StopReason::Cancelled => "not decided: another key was already found invalid (use --all-keys to diagnose every key)",
        }
    }
}

pub struct Budget {
    deadline: Option<Instant>,
    memory_limit: usize,
    memory_used: AtomicUsize,
    cancelled: AtomicBool,
}

impl Budget {
    pub fn new(deadline: Option<Instant>, memory_limit: usize) -> Budget {
        Budget {
            deadline,
            memory_limit,
            memory_used: AtomicUsize::new(0),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Records memory a search allocated (or, negative, released), and says whether
    /// the shared budget is now exceeded.
    pub fn charge(&self, bytes: isize) {
        if bytes >= 0 {
            self.memory_used
                .fetch_add(bytes as usize, Ordering::Relaxed);
        } else {
            self.memory_used
                .fetch_sub(bytes.unsigned_abs(), Ordering::Relaxed);
        }
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn exhausted(&self) -> Option<StopReason> {
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
}
