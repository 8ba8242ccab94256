//! The whole pipeline in-process, against a fake cluster: nodes that are one
//! in-memory store on loopback, where "kill" makes every node refuse definitely.

use super::*;

use crate::config::{resolve, TestArgs};
use anyhow::Result;
use nemesis::control::ClusterControl;
use nemesis::control::NodeRef;
use serde_json::{json, Value};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use workloads::client::{KvClientFactory, Target};
use workloads::fake_node::{self, Fake, Mode};

struct FakeCluster {
    url: String,
    fake: Fake,
    nodes: usize,
    killed: Mutex<Vec<String>>,
    actions: AtomicUsize,
    torn_down: Arc<AtomicBool>,
    broken: bool,
    /// A node that "exited on its own" (reported by `exited_nodes`).
    crashed: Option<&'static str>,
}

impl FakeCluster {
    fn apply(&self) {
        let down = !self.killed.lock().unwrap().is_empty();
        self.fake.set_mode(match (down, self.broken) {
            (true, _) => Mode::Error {
                status: 503,
                code: "node-down",
                definite: true,
            },
            (false, true) => Mode::LoseWrites,
            (false, false) => Mode::Normal,
        });
    }
}

impl ClusterControl for FakeCluster {
    fn nodes(&self) -> Vec<NodeRef> {
        (1..=self.nodes)
            .map(|i| NodeRef {
                id: format!("n{i}"),
                ip: Ipv4Addr::new(127, 0, 0, 1),
                netns: "fltest-absent".into(),
            })
            .collect()
    }
    fn kill(&self, node: &str) -> Result<()> {
        self.actions.fetch_add(1, Ordering::SeqCst);
        self.killed.lock().unwrap().push(node.to_string());
        self.apply();
        Ok(())
    }
    fn restart(&self, node: &str) -> impl Future<Output = Result<()>> + Send {
        self.killed.lock().unwrap().retain(|n| n != node);
        self.apply();
        async { Ok(()) }
    }
    fn pause(&self, _node: &str) -> Result<()> {
        self.actions.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn resume(&self, _node: &str) -> Result<()> {
        Ok(())
    }
    async fn leader(&self) -> Option<String> {
        None
    }
    fn clock_file(&self, _node: &str) -> Result<PathBuf> {
        anyhow::bail!("the fake cluster has no clocks")
    }
}

impl RunningCluster for FakeCluster {
    fn targets(&self) -> Vec<Target> {
        (1..=self.nodes)
            .map(|i| Target {
                id: format!("n{i}"),
                url: self.url.clone(),
            })
            .collect()
    }
    async fn wait_recovered(&self, _timeout: Duration) -> Result<()> {
        Ok(())
    }
    fn exited_nodes(&self) -> Vec<crate::backend::NodeExit> {
        self.crashed
            .iter()
            .map(|n| crate::backend::NodeExit {
                node: n.to_string(),
                status: "exit code 101".into(),
                log_tail: "thread 'main' panicked".into(),
            })
            .collect()
    }
    fn teardown(&self) -> impl Future<Output = Result<()>> + Send {
        self.torn_down.store(true, Ordering::SeqCst);
        async { Ok(()) }
    }
}

async fn run_fake(broken: bool, results: &Path) -> (Outcome, Arc<AtomicBool>, TestConfig) {
    run_fake_with(broken, None, TestArgs::default(), results).await
}

/// A fake run; `extra` overrides the defaults below where it sets a field.
async fn run_fake_with(
    broken: bool,
    crashed: Option<&'static str>,
    extra: TestArgs,
    results: &Path,
) -> (Outcome, Arc<AtomicBool>, TestConfig) {
    let base = TestArgs {
        nodes: Some(3),
        workload: Some("register".into()),
        time_limit: Some("2s".into()),
        nemesis: Some("kill,pause".into()),
        nemesis_interval: Some("300ms".into()),
        rate: Some(300.0),
        seed: Some(11),
        quiet_period: Some("50ms".into()),
        results_dir: Some(results.to_path_buf()),
        name: Some("fake".into()),
        quiet: true,
        ..Default::default()
    };
    let args = TestArgs {
        nemesis: extra.nemesis.or(base.nemesis.clone()),
        time_limit: extra.time_limit.or(base.time_limit.clone()),
        keep_data: extra.keep_data.or(base.keep_data.clone()),
        nemesis_interval: extra.nemesis_interval.or(base.nemesis_interval.clone()),
        expect: extra.expect.or(base.expect.clone()),
        ..base
    };
    let config = resolve(&args).unwrap();
    let (url, fake) = fake_node::start().await;
    let torn_down = Arc::new(AtomicBool::new(false));
    let cluster = FakeCluster {
        url,
        fake,
        nodes: 3,
        killed: Mutex::default(),
        actions: AtomicUsize::new(0),
        torn_down: Arc::clone(&torn_down),
        broken,
        crashed,
    };
    cluster.apply();
    let factory: Arc<dyn ClientFactory> =
        Arc::new(KvClientFactory::new(Duration::from_millis(500)).unwrap());
    let (_tx, interrupt) = watch::channel(false);
    // The fake's nodes keep data, as real ones do, so keep-data has something to keep.
    let start = |dir: PathBuf, _id| async move {
        std::fs::create_dir_all(dir.join("data/n1"))?;
        std::fs::write(dir.join("data/n1/log"), b"x")?;
        Ok(cluster)
    };
    let outcome = run_test(&config, 1, start, factory, interrupt, &Silent).await;
    (outcome, torn_down, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_store_is_valid_and_every_result_file_is_written() {
    let root = tempfile::tempdir().unwrap();
    let (outcome, torn_down, config) = run_fake(false, root.path()).await;
    assert_eq!(outcome.error(), None);
    assert_eq!(outcome.verdict(), Some(Verdict::Valid));
    assert!(
        torn_down.load(Ordering::SeqCst),
        "the cluster was not torn down"
    );
    let dir = outcome.run_dir().unwrap().to_path_buf();
    assert_eq!(
        std::fs::read_link(root.path().join("latest")).unwrap(),
        dir.strip_prefix(root.path()).unwrap()
    );
    let test_json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    assert_eq!(test_json["config"]["seed"], json!(11));
    let replayed: TestConfig = serde_json::from_value(test_json["config"].clone()).unwrap();
    assert_eq!(replayed.seed, config.seed);
    // test.toml is a test file that resolves to the same test.
    let again = resolve(&TestArgs {
        config: Some(dir.join("test.toml")),
        results_dir: Some(config.results_dir.clone()),
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        TestConfig {
            config_file: None,
            ..again
        },
        TestConfig {
            config_file: None,
            ..config.clone()
        }
    );
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], json!("valid"));
    assert!(dir.join("report.html").is_file(), "no report.html");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase ") && !junit.contains("<failure"),
        "{junit}"
    );
    assert!(
        results["stats"]["counts"]["write"]["ok"].as_u64().unwrap() > 50,
        "{results:#}"
    );
    assert!(results["stats"]["latency_ms"]["read"]["p99"]
        .as_f64()
        .is_some());
    let history =
        parse_jsonl(&std::fs::read_to_string(dir.join("history.jsonl")).unwrap()).unwrap();
    let nemesis_fs: Vec<&str> = history.nemesis_events().map(|e| e.f.as_str()).collect();
    assert!(nemesis_fs.contains(&"heal-all"), "{nemesis_fs:?}");
    assert_eq!(nemesis_fs.last(), Some(&"heal-all"));
    assert!(
        nemesis_fs.iter().any(|f| *f == "kill" || *f == "pause"),
        "{nemesis_fs:?}"
    );
    // Every key was read from every node after the heal.
    let finals: Vec<_> = history
        .ops
        .iter()
        .filter(|o| o.f == "final-read" && o.outcome == checker::history::Outcome::Ok)
        .collect();
    let nodes: std::collections::BTreeSet<_> =
        finals.iter().filter_map(|o| o.node.clone()).collect();
    assert_eq!(nodes.len(), 3);
    assert!(results["final_reads"]["unread"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_loses_writes_is_invalid_with_a_counterexample() {
    let root = tempfile::tempdir().unwrap();
    let (outcome, torn_down, _) = run_fake(true, root.path()).await;
    assert_eq!(outcome.verdict(), Some(Verdict::Invalid), "{outcome:?}");
    assert!(torn_down.load(Ordering::SeqCst));
    let dir = outcome.run_dir().unwrap().to_path_buf();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], json!("invalid"));
    assert!(
        results["counterexample"].is_object(),
        "{:#}",
        results["counterexample"]
    );
    // The page a person opens and the file CI reads are written beside it, and the
    // console names the page.
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(
        report.contains("id=\"counterexamples\""),
        "no counterexample section"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("<failure "), "{junit}");
    assert!(
        junit.contains(&dir.join("report.html").display().to_string()),
        "{junit}"
    );
    let Outcome::Checked(r) = &outcome else {
        unreachable!()
    };
    use crate::results::render::{text::Text, Renderer};
    let console = Text.render(r);
    assert!(
        console.contains(&format!("report: {}", dir.join("report.html").display())),
        "{console}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_model_outside_the_promises_leaves_the_run_valid_and_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let expect = |models: &str| TestArgs {
        expect: Some(models.into()),
        ..Default::default()
    };
    let (outcome, _, _) = run_fake_with(true, None, expect("eventual"), root.path()).await;
    // The checks find the lost writes; the exit code follows the promise, which holds.
    assert_eq!(outcome.verdict(), Some(Verdict::Valid), "{outcome:?}");
    let dir = outcome.run_dir().unwrap().to_path_buf();
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], json!("invalid"));
    assert_eq!(results["promises"]["verdict"], json!("valid"));
    assert_eq!(results["promises"]["promises"]["from"], json!("expect"));
    let lin = results["promises"]["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == json!("linearizable"))
        .unwrap();
    assert_eq!(lin["promised"], json!(false));
    assert_eq!(lin["status"], json!("broken"));
    let Outcome::Checked(r) = &outcome else {
        panic!("{outcome:?}")
    };
    let text = crate::results::render::Renderer::render(&crate::results::render::text::Text, r);
    assert!(
        text.contains("verdict: valid (promises kept: eventual; findings, not promised: linearizable, sequential broken)"),
        "{text}"
    );
    // The same run promising linearizability fails.
    let (outcome, _, _) = run_fake_with(true, None, expect("linearizable"), root.path()).await;
    assert_eq!(outcome.verdict(), Some(Verdict::Invalid), "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_does_not_start_is_a_harness_error_with_results() {
    let root = tempfile::tempdir().unwrap();
    let config = resolve(&TestArgs {
        results_dir: Some(root.path().to_path_buf()),
        seed: Some(1),
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let (_tx, interrupt) = watch::channel(false);
    let factory: Arc<dyn ClientFactory> =
        Arc::new(KvClientFactory::new(Duration::from_millis(500)).unwrap());
    let start =
        |_dir, _id| async { Err::<FakeCluster, _>(anyhow::anyhow!("node n2 exited: status 1")) };
    let outcome = run_test(&config, 1, start, factory, interrupt, &Silent).await;
    assert_eq!(outcome.verdict(), None);
    assert!(outcome.error().unwrap().contains("node n2 exited"));
    let results: Value = serde_json::from_str(
        &std::fs::read_to_string(
            outcome
                .run_dir()
                .unwrap()
                .to_path_buf()
                .join("results.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(results["error"]
        .as_str()
        .unwrap()
        .contains("starting the cluster"));
}

fn results_json(outcome: &Outcome) -> Value {
    let dir = outcome.run_dir().expect("a results folder");
    serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_any_fault_says_so_on_the_console_and_in_results_json() {
    let root = tempfile::tempdir().unwrap();
    let none = TestArgs {
        nemesis: Some("none".into()),
        ..Default::default()
    };
    let (outcome, _, _) = run_fake_with(false, None, none, root.path()).await;
    assert_eq!(outcome.verdict(), Some(Verdict::Valid));
    let warnings = results_json(&outcome)["warnings"].clone();
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("no fault was injected"),
        "{warnings:#}"
    );
    let Outcome::Checked(r) = &outcome else {
        panic!()
    };
    let text = crate::results::render::Renderer::render(&crate::results::render::text::Text, r);
    assert!(text.contains("warning: no fault was injected"), "{text}");
    // A time limit shorter than the warm-up: kinds asked for, none started.
    let short = TestArgs {
        time_limit: Some("1s".into()),
        nemesis: Some("kill".into()),
        nemesis_interval: Some("5s".into()),
        ..Default::default()
    };
    let (outcome, _, _) = run_fake_with(false, None, short, root.path()).await;
    let warnings = results_json(&outcome)["warnings"].clone();
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("the schedule started none in 1s"),
        "{warnings:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_is_kept_on_failure_only_by_default_and_always_when_asked() {
    let root = tempfile::tempdir().unwrap();
    let (valid, _, _) = run_fake(false, root.path()).await;
    assert_eq!(valid.verdict(), Some(Verdict::Valid));
    assert!(
        !valid.run_dir().unwrap().join("data").exists(),
        "a valid run's data was kept"
    );
    let (invalid, _, _) = run_fake(true, root.path()).await;
    assert_eq!(invalid.verdict(), Some(Verdict::Invalid));
    assert!(
        invalid.run_dir().unwrap().join("data/n1/log").exists(),
        "a failing run's data was removed"
    );
    let always = TestArgs {
        keep_data: Some("always".into()),
        ..Default::default()
    };
    let (kept, _, _) = run_fake_with(false, None, always, root.path()).await;
    assert!(kept.run_dir().unwrap().join("data/n1/log").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_crashed_on_its_own_is_a_finding_and_is_not_read_at_the_end() {
    let root = tempfile::tempdir().unwrap();
    let (outcome, _, _) = run_fake_with(false, Some("n2"), TestArgs::default(), root.path()).await;
    let r = results_json(&outcome);
    assert_eq!(r["crashed_nodes"][0]["node"], json!("n2"), "{r:#}");
    assert_eq!(r["crashed_nodes"][0]["status"], json!("exit code 101"));
    let dir = outcome.run_dir().unwrap();
    let history =
        parse_jsonl(&std::fs::read_to_string(dir.join("history.jsonl")).unwrap()).unwrap();
    let read_from: std::collections::BTreeSet<_> = history
        .ops
        .iter()
        .filter(|o| o.f == "final-read")
        .filter_map(|o| o.node.clone())
        .collect();
    assert_eq!(read_from.into_iter().collect::<Vec<_>>(), vec!["n1", "n3"]);
    // The eventual check judged the nodes that were up, and decided.
    assert_ne!(outcome.verdict(), Some(Verdict::Unknown), "{r:#}");
    let Outcome::Checked(res) = &outcome else {
        panic!()
    };
    let text = crate::results::render::Renderer::render(&crate::results::render::text::Text, res);
    assert!(
        text.contains("finding: node n2 exited on its own (exit code 101)"),
        "{text}"
    );
}
