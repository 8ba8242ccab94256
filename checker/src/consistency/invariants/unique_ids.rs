//! The unique-ID invariant: no ID is handed out twice. Every acknowledged `generate`
//! returns an ID (any JSON scalar); one hash map, one pass.
//!
//! Only acknowledged generations count: an indeterminate one returned nothing to
//! compare, and a failed one promised nothing.

use crate::consistency::{Atom, Examples, FastMap, OpRef, ShapeError, DEFAULT_MAX_EXAMPLES};
use crate::history::{History, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueIdOptions {
    pub max_examples: usize,
}

impl Default for UniqueIdOptions {
    fn default() -> Self {
        UniqueIdOptions {
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

/// An ID handed out more than once: the first operation that got it, and a later one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateId {
    pub id: Value,
    pub first: OpRef,
    pub first_process: u64,
    pub first_node: Option<String>,
    pub second: OpRef,
    pub second_process: u64,
    pub second_node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UniqueIdReport {
    pub verdict: Verdict,
    pub attempted: u64,
    pub acknowledged: u64,
    pub distinct: u64,
    /// Generations that returned an ID already handed out (exact), with examples.
    pub duplicates: Examples<DuplicateId>,
}

pub fn check(history: &History, opts: &UniqueIdOptions) -> Result<UniqueIdReport, ShapeError> {
    let mut seen: FastMap<Atom, usize> = FastMap::default();
    let mut r = UniqueIdReport {
        verdict: Verdict::Valid,
        attempted: 0,
        acknowledged: 0,
        distinct: 0,
        duplicates: Examples::new(),
    };
    for op in history.ops.iter().filter(|o| o.f == "generate") {
        r.attempted += 1;
        if op.outcome != Outcome::Ok {
            continue;
        }
        if op.output.is_array() || op.output.is_object() || op.output.is_null() {
            return Err(ShapeError::at(
                op,
                format!("a generated ID must be a JSON scalar, found {}", op.output),
            ));
        }
        r.acknowledged += 1;
        match seen.entry(Atom::of(&op.output)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(op.id);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                let first = &history.ops[*o.get()];
                r.duplicates.offer(opts.max_examples, || DuplicateId {
                    id: op.output.clone(),
                    first: OpRef::of(first),
                    first_process: first.process,
                    first_node: first.node.clone(),
                    second: OpRef::of(op),
                    second_process: op.process,
                    second_node: op.node.clone(),
                });
            }
        }
    }
    r.distinct = seen.len() as u64;
    if r.duplicates.count > 0 {
        r.verdict = Verdict::Invalid;
    }
    Ok(r)
}
