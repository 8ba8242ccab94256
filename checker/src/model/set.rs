//! A grow-only set: `add` a value (the invocation's value), `read` the whole set (the
//! completion's value, a list in any order). The set starts out empty.

use super::{Growth, Model, ModelError, Scalar};
use crate::history::{Operation, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, Copy, Default)]
pub struct Set;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetOp {
    Add(Scalar),
    /// A read that returned exactly these elements (sorted, deduplicated).
    Read(Vec<Scalar>),
}

impl Model for Set {
    /// Sorted and deduplicated, so equal sets are equal states.
    type State = Vec<Scalar>;
    type Op = SetOp;

    fn name(&self) -> String {
        "set".into()
    }

    fn init(&self) -> Vec<Scalar> {
        Vec::new()
    }

    fn prepare(&self, op: &Operation) -> Result<Option<SetOp>, ModelError> {
        match (op.f.as_str(), op.outcome) {
            ("add", Outcome::Fail) | ("read", Outcome::Fail | Outcome::Info) => Ok(None),
            ("add", _) => Ok(Some(SetOp::Add(Scalar::from_json(&op.input)))),
            ("read", Outcome::Ok) => match &op.output {
                Value::Array(items) => {
                    let mut v: Vec<Scalar> = items.iter().map(Scalar::from_json).collect();
                    v.sort();
                    v.dedup();
                    Ok(Some(SetOp::Read(v)))
                }
                other => Err(ModelError::new(
                    op,
                    format!("a set read must return a list, found {other}"),
                )),
            },
            _ => Err(ModelError::new(
                op,
                "unknown function for the set model; expected add or read",
            )),
        }
    }

    fn step(&self, state: &Vec<Scalar>, op: &SetOp) -> Option<Vec<Scalar>> {
        match op {
            SetOp::Add(v) => match state.binary_search(v) {
                Ok(_) => Some(state.clone()),
                Err(at) => {
                    let mut next = state.clone();
                    next.insert(at, v.clone());
                    Some(next)
                }
            },
            SetOp::Read(seen) => (seen == state).then(|| state.clone()),
        }
    }

    /// A set only grows, so a read that did not see an element already added can
    /// never be placed later.
    fn growth(&self, op: &SetOp) -> Growth {
        match op {
            SetOp::Add(_) => Growth::Grows,
            SetOp::Read(_) => Growth::Observes,
        }
    }

    fn reachable(&self, state: &Vec<Scalar>, observer: &SetOp) -> bool {
        match observer {
            SetOp::Read(seen) => state.iter().all(|x| seen.binary_search(x).is_ok()),
            SetOp::Add(_) => true,
        }
    }

    fn describe_state(&self, state: &Vec<Scalar>) -> String {
        let items: Vec<String> = state.iter().map(|s| s.to_string()).collect();
        format!("#{{{}}}", items.join(" "))
    }

    fn state_bytes(&self, state: &Vec<Scalar>) -> usize {
        24 + state
            .iter()
            .map(|s| std::mem::size_of::<Scalar>() + s.heap_bytes())
            .sum::<usize>()
    }
}
