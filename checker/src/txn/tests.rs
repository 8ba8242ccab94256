//! Every anomaly on a hand-built history: found, named, explained, and the models it
//! rules out.

use super::anomaly::IsolationModel::*;
use super::*;
use crate::history::{Event, EventType, History, Process};
use crate::verdict::Verdict;
use serde_json::{json, Value};

/// A transaction: process, outcome (`ok`, `fail`, `info`), micro-operations as the
/// completion shows them (the invocation gets the same with reads blanked).
type T = (u64, &'static str, Value);

fn blank_reads(v: &Value) -> Value {
    Value::Array(
        v.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let m = m.as_array().unwrap();
                if m[0] == "r" {
                    json!(["r", m[1], null])
                } else {
                    Value::Array(m.clone())
                }
            })
            .collect(),
    )
}

fn completion(kind: &str) -> EventType {
    EventType::from_name(kind).unwrap()
}

/// All transactions invoked first, then all completed: no real-time order.
fn concurrent(txns: &[T]) -> History {
    let mut events = Vec::new();
    for (p, _, v) in txns {
        let i = events.len() as u64;
        events.push(
            Event::new(i, i, Process::Client(*p), EventType::Invoke, "txn")
                .with_value(blank_reads(v)),
        );
    }
    for (p, kind, v) in txns {
        let i = events.len() as u64;
        events.push(
            Event::new(i, i, Process::Client(*p), completion(kind), "txn").with_value(v.clone()),
        );
    }
    History::from_events(events).unwrap()
}

/// One transaction after another.
fn serial(txns: &[T]) -> History {
    let mut events = Vec::new();
    for (p, kind, v) in txns {
        let i = events.len() as u64;
        events.push(
            Event::new(i, i, Process::Client(*p), EventType::Invoke, "txn")
                .with_value(blank_reads(v)),
        );
        events.push(
            Event::new(i + 1, i + 1, Process::Client(*p), completion(kind), "txn")
                .with_value(v.clone()),
        );
    }
    History::from_events(events).unwrap()
}

fn append(h: &History) -> TxnReport {
    check_list_append(h, &TxnOptions::default()).unwrap()
}

fn register(h: &History) -> TxnReport {
    check_rw_register(h, &TxnOptions::default()).unwrap()
}

fn kinds(r: &TxnReport) -> Vec<String> {
    r.counts.keys().cloned().collect()
}

fn explanation(r: &TxnReport, kind: &str) -> String {
    r.anomalies
        .iter()
        .find(|a| a.kind.name() == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", r.counts))
        .explanation
        .clone()
}

#[test]
fn a_serial_list_append_history_is_valid_and_rules_nothing_out() {
    let r = append(&serial(&[
        (0, "ok", json!([["append", 1, 1], ["r", 1, [1]]])),
        (1, "ok", json!([["r", 1, [1]], ["append", 1, 2]])),
        (0, "ok", json!([["r", 1, [1, 2]], ["r", 2, null]])),
    ]));
    assert_eq!(r.verdict, Verdict::Valid, "{:?}", r.anomalies);
    assert!(r.ruled_out.is_empty());
    assert_eq!(r.strongest_not_ruled_out, vec![StrictSerializable]);
}

#[test]
fn two_keys_appended_in_opposite_orders_are_a_write_cycle_g0() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["append", 1, 1], ["append", 2, 1]])),
        (1, "ok", json!([["append", 1, 2], ["append", 2, 2]])),
        (2, "ok", json!([["r", 1, [1, 2]], ["r", 2, [2, 1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["G0"]);
    assert_eq!(r.weakest_ruled_out, vec![ReadUncommitted]);
    let e = explanation(&r, "G0");
    assert!(
        e.contains("appended 2 to key 1 right after T0's append of 1"),
        "{e}"
    );
}

#[test]
fn two_transactions_reading_each_others_appends_are_g1c() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["append", 1, 1], ["r", 2, [2]]])),
        (1, "ok", json!([["append", 2, 2], ["r", 1, [1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["G1c"]);
    assert_eq!(r.weakest_ruled_out, vec![ReadCommitted]);
    assert!(explanation(&r, "G1c").contains("T0 read T1's append of 2 to key 2"));
}

#[test]
fn a_read_that_sees_half_of_another_transaction_is_read_skew_g_single() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["r", 1, []], ["r", 2, [1]]])),
        (1, "ok", json!([["append", 1, 1], ["append", 2, 1]])),
    ]));
    assert_eq!(kinds(&r), vec!["G-single"]);
    assert_eq!(r.weakest_ruled_out, vec![RepeatableRead, SnapshotIsolation]);
    let e = explanation(&r, "G-single");
    assert!(
        e.contains("T0 read key 1 = [], without T1's append of 1, which nobody read"),
        "{e}"
    );
    assert!(e.contains("T0 read T1's append of 1 to key 2"), "{e}");
}

#[test]
fn write_skew_is_g2_item_and_leaves_snapshot_isolation_standing() {
    let r = append(&concurrent(&[
        (
            0,
            "ok",
            json!([["r", 1, []], ["r", 2, []], ["append", 1, 1]]),
        ),
        (
            1,
            "ok",
            json!([["r", 1, []], ["r", 2, []], ["append", 2, 1]]),
        ),
        (2, "ok", json!([["r", 1, [1]], ["r", 2, [1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["G2-item"]);
    assert!(r.ruled_out.contains(&Serializable) && !r.ruled_out.contains(&SnapshotIsolation));
    assert!(r.strongest_not_ruled_out.contains(&StrongSnapshotIsolation));
}

#[test]
fn anti_dependencies_separated_by_reads_are_g_nonadjacent() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["r", 1, []], ["r", 4, [1]]])),
        (1, "ok", json!([["append", 1, 1], ["append", 2, 1]])),
        (2, "ok", json!([["r", 2, [1]], ["r", 3, []]])),
        (3, "ok", json!([["append", 3, 1], ["append", 4, 1]])),
    ]));
    assert_eq!(kinds(&r), vec!["G-nonadjacent"]);
    assert!(r.ruled_out.contains(&SnapshotIsolation));
}

#[test]
fn reading_a_failed_append_is_an_aborted_read_g1a() {
    let r = append(&concurrent(&[
        (0, "fail", json!([["append", 1, 1]])),
        (1, "ok", json!([["r", 1, [1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["G1a"]);
    assert!(explanation(&r, "G1a").contains("appended by T0, which failed"));
}

#[test]
fn an_append_after_a_failed_one_is_a_dirty_update() {
    let r = append(&concurrent(&[
        (0, "fail", json!([["append", 1, 1]])),
        (1, "ok", json!([["append", 1, 2]])),
        (2, "ok", json!([["r", 1, [1, 2]]])),
    ]));
    assert_eq!(kinds(&r), vec!["G1a", "dirty-update"]);
}

#[test]
fn reading_a_transactions_first_of_two_appends_is_an_intermediate_read_g1b() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["append", 1, 1], ["append", 1, 2]])),
        (1, "ok", json!([["r", 1, [1]]])),
    ]));
    assert!(kinds(&r).contains(&"G1b".to_string()), "{:?}", r.counts);
    assert_eq!(r.weakest_ruled_out, vec![ReadCommitted]);
}

#[test]
fn a_read_that_misses_the_transactions_own_append_is_internal() {
    let r = append(&concurrent(&[(
        0,
        "ok",
        json!([["append", 1, 1], ["r", 1, []]]),
    )]));
    assert_eq!(kinds(&r), vec!["internal"]);
    assert!(explanation(&r, "internal").contains("expected it to end with its own appends [1]"));
}

#[test]
fn two_appends_on_the_same_read_are_a_lost_update() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["r", 1, []], ["append", 1, 1]])),
        (1, "ok", json!([["r", 1, []], ["append", 1, 2]])),
        (2, "ok", json!([["r", 1, [1, 2]]])),
    ]));
    assert!(
        kinds(&r).contains(&"lost-update".to_string()),
        "{:?}",
        r.counts
    );
    assert!(r.ruled_out.contains(&SnapshotIsolation));
}

#[test]
fn an_element_read_twice_is_duplicate_elements() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["append", 1, 1]])),
        (1, "ok", json!([["r", 1, [1, 1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["duplicate-elements"]);
}

#[test]
fn an_element_nobody_appended_is_a_garbage_read() {
    let r = append(&concurrent(&[(1, "ok", json!([["r", 1, [9]]]))]));
    assert_eq!(kinds(&r), vec!["garbage-read"]);
    assert!(explanation(&r, "garbage-read").contains("nobody appended 9 to key 1"));
}

#[test]
fn reads_that_are_not_prefixes_of_each_other_are_incompatible_orders() {
    let r = append(&concurrent(&[
        (0, "ok", json!([["append", 1, 1]])),
        (1, "ok", json!([["append", 1, 2]])),
        (2, "ok", json!([["r", 1, [1, 2]]])),
        (3, "ok", json!([["r", 1, [2, 1]]])),
    ]));
    assert_eq!(kinds(&r), vec!["incompatible-order"]);
    assert_eq!(r.weakest_ruled_out, vec![ReadCommitted]);
}

#[test]
fn a_process_that_misses_its_own_earlier_append_is_g_single_process() {
    let r = append(&serial(&[
        (0, "ok", json!([["append", 1, 1]])),
        (0, "ok", json!([["r", 1, []]])),
    ]));
    assert_eq!(kinds(&r), vec!["G-single-process"]);
    assert_eq!(r.weakest_ruled_out, vec![StrongSessionSnapshotIsolation]);
    assert!(!r.ruled_out.contains(&Serializable));
    assert!(explanation(&r, "G-single-process").contains("ran one after the other on process 0"));
}

#[test]
fn a_stale_read_after_another_client_committed_is_g_single_realtime() {
    let r = append(&serial(&[
        (0, "ok", json!([["append", 1, 1]])),
        (1, "ok", json!([["r", 1, []]])),
    ]));
    assert_eq!(kinds(&r), vec!["G-single-realtime"]);
    assert_eq!(r.weakest_ruled_out, vec![StrongSnapshotIsolation]);
    let e = explanation(&r, "G-single-realtime");
    assert!(
        e.contains("T0 completed (at 0.000 ms) before T2 began"),
        "{e}"
    );
}

#[test]
fn without_real_time_order_the_stale_read_is_not_an_anomaly() {
    let h = serial(&[
        (0, "ok", json!([["append", 1, 1]])),
        (1, "ok", json!([["r", 1, []]])),
    ]);
    let options = TxnOptions {
        realtime: false,
        ..TxnOptions::default()
    };
    assert_eq!(
        check_list_append(&h, &options).unwrap().verdict,
        Verdict::Valid
    );
}

#[test]
fn an_indeterminate_append_someone_read_took_effect() {
    let r = append(&concurrent(&[
        (0, "info", json!([["append", 1, 1], ["append", 2, 1]])),
        (1, "ok", json!([["r", 1, [1]], ["r", 2, []]])),
    ]));
    assert_eq!(kinds(&r), vec!["G-single"]);
    let unread = append(&concurrent(&[
        (0, "info", json!([["append", 1, 1]])),
        (1, "ok", json!([["r", 1, []]])),
    ]));
    assert_eq!(unread.verdict, Verdict::Valid);
}

#[test]
fn register_write_skew_is_g2_item_from_the_initial_state() {
    let r = register(&concurrent(&[
        (
            0,
            "ok",
            json!([["r", 1, null], ["r", 2, null], ["w", 1, 1]]),
        ),
        (
            1,
            "ok",
            json!([["r", 1, null], ["r", 2, null], ["w", 2, 1]]),
        ),
    ]));
    assert_eq!(kinds(&r), vec!["G2-item"]);
    assert!(explanation(&r, "G2-item")
        .contains("read key 2 = nil (its initial state), before T1's write of 1"));
}

#[test]
fn register_anomalies_outside_cycles_are_named() {
    let r = register(&concurrent(&[
        (0, "fail", json!([["w", 1, 1]])),
        (1, "ok", json!([["r", 1, 1], ["r", 2, 7]])),
        (2, "ok", json!([["w", 3, 1], ["w", 3, 2]])),
        (3, "ok", json!([["r", 3, 1], ["w", 4, 5], ["r", 4, 6]])),
    ]));
    assert_eq!(kinds(&r), vec!["G1a", "G1b", "garbage-read", "internal"]);
}

#[test]
fn register_lost_update_and_read_skew_are_found() {
    let r = register(&concurrent(&[
        (0, "ok", json!([["r", 1, null], ["w", 1, 1]])),
        (1, "ok", json!([["r", 1, null], ["w", 1, 2]])),
        (2, "ok", json!([["r", 2, null], ["r", 3, 1]])),
        (3, "ok", json!([["w", 2, 1], ["w", 3, 1]])),
    ]));
    assert!(
        kinds(&r).contains(&"lost-update".to_string()),
        "{:?}",
        r.counts
    );
    assert!(
        kinds(&r).contains(&"G-single".to_string()),
        "{:?}",
        r.counts
    );
}

#[test]
fn register_orders_that_cannot_be_inferred_are_said() {
    let r = register(&concurrent(&[
        (0, "ok", json!([["w", 1, 1]])),
        (1, "ok", json!([["w", 1, 2]])),
        (2, "ok", json!([["w", 1, 3]])),
    ]));
    assert_eq!(r.verdict, Verdict::Valid);
    assert!(
        r.notes[0].contains("key 1 (3 committed writes, 0 ordered pairs)"),
        "{:?}",
        r.notes
    );
}

#[test]
fn past_the_time_bound_cycles_are_named_by_component_and_never_valid() {
    let h = concurrent(&[
        (0, "ok", json!([["append", 1, 1], ["r", 2, [2]]])),
        (1, "ok", json!([["append", 2, 2], ["r", 1, [1]]])),
    ]);
    let options = TxnOptions {
        time_limit: std::time::Duration::ZERO,
        ..TxnOptions::default()
    };
    let r = check_list_append(&h, &options).unwrap();
    assert!(r.timed_out);
    assert_ne!(r.verdict, Verdict::Valid);
    assert_eq!(r.unnamed_cycles.len(), 1);
    assert_eq!(r.unnamed_cycles[0].txns, vec!["T0", "T1"]);
}

#[test]
fn a_micro_operation_that_is_not_a_triple_is_refused_with_its_place() {
    let h = concurrent(&[(0, "ok", json!([["append", 1]]))]);
    let e = check_list_append(&h, &TxnOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("operation invoked at index 0: micro-operation 0"),
        "{e}"
    );
}
