//! The built-in models by name, for the command line and for callers that choose a
//! model at run time.

use super::{
    cas_register::CasRegister, fifo_queue::FifoQueue, kv::Kv, multi_register::MultiRegister,
    mutex::Mutex, register::REGISTER, set::Set, unordered_queue::UnorderedQueue, Model, ModelError,
};
use crate::history::History;
use crate::linearizability::{Options, Report};
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

impl CasFailMeaning {
    pub const NAMES: &'static [&'static str] = &["from-error", "compared", "no-effect"];

    /// The name on the command line: `from-error`, `compared`, `no-effect`.
    pub fn name(self) -> &'static str {
        match self {
            CasFailMeaning::FromError => "from-error",
            CasFailMeaning::ComparisonFailed => "compared",
            CasFailMeaning::NoEffect => "no-effect",
        }
    }

    /// Reads a name; `comparison-failed` is accepted for `compared`.
    pub fn from_name(name: &str) -> Option<CasFailMeaning> {
        match name {
            "from-error" => Some(CasFailMeaning::FromError),
            "compared" | "comparison-failed" => Some(CasFailMeaning::ComparisonFailed),
            "no-effect" => Some(CasFailMeaning::NoEffect),
            _ => None,
        }
    }
}

/// What an `ok` read that returned nil means to the register models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NilRead {
    /// The register held nil (faultline: the key was never written, or was deleted).
    #[default]
    Value,
    /// The value read is unknown, so the read constrains nothing (Knossos: its
    /// register models accept a nil read in any state, and Jepsen writes one where a
    /// client could not tell what it read).
    Unknown,
}

impl NilRead {
    pub const NAMES: &'static [&'static str] = &["value", "unknown"];

    /// The name on the command line: `value`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            NilRead::Value => "value",
            NilRead::Unknown => "unknown",
        }
    }

    pub fn from_name(name: &str) -> Option<NilRead> {
        match name {
            "value" => Some(NilRead::Value),
            "unknown" => Some(NilRead::Unknown),
            _ => None,
        }
    }
}

/// How the operations whose meaning differs between tools are read: a failed CAS and
/// a read of nil. Each history format has its own ([`crate::import::Format::readings`]);
/// a caller's explicit choice overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Readings {
    pub cas_fail: CasFailMeaning,
    pub nil_read: NilRead,
}

impl Readings {
    /// These readings with the caller's choices, where it made one.
    pub fn overridden(self, cas_fail: Option<CasFailMeaning>, nil_read: Option<NilRead>) -> Self {
        Readings {
            cas_fail: cas_fail.unwrap_or(self.cas_fail),
            nil_read: nil_read.unwrap_or(self.nil_read),
        }
    }
}

/// `cas-fail=no-effect nil-read=unknown`, for a verdict line.
impl std::fmt::Display for Readings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cas-fail={} nil-read={}",
            self.cas_fail.name(),
            self.nil_read.name()
        )
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
        super::ConfiguredModel::new(*self).check(history, options)
    }

    /// Hands the model itself to `user`: the built-in models have different state
    /// types, so code that runs any of them is generic over the model, and this is the
    /// one place that maps a name to its type.
    pub fn use_model<U: UseModel>(&self, user: U) -> U::Output {
        match *self {
            BuiltinModel::Register => user.with(&REGISTER),
            BuiltinModel::CasRegister(fail_means) => user.with(&CasRegister {
                fail_means,
                allow_cas: true,
            }),
            BuiltinModel::Kv(fail_means) => user.with(&Kv { fail_means }),
            BuiltinModel::MultiRegister => user.with(&MultiRegister),
            BuiltinModel::Set => user.with(&Set),
            BuiltinModel::FifoQueue => user.with(&FifoQueue),
            BuiltinModel::UnorderedQueue => user.with(&UnorderedQueue),
            BuiltinModel::Mutex => user.with(&Mutex),
        }
    }
}

/// Code generic over the model, run on a built-in one by [`BuiltinModel::use_model`].
pub trait UseModel {
    type Output;
    fn with<M: Model>(self, model: &M) -> Self::Output;
}
