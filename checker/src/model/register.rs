//! A single read/write register.
//!
//! `f` names: `read` or `final-read` (the value returned is the completion's value)
//! and `write` (the value written is the invocation's value). The register starts out
//! nil. A `cas` here is an input error: use `cas-register`.
//!
//! It is the CAS register with `cas` refused, so both share one implementation (and
//! every exact reduction the search has for registers). For a short example of a
//! model of your own, see `mutex.rs`.

use super::cas_register::CasRegister;
use super::CasFailMeaning;

/// The plain read/write register model.
pub const REGISTER: CasRegister = CasRegister {
    fail_means: CasFailMeaning::NoEffect,
    allow_cas: false,
};
