//! Sequential specifications that histories are checked against.
//!
//! A [`Model`] is the single-object sequential behaviour of a data type: an initial
//! state and a step function. It knows nothing about concurrency, keys or time; the
//! checkers supply those. Keyed workloads are split into independent per-key objects
//! before a model sees them (P-compositionality), so every model here describes one
//! object: one register, one key of a key-value store, one queue.
//!
//! To check your own data type, implement [`Model`] (see `mutex.rs` for a short
//! example) and call [`crate::linearizability::check`].

pub mod cas_register;
pub mod catalog;
pub mod configured;
pub mod fifo_queue;
pub mod kv;
pub mod multi_register;
pub mod mutex;
pub mod register;
pub mod set;
pub mod unordered_queue;
pub mod value;

pub use catalog::{
    is_comparison_failure, BuiltinModel, CasFailMeaning, NilRead, Readings, UseModel,
    COMPARISON_FAILURE_ERRORS,
};
pub use configured::{ConfiguredModel, InitialValueError};
pub use value::Scalar;

use crate::history::Operation;
use std::fmt::Debug;
use std::hash::Hash;

/// Why a history's operation does not fit a model: the wrong `f`, a malformed value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operation {op} (event index {index}, f={f:?}): {message}")]
pub struct ModelError {
    /// [`Operation::id`].
    pub op: usize,
    /// [`Operation::invoke_index`]: where the operation starts in the source history.
    pub index: u64,
    pub f: String,
    pub message: String,
}

impl ModelError {
    pub fn new(op: &Operation, message: impl Into<String>) -> ModelError {
        ModelError {
            op: op.id,
            index: op.invoke_index,
            f: op.f.clone(),
            message: message.into(),
        }
    }
}

/// How an operation moves a state in a model's growth order (see [`Model::growth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Leaves the state equal or larger (an append, an add).
    Grows,
    /// Leaves the state unchanged and requires something of it (a read). The search
    /// relies on this: an observation that can happen is placed at once, without
    /// exploring later placements. So an `Observes` operation's successors must be
    /// exactly the state it was applied to, or none.
    Observes,
    /// Replaces the state whatever it was (a put, a write).
    Resets,
    /// Requires something of the state, then replaces it (a successful CAS): both an
    /// observation and a reset to the search's lookahead, but never placed eagerly.
    Replaces,
    /// Anything else (a put that may shrink the value), or a model without an order.
    Other,
}

/// The sequential specification of one object.
///
/// The checker calls [`Model::prepare`] once per operation, then [`Model::step`]
/// (through [`Model::successors`]) many times during its search, so `prepare` is the
/// place for parsing and validation and `step` should be cheap.
pub trait Model: Sync {
    /// The object's state. Searches memoize on it, so it must hash and compare by
    /// value, and it should be cheap to clone. It owns its data (`'static`), so a
    /// finished search's tables can be freed on another thread.
    type State: Clone + Eq + Hash + Debug + Send + Sync + 'static;
    /// An operation as the model understands it, outcome included (a failed CAS and a
    /// successful one are different operations to a model). Owned (`'static`) for
    /// the same reason as the state.
    type Op: Clone + Debug + Send + Sync + 'static;

    /// The name users select the model by (`--model`).
    fn name(&self) -> String;

    fn init(&self) -> Self::State;

    /// Translates a history operation. `Ok(None)` means the operation can neither
    /// change the state nor constrain it, so it is left out of the check altogether:
    /// a `fail`ed write, or a read whose result is unknown.
    ///
    /// `info` operations (outcome unknown) must be translated so that stepping them
    /// describes what they *might* have done if they took effect; the checker itself
    /// handles "it may never have happened", because an operation open to the end of
    /// the history can always be placed last.
    fn prepare(&self, op: &Operation) -> Result<Option<Self::Op>, ModelError>;

    /// The state after `op` in `state`, or `None` if `op` cannot happen in `state`
    /// (a read that returned something else, a CAS whose comparison would fail).
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// All states `op` may lead to from `state`, for operations with more than one
    /// possible effect (an indeterminate dequeue from an unordered queue). The default
    /// is the single outcome of [`Model::step`].
    fn successors(&self, state: &Self::State, op: &Self::Op, out: &mut Vec<Self::State>) {
        out.extend(self.step(state, op));
    }

    /// For models whose states only grow under some of their operations (appends to
    /// a string, adds to a set): says how `op` relates to that growth. When every
    /// operation of a partition is [`Growth::Grows`], [`Growth::Observes`] or
    /// [`Growth::Resets`], the search knows a state can never shrink except by a
    /// reset, and prunes any configuration from which a later observation has become
    /// unreachable, by growth or by any reset that could still come before it (see
    /// [`Model::reachable`]). The default, [`Growth::Other`], turns this off.
    fn growth(&self, _op: &Self::Op) -> Growth {
        Growth::Other
    }

    /// For a [`Growth::Observes`] or [`Growth::Replaces`] operation: whether a state that may only grow from
    /// `state` on could still be one in which `observer` happens. Must never answer
    /// false when it could (that would make the check unsound), and must stay false
    /// for every state grown from one it is false for.
    fn reachable(&self, _state: &Self::State, _observer: &Self::Op) -> bool {
        true
    }

    /// For a [`Growth::Resets`] or [`Growth::Replaces`] operation: the state it leaves, whatever the state
    /// before (for one that may also leave the state unchanged, like an indeterminate
    /// CAS, the state it leaves when it does something). `None` means "any state".
    fn reset_state(&self, _op: &Self::Op) -> Option<Self::State> {
        None
    }

    /// For an observing operation that needs exactly one state (a read, a CAS):
    /// that state. Lets the search find the resets that could help by lookup instead
    /// of by scanning. The search then asks [`Model::reachable`] once for all the
    /// observers needing one state (it can depend on nothing else: whether a state
    /// can grow into that one).
    fn required_state(&self, _observer: &Self::Op) -> Option<Self::State> {
        None
    }

    /// For an observing operation legal in every state but one (a CAS whose
    /// comparison failed): that state. Lets the sequential check derive where it
    /// cannot go, and the linearizability search ask [`Model::reachable`] once for
    /// all the observers excluding one state.
    fn excluded_state(&self, _observer: &Self::Op) -> Option<Self::State> {
        None
    }

    /// Exact rewrites of one partition's operations before its search, and which of
    /// them are interchangeable. A model may replace operations by others that lead
    /// every state to states that behave the same under every later operation (a
    /// bisimulation, so no verdict changes), and returns for each operation a class:
    /// operations of one class must be identical (equal after the rewrite). The search
    /// tries only one of several identical operations open to the end of the history
    /// at each point (swapping two of them turns any linearization into another).
    /// `open[i]` says whether `ops[i]` is open to the end. `None`: no rewrite, and every
    /// operation its own class.
    fn canonicalize(&self, _ops: &mut [Self::Op], _open: &[bool]) -> Option<Vec<u32>> {
        None
    }

    /// A state such that `op`, applied to any other state, either cannot happen or
    /// leaves the state as it was (a CAS: its expected value), if there is one. Lets
    /// the search offer a crashed operation only when it could change something.
    /// `None` (the default): `op` may change any state.
    fn changes_only_from(&self, _op: &Self::Op) -> Option<Self::State> {
        None
    }

    /// How a state reads in a counterexample.
    fn describe_state(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// Approximate memory one state holds (inline and on the heap), for memory budgets.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        std::mem::size_of::<Self::State>()
    }
}
