//! Maelstrom's kafka checks, on a history of replicated logs: `send` appends a
//! message to a key's log and is told its offset; `poll` reads each key's log from
//! an offset; `commit_offsets` says a consumer has processed a key's log up to an
//! offset; `list_committed_offsets` reads those back.
//!
//! History shapes (what `workloads::maelstrom` records): a `send` has the log's key
//! as its `key` (an integer, or the key's string) and the message (an integer) as
//! its value, and completes `ok` with `[offset, message]`; a `poll` completes with
//! `{"from": {key: offset}, "msgs": {key: [[offset, message], ...]}}`; a
//! `commit_offsets` with `{key: offset}` (what was committed); a
//! `list_committed_offsets` with `{key: offset}`. Messages are unique.
//!
//! The checks, as Maelstrom's (each found with its operations):
//! - **inconsistent offsets**: one offset of a key holding two messages;
//! - **duplicates**: one message at two offsets;
//! - **non-monotonic polls**: a poll's offsets for a key not strictly increasing, or
//!   below the offset it asked from;
//! - **lost writes**: an acknowledged send that no poll ever returned although a poll
//!   invoked after the send completed asked from at or below its offset and returned
//!   a higher one (it skipped the message); or one missing from every final poll
//!   of its log (`final-poll`: each node's whole log after the final heal), even if
//!   an earlier poll returned it;
//! - **committed offsets going backwards**: a `list_committed_offsets` returning, for
//!   a key, less than a commit acknowledged before it was invoked, or less than a
//!   list that completed before it was invoked (committing is "processed up to", so
//!   the committed offset of a key only grows).

use crate::history::{History, Operation, Outcome};
use crate::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub const SEND_F: &str = "send";
pub const POLL_F: &str = "poll";
/// A poll of every log from offset 0 on each node after the final heal, repeated
/// until the node had no more: a poll whose messages are the whole log.
pub const FINAL_POLL_F: &str = "final-poll";
pub const COMMIT_F: &str = "commit_offsets";
pub const LIST_F: &str = "list_committed_offsets";

/// Examples kept per kind of anomaly.
const KEPT: usize = 10;

/// One anomaly: what, on which key and offset, and the history indexes of the
/// invocations that show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaAnomaly {
    pub key: String,
    pub offset: u64,
    pub what: String,
    pub ops: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KafkaReport {
    pub verdict: Verdict,
    pub sends_acknowledged: u64,
    pub polls_acknowledged: u64,
    pub final_polls_acknowledged: u64,
    pub commits_acknowledged: u64,
    pub lists_acknowledged: u64,
    /// Anomalies by kind (`inconsistent-offsets`, `duplicates`, `nonmonotonic-polls`,
    /// `lost-writes`, `committed-offsets-backwards`): how many were found.
    pub counts: BTreeMap<&'static str, u64>,
    /// The first few of each kind.
    pub examples: BTreeMap<&'static str, Vec<KafkaAnomaly>>,
}

impl KafkaReport {
    fn found(&mut self, kind: &'static str, a: KafkaAnomaly) {
        *self.counts.entry(kind).or_default() += 1;
        let kept = self.examples.entry(kind).or_default();
        if kept.len() < KEPT {
            kept.push(a);
        }
    }
}

/// A log's key as the maps name it.
fn key_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

/// `[[offset, message], ...]`, skipping entries of another shape.
fn entries(v: &Value) -> Vec<(u64, Value)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e.get(0)?.as_u64()?, e.get(1)?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

/// `{key: offset}`.
fn offsets(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, o)| Some((k.clone(), o.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a message was seen: (key, offset), with an operation that saw it there.
type Places = BTreeMap<(String, u64), u64>;

/// What every acknowledged send and poll saw at each offset.
#[derive(Default)]
struct Observed {
    /// (key, offset) -> messages seen there, with an operation that saw each.
    at: BTreeMap<(String, u64), BTreeMap<String, u64>>,
    /// message -> (key, offset) where it was seen, with an operation.
    of: HashMap<String, Places>,
    /// Messages some poll returned.
    polled: BTreeSet<String>,
    /// Per log, the messages final polls returned (a log no final poll read is
    /// absent).
    finals: HashMap<String, BTreeSet<String>>,
}

impl Observed {
    fn saw(&mut self, key: &str, offset: u64, msg: &Value, op: u64) {
        let m = msg.to_string();
        self.at
            .entry((key.to_string(), offset))
            .or_default()
            .entry(m.clone())
            .or_insert(op);
        self.of
            .entry(m)
            .or_default()
            .entry((key.to_string(), offset))
            .or_insert(op);
    }
}

/// A poll of one key: invoked at `call`, asked from `from`, returned `offsets`.
struct PollOfKey {
    call: u64,
    from: u64,
    highest: Option<u64>,
    op: u64,
}

/// Runs every check on the history's kafka operations.
pub fn check_kafka(history: &History) -> KafkaReport {
    let mut r = KafkaReport {
        verdict: Verdict::Valid,
        sends_acknowledged: 0,
        polls_acknowledged: 0,
        final_polls_acknowledged: 0,
        commits_acknowledged: 0,
        lists_acknowledged: 0,
        counts: BTreeMap::new(),
        examples: BTreeMap::new(),
    };
    let mut seen = Observed::default();
    let mut polls: HashMap<String, Vec<PollOfKey>> = HashMap::new();
    let ok = history.ops.iter().filter(|o| o.outcome == Outcome::Ok);
    for op in ok {
        match op.f.as_str() {
            SEND_F => {
                r.sends_acknowledged += 1;
                if let (Some(offset), Some(key)) =
                    (op.output.get(0).and_then(Value::as_u64), &op.key)
                {
                    seen.saw(&key_text(key), offset, &op.input, op.invoke_index);
                }
            }
            POLL_F => {
                r.polls_acknowledged += 1;
                poll(&mut r, &mut seen, &mut polls, op);
            }
            FINAL_POLL_F => {
                r.final_polls_acknowledged += 1;
                poll(&mut r, &mut seen, &mut polls, op);
            }
            COMMIT_F => r.commits_acknowledged += 1,
            LIST_F => r.lists_acknowledged += 1,
            _ => {}
        }
    }
    offsets_and_duplicates(&mut r, &seen);
    lost_writes(&mut r, &seen, &polls, history);
    committed_backwards(&mut r, history);
    r.verdict = if r.counts.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    r
}

/// Records one poll's messages (a final poll's also as its logs' whole content), and
/// checks that each key's offsets increase from where it asked.
fn poll(
    r: &mut KafkaReport,
    seen: &mut Observed,
    polls: &mut HashMap<String, Vec<PollOfKey>>,
    op: &Operation,
) {
    let from = offsets(&op.output["from"]);
    let Some(msgs) = op.output["msgs"].as_object() else {
        return;
    };
    for (key, from) in &from {
        let got = msgs.get(key).map(entries).unwrap_or_default();
        if op.f == FINAL_POLL_F {
            let finals = seen.finals.entry(key.clone()).or_default();
            finals.extend(got.iter().map(|(_, m)| m.to_string()));
        }
        let mut last: Option<u64> = None;
        for (offset, msg) in &got {
            seen.saw(key, *offset, msg, op.invoke_index);
            seen.polled.insert(msg.to_string());
            let what = match last {
                _ if offset < from => Some(format!("returned offset {offset}, asked from {from}")),
                Some(l) if *offset <= l => Some(format!("offset {offset} after {l}")),
                _ => None,
            };
            if let Some(what) = what {
                r.found(
                    "nonmonotonic-polls",
                    KafkaAnomaly {
                        key: key.clone(),
                        offset: *offset,
                        what,
                        ops: vec![op.invoke_index],
                    },
                );
            }
            last = Some(last.map_or(*offset, |l| l.max(*offset)));
        }
        polls.entry(key.clone()).or_default().push(PollOfKey {
            call: op.call,
            from: *from,
            highest: last,
            op: op.invoke_index,
        });
    }
}

/// An offset holding two messages; a message at two offsets.
fn offsets_and_duplicates(r: &mut KafkaReport, seen: &Observed) {
    for ((key, offset), msgs) in &seen.at {
        if msgs.len() > 1 {
            r.found(
                "inconsistent-offsets",
                KafkaAnomaly {
                    key: key.clone(),
                    offset: *offset,
                    what: format!(
                        "holds {}",
                        msgs.keys().cloned().collect::<Vec<_>>().join(" and ")
                    ),
                    ops: msgs.values().copied().collect(),
                },
            );
        }
    }
    let mut dupes: Vec<(&String, &Places)> =
        seen.of.iter().filter(|(_, at)| at.len() > 1).collect();
    dupes.sort();
    for (msg, at) in dupes {
        let ((key, offset), _) = at.iter().next().expect("more than one");
        let places: Vec<String> = at.keys().map(|(k, o)| format!("{k}@{o}")).collect();
        r.found(
            "duplicates",
            KafkaAnomaly {
                key: key.clone(),
                offset: *offset,
                what: format!("message {msg} at {}", places.join(", ")),
                ops: at.values().copied().collect(),
            },
        );
    }
}

/// Acknowledged sends missing from every final poll of their log, or that a later
/// poll skipped and no poll ever returned.
fn lost_writes(
    r: &mut KafkaReport,
    seen: &Observed,
    polls: &HashMap<String, Vec<PollOfKey>>,
    history: &History,
) {
    let sends = history
        .ops
        .iter()
        .filter(|o| o.f == SEND_F && o.outcome == Outcome::Ok);
    for send in sends {
        let (Some(offset), Some(key)) = (send.output.get(0).and_then(Value::as_u64), &send.key)
        else {
            continue;
        };
        let key = key_text(key);
        let msg = send.input.to_string();
        let (what, ops) = if seen.finals.get(&key).is_some_and(|f| !f.contains(&msg)) {
            (
                "missing from every final poll of its log",
                vec![send.invoke_index],
            )
        } else if seen.polled.contains(&msg) {
            continue;
        } else {
            let skipped_by = polls.get(&key).and_then(|ps| {
                ps.iter().find(|p| {
                    p.call > send.ret && p.from <= offset && p.highest.is_some_and(|h| h > offset)
                })
            });
            let Some(p) = skipped_by else { continue };
            (
                "skipped by a later poll and never returned",
                vec![send.invoke_index, p.op],
            )
        };
        r.found(
            "lost-writes",
            KafkaAnomaly {
                key,
                offset,
                what: format!("message {msg} acknowledged at offset {offset}, {what}"),
                ops,
            },
        );
    }
}

/// A list of committed offsets below what was committed, or listed, before it.
fn committed_backwards(r: &mut KafkaReport, history: &History) {
    let done = |f: &'static str| {
        history
            .ops
            .iter()
            .filter(move |o| o.f == f && o.outcome == Outcome::Ok)
    };
    // Floors: (completed at, key, offset, op), from commits and from lists.
    let mut floors: Vec<(u64, String, u64, u64)> = Vec::new();
    for op in done(COMMIT_F).chain(done(LIST_F)) {
        for (k, o) in offsets(&op.output) {
            floors.push((op.ret, k, o, op.invoke_index));
        }
    }
    for list in done(LIST_F) {
        let got = offsets(&list.output);
        let asked: Vec<String> = list
            .input
            .as_array()
            .map(|a| a.iter().map(key_text).collect())
            .unwrap_or_default();
        for key in asked {
            let have = got.get(&key).copied();
            let floor = floors
                .iter()
                .filter(|(ret, k, _, _)| *ret < list.call && *k == key)
                .max_by_key(|(_, _, o, _)| *o);
            let Some((_, _, o, by)) = floor else { continue };
            if have.is_none_or(|h| h < *o) {
                r.found(
                    "committed-offsets-backwards",
                    KafkaAnomaly {
                        key: key.clone(),
                        offset: *o,
                        what: format!(
                            "listed {}, after offset {o} was committed or listed",
                            have.map_or("nothing".to_string(), |h| h.to_string())
                        ),
                        ops: vec![*by, list.invoke_index],
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::parse_jsonl;
    use serde_json::json;

    /// A history from (process, f, key, invoke value, outcome, completion value),
    /// each operation completing before the next is invoked.
    fn history(ops: &[(u64, &str, Value, Value, &str, Value)]) -> History {
        let mut text = String::new();
        for (i, (p, f, key, input, outcome, output)) in ops.iter().enumerate() {
            let t = 10 * i as u64;
            let key = if key.is_null() {
                String::new()
            } else {
                format!(",\"key\":{key}")
            };
            text.push_str(&format!(
                "{{\"type\":\"invoke\",\"f\":\"{f}\",\"process\":{p},\"time\":{t},\"value\":{input}{key}}}\n{{\"type\":\"{outcome}\",\"f\":\"{f}\",\"process\":{p},\"time\":{},\"value\":{output}{key}}}\n",
                t + 5
            ));
        }
        parse_jsonl(&text).unwrap()
    }

    fn send(
        key: u64,
        msg: i64,
        offset: u64,
    ) -> (u64, &'static str, Value, Value, &'static str, Value) {
        (
            0,
            SEND_F,
            json!(key),
            json!(msg),
            "ok",
            json!([offset, msg]),
        )
    }

    fn poll(
        key: &str,
        from: u64,
        msgs: Value,
    ) -> (u64, &'static str, Value, Value, &'static str, Value) {
        (
            1,
            POLL_F,
            Value::Null,
            json!([key]),
            "ok",
            json!({"from": {key: from}, "msgs": {key: msgs}}),
        )
    }

    #[test]
    fn a_log_read_back_in_order_with_growing_commits_is_valid() {
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 1),
            poll("1", 0, json!([[0, 10], [1, 11]])),
            (
                1,
                COMMIT_F,
                Value::Null,
                json!(["1"]),
                "ok",
                json!({"1": 1}),
            ),
            (2, LIST_F, Value::Null, json!(["1"]), "ok", json!({"1": 1})),
        ]);
        let r = check_kafka(&h);
        assert_eq!(r.verdict, Verdict::Valid, "{r:?}");
        assert_eq!((r.sends_acknowledged, r.polls_acknowledged), (2, 1));
    }

    #[test]
    fn a_skipped_acknowledged_send_is_a_lost_write() {
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 1),
            send(1, 12, 2),
            poll("1", 0, json!([[0, 10], [2, 12]])),
        ]);
        let r = check_kafka(&h);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.counts.get("lost-writes"), Some(&1), "{r:?}");
        assert_eq!(r.examples["lost-writes"][0].offset, 1);
        // A poll that stopped before offset 1 has not skipped it.
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 1),
            poll("1", 0, json!([[0, 10]])),
        ]);
        assert_eq!(check_kafka(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn an_acknowledged_send_missing_from_every_final_poll_is_lost_even_if_polled_before() {
        let final_poll = |node: u64, msgs: Value| {
            let (_, _, key, input, outcome, output) = poll("1", 0, msgs);
            (node, FINAL_POLL_F, key, input, outcome, output)
        };
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 1),
            poll("1", 0, json!([[0, 10], [1, 11]])),
            final_poll(5, json!([[0, 10]])),
            final_poll(6, json!([[0, 10]])),
        ]);
        let r = check_kafka(&h);
        assert_eq!(r.final_polls_acknowledged, 2);
        assert_eq!(r.counts.get("lost-writes"), Some(&1), "{r:?}");
        let e = &r.examples["lost-writes"][0];
        assert!(e.what.contains("missing from every final poll"), "{e:?}");
        assert_eq!(e.offset, 1);
        // One node's final poll having it is enough.
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 1),
            final_poll(5, json!([[0, 10]])),
            final_poll(6, json!([[0, 10], [1, 11]])),
        ]);
        assert_eq!(check_kafka(&h).verdict, Verdict::Valid);
    }

    #[test]
    fn two_messages_at_one_offset_and_one_message_at_two_offsets_are_found() {
        let h = history(&[
            send(1, 10, 0),
            send(1, 11, 0),
            poll("1", 0, json!([[0, 10], [1, 10]])),
        ]);
        let r = check_kafka(&h);
        assert_eq!(r.counts.get("inconsistent-offsets"), Some(&1), "{r:?}");
        assert_eq!(r.counts.get("duplicates"), Some(&1), "{r:?}");
    }

    #[test]
    fn a_poll_going_backwards_or_below_where_it_asked_is_non_monotonic() {
        let h = history(&[
            send(1, 10, 3),
            send(1, 11, 4),
            poll("1", 4, json!([[4, 11], [3, 10]])),
        ]);
        let r = check_kafka(&h);
        assert_eq!(r.counts.get("nonmonotonic-polls"), Some(&1), "{r:?}");
        let e = &r.examples["nonmonotonic-polls"][0];
        assert!(e.what.contains("asked from 4"), "{e:?}");
    }

    #[test]
    fn a_committed_offset_listed_lower_than_an_earlier_commit_goes_backwards() {
        let h = history(&[
            (
                1,
                COMMIT_F,
                Value::Null,
                json!(["1"]),
                "ok",
                json!({"1": 5}),
            ),
            (2, LIST_F, Value::Null, json!(["1"]), "ok", json!({"1": 3})),
            (2, LIST_F, Value::Null, json!(["1"]), "ok", json!({})),
        ]);
        let r = check_kafka(&h);
        assert_eq!(
            r.counts.get("committed-offsets-backwards"),
            Some(&2),
            "{r:?}"
        );
        // An unacknowledged commit sets no floor.
        let h = history(&[
            (1, COMMIT_F, Value::Null, json!(["1"]), "info", json!(["1"])),
            (2, LIST_F, Value::Null, json!(["1"]), "ok", json!({})),
        ]);
        assert_eq!(check_kafka(&h).verdict, Verdict::Valid);
    }
}
