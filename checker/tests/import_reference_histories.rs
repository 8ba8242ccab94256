//! Every reference history under `shared/histories/porcupine` imports, with the
//! operation counts its VERDICTS.md gives; and mangled copies of them give errors,
//! never panics.
//!
//! The shared folder sits beside the repository (`<repo>/../shared`, which is
//! `checker/../../shared`). Without it these tests fail: they must not pass by
//! checking nothing.

use checker::history::{EventType, Outcome};
use checker::import::{self, Format};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn porcupine_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/histories/porcupine");
    assert!(
        dir.join("VERDICTS.md").is_file(),
        "reference histories not found at {}: the `shared` folder must sit beside the repository \
         (clone it to <repo>/../shared)",
        dir.display()
    );
    dir
}

/// The `ops` column of VERDICTS.md's tables, by file (`jepsen/etcd_000.log`, `kv/c01-ok.txt`).
fn expected_ops(dir: &Path) -> BTreeMap<String, usize> {
    let verdicts = std::fs::read_to_string(dir.join("VERDICTS.md")).unwrap();
    let mut ops = BTreeMap::new();
    for line in verdicts.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | file | ops | ... |  →  ["", file, ops, ..., ""]
        if cells.len() >= 4 && (cells[1].starts_with("jepsen/") || cells[1].starts_with("kv/")) {
            let count = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("VERDICTS.md: bad ops cell in `{line}`"));
            ops.insert(cells[1].to_string(), count);
        }
    }
    ops
}

fn history_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for sub in ["jepsen", "kv"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{sub}/{}", path.file_name().unwrap().to_string_lossy());
            files.push((name, path));
        }
    }
    files.sort();
    files
}

#[test]
fn every_porcupine_history_imports_with_the_operation_count_of_verdicts_md() {
    let dir = porcupine_dir();
    let expected = expected_ops(&dir);
    let files = history_files(&dir);
    assert_eq!(
        files.len(),
        103 + 6,
        "expected 103 etcd logs and 6 kv histories"
    );
    assert_eq!(
        files
            .iter()
            .map(|(name, _)| name.clone())
            .collect::<Vec<_>>(),
        expected.keys().cloned().collect::<Vec<_>>(),
        "VERDICTS.md lists exactly the files present"
    );
    for (name, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let format = if name.starts_with("jepsen/") {
            Format::PorcupineLog
        } else {
            Format::PorcupineKv
        };
        if !text.is_empty() {
            assert_eq!(import::detect(&text), Some(format), "{name}");
        }
        let history = import::load(path, None).unwrap_or_else(|e| panic!("{e}"));
        let ops = expected[name];
        // The `ops` column counts operations (invocations). In these files every
        // invocation has exactly one completion line (`:info` included), so it is
        // also half the number of lines.
        assert_eq!(history.ops.len(), ops, "{name}: operations");
        assert_eq!(
            history
                .events
                .iter()
                .filter(|e| e.kind == EventType::Invoke)
                .count(),
            ops,
            "{name}: invokes"
        );
        assert_eq!(text.lines().count(), 2 * ops, "{name}: lines");
        assert!(
            history.ops.iter().all(|op| op.complete_index.is_some()),
            "{name}: every op completes"
        );
        for op in &history.ops {
            match op.outcome {
                Outcome::Info => {
                    assert_eq!((op.ret, op.error.as_deref()), (u64::MAX, Some("timed-out")))
                }
                _ => assert!(
                    op.ret > op.call && op.ret != u64::MAX,
                    "{name}: op {}",
                    op.id
                ),
            }
        }
        if name.starts_with("kv/") {
            let keys = history.ops_by_key().len();
            assert!((8..=10).contains(&keys), "{name}: {keys} keys");
        }
    }
}

#[test]
fn porcupine_logs_keep_their_odd_cases() {
    let dir = porcupine_dir();
    let h = import::load(&dir.join("jepsen/etcd_100.log"), Some(Format::PorcupineLog)).unwrap();
    // etcd_100 has five `:fail :read :timed-out` lines and eleven `:info` ones.
    let timed_out_reads = h.ops.iter().filter(|o| {
        o.f == "read" && o.outcome == Outcome::Fail && o.error.as_deref() == Some("timed-out")
    });
    assert_eq!(timed_out_reads.count(), 5);
    assert_eq!(
        h.ops.iter().filter(|o| o.outcome == Outcome::Info).count(),
        11
    );
    // Every process that got `info` is retired; the ids used are many more than the 5 workers.
    assert!(h.processes().len() > 5);
    assert!(import::load(&dir.join("jepsen/etcd_095.log"), None)
        .unwrap()
        .events
        .is_empty());
}

/// One random change to a file: flip, insert, delete or duplicate bytes, or truncate.
fn mutate(rng: &mut SmallRng, original: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"[](){}:\"\\#;, \t\n-0123456789eNnil\xff";
    let mut bytes = original.to_vec();
    for _ in 0..rng.gen_range(1..=4) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.gen_range(0..bytes.len());
        match rng.gen_range(0..6) {
            0 => bytes[at] = rng.gen(),
            1 => bytes[at] = INTERESTING[rng.gen_range(0..INTERESTING.len())],
            2 => bytes.insert(at, INTERESTING[rng.gen_range(0..INTERESTING.len())]),
            3 => {
                bytes.remove(at);
            }
            4 => {
                let end = (at + rng.gen_range(1..40)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                let to = rng.gen_range(0..bytes.len());
                bytes.splice(to..to, chunk);
            }
            _ => bytes.truncate(at),
        }
    }
    bytes
}

#[test]
fn mutated_reference_histories_give_errors_not_panics() {
    mutation_campaign(200, 0x5eed_f417);
}

/// A longer campaign: `cargo test -p checker --test import_reference_histories -- --ignored`.
#[test]
#[ignore = "long: 100 times the default mutations"]
fn mutation_campaign_long() {
    for seed in 0..10 {
        mutation_campaign(2000, seed);
    }
}

/// Imports `rounds` mutations of each of six reference inputs in every format.
fn mutation_campaign(rounds: usize, seed: u64) {
    let dir = porcupine_dir();
    let mut originals: Vec<(String, Vec<u8>)> = Vec::new();
    for name in [
        "jepsen/etcd_000.log",
        "jepsen/etcd_100.log",
        "kv/c01-ok.txt",
        "kv/c01-bad.txt",
    ] {
        originals.push((name.to_string(), std::fs::read(dir.join(name)).unwrap()));
    }
    // Two of them in faultline's JSONL, and as Jepsen EDN (a vector of maps).
    let etcd = import::load(&dir.join("jepsen/etcd_000.log"), None).unwrap();
    originals.push(("etcd_000 as jsonl".into(), etcd.to_jsonl().into_bytes()));
    let kv = import::load(&dir.join("kv/c01-ok.txt"), None).unwrap();
    let edn = format!("[{}]", checker::export::edn::to_edn(&kv).unwrap());
    originals.push(("c01-ok as edn".into(), edn.into_bytes()));

    let mut rng = SmallRng::seed_from_u64(seed);
    let mut errors = 0;
    let mut runs = 0;
    let formats = [
        None,
        Some(Format::PorcupineLog),
        Some(Format::PorcupineKv),
        Some(Format::JepsenEdn),
        Some(Format::Jsonl),
    ];
    for (name, original) in &originals {
        for _ in 0..rounds {
            let bytes = mutate(&mut rng, original);
            let text = String::from_utf8_lossy(&bytes);
            for format in formats {
                match std::panic::catch_unwind(|| import::parse(&text, format)) {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        errors += 1;
                        assert!(e.line.is_some(), "error without a line: {e}");
                    }
                    Err(_) => panic!(
                        "importing a mutation of {name} as {format:?} panicked; input:\n{text}"
                    ),
                }
                runs += 1;
            }
        }
    }
    // Most mutations break something; a test where nothing ever fails checks nothing.
    assert!(
        errors > runs / 2,
        "only {errors} of {runs} mutated inputs were rejected"
    );
}
