//! Client back-off: a process whose operations never reach their node (connection
//! refused) pauses before its next one, with a pause that grows, and an `ok` resets it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use workloads::client::{BoxFuture, Client, ClientFactory, KvClientFactory, Target};
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::op::{Completion, Op, Outcome};
use workloads::recorder::Recorder;
use workloads::runner::{run_clients, Backoff, RunOptions, RunSummary};
use workloads::sessions::Sessions;

/// Runs `concurrency` processes at full speed (`--rate 0`) for `time_limit`.
async fn run(
    url: &str,
    factory: Arc<dyn ClientFactory>,
    concurrency: usize,
    time_limit: Duration,
) -> RunSummary {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::create(&dir.path().join("h.jsonl")).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        Workload::Register,
        1,
        KeyOptions::default(),
    )));
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let options = RunOptions {
        concurrency,
        time_limit,
        rate: 0.0,
        sessions: Sessions::Sticky,
        seed: 7,
    };
    let nodes = [Target {
        id: "n1".into(),
        url: url.into(),
    }];
    run_clients(&options, &nodes, factory, generator, recorder, stop)
        .await
        .unwrap()
}

#[tokio::test]
async fn processes_bound_to_a_refused_port_make_a_bounded_number_of_attempts() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let factory = Arc::new(KvClientFactory::new(Duration::from_secs(1)).unwrap());
    let started = Instant::now();
    let s = run(&url, factory, 2, Duration::from_secs(1)).await;
    // Pauses of at least 5, 10, 20, ... ms (half of 10 ms doubling, the least jitter
    // allows) add up past one second after 8 of them: at most 9 attempts a process.
    // Without a pause a refused connection costs well under a millisecond, and two
    // processes made thousands of attempts in a second.
    assert!(s.invoked <= 18, "{s:?}");
    assert!(s.invoked >= 4, "they keep trying: {s:?}");
    assert_eq!(
        (s.ok, s.failed, s.unreached),
        (0, s.invoked, s.invoked),
        "{s:?}"
    );
    assert_eq!(s.ok_per_second(), 0.0);
    assert!(s.attempts_per_second() > 0.0);
    // A pause never runs past the time limit.
    assert!(started.elapsed() < Duration::from_millis(1500), "{s:?}");
}

/// A client whose node is unreachable three times out of four, and answers `ok` the
/// fourth.
struct Intermittent {
    calls: AtomicU64,
}

impl Client for Intermittent {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            if self.calls.fetch_add(1, Ordering::Relaxed) % 4 == 3 {
                Completion::ok(op.value.clone())
            } else {
                Completion::unreached(op.value.clone(), "connect: Connection refused")
            }
        })
    }
}

struct IntermittentFactory;

impl ClientFactory for IntermittentFactory {
    fn open(&self, _target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(Intermittent {
            calls: AtomicU64::new(0),
        }))
    }
}

#[tokio::test]
async fn an_ok_between_refusals_keeps_the_pauses_short() {
    let s = run(
        "http://unused",
        Arc::new(IntermittentFactory),
        1,
        Duration::from_secs(1),
    )
    .await;
    // Reset by every fourth operation, the pauses stay at most 10 + 20 + 40 ms per
    // four operations: 50 and more in a second. Were they never reset they would grow
    // to 1 s, and a second would hold about ten operations.
    assert!(s.invoked >= 25, "{s:?}");
    assert_eq!(s.ok, s.invoked / 4, "{s:?}");
    assert_eq!(s.unreached, s.failed);
}

#[test]
fn the_pause_doubles_up_to_a_second_and_an_ok_resets_it() {
    let refused = Completion::unreached(serde_json::Value::Null, "connect: refused");
    let mut b = Backoff::new(1, 0);
    let pauses: Vec<Duration> = (0..10).map(|_| b.after(&refused).unwrap()).collect();
    for (i, p) in pauses.iter().enumerate() {
        let ceiling = (Backoff::FIRST * (1 << i)).min(Backoff::LONGEST);
        assert!(*p >= ceiling / 2 && *p <= ceiling, "pause {i}: {p:?}");
    }
    // Answers from the node (a definite error, an indeterminate one) neither pause
    // nor reset it.
    let answered = Completion::fail(serde_json::Value::Null, "no-leader");
    assert_eq!(b.after(&answered), None);
    assert_eq!(
        b.after(&Completion::info(serde_json::Value::Null, "timeout")),
        None
    );
    assert!(b.after(&refused).unwrap() >= Backoff::LONGEST / 2);
    assert_eq!(b.after(&Completion::ok(serde_json::Value::Null)), None);
    assert!(b.after(&refused).unwrap() <= Backoff::FIRST);
    assert_eq!(refused.outcome, Outcome::Fail);
}

#[test]
fn the_jitter_is_repeatable_from_the_seed() {
    let refused = Completion::unreached(serde_json::Value::Null, "connect: refused");
    let draw = |seed, worker| {
        let mut b = Backoff::new(seed, worker);
        (0..6)
            .map(|_| b.after(&refused).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(3, 1), draw(3, 1));
    assert_ne!(draw(3, 1), draw(3, 2), "workers do not retry in lockstep");
}
