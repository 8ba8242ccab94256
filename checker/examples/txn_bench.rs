//! Benchmark of the transactional checker: a synthetic list-append history (strict
//! serializable, or with one injected anomaly), then the check, timed apart.
//!
//! cargo run --release -p checker --example txn_bench -- --txns 1000000 [--anomaly G2-item] [--history]
//! cargo run --release -p checker --example txn_bench -- --txns 1000000 --write FILE
//! cargo run --release -p checker --example txn_bench -- --jsonl FILE
//! (under /usr/bin/time -v for the peak memory)
//!
//! By default the transactions go straight into the checker's form (the checker
//! alone); `--history` builds the JSON history first (its serde_json values dominate
//! the memory). `--write` writes the synthetic history as JSONL, as `faultline synth`
//! does; `--jsonl` reads such a file line by line into the checker's form
//! (`checker::txn::read_jsonl`, what `faultline check --check list-append` does) and
//! checks it: parse and check timed apart.

use checker::synth_txn::{
    generate_compact, generate_txns, write_txns_jsonl, TxnAnomaly, TxnDatatype, TxnSynthOptions,
};
use checker::txn::{
    check_list_append, check_rw_register, check_txns, read_jsonl, ReadKind, TxnOptions,
};
use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let txns: usize = flag("--txns").map_or(1_000_000, |v| v.parse().expect("--txns N"));
    let clients: usize = flag("--clients").map_or(50, |v| v.parse().expect("--clients N"));
    let register = flag("--datatype").is_some_and(|d| d == "rw-register");
    let anomaly = flag("--anomaly")
        .map(|a| TxnAnomaly::from_name(&a).expect("--anomaly G0|G1c|G-single|G2-item"));
    let options = TxnSynthOptions {
        datatype: if register {
            TxnDatatype::RwRegister
        } else {
            TxnDatatype::ListAppend
        },
        clients,
        txns,
        length: 4,
        keys: flag("--keys").map_or(50, |v| v.parse().expect("--keys N")),
        max_writes_per_key: 32,
        crash_rate: 0.001,
        anomaly,
        seed: 1,
    };
    let started = Instant::now();
    if let Some(path) = flag("--write") {
        let file = std::fs::File::create(&path).expect("--write FILE: cannot create");
        let mut out = std::io::BufWriter::new(file);
        let (events, _) = write_txns_jsonl(&options, &mut out).expect("writing the history");
        out.flush().expect("writing the history");
        eprintln!(
            "wrote {events} events to {path} in {:.2?}",
            started.elapsed()
        );
        return;
    }
    let report = if let Some(path) = flag("--jsonl") {
        let kind = if register {
            ReadKind::Register
        } else {
            ReadKind::List
        };
        let file = std::fs::File::open(&path).expect("--jsonl FILE: cannot open");
        let txns = read_jsonl(std::io::BufReader::with_capacity(1 << 20, file), kind)
            .unwrap_or_else(|e| panic!("{path}:{e}"));
        eprintln!(
            "parsed {} transactions in {:.2?}",
            txns.txns.len(),
            started.elapsed()
        );
        let checked = Instant::now();
        let r = check_txns(&txns, kind, &TxnOptions::default());
        eprintln!("check: {:.2?}", checked.elapsed());
        r
    } else if args.iter().any(|a| a == "--history") {
        let (history, _) = generate_txns(&options);
        eprintln!(
            "synthesized {} transactions in {:.2?}",
            history.ops.len(),
            started.elapsed()
        );
        let started = Instant::now();
        let r = if register {
            check_rw_register(&history, &TxnOptions::default())
        } else {
            check_list_append(&history, &TxnOptions::default())
        }
        .expect("synthetic histories parse");
        eprintln!("parse and check: {:.2?}", started.elapsed());
        r
    } else {
        let txns = generate_compact(&options);
        eprintln!(
            "synthesized {} transactions in {:.2?}",
            txns.txns.len(),
            started.elapsed()
        );
        let kind = if register {
            ReadKind::Register
        } else {
            ReadKind::List
        };
        let started = Instant::now();
        let r = check_txns(&txns, kind, &TxnOptions::default());
        eprintln!("check: {:.2?}", started.elapsed());
        r
    };
    println!(
        "checked {} transactions ({} edges): {} - {}",
        report.transactions,
        report.edges,
        report.verdict,
        report.summary()
    );
}
