//! One test, start to finish, as phases: preflight (before anything exists), the
//! results folder, the cluster, driving it ([`drive`]), teardown (always: on
//! success, on error and on Ctrl-C), the checks, and the results. Each phase is its
//! own function; [`run_test`] only sequences them.
//!
//! The runner is generic over [`RunningCluster`]: the real backend implements it,
//! and tests drive the same code against an in-process fake. It prints nothing: what
//! a person sees goes through the [`Observer`] the CLI gives it.

pub mod drive;
pub mod interrupt;
mod nemesis_log;
pub mod outcome;
pub mod preflight;
pub mod progress;

pub use outcome::Outcome;

use crate::backend::netns::{naming, network, Cluster, ClusterOptions};
use crate::backend::ssh::{SshCluster, SshOptions};
use crate::backend::RunningCluster;
use crate::check::{self, CheckResult};
use crate::config::{KeepData, TestConfig, TestFile};
use crate::error::is_bad_input;
use crate::results::{self, store, RunResults, TestRecord};
use anyhow::{Context, Result};
use checker::history::parse_jsonl;
use checker::verdict::Verdict;
use drive::{Drive, Driven};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use workloads::client::ClientFactory;

/// What a person sees of a run while it happens; the CLI implements it.
pub trait Observer: Send + Sync {
    /// The run has its folder and seed.
    fn started(&self, config: &TestConfig, test_number: u32, run_id: &str, run_dir: &Path);
    /// How often to compose a progress line; `None` for none.
    fn progress_every(&self) -> Option<Duration>;
    /// Where progress lines go.
    fn progress_sink(&self) -> Arc<dyn Fn(&str) + Send + Sync>;
    /// Progress is over (the line may be cleared).
    fn progress_done(&self) {}
}

/// An observer that shows nothing: a run inside a campaign (which has its own
/// progress line), or a test of the runner.
pub struct Silent;

impl Observer for Silent {
    fn started(&self, _: &TestConfig, _: u32, _: &str, _: &Path) {}
    fn progress_every(&self) -> Option<Duration> {
        None
    }
    fn progress_sink(&self) -> Arc<dyn Fn(&str) + Send + Sync> {
        Arc::new(|_| {})
    }
}

/// Runs one test of `config` against a real cluster of its system.
pub async fn run_real(
    config: &TestConfig,
    test_number: u32,
    interrupt: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Outcome {
    if !config.hosts.is_empty() {
        return run_over_ssh(config, test_number, interrupt, observer).await;
    }
    // Before anything exists: no results folder, no `latest` moved, for a run that
    // cannot start.
    if let Err(e) = network::check_privileges() {
        return Outcome::HarnessError {
            error: format!("{e:#}"),
            run_dir: None,
        };
    }
    let (factory, spec) = match prepare_system(config) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let clock_faults = config.nemesis.iter().any(|k| k.is_clock());
    let lazyfs = config.lazyfs;
    let system_file = match &spec.source {
        crate::system::SpecSource::File(p) => Some(p.clone()),
        crate::system::SpecSource::Builtin => None,
    };
    let start = move |run_dir: PathBuf, run_id: String| async move {
        if let Some(p) = system_file {
            let copy = run_dir.join("system.toml");
            std::fs::copy(&p, &copy)
                .with_context(|| format!("copying {} to {}", p.display(), copy.display()))?;
        }
        let mut options = ClusterOptions::new(spec, config.nodes, run_dir);
        options.run_id = run_id;
        options.clock_faults = clock_faults;
        options.lazyfs = lazyfs;
        options.spare_nodes = config.spare_nodes;
        // This runner handles Ctrl-C itself, to heal, tear down and keep the history.
        options.handle_signals = false;
        Cluster::start(options).await
    };
    run_test(config, test_number, start, factory, interrupt, observer).await
}

/// The system and its clients, checked before anything exists.
fn prepare_system(
    config: &TestConfig,
) -> std::result::Result<(Arc<dyn ClientFactory>, crate::system::SystemSpec), Outcome> {
    let prepared = preflight::system(config)
        .and_then(|spec| Ok((preflight::client_factory(config, &spec)?, spec)));
    match prepared {
        Ok(p) => Ok(p),
        Err(e) if is_bad_input(&e) => Err(Outcome::BadInput(format!("{e:#}"))),
        Err(e) => Err(harness_error(e, None)),
    }
}

/// Runs one test with the nodes on `config.hosts`, over SSH. The hosts are checked
/// when the cluster starts (they need connections), so a refusal there leaves a
/// results folder that says why.
async fn run_over_ssh(
    config: &TestConfig,
    test_number: u32,
    interrupt: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Outcome {
    let (factory, spec) = match prepare_system(config) {
        Ok(p) => p,
        Err(outcome) => return outcome,
    };
    let start = move |run_dir: PathBuf, run_id: String| async move {
        SshCluster::start(SshOptions {
            run_id,
            hosts: config.hosts.clone(),
            node_count: config.nodes,
            spare_nodes: config.spare_nodes,
            system: spec,
            run_dir,
            kinds: config.nemesis.clone(),
            lazyfs: config.lazyfs,
        })
        .await
    };
    run_test(config, test_number, start, factory, interrupt, observer).await
}

/// Runs one test against the cluster `start` brings up.
pub async fn run_test<C, F, Fut>(
    config: &TestConfig,
    test_number: u32,
    start: F,
    factory: Arc<dyn ClientFactory>,
    interrupt: watch::Receiver<bool>,
    observer: &dyn Observer,
) -> Outcome
where
    C: RunningCluster,
    F: FnOnce(PathBuf, String) -> Fut,
    Fut: Future<Output = Result<C>>,
{
    let t0 = Instant::now();
    let run_id = naming::new_run_id();
    let folder = match prepare_folder(config, test_number, &run_id) {
        Ok(f) => f,
        Err(e) => return harness_error(e, None),
    };
    observer.started(config, test_number, &run_id, &folder.dir);
    interrupt::set_current_run(Some(folder.dir.clone()));
    let outcome = run_in_folder(config, &folder, start, factory, interrupt, observer, t0).await;
    interrupt::set_current_run(None);
    match &outcome {
        Outcome::HarnessError { error, .. } | Outcome::BadInput(error) => {
            folder.write_error(config, error)
        }
        _ => {}
    }
    outcome
}

/// The phases after the folder exists.
async fn run_in_folder<C, F, Fut>(
    config: &TestConfig,
    folder: &RunFolder,
    start: F,
    factory: Arc<dyn ClientFactory>,
    interrupt: watch::Receiver<bool>,
    observer: &dyn Observer,
    t0: Instant,
) -> Outcome
where
    C: RunningCluster,
    F: FnOnce(PathBuf, String) -> Fut,
    Fut: Future<Output = Result<C>>,
{
    let dir = &folder.dir;
    let mut timings: BTreeMap<&'static str, f64> = BTreeMap::new();
    let cluster = match start(dir.clone(), folder.run_id.clone()).await {
        Ok(c) => Arc::new(c),
        // Hosts that are not ready (ssh) are the user's to fix, like any bad input.
        Err(e) if is_bad_input(&e) => return Outcome::BadInput(format!("{e:#}")),
        Err(e) => return harness_error(e.context("starting the cluster"), Some(dir.clone())),
    };
    timings.insert("cluster_start", t0.elapsed().as_secs_f64());
    let drive_started = Instant::now();
    let driven = Drive {
        cluster: &cluster,
        config,
        run_dir: dir,
        factory,
        interrupt,
        observer,
    }
    .run()
    .await;
    timings.insert("run", drive_started.elapsed().as_secs_f64());
    let teardown_started = Instant::now();
    let torn = cluster.teardown().await;
    drop(cluster);
    timings.insert("teardown", teardown_started.elapsed().as_secs_f64());
    let mut driven = match (driven, torn) {
        (Ok(d), Ok(())) => d,
        (Ok(mut d), Err(e)) => {
            // The run itself is sound; a leftover is the harness's fault and must fail CI.
            d.warnings.push(format!(
                "tearing the cluster down: {e:#} (run `faultline clean`)"
            ));
            d
        }
        (Err(e), Ok(())) => return harness_error(e, Some(dir.clone())),
        (Err(e), Err(t)) => {
            return harness_error(
                e.context(format!("(and tearing the cluster down failed: {t:#})")),
                Some(dir.clone()),
            )
        }
    };
    warn_if_no_fault(config, &mut driven);
    let check_started = Instant::now();
    let checks = match check_history(config, dir, &driven.read_nodes).await {
        Ok(c) => c,
        Err(e) => return harness_error(e, Some(dir.clone())),
    };
    timings.insert("check", check_started.elapsed().as_secs_f64());
    timings.insert("total", t0.elapsed().as_secs_f64());
    match folder.finish(config, driven, checks, timings) {
        Ok(results) => Outcome::Checked(Box::new(results)),
        Err(e) => harness_error(e, Some(dir.clone())),
    }
}

fn harness_error(e: anyhow::Error, run_dir: Option<PathBuf>) -> Outcome {
    Outcome::HarnessError {
        error: format!("{e:#}"),
        run_dir,
    }
}

/// A run in which no fault ever happened proves little; CI users must not mistake it
/// for a tested system.
fn warn_if_no_fault(config: &TestConfig, driven: &mut Driven) {
    if driven.interrupted || driven.nemesis.faults_started() > 0 {
        return;
    }
    let why = if config.nemesis.is_empty() {
        "no fault kinds were asked for (--nemesis none)".to_string()
    } else {
        format!(
            "the schedule started none in {} (the first fault comes after a warm-up of 2 s, or the interval if shorter; for some kinds, such as partitions of one node, there is nothing to do)",
            crate::units::duration_text(config.time_limit)
        )
    };
    driven.warnings.insert(0, format!("no fault was injected during this run: {why}; a valid verdict says nothing about faults"));
    if !config.nemesis_left_out.is_empty() {
        let left: Vec<String> = config.nemesis_left_out.iter().map(|k| k.name()).collect();
        driven.warnings.push(format!(
            "default fault kinds left out because the system does not support them: {}",
            left.join(", ")
        ));
    }
}

/// Checks the history as stored on disk: exactly what `faultline check` reads.
async fn check_history(
    config: &TestConfig,
    dir: &Path,
    nodes: &[String],
) -> Result<Vec<CheckResult>> {
    let path = dir.join("history.jsonl");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "the recorded history {} cannot be read back",
            path.display()
        )
    })?;
    let history = parse_jsonl(&text).with_context(|| {
        format!(
            "the recorded history {} cannot be read back",
            path.display()
        )
    })?;
    let context = config.check_context(nodes);
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || check::run_checks(&history, &context, &shown))
        .await
        .map_err(|e| anyhow::anyhow!("a checker panicked: {e}"))
}

/// A run's results folder, made before the cluster starts.
struct RunFolder {
    dir: PathBuf,
    run_id: String,
    replay: String,
}

/// Creates the folder, writes `test.json` and `test.toml`, and moves `latest`.
fn prepare_folder(config: &TestConfig, test_number: u32, run_id: &str) -> Result<RunFolder> {
    let dir = store::create_run_dir(&config.results_dir, &config.name)?;
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    let replay = format!(
        "faultline test --config {}",
        dir.join("test.toml").display()
    );
    let record = TestRecord {
        faultline_version: env!("CARGO_PKG_VERSION"),
        command_line: std::env::args().collect(),
        test_number,
        run_id,
        started_at: chrono::Utc::now().to_rfc3339(),
        config,
        replay: replay.clone(),
    };
    let json = serde_json::to_string_pretty(&record).context("serializing test.json")?;
    store::write_file(&dir.join("test.json"), format!("{json}\n").as_bytes())?;
    store::write_file(
        &dir.join("test.toml"),
        TestFile::of(config).to_toml(&dir).as_bytes(),
    )?;
    // Not fatal: the run is sound without the convenience link.
    let _ = store::update_latest(&config.results_dir, &dir);
    Ok(RunFolder {
        dir,
        run_id: run_id.to_string(),
        replay,
    })
}

impl RunFolder {
    /// Assembles the results, writes `results.json`, `report.html` and `junit.xml`,
    /// and keeps or removes the nodes' data as `--keep-data` says.
    fn finish(
        &self,
        config: &TestConfig,
        driven: Driven,
        checks: Vec<CheckResult>,
        timings: BTreeMap<&'static str, f64>,
    ) -> Result<RunResults> {
        let history = parse_jsonl(&std::fs::read_to_string(self.dir.join("history.jsonl"))?)?;
        let verdict = Verdict::all(checks.iter().map(|c| c.verdict));
        let mut results = RunResults {
            verdict,
            name: config.name.clone(),
            seed: config.seed,
            run_id: self.run_id.clone(),
            workload: config.workload,
            interrupted: driven.interrupted,
            counterexample: checks
                .iter()
                .filter(|c| c.verdict == Verdict::Invalid)
                .find_map(|c| c.report.counterexample()),
            hierarchy: check::placement(&checks),
            promises: check::promises::judge(&checks, &history, config.promises.as_ref()),
            checks,
            stats: results::stats(&history),
            availability: results::availability::of(&history),
            nemesis: driven.nemesis,
            final_reads: driven.final_reads,
            crashed_nodes: driven.crashed,
            warnings: driven.warnings,
            timings_s: timings,
            run_dir: self.dir.clone(),
            replay: self.replay.clone(),
            network: network_with_convergence(driven.network, config.workload, &history),
        };
        if let Some(m) = results.nemesis.membership.as_mut() {
            m.note_first_violation(&results.promises, &history);
        }
        let keep = match config.keep_data {
            KeepData::Always => true,
            KeepData::Never => false,
            KeepData::OnFailure => {
                verdict != Verdict::Valid
                    || results.interrupted
                    || !results.crashed_nodes.is_empty()
            }
        };
        if !keep {
            if let Err(e) = store::remove_data(&self.dir) {
                results.warnings.push(format!("{e:#}"));
            }
        }
        use crate::results::render::{html::Html, json::Json, junit::Junit, Renderer};
        store::write_file(
            &self.dir.join("results.json"),
            Json.render(&results).as_bytes(),
        )?;
        let report = Html {
            history: &history,
            system: Some(config.system.clone()),
            settings: Some(TestFile::of(config).to_toml(&self.dir)),
        };
        store::write_file(
            &self.dir.join("report.html"),
            report.render(&results).as_bytes(),
        )?;
        store::write_file(
            &self.dir.join("junit.xml"),
            Junit.render(&results).as_bytes(),
        )?;
        Ok(results)
    }

    /// A `results.json` that says why the run could not be checked.
    fn write_error(&self, config: &TestConfig, error: &str) {
        let doc = serde_json::json!({ "verdict": null, "error": error, "name": config.name, "seed": config.seed, "run_id": self.run_id });
        let _ = store::write_file(
            &self.dir.join("results.json"),
            format!("{doc:#}\n").as_bytes(),
        );
    }
}

#[cfg(test)]
mod tests;

/// The clients' network statistics, with each node's request latencies and, for
/// the grow-only set workloads (broadcast, g-set), how long acknowledged elements
/// took to reach every node.
fn network_with_convergence(
    network: Option<serde_json::Value>,
    workload: workloads::generator::Workload,
    history: &checker::history::History,
) -> Option<serde_json::Value> {
    use workloads::generator::Workload;
    let mut network = network?;
    network["latency_ms_per_node"] =
        serde_json::to_value(results::network::per_node(history)).unwrap_or_default();
    if matches!(workload, Workload::Broadcast | Workload::GSet) {
        if let Some(c) = results::convergence::convergence(history) {
            network["convergence"] = serde_json::to_value(c).unwrap_or_default();
        }
    }
    Some(network)
}
