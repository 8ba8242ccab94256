//! One key of a key-value store: get/put/append/cas on a string value.
//!
//! `f` names: `get`, `read` or `final-read` (the runner's closing read of every
//! node), `put` or `write`, `append` (concatenates a string onto
//! the value), `cas` with `[from, to]`. Every key starts out absent, and absent reads
//! as the empty string, as in porcupine's kv model: `nil` and `""` are the same value
//! here. Keys are independent objects: the checker splits the history by
//! [`Operation::key`] before this model sees it, so one model state is one key's
//! value.

use super::cas_register::{prepare_register_op, step_register, RegisterOp};
use super::{CasFailMeaning, Growth, Model, ModelError, Scalar};
use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct Kv {
    pub fail_means: CasFailMeaning,
}

impl Default for Kv {
    fn default() -> Self {
        Kv {
            fail_means: CasFailMeaning::FromError,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KvOp {
    Register(RegisterOp),
    Append(Arc<str>),
}

fn empty() -> Scalar {
    Scalar::Str("".into())
}

fn normal(v: Scalar) -> Scalar {
    if v.is_nil() {
        empty()
    } else {
        v
    }
}

impl Model for Kv {
    type State = Scalar;
    type Op = KvOp;

    fn name(&self) -> String {
        "kv".into()
    }

    fn init(&self) -> Scalar {
        empty()
    }

    fn prepare(&self, op: &Operation) -> Result<Option<KvOp>, ModelError> {
        if op.f == "append" {
            return match (&op.input, op.outcome) {
                (_, Outcome::Fail) => Ok(None),
                (Value::String(s), _) => Ok(Some(KvOp::Append(s.as_str().into()))),
                (other, _) => Err(ModelError::new(
                    op,
                    format!("append value must be a string, found {other}"),
                )),
            };
        }
        let reg = prepare_register_op(op, self.fail_means, true, &["get", "read", crate::consistency::FINAL_READ_F], &["put", "write"]).map_err(|mut e| {
            if e.message.starts_with("unknown function") {
                e.message = "unknown function for the kv model; expected get/read/final-read, put/write, append or cas".into();
            }
            e
        })?;
        Ok(reg.map(|r| {
            KvOp::Register(match r {
                RegisterOp::Read(v) => RegisterOp::Read(normal(v)),
                RegisterOp::Write(v) => RegisterOp::Write(normal(v)),
                RegisterOp::Cas { from, to, maybe } => RegisterOp::Cas {
                    from: normal(from),
                    to: normal(to),
                    maybe,
                },
                RegisterOp::CasFailed { from } => RegisterOp::CasFailed { from: normal(from) },
            })
        }))
    }

    fn step(&self, state: &Scalar, op: &KvOp) -> Option<Scalar> {
        match op {
            KvOp::Register(r) => step_register(state, r),
            KvOp::Append(s) => match state {
                Scalar::Str(cur) => {
                    let mut joined = String::with_capacity(cur.len() + s.len());
                    joined.push_str(cur);
                    joined.push_str(s);
                    Some(Scalar::Str(joined.into()))
                }
                // Appending to a number or a list is not something this store does.
                _ => None,
            },
        }
    }

    /// Appends only lengthen the value and gets only look, so until a put (or a CAS,
    /// counted as a reset to its new value) resets it, the value is always a prefix of
    /// what any later get returns or CAS expects. A failed CAS observes "not equal", which growth can
    /// undo, so it turns the lookahead off for its key.
    fn growth(&self, op: &KvOp) -> Growth {
        match op {
            KvOp::Append(_) => Growth::Grows,
            KvOp::Register(RegisterOp::Read(_)) => Growth::Observes,
            KvOp::Register(RegisterOp::Cas { maybe: false, .. }) => Growth::Replaces,
            KvOp::Register(RegisterOp::Write(_) | RegisterOp::Cas { maybe: true, .. }) => {
                Growth::Resets
            }
            KvOp::Register(RegisterOp::CasFailed { .. }) => Growth::Other,
        }
    }

    fn reset_state(&self, op: &KvOp) -> Option<Scalar> {
        match op {
            KvOp::Register(RegisterOp::Write(v) | RegisterOp::Cas { to: v, .. }) => Some(v.clone()),
            _ => None,
        }
    }

    fn reachable(&self, state: &Scalar, observer: &KvOp) -> bool {
        match (state, observer) {
            (Scalar::Str(now), KvOp::Register(RegisterOp::Read(Scalar::Str(later))))
            | (
                Scalar::Str(now),
                KvOp::Register(RegisterOp::Cas {
                    from: Scalar::Str(later),
                    maybe: false,
                    ..
                }),
            ) => later.starts_with(&**now),
            _ => true,
        }
    }

    fn describe_state(&self, state: &Scalar) -> String {
        state.to_string()
    }

    fn state_bytes(&self, state: &Scalar) -> usize {
        std::mem::size_of::<Scalar>() + state.heap_bytes()
    }
}
