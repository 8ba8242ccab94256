//! `faultline synth` end to end: the hard shapes it writes (a value count, a future
//! read) and what `faultline check` says of them, and options it refuses.
//!
//!     cargo test -p faultline --test synth_command

use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("running faultline")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_future_read_history_is_written_and_check_finds_it_invalid_by_the_precheck() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.jsonl");
    let path = path.to_str().unwrap();
    let out = faultline(&[
        "synth",
        "--ops",
        "2000",
        "--values",
        "5",
        "--crash-rate",
        "0.01",
        "--anomaly",
        "future-read",
        "-o",
        path,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("anomaly injected"), "{}", text(&out));
    let out = faultline(&["check", path, "--model", "cas-register"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains("invalid") && said.contains("can never happen"),
        "{said}"
    );
    assert!(said.contains("invoked too late"), "{said}");
}

#[test]
fn a_stale_read_with_repeated_values_is_refused_with_exit_3() {
    let out = faultline(&["synth", "--values", "5", "--anomaly", "stale-read"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("unique values"), "{}", text(&out));
    let out = faultline(&["synth", "--values", "0"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("--values must be at least 1"),
        "{}",
        text(&out)
    );
    let out = faultline(&["synth", "--anomaly", "time-travel"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out).contains("future-read"), "{}", text(&out));
}
