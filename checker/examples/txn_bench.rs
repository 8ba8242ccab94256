//! Benchmark of the transactional checker: a synthetic list-append history (strict
//! serializable, or with one injected anomaly), then the check, timed apart.
//!
//! cargo run --release -p checker --example txn_bench -- --txns 1000000 [--anomaly G2-item] [--history]
//! (under /usr/bin/time -v for the peak memory)
//!
//! By default the transactions go straight into the checker's form (the checker
//! alone); `--history` builds the JSON history first, as `faultline check` sees it
//! (its serde_json values dominate the memory).

use checker::synth_txn::{
    generate_compact, generate_txns, TxnAnomaly, TxnDatatype, TxnSynthOptions,
};
use checker::txn::{check_list_append, check_rw_register, check_txns, ReadKind, TxnOptions};
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
    let report = if args.iter().any(|a| a == "--history") {
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
