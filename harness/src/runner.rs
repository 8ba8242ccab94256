//! One test, start to finish: results folder, cluster up, the workload and the fault
//! schedule side by side, the final heal, recovery, final reads from every node,
//! teardown (always: on success, on error and on Ctrl-C), then the checks and the
//! results.
//!
//! The runner is generic over [`SystemUnderTest`], which the real [`Cluster`]
//! implements; tests drive the same code against an in-process fake.

use crate::checks::{self, CheckResult};
use crate::config::TestConfig;
use crate::progress;
use crate::results::{self, TestRecord};
use anyhow::{Context, Result};
use checker::history::parse_jsonl;
use checker::verdict::Verdict;
use harness::cluster::{Cluster, ClusterOptions};
use harness::system::{ClientProtocol, SystemSpec};
use nemesis::control::ClusterControl;
use nemesis::{Nemesis, NemesisEvent, Schedule, Stage};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use workloads::client::{ClientFactory, KvClientFactory, Target};
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::recorder::Recorder;
use workloads::runner::{final_reads_of, run_clients, FinalReadSummary, RunOptions};

/// What the runner needs from a cluster beyond what the nemesis needs.
pub trait SystemUnderTest: ClusterControl + 'static {
    /// Where clients send requests, one per node, in node order.
    fn targets(&self) -> Vec<Target>;
    /// Waits until every node is ready again after the final heal.
    fn wait_recovered(&self, timeout: Duration) -> impl Future<Output = Result<()>> + Send;
    /// Removes everything the cluster created. Idempotent.
    fn teardown(&self) -> impl Future<Output = Result<()>> + Send;
}

impl SystemUnderTest for Cluster {
    fn targets(&self) -> Vec<Target> {
        self.nodes()
            .iter()
            .map(|n| Target {
                id: n.id.clone(),
                url: n.url(),
            })
            .collect()
    }

    fn wait_recovered(&self, timeout: Duration) -> impl Future<Output = Result<()>> + Send {
        self.wait_all_ready(timeout)
    }

    fn teardown(&self) -> impl Future<Output = Result<()>> + Send {
        Cluster::teardown(self)
    }
}

/// How a test ended.
#[derive(Debug)]
pub struct TestOutcome {
    /// The combined verdict of the checks, if the history could be checked.
    pub verdict: Option<Verdict>,
    /// What stopped the harness from doing its job, if anything.
    pub error: Option<String>,
    pub interrupted: bool,
    /// The error is the user's (a setting the system cannot honour), not the harness's.
    pub bad_input: bool,
    pub run_dir: Option<PathBuf>,
}

impl TestOutcome {
    fn harness_error(error: String, run_dir: Option<PathBuf>) -> TestOutcome {
        TestOutcome {
            verdict: None,
            error: Some(error),
            interrupted: false,
            bad_input: false,
            run_dir,
        }
    }

    fn bad_input(error: String) -> TestOutcome {
        TestOutcome {
            bad_input: true,
            ..TestOutcome::harness_error(error, None)
        }
    }
}

/// The coarse fault classes a system declares support for (`SystemSpec::faults`)
/// that a kind needs: one for a single kind, one per part for a composition.
fn fault_classes(kind: &nemesis::FaultKind) -> Vec<harness::system::FaultKind> {
    use harness::system::FaultKind as Class;
    use nemesis::FaultKind as K;
    match kind {
        K::Partition(_) => vec![Class::Partition],
        K::Kill | K::KillAll | K::KillLeader => vec![Class::Kill],
        K::Pause | K::PauseLeader => vec![Class::Pause],
        K::ClockBump | K::ClockStrobe => vec![Class::Clock],
        K::Loss | K::Delay | K::Reorder | K::Duplicate => vec![Class::Packet],
        K::Composed(parts) => parts.iter().flat_map(fault_classes).collect(),
    }
}

/// Refuses fault kinds the system says make no sense for it, before anything starts.
fn check_faults_supported(config: &TestConfig, spec: &SystemSpec) -> Result<(), String> {
    let unsupported: Vec<String> = config
        .fault_kinds()
        .into_iter()
        .filter(|k| {
            fault_classes(k)
                .into_iter()
                .any(|c| !spec.faults.supports(c))
        })
        .map(|k| k.name())
        .collect();
    if unsupported.is_empty() {
        return Ok(());
    }
    let supported: Vec<&str> = spec.faults.kinds().iter().map(|k| k.name()).collect();
    let clock_refused = !spec.faults.clock
        && config
            .fault_kinds()
            .iter()
            .any(|k| fault_classes(k).contains(&harness::system::FaultKind::Clock));
    let why = if !clock_refused {
        ""
    } else if spec.protocol == ClientProtocol::Etcd {
        "; etcd reads time without libc (Go's runtime calls the vDSO directly), so libfaketime cannot move its clock"
    } else {
        "; libfaketime only moves clocks read through libc"
    };
    Err(format!(
        "--nemesis: {} does not support {} (it supports: {}){why}",
        spec.origin(),
        unsupported.join(", "),
        if supported.is_empty() {
            "none".to_string()
        } else {
            supported.join(", ")
        }
    ))
}

/// The client factory for a system's protocol, with the test's client settings.
/// A setting for another protocol's client (`--etcd-reads` on a Redis test, say) is
/// refused rather than silently ignored.
pub fn client_factory(
    protocol: ClientProtocol,
    config: &TestConfig,
) -> Result<Arc<dyn ClientFactory>> {
    let timeout = config.client_timeout;
    if config.etcd_reads != workloads::etcd::EtcdReads::default()
        && protocol != ClientProtocol::Etcd
    {
        anyhow::bail!(
            "--etcd-reads: applies to etcd only, and this system speaks the {protocol} protocol"
        );
    }
    if config.redis_wait > 0 && protocol != ClientProtocol::Redis {
        anyhow::bail!(
            "--redis-wait: applies to Redis only, and this system speaks the {protocol} protocol"
        );
    }
    match protocol {
        ClientProtocol::Kv => Ok(Arc::new(KvClientFactory::new(timeout)?)),
        ClientProtocol::Etcd => Ok(Arc::new(workloads::etcd::EtcdClientFactory::new(
            timeout,
            config.etcd_reads,
        )?)),
        ClientProtocol::Redis => Ok(Arc::new(workloads::redis::RedisClientFactory::new(
            workloads::redis::RedisOptions::new(timeout, config.redis_wait),
        ))),
        #[allow(unreachable_patterns)]
        other => anyhow::bail!("no client for the {other} protocol yet"),
    }
}

/// Refuses a workload the system cannot run soundly, before anything starts. The bank
/// workload needs atomic transfers between accounts and whole-bank reads, which the
/// KV protocol cannot express (a transfer changes two keys, and no KV operation does
/// that atomically), so it runs against cl-bank only; cl-bank speaks nothing else.
fn check_workload_supported(config: &TestConfig, spec: &SystemSpec) -> Result<(), String> {
    let is_bank_system = spec.name == "cl-bank";
    if config.workload == Workload::Bank && !is_bank_system {
        return Err(format!(
            "--workload bank: {} cannot run it: a transfer must move money between two accounts atomically, which the KV protocol (docs/protocol.md) cannot express; the bank workload needs a system with `POST /transfer` and `POST /snapshot` (--system cl-bank)",
            spec.origin()
        ));
    }
    if is_bank_system && config.workload != Workload::Bank {
        return Err(format!(
            "--workload {}: cl-bank is a bank (transfers and snapshots), not a key-value store; use --workload bank",
            config.workload
        ));
    }
    if is_bank_system {
        // The bank checker's expected total is the workload's accounts times their
        // initial balance, which are cl-bank's defaults.
        if let Some(a) = config
            .system_args
            .iter()
            .find(|a| a.starts_with("--accounts") || a.starts_with("--initial-balance"))
        {
            return Err(format!(
                "--system-arg {a}: the bank workload uses {} accounts of {} each (cl-bank's defaults); other bank sizes are not supported",
                workloads::generator::BANK_ACCOUNTS,
                workloads::generator::BANK_INITIAL_BALANCE
            ));
        }
    }
    Ok(())
}

/// Runs one test of `config` against a real cluster of its system.
pub async fn run_real(
    config: &TestConfig,
    test_number: u32,
    interrupt: watch::Receiver<bool>,
) -> TestOutcome {
    let spec = match SystemSpec::resolve(&config.system) {
        Ok(s) => s.with_extra_args(config.system_args.iter().cloned()),
        Err(e) => return TestOutcome::bad_input(format!("--system: {e:#}")),
    };
    if let Err(e) = check_faults_supported(config, &spec) {
        return TestOutcome::bad_input(e);
    }
    if let Err(e) = check_workload_supported(config, &spec) {
        return TestOutcome::bad_input(e);
    }
    let factory = if config.workload == Workload::Bank {
        match workloads::bank::BankClientFactory::new(config.client_timeout) {
            Ok(f) => Arc::new(f) as Arc<dyn ClientFactory>,
            Err(e) => return TestOutcome::bad_input(format!("{e:#}")),
        }
    } else {
        match client_factory(spec.protocol, config) {
            Ok(f) => f,
            Err(e) => return TestOutcome::bad_input(format!("{e:#}")),
        }
    };
    let clock_faults = config.fault_kinds().iter().any(|k| k.is_clock());
    let start = move |run_dir: PathBuf, run_id: String| async move {
        let mut options = ClusterOptions::new(spec, config.nodes, run_dir);
        options.run_id = run_id;
        options.clock_faults = clock_faults;
        // This runner handles Ctrl-C itself, to heal, tear down and keep the history.
        options.handle_signals = false;
        Cluster::start(options).await
    };
    run_test(config, test_number, start, factory, interrupt).await
}

/// Runs one test against the cluster `start` brings up.
pub async fn run_test<C, F, Fut>(
    config: &TestConfig,
    test_number: u32,
    start: F,
    factory: Arc<dyn ClientFactory>,
    interrupt: watch::Receiver<bool>,
) -> TestOutcome
where
    C: SystemUnderTest,
    F: FnOnce(PathBuf, String) -> Fut,
    Fut: Future<Output = Result<C>>,
{
    let started_at = chrono::Utc::now();
    let t0 = Instant::now();
    let run_id = harness::cluster::naming::new_run_id();
    let run_dir = match results::create_run_dir(&config.results_dir, &config.name) {
        Ok(d) => d,
        Err(e) => return TestOutcome::harness_error(e, None),
    };
    // test.toml holds every setting, so it replays the test exactly.
    let replay = format!(
        "faultline test --config {}",
        run_dir.join("test.toml").display()
    );
    let record = TestRecord {
        faultline_version: env!("CARGO_PKG_VERSION"),
        command_line: std::env::args().collect(),
        test_number,
        run_id: &run_id,
        started_at: started_at.to_rfc3339(),
        config,
        replay: replay.clone(),
    };
    let written = results::write_file(
        &run_dir.join("test.json"),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&record).expect("the record serializes")
        )
        .as_bytes(),
    )
    .and_then(|()| {
        results::write_file(
            &run_dir.join("test.toml"),
            results::test_toml(config, &run_dir).as_bytes(),
        )
    });
    if let Err(e) = written {
        return TestOutcome::harness_error(
            format!("writing {}: {e}", run_dir.display()),
            Some(run_dir),
        );
    }
    if let Err(e) = results::update_latest(&config.results_dir, &run_dir) {
        eprintln!(
            "faultline: cannot update {}/latest: {e}",
            config.results_dir.display()
        );
    }
    eprintln!(
        "faultline test {} ({}/{}): seed {}, run {run_id}, results in {}",
        config.name,
        test_number,
        config.test_count,
        config.seed,
        run_dir.display()
    );

    let mut timings: BTreeMap<&'static str, f64> = BTreeMap::new();
    let cluster = match start(run_dir.clone(), run_id.clone()).await {
        Ok(c) => Arc::new(c),
        Err(e) => {
            let error = format!("starting the cluster: {e:#}");
            write_error_results(&run_dir, config, &run_id, &error);
            return TestOutcome::harness_error(error, Some(run_dir));
        }
    };
    timings.insert("cluster_start", t0.elapsed().as_secs_f64());

    let drive_started = Instant::now();
    let driven = drive(&cluster, config, &run_dir, factory, interrupt.clone()).await;
    timings.insert("run", drive_started.elapsed().as_secs_f64());
    // Teardown, whatever happened above. (The cluster's Drop would do it too, but
    // here its errors are seen and reported.)
    let teardown_started = Instant::now();
    let torn = cluster.teardown().await;
    drop(cluster);
    timings.insert("teardown", teardown_started.elapsed().as_secs_f64());

    let mut driven = match driven {
        Ok(d) => d,
        Err(e) => {
            let mut error = format!("{e:#}");
            if let Err(t) = torn {
                error.push_str(&format!(" (and tearing the cluster down failed: {t:#})"));
            }
            write_error_results(&run_dir, config, &run_id, &error);
            return TestOutcome::harness_error(error, Some(run_dir));
        }
    };
    if let Err(e) = torn {
        // The run itself is sound; a leftover is the harness's fault and must fail CI.
        let error = format!("tearing the cluster down: {e:#} (run `faultline clean`)");
        driven.warnings.push(error);
    }

    // Check the history as stored on disk: exactly what `faultline check` reads.
    let check_started = Instant::now();
    let history_path = run_dir.join("history.jsonl");
    let history = match std::fs::read_to_string(&history_path)
        .map_err(|e| e.to_string())
        .and_then(|text| parse_jsonl(&text).map_err(|e| e.to_string()))
    {
        Ok(h) => h,
        Err(e) => {
            let error = format!(
                "the recorded history {} cannot be read back: {e}",
                history_path.display()
            );
            write_error_results(&run_dir, config, &run_id, &error);
            return TestOutcome::harness_error(error, Some(run_dir));
        }
    };
    let node_ids: Vec<String> = driven.targets.iter().map(|t| t.id.clone()).collect();
    let shown_path = history_path.display().to_string();
    let checked = {
        let config = config.clone();
        let history = history.clone();
        tokio::task::spawn_blocking(move || {
            checks::run_checks(&history, &config, &node_ids, &shown_path)
        })
        .await
    };
    let checks: Vec<CheckResult> = match checked {
        Ok(c) => c,
        Err(e) => {
            let error = format!("a checker panicked: {e}");
            write_error_results(&run_dir, config, &run_id, &error);
            return TestOutcome::harness_error(error, Some(run_dir));
        }
    };
    timings.insert("check", check_started.elapsed().as_secs_f64());
    timings.insert("total", t0.elapsed().as_secs_f64());

    let verdict = Verdict::all(checks.iter().map(|c| c.verdict));
    let hierarchy = checks::placement(&checks);
    let stats = results::stats(&history);
    let results = results::Results {
        verdict,
        name: &config.name,
        seed: config.seed,
        run_id: &run_id,
        checks: &checks,
        stats: &stats,
        counterexample: results::first_counterexample(&checks),
        hierarchy: hierarchy.clone(),
        nemesis: driven.nemesis.clone(),
        final_reads: json!({
            "ok": driven.final_reads.ok,
            "unread": driven.final_reads.unread.iter().map(|(n, k)| json!({"node": n, "key": k})).collect::<Vec<_>>(),
        }),
        warnings: &driven.warnings,
        timings_s: timings,
    };
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&results).expect("results serialize")
    );
    if let Err(e) = results::write_file(&run_dir.join("results.json"), text.as_bytes()) {
        return TestOutcome::harness_error(format!("writing results.json: {e}"), Some(run_dir));
    }

    println!();
    print!("{}", results::summary_table(&stats, &checks));
    for w in &driven.warnings {
        println!("warning: {w}");
    }
    if let Some(c) = checks.iter().find(|c| c.verdict == Verdict::Invalid) {
        if let Some(ce) = c.report.get("counterexample").filter(|v| !v.is_null()) {
            if let Ok(ce) =
                serde_json::from_value::<checker::linearizability::Counterexample>(ce.clone())
            {
                println!("\n{} counterexample:\n{ce}", c.name);
            }
        }
    }
    let partial = if driven.interrupted {
        "  (interrupted: the history is partial)"
    } else {
        ""
    };
    println!(
        "\nverdict: {verdict}   seed {}   {}{partial}",
        config.seed,
        run_dir.display()
    );
    if verdict != Verdict::Valid {
        println!("replay: {replay}");
    }
    // The last line: where the history sits among the consistency models.
    match &hierarchy {
        Some(p) => println!("{}", p.line),
        None => println!(
            "no consistency model checked (the {} workload is judged by its invariant)",
            config.workload
        ),
    }
    let interrupted = driven.interrupted;
    let error = if interrupted {
        Some("interrupted".to_string())
    } else {
        None
    };
    TestOutcome {
        verdict: Some(verdict),
        error,
        interrupted,
        bad_input: false,
        run_dir: Some(run_dir),
    }
}

fn write_error_results(run_dir: &Path, config: &TestConfig, run_id: &str, error: &str) {
    let doc = json!({ "verdict": Value::Null, "error": error, "name": config.name, "seed": config.seed, "run_id": run_id });
    let _ = results::write_file(
        &run_dir.join("results.json"),
        format!("{doc:#}\n").as_bytes(),
    );
}

/// What the part of a test that needs the cluster produced.
struct Driven {
    targets: Vec<Target>,
    nemesis: Value,
    final_reads: FinalReadSummary,
    warnings: Vec<String>,
    interrupted: bool,
}

/// Workload and nemesis side by side, final heal, recovery, final reads. The nemesis
/// is healed and torn down on every path out of here, errors included.
async fn drive<C: SystemUnderTest>(
    cluster: &Arc<C>,
    config: &TestConfig,
    run_dir: &Path,
    factory: Arc<dyn ClientFactory>,
    interrupt: watch::Receiver<bool>,
) -> Result<Driven> {
    let kinds = config.fault_kinds();
    let mut nemesis = Nemesis::new(Arc::clone(cluster)).with_seed(config.seed);
    if !kinds.is_empty() {
        if let Err(e) = nemesis.prepare(&kinds).await {
            let _ = nemesis.teardown().await;
            return Err(e.context("preparing the nemesis"));
        }
    }
    let result = drive_with(
        cluster,
        config,
        run_dir,
        factory,
        interrupt,
        &mut nemesis,
        kinds,
    )
    .await;
    let torn = nemesis.teardown().await;
    let mut driven = result?;
    if let Err(e) = torn {
        driven
            .warnings
            .push(format!("removing the nemesis's rules: {e:#}"));
    }
    Ok(driven)
}

async fn drive_with<C: SystemUnderTest>(
    cluster: &Arc<C>,
    config: &TestConfig,
    run_dir: &Path,
    factory: Arc<dyn ClientFactory>,
    mut interrupt: watch::Receiver<bool>,
    nemesis: &mut Nemesis<C>,
    kinds: Vec<nemesis::FaultKind>,
) -> Result<Driven> {
    let history_path = run_dir.join("history.jsonl");
    let recorder = Arc::new(
        Recorder::create(&history_path)
            .with_context(|| format!("creating {}", history_path.display()))?,
    );
    let targets = cluster.targets();
    let generator = Arc::new(Mutex::new(Generator::new(
        config.workload,
        config.seed,
        KeyOptions {
            active_keys: config.keys,
            ops_per_key: config.ops_per_key,
        },
    )));
    let mut warnings: Vec<String> = Vec::new();

    // Progress.
    let (progress_stop, progress_rx) = watch::channel(false);
    let progress_task = if config.quiet {
        None
    } else {
        let status = nemesis.status_handle();
        let faults: progress::FaultStatus = Arc::new(move || status.current());
        Some(tokio::spawn(progress::run(
            Arc::clone(&recorder),
            config.time_limit,
            faults,
            progress_rx,
        )))
    };

    // The workload and the fault schedule, side by side, for the time limit.
    let options = RunOptions {
        concurrency: config.concurrency,
        time_limit: config.time_limit,
        rate: config.rate,
        sessions: config.sessions,
        seed: config.seed,
    };
    let clients = run_clients(
        &options,
        &targets,
        Arc::clone(&factory),
        Arc::clone(&generator),
        Arc::clone(&recorder),
        interrupt.clone(),
    );
    let record_errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let nemesis_events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let on_event = {
        let recorder = Arc::clone(&recorder);
        let record_errors = Arc::clone(&record_errors);
        let nemesis_events = Arc::clone(&nemesis_events);
        move |event: NemesisEvent| record_nemesis(&recorder, &record_errors, &nemesis_events, event)
    };
    let schedule_summary = async {
        if kinds.is_empty() {
            return None;
        }
        let mut schedule = match Schedule::new(
            config.seed,
            config.nemesis_interval,
            kinds.clone(),
            targets.len(),
        ) {
            Ok(s) => s.with_params(config.fault_params()),
            Err(e) => return Some(Err(e.to_string())),
        };
        let mut interrupt = interrupt.clone();
        let until = async move {
            tokio::select! {
                _ = tokio::time::sleep(config.time_limit) => {}
                _ = interrupt.wait_for(|i| *i) => {}
            }
        };
        Some(Ok(nemesis
            .run_schedule(&mut schedule, until, on_event)
            .await))
    };
    let (clients, schedule_summary) = tokio::join!(clients, schedule_summary);
    let interrupted = *interrupt.borrow();

    // Heal everything, as the nemesis's last act (recorded, so the checkers know when
    // the quiet period began).
    let heal_value = json!({ "faults": nemesis.describe() });
    record_nemesis(
        &recorder,
        &record_errors,
        &nemesis_events,
        NemesisEvent {
            stage: Stage::Invoke,
            f: "heal-all".into(),
            value: heal_value.clone(),
            error: None,
            took: None,
            in_force: nemesis.describe(),
        },
    );
    let heal_started = Instant::now();
    let healed = nemesis.heal_all().await;
    record_nemesis(
        &recorder,
        &record_errors,
        &nemesis_events,
        NemesisEvent {
            stage: Stage::Complete,
            f: "heal-all".into(),
            value: heal_value,
            error: healed.as_ref().err().map(|e| format!("{e:#}")),
            took: Some(heal_started.elapsed()),
            in_force: nemesis.describe(),
        },
    );
    if let Err(e) = healed {
        warnings.push(format!("final heal: {e:#}"));
    }
    let client_summary = clients.context("running the clients")?;

    // Recovery, a quiet period, then the final reads from every node.
    let mut final_summary = FinalReadSummary::default();
    if !interrupted {
        if let Err(e) = cluster.wait_recovered(config.recovery_timeout).await {
            warnings.push(format!(
                "the cluster did not recover within {:?}: {e:#}",
                config.recovery_timeout
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(config.quiet_period) => {}
            _ = interrupt.wait_for(|i| *i) => {}
        }
        let reads = generator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .final_read_ops();
        let deadline = Instant::now() + config.recovery_timeout;
        final_summary = final_reads_of(
            &targets,
            reads,
            factory,
            Arc::clone(&recorder),
            client_summary.next_process,
            deadline,
        )
        .await
        .context("final reads")?;
        if !final_summary.unread.is_empty() {
            warnings.push(format!(
                "{} final reads got no answer before the deadline (first: node {} key {})",
                final_summary.unread.len(),
                final_summary.unread[0].0,
                final_summary.unread[0].1
            ));
        }
    }

    let _ = progress_stop.send(true);
    if let Some(t) = progress_task {
        let _ = t.await;
    }
    let events = recorder
        .finish()
        .with_context(|| format!("writing {}", history_path.display()))?;
    if let Some(e) = record_errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .first()
    {
        anyhow::bail!("recording a nemesis event: {e}");
    }
    let schedule = match schedule_summary {
        None => json!(null),
        Some(Ok(s)) => {
            for e in &s.errors {
                warnings.push(format!("nemesis: {e}"));
            }
            json!({ "started": s.started, "failed": s.failed, "errors": s.errors })
        }
        Some(Err(e)) => anyhow::bail!("the fault schedule: {e}"),
    };
    let nemesis_record = json!({
        "kinds": config.nemesis,
        "interval_s": config.nemesis_interval.as_secs_f64(),
        "clock_bump": config.clock_bump,
        "schedule": schedule,
        "events": std::mem::take(&mut *nemesis_events.lock().unwrap_or_else(|e| e.into_inner())),
        "history_events": events,
        "clients": { "invoked": client_summary.invoked, "retired": client_summary.retired },
    });
    Ok(Driven {
        targets,
        nemesis: nemesis_record,
        final_reads: final_summary,
        warnings,
        interrupted,
    })
}

/// Writes a nemesis event into the history (Jepsen's convention: both halves are
/// `info` events of process `nemesis`) and keeps a copy for results.json.
fn record_nemesis(
    recorder: &Recorder,
    errors: &Mutex<Vec<String>>,
    events: &Mutex<Vec<Value>>,
    event: NemesisEvent,
) {
    let mut e = checker::history::Event::new(
        0,
        0,
        checker::history::Process::Nemesis,
        checker::history::EventType::Info,
        event.f.clone(),
    )
    .with_value(event.value.clone());
    e.error = event.error.clone();
    match recorder.record(e) {
        Ok((index, time)) => events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(json!({
                "index": index,
                "time_s": time as f64 / 1e9,
                "stage": event.stage,
                "f": event.f,
                "error": event.error,
                "took_s": event.took.map(|d| d.as_secs_f64()),
                "in_force": event.in_force,
            })),
        Err(e) => errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    //! The whole pipeline in-process, against a fake cluster: nodes that are one
    //! in-memory store on loopback, where "kill" makes every node refuse definitely.

    use super::*;
    use crate::config::{resolve, TestArgs};
    use nemesis::control::NodeRef;
    use std::net::Ipv4Addr;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use workloads::fake_node::{self, Fake, Mode};

    struct FakeCluster {
        url: String,
        fake: Fake,
        nodes: usize,
        killed: Mutex<Vec<String>>,
        actions: AtomicUsize,
        torn_down: Arc<AtomicBool>,
        broken: bool,
    }

    impl FakeCluster {
        fn apply(&self) {
            let down = !self.killed.lock().unwrap().is_empty();
            self.fake.set_mode(match (down, self.broken) {
                (true, _) => Mode::Error {
                    status: 503,
                    code: "node-down",
                    definite: true,
                },
                (false, true) => Mode::LoseWrites,
                (false, false) => Mode::Normal,
            });
        }
    }

    impl ClusterControl for FakeCluster {
        fn nodes(&self) -> Vec<NodeRef> {
            (1..=self.nodes)
                .map(|i| NodeRef {
                    id: format!("n{i}"),
                    ip: Ipv4Addr::new(127, 0, 0, 1),
                    netns: "fltest-absent".into(),
                })
                .collect()
        }
        fn kill(&self, node: &str) -> Result<()> {
            self.actions.fetch_add(1, Ordering::SeqCst);
            self.killed.lock().unwrap().push(node.to_string());
            self.apply();
            Ok(())
        }
        fn restart(&self, node: &str) -> impl Future<Output = Result<()>> + Send {
            self.killed.lock().unwrap().retain(|n| n != node);
            self.apply();
            async { Ok(()) }
        }
        fn pause(&self, _node: &str) -> Result<()> {
            self.actions.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        fn resume(&self, _node: &str) -> Result<()> {
            Ok(())
        }
        async fn leader(&self) -> Option<String> {
            None
        }
        fn clock_file(&self, _node: &str) -> Result<PathBuf> {
            anyhow::bail!("the fake cluster has no clocks")
        }
    }

    impl SystemUnderTest for FakeCluster {
        fn targets(&self) -> Vec<Target> {
            (1..=self.nodes)
                .map(|i| Target {
                    id: format!("n{i}"),
                    url: self.url.clone(),
                })
                .collect()
        }
        async fn wait_recovered(&self, _timeout: Duration) -> Result<()> {
            Ok(())
        }
        fn teardown(&self) -> impl Future<Output = Result<()>> + Send {
            self.torn_down.store(true, Ordering::SeqCst);
            async { Ok(()) }
        }
    }

    async fn run_fake(broken: bool, results: &Path) -> (TestOutcome, Arc<AtomicBool>, TestConfig) {
        let args = TestArgs {
            nodes: Some(3),
            workload: Some("register".into()),
            time_limit: Some("2s".into()),
            nemesis: Some("kill,pause".into()),
            nemesis_interval: Some("300ms".into()),
            rate: Some(300.0),
            seed: Some(11),
            quiet_period: Some("50ms".into()),
            results_dir: Some(results.to_path_buf()),
            name: Some("fake".into()),
            quiet: true,
            ..Default::default()
        };
        let config = resolve(&args).unwrap();
        let (url, fake) = fake_node::start().await;
        let torn_down = Arc::new(AtomicBool::new(false));
        let cluster = FakeCluster {
            url,
            fake,
            nodes: 3,
            killed: Mutex::default(),
            actions: AtomicUsize::new(0),
            torn_down: Arc::clone(&torn_down),
            broken,
        };
        cluster.apply();
        let factory: Arc<dyn ClientFactory> =
            Arc::new(KvClientFactory::new(Duration::from_millis(500)).unwrap());
        let (_tx, interrupt) = watch::channel(false);
        let outcome = run_test(
            &config,
            1,
            |_dir, _id| async { Ok(cluster) },
            factory,
            interrupt,
        )
        .await;
        (outcome, torn_down, config)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_correct_store_is_valid_and_every_result_file_is_written() {
        let root = tempfile::tempdir().unwrap();
        let (outcome, torn_down, config) = run_fake(false, root.path()).await;
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.verdict, Some(Verdict::Valid));
        assert!(
            torn_down.load(Ordering::SeqCst),
            "the cluster was not torn down"
        );
        let dir = outcome.run_dir.unwrap();
        assert_eq!(
            std::fs::read_link(root.path().join("latest")).unwrap(),
            dir.strip_prefix(root.path()).unwrap()
        );
        let test_json: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
        assert_eq!(test_json["config"]["seed"], json!(11));
        let replayed: TestConfig = serde_json::from_value(test_json["config"].clone()).unwrap();
        assert_eq!(replayed.seed, config.seed);
        // test.toml is a test file that resolves to the same test.
        let again = resolve(&TestArgs {
            config: Some(dir.join("test.toml")),
            results_dir: Some(config.results_dir.clone()),
            quiet: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            TestConfig {
                config_file: None,
                ..again
            },
            TestConfig {
                config_file: None,
                ..config.clone()
            }
        );
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(results["verdict"], json!("valid"));
        assert!(
            results["stats"]["counts"]["write"]["ok"].as_u64().unwrap() > 50,
            "{results:#}"
        );
        assert!(results["stats"]["latency_ms"]["read"]["p99"]
            .as_f64()
            .is_some());
        let history =
            parse_jsonl(&std::fs::read_to_string(dir.join("history.jsonl")).unwrap()).unwrap();
        let nemesis_fs: Vec<&str> = history.nemesis_events().map(|e| e.f.as_str()).collect();
        assert!(nemesis_fs.contains(&"heal-all"), "{nemesis_fs:?}");
        assert_eq!(nemesis_fs.last(), Some(&"heal-all"));
        assert!(
            nemesis_fs.iter().any(|f| *f == "kill" || *f == "pause"),
            "{nemesis_fs:?}"
        );
        // Every key was read from every node after the heal.
        let finals: Vec<_> = history
            .ops
            .iter()
            .filter(|o| o.f == "final-read" && o.outcome == checker::history::Outcome::Ok)
            .collect();
        let nodes: std::collections::BTreeSet<_> =
            finals.iter().filter_map(|o| o.node.clone()).collect();
        assert_eq!(nodes.len(), 3);
        assert!(results["final_reads"]["unread"]
            .as_array()
            .unwrap()
            .is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_store_that_loses_writes_is_invalid_with_a_counterexample() {
        let root = tempfile::tempdir().unwrap();
        let (outcome, torn_down, _) = run_fake(true, root.path()).await;
        assert_eq!(outcome.verdict, Some(Verdict::Invalid), "{outcome:?}");
        assert!(torn_down.load(Ordering::SeqCst));
        let dir = outcome.run_dir.unwrap();
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(results["verdict"], json!("invalid"));
        assert!(
            results["counterexample"].is_object(),
            "{:#}",
            results["counterexample"]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cluster_that_does_not_start_is_a_harness_error_with_results() {
        let root = tempfile::tempdir().unwrap();
        let config = resolve(&TestArgs {
            results_dir: Some(root.path().to_path_buf()),
            seed: Some(1),
            quiet: true,
            ..Default::default()
        })
        .unwrap();
        let (_tx, interrupt) = watch::channel(false);
        let factory: Arc<dyn ClientFactory> =
            Arc::new(KvClientFactory::new(Duration::from_millis(500)).unwrap());
        let start = |_dir, _id| async {
            Err::<FakeCluster, _>(anyhow::anyhow!("node n2 exited: status 1"))
        };
        let outcome = run_test(&config, 1, start, factory, interrupt).await;
        assert_eq!(outcome.verdict, None);
        assert!(outcome.error.as_deref().unwrap().contains("node n2 exited"));
        let results: Value = serde_json::from_str(
            &std::fs::read_to_string(outcome.run_dir.unwrap().join("results.json")).unwrap(),
        )
        .unwrap();
        assert!(results["error"]
            .as_str()
            .unwrap()
            .contains("starting the cluster"));
    }
}
