//! The nemesis's events, written into the history as they happen (Jepsen's
//! convention: both halves are `info` events of process `nemesis`) and kept for
//! `results.json`.

use crate::results::NemesisEventRecord;
use checker::history::{Event, EventType, Process};
use nemesis::NemesisEvent;
use std::sync::{Arc, Mutex};
use workloads::recorder::Recorder;

/// Records nemesis events; cheap to clone into the schedule's callback.
#[derive(Clone)]
pub struct NemesisLog {
    recorder: Arc<Recorder>,
    events: Arc<Mutex<Vec<NemesisEventRecord>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl NemesisLog {
    pub fn new(recorder: Arc<Recorder>) -> NemesisLog {
        NemesisLog {
            recorder,
            events: Arc::default(),
            errors: Arc::default(),
        }
    }

    /// Writes one event into the history and keeps its record.
    pub fn record(&self, event: NemesisEvent) {
        let mut e = Event::new(0, 0, Process::Nemesis, EventType::Info, event.f.clone())
            .with_value(event.value.clone());
        e.error = event.error.clone();
        match self.recorder.record(e) {
            Ok((index, time)) => lock(&self.events).push(NemesisEventRecord {
                index,
                time_s: time as f64 / 1e9,
                stage: event.stage,
                f: event.f,
                error: event.error,
                took_s: event.took.map(|d| d.as_secs_f64()),
                in_force: event.in_force,
            }),
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
