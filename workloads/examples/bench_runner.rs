//! Harness overhead: how many operations per second the client processes and the
//! history recorder can drive and record against a node that answers instantly.
//!
//!     cargo run --release -p workloads --example bench_runner -- [SECONDS] [CONCURRENCY]
//!
//! Two measurements:
//! - `in-memory`: a client that answers at once without any I/O, so the figure is the
//!   runner's own ceiling (generator, scheduling, recording every event to disk);
//! - `http`: the real KV client over loopback HTTP to a node that answers instantly: a
//!   minimal HTTP/1.1 responder (every request gets `200 {"value":null}`), so that as
//!   little as possible of the machine's two cores goes to the node;
//! - `http-axum`: the same against the in-process fake node of the tests (a real
//!   in-memory KV store on axum), for comparison;
//! - `adapters`: one trivial external client adapter per process (`docs/adapters.md`;
//!   Python, answering every operation from memory), so the figure is the adapter
//!   path's: a JSON line out and one back through pipes, per operation.
//!
//! Each run's history is read back and parsed, to show it is complete and checkable.

use checker::history::parse_jsonl;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::client::{BoxFuture, Client, ClientFactory, KvClientFactory, Target};
use workloads::external::{AdapterClientFactory, AdapterCommand, AdapterOptions};
use workloads::fake_node;
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::op::{Completion, Op};
use workloads::recorder::Recorder;
use workloads::runner::{run_clients, RunOptions};

/// Answers every HTTP/1.1 request on a connection with `200 {"value":null}`, as fast
/// as it can parse request boundaries (headers, then `content-length` bytes of body).
async fn instant_http_node() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let _ = socket.set_nodelay(true);
            tokio::spawn(async move {
                const REPLY: &[u8] =
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n{\"value\":null}";
                let mut buf: Vec<u8> = Vec::with_capacity(8192);
                let mut chunk = [0u8; 8192];
                loop {
                    // Answer every complete request in the buffer.
                    let mut replies = 0;
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let body = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .and_then(|v| v.trim().parse::<usize>().ok())
                            })
                            .unwrap_or(0);
                        if buf.len() < end + 4 + body {
                            break;
                        }
                        buf.drain(..end + 4 + body);
                        replies += 1;
                    }
                    if replies > 0 && socket.write_all(&REPLY.repeat(replies)).await.is_err() {
                        return;
                    }
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

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

/// One trivial Python adapter per process, its logs in `dir`.
fn trivial_adapters(targets: &[Target], dir: &std::path::Path) -> Arc<dyn ClientFactory> {
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
    factory.prepare(dir, targets).expect("the logs folder");
    Arc::new(factory)
}

struct Instant0;

impl Client for Instant0 {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move { Completion::ok(op.value.clone()) })
    }
}

struct InstantFactory;

impl ClientFactory for InstantFactory {
    fn open(&self, _: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(Instant0))
    }
}

async fn measure(
    label: &str,
    targets: Vec<Target>,
    factory: Arc<dyn ClientFactory>,
    seconds: f64,
    concurrency: usize,
) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("history.jsonl");
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
        &targets,
        factory,
        generator,
        Arc::clone(&recorder),
        stop,
    )
    .await
    .expect("the run");
    let elapsed = started.elapsed().as_secs_f64();
    let events = recorder.finish().expect("finishing the history");
    let history = parse_jsonl(&std::fs::read_to_string(&path).expect("reading the history"))
        .expect("a valid history");
    assert_eq!(history.ops.len() as u64, summary.invoked);
    println!(
        "{label:<10} concurrency {concurrency:>3}: {:>9.0} ops/s ({} ops, {events} events, {:.1} s; history {:.1} MB, parses)",
        summary.invoked as f64 / elapsed,
        summary.invoked,
        elapsed,
        std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e6
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let concurrency: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let targets: Vec<Target> = (1..=5)
            .map(|i| Target {
                id: format!("n{i}"),
                url: "http://unused".into(),
            })
            .collect();
        measure(
            "in-memory",
            targets,
            Arc::new(InstantFactory),
            seconds,
            concurrency,
        )
        .await;
        let factory =
            Arc::new(KvClientFactory::new(Duration::from_secs(1)).expect("an HTTP client"));
        let url = instant_http_node().await;
        let targets: Vec<Target> = (1..=5)
            .map(|i| Target {
                id: format!("n{i}"),
                url: url.clone(),
            })
            .collect();
        measure("http", targets, factory.clone(), seconds, concurrency).await;
        let (url, _fake) = fake_node::start().await;
        let targets: Vec<Target> = (1..=5)
            .map(|i| Target {
                id: format!("n{i}"),
                url: url.clone(),
            })
            .collect();
        measure("http-axum", targets.clone(), factory, seconds, concurrency).await;
        let logs = tempfile::tempdir().expect("a temporary directory");
        let adapters = trivial_adapters(&targets, logs.path());
        measure("adapters", targets, adapters, seconds, concurrency).await;
    });
}
