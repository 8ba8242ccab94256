//! The sequential check's cheap exact pre-check: one process's reads going
//! backwards on a register with unique values decide the key without a search.

use checker::history::{Event, EventType, History, Process};
use checker::model::cas_register::CasRegister;
use checker::sequential::{check, Options};
use checker::verdict::Verdict;
use serde_json::{json, Value};

fn ev(index: u64, p: u64, kind: EventType, f: &str, value: Value) -> Event {
    Event::new(index, index * 10, Process::Client(p), kind, f).with_value(value)
}

/// p0 writes 1 then 2; p1 reads `first` then `second`.
fn history(first: i64, second: i64) -> History {
    use EventType::*;
    let events = vec![
        ev(0, 0, Invoke, "write", json!(1)),
        ev(1, 0, Ok, "write", json!(1)),
        ev(2, 0, Invoke, "write", json!(2)),
        ev(3, 0, Ok, "write", json!(2)),
        ev(4, 1, Invoke, "read", Value::Null),
        ev(5, 1, Ok, "read", json!(first)),
        ev(6, 1, Invoke, "read", Value::Null),
        ev(7, 1, Ok, "read", json!(second)),
    ];
    History::from_events(events).unwrap()
}

#[test]
fn reading_an_older_write_of_one_process_after_its_newer_one_is_decided_without_a_search() {
    let report = check(&history(2, 1), &CasRegister::default(), &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Invalid);
    assert_eq!(report.keys[0].method, "reads-go-backwards pre-check");
    assert_eq!(report.keys[0].explored, 0, "no search ran");
    let e = report.evidence.expect("evidence");
    let text = e.to_string();
    assert!(text.contains("the reads go backwards"), "{text}");
    assert!(text.contains("process 1 read 1"), "{text}");
}

#[test]
fn reads_in_the_writers_order_pass_the_precheck_and_are_sequential() {
    let report = check(&history(1, 2), &CasRegister::default(), &Options::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Valid);
    assert_ne!(report.keys[0].method, "reads-go-backwards pre-check");
}
