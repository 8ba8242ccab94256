//! Maelstrom's echo check: every acknowledged `echo` returned exactly what was sent.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::history::Outcome;
use checker::verdict::Verdict;
use serde::Serialize;
use serde_json::Value;

pub struct Echo;

/// Echoes answered with something else, at most this many kept.
const KEPT: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchoReport {
    pub verdict: Verdict,
    /// Acknowledged echoes.
    pub checked: u64,
    /// How many came back different.
    pub mismatched: u64,
    /// The first of them: the invocation's index in the history, sent, received.
    pub examples: Vec<(u64, Value, Value)>,
}

/// The echo check of a history.
pub fn check_echo(history: &checker::history::History) -> EchoReport {
    let mut r = EchoReport {
        verdict: Verdict::Valid,
        checked: 0,
        mismatched: 0,
        examples: Vec::new(),
    };
    let echoes = history.ops.iter().filter(|o| o.f == "echo");
    for op in echoes.filter(|o| o.outcome == Outcome::Ok) {
        r.checked += 1;
        if op.output != op.input {
            r.mismatched += 1;
            if r.examples.len() < KEPT {
                r.examples
                    .push((op.invoke_index, op.input.clone(), op.output.clone()));
            }
        }
    }
    if r.mismatched > 0 {
        r.verdict = Verdict::Invalid;
    }
    r
}

impl Checker for Echo {
    fn kind(&self) -> CheckKind {
        CheckKind::Echo
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let r = check_echo(input.history);
        let summary = format!(
            "{} echoes acknowledged, {} answered with something else",
            r.checked, r.mismatched
        );
        Ok(super::invariant(
            r.verdict,
            r.checked,
            "no echo was acknowledged",
            summary,
            CheckReport::Echo(Box::new(r)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use checker::history::parse_jsonl;

    #[test]
    fn an_echo_answered_with_another_text_is_invalid() {
        let h = parse_jsonl(concat!(
            "{\"type\":\"invoke\",\"f\":\"echo\",\"process\":0,\"time\":1,\"value\":\"a\"}\n",
            "{\"type\":\"ok\",\"f\":\"echo\",\"process\":0,\"time\":2,\"value\":\"a\"}\n",
            "{\"type\":\"invoke\",\"f\":\"echo\",\"process\":0,\"time\":3,\"value\":\"b\"}\n",
            "{\"type\":\"ok\",\"f\":\"echo\",\"process\":0,\"time\":4,\"value\":\"c\"}\n",
        ))
        .unwrap();
        let r = check_echo(&h);
        assert_eq!(
            (r.verdict, r.checked, r.mismatched),
            (Verdict::Invalid, 2, 1)
        );
        assert_eq!(r.examples[0].1, Value::from("b"));
    }
}
