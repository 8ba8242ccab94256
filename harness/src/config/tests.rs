use super::*;
use std::io::Write;
use std::path::Path;

/// The names of resolved kinds, for comparing with what was typed.
fn names<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(T::to_string).collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_are_the_main_job() {
    let c = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.system, "raft-kv");
    assert_eq!(c.nodes, 5);
    assert_eq!(c.workload, Workload::CasRegister);
    assert_eq!(c.time_limit, Duration::from_secs(30));
    assert_eq!(c.nemesis_interval, Duration::from_secs(5));
    assert_eq!(
        names(&c.checks),
        vec!["linearizable", "sequential", "eventual"]
    );
    assert_eq!(c.name, "raft-kv-cas-register");
    assert!(names(&c.nemesis)
        .iter()
        .any(|k| k.starts_with("partition-")));
    assert!(
        names(&c.nemesis).contains(&"kill".to_string())
            && names(&c.nemesis).contains(&"pause".to_string())
    );
    assert_eq!(c.test_count, 1);
}

#[test]
fn flags_override_the_file_which_overrides_defaults() {
    let f = file("nodes = 3\nworkload = \"append\"\ntime-limit = \"8s\"\nnemesis = [\"kill\", \"partition-halves\"]\nrate = 50\nseed = 9\nsystem-args = [\"--bug=x\"]\n");
    let args = TestArgs {
        config: Some(f.path().to_path_buf()),
        time_limit: Some("12s".into()),
        system_args: vec!["--tick=5".into()],
        ..Default::default()
    };
    let c = resolve(&args).unwrap();
    assert_eq!(
        (c.nodes, c.workload, c.rate, c.seed),
        (3, Workload::Append, 50.0, 9)
    );
    assert_eq!(c.time_limit, Duration::from_secs(12));
    assert_eq!(names(&c.nemesis), vec!["kill", "partition-halves"]);
    assert_eq!(names(&c.checks), vec!["session", "eventual"]);
    assert_eq!(c.system_args, vec!["--bug=x", "--tick=5"]);
}

#[test]
fn unknown_keys_name_the_file_and_the_key() {
    let f = file("nodes = 3\ntime_limt = \"8s\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains(&f.path().display().to_string()), "{e}");
    assert!(e.contains("time_limt"), "{e}");
}

#[test]
fn junit_is_a_flag_only_and_a_test_file_naming_it_is_refused() {
    let f = file("junit = \"/tmp/junit.xml\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("junit"), "{e}");
    let c = resolve(&TestArgs {
        junit: Some("/tmp/ci/junit.xml".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(
        !TestFile::of(&c)
            .to_toml(Path::new("/tmp"))
            .contains("junit"),
        "a run's test.toml never carries --junit"
    );
}

#[test]
fn bad_values_name_where_they_came_from() {
    let f = file("time-limit = \"soon\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("key `time-limit`") && e.contains("soon"), "{e}");
    let e = resolve(&TestArgs {
        nemesis: Some("kil".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--nemesis"), "{e}");
    let e = resolve(&TestArgs {
        workload: Some("queue".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--workload") && e.contains("cas-register"),
        "{e}"
    );
    let e = resolve(&TestArgs {
        check: Some("linearizable".into()),
        workload: Some("append".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("does not apply"), "{e}");
    let e = resolve(&TestArgs {
        check: Some("serializable".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown check"), "{e}");
    assert!(resolve(&TestArgs {
        nodes: Some(0),
        ..Default::default()
    })
    .is_err());
    assert!(resolve(&TestArgs {
        name: Some("latest".into()),
        ..Default::default()
    })
    .is_err());
    let e = resolve(&TestArgs {
        seed: Some(-1),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--seed"), "{e}");
    let e = resolve(&TestArgs {
        seed: Some(i64::MAX),
        test_count: Some(2),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("seed + N - 1"), "{e}");
}

#[test]
fn none_means_no_faults_and_a_random_seed_is_chosen() {
    let a = resolve(&TestArgs {
        nemesis: Some("none".into()),
        ..Default::default()
    })
    .unwrap();
    assert!(a.nemesis.is_empty());
    let b = resolve(&TestArgs::default()).unwrap();
    assert_ne!(a.seed, b.seed);
}

#[test]
fn real_system_client_settings_come_from_flags_or_the_file() {
    use workloads::etcd::EtcdReads;
    let d = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((d.etcd_reads, d.redis_wait), (EtcdReads::Linearizable, 0));
    let f = file("etcd-reads = \"serializable\"\nredis-wait = 2\n");
    let c = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((c.etcd_reads, c.redis_wait), (EtcdReads::Serializable, 2));
    let e = resolve(&TestArgs {
        etcd_reads: Some("stale".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--etcd-reads") && e.contains("serializable"),
        "{e}"
    );
    let f = file("etcd-reads = \"fast\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("key `etcd-reads`"), "{e}");
    let e = resolve(&TestArgs {
        redis_wait: Some(99),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--redis-wait"), "{e}");
}

#[test]
fn redis_appendfsync_becomes_a_server_argument_and_is_refused_elsewhere_or_misspelled() {
    let c = resolve(&TestArgs {
        system: Some("redis-sentinel".into()),
        redis_appendfsync: Some("always".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.system_args, vec!["--appendfsync", "always"]);
    let f = file("system = \"redis-sentinel\"\nredis-appendfsync = \"sometimes\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("key `redis-appendfsync`") && e.contains("sometimes"),
        "{e}"
    );
    let e = resolve(&TestArgs {
        redis_appendfsync: Some("always".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--redis-appendfsync") && e.contains("raft-kv"),
        "{e}"
    );
}

#[test]
fn sessions_come_from_the_flag_or_the_file_and_default_to_sticky() {
    use workloads::sessions::Sessions;
    let d = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(d.sessions, Sessions::Sticky);
    let f = file("sessions = \"roaming\"\n");
    let c = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.sessions, Sessions::Roaming);
    let c = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        sessions: Some("sticky".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.sessions, Sessions::Sticky);
    let e = resolve(&TestArgs {
        sessions: Some("random".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--sessions") && e.contains("roaming"), "{e}");
    let f = file("sessions = \"moving\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("key `sessions`") && e.contains("moving"), "{e}");
    // test.json stores it; one written before the setting existed reads as sticky.
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["sessions"], "sticky");
    let mut old = serde_json::to_value(&d).unwrap();
    old.as_object_mut().unwrap().remove("sessions");
    assert_eq!(
        serde_json::from_value::<TestConfig>(old).unwrap().sessions,
        Sessions::Sticky
    );
    // test.toml replays it.
    let roaming = resolve(&TestArgs {
        seed: Some(3),
        sessions: Some("roaming".into()),
        ..Default::default()
    })
    .unwrap();
    let replay = file(&TestFile::of(&roaming).to_toml(Path::new("/tmp/run")));
    let again = resolve(&TestArgs {
        config: Some(replay.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(again.sessions, Sessions::Roaming);
}

#[test]
fn test_json_round_trips() {
    let c = resolve(&TestArgs {
        seed: Some(5),
        ..Default::default()
    })
    .unwrap();
    let text = serde_json::to_string(&c).unwrap();
    let back: TestConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(back, c);
}

#[test]
fn clock_bump_range_and_compositions_resolve_and_are_recorded() {
    let c = resolve(&TestArgs {
        seed: Some(1),
        nemesis: Some("pause-leader+clock-bump,partition-leader+clock-bump".into()),
        clock_bump: Some("-30s..-6000ms".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        names(&c.nemesis),
        vec!["pause-leader+clock-bump", "partition-leader+clock-bump"]
    );
    assert_eq!(
        c.clock_bump.map(|r| r.to_string()).as_deref(),
        Some("-30s..-6s")
    );
    assert_eq!(c.nemesis.len(), 2);
    assert_eq!(
        c.fault_params().clock_bump,
        Some(ClockBumpRange {
            min_ms: -30_000,
            max_ms: -6_000
        })
    );
    let back: TestConfig = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(back, c);
    // Without the setting: the default magnitudes, and test.json leaves it out.
    let d = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(d.fault_params(), FaultParams::default());
    assert!(serde_json::to_value(&d)
        .unwrap()
        .get("clock-bump")
        .is_none());
    // From a test file.
    let f = file("nemesis = [\"clock-bump\", \"pause\"]\nclock-bump = \"-5s..+5s\"\n");
    let c = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        c.clock_bump.map(|r| r.to_string()).as_deref(),
        Some("-5s..+5s")
    );
}

#[test]
fn bad_clock_bump_ranges_and_compositions_name_the_flag_and_the_text() {
    let with = |nemesis: &str, range: Option<&str>| {
        resolve(&TestArgs {
            nemesis: Some(nemesis.into()),
            clock_bump: range.map(String::from),
            ..Default::default()
        })
    };
    let e = with("clock-bump", Some("-5s..-20s"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--clock-bump: `-5s..-20s`") && e.contains("above the upper bound"),
        "{e}"
    );
    let e = with("clock-bump", Some("-20sec..-5s"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--clock-bump") && e.contains("`-20sec`"),
        "{e}"
    );
    let e = with("pause-leader", Some("-20s..-5s"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--clock-bump") && e.contains("has none") && e.contains("pause-leader"),
        "{e}"
    );
    let e = with("pause-leader+clok-bump", None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("--nemesis")
            && e.contains("\"pause-leader+clok-bump\"")
            && e.contains("\"clok-bump\""),
        "{e}"
    );
    let e = with("kill-all+clock-bump", None).unwrap_err().to_string();
    assert!(
        e.starts_with("--nemesis") && e.contains("\"kill-all+clock-bump\""),
        "{e}"
    );
    let f = file("nemesis = \"clock-bump\"\nclock-bump = \"later\"\n");
    let e = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("key `clock-bump`") && e.contains("`later`"),
        "{e}"
    );
}

#[test]
fn empty_nemesis_items_and_none_beside_other_kinds_are_refused() {
    for text in ["partition,,kill", "kill,", ",kill"] {
        let e = resolve(&TestArgs {
            nemesis: Some(text.into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("--nemesis") && e.contains("empty item"),
            "{text}: {e}"
        );
    }
    let e = resolve(&TestArgs {
        nemesis: Some("none,partition".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("`none` means no faults"), "{e}");
}

#[test]
fn negative_counts_are_refused_by_name_with_the_value() {
    let e = resolve(&TestArgs {
        nodes: Some(-1),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert_eq!(e, "--nodes: must be between 1 and 253, not -1");
    let e = resolve(&TestArgs {
        rate: Some(-1.0),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--rate") && e.contains("not -1"), "{e}");
}

#[test]
fn absurd_durations_are_refused() {
    let e = resolve(&TestArgs {
        time_limit: Some("999999999h".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--time-limit") && e.contains("longer than a week"),
        "{e}"
    );
}

#[test]
fn the_default_nemesis_is_the_default_kinds_the_system_supports() {
    let c = resolve(&TestArgs {
        system: Some("cl-bank".into()),
        workload: Some("bank".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(names(&c.nemesis), vec!["pause"]);
    let left = names(&c.nemesis_left_out);
    assert!(
        left.contains(&"kill".to_string()) && left.iter().any(|k| k.starts_with("partition-")),
        "{left:?}"
    );
    // Asked for explicitly, an unsupported kind is refused, not dropped.
    let e = resolve(&TestArgs {
        system: Some("cl-bank".into()),
        workload: Some("bank".into()),
        nemesis: Some("kill".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("does not support kill") && e.contains("pause"),
        "{e}"
    );
}

#[test]
fn a_system_file_is_stored_by_its_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sys.toml"),
        "name = \"s\"\ncommand = \"sh -c 'exec sleep 9' {id}\"\nport = 1\n",
    )
    .unwrap();
    let here = std::env::current_dir().unwrap();
    let relative = pathdiff(dir.path(), &here).join("sys.toml");
    let c = resolve(&TestArgs {
        system: Some(relative.display().to_string()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert!(Path::new(&c.system).is_absolute(), "{}", c.system);
    assert_eq!(Path::new(&c.system), dir.path().join("sys.toml"));
    assert_eq!(c.name, "sys-cas-register");
}

/// `path` relative to `base` (both absolute), with `..` as needed.
fn pathdiff(path: &Path, base: &Path) -> std::path::PathBuf {
    let p: Vec<_> = path.components().collect();
    let b: Vec<_> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = std::path::PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    out
}

#[test]
fn the_sequential_search_budget_is_proportional_to_the_run() {
    let c = resolve(&TestArgs {
        time_limit: Some("20s".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        c.check_context(&[]).sequential_timeout,
        Duration::from_secs(20)
    );
    let short = resolve(&TestArgs {
        time_limit: Some("2s".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        short.check_context(&[]).sequential_timeout,
        Duration::from_secs(10)
    );
    let capped = resolve(&TestArgs {
        time_limit: Some("1h".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        capped.check_context(&[]).sequential_timeout,
        Duration::from_secs(60)
    );
}

#[test]
fn keep_data_defaults_to_on_failure_and_replays() {
    let c = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.keep_data, KeepData::OnFailure);
    let e = resolve(&TestArgs {
        keep_data: Some("sometimes".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--keep-data") && e.contains("on-failure"),
        "{e}"
    );
    let never = resolve(&TestArgs {
        keep_data: Some("never".into()),
        all_keys: true,
        seed: Some(2),
        ..Default::default()
    })
    .unwrap();
    let replay = file(&TestFile::of(&never).to_toml(Path::new("/tmp/run")));
    let again = resolve(&TestArgs {
        config: Some(replay.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((again.keep_data, again.all_keys), (KeepData::Never, true));
}

#[test]
fn promises_come_from_the_system_and_its_settings_or_from_expect() {
    use crate::system::{Model, PromiseSource};
    let resolve_with = |args: TestArgs| {
        resolve(&TestArgs {
            seed: Some(1),
            ..args
        })
    };
    let c = resolve_with(TestArgs {
        system: Some("etcd".into()),
        etcd_reads: Some("serializable".into()),
        ..Default::default()
    })
    .unwrap();
    let p = c.promises.unwrap();
    assert_eq!(p.from, PromiseSource::Builtin);
    assert_eq!(
        p.models,
        vec![Model::Sequential, Model::Eventual, Model::NoLostWrites]
    );
    // --expect overrides, and test.toml keeps the override so a replay is judged alike.
    let c = resolve_with(TestArgs {
        system: Some("dynamo-kv".into()),
        system_args: vec!["--lww".into()],
        expect: Some("session,no-lost-writes".into()),
        ..Default::default()
    })
    .unwrap();
    let p = c.promises.clone().unwrap();
    assert_eq!(p.from, PromiseSource::Expect);
    assert_eq!(p.models.len(), 5);
    let toml = TestFile::of(&c).to_toml(Path::new("/r"));
    assert!(
        toml.contains("expect = \"monotonic-reads,monotonic-writes,read-your-writes,writes-follow-reads,no-lost-writes\""),
        "{toml}"
    );
    let e = resolve_with(TestArgs {
        expect: Some("linearizable,strong".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(crate::error::is_bad_input(&e));
    let e = format!("{e:#}");
    assert!(
        e.starts_with("--expect: `linearizable,strong`: unknown model `strong`"),
        "{e}"
    );
    let f = file("expect = [\"bank\", \"\"]\n");
    let e = resolve_with(TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(format!("{e:#}").contains("key `expect`"), "{e:#}");
}

#[test]
fn a_system_file_states_its_promises() {
    use crate::system::{Model, SystemSpec};
    let spec = SystemSpec::from_toml_str(
        "name = \"a\"\ncommand = \"sh {id}\"\nport = 1\npromises = [\"linearizable\", \"session\"]\n",
        Path::new("x.toml"),
    )
    .unwrap();
    let models = spec
        .promises_for(&[], Default::default(), Default::default())
        .unwrap();
    assert_eq!(models.len(), 5);
    assert_eq!(models[0], Model::Linearizable);
    let e = SystemSpec::from_toml_str(
        "name = \"a\"\ncommand = \"sh {id}\"\nport = 1\npromises = [\"acid\"]\n",
        Path::new("/tmp/s.toml"),
    )
    .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("/tmp/s.toml") && e.contains("field `promises`") && e.contains("acid"),
        "{e}"
    );
    let plain = SystemSpec::from_toml_str(
        "name = \"a\"\ncommand = \"sh {id}\"\nport = 1\n",
        Path::new("x.toml"),
    )
    .unwrap();
    assert_eq!(
        plain.promises_for(&[], Default::default(), Default::default()),
        None
    );
}

#[test]
fn transaction_settings_come_from_flags_or_the_file_and_are_checked() {
    use workloads::postgres::Isolation;
    let d = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (d.txn_length, d.max_writes_per_key, d.isolation),
        (4, 32, Isolation::Serializable)
    );
    let f = file("workload = \"txn-register\"\ntxn-length = 6\nmax-writes-per-key = 8\nisolation = \"read-committed\"\n");
    let c = resolve(&TestArgs {
        config: Some(f.path().to_path_buf()),
        isolation: Some("repeatable-read".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (c.txn_length, c.max_writes_per_key, c.isolation),
        (6, 8, Isolation::RepeatableRead)
    );
    // The resolved test written as a file resolves to the same settings.
    let again = file(&toml::to_string(&TestFile::of(&c)).unwrap());
    let r = resolve(&TestArgs {
        config: Some(again.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        (r.workload, r.txn_length, r.max_writes_per_key, r.isolation),
        (c.workload, 6, 8, Isolation::RepeatableRead)
    );
    let e = resolve(&TestArgs {
        txn_length: Some(0),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("--txn-length") && e.contains("not 0"), "{e}");
    let e = resolve(&TestArgs {
        isolation: Some("snapshot".into()),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("--isolation") && e.contains("repeatable-read"),
        "{e}"
    );
}

#[test]
fn hosts_written_into_a_replay_test_file_read_back_the_same() {
    let hosts = crate::backend::ssh::hosts::parse(
        "[[hosts]]\naddress = \"10.1.0.1\"\nssh-options = [\"StrictHostKeyChecking=yes\"]\n[[hosts]]\naddress = \"10.1.0.2\"\nport = 2200\n",
        std::path::Path::new("/tmp/hosts.toml"),
    )
    .unwrap();
    let file = TestFile {
        system: Some("raft-kv".into()),
        nodes: Some(2),
        hosts: Some(hosts.clone()),
        ..Default::default()
    };
    let text = toml::to_string(&file).unwrap();
    assert_eq!(
        crate::backend::ssh::hosts::parse(&text, std::path::Path::new("/tmp/t.toml")).unwrap(),
        hosts,
        "{text}"
    );
    let again: TestFile = toml::from_str(&text).unwrap();
    assert_eq!(again, file);
}

#[test]
fn hosts_come_from_the_test_file_or_the_hosts_flag_with_errors_naming_the_line() {
    let f = file("system = \"raft-kv\"\nnodes = 1\n\n[[hosts]]\naddress = \"10.1.0.9\"\n");
    let args = TestArgs {
        config: Some(f.path().to_path_buf()),
        ..Default::default()
    };
    let config = resolve(&args).unwrap();
    assert_eq!(config.hosts.len(), 1);
    assert_eq!(config.hosts[0].address, "10.1.0.9");
    let bad = file("[[hosts]]\naddress = \"10.1.0.9\"\nport = 0\n");
    let e = resolve(&TestArgs {
        hosts: Some(bad.path().to_path_buf()),
        ..Default::default()
    })
    .unwrap_err();
    let shown = format!("{e:#}");
    assert!(crate::error::is_bad_input(&e), "{shown}");
    assert!(
        shown.contains(&format!("{}:1", bad.path().display())) && shown.contains("port"),
        "{shown}"
    );
}

#[test]
fn the_check_memory_budget_comes_from_the_flag_and_a_bad_size_names_it() {
    let c = resolve(&TestArgs {
        check_memory: Some("256M".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(c.check_context(&[]).check_memory, Some(256 << 20));
    let unset = resolve(&TestArgs {
        seed: Some(1),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(unset.check_context(&[]).check_memory, None);
    let err = resolve(&TestArgs {
        check_memory: Some("lots".into()),
        seed: Some(1),
        ..Default::default()
    })
    .unwrap_err();
    assert!(format!("{err:#}").contains("--check-memory"), "{err:#}");
}
