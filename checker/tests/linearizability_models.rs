//! Each model's sequential semantics, checked through single-client histories (which
//! are linearizable exactly when the model accepts them in order). The differential
//! tests share the models with their reference, so these pin the models down.

use checker::history::{Event, EventType, History, Process};
use checker::linearizability::Options;
use checker::model::{BuiltinModel, CasFailMeaning};
use checker::verdict::Verdict;
use serde_json::{json, Value};

/// One client running `ops` = (f, invocation value, completion type, completion value)
/// one after another.
fn sequential(ops: &[(&str, Value, &str, Value)]) -> History {
    let mut events = Vec::new();
    for (i, (f, input, kind, output)) in ops.iter().enumerate() {
        let i = i as u64;
        let e = |index, kind, value: &Value| Event {
            index,
            time: index,
            process: Process::Client(0),
            kind,
            f: f.to_string(),
            key: None,
            value: value.clone(),
            node: None,
            error: None,
            version: None,
            wall_start: None,
        };
        events.push(e(2 * i, EventType::Invoke, input));
        events.push(e(2 * i + 1, EventType::from_name(kind).unwrap(), output));
    }
    History::from_events(events).unwrap()
}

fn verdict(model: BuiltinModel, ops: &[(&str, Value, &str, Value)]) -> Verdict {
    model
        .check(&sequential(ops), &Options::default())
        .unwrap()
        .verdict
}

const N: Value = Value::Null;
const CAS: BuiltinModel = BuiltinModel::CasRegister(CasFailMeaning::ComparisonFailed);
const KNOSSOS: BuiltinModel = BuiltinModel::CasRegister(CasFailMeaning::NoEffect);
const KV: BuiltinModel = BuiltinModel::Kv(CasFailMeaning::ComparisonFailed);
const DEFAULT_CAS: BuiltinModel = BuiltinModel::CasRegister(CasFailMeaning::FromError);
const DEFAULT_KV: BuiltinModel = BuiltinModel::Kv(CasFailMeaning::FromError);

/// Sets the `error` of the completion of the `i`th operation of a [`sequential`]
/// history.
fn with_error(mut history: History, i: usize, error: &str) -> History {
    let mut events = std::mem::take(&mut history.events);
    events[2 * i + 1].error = Some(error.to_string());
    History::from_events(events).unwrap()
}

#[test]
fn final_reads_are_reads_in_every_register_model() {
    use Verdict::*;
    for (model, write, read) in [
        (BuiltinModel::Register, "write", "read"),
        (DEFAULT_CAS, "write", "read"),
        (DEFAULT_KV, "put", "get"),
    ] {
        let v = if read == "get" { json!("x") } else { json!(1) };
        let wrong = if read == "get" { json!("y") } else { json!(2) };
        let ok = [
            (write, v.clone(), "ok", v.clone()),
            ("final-read", N, "ok", v.clone()),
            (read, N, "ok", v.clone()),
        ];
        assert_eq!(verdict(model, &ok), Valid, "{}", model.name());
        let stale = [
            (write, v.clone(), "ok", v.clone()),
            ("final-read", N, "ok", wrong),
        ];
        assert_eq!(verdict(model, &stale), Invalid, "{}", model.name());
        let unknown = [(write, v.clone(), "ok", v), ("final-read", N, "fail", N)];
        assert_eq!(
            verdict(model, &unknown),
            Valid,
            "{}: a final read that failed constrains nothing",
            model.name()
        );
    }
}

#[test]
fn a_failed_cas_is_read_from_its_error_by_default() {
    use Verdict::*;
    // The register held `from`, yet the CAS failed: impossible if it compared.
    let failed_match = [
        ("write", json!(1), "ok", N),
        ("cas", json!([1, 2]), "fail", N),
        ("read", N, "ok", json!(1)),
    ];
    let check =
        |model: BuiltinModel, h: History| model.check(&h, &Options::default()).unwrap().verdict;
    for (error, want) in [
        (None, Invalid),
        (Some("cas-mismatch"), Invalid),
        (Some("no-leader"), Valid),
        (Some("unavailable"), Valid),
        (Some("timeout"), Valid),
    ] {
        let h = match error {
            None => sequential(&failed_match),
            Some(e) => with_error(sequential(&failed_match), 1, e),
        };
        assert_eq!(
            check(DEFAULT_CAS, h.clone()),
            want,
            "cas-register, error {error:?}"
        );
        // Forcing a reading ignores the error.
        assert_eq!(
            check(CAS, h.clone()),
            Invalid,
            "--cas-fail compared, error {error:?}"
        );
        assert_eq!(
            check(KNOSSOS, h),
            Valid,
            "--cas-fail no-effect, error {error:?}"
        );
    }
    let kv = [
        ("put", json!("a"), "ok", N),
        ("cas", json!(["a", "b"]), "fail", N),
        ("get", N, "ok", json!("a")),
    ];
    assert_eq!(
        check(DEFAULT_KV, with_error(sequential(&kv), 1, "cas-mismatch")),
        Invalid
    );
    assert_eq!(
        check(DEFAULT_KV, with_error(sequential(&kv), 1, "no-leader")),
        Valid
    );
    // A comparison that failed where the register did not hold `from` is fine.
    let mismatch = [
        ("write", json!(1), "ok", N),
        ("cas", json!([5, 2]), "fail", N),
        ("read", N, "ok", json!(1)),
    ];
    assert_eq!(
        check(
            DEFAULT_CAS,
            with_error(sequential(&mismatch), 1, "cas-mismatch")
        ),
        Valid
    );
}

#[test]
fn registers() {
    use Verdict::*;
    let r = BuiltinModel::Register;
    assert_eq!(verdict(r, &[("read", N, "ok", N)]), Valid, "starts nil");
    assert_eq!(
        verdict(
            r,
            &[
                ("write", json!(1), "ok", json!(1)),
                ("read", N, "ok", json!(1))
            ]
        ),
        Valid
    );
    assert_eq!(
        verdict(
            r,
            &[
                ("write", json!(1), "ok", json!(1)),
                ("read", N, "ok", json!(2))
            ]
        ),
        Invalid
    );
    assert_eq!(
        verdict(
            r,
            &[
                ("write", json!(1), "fail", json!(1)),
                ("read", N, "ok", json!(1))
            ]
        ),
        Invalid,
        "a failed write did nothing"
    );
    assert_eq!(
        verdict(
            r,
            &[("write", json!("1"), "ok", N), ("read", N, "ok", json!(1))]
        ),
        Invalid,
        "\"1\" is not 1"
    );
    assert!(
        r.check(
            &sequential(&[("cas", json!([1, 2]), "ok", N)]),
            &Options::default()
        )
        .is_err(),
        "no cas in a plain register"
    );
}

#[test]
fn cas_registers_and_the_meaning_of_a_failed_cas() {
    use Verdict::*;
    let ok_cas = [
        ("write", json!(1), "ok", N),
        ("cas", json!([1, 2]), "ok", N),
        ("read", N, "ok", json!(2)),
    ];
    assert_eq!(verdict(CAS, &ok_cas), Valid);
    let wrong_cas = [
        ("write", json!(1), "ok", N),
        ("cas", json!([3, 2]), "ok", N),
    ];
    assert_eq!(verdict(CAS, &wrong_cas), Invalid);
    // A CAS that failed although the register held `from`: impossible if it compared,
    // fine if a failure means it did nothing.
    let failed_match = [
        ("write", json!(1), "ok", N),
        ("cas", json!([1, 2]), "fail", N),
        ("read", N, "ok", json!(1)),
    ];
    assert_eq!(verdict(CAS, &failed_match), Invalid);
    assert_eq!(verdict(KNOSSOS, &failed_match), Valid);
    let failed_mismatch = [
        ("write", json!(1), "ok", N),
        ("cas", json!([5, 2]), "fail", N),
        ("read", N, "ok", json!(1)),
    ];
    assert_eq!(verdict(CAS, &failed_mismatch), Valid);
    assert!(
        CAS.check(
            &sequential(&[("cas", json!(3), "ok", N)]),
            &Options::default()
        )
        .is_err(),
        "cas needs [from, to]"
    );
}

#[test]
fn kv_values_are_strings_that_appends_extend() {
    use Verdict::*;
    let ops = [
        ("append", json!("a"), "ok", N),
        ("append", json!("b"), "ok", N),
        ("get", N, "ok", json!("ab")),
    ];
    assert_eq!(verdict(KV, &ops), Valid);
    let ops = [
        ("append", json!("a"), "ok", N),
        ("append", json!("b"), "ok", N),
        ("get", N, "ok", json!("ba")),
    ];
    assert_eq!(verdict(KV, &ops), Invalid);
    assert_eq!(
        verdict(KV, &[("get", N, "ok", json!(""))]),
        Valid,
        "absent reads as empty"
    );
    assert_eq!(
        verdict(KV, &[("get", N, "ok", N)]),
        Valid,
        "nil and empty are the same"
    );
    let ops = [
        ("put", json!("x"), "ok", N),
        ("append", json!("y"), "ok", N),
        ("read", N, "ok", json!("xy")),
    ];
    assert_eq!(verdict(KV, &ops), Valid, "put/read spellings");
    let ops = [
        ("write", json!("x"), "ok", N),
        ("cas", json!(["x", "z"]), "ok", N),
        ("get", N, "ok", json!("z")),
    ];
    assert_eq!(verdict(KV, &ops), Valid);
}

#[test]
fn sets_queues_and_mutexes() {
    use Verdict::*;
    let set = BuiltinModel::Set;
    let ops = [
        ("add", json!(2), "ok", N),
        ("add", json!(1), "ok", N),
        ("read", N, "ok", json!([1, 2])),
    ];
    assert_eq!(verdict(set, &ops), Valid, "reads in any order");
    let ops = [("add", json!(2), "ok", N), ("read", N, "ok", json!([]))];
    assert_eq!(verdict(set, &ops), Invalid);

    let fifo = BuiltinModel::FifoQueue;
    let bag = BuiltinModel::UnorderedQueue;
    let in_order = [
        ("enqueue", json!(1), "ok", N),
        ("enqueue", json!(2), "ok", N),
        ("dequeue", N, "ok", json!(1)),
    ];
    let reordered = [
        ("enqueue", json!(1), "ok", N),
        ("enqueue", json!(2), "ok", N),
        ("dequeue", N, "ok", json!(2)),
    ];
    assert_eq!(verdict(fifo, &in_order), Valid);
    assert_eq!(verdict(fifo, &reordered), Invalid);
    assert_eq!(verdict(bag, &reordered), Valid);
    let phantom = [
        ("enqueue", json!(1), "ok", N),
        ("dequeue", N, "ok", json!(3)),
    ];
    assert_eq!(verdict(bag, &phantom), Invalid);
    let empty = [("dequeue", N, "ok", N)];
    assert_eq!(verdict(fifo, &empty), Valid, "nil: the queue was empty");
    let not_empty = [("enqueue", json!(1), "ok", N), ("dequeue", N, "ok", N)];
    assert_eq!(verdict(fifo, &not_empty), Invalid);

    let mutex = BuiltinModel::Mutex;
    assert_eq!(
        verdict(
            mutex,
            &[
                ("acquire", N, "ok", N),
                ("release", N, "ok", N),
                ("acquire", N, "ok", N)
            ]
        ),
        Valid
    );
    assert_eq!(
        verdict(mutex, &[("acquire", N, "ok", N), ("acquire", N, "ok", N)]),
        Invalid
    );
    assert_eq!(verdict(mutex, &[("release", N, "ok", N)]), Invalid);
    assert_eq!(
        verdict(mutex, &[("acquire", N, "ok", N), ("acquire", N, "fail", N)]),
        Valid
    );
}

#[test]
fn multi_register_transactions() {
    use Verdict::*;
    let m = BuiltinModel::MultiRegister;
    let ops = [
        (
            "txn",
            json!([["w", "x", 1], ["w", "y", 2]]),
            "ok",
            json!([["w", "x", 1], ["w", "y", 2]]),
        ),
        (
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
            "ok",
            json!([["r", "x", 1], ["r", "y", 2]]),
        ),
    ];
    assert_eq!(verdict(m, &ops), Valid);
    let torn = [
        (
            "txn",
            json!([["w", "x", 1], ["w", "y", 2]]),
            "ok",
            json!([["w", "x", 1], ["w", "y", 2]]),
        ),
        (
            "txn",
            json!([["r", "x", null], ["r", "y", null]]),
            "ok",
            json!([["r", "x", 1], ["r", "y", null]]),
        ),
    ];
    assert_eq!(verdict(m, &torn), Invalid);
    let own_write = [(
        "txn",
        json!([["w", "x", 3], ["r", "x", null]]),
        "ok",
        json!([["w", "x", 3], ["r", "x", 3]]),
    )];
    assert_eq!(
        verdict(m, &own_write),
        Valid,
        "a transaction reads its own writes"
    );
    assert!(m
        .check(
            &sequential(&[("txn", json!([["q", "x", 1]]), "ok", N)]),
            &Options::default()
        )
        .is_err());
}
