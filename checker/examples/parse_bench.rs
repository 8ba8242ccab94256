//! How fast histories are read: events per second through the importer that
//! `faultline check` uses, for files of any format it reads. Not a test: run it in
//! release mode on a large history, for example one made by `faultline synth`,
//!
//!     faultline synth --model cas-register --clients 50 --ops 1000000 -o /tmp/h.jsonl
//!     cargo run --release -p checker --example parse_bench -- /tmp/h.jsonl
//!
//! or on one the library makes in memory (same generator, seed 1, written as
//! faultline's JSONL, read from memory so the disk is out of the figure):
//!
//!     cargo run --release -p checker --example parse_bench -- --synth 1000000
//!
//! Each input is read twice: with its events (what reports read) and as operations
//! alone (what `faultline check --model` reads); `--operations` reads only the second
//! way (for a profiler). Put the figures in README.md's "Reading histories".

use checker::history::History;
use checker::import::{self, Format, ImportOptions};
use checker::synth::{generate, SynthOptions};
use std::path::Path;
use std::time::Instant;

/// CPU seconds this process has used (user + system, all threads), from
/// `/proc/self/stat`; 0 where that is not readable. On a shared machine the wall
/// time says how busy the machine was; the CPU time says what reading costs.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th,
    // stime the 13th, in clock ticks of 1/100 s.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    fields.iter().sum::<f64>() / 100.0
}

/// The two readings: everything (what reports and most checks read), and the
/// operations alone (what `faultline check` reads for a model check).
const READINGS: [(&str, bool); 2] = [("events and operations", false), ("operations only", true)];

fn options(operations_only: bool) -> ImportOptions {
    ImportOptions {
        operations_only,
        ..ImportOptions::default()
    }
}

/// `events` is the number of events read: a reading of the operations alone keeps
/// none, so it is counted from the file.
fn report(name: &str, bytes: usize, events: usize, took: f64, cpu: f64, history: &History) {
    println!(
        "{name}: {events} events, {} operations, {:.1} MB read and paired in {:.3} s ({:.2} CPU s): \
         {:.2} million events/s, {:.0} MB/s; {:.2} million events per CPU second",
        history.ops.len(),
        bytes as f64 / 1e6,
        took,
        cpu,
        events as f64 / took / 1e6,
        bytes as f64 / 1e6 / took,
        events as f64 / cpu.max(0.01) / 1e6
    );
}

/// Non-blank lines of `text`: its events.
fn count_events(text: &str) -> usize {
    text.lines().filter(|l| !l.trim().is_empty()).count()
}

/// The readings to run: both, or (`--operations`, for profiling) the second alone.
fn readings(args: &mut Vec<String>) -> &'static [(&'static str, bool)] {
    match args.iter().position(|a| a == "--operations") {
        Some(at) => {
            args.remove(at);
            &READINGS[1..]
        }
        None => &READINGS,
    }
}

fn synth(ops: usize, readings: &[(&str, bool)]) {
    let text = generate(&SynthOptions {
        clients: 50,
        ops,
        crash_rate: 0.01,
        seed: 1,
        ..SynthOptions::default()
    })
    .history
    .to_jsonl();
    let events = count_events(&text);
    for &(what, only) in readings {
        for _ in 0..3 {
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let history = import::parse_with(&text, Some(Format::Jsonl), &options(only))
                .expect("synth history parses")
                .history;
            let took = started.elapsed().as_secs_f64();
            let name = format!("synth {ops} ops, {what}");
            report(
                &name,
                text.len(),
                events,
                took,
                cpu_seconds() - cpu,
                &history,
            );
        }
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let readings = readings(&mut args);
    if args.first().map(String::as_str) == Some("--synth") {
        match args.get(1).and_then(|n| n.parse().ok()) {
            Some(ops) => return synth(ops, readings),
            None => {
                eprintln!("usage: parse_bench [--operations] --synth OPS");
                std::process::exit(3);
            }
        }
    }
    if args.is_empty() {
        eprintln!("usage: parse_bench [--operations] HISTORY... | --synth OPS");
        std::process::exit(3);
    }
    for p in &args {
        let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let events = count_events(&std::fs::read_to_string(p).unwrap_or_default());
        for &(what, only) in readings {
            let (started, cpu) = (Instant::now(), cpu_seconds());
            let history = match import::load_with(Path::new(p), None, &options(only)) {
                Ok(h) => h.history,
                Err(e) => {
                    eprintln!("{p}: {e}");
                    std::process::exit(3);
                }
            };
            let took = started.elapsed().as_secs_f64();
            let name = format!("{p}, {what}");
            report(
                &name,
                bytes as usize,
                events,
                took,
                cpu_seconds() - cpu,
                &history,
            );
        }
    }
}
