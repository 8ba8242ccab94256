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
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
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

    /// The client of node `node` (an index into the targets) for `process`, opened
    /// if need be.
    fn get(&mut self, node: usize, process: u64) -> anyhow::Result<Arc<dyn Client>> {
        if let Some(client) = &self.open[node] {
            return Ok(Arc::clone(client));
        }
        let client = self.factory.open_process(process, &self.targets[node])?;
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
    /// Operations invoked (attempts), whatever their outcome.
    pub invoked: u64,
    /// Operations that completed `ok`: the work the system actually did.
    pub ok: u64,
    /// Operations that completed `fail` (certainly without effect).
    pub failed: u64,
    /// Of the `failed`, those that never reached their node (connection refused, no
    /// route): each was followed by a back-off pause ([`Backoff`]).
    pub unreached: u64,
    /// Processes retired after an `info`.
    pub retired: u64,
    /// A process id above every id used: where later phases (final reads) number from.
    pub next_process: u64,
    /// How long the client phase ran, from start to the last completion.
    pub elapsed: Duration,
}

impl RunSummary {
    /// Attempts per second: how hard the clients pushed, useful or not.
    pub fn attempts_per_second(&self) -> f64 {
        per_second(self.invoked, self.elapsed)
    }

    /// `ok` operations per second: the throughput the system delivered. Far below
    /// [`RunSummary::attempts_per_second`] means most attempts failed.
    pub fn ok_per_second(&self) -> f64 {
        per_second(self.ok, self.elapsed)
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        count as f64 / secs
    } else {
        0.0
    }
}

/// The pause a client process takes after an operation that never reached its node
/// (connection refused, no route), before its next operation.
///
/// Without it, with `--rate 0` a process bound to a dead node retries as fast as the
/// kernel refuses connections, thousands of times a second: the history fills with
/// failures that say nothing new, and the CPU they burn slows the live nodes. The
/// pause starts at [`Backoff::FIRST`], doubles with each further unreached failure up
/// to [`Backoff::LONGEST`], and is drawn between half and all of that from a stream
/// seeded by the test's seed (so processes do not retry in lockstep, and a run is
/// repeatable). Any `ok` resets it. Other outcomes neither pause nor reset it: a node
/// that answers, even with an error, is not hammered in a tight loop of refusals.
#[derive(Debug, Clone)]
pub struct Backoff {
    /// Unreached failures since the last `ok`.
    streak: u32,
    rng: SmallRng,
}

impl Backoff {
    /// The pause after the first unreached failure (before jitter).
    pub const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    pub const LONGEST: Duration = Duration::from_secs(1);

    /// The back-off of worker `worker` in a test with `seed`.
    pub fn new(seed: u64, worker: usize) -> Backoff {
        let stream = seed ^ 0x6261_636b_6f66_6600 ^ (worker as u64).wrapping_mul(0x9e37_79b9);
        Backoff {
            streak: 0,
            rng: SmallRng::seed_from_u64(stream),
        }
    }

    /// Notes how an operation ended; the pause to take before the next one, if any.
    pub fn after(&mut self, completion: &Completion) -> Option<Duration> {
        if completion.outcome == Outcome::Ok {
            self.streak = 0;
            return None;
        }
        if !completion.unreached {
            return None;
        }
        let ceiling = Backoff::FIRST
            .saturating_mul(1 << self.streak.min(16))
            .min(Backoff::LONGEST);
        self.streak = self.streak.saturating_add(1);
        Some(ceiling.mul_f64(self.rng.gen_range(0.5..=1.0)))
    }
}

fn invoke_event(process: u64, op: &Op, node: &str) -> Event {
    let e = Event::new(
        0,
        0,
        Process::Client(process),
        EventType::Invoke,
        op.history_f(),
    )
    .with_value(op.history_value())
    .with_node(node);
    with_op_key(e, op)
}

/// A transaction names its keys in its micro-ops; every other operation has one.
fn with_op_key(e: Event, op: &Op) -> Event {
    if op.f == crate::op::OpFn::Txn {
        e
    } else {
        e.with_key(Value::from(op.key))
    }
}

fn completion_event(process: u64, op: &Op, node: &str, c: Completion) -> Event {
    let mut e = Event::new(
        0,
        0,
        Process::Client(process),
        c.outcome.event_type(),
        op.history_f(),
    )
    .with_value(c.value)
    .with_node(node);
    e = with_op_key(e, op);
    e.error = c.error;
    e.version = c.version;
    e
}

/// What one worker did, summed into the [`RunSummary`].
#[derive(Debug, Default)]
struct WorkerTally {
    invoked: u64,
    ok: u64,
    failed: u64,
    unreached: u64,
    retired: u64,
    /// The process the worker ended as.
    last_process: u64,
}

/// What every worker shares.
#[derive(Clone)]
struct Shared {
    deadline: Instant,
    concurrency: u64,
    generator: Arc<Mutex<Generator>>,
    recorder: Arc<Recorder>,
    limiter: Arc<RateLimiter>,
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
    let targets: Arc<[Target]> = targets.into();
    let prepared = open_first_clients(options, &targets, &factory).await?;
    let started = Instant::now();
    let shared = Shared {
        deadline: started + options.time_limit,
        concurrency: options.concurrency as u64,
        generator,
        recorder,
        limiter: Arc::new(RateLimiter::new(options.rate)),
    };
    let mut tasks = tokio::task::JoinSet::new();
    for (worker, clients) in prepared.into_iter().enumerate() {
        let chooser = NodeChooser::new(options.sessions, options.seed, worker, targets.len());
        let backoff = Backoff::new(options.seed, worker);
        tasks.spawn(run_worker(
            shared.clone(),
            worker,
            clients,
            chooser,
            backoff,
            stop.clone(),
        ));
    }
    let mut summary = RunSummary {
        invoked: 0,
        ok: 0,
        failed: 0,
        unreached: 0,
        retired: 0,
        next_process: shared.concurrency,
        elapsed: Duration::ZERO,
    };
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(t)) => {
                summary.invoked += t.invoked;
                summary.ok += t.ok;
                summary.failed += t.failed;
                summary.unreached += t.unreached;
                summary.retired += t.retired;
                summary.next_process = summary.next_process.max(t.last_process + 1);
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
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Opens every worker's first client (process `w` to the node its first operation
/// goes to) and gets them ready, all at once, before the clock starts: a client that
/// cannot work at all (an adapter whose `init` fails) stops the run here, before
/// anything is recorded, and an adapter's start-up is not charged to the time limit.
async fn open_first_clients(
    options: &RunOptions,
    targets: &Arc<[Target]>,
    factory: &Arc<dyn ClientFactory>,
) -> anyhow::Result<Vec<ProcessClients>> {
    let mut all = Vec::with_capacity(options.concurrency);
    let mut readying = tokio::task::JoinSet::new();
    for worker in 0..options.concurrency {
        let mut clients = ProcessClients::new(Arc::clone(factory), Arc::clone(targets));
        let first =
            NodeChooser::new(options.sessions, options.seed, worker, targets.len()).next_node();
        let client = clients.get(first, worker as u64)?;
        readying.spawn(async move { client.ready().await });
        all.push(clients);
    }
    while let Some(joined) = readying.join_next().await {
        joined.map_err(|e| anyhow::anyhow!("a client failed to start: {e}"))??;
    }
    Ok(all)
}

/// One worker: runs process after process, one operation at a time, until the
/// deadline or `stop`. Kept apart from [`run_clients`] so that the life of one
/// process (pace, pick a node, invoke, record, retire or back off) reads in one place.
async fn run_worker(
    shared: Shared,
    worker: usize,
    mut clients: ProcessClients,
    mut chooser: NodeChooser,
    mut backoff: Backoff,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<WorkerTally> {
    let deadline = shared.deadline;
    let mut tally = WorkerTally {
        last_process: worker as u64,
        ..WorkerTally::default()
    };
    loop {
        if *stop.borrow() || Instant::now() >= deadline {
            break;
        }
        if let Some(at) = shared.limiter.reserve() {
            if at >= deadline || !pause_until(at, &mut stop).await {
                break;
            }
        }
        let node = chooser.next_node();
        let client = clients.get(node, tally.last_process)?;
        let node_id = &clients.targets[node].id;
        let op = shared
            .generator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .next_op();
        let process = tally.last_process;
        shared
            .recorder
            .record(invoke_event(process, &op, node_id))?;
        tally.invoked += 1;
        let completion = crate::composite::perform(&*client, &op).await;
        let pause = backoff.after(&completion);
        match completion.outcome {
            Outcome::Ok => tally.ok += 1,
            Outcome::Fail => tally.failed += 1,
            Outcome::Info => tally.retired += 1,
        }
        tally.unreached += u64::from(completion.unreached);
        let retire = completion.outcome == Outcome::Info;
        shared
            .recorder
            .record(completion_event(process, &op, node_id, completion))?;
        if retire {
            tally.last_process += shared.concurrency;
            clients.retire();
        }
        if let Some(pause) = pause {
            let until = (Instant::now() + pause).min(deadline);
            if !pause_until(until, &mut stop).await {
                break;
            }
        }
    }
    Ok(tally)
}

/// Sleeps until `at`; false if `stop` turned true first.
async fn pause_until(at: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(at.into()) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
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
            let mut process = next_process.fetch_add(1, Ordering::SeqCst);
            let mut client = factory.open_process(process, &target)?;
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
                            client = factory.open_process(process, &target)?;
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
