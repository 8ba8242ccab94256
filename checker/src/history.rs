//! The history: what a test observed, one event per line.
//!
//! The vocabulary is Jepsen's (`invoke`, `ok`, `fail`, `info`) so that histories move
//! freely between faultline, Jepsen and Knossos-style tools. The format on disk is
//! specified in `docs/history.md`; this module is its single source of truth in code.

use crate::import::jsonl_fast::{self, LineEvent};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// Who performed an event: a logical client process, or the nemesis (fault injector).
///
/// On disk a client is a JSON integer and the nemesis is the string `"nemesis"`,
/// exactly as Jepsen writes `:nemesis` in place of a process number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.as_u64().is_some() => Ok(Process::Client(n.as_u64().unwrap())),
            Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
            other => Err(serde::de::Error::custom(format!(
                "process must be a non-negative integer or \"nemesis\", found {other}"
            ))),
        }
    }
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The kind of an event. `Fail` means the operation certainly did not take effect;
/// `Info` means its outcome is unknown: it may take effect at any time after its
/// invocation, or never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        })
    }
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, from 0, strictly increasing.
    pub index: u64,
    /// Nanoseconds since the test started, from a monotonic clock.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The operation's function: `read`, `write`, `cas`, `append`, ... For nemesis
    /// events, the fault (`start-partition`, `kill`, ...).
    pub f: String,
    /// The key the operation touches, for workloads over independent keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Value>,
    #[serde(default)]
    pub value: Value,
    /// The node the client sent the operation to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Why an operation failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// On an `ok` completion, the per-key version the system reported: for a read,
    /// the version of the value read (0 for a key never written); for a write or a
    /// CAS, the version it created. An integer that grows with every write the system
    /// applies to the key (a Raft log index, an etcd `mod_revision`). Kept out of
    /// `value` so that the value stays what the models compare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// On the first event of a history faultline recorded: the wall-clock time at
    /// which `time` was 0, in nanoseconds since the Unix epoch, so that history times
    /// and the nodes' log lines can be put on one clock. Readers that do not know it
    /// ignore it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_start: Option<u64>,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Completed and took effect; `output` holds what it returned.
    Ok,
    /// Completed and certainly did not take effect.
    Fail,
    /// Indeterminate: an `info` completion, or no completion before the history ended.
    Info,
}

/// A client operation: an invocation paired with its completion.
///
/// Indeterminate operations are open to the end of the history: their `ret` is
/// `u64::MAX`, because they may take effect at any time after they were invoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Position of this operation in [`History::ops`].
    pub id: usize,
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    /// The invocation's value (what was asked for).
    pub input: Value,
    /// The completion's value (what was returned), for `Ok` operations; otherwise
    /// whatever the completion carried, if anything.
    pub output: Value,
    pub outcome: Outcome,
    /// Invocation time (ns).
    pub call: u64,
    /// Completion time (ns); `u64::MAX` for indeterminate operations.
    pub ret: u64,
    /// Index of the invoke event, and of the completion event if there is one, in the
    /// source history: these are what error messages and counterexamples point at.
    pub invoke_index: u64,
    pub complete_index: Option<u64>,
    pub node: Option<String>,
    pub error: Option<String>,
    /// The completion's `version` (see [`Event::version`]), if it carried one.
    pub version: Option<u64>,
}

/// A parsed history: the raw events, and the client operations built from them.
///
/// Build one with [`History::from_events`] (or [`parse_jsonl`], or an importer in
/// [`crate::import`]): it checks that the events make sense before pairing them, so a
/// checker can rely on every invariant documented on [`Operation`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub events: Vec<Event>,
    /// Client operations in invocation order.
    pub ops: Vec<Operation>,
}

impl Process {
    pub fn is_nemesis(&self) -> bool {
        matches!(self, Process::Nemesis)
    }

    /// The client's number, or `None` for the nemesis.
    pub fn client(&self) -> Option<u64> {
        match self {
            Process::Client(p) => Some(*p),
            Process::Nemesis => None,
        }
    }
}

impl EventType {
    /// The type named on disk (`invoke`, `ok`, `fail`, `info`).
    pub fn from_name(name: &str) -> Option<EventType> {
        match name {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }

    pub fn is_completion(self) -> bool {
        self != EventType::Invoke
    }
}

impl Event {
    /// An event with no key, a `null` value, and no node or error; add those with the
    /// `with_*` methods.
    pub fn new(
        index: u64,
        time: u64,
        process: Process,
        kind: EventType,
        f: impl Into<String>,
    ) -> Event {
        Event {
            index,
            time,
            process,
            kind,
            f: f.into(),
            key: None,
            value: Value::Null,
            node: None,
            error: None,
            version: None,
            wall_start: None,
        }
    }

    pub fn with_value(mut self, value: Value) -> Event {
        self.value = value;
        self
    }

    pub fn with_key(mut self, key: Value) -> Event {
        self.key = Some(key);
        self
    }

    pub fn with_node(mut self, node: impl Into<String>) -> Event {
        self.node = Some(node.into());
        self
    }

    pub fn with_error(mut self, error: impl Into<String>) -> Event {
        self.error = Some(error.into());
        self
    }

    pub fn with_version(mut self, version: u64) -> Event {
        self.version = Some(version);
        self
    }

    /// The event as one line of the JSONL history format, without the trailing newline.
    pub fn to_jsonl_line(&self) -> String {
        // Serializing this struct cannot fail: every field is a string, a number or a
        // `serde_json::Value`, and map keys are strings.
        serde_json::to_string(self).expect("an Event always serializes to JSON")
    }
}

impl Operation {
    /// True when nobody knows whether the operation took effect (`info`, or never
    /// completed): it may take effect at any point after its invocation.
    pub fn is_indeterminate(&self) -> bool {
        self.outcome == Outcome::Info
    }
}

/// What is wrong with a sequence of events, found by [`History::from_events`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryProblem {
    /// A completion (`ok`, `fail`, `info`) from a client with nothing pending.
    #[error("process {process} completes `{f}` ({kind}) but has no pending invoke")]
    CompletionWithoutInvoke {
        process: u64,
        kind: EventType,
        f: String,
    },
    /// A client invoked while its previous operation had not completed: a process
    /// runs one operation at a time.
    #[error(
        "process {process} invokes while its operation invoked at index {pending_index} is still \
         pending (a process runs one operation at a time)"
    )]
    InvokeWhilePending { process: u64, pending_index: u64 },
    /// A client invoked again after an `info` completion: a process whose operation
    /// is indeterminate is retired, and its operation stays open to the end.
    #[error(
        "process {process} invokes again after its indeterminate (info) completion at index \
         {info_index} (a process must not be reused after info)"
    )]
    InvokeAfterInfo { process: u64, info_index: u64 },
    /// A completion names another function than its invocation.
    #[error(
        "process {process} completes `{completed}` but invoked `{invoked}` at index {invoke_index}"
    )]
    FunctionMismatch {
        process: u64,
        invoked: String,
        completed: String,
        invoke_index: u64,
    },
    /// A completion names another key than its invocation (keys as JSON text).
    #[error(
        "process {process} completes with key {completed} but invoked with {} at index \
         {invoke_index}",
        invoked_key(.invoked)
    )]
    KeyMismatch {
        process: u64,
        invoked: Option<String>,
        completed: String,
        invoke_index: u64,
    },
    /// Indices must strictly increase.
    #[error("index {index} is not greater than the previous event's index {previous}")]
    IndexNotIncreasing { index: u64, previous: u64 },
    /// Times must never decrease.
    #[error("time {time} is earlier than the previous event's time {previous}")]
    TimeWentBackwards { time: u64, previous: u64 },
}

/// How a key mismatch names the invocation's key.
fn invoked_key(invoked: &Option<String>) -> String {
    invoked
        .as_ref()
        .map_or("no key".to_string(), |k| format!("key {k}"))
}

/// A [`HistoryProblem`] and the event where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {position} (index {index}): {problem}")]
pub struct HistoryError {
    /// Position of the offending event in the event list (from 0); importers map it
    /// back to a line of their input.
    pub position: usize,
    /// The offending event's `index`.
    pub index: u64,
    pub problem: HistoryProblem,
}

/// The operations on one key, for checkers that split a history into independent
/// parts (P-compositionality).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPartition {
    /// `None` for the operations that carry no key (they form one partition).
    pub key: Option<Value>,
    /// Ids ([`Operation::id`]) of the partition's operations, in invocation order.
    pub ops: Vec<usize>,
}

/// Whether pairing insists that `time` never decreases ([`History::from_events`]) or
/// takes the order of the events as the real-time order
/// ([`History::from_events_in_file_order`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum TimeOrder {
    Strict,
    FileOrder,
}

/// A place where an event's `time` is earlier than the previous event's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeStepBack {
    /// Position of the event in the event list (from 0); the previous event is at
    /// `position - 1`.
    pub position: usize,
    /// The event's `time`.
    pub time: u64,
    /// The previous event's `time`.
    pub previous: u64,
}

impl TimeStepBack {
    /// How far back time went (ns).
    pub fn by_ns(&self) -> u64 {
        self.previous - self.time
    }
}

/// The times operations get when the order of events is the real-time order: never
/// earlier than the latest time so far, and strictly increasing.
#[derive(Default)]
struct OrderClock {
    /// The last time handed out, and the previous event's `time`.
    last: Option<u64>,
    previous: Option<u64>,
    steps_back: Vec<TimeStepBack>,
}

impl OrderClock {
    fn tick(&mut self, position: usize, time: u64) -> u64 {
        if let Some(previous) = self.previous.filter(|&p| time < p) {
            self.steps_back.push(TimeStepBack {
                position,
                time,
                previous,
            });
        }
        self.previous = Some(time);
        let t = match self.last {
            Some(last) if time <= last => last.saturating_add(1),
            _ => time,
        };
        self.last = Some(t);
        t
    }
}

/// What a client process is doing while the events are paired.
enum ProcessState {
    Idle,
    /// Id of the pending operation.
    Pending(usize),
    /// Retired by an `info` completion at this index.
    Retired(u64),
}

/// Indices strictly increase and, unless the file's order is the real-time order,
/// times never decrease, from one event to the next (`prev` is the previous event's
/// `(index, time)`).
fn in_order(prev: (u64, u64), event: &Seen, order: TimeOrder) -> Result<(), HistoryProblem> {
    if event.index <= prev.0 {
        return Err(HistoryProblem::IndexNotIncreasing {
            index: event.index,
            previous: prev.0,
        });
    }
    if order == TimeOrder::Strict && event.time < prev.1 {
        return Err(HistoryProblem::TimeWentBackwards {
            time: event.time,
            previous: prev.1,
        });
    }
    Ok(())
}

impl Operation {
    /// The operation `invoke` starts at `time`, taking the invocation's function,
    /// key, value and node: indeterminate until a completion says more.
    pub(crate) fn invoked(id: usize, process: u64, invoke: Event, time: u64) -> Operation {
        Operation {
            id,
            process,
            f: invoke.f,
            key: invoke.key,
            input: invoke.value,
            output: Value::Null,
            outcome: Outcome::Info,
            call: time,
            ret: u64::MAX,
            invoke_index: invoke.index,
            complete_index: None,
            node: invoke.node,
            error: None,
            version: None,
        }
    }

    /// Whether `event` may complete this pending operation of `process`: the same
    /// function, and the same key if it names one.
    pub(crate) fn completed_by(&self, process: u64, event: &Event) -> Result<(), HistoryProblem> {
        if self.f != event.f {
            return Err(HistoryProblem::FunctionMismatch {
                process,
                invoked: self.f.clone(),
                completed: event.f.clone(),
                invoke_index: self.invoke_index,
            });
        }
        if let Some(key) = &event.key {
            if self.key.as_ref() != Some(key) {
                return Err(HistoryProblem::KeyMismatch {
                    process,
                    invoked: self.key.as_ref().map(Value::to_string),
                    completed: key.to_string(),
                    invoke_index: self.invoke_index,
                });
            }
        }
        Ok(())
    }

    /// Completes this operation with `event` (already accepted by
    /// [`Operation::completed_by`]) at `time`, taking its value, error and node.
    pub(crate) fn complete(&mut self, event: Event, time: u64) {
        self.output = event.value;
        self.complete_index = Some(event.index);
        self.error = event.error;
        self.version = event.version;
        if self.node.is_none() {
            self.node = event.node;
        }
        (self.outcome, self.ret) = match event.kind {
            EventType::Ok => (Outcome::Ok, time),
            EventType::Fail => (Outcome::Fail, time),
            _ => (Outcome::Info, u64::MAX),
        };
    }
}

/// What an event does to the operations, once [`Pairer::step`] accepted it.
pub(crate) enum Step {
    /// Nothing (a nemesis event).
    Skip,
    /// Starts the operation with this id at this time.
    Invoke(usize, u64),
    /// Completes the operation with this id at this time.
    Complete(usize, u64),
}

/// What [`Pairer::step`] needs of an event to place it: all but its contents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub index: u64,
    pub time: u64,
    pub process: Process,
    pub kind: EventType,
}

impl Seen {
    pub(crate) fn of(event: &Event) -> Seen {
        Seen {
            index: event.index,
            time: event.time,
            process: event.process,
            kind: event.kind,
        }
    }
}

/// Pairs a history's events into operations, one event at a time, in order: what
/// [`History::from_events`] does to a list, and what a reader does while it reads
/// (`import::jsonl`), so that the events need not all be kept.
pub(crate) struct Pairer {
    order: TimeOrder,
    state: rustc_hash::FxHashMap<u64, ProcessState>,
    pub(crate) ops: Vec<Operation>,
    /// Id of the next operation invoked.
    next_id: usize,
    /// The previous event's `(index, time)`.
    previous: Option<(u64, u64)>,
    clock: OrderClock,
    /// Position of the next event in the event list.
    position: usize,
}

impl Pairer {
    /// A pairer for strict histories ([`History::from_events`]'s rules).
    pub(crate) fn strict() -> Pairer {
        Pairer::new(TimeOrder::Strict)
    }

    fn new(order: TimeOrder) -> Pairer {
        Pairer {
            order,
            state: Default::default(),
            ops: Vec::new(),
            next_id: 0,
            previous: None,
            clock: OrderClock::default(),
            position: 0,
        }
    }

    /// Adds the next event, moving its contents into the operations; a copy
    /// ([`Pairer::push_copy`]) when the event list is kept too.
    pub(crate) fn push(&mut self, event: Event) -> Result<(), HistoryError> {
        match self.step_event(&event)? {
            Step::Skip => {}
            Step::Invoke(id, time) => {
                let process = event.process.client().unwrap_or(0);
                self.ops.push(Operation::invoked(id, process, event, time));
            }
            Step::Complete(id, time) => self.ops[id].complete(event, time),
        }
        Ok(())
    }

    /// [`Pairer::push`] for an event that stays in the event list: only the fields
    /// the operation takes are copied.
    pub(crate) fn push_copy(&mut self, event: &Event) -> Result<(), HistoryError> {
        let bare = || Event::new(event.index, event.time, event.process, event.kind, "");
        match self.step_event(event)? {
            Step::Skip => {}
            Step::Invoke(id, time) => {
                let process = event.process.client().unwrap_or(0);
                let invoke = Event {
                    f: event.f.clone(),
                    key: event.key.clone(),
                    value: event.value.clone(),
                    node: event.node.clone(),
                    ..bare()
                };
                self.ops.push(Operation::invoked(id, process, invoke, time));
            }
            Step::Complete(id, time) => {
                let op = &mut self.ops[id];
                let completion = Event {
                    value: event.value.clone(),
                    error: event.error.clone(),
                    version: event.version,
                    node: op.node.is_none().then(|| event.node.clone()).flatten(),
                    ..bare()
                };
                op.complete(completion, time);
            }
        }
        Ok(())
    }

    /// [`Pairer::step`] for a whole event.
    fn step_event(&mut self, event: &Event) -> Result<Step, HistoryError> {
        let process = event.process.client().unwrap_or(0);
        self.step(
            Seen::of(event),
            |op| op.completed_by(process, event),
            || event.f.clone(),
        )
    }

    /// Checks an event against the events before it and its process's state, and
    /// moves that state on. A completion of a pending operation must pass
    /// `completes`; `f` names the function of a completion without an invoke.
    pub(crate) fn step(
        &mut self,
        event: Seen,
        completes: impl FnOnce(&Operation) -> Result<(), HistoryProblem>,
        f: impl FnOnce() -> String,
    ) -> Result<Step, HistoryError> {
        let position = self.position;
        self.position += 1;
        let at = |problem| HistoryError {
            position,
            index: event.index,
            problem,
        };
        if let Some(prev) = self.previous {
            in_order(prev, &event, self.order).map_err(at)?;
        }
        self.previous = Some((event.index, event.time));
        let time = match self.order {
            TimeOrder::Strict => event.time,
            TimeOrder::FileOrder => self.clock.tick(position, event.time),
        };
        let Process::Client(process) = event.process else {
            return Ok(Step::Skip);
        };
        let slot = self.state.entry(process).or_insert(ProcessState::Idle);
        let (next, step) = match (event.kind, &*slot) {
            (EventType::Invoke, ProcessState::Idle) => {
                self.next_id += 1;
                let id = self.next_id - 1;
                (ProcessState::Pending(id), Step::Invoke(id, time))
            }
            (EventType::Invoke, ProcessState::Pending(p)) => {
                return Err(at(HistoryProblem::InvokeWhilePending {
                    process,
                    pending_index: self.ops[*p].invoke_index,
                }));
            }
            (EventType::Invoke, ProcessState::Retired(info_index)) => {
                return Err(at(HistoryProblem::InvokeAfterInfo {
                    process,
                    info_index: *info_index,
                }));
            }
            (kind, ProcessState::Pending(p)) => {
                completes(&self.ops[*p]).map_err(at)?;
                let next = match kind {
                    EventType::Info => ProcessState::Retired(event.index),
                    _ => ProcessState::Idle,
                };
                (next, Step::Complete(*p, time))
            }
            (kind, _) => {
                return Err(at(HistoryProblem::CompletionWithoutInvoke {
                    process,
                    kind,
                    f: f(),
                }));
            }
        };
        *slot = next;
        Ok(step)
    }

    /// The operations, in invocation order.
    pub(crate) fn finish(self) -> Vec<Operation> {
        self.ops
    }
}

impl History {
    /// The wall-clock time (ns since the Unix epoch) at which the history's `time`
    /// was 0, when its first event records it ([`Event::wall_start`]).
    pub fn wall_start(&self) -> Option<u64> {
        self.events.first().and_then(|e| e.wall_start)
    }

    /// Validates `events` and pairs every client completion with the same process's
    /// pending invoke.
    ///
    /// Rules (see `docs/history.md`): indices strictly increase; times never
    /// decrease; a client runs one operation at a time and completes it with the same
    /// function and key; after an `info` completion a client never invokes again.
    /// Nemesis events stay in [`History::events`] but are not paired. Invokes still
    /// pending at the end are indeterminate operations, like `info` ones.
    pub fn from_events(events: Vec<Event>) -> Result<History, HistoryError> {
        Self::pair(events, TimeOrder::Strict).map(|(history, _)| history)
    }

    /// Like [`History::from_events`], but the order of the events is the real-time
    /// order, as Knossos and Elle read Jepsen's histories: `time` may go back (Jepsen
    /// reads its clock on many threads, which disagree by microseconds). Events keep
    /// their `time` as written, for display; operations get times that follow the
    /// order (each event at the latest time so far, plus 1 ns where it is not later),
    /// so `call` and `ret` still order operations exactly as the file does. Also
    /// returns every place where time went back.
    pub fn from_events_in_file_order(
        events: Vec<Event>,
    ) -> Result<(History, Vec<TimeStepBack>), HistoryError> {
        Self::pair(events, TimeOrder::FileOrder)
    }

    fn pair(
        events: Vec<Event>,
        order: TimeOrder,
    ) -> Result<(History, Vec<TimeStepBack>), HistoryError> {
        let mut pairer = Pairer::new(order);
        for event in &events {
            pairer.push_copy(event)?;
        }
        let steps_back = std::mem::take(&mut pairer.clock.steps_back);
        Ok((
            History {
                events,
                ops: pairer.finish(),
            },
            steps_back,
        ))
    }

    /// The fault injector's events, in history order.
    pub fn nemesis_events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.events.iter().filter(|e| e.process.is_nemesis())
    }

    /// The client processes that appear in the history, ascending.
    pub fn processes(&self) -> Vec<u64> {
        let mut processes: Vec<u64> = self.ops.iter().map(|op| op.process).collect();
        processes.sort_unstable();
        processes.dedup();
        processes
    }

    /// Operation ids grouped by key, partitions in order of first invocation.
    /// Operations without a key form one partition of their own (key `None`).
    pub fn ops_by_key(&self) -> Vec<KeyPartition> {
        let Ok(parts) = self.ops_by_key_while(|_| Ok::<(), std::convert::Infallible>(()));
        parts
    }

    /// [`History::ops_by_key`], asking `go_on(i)` before the `i`th operation whether
    /// to go on (a checker's time limit: a million operations take tens of
    /// milliseconds), and giving up with its error if not.
    pub(crate) fn ops_by_key_while<E>(
        &self,
        mut go_on: impl FnMut(usize) -> Result<(), E>,
    ) -> Result<Vec<KeyPartition>, E> {
        let mut partitions: Vec<KeyPartition> = Vec::new();
        // Values are not hashable; their canonical JSON text is.
        let mut slot: HashMap<Option<String>, usize> = HashMap::new();
        // The previous operation's key and partition: most operations share it (all of
        // them in an unkeyed history), and comparing is cheaper than spelling it out.
        let mut last: Option<(Option<&Value>, usize)> = None;
        for (i, op) in self.ops.iter().enumerate() {
            go_on(i)?;
            let at = match last {
                Some((key, at)) if key == op.key.as_ref() => at,
                _ => *slot
                    .entry(op.key.as_ref().map(canonical_json))
                    .or_insert_with(|| {
                        partitions.push(KeyPartition {
                            key: op.key.clone(),
                            ops: Vec::new(),
                        });
                        partitions.len() - 1
                    }),
            };
            last = Some((op.key.as_ref(), at));
            partitions[at].ops.push(op.id);
        }
        Ok(partitions)
    }

    /// The operation that an event (by its `index`) invoked or completed.
    pub fn op_for_event_index(&self, index: u64) -> Option<&Operation> {
        self.ops
            .iter()
            .find(|op| op.invoke_index == index || op.complete_index == Some(index))
    }

    /// The whole history in the JSONL format, one event per line, each line ended by
    /// a newline.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for event in &self.events {
            out.push_str(&event.to_jsonl_line());
            out.push('\n');
        }
        out
    }
}

/// JSON text that is the same for equal values: object fields sorted by name, so
/// that `{"a":1,"b":2}` and `{"b":2,"a":1}` name the same key.
fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (name, item)) in sorted.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(name.clone()).to_string());
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// What is wrong with one line (or one form) of a history file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    /// Not well-formed in the file's syntax (JSON, EDN, log line).
    #[error("{0}")]
    Syntax(String),
    /// A required field is absent.
    #[error("missing field `{0}`")]
    MissingField(String),
    /// A field holds a value of the wrong shape.
    #[error("field `{field}`: expected {expected}, found {found}")]
    WrongShape {
        field: String,
        expected: &'static str,
        found: String,
    },
    /// The event type is none of invoke, ok, fail, info.
    #[error("unknown event type {0} (expected invoke, ok, fail or info)")]
    UnknownType(String),
    /// An optional field (`index`, `time`) that earlier events carry is missing
    /// here, or the other way round: a file must give it for every event or none.
    #[error(
        "{} (give it for every event or for none)",
        if *.earlier_events_have_it {
            format!("missing field `{field}`, which earlier events have")
        } else {
            format!("field `{field}` is present, but earlier events have none")
        }
    )]
    Inconsistent {
        field: String,
        earlier_events_have_it: bool,
    },
    /// The events parse but do not form a valid history.
    #[error("{0}")]
    History(HistoryProblem),
}

/// A [`ParseProblem`] and the 1-based line where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct ParseError {
    pub line: usize,
    pub problem: ParseProblem,
}

/// Turns a [`HistoryError`] into a [`ParseError`] at the line its event came from.
/// `lines[i]` is the line of event `i`.
pub(crate) fn history_error_at_line(error: HistoryError, lines: &[usize]) -> ParseError {
    ParseError {
        line: lines.get(error.position).copied().unwrap_or(0),
        problem: ParseProblem::History(error.problem),
    }
}

/// Fills in `index` and `time` when a source leaves them out, and insists that it
/// does so consistently: a file where some events carry a time and others do not is
/// more likely broken than meant.
#[derive(Default)]
pub(crate) struct Defaults {
    has_index: Option<bool>,
    has_time: Option<bool>,
    next_position: u64,
}

impl Defaults {
    /// `index` defaults to the event's position (from 0); `time` to its index, so
    /// that only the order of events carries meaning.
    pub(crate) fn apply(
        &mut self,
        index: Option<u64>,
        time: Option<u64>,
    ) -> Result<(u64, u64), ParseProblem> {
        Self::consistent(&mut self.has_index, index.is_some(), "index")?;
        Self::consistent(&mut self.has_time, time.is_some(), "time")?;
        let index = index.unwrap_or(self.next_position);
        self.next_position += 1;
        Ok((index, time.unwrap_or(index)))
    }

    fn consistent(seen: &mut Option<bool>, present: bool, field: &str) -> Result<(), ParseProblem> {
        match *seen {
            None => {
                *seen = Some(present);
                Ok(())
            }
            Some(earlier) if earlier != present => Err(ParseProblem::Inconsistent {
                field: field.to_string(),
                earlier_events_have_it: earlier,
            }),
            _ => Ok(()),
        }
    }
}

/// Short description of a JSON value for error messages: its kind and, when short,
/// the value itself.
pub(crate) fn describe_json(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = value.to_string();
    if text.chars().count() <= 40 && !matches!(value, Value::Null) {
        format!("{kind} {text}")
    } else {
        kind.to_string()
    }
}

fn wrong_shape(field: &str, expected: &'static str, found: &Value) -> ParseProblem {
    ParseProblem::WrongShape {
        field: field.to_string(),
        expected,
        found: describe_json(found),
    }
}

/// The fields of one JSONL line as written, before their shapes are checked. Reading
/// into this struct rather than a JSON object avoids building a map per line; unknown
/// fields are skipped.
#[derive(Deserialize)]
struct JsonlFields {
    #[serde(default)]
    index: Option<Value>,
    #[serde(default)]
    time: Option<Value>,
    #[serde(default)]
    process: Option<Value>,
    #[serde(default, rename = "type")]
    kind: Option<Value>,
    #[serde(default)]
    f: Option<Value>,
    #[serde(default)]
    key: Option<Value>,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    node: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    version: Option<Value>,
    #[serde(default)]
    wall_start: Option<Value>,
}

/// Parses one JSONL line (already known not to be blank) into an event with its
/// `index` and `time` defaulted: the fast path first, serde for anything else. For
/// readers that stream a file line by line (`txn::stream`) instead of in chunks.
pub(crate) fn parse_jsonl_event(
    line: &str,
    defaults: &mut Defaults,
) -> Result<Event, ParseProblem> {
    let LineEvent {
        index,
        time,
        mut event,
    } = jsonl_line(line)?;
    let (index, time) = defaults.apply(index, time)?;
    event.index = index;
    event.time = time;
    Ok(event)
}

/// Parses one JSONL line (already known not to be blank), with `index` and `time` as
/// written: the fast path first, serde for anything else.
pub(crate) fn jsonl_line(line: &str) -> Result<LineEvent, ParseProblem> {
    jsonl_fast::parse_line(line).map_or_else(|| parse_jsonl_general(line), Ok)
}

/// Parses one JSONL line (already known not to be blank) with serde, as the fast
/// path ([`jsonl_fast`]) cannot: every error message about a line comes from here.
pub(crate) fn parse_jsonl_general(line: &str) -> Result<LineEvent, ParseProblem> {
    let syntax = |e: serde_json::Error| ParseProblem::Syntax(format!("invalid JSON: {e}"));
    if !line.trim_start().starts_with('{') {
        let value: Value = serde_json::from_str(line).map_err(syntax)?;
        return Err(ParseProblem::Syntax(format!(
            "expected a JSON object (one event per line), found {}",
            describe_json(&value)
        )));
    }
    let fields: JsonlFields = serde_json::from_str(line).map_err(syntax)?;
    let present = |v: Option<Value>| v.filter(|v| !v.is_null());
    let string_field = |name: &str, v: Option<Value>| -> Result<Option<String>, ParseProblem> {
        match present(v) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(wrong_shape(name, "a string", &v)),
        }
    };
    let u64_field = |name: &str, v: Option<Value>| -> Result<Option<u64>, ParseProblem> {
        match present(v) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| wrong_shape(name, "a non-negative integer", &v)),
        }
    };
    let index = u64_field("index", fields.index)?;
    let time = u64_field("time", fields.time)?;
    let process =
        match present(fields.process) {
            None => return Err(ParseProblem::MissingField("process".into())),
            Some(Value::String(s)) if s == "nemesis" => Process::Nemesis,
            Some(v) => Process::Client(v.as_u64().ok_or_else(|| {
                wrong_shape("process", "a non-negative integer or \"nemesis\"", &v)
            })?),
        };
    let kind = match present(fields.kind) {
        None => return Err(ParseProblem::MissingField("type".into())),
        Some(Value::String(s)) => {
            EventType::from_name(&s).ok_or(ParseProblem::UnknownType(format!("\"{s}\"")))?
        }
        Some(v) => {
            return Err(wrong_shape(
                "type",
                "one of \"invoke\", \"ok\", \"fail\", \"info\"",
                &v,
            ))
        }
    };
    let f = string_field("f", fields.f)?.ok_or_else(|| ParseProblem::MissingField("f".into()))?;
    let key = present(fields.key);
    let value = fields.value.unwrap_or(Value::Null);
    let node = string_field("node", fields.node)?;
    let error = string_field("error", fields.error)?;
    let version = u64_field("version", fields.version)?;
    let wall_start = u64_field("wall_start", fields.wall_start)?;
    let event = Event {
        index: 0,
        time: 0,
        process,
        kind,
        f,
        key,
        value,
        node,
        error,
        version,
        wall_start,
    };
    Ok(LineEvent { index, time, event })
}

/// Parses a history in faultline's JSONL format (`docs/history.md`): one JSON object
/// per line; blank lines are allowed. Unknown fields are ignored, so that newer
/// writers can add fields without breaking older readers. Large texts are read in
/// parallel chunks ([`crate::import::jsonl`]); the result, and the first error
/// reported, are those of a reading line by line.
pub fn parse_jsonl(text: &str) -> Result<History, ParseError> {
    crate::import::jsonl::read(text, crate::import::jsonl::Keep::Events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn c(p: u64) -> Process {
        Process::Client(p)
    }

    fn ev(index: u64, process: Process, kind: EventType, f: &str, value: Value) -> Event {
        Event::new(index, index * 10, process, kind, f).with_value(value)
    }

    #[test]
    fn pairs_completions_with_the_pending_invoke_of_the_same_process() {
        use EventType::*;
        let h = History::from_events(vec![
            ev(0, c(1), Invoke, "write", json!(1)),
            ev(1, c(2), Invoke, "read", Value::Null),
            ev(
                2,
                Process::Nemesis,
                Info,
                "start-partition",
                json!("majority"),
            ),
            ev(3, c(2), Ok, "read", json!(1)),
            ev(4, c(1), Fail, "write", json!(1)).with_error("no-leader"),
            ev(5, c(1), Invoke, "cas", json!([1, 2])),
            ev(6, c(2), Invoke, "read", Value::Null),
            ev(7, c(1), Info, "cas", json!([1, 2])).with_error("timeout"),
        ])
        .unwrap();
        assert_eq!(h.events.len(), 8);
        assert_eq!(h.ops.len(), 4);
        let ids: Vec<usize> = h.ops.iter().map(|o| o.id).collect();
        assert_eq!(ids, vec![0, 1, 2, 3]);
        let (w, r, cas, r2) = (&h.ops[0], &h.ops[1], &h.ops[2], &h.ops[3]);
        assert_eq!(
            (w.process, w.outcome, w.call, w.ret),
            (1, Outcome::Fail, 0, 40)
        );
        assert_eq!(w.error.as_deref(), Some("no-leader"));
        assert_eq!(
            (r.outcome, r.output.clone(), r.call, r.ret),
            (Outcome::Ok, json!(1), 10, 30)
        );
        assert_eq!((r.invoke_index, r.complete_index), (1, Some(3)));
        assert_eq!(
            (cas.outcome, cas.ret, cas.complete_index),
            (Outcome::Info, u64::MAX, Some(7))
        );
        assert_eq!(cas.input, json!([1, 2]));
        assert!(cas.is_indeterminate());
        assert_eq!(
            (r2.outcome, r2.ret, r2.complete_index),
            (Outcome::Info, u64::MAX, None)
        );
        assert_eq!(
            h.nemesis_events().map(|e| e.index).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(h.processes(), vec![1, 2]);
        assert_eq!(h.op_for_event_index(3).map(|o| o.id), Some(1));
        assert_eq!(h.op_for_event_index(2), None);
    }

    fn problem(events: Vec<Event>) -> HistoryError {
        History::from_events(events).unwrap_err()
    }

    #[test]
    fn rejects_completion_without_invoke() {
        let e = problem(vec![ev(0, c(1), EventType::Ok, "read", json!(1))]);
        assert_eq!(e.position, 0);
        assert!(matches!(
            e.problem,
            HistoryProblem::CompletionWithoutInvoke { process: 1, .. }
        ));
        assert!(e.to_string().contains("no pending invoke"), "{e}");
    }

    #[test]
    fn rejects_invoke_while_pending() {
        let e = problem(vec![
            ev(0, c(1), EventType::Invoke, "read", Value::Null),
            ev(1, c(1), EventType::Invoke, "read", Value::Null),
        ]);
        assert_eq!(
            (e.position, e.problem.clone()),
            (
                1,
                HistoryProblem::InvokeWhilePending {
                    process: 1,
                    pending_index: 0
                }
            )
        );
    }

    #[test]
    fn rejects_invoke_after_info() {
        let e = problem(vec![
            ev(0, c(1), EventType::Invoke, "write", json!(1)),
            ev(1, c(1), EventType::Info, "write", json!(1)),
            ev(2, c(1), EventType::Invoke, "read", Value::Null),
        ]);
        assert_eq!(
            (e.position, e.problem.clone()),
            (
                2,
                HistoryProblem::InvokeAfterInfo {
                    process: 1,
                    info_index: 1
                }
            )
        );
        assert!(
            e.to_string()
                .starts_with("event 2 (index 2): process 1 invokes again"),
            "{e}"
        );
    }

    #[test]
    fn rejects_mismatched_function_and_key() {
        let e = problem(vec![
            ev(0, c(1), EventType::Invoke, "write", json!(1)),
            ev(1, c(1), EventType::Ok, "read", json!(1)),
        ]);
        assert!(matches!(e.problem, HistoryProblem::FunctionMismatch { .. }));
        let e = problem(vec![
            ev(0, c(1), EventType::Invoke, "write", json!(1)).with_key(json!("a")),
            ev(1, c(1), EventType::Ok, "write", json!(1)).with_key(json!("b")),
        ]);
        assert!(matches!(e.problem, HistoryProblem::KeyMismatch { .. }));
    }

    #[test]
    fn rejects_non_increasing_index_and_time_going_backwards() {
        let e = problem(vec![
            ev(3, c(1), EventType::Invoke, "read", Value::Null),
            ev(3, c(2), EventType::Invoke, "read", Value::Null),
        ]);
        assert_eq!(
            e.problem,
            HistoryProblem::IndexNotIncreasing {
                index: 3,
                previous: 3
            }
        );
        let e = problem(vec![
            Event::new(0, 100, c(1), EventType::Invoke, "read"),
            Event::new(1, 100, c(2), EventType::Invoke, "read"),
            Event::new(2, 99, c(1), EventType::Ok, "read"),
        ]);
        assert_eq!(
            (e.position, e.problem),
            (
                2,
                HistoryProblem::TimeWentBackwards {
                    time: 99,
                    previous: 100
                }
            )
        );
    }

    #[test]
    fn nemesis_events_are_not_paired() {
        let h = History::from_events(vec![
            ev(0, Process::Nemesis, EventType::Info, "kill", json!(["n1"])),
            ev(1, Process::Nemesis, EventType::Info, "kill", json!(["n1"])),
            ev(2, Process::Nemesis, EventType::Invoke, "start", Value::Null),
        ])
        .unwrap();
        assert!(h.ops.is_empty());
        assert_eq!(h.nemesis_events().count(), 3);
    }

    #[test]
    fn groups_ops_by_key_in_order_of_first_invocation() {
        use EventType::*;
        let h = History::from_events(vec![
            ev(0, c(1), Invoke, "write", json!(1)).with_key(json!("b")),
            ev(1, c(2), Invoke, "write", json!(2)).with_key(json!(7)),
            ev(2, c(3), Invoke, "read", Value::Null),
            ev(3, c(1), Ok, "write", json!(1)),
            ev(4, c(1), Invoke, "read", Value::Null).with_key(json!("b")),
            ev(5, c(4), Invoke, "read", Value::Null).with_key(json!({"x": 1, "y": [2]})),
            ev(6, c(5), Invoke, "read", Value::Null).with_key(json!({"y": [2], "x": 1})),
        ])
        .unwrap();
        let parts = h.ops_by_key();
        assert_eq!(
            parts,
            vec![
                KeyPartition {
                    key: Some(json!("b")),
                    ops: vec![0, 3]
                },
                KeyPartition {
                    key: Some(json!(7)),
                    ops: vec![1]
                },
                KeyPartition {
                    key: None,
                    ops: vec![2]
                },
                KeyPartition {
                    key: Some(json!({"x": 1, "y": [2]})),
                    ops: vec![4, 5]
                },
            ]
        );
    }

    #[test]
    fn jsonl_round_trips_and_allows_blank_lines() {
        let text = r#"
{"index":0,"time":5,"process":0,"type":"invoke","f":"cas","key":"x","value":[1,2],"node":"n1"}

{"index":1,"time":6,"process":"nemesis","type":"info","f":"start-partition","value":{"halves":[["n1"],["n2","n3"]]}}
{"index":2,"time":9,"process":0,"type":"fail","f":"cas","key":"x","value":[1,2],"error":"cas-mismatch"}
"#;
        let h = parse_jsonl(text).unwrap();
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].error.as_deref(), Some("cas-mismatch"));
        assert_eq!(h.ops[0].node.as_deref(), Some("n1"));
        assert_eq!(h.ops[0].key, Some(json!("x")));
        let again = parse_jsonl(&h.to_jsonl()).unwrap();
        assert_eq!(again, h);
        assert_eq!(
            h.events[0].to_jsonl_line(),
            r#"{"index":0,"time":5,"process":0,"type":"invoke","f":"cas","key":"x","value":[1,2],"node":"n1"}"#
        );
    }

    #[test]
    fn jsonl_index_and_time_default_to_position() {
        let h = parse_jsonl("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":3}\n")
            .unwrap();
        assert_eq!(
            (h.ops[0].call, h.ops[0].ret, h.ops[0].output.clone()),
            (0, 1, json!(3))
        );
        let e = parse_jsonl("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"time\":4}\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.problem,
            ParseProblem::Inconsistent {
                field: "time".into(),
                earlier_events_have_it: false
            }
        );
        let e = parse_jsonl("{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"index\":0}\n{\"process\":1,\"type\":\"ok\",\"f\":\"read\"}\n")
            .unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "line 2: missing field `index`, which earlier events have (give it for every event or for none)"
        );
    }

    fn jsonl_err(text: &str) -> ParseError {
        parse_jsonl(text).unwrap_err()
    }

    #[test]
    fn jsonl_errors_name_the_line_and_what_was_expected() {
        let ok = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"read"}"#;
        let e = jsonl_err(&format!(
            "{ok}\n\n{{\"index\":1,\"time\":1,\"process\":0,\"type\":\"done\",\"f\":\"read\"}}"
        ));
        assert_eq!(
            (e.line, e.problem.clone()),
            (3, ParseProblem::UnknownType("\"done\"".into()))
        );
        let e = jsonl_err(r#"{"index":0,"time":0,"type":"invoke","f":"read"}"#);
        assert_eq!(
            (e.line, e.problem),
            (1, ParseProblem::MissingField("process".into()))
        );
        let e = jsonl_err(r#"{"index":0,"time":0,"process":0,"type":"invoke"}"#);
        assert_eq!(e.problem, ParseProblem::MissingField("f".into()));
        let e = jsonl_err(r#"{"index":0,"time":0,"process":-1,"type":"invoke","f":"read"}"#);
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "process")
        );
        let e = jsonl_err(r#"{"index":"zero","time":0,"process":1,"type":"invoke","f":"read"}"#);
        assert_eq!(
            e.to_string(),
            "line 1: field `index`: expected a non-negative integer, found a string \"zero\""
        );
        let e = jsonl_err(r#"{"index":0,"time":0,"process":1,"type":7,"f":"read"}"#);
        assert!(matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "type"));
        let e =
            jsonl_err(r#"{"index":0,"time":0,"process":1,"type":"invoke","f":"read","error":5}"#);
        assert!(
            matches!(e.problem, ParseProblem::WrongShape { ref field, .. } if field == "error")
        );
        let e =
            jsonl_err(r#"{"index":0,"time":0,"process":1,"type":"ok","f":"read","version":-3}"#);
        assert_eq!(
            e.to_string(),
            "line 1: field `version`: expected a non-negative integer, found a number -3"
        );
        let e = jsonl_err(&format!("{ok}\n{{\"index\":1,"));
        assert_eq!(e.line, 2);
        assert!(matches!(e.problem, ParseProblem::Syntax(_)));
        let e = jsonl_err("[1,2]");
        assert!(e.to_string().contains("expected a JSON object"), "{e}");
        let e = jsonl_err(&format!("{ok}\n{ok}"));
        assert_eq!(e.line, 2);
        assert_eq!(
            e.problem,
            ParseProblem::History(HistoryProblem::IndexNotIncreasing {
                index: 0,
                previous: 0
            })
        );
    }

    #[test]
    fn in_file_order_times_follow_the_events_and_steps_back_are_recorded() {
        let at = |index: u64, time: u64, p: u64, kind: EventType| {
            Event::new(index, time, c(p), kind, "write").with_value(json!(1))
        };
        let events = vec![
            at(0, 100, 0, EventType::Invoke),
            at(1, 200, 0, EventType::Ok),
            at(2, 190, 1, EventType::Invoke),
            at(3, 190, 1, EventType::Ok),
            at(4, 50, 2, EventType::Invoke),
        ];
        assert!(History::from_events(events.clone()).is_err());
        let (h, steps) = History::from_events_in_file_order(events).unwrap();
        let times: Vec<(u64, u64)> = h.ops.iter().map(|o| (o.call, o.ret)).collect();
        assert_eq!(times, vec![(100, 200), (201, 202), (203, u64::MAX)]);
        assert_eq!(h.events[2].time, 190, "events keep their times");
        assert_eq!(
            steps,
            vec![
                TimeStepBack {
                    position: 2,
                    time: 190,
                    previous: 200
                },
                TimeStepBack {
                    position: 4,
                    time: 50,
                    previous: 190
                }
            ]
        );
        assert_eq!(steps[1].by_ns(), 140);
    }

    /// The examples in docs/history.md are real histories.
    #[test]
    fn documented_examples_parse() {
        let doc = include_str!("../../docs/history.md");
        let blocks: Vec<&str> = doc
            .split("```json\n")
            .skip(1)
            .map(|b| b.split("```").next().unwrap())
            .collect();
        assert_eq!(blocks.len(), 5);
        let txn = parse_jsonl(blocks[3]).unwrap();
        assert_eq!((txn.ops.len(), txn.ops[0].f.as_str()), (1, "txn"));
        let jepsen = crate::import::parse(blocks[4], Some(crate::import::Format::JepsenJson));
        assert_eq!(jepsen.unwrap().ops[0].outcome, Outcome::Ok);
        let first = parse_jsonl(blocks[0]).unwrap();
        assert_eq!((first.ops.len(), first.ops[0].outcome), (1, Outcome::Fail));
        let complete = parse_jsonl(blocks[2]).unwrap();
        let outcomes: Vec<Outcome> = complete.ops.iter().map(|o| o.outcome).collect();
        assert_eq!(outcomes, vec![Outcome::Ok, Outcome::Info, Outcome::Fail]);
        assert_eq!(complete.ops[1].call, 310);
        assert_eq!(
            complete.ops.iter().map(|o| o.version).collect::<Vec<_>>(),
            vec![Some(12), None, None]
        );
        assert_eq!(complete.nemesis_events().count(), 1);
    }

    #[test]
    fn empty_text_is_an_empty_history() {
        assert_eq!(parse_jsonl("").unwrap(), History::default());
        assert_eq!(parse_jsonl("\n  \n").unwrap(), History::default());
    }
}
