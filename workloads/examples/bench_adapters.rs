//! The adapter path's throughput: client processes driving trivial external adapters
//! (`docs/adapters.md`) that answer every operation at once from memory, beside the
//! built-in KV client against the in-process fake node, on the same runner.
//!
//!     cargo run --release -p workloads --example bench_adapters -- [SECONDS] [ADAPTERS]
//!
//! The trivial adapter is Python (standard library): a JSON line in, a JSON line out.
//! Each run's history is read back and parsed, to show it is complete.

use checker::history::parse_jsonl;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::client::{ClientFactory, KvClientFactory, Target};
use workloads::external::{AdapterClientFactory, AdapterCommand, AdapterOptions};
use workloads::fake_node;
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::recorder::Recorder;
use workloads::runner::{run_clients, RunOptions};

const TRIVIAL: &str = r#"
import json, sys
store = {}
out = sys.stdout
for line in sys.stdin:
    m = json.loads(line)
    if m["type"] == "init":
        out.write('{"type": "init_ok"}\n'); out.flush(); continue
    f, k = m["f"], m["key"]
    a = {"type": "ok", "id": m["id"]}
    if f == "read":
        a["value"] = store.get(k)
    elif f == "write":
        store[k] = m["value"]
    elif f == "cas":
        if store.get(k) == m["value"][0]:
            store[k] = m["value"][1]
        else:
            a = {"type": "fail", "id": m["id"], "error": "cas-mismatch"}
    out.write(json.dumps(a) + "\n"); out.flush()
"#;

async fn measure(
    label: &str,
    targets: &[Target],
    factory: Arc<dyn ClientFactory>,
    seconds: f64,
    concurrency: usize,
    dir: &std::path::Path,
) {
    let path = dir.join(format!("{label}.jsonl"));
    let recorder = Arc::new(Recorder::create(&path).expect("creating the history"));
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::CasRegister,
        1,
        KeyOptions::default(),
    )));
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency,
        time_limit: Duration::from_secs_f64(seconds),
        rate: 0.0,
        sessions: workloads::sessions::Sessions::Sticky,
        seed: 1,
    };
    let started = Instant::now();
    let summary = run_clients(
        &options,
        targets,
        factory,
        generator,
        Arc::clone(&recorder),
        stop,
    )
    .await
    .expect("the run");
    let elapsed = started.elapsed().as_secs_f64();
    recorder.finish().expect("finishing the history");
    let history = parse_jsonl(&std::fs::read_to_string(&path).expect("reading the history"))
        .expect("a valid history");
    assert_eq!(history.ops.len() as u64, summary.invoked);
    println!(
        "{label:<16} {concurrency:>3} processes: {:>8.0} ops/s ({} ops, {} ok, {:.1} s)",
        summary.invoked as f64 / elapsed,
        summary.invoked,
        summary.ok,
        elapsed
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let adapters: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (url, _fake) = fake_node::start().await;
        let targets: Vec<Target> = (1..=5)
            .map(|i| Target {
                id: format!("n{i}"),
                url: url.clone(),
            })
            .collect();
        let factory = AdapterClientFactory::new(AdapterOptions {
            command: AdapterCommand {
                program: "python3".into(),
                args: vec!["-c".into(), TRIVIAL.into()],
                env: vec![],
                working_dir: None,
                settings: Default::default(),
            },
            timeout: Duration::from_secs(1),
            workload: Workload::CasRegister,
        });
        factory
            .prepare(dir.path(), &targets)
            .expect("the logs folder");
        let factory: Arc<dyn ClientFactory> = Arc::new(factory);
        measure(
            "python adapters",
            &targets,
            factory,
            seconds,
            adapters,
            dir.path(),
        )
        .await;
        let kv = Arc::new(KvClientFactory::new(Duration::from_secs(1)).expect("an HTTP client"));
        measure("built-in kv", &targets, kv, seconds, adapters, dir.path()).await;
    });
}
