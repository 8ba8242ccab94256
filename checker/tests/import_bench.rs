//! Import throughput, for the record rather than as a pass/fail target:
//! `cargo test -p checker --release --test import_bench -- --ignored --nocapture`.

use checker::export::edn::to_edn;
use checker::history::{Event, EventType, History, Process};
use checker::import::{self, Format};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::time::Instant;

/// A register history over 100 keys: `ops` operations by 10 processes, all completed.
fn synthetic_history(ops: usize) -> History {
    let mut rng = SmallRng::seed_from_u64(7);
    let mut events = Vec::with_capacity(2 * ops);
    let mut pending: Vec<Option<Event>> = vec![None; 10];
    let mut completed = 0;
    while completed < ops {
        let p = rng.gen_range(0..pending.len());
        let (index, time) = (events.len() as u64, 1000 * events.len() as u64);
        let event = match pending[p].take() {
            None => {
                let (f, value) = match rng.gen_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => ("write", json!(rng.gen_range(0..5))),
                    _ => ("cas", json!([rng.gen_range(0..5), rng.gen_range(0..5)])),
                };
                let invoke =
                    Event::new(index, time, Process::Client(p as u64), EventType::Invoke, f)
                        .with_key(json!(rng.gen_range(0..100)))
                        .with_value(value);
                pending[p] = Some(invoke.clone());
                invoke
            }
            Some(invoke) => {
                completed += 1;
                let value = if invoke.f == "read" {
                    json!(rng.gen_range(0..5))
                } else {
                    invoke.value
                };
                Event {
                    index,
                    time,
                    kind: EventType::Ok,
                    value,
                    ..invoke
                }
            }
        };
        events.push(event);
    }
    History::from_events(events).unwrap()
}

#[test]
#[ignore = "benchmark"]
fn import_throughput() {
    let history = synthetic_history(500_000);
    let events = history.events.len() as f64;
    let jsonl = history.to_jsonl();
    let edn = to_edn(&history).unwrap();
    for (name, text, format) in [
        ("jsonl", &jsonl, Format::Jsonl),
        ("edn", &edn, Format::JepsenEdn),
    ] {
        let start = Instant::now();
        let parsed = import::parse(text, Some(format)).unwrap();
        let elapsed = start.elapsed();
        assert_eq!(parsed, history);
        println!(
            "{name}: {} events ({:.0} MB) in {elapsed:.2?}: {:.2} M events/s",
            history.events.len(),
            text.len() as f64 / 1e6,
            events / elapsed.as_secs_f64() / 1e6
        );
    }
}
