//! Format detection, dispatch and file errors; each importer tests its own format.

use super::*;
use crate::history::HistoryProblem;
use std::io::Write;

const JSONL: &str = "{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"read\"}\n";
const EDN: &str = "{:index 0, :time 0, :type :invoke, :process 0, :f :read, :value nil}\n";
const LOG: &str = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\n";
const KV: &str = "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n";

#[test]
fn format_names_round_trip() {
    for format in Format::ALL {
        assert_eq!(Format::from_name(format.name()), Some(format));
        assert_eq!(format.to_string().parse::<Format>(), Ok(format));
    }
    assert_eq!(Format::from_name("porcupine-kv"), Some(Format::PorcupineKv));
    assert_eq!(Format::from_name("json"), None);
    assert!("json"
        .parse::<Format>()
        .unwrap_err()
        .to_string()
        .contains("known: jsonl, edn, jepsen-json, porcupine-log, porcupine-kv"));
}

#[test]
fn detects_each_format_from_its_content() {
    assert_eq!(detect(JSONL), Some(Format::Jsonl));
    assert_eq!(detect(&format!("\n  \n{EDN}")), Some(Format::JepsenEdn));
    assert_eq!(detect(&format!("[{EDN}]")), Some(Format::JepsenEdn));
    assert_eq!(
        detect("#jepsen.history.Op{:index 0}"),
        Some(Format::JepsenEdn)
    );
    assert_eq!(detect(LOG), Some(Format::PorcupineLog));
    assert_eq!(detect(KV), Some(Format::PorcupineKv));
    assert_eq!(
        detect("{:index 0, :process 0, :type :invoke, :f :get, :key \"1\"}"),
        Some(Format::JepsenEdn)
    );
    assert_eq!(detect(""), None);
    assert_eq!(detect("hello"), None);
    assert_eq!(detect(&format!("\u{feff}{JSONL}")), Some(Format::Jsonl));
}

#[test]
fn parses_with_detected_or_named_format() {
    for text in [JSONL, EDN, LOG, KV] {
        let h = parse(text, None).unwrap();
        assert_eq!(h.ops.len(), 1, "{text}");
    }
    assert_eq!(
        parse(KV, Some(Format::JepsenEdn)).unwrap().ops[0].key,
        Some(serde_json::json!("1"))
    );
    assert_eq!(parse("", None).unwrap(), History::default());
    assert_eq!(
        parse(" \n\n", Some(Format::JepsenEdn)).unwrap(),
        History::default()
    );
}

#[test]
fn errors_say_what_format_was_expected() {
    let e = parse("hello\n", None).unwrap_err();
    assert_eq!(
        (e.line, e.problem.clone()),
        (Some(1), ImportProblem::UnknownFormat)
    );
    assert!(e.to_string().contains("name the format explicitly"), "{e}");
    let e = parse(JSONL, Some(Format::JepsenEdn)).unwrap_err();
    assert_eq!((e.line, e.format), (Some(1), Some(Format::JepsenEdn)));
    assert!(e.to_string().ends_with("(reading as edn)"), "{e}");
    let e = parse(EDN, Some(Format::PorcupineLog)).unwrap_err();
    assert!(
        matches!(e.problem, ImportProblem::Parse(ParseProblem::Syntax(_))),
        "{e}"
    );
}

#[test]
fn independent_keys_option_reaches_the_edn_importer() {
    let cas = "{:process 0, :type :invoke, :f :cas, :value [1 2]}";
    assert_eq!(parse(cas, None).unwrap().ops[0].key, None);
    let options = ImportOptions {
        independent: IndependentKeys::Always,
        ..ImportOptions::default()
    };
    assert_eq!(
        parse_with(cas, None, &options).unwrap().history.ops[0].key,
        Some(serde_json::json!(1))
    );
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(bytes).unwrap();
    file
}

#[test]
fn load_errors_name_the_file_and_line() {
    let file = temp_file(format!("{LOG}INFO  jepsen.util - 0 :invoke :read nil\n").as_bytes());
    let e = load(file.path(), None).unwrap_err();
    assert_eq!(e.file.as_deref(), Some(file.path()));
    assert_eq!(e.line, Some(2));
    assert_eq!(
        e.problem,
        ImportProblem::Parse(ParseProblem::History(HistoryProblem::InvokeWhilePending {
            process: 0,
            pending_index: 1
        }))
    );
    assert!(
        e.to_string().starts_with(&format!(
            "{}:2: process 0 invokes while",
            file.path().display()
        )),
        "{e}"
    );

    let file =
        temp_file(b"{:process 0, :type :invoke, :f :read}\n{:process 1, :type :invoke, :f \xff}\n");
    let e = load(file.path(), None).unwrap_err();
    assert_eq!(
        (e.line, e.problem.clone()),
        (Some(2), ImportProblem::NotUtf8)
    );

    let missing = file.path().with_extension("does-not-exist");
    let e = load(&missing, Some(Format::Jsonl)).unwrap_err();
    assert!(matches!(e.problem, ImportProblem::Io(_)));
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );

    let file = temp_file(b"");
    assert_eq!(load(file.path(), None).unwrap(), History::default());
    let file = temp_file(EDN.as_bytes());
    assert_eq!(load(file.path(), None).unwrap().ops.len(), 1);
}

#[test]
fn operations_only_option_keeps_the_operations_and_drops_the_events_in_every_format() {
    let options = ImportOptions {
        operations_only: true,
        ..ImportOptions::default()
    };
    for (text, format) in [
        (JSONL, Format::Jsonl),
        (EDN, Format::JepsenEdn),
        (LOG, Format::PorcupineLog),
        (KV, Format::PorcupineKv),
    ] {
        let full = parse(text, None).unwrap();
        let only = parse_with(text, None, &options).unwrap();
        assert_eq!(only.format, Some(format));
        assert_eq!(
            (only.history.events.len(), only.history.ops),
            (0, full.ops.clone())
        );
        assert_eq!(full.events.len(), 1, "{format}");
    }
}
