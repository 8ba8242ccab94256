//! `faultline serve` for real: the binary on an ephemeral loopback port, HTTP
//! requests against it (reqwest, and raw requests for paths a client library would
//! normalize away), the index loaded in headless Chromium, and Ctrl-C.
//!
//!     cargo test -p faultline --test serve

mod common;
use harness::check::{run_checks, CheckContext, CheckKind};
use harness::results::render::{html::Html, json::Json, Renderer};
use harness::results::{Recheck, RunResults};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use workloads::generator::Workload;

const STALE: &str = r#"{"index":0,"time":0,"process":0,"type":"invoke","f":"write","value":1,"node":"n1"}
{"index":1,"time":5000000,"process":0,"type":"ok","f":"write","value":1,"node":"n1"}
{"index":2,"time":20000000,"process":0,"type":"invoke","f":"write","value":2,"node":"n1"}
{"index":3,"time":25000000,"process":0,"type":"ok","f":"write","value":2,"node":"n1"}
{"index":4,"time":30000000,"process":1,"type":"invoke","f":"read","value":null,"node":"n2"}
{"index":5,"time":32000000,"process":1,"type":"ok","f":"read","value":1,"node":"n2"}
"#;

/// A run folder as a run leaves it (`test.json`, `history.jsonl`, `results.json`,
/// `report.html`, a node log), written by the harness's own renderers.
fn write_run(root: &Path, test: &str, stamp: &str, history: &str, started: &str) -> PathBuf {
    let dir = root.join(test).join(stamp);
    std::fs::create_dir_all(dir.join("nodes")).unwrap();
    std::fs::write(dir.join("history.jsonl"), history).unwrap();
    std::fs::write(dir.join("nodes/n1.log"), "n1 started\n").unwrap();
    let h = checker::history::parse_jsonl(history).unwrap();
    let ctx = CheckContext::new(Workload::CasRegister, vec![CheckKind::Linearizable]);
    let results = RunResults::rechecked(
        &h,
        run_checks(&h, &ctx, "history.jsonl"),
        Recheck {
            name: test.into(),
            seed: 41,
            run_id: format!("run-{test}"),
            workload: Workload::CasRegister,
            run_dir: dir.clone(),
            replay: String::new(),
            crashed_nodes: Vec::new(),
            warnings: Vec::new(),
            promises: None,
        },
    );
    std::fs::write(dir.join("results.json"), Json.render(&results)).unwrap();
    let page = Html {
        history: &h,
        system: Some("raft-kv".into()),
        settings: None,
    };
    std::fs::write(dir.join("report.html"), page.render(&results)).unwrap();
    std::fs::write(
        dir.join("test.json"),
        format!(r#"{{"started_at":"{started}","config":{{"system":"raft-kv","system-args":["--bug=stale-read"]}}}}"#),
    )
    .unwrap();
    dir
}

/// A results folder with a failing and a passing run, a link out of it and a file
/// beside it that must never be served.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    failing: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("results");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
    let valid: String = STALE.lines().take(4).map(|l| format!("{l}\n")).collect();
    write_run(
        &root,
        "passing-test",
        "20260101T000000.000Z",
        &valid,
        "2026-01-01T00:00:00+00:00",
    );
    let failing = write_run(
        &root,
        "failing-test",
        "20260101T000000.000Z",
        STALE,
        "2025-06-01T00:00:00+00:00",
    );
    std::os::unix::fs::symlink(tmp.path(), root.join("out")).unwrap();
    std::os::unix::fs::symlink("failing-test/20260101T000000.000Z", root.join("latest")).unwrap();
    Fixture {
        _tmp: tmp,
        root,
        failing,
    }
}

/// The server, stopped (SIGKILL) if a test fails before it stops it itself.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--bind", "127.0.0.1:0", "--results"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting faultline serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or_else(|| panic!("no address in the first line: {line:?}"))
        .to_string();
    Server { child, addr }
}

/// One request as bytes on the wire, so `..` and `%2e%2e` reach the server as typed
/// (an HTTP client library normalizes them away); returns the status and body.
fn raw_get(addr: &str, target: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, reply)
}

#[tokio::test]
async fn the_server_lists_every_run_failing_first_and_serves_reports_files_and_zips() {
    let f = fixture();
    let server = start(&f.root);
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), 200);
    let page = index.text().await.unwrap();
    let (fail_at, pass_at) = (
        page.find("failing-test").unwrap(),
        page.find("passing-test").unwrap(),
    );
    assert!(
        fail_at < pass_at,
        "the failing run comes first though it is older"
    );
    assert!(page.contains("raft-kv --bug=stale-read"), "{page}");
    assert!(page.contains("linearizable \u{2718}"), "{page}");
    assert_eq!(
        page.matches("<tr data-verdict=").count(),
        2,
        "latest is not listed twice"
    );

    let json: serde_json::Value = get("/index.json").await.unwrap().json().await.unwrap();
    assert_eq!(json[0]["verdict"], "invalid");
    assert_eq!(json[0]["seed"], 41);
    assert_eq!(json[1]["verdict"], "valid");
    let run = json[0]["path"].as_str().unwrap().to_string();

    let report = get(&format!("/runs/{run}/report.html")).await.unwrap();
    assert_eq!(report.headers()["content-type"], "text/html; charset=utf-8");
    let served = report.text().await.unwrap();
    assert_eq!(
        served,
        std::fs::read_to_string(f.failing.join("report.html")).unwrap()
    );

    let listing = get(&format!("/runs/{run}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in ["history.jsonl", "results.json", "report.html", "nodes/"] {
        assert!(listing.contains(name), "{name} not listed: {listing}");
    }
    let log = get(&format!("/runs/{run}/nodes/n1.log")).await.unwrap();
    assert_eq!(log.text().await.unwrap(), "n1 started\n");
    assert_eq!(
        get("/runs/latest/nodes/n1.log").await.unwrap().status(),
        200
    );
    assert_eq!(get("/runs/nothing/here").await.unwrap().status(), 404);

    let zip = get(&format!("/zip/{run}")).await.unwrap();
    assert_eq!(zip.headers()["content-type"], "application/zip");
    let bytes = zip.bytes().await.unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut history = String::new();
    archive
        .by_name("20260101T000000.000Z/history.jsonl")
        .unwrap()
        .read_to_string(&mut history)
        .unwrap();
    assert_eq!(history, STALE);
    assert_eq!(
        archive.len(),
        5,
        "{:?}",
        archive.file_names().collect::<Vec<_>>()
    );

    let post = client.post(format!("{base}/")).send().await.unwrap();
    assert_eq!(post.status(), 405, "read-only");
}

#[test]
fn paths_out_of_the_results_folder_are_refused_however_they_are_spelled() {
    let f = fixture();
    let server = start(&f.root);
    for target in [
        "/runs/../secret.txt",
        "/runs/../../../../etc/passwd",
        "/runs/%2e%2e/secret.txt",
        "/runs/%2E%2E%2Fsecret.txt",
        "/runs/failing-test/%2e%2e/%2e%2e/secret.txt",
        "/runs/out/secret.txt",
        "/runs/out",
        "/zip/%2e%2e",
        "/zip/out",
    ] {
        let (status, reply) = raw_get(&server.addr, target);
        assert!(
            status == 403 || status == 400,
            "{target}: {status}\n{reply}"
        );
        assert!(
            !reply.contains("TOP-SECRET") && !reply.contains("root:"),
            "{target}: {reply}"
        );
    }
    // An absolute path is read inside the results folder, where there is none.
    assert_eq!(raw_get(&server.addr, "/runs//etc/passwd").0, 404);
    assert_eq!(raw_get(&server.addr, "/runs/failing-test/").0, 200);
}

#[test]
fn a_non_loopback_address_is_refused_unless_allowed_and_a_missing_folder_is_named() {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["serve", "--bind", "0.0.0.0:0", "--results"])
        .arg(root.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", common::text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--bind 0.0.0.0:0: not a loopback address"),
        "{err}"
    );
    assert!(err.contains("--allow-remote"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--results",
            "/nonexistent/results",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", common::text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("--results /nonexistent/results: no such folder"),
        "{}",
        common::text(&out)
    );
}

#[test]
fn ctrl_c_stops_the_server_cleanly() {
    let f = fixture();
    let mut server = start(&f.root);
    assert_eq!(raw_get(&server.addr, "/").0, 200);
    unsafe { libc::kill(server.child.id() as i32, libc::SIGINT) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "still running 10 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    server
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("faultline serve: stopped"), "{err}");
    assert!(
        std::net::TcpStream::connect(&server.addr).is_err(),
        "still listening"
    );
}

#[test]
fn chromium_shows_every_run_in_the_index_with_the_failing_one_first() {
    let f = fixture();
    let server = start(&f.root);
    let out = common::headless(&["--dump-dom"], &format!("http://{}/", server.addr));
    let dom = String::from_utf8_lossy(&out.stdout);
    // Written by the page's script once it ran.
    assert!(dom.contains("2 of 2 runs shown"), "{dom}");
    let rows: Vec<&str> = dom.split("<tr data-verdict=\"").skip(1).collect();
    assert_eq!(rows.len(), 2, "{dom}");
    assert!(
        rows[0].starts_with("invalid") && rows[0].contains("failing-test"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].starts_with("valid") && rows[1].contains("passing-test"),
        "{}",
        rows[1]
    );
    assert!(rows[0].contains("report.html"), "{}", rows[0]);
}
