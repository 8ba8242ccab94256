//! Time limits are honoured: a check on a history too hard to decide in its time
//! limit answers `unknown` promptly after the limit, not seconds later. The margin
//! asserted (300 ms) leaves room for a loaded machine; the figure measured is
//! printed (`--nocapture`).

use checker::history::History;
use checker::linearizability::{self, check};
use checker::model::cas_register::CasRegister;
use checker::sequential;
use checker::synth::{generate, SynthModel, SynthOptions};
use checker::verdict::Verdict;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_millis(200);
const MARGIN: Duration = Duration::from_millis(300);

/// Five repeated values, 50 clients: a shape no search decides in seconds even at
/// 10,000 operations (unknown at 10 s in release), small enough that what a check
/// cannot interrupt (preparing operations, building the search) stays short.
fn hard(ops: usize, model: SynthModel, keys: usize) -> History {
    generate(&SynthOptions {
        model,
        clients: 50,
        ops,
        values: Some(5),
        keys,
        seed: 1,
        ..SynthOptions::default()
    })
    .history
}

fn assert_prompt(what: &str, elapsed: Duration) {
    let over = elapsed.saturating_sub(LIMIT);
    println!("{what}: limit {LIMIT:?}, took {elapsed:?}, overshoot {over:?}");
    assert!(over < MARGIN, "{what}: {over:?} past a {LIMIT:?} limit");
}

#[test]
fn a_linearizability_check_stops_within_its_time_limit_on_a_hard_history() {
    let history = hard(10_000, SynthModel::CasRegister, 1);
    let options = linearizability::Options {
        timeout: Some(LIMIT),
        ..Default::default()
    };
    let started = Instant::now();
    let report = check(&history, &CasRegister::default(), &options).unwrap();
    assert_prompt("linearizability", started.elapsed());
    assert_eq!(report.verdict, Verdict::Unknown);
}

#[test]
fn a_sequential_check_stops_within_its_time_limit_on_a_hard_history() {
    let history = hard(10_000, SynthModel::CasRegister, 1);
    let options = sequential::Options {
        timeout: Some(LIMIT),
        ..Default::default()
    };
    let started = Instant::now();
    let report = sequential::check(&history, &CasRegister::default(), &options).unwrap();
    assert_prompt("sequential", started.elapsed());
    assert_eq!(report.verdict, Verdict::Unknown);
}
