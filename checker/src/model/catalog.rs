//! The built-in models by name, for the command line and for callers that choose a
//! model at run time.

use super::{
    cas_register::CasRegister, fifo_queue::FifoQueue, kv::Kv, multi_register::MultiRegister,
    mutex::Mutex, register::Register, set::Set, unordered_queue::UnorderedQueue, ModelError,
};
use crate::history::History;
use crate::linearizability::{check, Options, Report};
use serde::{Deserialize, Serialize};

/// What a `fail`ed compare-and-set means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CasFailMeaning {
    /// The CAS took place and its comparison failed: the register did not hold the
    /// expected value at that moment (porcupine's etcd model). The default.
    #[default]
    ComparisonFailed,
    /// The CAS had no effect and says nothing about the register (Jepsen, Knossos).
    NoEffect,
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
            BuiltinModel::Register => check(history, &Register, options),
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
