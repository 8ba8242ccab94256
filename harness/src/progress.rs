//! The live progress line: elapsed time, operations per second, ok/fail/info counts
//! and the faults in force. On a terminal it redraws one line in place; otherwise
//! (CI logs) it prints a plain line every few seconds.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use workloads::recorder::Recorder;

/// Where the "faults in force" text comes from.
pub type FaultStatus = Arc<dyn Fn() -> String + Send + Sync>;

/// One progress line.
pub fn line(
    elapsed: Duration,
    limit: Duration,
    ops_per_s: f64,
    counts: (u64, u64, u64, u64),
    faults: &str,
) -> String {
    let (_invoked, ok, fail, info) = counts;
    // Past the time limit the run heals, waits for recovery and reads every key.
    let phase = if elapsed > limit {
        "healing, recovering, final reads".to_string()
    } else {
        faults.to_string()
    };
    format!(
        "[{:>6.1}s/{:.0}s] {:>7.0} ops/s  ok {ok}  fail {fail}  info {info}  | {phase}",
        elapsed.as_secs_f64(),
        limit.as_secs_f64(),
        ops_per_s
    )
}

/// Draws progress until `stop` turns true; then clears the line (on a terminal).
pub async fn run(
    recorder: Arc<Recorder>,
    limit: Duration,
    faults: FaultStatus,
    mut stop: watch::Receiver<bool>,
) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => break,
        }
        let counts = recorder.counts().snapshot();
        let done = counts.1 + counts.2 + counts.3;
        let now = Instant::now();
        let rate = (done - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-9);
        last = (now, done);
        let text = line(started.elapsed(), limit, rate, counts, &faults());
        let mut err = std::io::stderr().lock();
        if tty {
            // Fit the terminal's usual width; \x1b[K clears what a longer line left.
            let shown: String = text.chars().take(160).collect();
            let _ = write!(err, "\r{shown}\x1b[K");
        } else {
            let _ = writeln!(err, "{text}");
        }
        let _ = err.flush();
    }
    if tty {
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_time_rate_counts_and_faults() {
        let l = line(
            Duration::from_millis(12_300),
            Duration::from_secs(30),
            1234.4,
            (10, 7, 2, 1),
            "killed n2",
        );
        assert_eq!(
            l,
            "[  12.3s/30s]    1234 ops/s  ok 7  fail 2  info 1  | killed n2"
        );
        let l = line(
            Duration::from_secs(31),
            Duration::from_secs(30),
            0.0,
            (10, 7, 2, 1),
            "healthy",
        );
        assert!(l.ends_with("| healing, recovering, final reads"), "{l}");
    }
}
