//! The client processes against a fake node: the history they record is complete,
//! parseable and (the fake being linearizable) linearizable.

use workloads::fake_node as support;

use checker::history::{parse_jsonl, EventType, Process};
use checker::linearizability::Options;
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::verdict::Verdict;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::client::{BoxFuture, Client, ClientFactory, KvClientFactory, Target};
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::op::{Completion, Op};
use workloads::recorder::Recorder;
use workloads::runner::{final_reads, run_clients, RunOptions};
use workloads::sessions::{NodeChooser, Sessions};

fn targets(urls: &[String]) -> Vec<Target> {
    urls.iter()
        .enumerate()
        .map(|(i, u)| Target {
            id: format!("n{}", i + 1),
            url: u.clone(),
        })
        .collect()
}

#[tokio::test]
async fn cas_register_run_records_a_linearizable_history_with_final_reads() {
    let (url, _fake) = support::start().await;
    // Three "nodes" that are one store: processes spread over them round-robin.
    let nodes = targets(&[url.clone(), url.clone(), url]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::CasRegister,
        42,
        KeyOptions {
            active_keys: 3,
            ops_per_key: 50,
        },
    )));
    let factory: Arc<dyn ClientFactory> =
        Arc::new(KvClientFactory::new(Duration::from_secs(1)).unwrap());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency: 6,
        time_limit: Duration::from_millis(600),
        rate: 2000.0,
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
    assert!(summary.invoked > 100, "{summary:?}");
    // The rate bounds the count: 600 ms at 2000/s, plus the first slot.
    assert!(summary.invoked <= 1202, "{summary:?}");
    let keys = generator.lock().unwrap().keys_used();
    let finals = final_reads(
        &nodes,
        0..keys,
        factory,
        Arc::clone(&recorder),
        summary.next_process,
        Instant::now() + Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(finals.ok, keys * 3);
    assert!(finals.unread.is_empty());
    recorder.finish().unwrap();

    let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        history.ops.iter().all(|op| op.complete_index.is_some()),
        "an op was left without completion"
    );
    let nodes_used: std::collections::BTreeSet<_> =
        history.ops.iter().filter_map(|o| o.node.clone()).collect();
    assert_eq!(nodes_used.len(), 3);
    // Check the client ops (final reads are reads too, under their own name).
    let mut as_reads = history.clone();
    for op in &mut as_reads.ops {
        if op.f == "final-read" {
            op.f = "read".into();
        }
    }
    let report = BuiltinModel::CasRegister(CasFailMeaning::NoEffect)
        .check(&as_reads, &Options::default())
        .unwrap();
    assert_eq!(
        report.verdict,
        Verdict::Valid,
        "{:?}",
        report.counterexample
    );
    assert!(report.partitions.len() as u64 >= keys - 3);
}

/// A client that answers `info` to every third write: the runner must retire the
/// process each time and continue under a fresh id, never reusing one.
struct Flaky {
    calls: std::sync::atomic::AtomicU64,
}

impl Client for Flaky {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let n = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if n % 3 == 2 {
                Completion::info(op.value.clone(), "timeout")
            } else {
                Completion::fail(op.value.clone(), "no-leader")
            }
        })
    }
}

struct FlakyFactory;

impl ClientFactory for FlakyFactory {
    fn open(&self, _target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(Flaky {
            calls: Default::default(),
        }))
    }
}

#[tokio::test]
async fn info_retires_the_process_and_a_fresh_one_takes_its_place() {
    let nodes = targets(&["http://unused".into(), "http://unused".into()]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::Register,
        1,
        KeyOptions::default(),
    )));
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency: 4,
        time_limit: Duration::from_millis(100),
        rate: 0.0,
        sessions: Sessions::Sticky,
        seed: 1,
    };
    let summary = run_clients(
        &options,
        &nodes,
        Arc::new(FlakyFactory),
        generator,
        Arc::clone(&recorder),
        stop,
    )
    .await
    .unwrap();
    recorder.finish().unwrap();
    // from_events rejects any invoke after an info by the same process.
    let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let infos = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Info)
        .count() as u64;
    assert!(infos > 10);
    assert_eq!(summary.retired, infos);
    // Each worker's processes are w, w + 4, w + 8, ...: the worker is the process mod 4,
    // and its node is fixed.
    for e in &history.events {
        if let Process::Client(p) = e.process {
            let worker = p % 4;
            assert_eq!(
                e.node.as_deref(),
                Some(if worker % 2 == 0 { "n1" } else { "n2" })
            );
        }
    }
    assert!(summary.next_process > *history.processes().last().unwrap());
}

#[tokio::test]
async fn stop_ends_the_run_early() {
    let (url, _fake) = support::start().await;
    let nodes = targets(&[url]);
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::create(&dir.path().join("h.jsonl")).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::Append,
        1,
        KeyOptions::default(),
    )));
    let factory: Arc<dyn ClientFactory> =
        Arc::new(KvClientFactory::new(Duration::from_secs(1)).unwrap());
    let (tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency: 2,
        time_limit: Duration::from_secs(60),
        rate: 50.0,
        sessions: Sessions::Sticky,
        seed: 1,
    };
    let started = Instant::now();
    let run = tokio::spawn(async move {
        run_clients(&options, &nodes, factory, generator, recorder, stop).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    tx.send(true).unwrap();
    let summary = run.await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(summary.invoked >= 1);
}

/// Each worker's node indices, in the order its processes invoked operations.
fn nodes_per_worker(
    history: &checker::history::History,
    nodes: &[Target],
    concurrency: u64,
) -> Vec<Vec<usize>> {
    let mut per_worker = vec![Vec::new(); concurrency as usize];
    for e in &history.events {
        if let (Process::Client(p), EventType::Invoke) = (e.process, e.kind) {
            let node = e.node.as_deref().expect("every invocation names its node");
            let index = nodes.iter().position(|t| t.id == node).unwrap();
            per_worker[(p % concurrency) as usize].push(index);
        }
    }
    per_worker
}

/// Opens clients through another factory, counting the opens.
struct CountingFactory<F> {
    inner: F,
    opened: std::sync::atomic::AtomicU64,
}

impl<F: ClientFactory> ClientFactory for CountingFactory<F> {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        self.opened
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.open(target)
    }
}

/// Roaming processes against three "nodes" that are one linearizable store: every
/// process visits several nodes, each event names the node its operation went to,
/// each worker's nodes are exactly its seeded stream, clients are opened once per
/// process and node (not per operation), and the history is still linearizable.
#[tokio::test]
async fn roaming_processes_move_between_nodes_along_their_seeded_stream() {
    let (url, _fake) = support::start().await;
    let nodes = targets(&[url.clone(), url.clone(), url]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::CasRegister,
        42,
        KeyOptions {
            active_keys: 3,
            ops_per_key: 50,
        },
    )));
    let factory = Arc::new(CountingFactory {
        inner: KvClientFactory::new(Duration::from_secs(1)).unwrap(),
        opened: Default::default(),
    });
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency: 4,
        time_limit: Duration::from_millis(500),
        rate: 1000.0,
        sessions: Sessions::Roaming,
        seed: 42,
    };
    let summary = run_clients(
        &options,
        &nodes,
        Arc::clone(&factory) as Arc<dyn ClientFactory>,
        generator,
        Arc::clone(&recorder),
        stop,
    )
    .await
    .unwrap();
    recorder.finish().unwrap();
    assert!(summary.invoked > 100, "{summary:?}");
    let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(history.ops.iter().all(|op| op.node.is_some()));
    for (worker, used) in nodes_per_worker(&history, &nodes, 4).iter().enumerate() {
        let mut chooser = NodeChooser::new(Sessions::Roaming, 42, worker, 3);
        let expected: Vec<usize> = (0..used.len()).map(|_| chooser.next_node()).collect();
        assert_eq!(used, &expected, "worker {worker}");
        let distinct: std::collections::BTreeSet<_> = used.iter().collect();
        assert_eq!(distinct.len(), 3, "worker {worker} used {distinct:?}");
    }
    // At most one client per process and node.
    let processes = history.processes().len() as u64;
    let opened = factory.opened.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        opened <= processes * 3,
        "{opened} clients for {processes} processes"
    );
    let report = BuiltinModel::CasRegister(CasFailMeaning::NoEffect)
        .check(&history, &Options::default())
        .unwrap();
    assert_eq!(
        report.verdict,
        Verdict::Valid,
        "{:?}",
        report.counterexample
    );
}

/// The same seed gives every worker the same nodes in the same order, across the
/// processes that replace retired ones; another seed gives other nodes; sticky
/// processes never leave their node.
#[tokio::test]
async fn node_choice_is_deterministic_per_seed_across_retired_processes() {
    let nodes = targets(&[
        "http://unused".into(),
        "http://unused".into(),
        "http://unused".into(),
    ]);
    async fn run(nodes: &[Target], sessions: Sessions, seed: u64) -> (Vec<Vec<usize>>, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let recorder = Arc::new(Recorder::create(&path).unwrap());
        let generator = Arc::new(Mutex::new(Generator::new(
            Workload::Register,
            seed,
            KeyOptions::default(),
        )));
        let (_tx, stop) = tokio::sync::watch::channel(false);
        let options = RunOptions {
            concurrency: 3,
            // The flaky client never waits, so the rate's sleeps are what let the
            // three workers take turns.
            time_limit: Duration::from_millis(200),
            rate: 2000.0,
            sessions,
            seed,
        };
        let summary = run_clients(
            &options,
            nodes,
            Arc::new(FlakyFactory),
            generator,
            Arc::clone(&recorder),
            stop,
        )
        .await
        .unwrap();
        recorder.finish().unwrap();
        let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
        (nodes_per_worker(&history, nodes, 3), summary.retired)
    }
    let (a, retired) = run(&nodes, Sessions::Roaming, 5).await;
    let (b, _) = run(&nodes, Sessions::Roaming, 5).await;
    let (c, _) = run(&nodes, Sessions::Roaming, 6).await;
    assert!(retired > 10, "the flaky client should retire processes");
    for w in 0..3 {
        let n = a[w].len().min(b[w].len()).min(c[w].len());
        assert!(n > 30, "worker {w}: only {n} operations");
        assert_eq!(a[w][..n], b[w][..n], "worker {w}, same seed");
        assert_ne!(a[w][..n], c[w][..n], "worker {w}, another seed");
        assert!(
            (0..3).all(|node| a[w].contains(&node)),
            "worker {w}: {:?}",
            a[w]
        );
    }
    let (sticky, _) = run(&nodes, Sessions::Sticky, 5).await;
    for (w, used) in sticky.iter().enumerate() {
        assert!(
            !used.is_empty() && used.iter().all(|&n| n == w % 3),
            "worker {w}: {used:?}"
        );
    }
}
