//! `faultline report` end to end, seen as a person sees it: the report of a failing
//! history is loaded in headless Chromium (Debian's `chromium`, installed by
//! `scripts/setup.sh`), and the DOM after the page's scripts ran must hold every
//! operation on the timeline, the fault bands, and a counterexample naming the
//! failing operation and its node. A screenshot is taken too. Without Chromium the
//! browser tests fail and say so.
//!
//! One test runs a real raft-kv cluster with its `stale-read` bug under partitions
//! (root, as CI has; it builds raft-kv first if needed) and loads the report the run
//! itself wrote.
//!
//!     cargo test -p faultline --test report_command

mod common;
use common::{build, build_raft_kv};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

/// A cas-register history with a stale read under a partition: process 0 writes 1
/// then 2 through n1; after the write of 2 returned, process 1 reads 1 from n2,
/// which the partition cut off. Plus a timed-out write (info), a failed CAS, and a
/// kill and restart of n3.
const STALE_READ: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1,"node":"n1"}
{"index":1,"time":5000000,"process":0,"type":"ok","f":"write","value":1,"node":"n1"}
{"index":2,"time":10000000,"process":"nemesis","type":"info","f":"start-partition","value":{"n2":["n1","n3"]}}
{"index":3,"time":11000000,"process":"nemesis","type":"info","f":"start-partition","value":{"n2":["n1","n3"]}}
{"index":4,"time":20000000,"process":0,"type":"invoke","f":"write","value":2,"node":"n1"}
{"index":5,"time":25000000,"process":0,"type":"ok","f":"write","value":2,"node":"n1"}
{"index":6,"time":30000000,"process":1,"type":"invoke","f":"read","value":null,"node":"n2"}
{"index":7,"time":32000000,"process":1,"type":"ok","f":"read","value":1,"node":"n2"}
{"index":8,"time":50000000,"process":"nemesis","type":"info","f":"stop-partition","value":{"n2":["n1","n3"]}}
{"index":9,"time":51000000,"process":"nemesis","type":"info","f":"stop-partition","value":{"n2":["n1","n3"]}}
{"index":10,"time":60000000,"process":2,"type":"invoke","f":"write","value":3,"node":"n3"}
{"index":11,"time":61000000,"process":3,"type":"invoke","f":"cas","value":[5,6],"node":"n3"}
{"index":12,"time":64000000,"process":3,"type":"fail","f":"cas","value":[5,6],"node":"n3","error":"cas-mismatch"}
{"index":13,"time":65000000,"process":"nemesis","type":"info","f":"kill","value":{"nodes":["n3"]}}
{"index":14,"time":70000000,"process":2,"type":"info","f":"write","value":3,"node":"n3","error":"timeout"}
{"index":15,"time":80000000,"process":"nemesis","type":"info","f":"restart","value":{"nodes":["n3"]}}
{"index":16,"time":90000000,"process":0,"type":"invoke","f":"read","value":null,"node":"n1"}
{"index":17,"time":91000000,"process":0,"type":"ok","f":"read","value":2,"node":"n1"}
"#;

/// The invocation indices of the client operations of a JSONL history.
fn invocations(jsonl: &str) -> BTreeSet<u64> {
    jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "invoke" && e["process"].is_u64())
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

/// Writes the history and its report; returns the report's path.
fn report_of(dir: &Path, jsonl: &str) -> PathBuf {
    let history = dir.join("history-stale.jsonl");
    std::fs::write(&history, jsonl).unwrap();
    let out = faultline(&["report", history.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the verdict's exit code (invalid): {out:?}"
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = PathBuf::from(printed.trim());
    assert_eq!(
        path,
        dir.join("history-stale.jsonl.report.html"),
        "the path is printed"
    );
    path
}

/// Runs headless Chromium on a file (as root it needs --no-sandbox).
fn headless(args: &[&str], page: &Path) -> Output {
    headless_at(args, page, "")
}

/// [`headless`] on the page with a `#fragment`.
fn headless_at(args: &[&str], page: &Path, fragment: &str) -> Output {
    common::headless(args, &format!("file://{}{fragment}", page.display()))
}

/// The text between `start` and the first `end` after it.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in the DOM"));
    let rest = &text[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

fn data_ops(svg: &str) -> BTreeSet<u64> {
    svg.match_indices("data-op=\"")
        .map(|(i, m)| {
            let rest = &svg[i + m.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

#[test]
fn chromium_shows_every_operation_the_fault_bands_and_the_stale_read_with_its_node() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_of(dir.path(), STALE_READ);
    let dom = String::from_utf8(headless(&["--dump-dom"], &page).stdout).unwrap();
    let timeline = between(&dom, "<svg id=\"tl\"", "</svg>");
    assert_eq!(
        data_ops(timeline),
        invocations(STALE_READ),
        "every operation on the timeline"
    );
    let bands = timeline.matches("class=\"band ").count();
    assert_eq!(bands, 2, "a partition band and a kill band: {timeline}");
    assert!(
        timeline.contains("data-kind=\"partition\"") && timeline.contains("data-kind=\"kill\"")
    );
    assert!(timeline.contains("class=\"op fail") && timeline.contains("class=\"op info"));
    let ce = between(&dom, "<section id=\"counterexamples\"", "</section>");
    for needed in [
        "operation #6",
        "process 1",
        "node n2",
        "fault in force: partition",
    ] {
        assert!(
            ce.contains(needed),
            "{needed:?} not in the counterexample: {ce}"
        );
    }
    let drawn = between(ce, "<svg", "</svg>");
    assert!(
        drawn.contains("data-op=\"6\"") && drawn.contains("culprit"),
        "the stale read is drawn: {drawn}"
    );
    let nodes = between(timeline, "<g id=\"nodes\">", "</g>");
    for mark in [
        "data-node=\"n3\" data-what=\"kill\"",
        "data-node=\"n3\" data-what=\"restart\"",
    ] {
        assert!(
            nodes.contains(mark),
            "{mark} not on the node lanes: {nodes}"
        );
    }
    assert!(
        nodes.contains("class=\"nspan down\""),
        "n3 shown down: {nodes}"
    );
}

/// The stale-read history with n3 removed from the cluster (the members after: n1,
/// n2) and added back, as the membership nemesis records it.
fn with_membership_changes() -> String {
    let change = |i: u64, t: u64, change: &str, members: &str| {
        let f = if change == "remove" {
            "remove-members"
        } else {
            "add-members"
        };
        format!(
            r#"{{"index":{i},"time":{t},"process":"nemesis","type":"info","f":"{f}","value":{{"fault":"membership","change":"{change}","nodes":["n3"],"members":[{members}]}}}}"#
        )
    };
    let mut h = STALE_READ.to_string();
    for line in [
        change(18, 92_000_000, "remove", r#""n1","n2""#),
        change(19, 93_000_000, "remove", r#""n1","n2""#),
        change(20, 96_000_000, "add", r#""n1","n2","n3""#),
        change(21, 98_000_000, "add", r#""n1","n2","n3""#),
    ] {
        h.push_str(&line);
        h.push('\n');
    }
    h
}

#[test]
fn chromium_shows_a_node_out_of_the_cluster_on_its_lane_with_the_members_after_each_change() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_of(dir.path(), &with_membership_changes());
    let dom = String::from_utf8(headless(&["--dump-dom"], &page).stdout).unwrap();
    let timeline = between(&dom, "<svg id=\"tl\"", "</svg>");
    let nodes = between(timeline, "<g id=\"nodes\">", "</g>");
    for mark in [
        "data-node=\"n3\" data-what=\"removed\"",
        "data-node=\"n3\" data-what=\"added\"",
    ] {
        assert!(
            nodes.contains(mark),
            "{mark} not on the node lanes: {nodes}"
        );
    }
    assert!(
        nodes.contains("class=\"nspan out\""),
        "n3 shown out of the cluster: {nodes}"
    );
    let data = between(
        &dom,
        "<script type=\"application/json\" id=\"data\">",
        "</script>",
    );
    assert!(
        data.contains(r#""what":"removed","members":["n1","n2"]"#),
        "the members after the removal go to the page: {data}"
    );
}

#[test]
fn the_counterexample_links_to_its_window_of_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_of(dir.path(), STALE_READ);
    let html = std::fs::read_to_string(&page).unwrap();
    let link = between(&html, "<a href=\"#t=", "\" class=\"zoomto\"");
    let fragment = link["<a href=\"".len()..].replace("&amp;", "&");
    let dom = String::from_utf8(headless_at(&["--dump-dom"], &page, &fragment).stdout).unwrap();
    let timeline = between(&dom, "<svg id=\"tl\"", "</svg>");
    let shown = data_ops(timeline);
    assert!(
        shown.contains(&4) && shown.contains(&6),
        "the window shows the write and the stale read: {shown:?} ({fragment})"
    );
    assert!(
        !shown.contains(&16),
        "the last read is outside the window: {shown:?} ({fragment})"
    );
    assert!(
        timeline.contains("hl"),
        "the counterexample's operations are outlined"
    );
    let window = between(&dom, "<span id=\"window\">", "</span>");
    assert!(
        window.contains("showing 0.0") && !window.contains("showing 0.000 s to 0.091"),
        "{window}"
    );
}

#[test]
fn chromium_takes_a_screenshot_of_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let page = report_of(dir.path(), STALE_READ);
    let shot = std::env::var_os("FAULTLINE_REPORT_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    headless(
        &[
            "--window-size=1400,1100",
            "--hide-scrollbars",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let png = std::fs::read(&shot).expect("the screenshot was written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 20_000, "a blank page? {} bytes", png.len());
}

#[test]
fn a_folder_without_a_history_is_bad_input_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = faultline(&["report", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("without history.jsonl") && err.contains(dir.path().to_str().unwrap()),
        "{err}"
    );
}

#[test]
fn a_history_that_cannot_be_read_is_bad_input_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let h = dir.path().join("broken.jsonl");
    std::fs::write(
        &h,
        "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n{oops\n",
    )
    .unwrap();
    let out = faultline(&["report", h.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("broken.jsonl") && err.contains('2'), "{err}");
}

#[test]
fn a_real_stale_read_run_shows_its_violation_in_chromium() {
    build_raft_kv();
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = faultline(&[
        "test",
        "--system-arg=--bug=stale-read",
        "--nemesis",
        "partition,kill",
        "--nemesis-interval",
        "1s",
        "--nodes",
        "3",
        "--time-limit",
        "6s",
        "--seed",
        "21",
        "--quiet",
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    let console = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the bug is caught: {console}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_dir = results.join("latest").canonicalize().unwrap();
    let page = run_dir.join("report.html");
    assert!(
        console.contains(&format!("report: {}", page.display())),
        "the console names the report: {console}"
    );
    let history = std::fs::read_to_string(run_dir.join("history.jsonl")).unwrap();
    let results_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    // The report leads with the operation that ends the shortest non-linearizable
    // prefix when the check found one, and with the search's stuck point otherwise.
    let ce = &results_json["counterexample"];
    let culprit = ce["shortest_prefix"]["ends"]["invoke_index"]
        .as_u64()
        .or(ce["must_precede"]["invoke_index"].as_u64())
        .expect("a counterexample");
    let node = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["index"] == culprit)
        .and_then(|e| e["node"].as_str().map(String::from))
        .expect("the failing operation's node");
    let dom = String::from_utf8(headless(&["--dump-dom"], &page).stdout).unwrap();
    let timeline = between(&dom, "<svg id=\"tl\"", "</svg>");
    assert_eq!(
        data_ops(timeline),
        invocations(&history),
        "every operation on the timeline"
    );
    assert!(
        timeline.contains("class=\"band partition"),
        "the partitions are bands"
    );
    let ce = between(&dom, "<section id=\"counterexamples\"", "</section>");
    for needed in [format!("operation #{culprit} "), format!("on node {node}:")] {
        assert!(
            ce.contains(&needed),
            "{needed:?} not in the counterexample: {ce}"
        );
    }
    shows_plots_node_marks_and_logs(&dom, &history);
}

/// The plots with their fault bands, a mark on its node's lane for every node the
/// history says was killed, and each node's log around the violation, linked.
fn shows_plots_node_marks_and_logs(dom: &str, history: &str) {
    let plots = between(dom, "<section id=\"plots\">", "</section>");
    for needed in [
        "id=\"latency-read\"",
        "id=\"latency-write\"",
        "id=\"throughput\"",
        "class=\"pline p99\"",
        "data-kind=\"partition\"",
        "<td>during partition</td>",
    ] {
        assert!(plots.contains(needed), "{needed:?} not in the plots");
    }
    let killed: BTreeSet<String> = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["f"] == "kill")
        .flat_map(|e| e["value"]["nodes"].as_array().cloned().unwrap_or_default())
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert!(!killed.is_empty(), "this seed's schedule kills a node");
    let timeline = between(dom, "<svg id=\"tl\"", "</svg>");
    for n in &killed {
        let mark = format!("data-node=\"{n}\" data-what=\"kill\"");
        assert!(timeline.contains(&mark), "{mark} not on the node lanes");
    }
    let logs = between(dom, "<section id=\"nodelogs\">", "</section>");
    for n in ["n1", "n2", "n3"] {
        assert!(
            logs.contains(&format!("<a href=\"nodes/{n}.log\">")),
            "no link to {n}'s log"
        );
    }
    assert!(
        logs.contains("class=\"here\""),
        "the violation marked among the lines"
    );
    assert!(
        logs.contains("nemesis start-partition"),
        "the partition noted in the node logs"
    );
}

#[test]
fn a_real_session_violation_is_drawn_in_chromium() {
    build(&["dynamo-kv"]);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    let out = faultline(&[
        "test",
        "--system",
        "dynamo-kv",
        // R = W = 1 and a partition change every second: a read answered by one
        // replica misses what another took while they were apart, so reads go back in
        // every run (6 of 6 seeds tried), not only when a partition lands just so.
        "--system-arg=--r=1",
        "--system-arg=--w=1",
        "--workload",
        "append",
        "--nemesis",
        "partition",
        "--nemesis-interval",
        "1s",
        "--nodes",
        "3",
        "--time-limit",
        "6s",
        "--quiet-period",
        "2s",
        "--seed",
        "3",
        "--quiet",
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    let page = results
        .join("latest")
        .canonicalize()
        .unwrap()
        .join("report.html");
    let results_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(page.with_file_name("results.json")).unwrap(),
    )
    .unwrap();
    let session = results_json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "session")
        .expect("a session check");
    assert_eq!(
        session["verdict"], "invalid",
        "dynamo-kv's reads went back: {out:?}"
    );
    let dom = String::from_utf8(headless(&["--dump-dom"], &page).stdout).unwrap();
    let view = between(&dom, "<div class=\"view session\"", "</svg>");
    assert!(
        view.contains("class=\"sop first\"") && view.contains("class=\"sop second\""),
        "the violating pair marked: {view}"
    );
}

#[test]
fn chromium_shows_each_injected_transactional_anomaly_with_its_graph_and_explanation() {
    let dir = tempfile::tempdir().unwrap();
    for (anomaly, kind) in [
        ("G0", "G0"),
        ("G1c", "G1c"),
        ("G-single", "G-single"),
        ("G2-item", "G2-item"),
    ] {
        let history = dir.path().join(format!("{anomaly}.jsonl"));
        let out = faultline(&[
            "synth",
            "--model",
            "list-append",
            "--ops",
            "200",
            "--clients",
            "5",
            "--anomaly",
            anomaly,
            "-o",
            history.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        // No --workload: the transactional checks need none.
        let out = faultline(&[
            "report",
            "--check",
            "list-append",
            history.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(1), "{anomaly}: {out:?}");
        let page = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        let dom = String::from_utf8(headless(&["--dump-dom"], &page).stdout).unwrap();
        let section = between(&dom, "id=\"txn-anomalies\"", "<h2>Timeline");
        assert!(
            section.contains(&format!("{kind} x1")),
            "{anomaly}: {section}"
        );
        let graph = between(section, "<svg", "</svg>");
        assert!(
            graph.matches("<rect").count() >= 2,
            "{anomaly}: two transactions drawn: {graph}"
        );
        assert!(
            section.contains(" because "),
            "{anomaly}: the steps in words: {section}"
        );
        assert!(
            section.contains("invoked at index"),
            "{anomaly}: the transactions' text"
        );
    }
}
