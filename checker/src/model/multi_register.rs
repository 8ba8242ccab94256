//! Several registers changed together by transactions.
//!
//! One `f`: `txn`, whose value is a list of micro-operations `["r", k, v]` (a read of
//! register `k` that returned `v`) and `["w", k, v]` (a write of `v` to `k`), applied in
//! order, atomically. Reads in the invocation usually carry nil and the completion
//! fills them in, so an `ok` transaction is taken from its completion's value (the
//! invocation's when the completion has none). Every register starts out nil. `read`
//! and `write` are accepted as spellings of `r` and `w`.

use super::{Model, ModelError, Scalar};
use crate::history::{Operation, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default)]
pub struct MultiRegister;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Micro {
    Read(Scalar, Scalar),
    Write(Scalar, Scalar),
}

fn parse_txn(op: &Operation, value: &Value, keep_reads: bool) -> Result<Vec<Micro>, ModelError> {
    let Value::Array(items) = value else {
        return Err(ModelError::new(
            op,
            format!("a txn value must be a list of [\"r\"|\"w\", key, value], found {value}"),
        ));
    };
    let mut micros = Vec::with_capacity(items.len());
    for item in items {
        let bad = || {
            ModelError::new(
                op,
                format!("bad micro-operation {item}: expected [\"r\"|\"w\", key, value]"),
            )
        };
        let Value::Array(parts) = item else {
            return Err(bad());
        };
        let [kind, key, val] = parts.as_slice() else {
            return Err(bad());
        };
        let (key, val) = (Scalar::from_json(key), Scalar::from_json(val));
        match kind.as_str() {
            Some("r" | "read") if keep_reads => micros.push(Micro::Read(key, val)),
            Some("r" | "read") => {}
            Some("w" | "write") => micros.push(Micro::Write(key, val)),
            _ => return Err(bad()),
        }
    }
    Ok(micros)
}

impl Model for MultiRegister {
    /// Registers holding a non-nil value, sorted by key.
    type State = Vec<(Scalar, Scalar)>;
    type Op = Vec<Micro>;

    fn name(&self) -> String {
        "multi-register".into()
    }

    fn init(&self) -> Self::State {
        Vec::new()
    }

    fn prepare(&self, op: &Operation) -> Result<Option<Vec<Micro>>, ModelError> {
        if op.f != "txn" {
            return Err(ModelError::new(
                op,
                "unknown function for the multi-register model; expected txn",
            ));
        }
        match op.outcome {
            Outcome::Fail => Ok(None),
            Outcome::Ok => {
                let value = if op.output.is_array() {
                    &op.output
                } else {
                    &op.input
                };
                Ok(Some(parse_txn(op, value, true)?))
            }
            // Unknown outcome: the reads constrain nothing, the writes may have happened.
            Outcome::Info => {
                let micros = parse_txn(op, &op.input, false)?;
                Ok((!micros.is_empty()).then_some(micros))
            }
        }
    }

    fn step(&self, state: &Self::State, txn: &Vec<Micro>) -> Option<Self::State> {
        let mut next: Option<Self::State> = None;
        for micro in txn {
            let cur = next.as_ref().unwrap_or(state);
            match micro {
                Micro::Read(k, v) => {
                    let found = cur
                        .binary_search_by(|(key, _)| key.cmp(k))
                        .ok()
                        .map(|i| &cur[i].1);
                    if found.unwrap_or(&Scalar::Nil) != v {
                        return None;
                    }
                }
                Micro::Write(k, v) => {
                    let mut regs = next.take().unwrap_or_else(|| state.clone());
                    match (regs.binary_search_by(|(key, _)| key.cmp(k)), v.is_nil()) {
                        (Ok(i), false) => regs[i].1 = v.clone(),
                        (Ok(i), true) => {
                            regs.remove(i);
                        }
                        (Err(i), false) => regs.insert(i, (k.clone(), v.clone())),
                        (Err(_), true) => {}
                    }
                    next = Some(regs);
                }
            }
        }
        Some(next.unwrap_or_else(|| state.clone()))
    }

    fn describe_state(&self, state: &Self::State) -> String {
        let items: Vec<String> = state.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{{{}}}", items.join(", "))
    }

    fn state_bytes(&self, state: &Self::State) -> usize {
        24 + state
            .iter()
            .map(|(k, v)| 2 * std::mem::size_of::<Scalar>() + k.heap_bytes() + v.heap_bytes())
            .sum::<usize>()
    }
}
