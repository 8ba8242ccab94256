//! The built-in models by name, for the command line and for callers that choose a
//! model at run time.

use super::{
    cas_register::CasRegister, fifo_queue::FifoQueue, kv::Kv, multi_register::MultiRegister,
    mutex::Mutex, register::REGISTER, set::Set, unordered_queue::UnorderedQueue, ModelError,
};
use crate::history::History;
use crate::linearizability::{check, Options, Report};
use serde::{Deserialize, Serialize};

/// What a `fail`ed compare-and-set means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CasFailMeaning {
    /// Read from the failure's `error`, per operation (the default): with no error
    /// (porcupine's logs, Jepsen's etcd CAS) or one that says the comparison failed
    /// (see [`is_comparison_failure`]), the CAS compared and failed; with any other
    /// error (`no-leader`, `unavailable`, ...) it was refused before it reached the
    /// object and had no effect. This is exact for faultline's own histories, whose
    /// clients report a mismatch as `cas-mismatch`, and for porcupine's.
    #[default]
    FromError,
    /// Every failed CAS took place and its comparison failed: the register did not hold
    /// the expected value at that moment (porcupine's etcd model).
    ComparisonFailed,
    /// Every failed CAS had no effect and says nothing about the register (Jepsen,
    /// Knossos).
    NoEffect,
}

/// The `error`s of a failed CAS that mean "the comparison ran and did not match":
/// faultline's KV protocol and clients (`cas-mismatch`) and the common spellings of
/// other tools.
pub const COMPARISON_FAILURE_ERRORS: &[&str] = &[
    "cas-mismatch",
    "mismatch",
    "cas-failed",
    "compare-failed",
    "precondition-failed",
];

/// Whether a failed CAS with this `error` compared and failed (see
/// [`CasFailMeaning::FromError`]). No error at all counts as a comparison failure: a
/// definite failure with no reason is what porcupine and Jepsen record for a mismatch.
pub fn is_comparison_failure(error: Option<&str>) -> bool {
    match error {
        None => true,
        Some(e) => COMPARISON_FAILURE_ERRORS.contains(&e.trim_start_matches(':')),
    }
}

impl CasFailMeaning {
    /// Whether a failed CAS with this `error` compared and failed, under this reading.
    pub fn compared(self, error: Option<&str>) -> bool {
        match self {
            CasFailMeaning::FromError => is_comparison_failure(error),
            CasFailMeaning::ComparisonFailed => true,
            CasFailMeaning::NoEffect => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinModel {
    Register,
    CasRegister(CasFailMeaning),
    Kv(CasFailMeaning),
    MultiRegister,
    Set,
    FifoQueue,
    UnorderedQueue,
    Mutex,
}

impl BuiltinModel {
    pub const NAMES: &'static [&'static str] = &[
        "register",
        "cas-register",
        "kv",
        "multi-register",
        "set",
        "fifo-queue",
        "unordered-queue",
        "mutex",
    ];

    pub fn from_name(name: &str, fail_means: CasFailMeaning) -> Option<BuiltinModel> {
        Some(match name {
            "register" => BuiltinModel::Register,
            "cas-register" => BuiltinModel::CasRegister(fail_means),
            "kv" => BuiltinModel::Kv(fail_means),
            "multi-register" => BuiltinModel::MultiRegister,
            "set" => BuiltinModel::Set,
            "fifo-queue" => BuiltinModel::FifoQueue,
            "unordered-queue" => BuiltinModel::UnorderedQueue,
            "mutex" => BuiltinModel::Mutex,
            _ => return None,
        })
    }

    /// A model for a history whose `f`s name the data type: register functions (with
    /// `cas` if any) unless kv, set, queue, lock or transaction functions appear.
    pub fn guess(history: &History, fail_means: CasFailMeaning) -> BuiltinModel {
        let has = |names: &[&str]| history.ops.iter().any(|op| names.contains(&op.f.as_str()));
        if has(&["txn"]) {
            BuiltinModel::MultiRegister
        } else if has(&["get", "put", "append"]) {
            BuiltinModel::Kv(fail_means)
        } else if has(&["add"]) {
            BuiltinModel::Set
        } else if has(&["enqueue", "dequeue"]) {
            BuiltinModel::FifoQueue
        } else if has(&["acquire", "release"]) {
            BuiltinModel::Mutex
        } else if has(&["cas"]) {
            BuiltinModel::CasRegister(fail_means)
        } else {
            BuiltinModel::Register
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            BuiltinModel::Register => "register",
            BuiltinModel::CasRegister(_) => "cas-register",
            BuiltinModel::Kv(_) => "kv",
            BuiltinModel::MultiRegister => "multi-register",
            BuiltinModel::Set => "set",
            BuiltinModel::FifoQueue => "fifo-queue",
            BuiltinModel::UnorderedQueue => "unordered-queue",
            BuiltinModel::Mutex => "mutex",
        }
    }

    /// Checks `history` for linearizability with this model.
    pub fn check(&self, history: &History, options: &Options) -> Result<Report, ModelError> {
        match *self {
            BuiltinModel::Register => check(history, &REGISTER, options),
            BuiltinModel::CasRegister(fail_means) => check(
                history,
                &CasRegister {
                    fail_means,
                    allow_cas: true,
                },
                options,
            ),
            BuiltinModel::Kv(fail_means) => check(history, &Kv { fail_means }, options),
            BuiltinModel::MultiRegister => check(history, &MultiRegister, options),
            BuiltinModel::Set => check(history, &Set, options),
            BuiltinModel::FifoQueue => check(history, &FifoQueue, options),
            BuiltinModel::UnorderedQueue => check(history, &UnorderedQueue, options),
            BuiltinModel::Mutex => check(history, &Mutex, options),
        }
    }
}
