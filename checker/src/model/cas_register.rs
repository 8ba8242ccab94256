//! A single register with read, write and compare-and-set.
//!
//! `f` names: `read` (or `final-read`, the runner's closing read of every node),
//! `write`, `cas` with value `[from, to]`. The register starts out nil. A `fail`ed
//! CAS is read, by default, from its `error` ([`CasFailMeaning::FromError`]): with no
//! error or `cas-mismatch`, the CAS took place and its comparison failed, so the
//! register did *not* hold `from` at that moment (porcupine's etcd model); with any
//! other error (`no-leader`) it never reached the register and had no effect (Jepsen
//! and Knossos read every failure this way). [`CasFailMeaning::ComparisonFailed`] and
//! [`CasFailMeaning::NoEffect`] force one reading.

use super::{CasFailMeaning, Growth, Model, ModelError, Scalar};
use crate::history::{Operation, Outcome};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp {
    /// A read that returned this value.
    Read(Scalar),
    /// A write that took effect or may have.
    Write(Scalar),
    /// A CAS that succeeded (or, if indeterminate, may have: see `maybe`).
    Cas {
        from: Scalar,
        to: Scalar,
        maybe: bool,
    },
    /// A CAS whose comparison failed: the register did not hold `from`.
    CasFailed { from: Scalar },
}

#[derive(Debug, Clone, Copy)]
pub struct CasRegister {
    pub fail_means: CasFailMeaning,
    /// Whether `cas` operations are accepted (false for the plain `register` model).
    pub allow_cas: bool,
}

impl Default for CasRegister {
    fn default() -> Self {
        CasRegister {
            fail_means: CasFailMeaning::FromError,
            allow_cas: true,
        }
    }
}

/// The `f`s the register models read as reads: `read`, and the runner's final reads
/// of every node ([`crate::consistency::FINAL_READ_F`]), which are reads like any
/// other to a linearizability check.
pub(crate) const READS: &[&str] = &["read", crate::consistency::FINAL_READ_F];

/// Reads a `[from, to]` pair, as Jepsen writes CAS arguments.
pub(crate) fn cas_pair(op: &Operation) -> Result<(Scalar, Scalar), ModelError> {
    match &op.input {
        Value::Array(a) if a.len() == 2 => Ok((Scalar::from_json(&a[0]), Scalar::from_json(&a[1]))),
        other => Err(ModelError::new(
            op,
            format!("cas value must be a list [from, to], found {other}"),
        )),
    }
}

/// The read/write/cas translation shared by the register-like models. `read_names`
/// and `write_names` list the `f`s accepted for reads and writes.
pub(crate) fn prepare_register_op(
    op: &Operation,
    fail_means: CasFailMeaning,
    allow_cas: bool,
    read_names: &[&str],
    write_names: &[&str],
) -> Result<Option<RegisterOp>, ModelError> {
    let f = op.f.as_str();
    if read_names.contains(&f) {
        // A read has no effect, so one whose result is unknown constrains nothing.
        return Ok(match op.outcome {
            Outcome::Ok => Some(RegisterOp::Read(Scalar::from_json(&op.output))),
            Outcome::Fail | Outcome::Info => None,
        });
    }
    if write_names.contains(&f) {
        return Ok(match op.outcome {
            Outcome::Ok | Outcome::Info => Some(RegisterOp::Write(Scalar::from_json(&op.input))),
            Outcome::Fail => None,
        });
    }
    if f == "cas" && allow_cas {
        let (from, to) = cas_pair(op)?;
        return Ok(match op.outcome {
            Outcome::Ok => Some(RegisterOp::Cas {
                from,
                to,
                maybe: false,
            }),
            Outcome::Info => Some(RegisterOp::Cas {
                from,
                to,
                maybe: true,
            }),
            Outcome::Fail if fail_means.compared(op.error.as_deref()) => {
                Some(RegisterOp::CasFailed { from })
            }
            Outcome::Fail => None,
        });
    }
    let mut accepted: Vec<&str> = read_names.iter().chain(write_names).copied().collect();
    if allow_cas {
        accepted.push("cas");
    }
    Err(ModelError::new(
        op,
        format!(
            "unknown function for this model; expected one of {}",
            accepted.join(", ")
        ),
    ))
}

/// How register operations move the state, for the search's lookahead.
///
/// A register never grows, so a read of `v` can only happen where the register holds
/// `v`: if it does not now, some write or CAS of `v` must still come first. A
/// successful CAS needs `from` and leaves `to`; one of unknown outcome may leave `to`;
/// a failed CAS observes that the register does not hold `from`.
pub(crate) fn register_growth(op: &RegisterOp) -> Growth {
    match op {
        RegisterOp::Read(_) | RegisterOp::CasFailed { .. } => Growth::Observes,
        RegisterOp::Cas { maybe: false, .. } => Growth::Replaces,
        RegisterOp::Write(_) | RegisterOp::Cas { maybe: true, .. } => Growth::Resets,
    }
}

pub(crate) fn register_reachable(state: &Scalar, observer: &RegisterOp) -> bool {
    match observer {
        RegisterOp::Read(v)
        | RegisterOp::Cas {
            from: v,
            maybe: false,
            ..
        } => state == v,
        RegisterOp::CasFailed { from } => state != from,
        _ => true,
    }
}

pub(crate) fn register_reset_state(op: &RegisterOp) -> Option<Scalar> {
    match op {
        RegisterOp::Write(v) | RegisterOp::Cas { to: v, .. } => Some(v.clone()),
        _ => None,
    }
}

pub(crate) fn register_required_state(op: &RegisterOp) -> Option<Scalar> {
    match op {
        RegisterOp::Read(v)
        | RegisterOp::Cas {
            from: v,
            maybe: false,
            ..
        } => Some(v.clone()),
        _ => None,
    }
}

/// The register models' [`Model::canonicalize`]: the value of a crashed write (or of
/// a crashed CAS's `to`) that no operation reads or expects (as a CAS's `from`,
/// failed or not) becomes [`Scalar::Unread`]. Two such values are alike in every
/// step: no read, no successful CAS accepts them, every failed CAS's comparison fails
/// on them, an indeterminate CAS leaves them, a write replaces them. So the rewrite is
/// exact, and the crashed writes that never took effect (thousands in a long history
/// with crashes) become identical operations, one class, tried once at each point
/// instead of each in turn. Classes: equal operations.
pub(crate) fn canonicalize_register(ops: &mut [RegisterOp], open: &[bool]) -> Option<Vec<u32>> {
    // Fx hashing: a million operations are hashed here twice, and SipHash made this
    // pass a fifth of a second of a check's setup.
    use rustc_hash::{FxHashMap, FxHashSet};
    let mut observed: FxHashSet<Scalar> = FxHashSet::default();
    for op in ops.iter() {
        match op {
            RegisterOp::Read(v)
            | RegisterOp::Cas { from: v, .. }
            | RegisterOp::CasFailed { from: v } => {
                observed.insert(v.clone());
            }
            RegisterOp::Write(_) => {}
        }
    }
    for (op, &open) in ops.iter_mut().zip(open) {
        if !open {
            continue;
        }
        match op {
            RegisterOp::Write(v) | RegisterOp::Cas { to: v, .. } if !observed.contains(v) => {
                *v = Scalar::Unread;
            }
            _ => {}
        }
    }
    let mut classes: FxHashMap<&RegisterOp, u32> = FxHashMap::default();
    Some(
        ops.iter()
            .map(|op| {
                let next = classes.len() as u32;
                *classes.entry(op).or_insert(next)
            })
            .collect(),
    )
}

/// A CAS changes the register only from its expected value; reads and failed CASes
/// never change it (they are never open, but the answer holds for them too).
pub(crate) fn register_changes_only_from(op: &RegisterOp) -> Option<Scalar> {
    match op {
        RegisterOp::Cas { from, .. } => Some(from.clone()),
        RegisterOp::Read(v) => Some(v.clone()),
        RegisterOp::CasFailed { from: _ } | RegisterOp::Write(_) => None,
    }
}

/// One register step, shared by the register-like models.
pub(crate) fn step_register(state: &Scalar, op: &RegisterOp) -> Option<Scalar> {
    match op {
        RegisterOp::Read(v) => (state == v).then(|| state.clone()),
        RegisterOp::Write(v) => Some(v.clone()),
        RegisterOp::Cas { from, to, maybe } => {
            if state == from {
                Some(to.clone())
            } else if *maybe {
                // An indeterminate CAS that found another value did nothing, but
                // taking place was still possible.
                Some(state.clone())
            } else {
                None
            }
        }
        RegisterOp::CasFailed { from } => (state != from).then(|| state.clone()),
    }
}

impl Model for CasRegister {
    type State = Scalar;
    type Op = RegisterOp;

    fn name(&self) -> String {
        match (self.allow_cas, self.fail_means) {
            (false, _) => "register".into(),
            (true, CasFailMeaning::FromError) => "cas-register".into(),
            (true, CasFailMeaning::ComparisonFailed) => "cas-register (fail = compared)".into(),
            (true, CasFailMeaning::NoEffect) => "cas-register (fail = no effect)".into(),
        }
    }

    fn init(&self) -> Scalar {
        Scalar::Nil
    }

    fn prepare(&self, op: &Operation) -> Result<Option<RegisterOp>, ModelError> {
        prepare_register_op(op, self.fail_means, self.allow_cas, READS, &["write"])
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

    fn excluded_state(&self, observer: &RegisterOp) -> Option<Scalar> {
        match observer {
            RegisterOp::CasFailed { from } => Some(from.clone()),
            _ => None,
        }
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
