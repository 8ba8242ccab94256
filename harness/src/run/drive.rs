//! The part of a test that needs the cluster: the workload and the fault schedule
//! side by side for the time limit, the final heal, recovery, a quiet period and the
//! final reads from every node that is up. The nemesis is healed and its rules
//! removed on every path out of here, errors included.

use super::nemesis_log::NemesisLog;
use super::progress;
use super::Observer;
use crate::backend::{NodeExit, RunningCluster};
use crate::config::TestConfig;
use crate::results::{ClientsRecord, FinalReads, NemesisRecord, NodeKey, ScheduleRecord};
use anyhow::{Context, Result};
use nemesis::{Nemesis, NemesisEvent, Schedule, Stage};
use serde_json::json;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use workloads::client::{ClientFactory, Target};
use workloads::generator::{Generator, KeyOptions};
use workloads::recorder::Recorder;
use workloads::runner::{final_reads_of, run_clients, RunOptions, RunSummary};

/// What driving the cluster produced.
pub struct Driven {
    /// The nodes that were up at the end and were read.
    pub read_nodes: Vec<String>,
    pub nemesis: NemesisRecord,
    pub final_reads: FinalReads,
    pub crashed: Vec<NodeExit>,
    pub warnings: Vec<String>,
    pub interrupted: bool,
    /// The clients' network statistics (Maelstrom), when the protocol counts them.
    pub network: Option<serde_json::Value>,
}

/// What every phase of driving needs.
pub struct Drive<'a, C> {
    pub cluster: &'a Arc<C>,
    pub config: &'a TestConfig,
    pub run_dir: &'a Path,
    pub factory: Arc<dyn ClientFactory>,
    pub interrupt: watch::Receiver<bool>,
    pub observer: &'a dyn Observer,
}

impl<C: RunningCluster> Drive<'_, C> {
    /// Prepares the nemesis, drives, and removes the nemesis's rules whatever happened.
    pub async fn run(self) -> Result<Driven> {
        let kinds = self.config.nemesis.clone();
        let mut nemesis = Nemesis::new(Arc::clone(self.cluster)).with_seed(self.config.seed);
        if !kinds.is_empty() {
            if let Err(e) = nemesis.prepare(&kinds).await {
                let _ = nemesis.teardown().await;
                return Err(e.context("preparing the nemesis"));
            }
        }
        let result = self.drive(&mut nemesis).await;
        let torn = nemesis.teardown().await;
        let mut driven = result?;
        if let Err(e) = torn {
            driven
                .warnings
                .push(format!("removing the nemesis's rules: {e:#}"));
        }
        Ok(driven)
    }

    async fn drive(&self, nemesis: &mut Nemesis<C>) -> Result<Driven> {
        self.factory
            .prepare(self.run_dir, &self.cluster.targets())
            .context("preparing the clients")?;
        let history_path = self.run_dir.join("history.jsonl");
        let recorder = Arc::new(
            Recorder::create(&history_path)
                .with_context(|| format!("creating {}", history_path.display()))?,
        );
        let node_logs = self
            .cluster
            .targets()
            .iter()
            .map(|t| self.run_dir.join("nodes").join(format!("{}.log", t.id)))
            .collect();
        let log = NemesisLog::new(Arc::clone(&recorder)).with_node_logs(node_logs);
        let generator = Arc::new(Mutex::new(
            Generator::new(
                self.config.workload,
                self.config.seed,
                KeyOptions {
                    active_keys: self.config.keys,
                    ops_per_key: self.config.ops_per_key,
                },
            )
            .with_txn_options(self.config.txn_options()),
        ));
        let (progress_stop, progress_task) = self.start_progress(&recorder, nemesis);
        let (clients, schedule) = self
            .workload_and_faults(&recorder, &generator, nemesis, &log)
            .await;
        let interrupted = *self.interrupt.borrow();
        let mut warnings = Vec::new();
        heal_all(nemesis, &log, &mut warnings).await;
        let clients = clients.context("running the clients")?;
        let mut end = End::default();
        if !interrupted {
            end = self
                .recover_and_read(&recorder, &generator, &clients, &mut warnings)
                .await?;
        }
        let _ = progress_stop.send(true);
        if let Some(t) = progress_task {
            let _ = t.await;
            self.observer.progress_done();
        }
        let history_events = recorder
            .finish()
            .with_context(|| format!("writing {}", history_path.display()))?;
        let (events, record_error) = log.take();
        if let Some(e) = record_error {
            anyhow::bail!("recording a nemesis event: {e}");
        }
        warnings.extend(self.factory.incidents());
        let network = self.factory.network_stats();
        let schedule = schedule.transpose()?;
        for e in schedule.iter().flat_map(|s| &s.errors) {
            warnings.push(format!("nemesis: {e}"));
        }
        let nemesis = NemesisRecord {
            kinds: self.config.nemesis.clone(),
            left_out: self.config.nemesis_left_out.clone(),
            interval_s: self.config.nemesis_interval.as_secs_f64(),
            clock_bump: self.config.clock_bump.map(|r| r.to_string()),
            schedule,
            events,
            membership: self
                .config
                .nemesis
                .iter()
                .any(|k| k.parts().contains(&nemesis::FaultKind::Membership))
                .then(|| crate::results::MembershipTimeline {
                    initial: self.cluster.targets().into_iter().map(|t| t.id).collect(),
                    changes: log.membership(),
                    at_first_violation: None,
                }),
            history_events,
            clients: ClientsRecord {
                invoked: clients.invoked,
                ok: clients.ok,
                unreached: clients.unreached,
                retired: clients.retired,
            },
        };
        Ok(Driven {
            read_nodes: end.read_nodes,
            nemesis,
            final_reads: end.final_reads,
            crashed: end.crashed,
            warnings,
            interrupted,
            network,
        })
    }

    /// The progress line, if the observer wants one.
    fn start_progress(
        &self,
        recorder: &Arc<Recorder>,
        nemesis: &Nemesis<C>,
    ) -> (watch::Sender<bool>, Option<tokio::task::JoinHandle<()>>) {
        let (stop, stopped) = watch::channel(false);
        let Some(every) = self.observer.progress_every() else {
            return (stop, None);
        };
        let status = nemesis.status_handle();
        let faults: progress::FaultStatus = Arc::new(move || status.current());
        let show = self.observer.progress_sink();
        let task = tokio::spawn(progress::run(
            Arc::clone(recorder),
            self.config.time_limit,
            every,
            faults,
            show,
            stopped,
        ));
        (stop, Some(task))
    }

    /// The workload and the fault schedule, side by side, for the time limit.
    async fn workload_and_faults(
        &self,
        recorder: &Arc<Recorder>,
        generator: &Arc<Mutex<Generator>>,
        nemesis: &mut Nemesis<C>,
        log: &NemesisLog,
    ) -> (Result<RunSummary>, Option<Result<ScheduleRecord>>) {
        let config = self.config;
        let options = RunOptions {
            concurrency: config.concurrency,
            time_limit: config.time_limit,
            rate: config.rate,
            sessions: config.sessions,
            seed: config.seed,
        };
        let targets = self.cluster.targets();
        let clients = run_clients(
            &options,
            &targets,
            Arc::clone(&self.factory),
            Arc::clone(generator),
            Arc::clone(recorder),
            self.interrupt.clone(),
        );
        let schedule = async {
            if config.nemesis.is_empty() {
                return None;
            }
            let mut schedule = match Schedule::new(
                config.seed,
                config.nemesis_interval,
                config.nemesis.clone(),
                targets.len(),
            ) {
                Ok(s) => s.with_params(config.fault_params()),
                Err(e) => return Some(Err(anyhow::Error::new(e).context("the fault schedule"))),
            };
            let mut interrupt = self.interrupt.clone();
            let until = async move {
                tokio::select! {
                    _ = tokio::time::sleep(config.time_limit) => {}
                    _ = interrupt.wait_for(|i| *i) => {}
                }
            };
            let log = log.clone();
            let s = nemesis
                .run_schedule(&mut schedule, until, move |e| log.record(e))
                .await;
            Some(Ok(ScheduleRecord {
                started: s.started,
                failed: s.failed,
                errors: s.errors,
            }))
        };
        tokio::join!(clients, schedule)
    }

    /// Recovery, a quiet period, then the final reads from every node that is up. A
    /// node that exited on its own is a finding, reported with its log, and is not
    /// waited for or read: it would only cost the recovery timeout.
    async fn recover_and_read(
        &self,
        recorder: &Arc<Recorder>,
        generator: &Arc<Mutex<Generator>>,
        clients: &RunSummary,
        warnings: &mut Vec<String>,
    ) -> Result<End> {
        let config = self.config;
        if let Err(e) = self.cluster.wait_recovered(config.recovery_timeout).await {
            warnings.push(format!(
                "the cluster did not recover within {:?}: {e:#}",
                config.recovery_timeout
            ));
        }
        let mut interrupt = self.interrupt.clone();
        tokio::select! {
            _ = tokio::time::sleep(config.quiet_period) => {}
            _ = interrupt.wait_for(|i| *i) => {}
        }
        let crashed = self.cluster.exited_nodes();
        let targets: Vec<Target> = self
            .cluster
            .final_targets()
            .into_iter()
            .filter(|t| !crashed.iter().any(|c| c.node == t.id))
            .collect();
        let reads = generator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .final_read_ops();
        let deadline = Instant::now() + config.recovery_timeout;
        let summary = final_reads_of(
            &targets,
            reads,
            Arc::clone(&self.factory),
            Arc::clone(recorder),
            clients.next_process,
            deadline,
        )
        .await
        .context("final reads")?;
        if let Some((node, key)) = summary.unread.first() {
            warnings.push(format!(
                "{} final reads got no answer before the deadline (first: node {node} key {key})",
                summary.unread.len()
            ));
        }
        Ok(End {
            read_nodes: targets.into_iter().map(|t| t.id).collect(),
            final_reads: FinalReads {
                ok: summary.ok,
                unread: summary
                    .unread
                    .into_iter()
                    .map(|(node, key)| NodeKey { node, key })
                    .collect(),
            },
            crashed,
        })
    }
}

/// What the end of a run found.
#[derive(Default)]
struct End {
    read_nodes: Vec<String>,
    final_reads: FinalReads,
    crashed: Vec<NodeExit>,
}

/// Heals everything, as the nemesis's last act, recorded so the checkers know when
/// the quiet period began.
async fn heal_all<C: RunningCluster>(
    nemesis: &mut Nemesis<C>,
    log: &NemesisLog,
    warnings: &mut Vec<String>,
) {
    let mut value = json!({ "faults": nemesis.describe() });
    let add_back = nemesis.pending_add_back();
    if let Some(fault) = &add_back {
        value["added_back"] = json!(fault);
    }
    let event = |stage, value, error, took, in_force| NemesisEvent {
        stage,
        f: "heal-all".into(),
        value,
        error,
        took,
        in_force,
    };
    log.record(event(
        Stage::Invoke,
        value.clone(),
        None,
        None,
        nemesis.describe(),
    ));
    let started = Instant::now();
    let healed = nemesis.heal_all().await;
    let error = healed.as_ref().err().map(|e| format!("{e:#}"));
    if add_back.is_some() && nemesis.pending_add_back().is_some() {
        value["added_back_error"] = json!(error.as_deref().unwrap_or("nodes still out"));
    }
    log.record(event(
        Stage::Complete,
        value,
        error,
        Some(started.elapsed()),
        nemesis.describe(),
    ));
    if let Err(e) = healed {
        warnings.push(format!("final heal: {e:#}"));
    }
}
