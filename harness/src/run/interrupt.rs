//! Ctrl-C, SIGTERM and SIGHUP during a test. The first stops the workload and the
//! faults; the run heals, tears down, and still checks and stores what was recorded.
//! A second one, deliberate, tears every cluster down at once, marks the run's
//! `results.json` as interrupted (the history written so far is kept) and exits.
//!
//! Signals that arrive together count as one: `timeout(1)` and CI cancellation send
//! the same signal to faultline and to its whole process group within microseconds,
//! and that is one request to stop, not two.

use crate::backend::netns;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Signals within this long of the first count as the same one.
pub const SAME_SIGNAL_WINDOW: Duration = Duration::from_millis(1000);

/// The exit status after a forced teardown (the harness could not finish its job).
pub const FORCED_EXIT: i32 = 4;

/// The folder of the run in progress, so a forced stop can mark it.
static CURRENT_RUN: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Records (or clears) the folder of the run in progress.
pub fn set_current_run(dir: Option<PathBuf>) {
    *CURRENT_RUN.lock().unwrap_or_else(|e| e.into_inner()) = dir;
}

/// Decides what each signal means: the first interrupts, repeats within the window
/// are the same signal, a later one forces.
#[derive(Debug, Default)]
pub struct SignalCounter {
    first: Option<Instant>,
}

/// What one signal means.
#[derive(Debug, PartialEq, Eq)]
pub enum SignalMeaning {
    Interrupt,
    SameAsBefore,
    Force,
}

impl SignalCounter {
    pub fn on_signal(&mut self, at: Instant) -> SignalMeaning {
        match self.first {
            None => {
                self.first = Some(at);
                SignalMeaning::Interrupt
            }
            Some(first) if at.duration_since(first) < SAME_SIGNAL_WINDOW => {
                SignalMeaning::SameAsBefore
            }
            Some(_) => SignalMeaning::Force,
        }
    }
}

/// Turns true on the first SIGINT/SIGTERM/SIGHUP; on a later, deliberate one, tears
/// every cluster down now and exits. `say` tells the user what is happening.
pub fn watch_signals(say: fn(&str)) -> watch::Receiver<bool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            say("cannot install signal handlers; Ctrl-C will not clean up");
            return;
        };
        let mut counter = SignalCounter::default();
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            match counter.on_signal(Instant::now()) {
                SignalMeaning::SameAsBefore => {}
                SignalMeaning::Interrupt => {
                    say("interrupted; healing, tearing down and saving the history (interrupt again to stop at once)");
                    let _ = tx.send(true);
                }
                SignalMeaning::Force => force_stop(say),
            }
        }
    });
    rx
}

/// Tears everything down, marks the run interrupted, exits.
fn force_stop(say: fn(&str)) -> ! {
    say("interrupted again; tearing down now (the history written so far is kept)");
    for e in netns::teardown_all() {
        say(&format!("{e:#}"));
    }
    let dir = CURRENT_RUN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(dir) = dir {
        let doc = serde_json::json!({
            "verdict": null,
            "interrupted": true,
            "error": "interrupted twice: torn down before the history could be checked; check it with `faultline check` on history.jsonl",
        });
        let _ = crate::results::store::write_file(
            &dir.join("results.json"),
            format!("{doc:#}\n").as_bytes(),
        );
    }
    std::process::exit(FORCED_EXIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_in_one_burst_count_once_and_a_later_one_forces() {
        let mut c = SignalCounter::default();
        let t0 = Instant::now();
        assert_eq!(c.on_signal(t0), SignalMeaning::Interrupt);
        assert_eq!(
            c.on_signal(t0 + Duration::from_micros(50)),
            SignalMeaning::SameAsBefore
        );
        assert_eq!(
            c.on_signal(t0 + Duration::from_millis(900)),
            SignalMeaning::SameAsBefore
        );
        assert_eq!(
            c.on_signal(t0 + Duration::from_millis(1500)),
            SignalMeaning::Force
        );
    }
}
