//! Maelstrom's workload messages: the request body of each faultline operation, and
//! the completion a reply body means (Maelstrom's `:ok`, `:fail`, `:info`).

use crate::client::indeterminate;
use crate::generator::Workload;
use crate::op::{Completion, Kind, Op, OpFn};
use crate::txn;
use serde_json::{json, Value};

/// Maelstrom's error codes that say the operation certainly did not happen
/// (Maelstrom's error table): node-not-found, not-supported,
/// temporarily-unavailable, malformed-request, abort, key-does-not-exist,
/// key-already-exists, precondition-failed, txn-conflict. Every other code (timeout
/// 0, crash 13, and codes nodes define themselves) is indefinite.
pub const DEFINITE: &[u64] = &[1, 10, 11, 12, 14, 20, 21, 22, 30];

/// key-does-not-exist: a lin-kv read of it is a read of nothing (`null`).
const KEY_DOES_NOT_EXIST: u64 = 20;

/// The request body for `op` in `workload` (without `msg_id`); `None` when the
/// workload has no such message.
pub fn request(workload: Workload, op: &Op) -> Option<Value> {
    Some(match op.kind {
        Kind::Generate => json!({"type": "generate"}),
        Kind::SetAdd if workload == Workload::Broadcast => {
            json!({"type": "broadcast", "message": op.value})
        }
        Kind::SetAdd => json!({"type": "add", "element": op.value}),
        Kind::CounterAdd => json!({"type": "add", "delta": op.value}),
        Kind::SetRead | Kind::CounterRead => json!({"type": "read"}),
        Kind::Plain => match op.f {
            OpFn::Read | OpFn::FinalRead => json!({"type": "read", "key": op.key}),
            OpFn::Write => json!({"type": "write", "key": op.key, "value": op.value}),
            OpFn::Cas => {
                json!({"type": "cas", "key": op.key, "from": op.value[0], "to": op.value[1]})
            }
            OpFn::Txn => json!({"type": "txn", "txn": op.value}),
            OpFn::Append => return None,
        },
        Kind::Echo => json!({"type": "echo", "echo": op.value}),
        // The client fills in the offsets from its positions (`super::kafka`).
        Kind::KafkaSend => json!({"type": "send", "key": op.key.to_string(), "msg": op.value}),
        Kind::KafkaPoll => json!({"type": "poll", "offsets": {}}),
        Kind::KafkaCommit => json!({"type": "commit_offsets", "offsets": {}}),
        Kind::KafkaList => json!({"type": "list_committed_offsets", "keys": op.value}),
        Kind::Transfer | Kind::BankRead => return None,
    })
}

/// The completion a reply body means.
pub fn completion(workload: Workload, op: &Op, reply: &Value) -> Completion {
    if let Err(c) = expected_reply(workload, op, reply) {
        return c;
    }
    if op.kind == Kind::Echo {
        return Completion::ok(reply.get("echo").cloned().unwrap_or(Value::Null));
    }
    if op.f == OpFn::Txn {
        return txn_completion(workload, op, reply);
    }
    if !op.f.is_read() {
        return match op.kind {
            Kind::Generate => match reply.get("id") {
                Some(id) if !id.is_null() => Completion::ok(id.clone()),
                _ => indeterminate(op, "malformed-response: generate_ok without an id".into()),
            },
            _ => Completion::ok(op.value.clone()),
        };
    }
    let field = if workload == Workload::Broadcast {
        "messages"
    } else {
        "value"
    };
    let value = reply.get(field).cloned().unwrap_or(Value::Null);
    let fits = match op.kind {
        Kind::SetRead => value
            .as_array()
            .is_some_and(|a| a.iter().all(Value::is_i64)),
        Kind::CounterRead => value.is_i64(),
        _ => true,
    };
    if !fits {
        return Completion::fail(
            Value::Null,
            format!("malformed-response: read_ok's {field:?} is {value}"),
        );
    }
    Completion::ok(value)
}

/// A `txn_ok`: its `txn` must answer the transaction asked, micro-op by micro-op,
/// with reads of the workload's shape ([`txn::completed`]); otherwise it is a
/// malformed answer, and the transaction may or may not have happened.
fn txn_completion(workload: Workload, op: &Op, reply: &Value) -> Completion {
    let checked = match (txn::from_json(&op.value), workload.txn_model()) {
        (Ok(asked), Some(model)) => txn::completed(&asked, &reply["txn"], model),
        (Err(e), _) => Err(e),
        (_, None) => Err(format!("the {workload} workload has no transactions")),
    };
    match checked {
        Ok(mops) => Completion::ok(txn::to_json(&mops)),
        Err(e) => indeterminate(op, format!("malformed-response: txn_ok: {e}")),
    }
}

/// `Ok` when the reply has the request's `_ok` type; otherwise the completion it
/// means: an error's by Maelstrom's table, a reply of another type indeterminate.
pub fn expected_reply(workload: Workload, op: &Op, reply: &Value) -> Result<(), Completion> {
    let kind = reply["type"].as_str().unwrap_or("");
    if kind == "error" {
        return Err(error(op, reply));
    }
    let expected = format!("{}_ok", request_type(workload, op));
    if kind != expected {
        return Err(indeterminate(
            op,
            format!("malformed-response: answered {kind:?}, not {expected:?}"),
        ));
    }
    Ok(())
}

fn request_type(workload: Workload, op: &Op) -> String {
    request(workload, op)
        .and_then(|b| b["type"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// An `error` body: definite codes fail, indefinite ones are `info` (reads, which
/// change nothing, always fail); a lin-kv read of a missing key reads `null`.
fn error(op: &Op, reply: &Value) -> Completion {
    let code = reply["code"].as_u64();
    let text = reply["text"].as_str().unwrap_or("");
    if code == Some(KEY_DOES_NOT_EXIST) && op.kind == Kind::Plain && op.f.is_read() {
        return Completion::ok(Value::Null);
    }
    let what = format!(
        "maelstrom error {}: {text}",
        code.map_or("(no code)".to_string(), |c| c.to_string())
    );
    match code {
        Some(c) if DEFINITE.contains(&c) => Completion::fail(op.value.clone(), what),
        _ => indeterminate(op, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Outcome;

    #[test]
    fn broadcast_and_g_set_adds_have_maelstroms_shapes() {
        let add = Op::set_add(0, 7);
        assert_eq!(
            request(Workload::Broadcast, &add).unwrap(),
            json!({"type": "broadcast", "message": 7})
        );
        assert_eq!(
            request(Workload::GSet, &add).unwrap(),
            json!({"type": "add", "element": 7})
        );
        let read = Op::read(0).with_kind(Kind::SetRead);
        let c = completion(
            Workload::Broadcast,
            &read,
            &json!({"type": "read_ok", "messages": [1, 7]}),
        );
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!([1, 7])));
    }

    #[test]
    fn error_codes_map_to_fail_or_info_by_maelstroms_table() {
        let w = Op::write(1, 5);
        let e = |code: u64| json!({"type": "error", "code": code, "text": "x"});
        assert_eq!(
            completion(Workload::CasRegister, &w, &e(11)).outcome,
            Outcome::Fail
        );
        assert_eq!(
            completion(Workload::CasRegister, &w, &e(13)).outcome,
            Outcome::Info
        );
        assert_eq!(
            completion(Workload::CasRegister, &w, &e(1000)).outcome,
            Outcome::Info
        );
        // A read changes nothing: an indefinite error is a failed read.
        let r = Op::read(1);
        assert_eq!(
            completion(Workload::CasRegister, &r, &e(0)).outcome,
            Outcome::Fail
        );
        let c = completion(Workload::CasRegister, &r, &e(20));
        assert_eq!((c.outcome, c.value), (Outcome::Ok, Value::Null));
    }

    #[test]
    fn a_transaction_is_maelstroms_txn_and_its_reads_are_filled_in_from_txn_ok() {
        let t = Op::txn(&txn::from_json(&json!([["append", 1, 3], ["r", 1, null]])).unwrap());
        assert_eq!(
            request(Workload::TxnAppend, &t).unwrap(),
            json!({"type": "txn", "txn": [["append", 1, 3], ["r", 1, null]]})
        );
        let ok = json!({"type": "txn_ok", "txn": [["append", 1, 3], ["r", 1, [2, 3]]]});
        let c = completion(Workload::TxnAppend, &t, &ok);
        assert_eq!(
            (c.outcome, c.value),
            (Outcome::Ok, json!([["append", 1, 3], ["r", 1, [2, 3]]]))
        );
        // A register read of a list, or an answer to another transaction, is not ok.
        let c = completion(Workload::TxnRegister, &t, &ok);
        assert_eq!(c.outcome, Outcome::Info);
        let other = json!({"type": "txn_ok", "txn": [["append", 1, 4], ["r", 1, [4]]]});
        assert_eq!(
            completion(Workload::TxnAppend, &t, &other).outcome,
            Outcome::Info
        );
        // txn-conflict (30) is definite: the transaction did not happen.
        let abort = json!({"type": "error", "code": 30, "text": "conflict"});
        assert_eq!(
            completion(Workload::TxnAppend, &t, &abort).outcome,
            Outcome::Fail
        );
    }

    #[test]
    fn a_reply_of_the_wrong_type_or_shape_is_never_ok() {
        let g = Op::generate(0);
        let c = completion(Workload::UniqueIds, &g, &json!({"type": "generate_ok"}));
        assert_eq!(c.outcome, Outcome::Info);
        let c = completion(
            Workload::UniqueIds,
            &g,
            &json!({"type": "generate_ok", "id": "n1-4"}),
        );
        assert_eq!((c.outcome, c.value), (Outcome::Ok, json!("n1-4")));
        let r = Op::read(0).with_kind(Kind::CounterRead);
        let c = completion(
            Workload::Counter,
            &r,
            &json!({"type": "read_ok", "value": "3"}),
        );
        assert_eq!(c.outcome, Outcome::Fail);
        let c = completion(Workload::Counter, &r, &json!({"type": "echo_ok"}));
        assert_eq!(c.outcome, Outcome::Fail);
    }
}
