//! The logical client processes of a test.
//!
//! `concurrency` workers run as tokio tasks, each running one process at a time, one
//! operation at a time. Which node an operation goes to is the [`Sessions`] setting:
//! sticky (the default, as in Jepsen), worker `w` is bound to node `w % nodes`, so
//! processes are spread over the nodes round-robin and a partition cuts some of them
//! off; roaming, each operation goes to a node drawn from the worker's seeded stream
//! ([`crate::sessions`]), so a process's session moves between replicas. Either way
//! every event records the node its operation went to.
//!
//! A process whose operation ends `info` is retired, because its operation may still
//! take effect and a process never has two operations open; the worker carries on as
//! a fresh process `p + concurrency`, with fresh clients, exactly as Jepsen does.
//!
//! An operation in flight when the time limit passes is allowed to finish (each is
//! bounded by its client's timeout), so a run that ends normally leaves no operation
//! without a completion.

use crate::client::{Client, ClientFactory, Target};
use crate::generator::{Generator, RateLimiter};
use crate::op::{Completion, Op, Outcome};
use crate::recorder::Recorder;
use crate::sessions::{NodeChooser, Sessions};
use checker::history::{Event, EventType, Process};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What the client phase of a test does.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Logical client processes running at once.
    pub concurrency: usize,
    /// How long the processes keep invoking operations.
    pub time_limit: Duration,
    /// Operations per second over all processes; 0 for as fast as they can go.
    pub rate: f64,
    /// How processes pick the node of each operation.
    pub sessions: Sessions,
    /// The test's seed: roaming processes draw their nodes from streams derived
    /// from it (sticky ones ignore it).
    pub seed: u64,
}

/// One process's clients, one per node it has sent an operation to, opened on first
/// use: a sticky process opens one, a roaming one no more than it visits. They all
/// come from the one factory, so a protocol's connection pool stays shared. Retiring
/// the process drops them, so its successor starts with fresh clients.
struct ProcessClients {
    factory: Arc<dyn ClientFactory>,
    targets: Arc<[Target]>,
    open: Vec<Option<Arc<dyn Client>>>,
}

impl ProcessClients {
    fn new(factory: Arc<dyn ClientFactory>, targets: Arc<[Target]>) -> ProcessClients {
        let open = vec![None; targets.len()];
        ProcessClients {
            factory,
            targets,
            open,
        }
    }

    /// The client of node `node` (an index into the targets), opened if need be.
    fn get(&mut self, node: usize) -> anyhow::Result<Arc<dyn Client>> {
        if let Some(client) = &self.open[node] {
            return Ok(Arc::clone(client));
        }
        let client = self.factory.open(&self.targets[node])?;
        self.open[node] = Some(Arc::clone(&client));
        Ok(client)
    }

    fn retire(&mut self) {
        self.open.iter_mut().for_each(|c| *c = None);
    }
}

/// What the client phase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub invoked: u64,
    /// Processes retired after an `info`.
    pub retired: u64,
    /// A process id above every id used: where later phases (final reads) number from.
    pub next_process: u64,
}

fn invoke_event(process: u64, op: &Op, node: &str) -> Event {
    Event::new(
        0,
        0,
        Process::Client(process),
        EventType::Invoke,
        op.history_f(),
    )
    .with_key(Value::from(op.key))
    .with_value(op.history_value())
    .with_node(node)
}

fn completion_event(process: u64, op: &Op, node: &str, c: Completion) -> Event {
    let mut e = Event::new(
        0,
        0,
        Process::Client(process),
        c.outcome.event_type(),
        op.history_f(),
    )
    .with_key(Value::from(op.key))
    .with_value(c.value)
    .with_node(node);
    e.error = c.error;
    e.version = c.version;
    e
}

/// Runs the client processes until `options.time_limit` has passed or `stop` turns
/// true. Fails only if the history cannot be written (or a client cannot be opened),
/// because a test whose history has holes must not be checked.
pub async fn run_clients(
    options: &RunOptions,
    targets: &[Target],
    factory: Arc<dyn ClientFactory>,
    generator: Arc<Mutex<Generator>>,
    recorder: Arc<Recorder>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<RunSummary> {
    anyhow::ensure!(!targets.is_empty(), "no nodes to run clients against");
    anyhow::ensure!(options.concurrency > 0, "concurrency must be at least 1");
    let deadline = Instant::now() + options.time_limit;
    let limiter = Arc::new(RateLimiter::new(options.rate));
    let retired = Arc::new(AtomicU64::new(0));
    let concurrency = options.concurrency as u64;
    let mut tasks = tokio::task::JoinSet::new();
    let shared_targets: Arc<[Target]> = targets.into();
    for worker in 0..options.concurrency {
        let mut chooser = NodeChooser::new(options.sessions, options.seed, worker, targets.len());
        let mut clients = ProcessClients::new(Arc::clone(&factory), Arc::clone(&shared_targets));
        let generator = Arc::clone(&generator);
        let recorder = Arc::clone(&recorder);
        let limiter = Arc::clone(&limiter);
        let retired = Arc::clone(&retired);
        let mut stop = stop.clone();
        tasks.spawn(async move {
            let mut process = worker as u64;
            let mut invoked = 0u64;
            loop {
                if *stop.borrow() || Instant::now() >= deadline {
                    break;
                }
                if let Some(at) = limiter.reserve() {
                    if at >= deadline {
                        break;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(at.into()) => {}
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                let node = chooser.next_node();
                let client = clients.get(node)?;
                let node_id = &clients.targets[node].id;
                let op = generator
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .next_op();
                recorder.record(invoke_event(process, &op, node_id))?;
                invoked += 1;
                let completion = crate::composite::perform(&*client, &op).await;
                let outcome = completion.outcome;
                recorder.record(completion_event(process, &op, node_id, completion))?;
                if outcome == Outcome::Info {
                    retired.fetch_add(1, Ordering::Relaxed);
                    process += concurrency;
                    clients.retire();
                }
            }
            anyhow::Ok((invoked, process))
        });
    }
    let mut summary = RunSummary {
        invoked: 0,
        retired: 0,
        next_process: concurrency,
    };
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((invoked, last_process))) => {
                summary.invoked += invoked;
                summary.next_process = summary.next_process.max(last_process + 1);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(anyhow::anyhow!("a client task failed: {join}"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    summary.retired = retired.load(Ordering::Relaxed);
    Ok(summary)
}

/// What the final reads found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FinalReadSummary {
    /// `ok` reads, over all nodes.
    pub ok: u64,
    /// `(node, key)` pairs that could not be read before the deadline.
    pub unread: Vec<(String, u64)>,
    /// The lowest process id not used.
    pub next_process: u64,
}

/// Reads every key from every node (`f` = `final-read`), after the cluster was healed
/// and given time to recover: what the eventual-consistency checker compares, and,
/// for linearizable systems, the last word on every key. A failed read is retried
/// (each attempt recorded) until it succeeds or `deadline` passes.
pub async fn final_reads(
    targets: &[Target],
    keys: std::ops::Range<u64>,
    factory: Arc<dyn ClientFactory>,
    recorder: Arc<Recorder>,
    first_process: u64,
    deadline: Instant,
) -> anyhow::Result<FinalReadSummary> {
    let ops: Vec<Op> = keys.map(Op::final_read).collect();
    final_reads_of(targets, ops, factory, recorder, first_process, deadline).await
}

/// [`final_reads`] of the given operations (each a `final-read`, as the workload
/// reads: [`crate::generator::Generator::final_read_ops`]), on every node.
pub async fn final_reads_of(
    targets: &[Target],
    ops: Vec<Op>,
    factory: Arc<dyn ClientFactory>,
    recorder: Arc<Recorder>,
    first_process: u64,
    deadline: Instant,
) -> anyhow::Result<FinalReadSummary> {
    let next_process = Arc::new(AtomicU64::new(first_process));
    let mut tasks = tokio::task::JoinSet::new();
    for target in targets.iter().cloned() {
        let factory = Arc::clone(&factory);
        let recorder = Arc::clone(&recorder);
        let next_process = Arc::clone(&next_process);
        let ops = ops.clone();
        tasks.spawn(async move {
            let mut client = factory.open(&target)?;
            let mut process = next_process.fetch_add(1, Ordering::SeqCst);
            let mut ok = 0u64;
            let mut unread = Vec::new();
            for op in ops {
                let key = op.key;
                loop {
                    recorder.record(invoke_event(process, &op, &target.id))?;
                    let completion = crate::composite::perform(&*client, &op).await;
                    let outcome = completion.outcome;
                    recorder.record(completion_event(process, &op, &target.id, completion))?;
                    match outcome {
                        Outcome::Ok => {
                            ok += 1;
                            break;
                        }
                        Outcome::Info => {
                            process = next_process.fetch_add(1, Ordering::SeqCst);
                            client = factory.open(&target)?;
                        }
                        Outcome::Fail => {}
                    }
                    if Instant::now() >= deadline {
                        unread.push((target.id.clone(), key));
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            anyhow::Ok((ok, unread))
        });
    }
    let mut summary = FinalReadSummary::default();
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok((ok, unread))) => {
                summary.ok += ok;
                summary.unread.extend(unread);
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => {
                first_error.get_or_insert(anyhow::anyhow!("a final-read task failed: {join}"));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    summary.unread.sort();
    summary.next_process = next_process.load(Ordering::SeqCst);
    Ok(summary)
}
