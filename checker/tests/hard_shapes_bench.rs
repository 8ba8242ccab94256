//! Benchmarks of the hard shapes (issue table in README's "Checker performance"):
//! `faultline synth` histories with repeated or unique values, crashed operations
//! open to the end, and a future read. Not timed tests: run in release,
//!
//!     cargo test --release -p checker --test hard_shapes_bench -- --ignored --nocapture
//!
//! (`BENCH_TIMEOUT=60` for the 60 s limit; the default is 10 s per row).

use checker::history::History;
use checker::linearizability::{check, check_by_search_only, Options};
use checker::model::cas_register::CasRegister;
use checker::sequential;
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use checker::verdict::Verdict;
use std::time::{Duration, Instant};

struct Row {
    name: &'static str,
    ops: usize,
    clients: usize,
    values: Option<u64>,
    crash_rate: f64,
    anomaly: Option<Anomaly>,
}

fn run(row: &Row, timeout: Duration) {
    let history = generate(&SynthOptions {
        model: SynthModel::CasRegister,
        clients: row.clients,
        ops: row.ops,
        crash_rate: row.crash_rate,
        values: row.values,
        anomaly: row.anomaly,
        seed: 1,
        ..SynthOptions::default()
    })
    .history;
    let started = Instant::now();
    let report = check(
        &history,
        &CasRegister::default(),
        &Options {
            timeout: Some(timeout),
            ..Options::default()
        },
    )
    .unwrap();
    let method = &report.partitions[0].method;
    println!(
        "| {} | {} ops, {} clients | {} ({method}) | {:.3} s |",
        row.name,
        row.ops,
        row.clients,
        report.verdict,
        started.elapsed().as_secs_f64()
    );
}

#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn hard_shapes() {
    let secs: u64 = std::env::var("BENCH_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let timeout = Duration::from_secs(secs);
    let row = |name, ops, clients, values, crash_rate, anomaly| Row {
        name,
        ops,
        clients,
        values,
        crash_rate,
        anomaly,
    };
    let rows = [
        row("5 values, 1% crashed", 10_000, 5, Some(5), 0.01, None),
        row("5 values, 1% crashed", 100_000, 5, Some(5), 0.01, None),
        row(
            "repeated values (5), no crashes",
            10_000,
            50,
            Some(5),
            0.0,
            None,
        ),
        row(
            "repeated values (5), no crashes",
            100_000,
            50,
            Some(5),
            0.0,
            None,
        ),
        row("unique values, 1% crashed", 10_000, 50, None, 0.01, None),
        row("unique values, 1% crashed", 20_000, 50, None, 0.01, None),
        row("unique values, 1% crashed", 40_000, 50, None, 0.01, None),
        row("unique values, 1% crashed", 100_000, 50, None, 0.01, None),
        row(
            "unique values, future read",
            100_000,
            5,
            None,
            0.0,
            Some(Anomaly::FutureRead),
        ),
        row(
            "5 values, 1% crashed, future read",
            1_000_000,
            50,
            Some(5),
            0.01,
            Some(Anomaly::FutureRead),
        ),
        row(
            "repeated values (5), 1% crashed",
            1_000_000,
            50,
            Some(5),
            0.01,
            None,
        ),
        row("unique values, 1% crashed", 1_000_000, 50, None, 0.01, None),
    ];
    println!("| history (cas-register) | size | verdict (method) | checking time |");
    println!("|---|---|---|---|");
    for r in &rows {
        run(r, timeout);
    }
}

/// The 10x goal row (porcupine: 5.2 s), checked `RUNS` times (default 9)
/// on one generated history: each run's time and the median.
///
///     cargo test --release -p checker --test hard_shapes_bench -- --ignored --nocapture five_clients_five_values_at_100k
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn five_clients_five_values_at_100k() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let history = generate(&SynthOptions {
        model: SynthModel::CasRegister,
        clients: 5,
        ops: 100_000,
        crash_rate: 0.01,
        values: Some(5),
        seed: 1,
        ..SynthOptions::default()
    })
    .history;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            let report = check(&history, &CasRegister::default(), &Options::default()).unwrap();
            let took = started.elapsed().as_secs_f64();
            let explored = report.partitions[0].explored;
            println!(
                "{} in {took:.3} s ({explored} configurations)",
                report.verdict
            );
            took
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "median of {runs}: {:.3} s (fastest {:.3} s)",
        times[runs / 2],
        times[0]
    );
}

/// The million-operation history of the time-limit rows: 50 clients, five values,
/// 1% of operations crashed (one partition).
fn million() -> History {
    generate(&SynthOptions {
        model: SynthModel::CasRegister,
        clients: 50,
        ops: 1_000_000,
        crash_rate: 0.01,
        values: Some(5),
        seed: 1,
        ..SynthOptions::default()
    })
    .history
}

/// The limits tried: each ends in a different phase of the check (preparing,
/// splitting, canonicalizing, building the search, the search itself).
const LIMITS_MS: [u64; 7] = [0, 50, 200, 500, 1000, 1500, 2000];

/// How far past its time limit a linearizability check of a million-operation
/// history ends (issue 13: within 100 ms).
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn time_limit_overshoot_at_a_million_operations() {
    let history = million();
    print_overshoots("linearizability", |limit| {
        let options = Options {
            timeout: Some(limit),
            ..Options::default()
        };
        check(&history, &CasRegister::default(), &options)
            .unwrap()
            .verdict
    });
}

/// The same for the sequential-consistency check.
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn time_limit_overshoot_of_the_sequential_check_at_a_million_operations() {
    let history = million();
    print_overshoots("sequential", |limit| {
        let options = sequential::Options {
            timeout: Some(limit),
            ..sequential::Options::default()
        };
        sequential::check(&history, &CasRegister::default(), &options)
            .unwrap()
            .verdict
    });
}

/// Runs `check` with each of [`LIMITS_MS`] and prints how far past it it returned.
fn print_overshoots(what: &str, check: impl Fn(Duration) -> Verdict) {
    for limit in LIMITS_MS.map(Duration::from_millis) {
        let started = Instant::now();
        let verdict = check(limit);
        let took = started.elapsed();
        println!(
            "{what}, limit {limit:?}: {verdict} after {took:.1?}, overshoot {:.1?}",
            took.saturating_sub(limit)
        );
    }
}

/// The 61 s row: the search alone (no pre-check) on 100,000 operations, 5
/// clients, unique values and one future read, where stuck steps are expensive.
#[test]
#[ignore = "benchmark: run in release with --ignored --nocapture"]
fn time_limit_overshoot_of_the_search_on_a_future_read() {
    let history = generate(&SynthOptions {
        model: SynthModel::CasRegister,
        clients: 5,
        ops: 100_000,
        anomaly: Some(Anomaly::FutureRead),
        seed: 1,
        ..SynthOptions::default()
    })
    .history;
    for limit in [200, 2000] {
        let limit = Duration::from_millis(limit);
        let started = Instant::now();
        let options = Options {
            timeout: Some(limit),
            ..Options::default()
        };
        let report = check_by_search_only(&history, &CasRegister::default(), &options).unwrap();
        let took = started.elapsed();
        println!(
            "search alone, limit {limit:?}: {} after {took:?}, overshoot {:?}",
            report.verdict,
            took.saturating_sub(limit)
        );
    }
}
