//! How fast histories are read: events per second through the importer that
//! `faultline check` uses, for files of any format it reads. Not a test: run it in
//! release mode on a large history, for example one made by `faultline synth`,
//!
//!     faultline synth --model cas-register --clients 50 --ops 1000000 -o /tmp/h.jsonl
//!     cargo run --release -p checker --example parse_bench -- /tmp/h.jsonl
//!
//! and put the figure in README.md's "Checker performance" section.

use checker::import;
use std::path::Path;
use std::time::Instant;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: parse_bench HISTORY...");
        std::process::exit(3);
    }
    for p in &paths {
        let bytes = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let started = Instant::now();
        let history = match import::load(Path::new(p), None) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("{p}: {e}");
                std::process::exit(3);
            }
        };
        let took = started.elapsed().as_secs_f64();
        let events = history.events.len() as f64;
        println!(
            "{p}: {} events, {} operations, {:.1} MB read and paired in {:.3} s: {:.2} million events/s, {:.0} MB/s",
            history.events.len(),
            history.ops.len(),
            bytes as f64 / 1e6,
            took,
            events / took / 1e6,
            bytes as f64 / 1e6 / took
        );
    }
}
