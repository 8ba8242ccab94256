//! Checker benchmarks against porcupine's times on its own reference histories
//! (porcupine v1.3.0 figures on the same kind of machine in brackets). Not a test: run it in release mode,
//!
//!     cargo run --release -p checker --example bench [-- --skip-synth] [-- --ops N]
//!
//! and paste the table into README.md's "Checker performance" section.

use checker::import;
use checker::linearizability::{Options, Report};
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::synth::{generate, SynthModel, SynthOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories/porcupine")
}

/// Peak resident memory of this process so far, from /proc (Linux only).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn check(path: &Path, options: &Options) -> Report {
    let history = import::load(path, None).unwrap_or_else(|e| panic!("{e}"));
    let model = BuiltinModel::guess(&history, CasFailMeaning::ComparisonFailed);
    model
        .check(&history, options)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ops: usize = args
        .iter()
        .position(|a| a == "--ops")
        .map(|i| args[i + 1].parse().expect("--ops N"))
        .unwrap_or(1_000_000);
    etcd_corpus();
    kv_corpus();
    if !args.iter().any(|a| a == "--skip-synth") {
        synthetic(ops);
    }
}

/// 1. The etcd corpus: every log, one after another, checking time only.
fn etcd_corpus() {
    let default = Options::default();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(corpus().join("jepsen"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    logs.sort();
    let (mut total, mut slowest, mut slowest_name, mut counts) =
        (Duration::ZERO, Duration::ZERO, String::new(), [0usize; 3]);
    for log in &logs {
        let r = check(log, &default);
        total += r.elapsed;
        counts[r.verdict as usize] += 1;
        if r.elapsed > slowest {
            slowest = r.elapsed;
            slowest_name = log.file_name().unwrap().to_string_lossy().into_owned();
        }
    }
    println!(
        "etcd corpus ({} logs: {} valid, {} invalid, {} unknown): {} total, slowest {slowest_name} {}   [porcupine: 721 ms, slowest 232 ms]",
        logs.len(),
        counts[0],
        counts[1],
        counts[2],
        ms(total),
        ms(slowest)
    );
}

/// 2. kv c50-ok, and 3. kv c50-bad with every key diagnosed.
fn kv_corpus() {
    let default = Options::default();
    let r = check(&corpus().join("kv/c50-ok.txt"), &default);
    println!(
        "kv c50-ok: {} in {}   [porcupine: 230 ms]",
        r.verdict,
        ms(r.elapsed)
    );

    let all = Options {
        all_keys: true,
        timeout: Some(Duration::from_secs(60)),
        ..Options::default()
    };
    let r = check(&corpus().join("kv/c50-bad.txt"), &all);
    let per_key: Vec<String> = r
        .partitions
        .iter()
        .map(|p| {
            format!(
                "{}:{}:{:.0}ms",
                p.key,
                p.verdict,
                p.elapsed.as_secs_f64() * 1e3
            )
        })
        .collect();
    println!(
        "kv c50-bad, every key: {} in {}, peak RSS {:.0} MB   [porcupine: not done in 30 s, > 5 GB]\n  keys: {}",
        r.verdict,
        ms(r.elapsed),
        peak_rss_mb().unwrap_or(f64::NAN),
        per_key.join(" ")
    );
}

/// 4. A synthetic cas-register history: 50 clients, 1% crashed operations.
fn synthetic(ops: usize) {
    let started = Instant::now();
    let synth = generate(&SynthOptions {
        model: SynthModel::CasRegister,
        clients: 50,
        ops,
        crash_rate: 0.01,
        keys: 1,
        anomaly: None,
        seed: 1,
        values: None,
    });
    let generated = started.elapsed();
    let crashed = synth
        .history
        .ops
        .iter()
        .filter(|o| o.is_indeterminate())
        .count();
    let model = BuiltinModel::CasRegister(CasFailMeaning::ComparisonFailed);
    let r = model
        .check(
            &synth.history,
            &Options {
                timeout: Some(Duration::from_secs(120)),
                ..Options::default()
            },
        )
        .unwrap();
    println!(
        "synthetic cas-register, {} ops, 50 clients, {crashed} crashed: {} in {} (generated in {}), peak RSS {:.0} MB   [target: < 5 s]",
        synth.history.ops.len(),
        r.verdict,
        ms(r.elapsed),
        ms(generated),
        peak_rss_mb().unwrap_or(f64::NAN)
    );
}
