//! A FIFO queue: `enqueue` the invocation's value, `dequeue` returns the completion's
//! value, or nil when the queue was empty. The queue starts out empty.

use super::{Model, ModelError, Scalar};
use crate::history::{Operation, Outcome};
use std::collections::VecDeque;

#[derive(Debug, Clone, Copy, Default)]
pub struct FifoQueue;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum QueueOp {
    Enqueue(Scalar),
    /// A dequeue that returned this value (nil: the queue was empty).
    Dequeue(Scalar),
    /// A dequeue whose result is unknown: removes whatever it would have removed.
    DequeueUnknown,
}

/// The enqueue/dequeue translation shared by the queue models.
pub(crate) fn prepare_queue_op(op: &Operation, model: &str) -> Result<Option<QueueOp>, ModelError> {
    match (op.f.as_str(), op.outcome) {
        ("enqueue", Outcome::Fail) | ("dequeue", Outcome::Fail) => Ok(None),
        ("enqueue", _) => Ok(Some(QueueOp::Enqueue(Scalar::from_json(&op.input)))),
        ("dequeue", Outcome::Ok) => Ok(Some(QueueOp::Dequeue(Scalar::from_json(&op.output)))),
        ("dequeue", Outcome::Info) => Ok(Some(QueueOp::DequeueUnknown)),
        _ => Err(ModelError::new(
            op,
            format!("unknown function for the {model} model; expected enqueue or dequeue"),
        )),
    }
}

impl Model for FifoQueue {
    type State = VecDeque<Scalar>;
    type Op = QueueOp;

    fn name(&self) -> String {
        "fifo-queue".into()
    }

    fn init(&self) -> VecDeque<Scalar> {
        VecDeque::new()
    }

    fn prepare(&self, op: &Operation) -> Result<Option<QueueOp>, ModelError> {
        prepare_queue_op(op, "fifo-queue")
    }

    fn step(&self, state: &VecDeque<Scalar>, op: &QueueOp) -> Option<VecDeque<Scalar>> {
        match op {
            QueueOp::Enqueue(v) => {
                let mut next = state.clone();
                next.push_back(v.clone());
                Some(next)
            }
            QueueOp::Dequeue(Scalar::Nil) => state.is_empty().then(|| state.clone()),
            QueueOp::Dequeue(v) => {
                (state.front() == Some(v)).then(|| state.iter().skip(1).cloned().collect())
            }
            QueueOp::DequeueUnknown => Some(state.iter().skip(1).cloned().collect()),
        }
    }

    fn describe_state(&self, state: &VecDeque<Scalar>) -> String {
        let items: Vec<String> = state.iter().map(|s| s.to_string()).collect();
        format!("[{}] (head first)", items.join(" "))
    }

    fn state_bytes(&self, state: &VecDeque<Scalar>) -> usize {
        32 + state
            .iter()
            .map(|s| std::mem::size_of::<Scalar>() + s.heap_bytes())
            .sum::<usize>()
    }
}
