//! Conformance: every porcupine reference history gets the verdict listed in
//! `shared/histories/porcupine/VERDICTS.md` (porcupine's own expectations), and each
//! violation comes with a counterexample that really is stuck.

use checker::import;
use checker::linearizability::Options;
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::verdict::Verdict;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories/porcupine")
}

/// (relative path, expected verdict) for every row of VERDICTS.md with a verdict.
fn expected_verdicts() -> Vec<(String, Verdict)> {
    let text =
        std::fs::read_to_string(corpus().join("VERDICTS.md")).expect("VERDICTS.md is readable");
    let mut rows = Vec::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !(cells[1].starts_with("jepsen/") || cells[1].starts_with("kv/")) {
            continue;
        }
        let verdict_cell = cells[cells.len() - 2];
        let verdict = if verdict_cell.starts_with("Ok") {
            Verdict::Valid
        } else if verdict_cell.starts_with("Illegal") {
            Verdict::Invalid
        } else {
            continue; // the empty etcd_095.log has no verdict
        };
        rows.push((cells[1].to_string(), verdict));
    }
    rows
}

fn check(rel: &str, all_keys: bool) -> checker::linearizability::Report {
    let history = import::load(&corpus().join(rel), None).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let model = BuiltinModel::guess(&history, CasFailMeaning::ComparisonFailed);
    let expected_model = if rel.starts_with("kv/") {
        "kv"
    } else {
        "cas-register"
    };
    assert_eq!(
        model.name(),
        expected_model,
        "{rel}: model guessed from the functions"
    );
    model
        .check(
            &history,
            &Options {
                all_keys,
                ..Options::default()
            },
        )
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn every_reference_history_gets_porcupines_verdict() {
    let rows = expected_verdicts();
    let etcd = rows
        .iter()
        .filter(|(p, _)| p.starts_with("jepsen/"))
        .count();
    let etcd_ok = rows
        .iter()
        .filter(|(p, v)| p.starts_with("jepsen/") && *v == Verdict::Valid)
        .count();
    let kv = rows.iter().filter(|(p, _)| p.starts_with("kv/")).count();
    assert_eq!(
        (etcd, etcd_ok, kv),
        (102, 23, 6),
        "the corpus is porcupine's: 102 etcd histories (23 linearizable) and 6 kv histories"
    );
    let mut wrong = Vec::new();
    for (rel, expected) in &rows {
        let report = check(rel, false);
        if report.verdict != *expected {
            wrong.push(format!(
                "{rel}: expected {expected}, got {}",
                report.verdict
            ));
        }
        if report.verdict == Verdict::Invalid {
            let c = report
                .counterexample
                .as_ref()
                .unwrap_or_else(|| panic!("{rel}: invalid without counterexample"));
            assert!(
                !c.blocked.is_empty(),
                "{rel}: a counterexample names the operations that cannot come next"
            );
            assert!(
                c.blocked.iter().any(|b| b.op.id == c.must_precede.id),
                "{rel}: the stuck op is a candidate"
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "verdicts differ from porcupine's:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn every_key_of_the_bad_kv_history_is_diagnosed_on_request() {
    let report = check("kv/c50-bad.txt", true);
    assert_eq!(report.verdict, Verdict::Invalid);
    assert!(
        report
            .partitions
            .iter()
            .all(|p| p.verdict != Verdict::Unknown),
        "--all-keys decides every key"
    );
    let invalid: Vec<_> = report
        .partitions
        .iter()
        .filter(|p| p.verdict == Verdict::Invalid)
        .collect();
    assert!(!invalid.is_empty());
    for p in invalid {
        let c = p
            .counterexample
            .as_ref()
            .expect("each invalid key explains itself");
        assert_eq!(c.key, p.key);
    }
}

#[test]
fn the_knossos_reading_of_a_failed_cas_is_selectable() {
    // Reading `fail` as "no effect" drops constraints, so it can only turn verdicts
    // from invalid to valid, never the reverse.
    for (rel, expected) in expected_verdicts()
        .iter()
        .filter(|(p, _)| p.starts_with("jepsen/"))
        .take(30)
    {
        let history = import::load(&corpus().join(rel), None).unwrap();
        let report = BuiltinModel::CasRegister(CasFailMeaning::NoEffect)
            .check(&history, &Options::default())
            .unwrap();
        if *expected == Verdict::Valid {
            assert_eq!(report.verdict, Verdict::Valid, "{rel}");
        }
    }
}
