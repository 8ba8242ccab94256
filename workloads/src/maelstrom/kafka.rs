//! A kafka client's consumer state, as Maelstrom's clients keep it: per log, the
//! position after the last message it polled. A `poll` asks from those positions,
//! a `commit_offsets` commits the last offset polled in each log, and every answer
//! is recorded in the shapes `checker::kafka` reads.

use super::messages::expected_reply;
use crate::client::indeterminate;
use crate::generator::Workload;
use crate::op::{Completion, Kind, Op};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Consumer {
    /// Per log, the next offset to poll from.
    positions: Mutex<BTreeMap<String, u64>>,
}

impl Consumer {
    fn positions(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.positions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the start of every log (before a final poll).
    pub fn rewind(&self) {
        self.positions().clear();
    }

    /// Fills in a poll's or a commit's `offsets`: a poll asks every log named from
    /// the position (0 before any poll), a commit names the last offset polled in
    /// each log polled at all.
    pub fn prepare(&self, op: &Op, body: &mut Value) {
        let logs: Vec<String> = op
            .value
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let positions = self.positions();
        let offsets: Map<String, Value> = match op.kind {
            Kind::KafkaPoll => logs
                .into_iter()
                .map(|k| {
                    let at = positions.get(&k).copied().unwrap_or(0);
                    (k, json!(at))
                })
                .collect(),
            Kind::KafkaCommit => logs
                .into_iter()
                .filter_map(|k| {
                    let at = positions.get(&k).copied().filter(|&p| p > 0)?;
                    Some((k, json!(at - 1)))
                })
                .collect(),
            _ => return,
        };
        body["offsets"] = Value::Object(offsets);
    }

    /// The completion of a kafka request `asked` answered with `reply`; a poll's
    /// messages move the positions on.
    pub fn completion(&self, op: &Op, asked: &Value, reply: &Value) -> Completion {
        if let Err(c) = expected_reply(Workload::Kafka, op, reply) {
            return c;
        }
        match op.kind {
            Kind::KafkaSend => match reply["offset"].as_u64() {
                Some(offset) => Completion::ok(json!([offset, op.value])),
                None => indeterminate(op, "malformed-response: send_ok without an offset".into()),
            },
            Kind::KafkaPoll => self.polled(op, &asked["offsets"], &reply["msgs"]),
            Kind::KafkaCommit => Completion::ok(asked["offsets"].clone()),
            _ => match offsets(&reply["offsets"]) {
                Some(o) => Completion::ok(Value::Object(o)),
                None => malformed(op, "list_committed_offsets_ok's offsets", &reply["offsets"]),
            },
        }
    }

    fn polled(&self, op: &Op, from: &Value, msgs: &Value) -> Completion {
        let Some(all) = msgs.as_object() else {
            return malformed(op, "poll_ok's msgs", msgs);
        };
        let mut kept = Map::new();
        let mut next: Vec<(String, u64)> = Vec::new();
        for key in from.as_object().map(|m| m.keys()).into_iter().flatten() {
            let entries = all.get(key).cloned().unwrap_or(json!([]));
            let Some(pairs) = entries.as_array() else {
                return malformed(op, "poll_ok's msgs", msgs);
            };
            for pair in pairs {
                let Some([o, m]) = pair.as_array().map(Vec::as_slice) else {
                    return malformed(op, "a polled message", pair);
                };
                let (Some(o), true) = (o.as_u64(), m.is_i64()) else {
                    return malformed(op, "a polled message", pair);
                };
                next.push((key.clone(), o + 1));
            }
            kept.insert(key.clone(), entries);
        }
        let mut positions = self.positions();
        for (key, at) in next {
            let p = positions.entry(key).or_default();
            *p = (*p).max(at);
        }
        Completion::ok(json!({"from": from, "msgs": kept}))
    }
}

/// How many polls a final poll may take before it gives up (a log still growing
/// after the final heal, or a node answering one message per poll to a long log).
pub const FINAL_POLL_ROUNDS: usize = 1000;

/// A final poll's messages gathered over its polls, in the shape of one poll from
/// offset 0 of every log.
#[derive(Debug, Default)]
pub struct FinalPoll {
    from: Map<String, Value>,
    msgs: BTreeMap<String, Vec<Value>>,
}

impl FinalPoll {
    /// Adds one poll's completion value; false when it brought no message.
    pub fn add(&mut self, polled: &Value) -> bool {
        for key in polled["from"]
            .as_object()
            .map(|m| m.keys())
            .into_iter()
            .flatten()
        {
            self.from.entry(key.clone()).or_insert(json!(0));
        }
        let mut any = false;
        for (key, entries) in polled["msgs"].as_object().into_iter().flatten() {
            let got = entries.as_array().cloned().unwrap_or_default();
            any |= !got.is_empty();
            self.msgs.entry(key.clone()).or_default().extend(got);
        }
        any
    }

    pub fn into_value(mut self) -> Value {
        let msgs: Map<String, Value> = self
            .from
            .keys()
            .map(|k| (k.clone(), json!(self.msgs.remove(k).unwrap_or_default())))
            .collect();
        json!({"from": self.from, "msgs": msgs})
    }
}

/// `{key: offset}` with every offset a non-negative integer.
fn offsets(v: &Value) -> Option<Map<String, Value>> {
    let m = v.as_object()?;
    m.values().all(Value::is_u64).then(|| m.clone())
}

/// A reply of the wrong shape: a failed read (polls and lists change nothing).
fn malformed(op: &Op, what: &str, v: &Value) -> Completion {
    indeterminate(op, format!("malformed-response: {what} is {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Outcome;

    #[test]
    fn a_consumer_polls_from_its_positions_and_commits_what_it_polled() {
        let c = Consumer::default();
        let poll = Op::kafka(Kind::KafkaPoll, &[1, 2]);
        let mut body = super::super::messages::request(Workload::Kafka, &poll).unwrap();
        c.prepare(&poll, &mut body);
        assert_eq!(body["offsets"], json!({"1": 0, "2": 0}));
        let reply = json!({"type": "poll_ok", "msgs": {"1": [[0, 7], [3, 9]], "9": [[0, 1]]}});
        let done = c.completion(&poll, &body, &reply);
        assert_eq!(done.outcome, Outcome::Ok);
        assert_eq!(
            done.value,
            json!({"from": {"1": 0, "2": 0}, "msgs": {"1": [[0, 7], [3, 9]], "2": []}})
        );
        let mut body = super::super::messages::request(Workload::Kafka, &poll).unwrap();
        c.prepare(&poll, &mut body);
        assert_eq!(body["offsets"], json!({"1": 4, "2": 0}));
        let commit = Op::kafka(Kind::KafkaCommit, &[1, 2]);
        let mut body = super::super::messages::request(Workload::Kafka, &commit).unwrap();
        c.prepare(&commit, &mut body);
        assert_eq!(body["offsets"], json!({"1": 3}));
        let done = c.completion(&commit, &body, &json!({"type": "commit_offsets_ok"}));
        assert_eq!((done.outcome, done.value), (Outcome::Ok, json!({"1": 3})));
    }

    #[test]
    fn a_final_poll_gathers_every_log_from_its_start_until_a_poll_brings_nothing() {
        let mut all = FinalPoll::default();
        assert!(all.add(&json!({"from": {"1": 0, "2": 0}, "msgs": {"1": [[0, 7]], "2": []}})));
        assert!(all.add(&json!({"from": {"1": 1, "2": 0}, "msgs": {"1": [[1, 8]], "2": []}})));
        assert!(!all.add(&json!({"from": {"1": 2, "2": 0}, "msgs": {"1": [], "2": []}})));
        assert_eq!(
            all.into_value(),
            json!({"from": {"1": 0, "2": 0}, "msgs": {"1": [[0, 7], [1, 8]], "2": []}})
        );
        let c = Consumer::default();
        let poll = Op::kafka(Kind::KafkaPoll, &[1]);
        let mut body = super::super::messages::request(Workload::Kafka, &poll).unwrap();
        c.prepare(&poll, &mut body);
        c.completion(
            &poll,
            &body,
            &json!({"type": "poll_ok", "msgs": {"1": [[0, 7]]}}),
        );
        c.rewind();
        c.prepare(&poll, &mut body);
        assert_eq!(body["offsets"], json!({"1": 0}));
    }

    #[test]
    fn kafka_replies_of_the_wrong_shape_are_never_ok() {
        let c = Consumer::default();
        let send = Op::kafka_send(1, 5);
        let body = super::super::messages::request(Workload::Kafka, &send).unwrap();
        assert_eq!(body, json!({"type": "send", "key": "1", "msg": 5}));
        let ok = c.completion(&send, &body, &json!({"type": "send_ok", "offset": 2}));
        assert_eq!((ok.outcome, ok.value), (Outcome::Ok, json!([2, 5])));
        let bad = c.completion(&send, &body, &json!({"type": "send_ok"}));
        assert_eq!(bad.outcome, Outcome::Info);
        let poll = Op::kafka(Kind::KafkaPoll, &[1]);
        let mut body = super::super::messages::request(Workload::Kafka, &poll).unwrap();
        c.prepare(&poll, &mut body);
        let bad = c.completion(
            &poll,
            &body,
            &json!({"type": "poll_ok", "msgs": {"1": [[0]]}}),
        );
        assert_eq!(bad.outcome, Outcome::Fail);
        let list = Op::kafka(Kind::KafkaList, &[1]);
        let bad = c.completion(
            &list,
            &json!({}),
            &json!({"type": "list_committed_offsets_ok", "offsets": {"1": -1}}),
        );
        assert_eq!(bad.outcome, Outcome::Fail);
    }
}
