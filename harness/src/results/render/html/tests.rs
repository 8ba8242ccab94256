use super::*;
use crate::check::{run_checks, CheckContext, CheckKind, CheckReport, CheckResult};
use crate::results::{Recheck, RunResults};
use checker::history::{Event, EventType, History, Process};
use serde_json::json;
use std::time::Instant;
use workloads::generator::Workload;

/// A register history with a stale read under a partition: process 0 writes 1 then
/// 2 through n1; after the write of 2 returned, process 1 reads 1 from n2, cut off.
pub fn stale_read_history() -> History {
    let ms: u64 = 1_000_000;
    let c = |i, t, p, k, f: &str, v| Event::new(i, t * ms, Process::Client(p), k, f).with_value(v);
    let n = |i, t, f: &str, v| {
        Event::new(i, t * ms, Process::Nemesis, EventType::Info, f).with_value(v)
    };
    let grudge = json!({"n2": ["n1", "n3"]});
    let events = vec![
        c(0, 0, 0, EventType::Invoke, "write", json!(1)).with_node("n1"),
        c(1, 5, 0, EventType::Ok, "write", json!(1)).with_node("n1"),
        n(2, 10, "start-partition", grudge.clone()),
        n(3, 11, "start-partition", grudge.clone()),
        c(4, 20, 0, EventType::Invoke, "write", json!(2)).with_node("n1"),
        c(5, 25, 0, EventType::Ok, "write", json!(2)).with_node("n1"),
        c(6, 30, 1, EventType::Invoke, "read", json!(null)).with_node("n2"),
        c(7, 32, 1, EventType::Ok, "read", json!(1)).with_node("n2"),
        n(8, 50, "stop-partition", grudge.clone()),
        n(9, 51, "stop-partition", grudge),
        c(10, 60, 2, EventType::Invoke, "write", json!(3)).with_node("n3"),
        c(11, 61, 3, EventType::Invoke, "cas", json!([5, 6])).with_node("n3"),
        c(12, 64, 3, EventType::Fail, "cas", json!([5, 6]))
            .with_node("n3")
            .with_error("cas-mismatch"),
        c(13, 70, 2, EventType::Info, "write", json!(3))
            .with_node("n3")
            .with_error("timeout"),
    ];
    History::from_events(events).unwrap()
}

fn rechecked(history: &History, workload: Workload) -> RunResults {
    let ctx = CheckContext::new(workload, vec![CheckKind::Linearizable]);
    let checks = run_checks(history, &ctx, "h.jsonl");
    RunResults::rechecked(
        history,
        checks,
        Recheck {
            name: "stale".into(),
            seed: 7,
            run_id: "r1".into(),
            workload,
            run_dir: "/tmp/r".into(),
            replay: "faultline test --config /tmp/r/test.toml".into(),
            crashed_nodes: Vec::new(),
            warnings: vec!["no fault was injected during this run: testing".into()],
            promises: None,
        },
    )
}

#[test]
fn the_counterexample_names_the_stale_read_its_node_and_the_partition_in_force() {
    let h = stale_read_history();
    let r = rechecked(&h, Workload::CasRegister);
    let data = Data::build(&h, &r.checks);
    assert_eq!(
        data.ops.len(),
        h.ops.len(),
        "every operation drawn on its own"
    );
    assert_eq!(data.bands.len(), 1, "{:?}", data.bands);
    let band = &data.bands[0];
    assert_eq!(
        (band.kind.as_str(), band.s, band.e),
        ("partition", 10.0, 51.0)
    );
    assert!(band.detail.contains("n2"), "{}", band.detail);
    assert_eq!(data.ces.len(), 1);
    let ce = &data.ces[0];
    assert_eq!(
        ce.culprit,
        Some(6),
        "the read invoked at index 6 cannot be placed"
    );
    for needed in [
        "operation #6",
        "process 1",
        "node n2",
        "read",
        "fault in force: partition",
    ] {
        assert!(
            ce.headline.contains(needed),
            "{needed:?} missing: {}",
            ce.headline
        );
    }
    assert!(
        ce.window.0 <= 30.0 && ce.window.1 >= 32.0,
        "{:?}",
        ce.window
    );
    let info = data.ops.iter().find(|o| o.i == 10).unwrap();
    assert_eq!(
        (info.o, info.e),
        ("info", 70.0),
        "an info op ends at its completion"
    );
}

#[test]
fn the_page_is_self_contained_and_holds_the_top_and_the_counterexample() {
    let h = stale_read_history();
    let r = rechecked(&h, Workload::CasRegister);
    let page = Html {
        history: &h,
        system: Some("raft-kv".into()),
        settings: Some("nodes = 5\n".into()),
    }
    .render(&r);
    for needed in [
        "raft-kv",
        "<span class=\"verdict invalid\">invalid</span>",
        "faultline test --config /tmp/r/test.toml",
        "warn nofault",
        "id=\"counterexamples\"",
        "node n2",
        "<script type=\"application/json\" id=\"data\">",
    ] {
        assert!(page.contains(needed), "{needed:?} missing");
    }
    for external in ["http://", "https://", "<link ", " src="] {
        let hits: Vec<_> = page
            .match_indices(external)
            .map(|(i, _)| &page[i..(i + 60).min(page.len())])
            .filter(|s| !s.starts_with("http://www.w3.org/2000/svg"))
            .collect();
        assert!(
            hits.is_empty(),
            "the page loads something from outside: {hits:?}"
        );
    }
}

#[test]
fn the_page_plots_latency_per_function_throughput_and_availability_with_the_fault_bands() {
    let h = stale_read_history();
    let r = rechecked(&h, Workload::CasRegister);
    let partition = r.availability.by_fault["partition"];
    assert_eq!(
        (partition.ops, partition.ok),
        (2, 2),
        "the write of 2 and the read"
    );
    let page = Html {
        history: &h,
        system: None,
        settings: None,
    }
    .render(&r);
    let plots = &page[page
        .find("<section id=\"plots\">")
        .expect("a plots section")..];
    for needed in [
        "id=\"latency-read\"",
        "id=\"latency-write\"",
        "id=\"latency-cas\"",
        "id=\"throughput\"",
        "class=\"pline p99\"",
        "<td>during partition</td><td>100.0%</td>",
        "class=\"rate info\" data-total=\"1\"",
    ] {
        assert!(plots.contains(needed), "{needed:?} missing");
    }
    assert_eq!(
        plots.matches("data-kind=\"partition\"").count(),
        4,
        "the partition shaded on each of the four plots"
    );
}

#[test]
fn a_script_end_tag_in_a_value_cannot_end_the_data_early() {
    let mut h = stale_read_history();
    h.ops[0].input = json!("</script><b>x");
    let r = rechecked(&h, Workload::CasRegister);
    let page = Html {
        history: &h,
        system: None,
        settings: None,
    }
    .render(&r);
    assert_eq!(
        page.matches("</script>").count(),
        2,
        "only the two real script ends"
    );
}

/// A linearizability failure whose counterexample ends at `op` (the checker's own
/// search on 100,000 operations is too slow for a debug build; the page is what is
/// tested here).
fn failing_at(op: &checker::history::Operation) -> CheckResult {
    use checker::linearizability::{Counterexample, OpSummary, Report};
    let ce = Counterexample {
        key: json!(null),
        shortest_prefix: None,
        prefix: Vec::new(),
        prefix_tail: Vec::new(),
        state: "2".into(),
        must_precede: OpSummary::of(op),
        blocked: Vec::new(),
        impossible: None,
    };
    CheckResult {
        name: CheckKind::Linearizable,
        verdict: checker::verdict::Verdict::Invalid,
        summary: "not linearizable".into(),
        report: CheckReport::Linearizable(Box::new(Report {
            verdict: checker::verdict::Verdict::Invalid,
            model: "cas-register".into(),
            ops: 1,
            checked_ops: 1,
            partitions: Vec::new(),
            counterexample: Some(ce),
            elapsed: std::time::Duration::ZERO,
        })),
        error: None,
        replay: None,
        seconds: 0.0,
    }
}

#[test]
fn a_hundred_thousand_operations_render_small_and_fast_with_the_violation_kept() {
    let out = checker::synth::generate(&checker::synth::SynthOptions {
        clients: 50,
        ops: 100_000,
        crash_rate: 0.01,
        anomaly: Some(checker::synth::Anomaly::StaleRead),
        seed: 3,
        ..Default::default()
    });
    let h = out.history;
    // `anomaly_at` is the struck operation's invocation time.
    let call = out.anomaly_at.expect("the anomaly was injected");
    let culprit = h.ops.iter().find(|o| o.call == call).unwrap();
    let at = culprit.invoke_index;
    let r = RunResults::rechecked(
        &h,
        vec![failing_at(culprit)],
        Recheck {
            name: "big".into(),
            seed: 3,
            run_id: String::new(),
            workload: Workload::CasRegister,
            run_dir: "/tmp/big".into(),
            replay: String::new(),
            crashed_nodes: Vec::new(),
            warnings: Vec::new(),
            promises: None,
        },
    );
    let started = Instant::now();
    let page = Html {
        history: &h,
        system: None,
        settings: None,
    }
    .render(&r);
    let took = started.elapsed();
    let data = Data::build(&h, &r.checks);
    assert!(page.len() < 5_000_000, "{} bytes", page.len());
    assert!(
        data.ops.len() < 2 * 250 + 10,
        "{} drawn one by one",
        data.ops.len()
    );
    let binned: u32 = data.bins.iter().map(|b| b.ok + b.fail + b.info).sum();
    assert_eq!(
        binned as usize + data.ops.len(),
        h.ops.len(),
        "every operation drawn or counted"
    );
    assert_eq!(data.ces[0].culprit, Some(at));
    assert!(
        data.ops.iter().any(|o| o.i == at && o.c),
        "the violating operation is drawn"
    );
    // Debug build on a shared machine: generous; the release figure is in the docs.
    assert!(took.as_secs_f64() < 10.0, "rendering took {took:?}");
    eprintln!(
        "100,000 operations: {} bytes, rendered in {:?}",
        page.len(),
        took
    );
    // To look at it: FAULTLINE_BIG_REPORT=/tmp/big.html.
    if let Some(path) = std::env::var_os("FAULTLINE_BIG_REPORT") {
        std::fs::write(path, &page).unwrap();
    }
}

#[test]
fn the_final_heal_is_no_fault_band_and_a_fault_never_healed_runs_to_the_end() {
    let mut events = stale_read_history().events;
    let last = events.last().unwrap().time;
    let n = |i: u64, t: u64, f: &str| {
        Event::new(i, t, Process::Nemesis, EventType::Info, f).with_value(json!({"nodes": ["n1"]}))
    };
    events.push(n(14, last + 1_000_000, "heal-all"));
    events.push(n(15, last + 2_000_000, "pause"));
    events.push(n(16, last + 3_000_000, "heal-all"));
    events.push(n(17, last + 4_000_000, "kill"));
    let h = History::from_events(events).unwrap();
    let bands = Data::build(&h, &[]).bands;
    let kinds: Vec<(&str, f64)> = bands.iter().map(|b| (b.kind.as_str(), b.e)).collect();
    assert_eq!(
        kinds,
        vec![("partition", 51.0), ("pause", 73.0), ("kill", 74.0)]
    );
}

/// The page of `events` checked with `check` for `workload`.
fn page_of(events: Vec<Event>, workload: Workload, check: CheckKind) -> (String, RunResults) {
    let h = History::from_events(events).unwrap();
    let ctx = CheckContext::new(workload, vec![check]);
    let checks = run_checks(&h, &ctx, "h.jsonl");
    let mut r = rechecked(&h, workload);
    r.checks = checks;
    let page = Html {
        history: &h,
        system: None,
        settings: None,
    }
    .render(&r);
    (page, r)
}

fn ev(i: u64, p: u64, kind: EventType, f: &str, v: serde_json::Value, node: &str) -> Event {
    Event::new(i, i * 1_000_000, Process::Client(p), kind, f)
        .with_key(json!(1))
        .with_value(v)
        .with_node(node)
}

#[test]
fn a_session_violation_is_drawn_as_the_clients_sequence_with_the_pair_marked() {
    use EventType::*;
    let events = vec![
        ev(0, 0, Invoke, "append", json!(1), "n1"),
        ev(1, 0, Ok, "append", json!(1), "n1"),
        ev(2, 0, Invoke, "read", json!(null), "n1"),
        ev(3, 0, Ok, "read", json!([1]), "n1"),
        ev(4, 0, Invoke, "read", json!(null), "n2"),
        ev(5, 0, Ok, "read", json!([]), "n2"),
    ];
    let (page, r) = page_of(events, Workload::Append, CheckKind::Session);
    assert_eq!(r.checks[0].verdict, checker::verdict::Verdict::Invalid);
    let view = &page[page.find("class=\"view session\"").expect("a session view")..];
    assert!(view.contains("monotonic reads"), "{view}");
    assert!(
        view.contains("class=\"sop first\" data-op=\"2\"")
            && view.contains("class=\"sop second\" data-op=\"4\""),
        "the read of [1], then the read that missed it: {view}"
    );
}

#[test]
fn a_wrong_bank_total_is_marked_among_the_totals_over_time() {
    use EventType::*;
    let read = |i, p, kind, v| {
        Event::new(i, i * 1_000_000, Process::Client(p), kind, "read").with_value(v)
    };
    let events = vec![
        read(0, 0, Invoke, json!(null)),
        read(1, 0, Ok, json!({"a": 50, "b": 50})),
        read(2, 0, Invoke, json!(null)),
        read(3, 0, Ok, json!({"a": 50, "b": 40})),
        read(4, 0, Invoke, json!(null)),
        read(5, 0, Ok, json!({"a": 60, "b": 40})),
    ];
    let (page, r) = page_of(events, Workload::Bank, CheckKind::Bank);
    assert_eq!(r.checks[0].verdict, checker::verdict::Verdict::Invalid);
    let plot = &page[page.find("id=\"bank-totals\"").expect("the totals plot")..];
    assert!(plot.contains("class=\"bad\" data-bad=\"1\""), "{plot}");
    assert!(plot.contains("#2 total 90"), "{plot}");
    assert!(plot.contains("expected total 100"), "{plot}");
}

#[test]
fn lost_elements_are_drawn_apart_from_those_missing_on_some_nodes_with_every_final_read() {
    use EventType::*;
    let events = vec![
        ev(0, 0, Invoke, "append", json!(1), "n1"),
        ev(1, 0, Ok, "append", json!(1), "n1"),
        ev(2, 0, Invoke, "append", json!(2), "n1"),
        ev(3, 0, Ok, "append", json!(2), "n1"),
        ev(4, 1, Invoke, "final-read", json!(null), "n1"),
        ev(5, 1, Ok, "final-read", json!([1]), "n1"),
        ev(6, 2, Invoke, "final-read", json!(null), "n2"),
        ev(7, 2, Ok, "final-read", json!([]), "n2"),
    ];
    let (page, r) = page_of(events, Workload::Append, CheckKind::Eventual);
    assert_eq!(r.checks[0].verdict, checker::verdict::Verdict::Invalid);
    let view = &page[page
        .find("class=\"view eventual\"")
        .expect("an eventual view")..];
    let lost = &view[view.find("gone everywhere").expect("a lost element")..];
    let partly = &view[view
        .find("missing on some nodes")
        .expect("a partly missing one")..];
    assert!(lost.starts_with("gone everywhere") && lost.contains("data-element=\"2\""));
    let row = &partly[partly.find("data-element=\"1\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("#0 append 1")
            && row.contains("title=\"#4\">✔ has it")
            && row.contains("title=\"#6\">✘ lacks it"),
        "{row}"
    );
}
