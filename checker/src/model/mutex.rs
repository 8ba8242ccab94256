//! A lock: `acquire` succeeds only when it is free, `release` only when it is held.
//! As in Knossos, the lock does not record its holder: a release by another process
//! than the acquirer is allowed, what is checked is mutual exclusion.

use super::{Model, ModelError};
use crate::history::{Operation, Outcome};

#[derive(Debug, Clone, Copy, Default)]
pub struct Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MutexOp {
    Acquire,
    Release,
}

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Op = MutexOp;

    fn name(&self) -> String {
        "mutex".into()
    }

    fn init(&self) -> bool {
        false
    }

    fn prepare(&self, op: &Operation) -> Result<Option<MutexOp>, ModelError> {
        let kind = match op.f.as_str() {
            "acquire" => MutexOp::Acquire,
            "release" => MutexOp::Release,
            _ => {
                return Err(ModelError::new(
                    op,
                    "unknown function for the mutex model; expected acquire or release",
                ))
            }
        };
        Ok((op.outcome != Outcome::Fail).then_some(kind))
    }

    fn step(&self, held: &bool, op: &MutexOp) -> Option<bool> {
        match op {
            MutexOp::Acquire => (!*held).then_some(true),
            MutexOp::Release => (*held).then_some(false),
        }
    }

    fn describe_state(&self, held: &bool) -> String {
        if *held { "held" } else { "free" }.into()
    }
}
