//! Sequential-consistency checking speed, on synthetic histories (`faultline synth`'s
//! generator) and on the real etcd histories of porcupine's corpus. Not a test: run
//! it in release mode,
//!
//!     cargo run --release -p checker --example sequential_bench [-- --ops N] [--history PATH]...
//!
//! (`--ops 0` skips the synthetic histories.)
//!
//! Each line names the history, the verdict, what decided it, and the time: first with
//! the default options (each key's linearizability search first), then with the
//! sequential-consistency search alone (`search only`), which is what a history that
//! is not linearizable gets.

use checker::history::History;
use checker::import;
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::sequential::{check_builtin, Options, Report};
use checker::synth::{generate, Anomaly, SynthModel, SynthOptions};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories/porcupine")
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn run(history: &History, model: BuiltinModel, options: &Options) -> (Report, Duration) {
    let started = Instant::now();
    let report = check_builtin(model, history, options).expect("the history fits its model");
    (report, started.elapsed())
}

fn line(name: &str, history: &History, model: BuiltinModel, timeout: Duration) {
    for (label, first) in [("default", true), ("search only", false)] {
        let options = Options {
            timeout: Some(timeout),
            linearizability_first: first,
            ..Options::default()
        };
        let (r, took) = run(history, model, &options);
        let per_key: u64 = r.keys.iter().map(|k| k.explored).sum();
        let whole = match &r.whole {
            Some(w) if w.method == "search" => format!(
                ", whole history {} after {} configurations in {}",
                w.verdict,
                w.explored,
                ms(w.elapsed)
            ),
            _ => String::new(),
        };
        println!(
            "{name:<44} {label:<12} {:>7} ({}) in {:>10}; keys {} after {per_key} configurations{whole}",
            r.verdict.to_string(),
            r.basis.label(),
            ms(took),
            r.per_key,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ops: usize = args
        .iter()
        .position(|a| a == "--ops")
        .map(|i| args[i + 1].parse().expect("--ops N"))
        .unwrap_or(100_000);
    let timeout = Duration::from_secs(60);
    if ops > 0 {
        synthetic(ops, timeout);
    }
    named_histories(&args, timeout);
    etcd_corpus(timeout);
}

/// Synthetic histories of each model, linearizable and with a stale read.
fn synthetic(ops: usize, timeout: Duration) {
    let cas = BuiltinModel::CasRegister(CasFailMeaning::FromError);
    let kv = BuiltinModel::Kv(CasFailMeaning::FromError);
    let cases = [
        ("cas-register", SynthModel::CasRegister, cas, 1, None),
        (
            "cas-register, stale read",
            SynthModel::CasRegister,
            cas,
            1,
            Some(Anomaly::StaleRead),
        ),
        (
            "register",
            SynthModel::Register,
            BuiltinModel::Register,
            1,
            None,
        ),
        ("kv, 8 keys", SynthModel::Kv, kv, 8, None),
        (
            "kv, 8 keys, stale read",
            SynthModel::Kv,
            kv,
            8,
            Some(Anomaly::StaleRead),
        ),
    ];
    for (name, synth, model, keys, anomaly) in cases {
        let h = generate(&SynthOptions {
            model: synth,
            clients: 10,
            ops,
            crash_rate: 0.001,
            keys,
            anomaly,
            seed: 1,
            values: None,
        })
        .history;
        line(
            &format!("synth {name} ({ops} ops, 10 clients)"),
            &h,
            model,
            timeout,
        );
    }
}

/// Histories named on the command line (`--history PATH`, e.g. a faultline run's
/// history.jsonl), with the register workloads' model.
fn named_histories(args: &[String], timeout: Duration) {
    for (i, a) in args.iter().enumerate() {
        if a == "--history" {
            let path = PathBuf::from(&args[i + 1]);
            let h = import::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
            let name = format!("{} ({} ops)", path.display(), h.ops.len());
            line(
                &name,
                &h,
                BuiltinModel::CasRegister(CasFailMeaning::FromError),
                timeout,
            );
        }
    }
}

/// Real runs: porcupine's etcd corpus (Jepsen histories), each log in turn, with and
/// without the linearizability search first.
fn etcd_corpus(timeout: Duration) {
    let dir = corpus().join("jepsen");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        println!("(no etcd corpus at {})", dir.display());
        return;
    };
    let mut logs: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    logs.sort();
    let histories: Vec<History> = logs
        .iter()
        .map(|p| import::load(p, None).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let model = BuiltinModel::CasRegister(CasFailMeaning::ComparisonFailed);
    for (label, first) in [("default", true), ("search only", false)] {
        let options = Options {
            timeout: Some(timeout),
            linearizability_first: first,
            ..Options::default()
        };
        let mut counts = [0usize; 3];
        let (mut total, mut slowest) = (Duration::ZERO, Duration::ZERO);
        let mut by_search = 0;
        for h in &histories {
            let (r, took) = run(h, model, &options);
            counts[r.verdict as usize] += 1;
            by_search += r.keys.iter().filter(|k| k.method == "search").count();
            total += took;
            slowest = slowest.max(took);
        }
        println!(
            "etcd corpus ({} logs) {label:<12}: {} valid, {} invalid, {} unknown ({by_search} decided by the sequential search) in {} total, slowest {}",
            histories.len(),
            counts[0],
            counts[1],
            counts[2],
            ms(total),
            ms(slowest)
        );
    }
}
