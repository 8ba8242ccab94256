//! A built-in model with the choices a caller makes about it: the state its object
//! starts in (Jepsen's register tests often start at 0, not nil) and what a read of
//! nil means (Knossos: nothing). Histories written by other tools need both.
//!
//! The choices wrap the model ([`Configured`]) instead of living in each model, so
//! the models stay the single-object specifications they are and every search
//! reduction they offer carries over unchanged.

use super::cas_register::CasRegister;
use super::catalog::{BuiltinModel, NilRead, UseModel};
use super::multi_register::MultiRegister;
use super::register::REGISTER;
use super::{Growth, Model, ModelError, Scalar};
use crate::history::{History, Operation, Outcome};
use crate::linearizability::{check, Options, Report};
use serde_json::Value;

/// Which operations a nil read hides in: a register's `read`, or the `r`
/// micro-operations of a multi-register `txn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadShape {
    Register,
    Txn,
}

/// `inner` starting from `initial` (its own initial state when `None`), with reads of
/// nil read as [`NilRead`] says.
#[derive(Debug, Clone)]
pub struct Configured<M: Model> {
    pub inner: M,
    pub initial: Option<M::State>,
    pub nil_read: NilRead,
    shape: ReadShape,
}

/// What a nil read leaves of an operation under [`NilRead::Unknown`].
enum Stripped {
    Unchanged,
    Nothing,
    Rewritten(Box<Operation>),
}

impl<M: Model> Configured<M> {
    /// For the operation `op`: itself, nothing (a read of nil), or a transaction
    /// without its reads of nil.
    fn strip_nil_reads(&self, op: &Operation) -> Stripped {
        if self.nil_read == NilRead::Value || op.outcome != Outcome::Ok {
            return Stripped::Unchanged;
        }
        match self.shape {
            ReadShape::Register => {
                let read = super::cas_register::READS.contains(&op.f.as_str());
                if read && op.output.is_null() {
                    Stripped::Nothing
                } else {
                    Stripped::Unchanged
                }
            }
            ReadShape::Txn => {
                let Value::Array(micros) = &op.output else {
                    return Stripped::Unchanged;
                };
                let nil_read = |m: &Value| {
                    m.as_array().is_some_and(|p| {
                        p.len() == 3
                            && matches!(p[0].as_str(), Some("r" | "read"))
                            && p[2].is_null()
                    })
                };
                if !micros.iter().any(nil_read) {
                    return Stripped::Unchanged;
                }
                let mut rewritten = op.clone();
                rewritten.output =
                    Value::Array(micros.iter().filter(|m| !nil_read(m)).cloned().collect());
                Stripped::Rewritten(Box::new(rewritten))
            }
        }
    }
}

impl<M: Model> Model for Configured<M> {
    type State = M::State;
    type Op = M::Op;

    fn name(&self) -> String {
        let mut notes = Vec::new();
        if let Some(initial) = &self.initial {
            notes.push(format!("initial {}", self.inner.describe_state(initial)));
        }
        if self.nil_read == NilRead::Unknown {
            notes.push("nil read = unknown".to_string());
        }
        let name = self.inner.name();
        if notes.is_empty() {
            return name;
        }
        // Join with the inner model's own note, if it has one: `cas-register (fail =
        // no effect, initial 0)`.
        match name.strip_suffix(')') {
            Some(open) => format!("{open}, {})", notes.join(", ")),
            None => format!("{name} ({})", notes.join(", ")),
        }
    }

    fn init(&self) -> M::State {
        self.initial.clone().unwrap_or_else(|| self.inner.init())
    }

    fn prepare(&self, op: &Operation) -> Result<Option<M::Op>, ModelError> {
        match self.strip_nil_reads(op) {
            Stripped::Unchanged => self.inner.prepare(op),
            Stripped::Nothing => Ok(None),
            Stripped::Rewritten(op) => self.inner.prepare(&op),
        }
    }

    fn step(&self, state: &M::State, op: &M::Op) -> Option<M::State> {
        self.inner.step(state, op)
    }

    fn successors(&self, state: &M::State, op: &M::Op, out: &mut Vec<M::State>) {
        self.inner.successors(state, op, out)
    }

    fn growth(&self, op: &M::Op) -> Growth {
        self.inner.growth(op)
    }

    fn reachable(&self, state: &M::State, observer: &M::Op) -> bool {
        self.inner.reachable(state, observer)
    }

    fn reset_state(&self, op: &M::Op) -> Option<M::State> {
        self.inner.reset_state(op)
    }

    fn required_state(&self, observer: &M::Op) -> Option<M::State> {
        self.inner.required_state(observer)
    }

    fn excluded_state(&self, observer: &M::Op) -> Option<M::State> {
        self.inner.excluded_state(observer)
    }

    fn canonicalize(&self, ops: &mut [M::Op], open: &[bool]) -> Option<Vec<u32>> {
        self.inner.canonicalize(ops, open)
    }

    fn changes_only_from(&self, op: &M::Op) -> Option<M::State> {
        self.inner.changes_only_from(op)
    }

    fn describe_state(&self, state: &M::State) -> String {
        self.inner.describe_state(state)
    }

    fn state_bytes(&self, state: &M::State) -> usize {
        self.inner.state_bytes(state)
    }
}

/// An initial value that does not fit the model it was given for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InitialValueError {
    #[error("the {model} model has no initial-value option (register, cas-register and multi-register have)")]
    NotSupported { model: &'static str },
    #[error("a multi-register's initial value must be a JSON object of key -> value ({{\"x\": 0}}) or a list of [key, value] pairs, found {found}")]
    NotAMap { found: String },
}

/// The initial state chosen for a model.
#[derive(Debug, Clone, PartialEq)]
enum Initial {
    Register(Scalar),
    /// Sorted by key, nil values left out (the multi-register's state).
    Registers(Vec<(Scalar, Scalar)>),
}

/// A built-in model and the choices made about it; see the module documentation.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfiguredModel {
    model: BuiltinModel,
    nil_read: NilRead,
    initial: Option<Initial>,
}

/// A JSON object key as the key a history writes: `"1"` is the integer key 1 (JSON
/// object keys are strings; Jepsen's multi-register keys are usually integers).
fn key_scalar(key: &str) -> Scalar {
    key.parse::<i64>()
        .map_or_else(|_| Scalar::Str(key.into()), Scalar::Int)
}

impl ConfiguredModel {
    /// The model as it is: its own initial state, nil reads read as values.
    pub fn new(model: BuiltinModel) -> Self {
        ConfiguredModel {
            model,
            nil_read: NilRead::Value,
            initial: None,
        }
    }

    pub fn model(&self) -> BuiltinModel {
        self.model
    }

    /// What a read of nil means; matters to register, cas-register and multi-register.
    pub fn with_nil_read(mut self, nil_read: NilRead) -> Self {
        self.nil_read = nil_read;
        self
    }

    /// Starts the object from `value`: the register's value for register and
    /// cas-register; for multi-register, a JSON object of key -> value (integer-looking
    /// keys name integer keys) or a list of `[key, value]` pairs.
    pub fn with_initial(mut self, value: &Value) -> Result<Self, InitialValueError> {
        self.initial = Some(match self.model {
            BuiltinModel::Register | BuiltinModel::CasRegister(_) => {
                Initial::Register(Scalar::from_json(value))
            }
            BuiltinModel::MultiRegister => Initial::Registers(registers(value)?),
            other => {
                return Err(InitialValueError::NotSupported {
                    model: other.name(),
                })
            }
        });
        Ok(self)
    }

    /// Checks `history` for linearizability with this model.
    pub fn check(&self, history: &History, options: &Options) -> Result<Report, ModelError> {
        struct Linearizability<'a>(&'a History, &'a Options);
        impl UseModel for Linearizability<'_> {
            type Output = Result<Report, ModelError>;
            fn with<M: Model>(self, model: &M) -> Self::Output {
                check(self.0, model, self.1)
            }
        }
        self.use_model(Linearizability(history, options))
    }

    /// Hands the configured model to `user` (see [`BuiltinModel::use_model`]).
    pub fn use_model<U: UseModel>(&self, user: U) -> U::Output {
        let plain = self.initial.is_none() && self.nil_read == NilRead::Value;
        let register = |inner: CasRegister| Configured {
            inner,
            initial: match &self.initial {
                Some(Initial::Register(v)) => Some(v.clone()),
                _ => None,
            },
            nil_read: self.nil_read,
            shape: ReadShape::Register,
        };
        match self.model {
            _ if plain => self.model.use_model(user),
            BuiltinModel::Register => user.with(&register(REGISTER)),
            BuiltinModel::CasRegister(fail_means) => user.with(&register(CasRegister {
                fail_means,
                allow_cas: true,
            })),
            BuiltinModel::MultiRegister => user.with(&Configured {
                inner: MultiRegister,
                initial: match &self.initial {
                    Some(Initial::Registers(r)) => Some(r.clone()),
                    _ => None,
                },
                nil_read: self.nil_read,
                shape: ReadShape::Txn,
            }),
            // Nil reads mean nothing special to the other models.
            _ => self.model.use_model(user),
        }
    }
}

/// A multi-register's initial state from a JSON object or a list of pairs.
fn registers(value: &Value) -> Result<Vec<(Scalar, Scalar)>, InitialValueError> {
    let not_a_map = || InitialValueError::NotAMap {
        found: crate::history::describe_json(value),
    };
    let mut regs: Vec<(Scalar, Scalar)> = match value {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| (key_scalar(k), Scalar::from_json(v)))
            .collect(),
        Value::Array(pairs) => pairs
            .iter()
            .map(|p| match p.as_array().map(Vec::as_slice) {
                Some([k, v]) => Ok((Scalar::from_json(k), Scalar::from_json(v))),
                _ => Err(not_a_map()),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(not_a_map()),
    };
    regs.retain(|(_, v)| !v.is_nil());
    regs.sort();
    regs.dedup_by(|a, b| a.0 == b.0);
    Ok(regs)
}
