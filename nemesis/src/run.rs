//! Driving a schedule in time: faults alternate with healing every interval, and
//! each start and stop is reported as a nemesis event for the history.

use crate::control::ClusterControl;
use crate::fault::Fault;
use crate::nemesis::Nemesis;
use crate::schedule::Schedule;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant};

/// Whether an event opens or closes a nemesis operation. Jepsen records both halves
/// of a nemesis operation with type `info`; the runner should too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// The decision was made; the nemesis is about to act.
    Invoke,
    /// The action finished: the fault is in force (or healed), or `error` says why not.
    Complete,
}

/// One nemesis event, for the runner to write into the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NemesisEvent {
    pub stage: Stage,
    /// The history's `f`: `start-partition`, `stop-partition`, `kill`, `restart`,
    /// `kill-all`, `restart-all`, `pause`, `resume`, `clock-bump`, `clock-strobe`,
    /// `clock-reset`, `start-loss`, `stop-loss`, `start-delay`, ...
    pub f: String,
    /// The fault, serialized ([`Fault`]): the history's `value`.
    pub value: serde_json::Value,
    /// Why the action failed (completions only). Part of it may have taken effect;
    /// the nemesis heals that part with the fault.
    pub error: Option<String>,
    /// From the decision to the fault being in force (or healed); completions only.
    pub took: Option<Duration>,
    /// What is in force after this event, for a progress line.
    pub in_force: String,
}

impl<C: ClusterControl + 'static> Nemesis<C> {
    /// Starts `fault`, reporting an invoke and a completion event.
    pub async fn start_reported(
        &mut self,
        fault: &Fault,
        on_event: &mut impl FnMut(NemesisEvent),
    ) -> bool {
        let f = fault.start_name();
        self.act(f, fault, true, on_event).await
    }

    /// Heals `fault`, reporting an invoke and a completion event.
    pub async fn stop_reported(
        &mut self,
        fault: &Fault,
        on_event: &mut impl FnMut(NemesisEvent),
    ) -> bool {
        let f = fault.stop_name();
        self.act(f, fault, false, on_event).await
    }

    async fn act(
        &mut self,
        f: String,
        fault: &Fault,
        start: bool,
        on_event: &mut impl FnMut(NemesisEvent),
    ) -> bool {
        let value = serde_json::to_value(fault).unwrap_or(serde_json::Value::Null);
        let t0 = Instant::now();
        on_event(NemesisEvent {
            stage: Stage::Invoke,
            f: f.clone(),
            value: value.clone(),
            error: None,
            took: None,
            in_force: self.describe(),
        });
        let r = if start {
            self.start(fault).await
        } else {
            self.stop(fault).await
        };
        let took = t0.elapsed();
        let ok = r.is_ok();
        on_event(NemesisEvent {
            stage: Stage::Complete,
            f,
            value,
            error: r.err().map(|e| format!("{e:#}")),
            took: Some(took),
            in_force: self.describe(),
        });
        ok
    }

    /// Runs `schedule` until `until` completes: the warm-up ([`Schedule::warm_up`])
    /// healthy, a fault for `interval`, its healing, `interval` healthy, and again. When `until` fires while a fault is in force,
    /// that fault is healed (and reported) before returning; an action under way is
    /// never cancelled halfway. Errors are reported in events, not returned, so one
    /// failed fault does not end the test; call [`Nemesis::heal_all`] afterwards to be
    /// sure nothing is left in force.
    pub async fn run_schedule(
        &mut self,
        schedule: &mut Schedule,
        until: impl Future<Output = ()>,
        mut on_event: impl FnMut(NemesisEvent),
    ) -> RunSummary {
        tokio::pin!(until);
        let interval = schedule.interval();
        let mut healthy_wait = schedule.warm_up();
        let mut summary = RunSummary::default();
        loop {
            tokio::select! {
                _ = &mut until => break,
                _ = tokio::time::sleep(healthy_wait) => {}
            }
            healthy_wait = interval;
            let decision = schedule.next_decision();
            let fault = match self.resolve(&decision).await {
                Ok(f) => f,
                Err(e) => {
                    summary.errors.push(format!("{e:#}"));
                    continue;
                }
            };
            summary.started += 1;
            if !self.start_reported(&fault, &mut on_event).await {
                summary.failed += 1;
            }
            let ended = tokio::select! {
                _ = &mut until => true,
                _ = tokio::time::sleep(interval) => false,
            };
            if !self.stop_reported(&fault, &mut on_event).await {
                summary.failed += 1;
            }
            if ended {
                break;
            }
        }
        summary
    }
}

/// What a schedule run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Faults started (attempted).
    pub started: usize,
    /// Starts and stops that reported an error.
    pub failed: usize,
    /// Decisions that could not be turned into faults.
    pub errors: Vec<String>,
}
