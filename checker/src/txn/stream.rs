//! Reading a faultline JSONL history straight into [`Txns`], one line at a time.
//!
//! A [`History`](crate::history::History) keeps every event and every operation with
//! its values as `serde_json::Value`: about 11 KB per list-append transaction of four
//! micro-operations, so a million transactions would need 11 GB before the checker
//! starts. Here each line is parsed as the JSONL reader parses it (the same fields,
//! defaults and errors), paired with its process's pending invocation under the same
//! rules as [`History::from_events`](crate::history::History::from_events), turned
//! into micro-operations over interned keys, and dropped: what stays is the checker's
//! own compact form, plus the pending invocations (one per client at most).

use super::mop::{ReadKind, Txn, Txns, TxnsBuilder, TXN_F};
use crate::history::{
    parse_jsonl_event, Defaults, Event, EventType, HistoryProblem, Outcome, Process,
};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::io::BufRead;

/// Why a file cannot be read as transactions: what, and on which 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}")]
pub struct TxnReadError {
    pub line: usize,
    pub what: String,
}

/// An invocation waiting for its completion.
struct Pending {
    f: String,
    key: Option<Value>,
    /// The invocation's value, kept for `txn`s only (the source of their
    /// micro-operations unless an `ok` completion lists them).
    input: Value,
    /// The transaction's place in [`TxnsBuilder::txns`], for `txn`s.
    txn: Option<usize>,
    invoke_index: u64,
    line: usize,
}

/// What a client process is doing.
enum Slot {
    Idle,
    Pending(Pending),
    /// Retired by an `info` completion at this index.
    Retired(u64),
}

/// The state of one pass over the lines.
struct Reader {
    builder: TxnsBuilder,
    slots: FxHashMap<u64, Slot>,
    /// The previous event's index and time.
    previous: Option<(u64, u64)>,
    /// How many client operations were invoked: the next one's id.
    ops: usize,
}

/// Reads every `txn` operation of a JSONL history (other operations are paired and
/// validated, then forgotten). Transactions come in invocation order, as
/// [`Txns::parse`] gives them.
pub fn read_jsonl(mut input: impl BufRead, kind: ReadKind) -> Result<Txns, TxnReadError> {
    let mut reader = Reader {
        builder: TxnsBuilder::new(kind),
        slots: FxHashMap::default(),
        previous: None,
        ops: 0,
    };
    let mut defaults = Defaults::default();
    let mut text = String::new();
    let mut line = 0;
    loop {
        text.clear();
        line += 1;
        let at = |what: String| TxnReadError { line, what };
        match input.read_line(&mut text) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(at(format!("cannot read: {e}"))),
        }
        let content = text.strip_prefix('\u{feff}').filter(|_| line == 1);
        let content = content.unwrap_or(&text).trim_end_matches(['\n', '\r']);
        if content.trim().is_empty() {
            continue;
        }
        let event = parse_jsonl_event(content, &mut defaults).map_err(|p| at(p.to_string()))?;
        reader.event(event, line)?;
    }
    reader.finish()
}

impl Reader {
    /// One event: in order, and paired with its process's pending invocation.
    fn event(&mut self, event: Event, line: usize) -> Result<(), TxnReadError> {
        let at = |problem: HistoryProblem| TxnReadError {
            line,
            what: problem.to_string(),
        };
        self.in_order(&event).map_err(at)?;
        let Process::Client(process) = event.process else {
            return Ok(());
        };
        let slot = self.slots.entry(process).or_insert(Slot::Idle);
        match (event.kind, std::mem::replace(slot, Slot::Idle)) {
            (EventType::Invoke, Slot::Idle) => {
                let pending = self.invoked(process, event, line);
                self.slots.insert(process, Slot::Pending(pending));
                Ok(())
            }
            (EventType::Invoke, Slot::Pending(p)) => Err(at(HistoryProblem::InvokeWhilePending {
                process,
                pending_index: p.invoke_index,
            })),
            (EventType::Invoke, Slot::Retired(info_index)) => {
                Err(at(HistoryProblem::InvokeAfterInfo {
                    process,
                    info_index,
                }))
            }
            (_, Slot::Pending(p)) => {
                let next = if event.kind == EventType::Info {
                    Slot::Retired(event.index)
                } else {
                    Slot::Idle
                };
                self.complete(process, p, event, line)?;
                self.slots.insert(process, next);
                Ok(())
            }
            (kind, _) => Err(at(HistoryProblem::CompletionWithoutInvoke {
                process,
                kind,
                f: event.f,
            })),
        }
    }

    /// Indices strictly increase and times never decrease (JSONL's rule).
    fn in_order(&mut self, event: &Event) -> Result<(), HistoryProblem> {
        if let Some((index, time)) = self.previous {
            if event.index <= index {
                return Err(HistoryProblem::IndexNotIncreasing {
                    index: event.index,
                    previous: index,
                });
            }
            if event.time < time {
                return Err(HistoryProblem::TimeWentBackwards {
                    time: event.time,
                    previous: time,
                });
            }
        }
        self.previous = Some((event.index, event.time));
        Ok(())
    }

    /// A new operation; a `txn` gets its place among the transactions now, so they
    /// stay in invocation order, and is indeterminate until completed.
    fn invoked(&mut self, process: u64, event: Event, line: usize) -> Pending {
        let id = self.ops;
        self.ops += 1;
        let txn = (event.f == TXN_F).then(|| {
            self.builder.txns.push(Txn {
                op: id,
                process,
                outcome: Outcome::Info,
                call: event.time,
                ret: u64::MAX,
                invoke_index: event.index,
                mops: Vec::new(),
            });
            self.builder.txns.len() - 1
        });
        Pending {
            input: if txn.is_some() {
                event.value
            } else {
                Value::Null
            },
            f: event.f,
            key: event.key,
            txn,
            invoke_index: event.index,
            line,
        }
    }

    /// Completes `p` with `event` (same function, and same key if it names one).
    fn complete(
        &mut self,
        process: u64,
        p: Pending,
        event: Event,
        line: usize,
    ) -> Result<(), TxnReadError> {
        let at = |problem: HistoryProblem| TxnReadError {
            line,
            what: problem.to_string(),
        };
        if p.f != event.f {
            return Err(at(HistoryProblem::FunctionMismatch {
                process,
                invoked: p.f,
                completed: event.f,
                invoke_index: p.invoke_index,
            }));
        }
        if let Some(key) = event.key.as_ref().filter(|k| p.key.as_ref() != Some(*k)) {
            return Err(at(HistoryProblem::KeyMismatch {
                process,
                invoked: p.key.as_ref().map(Value::to_string),
                completed: key.to_string(),
                invoke_index: p.invoke_index,
            }));
        }
        let Some(t) = p.txn else { return Ok(()) };
        let outcome = match event.kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        let (source, source_line) = if outcome == Outcome::Ok && event.value.is_array() {
            (&event.value, line)
        } else {
            (&p.input, p.line)
        };
        let mops = self.mops(source, outcome == Outcome::Ok, p.invoke_index, source_line)?;
        let txn = &mut self.builder.txns[t];
        txn.outcome = outcome;
        if outcome != Outcome::Info {
            txn.ret = event.time;
        }
        txn.mops = mops;
        Ok(())
    }

    fn mops(
        &mut self,
        source: &Value,
        known: bool,
        invoke_index: u64,
        line: usize,
    ) -> Result<Vec<super::mop::Mop>, TxnReadError> {
        self.builder
            .mops(source, known)
            .map_err(|what| TxnReadError {
                line,
                what: format!("the txn invoked at index {invoke_index}: {what}"),
            })
    }

    /// Invocations never completed are indeterminate: their requests, reads unknown.
    fn finish(mut self) -> Result<Txns, TxnReadError> {
        let mut open: Vec<Pending> = std::mem::take(&mut self.slots)
            .into_values()
            .filter_map(|s| match s {
                Slot::Pending(p) => Some(p),
                _ => None,
            })
            .collect();
        open.sort_by_key(|p| p.line);
        for p in open {
            if let Some(t) = p.txn {
                self.builder.txns[t].mops = self.mops(&p.input, false, p.invoke_index, p.line)?;
            }
        }
        Ok(self.builder.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth_txn::{write_txns_jsonl, TxnAnomaly, TxnDatatype, TxnSynthOptions};
    use crate::txn::mop::{mops_text, Mop, Read};

    fn synthetic(datatype: TxnDatatype, anomaly: Option<TxnAnomaly>) -> String {
        let options = TxnSynthOptions {
            datatype,
            clients: 7,
            txns: 600,
            length: 4,
            keys: 5,
            max_writes_per_key: 8,
            crash_rate: 0.05,
            anomaly,
            seed: 9,
        };
        let mut out = Vec::new();
        write_txns_jsonl(&options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Each transaction as text: who, how it ended, when, and its micro-operations.
    fn described(txns: &Txns) -> Vec<String> {
        txns.txns
            .iter()
            .map(|t| {
                let head = (t.op, t.process, t.outcome, t.call, t.ret, t.invoke_index);
                format!("{head:?} {}", mops_text(txns, t))
            })
            .collect()
    }

    #[test]
    fn a_file_read_line_by_line_gives_the_transactions_the_history_gives() {
        for (datatype, kind) in [
            (TxnDatatype::ListAppend, ReadKind::List),
            (TxnDatatype::RwRegister, ReadKind::Register),
        ] {
            let text = synthetic(datatype, Some(TxnAnomaly::G2Item));
            let history = crate::history::parse_jsonl(&text).unwrap();
            let parsed = Txns::parse(&history, kind).unwrap();
            let streamed = read_jsonl(text.as_bytes(), kind).unwrap();
            // Keys are numbered as first met: here in completion order, there in
            // invocation order; the same keys either way.
            let (mut a, mut b) = (streamed.keys.clone(), parsed.keys.clone());
            a.sort();
            b.sort();
            assert_eq!(a, b);
            assert_eq!(described(&streamed), described(&parsed));
            assert!(streamed.txns.iter().any(|t| t.outcome == Outcome::Info));
        }
    }

    #[test]
    fn reads_of_a_key_share_one_stored_list() {
        let text = synthetic(TxnDatatype::ListAppend, None);
        let txns = read_jsonl(text.as_bytes(), ReadKind::List).unwrap();
        let reads = txns
            .txns
            .iter()
            .flat_map(|t| &t.mops)
            .filter(|m| matches!(m, Mop::Read { value: Read::List(l), .. } if l.len > 0))
            .count();
        let stored: usize = txns.keys.len();
        assert!(reads > 3 * stored, "{reads} reads over {stored} keys");
        assert!(
            txns.lists.chain_count() <= stored,
            "{} chains for {stored} keys",
            txns.lists.chain_count()
        );
    }

    #[test]
    fn an_invocation_never_completed_is_indeterminate_with_its_reads_unknown() {
        let text = "\
{\"index\":0,\"time\":0,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",\"x\",1],[\"r\",\"x\",null]]}
{\"index\":1,\"time\":1,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"kill\",\"value\":null}

{\"index\":2,\"time\":2,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"value\":null}
{\"index\":3,\"time\":3,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"value\":5}
";
        let txns = read_jsonl(text.as_bytes(), ReadKind::List).unwrap();
        assert_eq!(
            described(&txns),
            vec!["(0, 0, Info, 0, 18446744073709551615, 0) [append \"x\" 1] [r \"x\" nil]"]
        );
    }

    #[test]
    fn a_bad_line_is_named_with_what_is_wrong() {
        let invoke =
            r#"{"index":0,"time":5,"process":0,"type":"invoke","f":"txn","value":[["r",1,null]]}"#;
        let cases = [
            (format!("{invoke}\n{{\"index\":1,\"time\":6,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",1,{{}}]]}}\n"),
             2, "the txn invoked at index 0: micro-operation 0 ([\"r\",1,{}]): a list-append read must be a list or null, found {}"),
            (format!("{invoke}\n{{\"index\":1,\"time\":4,\"process\":1,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[]}}\n"),
             2, "time 4 is earlier than the previous event's time 5"),
            (format!("{invoke}\n{{\"index\":1,\"time\":6,\"process\":0,\"type\":\"ok\",\"f\":\"read\",\"value\":[]}}\n"),
             2, "process 0 completes `read` but invoked `txn` at index 0"),
            (format!("{invoke}\nnot json\n"), 2, "invalid JSON"),
            (format!("{}\n", invoke.replace("[[\"r\",1,null]]", "[[\"r\",1]]")), 1,
             "the txn invoked at index 0: micro-operation 0 ([\"r\",1]): a micro-operation is a list [f, key, value]"),
        ];
        for (text, line, what) in cases {
            let e = read_jsonl(text.as_bytes(), ReadKind::List).unwrap_err();
            assert_eq!(e.line, line, "{e}");
            assert!(e.what.contains(what), "{e}");
        }
    }
}
