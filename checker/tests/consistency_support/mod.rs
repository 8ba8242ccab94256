//! Hand-built histories for the consistency checkers' tests: a builder that writes
//! events with increasing indices and times and pairs them with
//! `History::from_events`, so tests read like the histories they describe.
#![allow(dead_code)]

use checker::history::{Event, EventType, History, Process};
use serde_json::{json, Value};

#[derive(Default)]
pub struct Builder {
    events: Vec<Event>,
    time: u64,
    hold: bool,
}

impl Builder {
    pub fn new() -> Self {
        Builder::default()
    }

    /// Time advances by 10 ns per event unless set.
    pub fn at(&mut self, time: u64) -> &mut Self {
        assert!(time >= self.time, "test histories must not go back in time");
        self.time = time;
        self
    }

    /// The next event happens at the same time as the last one (ties are where
    /// "before" and "after" rules are easiest to get wrong).
    pub fn same_time(&mut self) -> &mut Self {
        self.hold = true;
        self
    }

    pub fn event(
        &mut self,
        p: Process,
        kind: EventType,
        f: &str,
        key: Option<Value>,
        value: Value,
        node: Option<&str>,
    ) -> &mut Self {
        if !std::mem::take(&mut self.hold) {
            self.time += 10;
        }
        let mut e = Event::new(self.events.len() as u64, self.time, p, kind, f).with_value(value);
        if let Some(k) = key {
            e = e.with_key(k);
        }
        if let Some(n) = node {
            e = e.with_node(n);
        }
        self.events.push(e);
        self
    }

    pub fn invoke(&mut self, p: u64, f: &str, key: Value, value: Value) -> &mut Self {
        self.event(
            Process::Client(p),
            EventType::Invoke,
            f,
            Some(key),
            value,
            None,
        )
    }

    pub fn complete(
        &mut self,
        p: u64,
        kind: EventType,
        f: &str,
        key: Value,
        value: Value,
    ) -> &mut Self {
        self.event(Process::Client(p), kind, f, Some(key), value, None)
    }

    /// An acknowledged append, invoked and completed back to back.
    pub fn append(&mut self, p: u64, key: Value, elem: Value) -> &mut Self {
        self.invoke(p, "append", key.clone(), elem.clone())
            .complete(p, EventType::Ok, "append", key, elem)
    }

    /// An append with the given completion type (`Fail`, `Info`).
    pub fn append_as(&mut self, p: u64, key: Value, elem: Value, kind: EventType) -> &mut Self {
        self.invoke(p, "append", key.clone(), elem.clone())
            .complete(p, kind, "append", key, elem)
    }

    /// A read that returns `list`.
    pub fn read(&mut self, p: u64, key: Value, list: Value) -> &mut Self {
        self.invoke(p, "read", key.clone(), Value::Null).complete(
            p,
            EventType::Ok,
            "read",
            key,
            list,
        )
    }

    /// A keyless set add.
    pub fn add(&mut self, p: u64, elem: Value, kind: EventType) -> &mut Self {
        self.event(
            Process::Client(p),
            EventType::Invoke,
            "add",
            None,
            elem.clone(),
            None,
        )
        .event(Process::Client(p), kind, "add", None, elem, None)
    }

    /// A keyless read (set, counter, bank, ...).
    pub fn read_value(&mut self, p: u64, value: Value) -> &mut Self {
        self.event(
            Process::Client(p),
            EventType::Invoke,
            "read",
            None,
            Value::Null,
            None,
        )
        .event(Process::Client(p), EventType::Ok, "read", None, value, None)
    }

    pub fn final_read(
        &mut self,
        p: u64,
        node: &str,
        key: Option<Value>,
        value: Value,
    ) -> &mut Self {
        self.event(
            Process::Client(p),
            EventType::Invoke,
            "final-read",
            key.clone(),
            Value::Null,
            Some(node),
        )
        .event(
            Process::Client(p),
            EventType::Ok,
            "final-read",
            key,
            value,
            Some(node),
        )
    }

    pub fn nemesis(&mut self, f: &str) -> &mut Self {
        self.event(
            Process::Nemesis,
            EventType::Info,
            f,
            None,
            Value::Null,
            None,
        )
    }

    pub fn build(&self) -> History {
        History::from_events(self.events.clone()).expect("test history is well formed")
    }
}

pub fn k(i: i64) -> Value {
    json!(i)
}
