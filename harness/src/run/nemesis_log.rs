//! The nemesis's events, written into the history as they happen (Jepsen's
//! convention: both halves are `info` events of process `nemesis`) and kept for
//! `results.json`.

use crate::results::{MembershipStep, NemesisEventRecord};
use checker::history::{Event, EventType, Process};
use nemesis::{Fault, NemesisEvent};
use std::sync::{Arc, Mutex};
use workloads::recorder::Recorder;

/// Records nemesis events; cheap to clone into the schedule's callback.
#[derive(Clone)]
pub struct NemesisLog {
    recorder: Arc<Recorder>,
    events: Arc<Mutex<Vec<NemesisEventRecord>>>,
    membership: Arc<Mutex<Vec<MembershipStep>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl NemesisLog {
    pub fn new(recorder: Arc<Recorder>) -> NemesisLog {
        NemesisLog {
            recorder,
            events: Arc::default(),
            membership: Arc::default(),
            errors: Arc::default(),
        }
    }

    /// Writes one event into the history and keeps its record.
    pub fn record(&self, event: NemesisEvent) {
        let mut e = Event::new(0, 0, Process::Nemesis, EventType::Info, event.f.clone())
            .with_value(event.value.clone());
        e.error = event.error.clone();
        match self.recorder.record(e) {
            Ok((index, time)) => {
                let time_s = time as f64 / 1e9;
                if event.stage == nemesis::Stage::Complete {
                    lock(&self.membership).extend(membership_steps(&event, time_s));
                }
                lock(&self.events).push(NemesisEventRecord {
                    index,
                    time_s,
                    stage: event.stage,
                    f: event.f,
                    error: event.error,
                    took_s: event.took.map(|d| d.as_secs_f64()),
                    in_force: event.in_force,
                })
            }
            Err(e) => lock(&self.errors).push(e.to_string()),
        }
    }

    /// The records so far, and the first error writing one, if any.
    pub fn take(&self) -> (Vec<NemesisEventRecord>, Option<String>) {
        (
            std::mem::take(&mut *lock(&self.events)),
            lock(&self.errors).first().cloned(),
        )
    }
}

impl NemesisLog {
    /// The membership changes recorded so far, in order.
    pub fn membership(&self) -> Vec<MembershipStep> {
        lock(&self.membership).clone()
    }
}

/// The membership changes a completion event records: its fault's, or its
/// composition's membership part's. Heals of a membership fault change nothing.
fn membership_steps(event: &NemesisEvent, time_s: f64) -> Vec<MembershipStep> {
    let Ok(fault) = serde_json::from_value::<Fault>(event.value.clone()) else {
        return Vec::new();
    };
    let parts = match fault {
        Fault::Composed { faults } => faults,
        single => vec![single],
    };
    parts
        .into_iter()
        .filter_map(|f| match f {
            Fault::Membership {
                change,
                nodes,
                members,
            } if event.f.split('+').any(|name| name == change.name()) => Some(MembershipStep {
                time_s,
                change,
                nodes,
                members,
                error: event.error.clone(),
            }),
            _ => None,
        })
        .collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
