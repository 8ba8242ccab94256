//! The live progress of a run: elapsed time, operations per second, ok/fail/info
//! counts and the faults in force. This module only composes the line; the CLI's
//! [`Observer`](super::Observer) decides how often and where it is shown.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use workloads::recorder::Recorder;

/// Where the "faults in force" text comes from.
pub type FaultStatus = Arc<dyn Fn() -> String + Send + Sync>;

/// One progress line. Past the time limit the clock stops at the limit and the line
/// says what the run is doing instead (healing, recovering, final reads) and for how
/// long, so it never reads `[5.0s/3s]`.
pub fn line(
    elapsed: Duration,
    limit: Duration,
    ops_per_s: f64,
    counts: (u64, u64, u64, u64),
    faults: &str,
) -> String {
    let (_invoked, ok, fail, info) = counts;
    let (shown, phase) = if elapsed > limit {
        let over = (elapsed - limit).as_secs_f64();
        (
            limit,
            format!("after the run: healing, recovering, final reads (+{over:.1}s)"),
        )
    } else {
        (elapsed, faults.to_string())
    };
    format!(
        "[{:>6.1}s/{:.0}s] {:>7.0} ops/s  ok {ok}  fail {fail}  info {info}  | {phase}",
        shown.as_secs_f64(),
        limit.as_secs_f64(),
        ops_per_s
    )
}

/// Composes a line every `every` until `stop` turns true, handing each to `show`.
pub async fn run(
    recorder: Arc<Recorder>,
    limit: Duration,
    every: Duration,
    faults: FaultStatus,
    show: Arc<dyn Fn(&str) + Send + Sync>,
    mut stop: watch::Receiver<bool>,
) {
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
        show(&line(started.elapsed(), limit, rate, counts, &faults()));
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
    }

    #[test]
    fn past_the_limit_the_clock_stops_at_the_limit_and_says_what_follows() {
        let l = line(
            Duration::from_secs(5),
            Duration::from_secs(3),
            0.0,
            (10, 7, 2, 1),
            "healthy",
        );
        assert!(l.starts_with("[   3.0s/3s]"), "{l}");
        assert!(
            l.ends_with("| after the run: healing, recovering, final reads (+2.0s)"),
            "{l}"
        );
    }
}
