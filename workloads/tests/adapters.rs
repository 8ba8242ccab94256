//! External client adapters that misbehave: every way an adapter can fail (hang past
//! the timeout, exit mid-request, print garbage, answer the wrong id, answer a list
//! read on a register, refuse `init`) ends the operation in flight as indeterminate
//! with the cause, in the history, the process's log and the incidents; the next
//! operation gets a fresh adapter; a run with such an adapter completes with every
//! operation completed and leaves no adapter running.

use checker::history::{parse_jsonl, EventType};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use workloads::client::{ClientFactory, Target};
use workloads::external::{AdapterClientFactory, AdapterCommand, AdapterOptions};
use workloads::generator::{Generator, KeyOptions, Workload};
use workloads::op::{Op, Outcome};
use workloads::recorder::Recorder;
use workloads::runner::{run_clients, RunOptions, RunSummary};
use workloads::sessions::Sessions;

const TIMEOUT: Duration = Duration::from_millis(500);

fn script() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/adapters/misbehaving.py")
        .display()
        .to_string()
}

fn nodes() -> Vec<Target> {
    (1..=3)
        .map(|i| Target {
            id: format!("n{i}"),
            url: format!("http://10.0.0.{i}:8080"),
        })
        .collect()
}

/// A factory of the misbehaving adapter in `mode`, its logs under `dir/clients`.
fn factory(mode: &str, workload: Workload, dir: &Path, pids: &Path) -> AdapterClientFactory {
    let f = AdapterClientFactory::new(AdapterOptions {
        command: AdapterCommand {
            program: "python3".into(),
            args: vec![script()],
            env: vec![
                ("MISBEHAVE".into(), mode.into()),
                ("PID_DIR".into(), pids.display().to_string()),
            ],
            working_dir: None,
            settings: Default::default(),
        },
        timeout: TIMEOUT,
        workload,
    });
    f.prepare(dir, &nodes()).unwrap();
    f
}

/// The pids of every adapter started so far.
fn pids(dir: &Path) -> Vec<i32> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_string_lossy().parse().ok())
        .collect()
}

/// Whether a process is still running (a zombie waiting to be reaped is not).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn until_gone(pids: &[i32]) -> Vec<i32> {
    for _ in 0..100 {
        if pids.iter().all(|p| !running(*p)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pids.iter().copied().filter(|p| running(*p)).collect()
}

struct Case {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    pid_dir: PathBuf,
    factory: AdapterClientFactory,
}

fn case(mode: &str, workload: Workload) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let pid_dir = dir.path().join("pids");
    std::fs::create_dir(&pid_dir).unwrap();
    let factory = factory(mode, workload, dir.path(), &pid_dir);
    Case {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        pid_dir,
        factory,
    }
}

impl Case {
    fn log(&self, process: u64) -> String {
        std::fs::read_to_string(self.dir.join(format!("clients/{process}.log"))).unwrap()
    }
}

/// A write on key 1 (where the adapter misbehaves) ends `info` with `cause`, in the
/// log and the incidents too; the next operation of the process works on a fresh
/// adapter, and the misbehaving one is gone.
async fn a_write_in_flight_is_indeterminate(mode: &str, cause: &str) {
    let c = case(mode, Workload::CasRegister);
    let client = c.factory.open_process(7, &nodes()[1]).unwrap();
    client.ready().await.unwrap();
    let first = pids(&c.pid_dir);
    assert_eq!(first.len(), 1);
    let w = client.invoke(&Op::write(1, 5)).await;
    assert_eq!(w.outcome, Outcome::Info, "{w:?}");
    let error = w.error.unwrap_or_default();
    assert!(error.starts_with(cause), "{mode}: {error}");
    assert!(c.log(7).contains(cause), "{mode}: {}", c.log(7));
    let incidents = c.factory.incidents();
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(
        incidents[0].contains(cause) && incidents[0].contains("process 7"),
        "{incidents:?}"
    );
    assert_eq!(
        until_gone(&first).await,
        Vec::<i32>::new(),
        "{mode}: not killed"
    );
    let next = client.invoke(&Op::write(2, 6)).await;
    assert_eq!(next.outcome, Outcome::Ok, "{mode}: {next:?}");
    let now = pids(&c.pid_dir);
    assert_eq!(
        now.len(),
        2,
        "{mode}: a fresh adapter for the next operation"
    );
}

#[tokio::test]
async fn an_adapter_that_hangs_past_the_timeout_leaves_the_write_indeterminate() {
    a_write_in_flight_is_indeterminate("hang", "adapter-timeout").await;
}

#[tokio::test]
async fn an_adapter_that_exits_mid_request_leaves_the_write_indeterminate() {
    a_write_in_flight_is_indeterminate("exit", "adapter-exit").await;
}

#[tokio::test]
async fn an_adapter_that_prints_garbage_leaves_the_write_indeterminate() {
    a_write_in_flight_is_indeterminate("garbage", "adapter-garbage").await;
}

#[tokio::test]
async fn an_adapter_that_answers_the_wrong_id_leaves_the_write_indeterminate() {
    a_write_in_flight_is_indeterminate("wrong-id", "adapter-wrong-id").await;
}

#[tokio::test]
async fn the_exit_status_of_an_adapter_that_died_is_the_cause() {
    let c = case("exit", Workload::Register);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let w = client.invoke(&Op::write(1, 5)).await;
    assert!(
        w.error.as_deref().unwrap_or("").contains("exit status: 3"),
        "{w:?}"
    );
}

#[tokio::test]
async fn a_read_that_fails_on_the_adapter_is_a_fail_since_reads_change_nothing() {
    let c = case("hang", Workload::Register);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let r = client.invoke(&Op::read(1)).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.error.unwrap().starts_with("adapter-timeout"));
    // Nothing is in flight any more, and the process goes on with a fresh adapter.
    let w = client.invoke(&Op::write(2, 1)).await;
    assert_eq!(w.outcome, Outcome::Ok);
    assert_eq!(pids(&c.pid_dir).len(), 2);
}

#[tokio::test]
async fn a_fresh_adapter_that_does_not_start_mid_run_fails_the_operation_as_unreached() {
    let c = case("refuse-again", Workload::Register);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    client.ready().await.unwrap();
    assert_eq!(client.invoke(&Op::write(1, 1)).await.outcome, Outcome::Info);
    // The next adapter refuses init: the operation never reached one, so it
    // certainly did not happen, and the process backs off.
    let w = client.invoke(&Op::write(2, 1)).await;
    assert_eq!((w.outcome, w.unreached), (Outcome::Fail, true), "{w:?}");
    let error = w.error.unwrap();
    assert!(
        error.starts_with("adapter-start: refused init: cannot reach the cluster"),
        "{error}"
    );
    assert!(c.log(0).contains("could not start"), "{}", c.log(0));
}

#[tokio::test]
async fn a_list_read_on_a_register_is_a_malformed_response_and_on_a_list_it_is_a_value() {
    let c = case("list", Workload::CasRegister);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let r = client.invoke(&Op::read(1)).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    let error = r.error.unwrap();
    assert!(
        error.starts_with("malformed-response: a read in the cas-register workload returned [1,2]"),
        "{error}"
    );
    assert!(c.factory.incidents()[0].contains("malformed-response"));
    let c = case("list", Workload::Append);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let r = client.invoke(&Op::read(1)).await;
    assert_eq!((r.outcome, r.value), (Outcome::Ok, json!([1, 2])));
}

/// A transaction goes to the adapter whole, and its `ok` answer becomes the
/// history's completion only if it answers what was asked, reads of the workload's
/// shape filled in; anything else is malformed and indeterminate.
#[tokio::test]
async fn a_transaction_answer_is_checked_against_what_was_asked() {
    use workloads::txn::{Mop, ReadValue};
    let txn = Op::txn(&[
        Mop::Append { key: 2, value: 5 },
        Mop::Read {
            key: 2,
            value: ReadValue::Unknown,
        },
    ]);
    let c = case("none", Workload::TxnAppend);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let r = client.invoke(&txn).await;
    assert_eq!(
        (r.outcome, r.value),
        (Outcome::Ok, json!([["append", 2, 5], ["r", 2, [5]]]))
    );
    // On registers a list read is the wrong shape: the writes may have happened.
    let c = case("list", Workload::TxnRegister);
    let client = c.factory.open_process(0, &nodes()[0]).unwrap();
    let write_then_read = Op::txn(&[
        Mop::Write { key: 1, value: 3 },
        Mop::Read {
            key: 1,
            value: ReadValue::Unknown,
        },
    ]);
    let r = client.invoke(&write_then_read).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().contains("malformed-response"),
        "{r:?}"
    );
    assert_eq!(r.value, write_then_read.value);
}

/// Runs the client processes of `workload` through `factory` for `options`; the
/// summary (or the run's error), the recorder and the history's path.
async fn run(
    factory: Arc<dyn ClientFactory>,
    workload: Workload,
    options: RunOptions,
    dir: &Path,
) -> (anyhow::Result<RunSummary>, Arc<Recorder>, PathBuf) {
    let path = dir.join("history.jsonl");
    let recorder = Arc::new(Recorder::create(&path).unwrap());
    let generator = Arc::new(Mutex::new(Generator::new(
        workload,
        3,
        KeyOptions::default(),
    )));
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let summary = run_clients(
        &options,
        &nodes(),
        factory,
        generator,
        Arc::clone(&recorder),
        stop,
    )
    .await;
    (summary, recorder, path)
}

#[tokio::test]
async fn an_adapter_that_refuses_init_stops_the_run_with_its_text() {
    let c = case("refuse", Workload::Register);
    let options = RunOptions {
        concurrency: 2,
        time_limit: Duration::from_secs(1),
        rate: 0.0,
        sessions: Sessions::Sticky,
        seed: 1,
    };
    let (summary, recorder, _) =
        run(Arc::new(c.factory), Workload::Register, options, &c.dir).await;
    let e = summary.unwrap_err().to_string();
    assert!(
        e.contains("refused init: cannot reach the cluster: no credentials") && e.contains(".log"),
        "{e}"
    );
    assert_eq!(recorder.len(), 0, "nothing was recorded");
}

#[tokio::test]
async fn a_run_whose_adapters_misbehave_completes_every_operation_and_leaves_none_running() {
    let c = case("rotate", Workload::CasRegister);
    let options = RunOptions {
        concurrency: 4,
        time_limit: Duration::from_secs(3),
        rate: 200.0,
        sessions: Sessions::Roaming,
        seed: 3,
    };
    let factory: Arc<dyn ClientFactory> = Arc::new(c.factory);
    let (summary, recorder, path) =
        run(Arc::clone(&factory), Workload::CasRegister, options, &c.dir).await;
    let summary = summary.unwrap();
    recorder.finish().unwrap();
    let history = parse_jsonl(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let invokes = history
        .events
        .iter()
        .filter(|e| e.kind == EventType::Invoke)
        .count();
    assert_eq!(invokes as u64, summary.invoked);
    assert_eq!(
        history.events.len(),
        2 * invokes,
        "every operation completed"
    );
    let errors: Vec<String> = history
        .events
        .iter()
        .filter_map(|e| e.error.clone())
        .collect();
    for cause in [
        "adapter-timeout",
        "adapter-exit",
        "adapter-garbage",
        "adapter-wrong-id",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(cause)),
            "no {cause} in {errors:?}"
        );
    }
    assert!(summary.ok > 20 && summary.retired > 0, "{summary:?}");
    // One adapter per process, not per node: roaming processes visit every node.
    let killed = errors.iter().filter(|e| e.starts_with("adapter-")).count();
    let started = pids(&c.pid_dir).len();
    assert!(
        started <= 4 + killed,
        "{started} adapters for 4 processes and {killed} kills"
    );
    drop(factory);
    let all = pids(&c.pid_dir);
    assert_eq!(
        until_gone(&all).await,
        Vec::<i32>::new(),
        "adapters left running"
    );
}
