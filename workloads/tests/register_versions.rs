//! Versions end to end over the fake node: the client records them, the runner writes
//! them into the history, and the register session check judges them.

use checker::consistency::session::{self, Guarantee, RegisterOptions};
use checker::history::parse_jsonl;
use checker::verdict::Verdict;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::client::{ClientFactory, KvClientFactory, Target};
use workloads::fake_node::{self, Fake, Mode};
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::recorder::Recorder;
use workloads::runner::{final_reads, run_clients, RunOptions};
use workloads::sessions::Sessions;

/// Runs a short cas-register test against `url` (as two nodes) and parses its history.
async fn run(url: &str) -> checker::history::History {
    let nodes: Vec<Target> = (1..=2)
        .map(|i| Target {
            id: format!("n{i}"),
            url: url.to_string(),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::CasRegister,
        7,
        KeyOptions {
            active_keys: 2,
            ops_per_key: 40,
        },
    )));
    let factory: Arc<dyn ClientFactory> =
        Arc::new(KvClientFactory::new(Duration::from_secs(1)).unwrap());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency: 4,
        time_limit: Duration::from_millis(300),
        rate: 1000.0,
        sessions: Sessions::Sticky,
        seed: 1,
    };
    let summary = run_clients(
        &options,
        &nodes,
        Arc::clone(&factory),
        Arc::clone(&generator),
        Arc::clone(&recorder),
        stop,
    )
    .await
    .unwrap();
    let keys = generator.lock().unwrap().keys_used();
    final_reads(
        &nodes,
        0..keys,
        factory,
        Arc::clone(&recorder),
        summary.next_process,
        Instant::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    recorder.finish().unwrap();
    parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn fake_with_versions() -> (String, Fake) {
    let (url, fake) = fake_node::start().await;
    fake.set_versions(true);
    (url, fake)
}

#[tokio::test]
async fn a_correct_store_with_versions_keeps_every_register_session_guarantee() {
    let (url, _fake) = fake_with_versions().await;
    let history = run(&url).await;
    let ok_ops = history
        .ops
        .iter()
        .filter(|o| o.outcome == checker::history::Outcome::Ok && o.f != "cas")
        .count();
    assert!(ok_ops > 20, "too few operations: {ok_ops}");
    assert!(
        history
            .ops
            .iter()
            .filter(|o| o.outcome == checker::history::Outcome::Ok)
            .all(|o| o.version.is_some()),
        "an acknowledged operation without its version"
    );
    let report = session::check_registers(&history, &RegisterOptions::default());
    assert_eq!(report.verdict, Verdict::Valid, "{report:#?}");
    assert_eq!(report.version_conflicts.as_ref().unwrap().count, 0);
    for g in Guarantee::ALL {
        assert!(report.guarantee(g).checked > 0, "{g:?} judged nothing");
    }
}

#[tokio::test]
async fn a_store_without_versions_leaves_every_guarantee_unknown() {
    let (url, _fake) = fake_node::start().await;
    let history = run(&url).await;
    assert!(history.ops.iter().all(|o| o.version.is_none()));
    let report = session::check_registers(&history, &RegisterOptions::default());
    assert_eq!(report.verdict, Verdict::Unknown);
}

#[tokio::test]
async fn acknowledged_writes_that_are_lost_break_read_your_writes() {
    let (url, fake) = fake_with_versions().await;
    fake.set_mode(Mode::LoseWrites);
    let history = run(&url).await;
    let report = session::check_registers(&history, &RegisterOptions::default());
    assert_eq!(
        report.read_your_writes.verdict,
        Verdict::Invalid,
        "{report:#?}"
    );
    assert!(report.read_your_writes.violations.count > 0);
}
