//! A queue that promises delivery but not order (a bag): `enqueue` the invocation's
//! value, `dequeue` returns any element present, or nil when it was empty.

use super::fifo_queue::{prepare_queue_op, QueueOp};
use super::{Model, ModelError, Scalar};
use crate::history::Operation;

#[derive(Debug, Clone, Copy, Default)]
pub struct UnorderedQueue;

impl Model for UnorderedQueue {
    /// A multiset, kept sorted so equal contents are equal states.
    type State = Vec<Scalar>;
    type Op = QueueOp;

    fn name(&self) -> String {
        "unordered-queue".into()
    }

    fn init(&self) -> Vec<Scalar> {
        Vec::new()
    }

    fn prepare(&self, op: &Operation) -> Result<Option<QueueOp>, ModelError> {
        prepare_queue_op(op, "unordered-queue")
    }

    fn step(&self, state: &Vec<Scalar>, op: &QueueOp) -> Option<Vec<Scalar>> {
        match op {
            QueueOp::Enqueue(v) => {
                let mut next = state.clone();
                let at = next.partition_point(|x| x <= v);
                next.insert(at, v.clone());
                Some(next)
            }
            QueueOp::Dequeue(Scalar::Nil) => state.is_empty().then(|| state.clone()),
            QueueOp::Dequeue(v) => state.binary_search(v).ok().map(|at| {
                let mut next = state.clone();
                next.remove(at);
                next
            }),
            // Which element an indeterminate dequeue took is unknown: see successors.
            QueueOp::DequeueUnknown => state.is_empty().then(|| state.clone()),
        }
    }

    fn successors(&self, state: &Vec<Scalar>, op: &QueueOp, out: &mut Vec<Vec<Scalar>>) {
        if !matches!(op, QueueOp::DequeueUnknown) || state.is_empty() {
            out.extend(self.step(state, op));
            return;
        }
        for (i, v) in state.iter().enumerate() {
            if i > 0 && state[i - 1] == *v {
                continue;
            }
            let mut next = state.clone();
            next.remove(i);
            out.push(next);
        }
    }

    fn describe_state(&self, state: &Vec<Scalar>) -> String {
        let items: Vec<String> = state.iter().map(|s| s.to_string()).collect();
        format!("{{{}}} (any order)", items.join(" "))
    }

    fn state_bytes(&self, state: &Vec<Scalar>) -> usize {
        24 + state
            .iter()
            .map(|s| std::mem::size_of::<Scalar>() + s.heap_bytes())
            .sum::<usize>()
    }
}
