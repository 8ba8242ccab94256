//! A single read/write register: the smallest useful model, and the example to copy
//! when writing your own.
//!
//! `f` names: `read` or `final-read` (the value returned is the completion's value)
//! and `write` (the value written is the invocation's value). The register starts out nil. A `cas`
//! here is an input error: use `cas-register`.

use super::cas_register::{
    canonicalize_register, prepare_register_op, register_changes_only_from, register_growth,
    register_reachable, register_required_state, register_reset_state, step_register, RegisterOp,
    READS,
};
use super::{CasFailMeaning, Growth, Model, ModelError, Scalar};
use crate::history::Operation;

#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

impl Model for Register {
    type State = Scalar;
    type Op = RegisterOp;

    fn name(&self) -> String {
        "register".into()
    }

    fn init(&self) -> Scalar {
        Scalar::Nil
    }

    fn prepare(&self, op: &Operation) -> Result<Option<RegisterOp>, ModelError> {
        prepare_register_op(op, CasFailMeaning::NoEffect, false, READS, &["write"])
    }

    fn step(&self, state: &Scalar, op: &RegisterOp) -> Option<Scalar> {
        step_register(state, op)
    }

    /// A read is reachable only from its own value or through a write that could
    /// still come before it.
    fn growth(&self, op: &RegisterOp) -> Growth {
        register_growth(op)
    }

    fn reachable(&self, state: &Scalar, observer: &RegisterOp) -> bool {
        register_reachable(state, observer)
    }

    fn reset_state(&self, op: &RegisterOp) -> Option<Scalar> {
        register_reset_state(op)
    }

    fn required_state(&self, observer: &RegisterOp) -> Option<Scalar> {
        register_required_state(observer)
    }

    fn canonicalize(&self, ops: &mut [RegisterOp], open: &[bool]) -> Option<Vec<u32>> {
        canonicalize_register(ops, open)
    }

    fn changes_only_from(&self, op: &RegisterOp) -> Option<Scalar> {
        register_changes_only_from(op)
    }

    fn describe_state(&self, state: &Scalar) -> String {
        state.to_string()
    }

    fn state_bytes(&self, state: &Scalar) -> usize {
        std::mem::size_of::<Scalar>() + state.heap_bytes()
    }
}
