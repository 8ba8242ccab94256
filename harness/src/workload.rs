//! What a workload is to the harness: which checks judge it, which apply to it at all,
//! and what kind of client it needs. The operations themselves come from
//! `workloads::generator`; this file is the harness's side of the contract.

use crate::adapter::ClientProtocol;
use crate::check::CheckKind;
pub use workloads::generator::Workload;

/// The checks each workload gets unless `--check` says otherwise: every checker that
/// applies to it, in the order they run. `sequential` follows `linearizable`, which
/// usually decides it for free (a linearizable history is sequentially consistent).
pub fn default_checks(workload: Workload) -> &'static [CheckKind] {
    use CheckKind::*;
    match workload {
        // Registers' reads do not say which writes they saw, so session guarantees
        // need the per-key versions only some systems report: asked for, not a
        // default, so a system without versions does not get an `unknown` run.
        Workload::Register | Workload::CasRegister => &[Linearizable, Sequential, Eventual],
        // No linearizability model for lists: session and eventual are exact here.
        Workload::Append => &[Session, Eventual],
        Workload::Set => &[Linearizable, Sequential, Eventual],
        Workload::Counter => &[Counter, Eventual],
        Workload::Bank => &[Bank],
        Workload::UniqueIds => &[UniqueIds],
    }
}

/// Whether a check can judge a history of this workload at all.
pub fn check_applies(check: CheckKind, workload: Workload) -> bool {
    use Workload::*;
    match check {
        CheckKind::Linearizable | CheckKind::Sequential => {
            matches!(workload, Register | CasRegister | Set)
        }
        // Registers: judged from per-key versions, `unknown` (with the reason) without.
        CheckKind::Session => matches!(workload, Append | Register | CasRegister),
        CheckKind::Eventual => matches!(workload, Register | CasRegister | Append | Set | Counter),
        CheckKind::Bank => workload == Bank,
        CheckKind::Counter => workload == Counter,
        CheckKind::UniqueIds => workload == UniqueIds,
    }
}

/// The client protocol a workload needs, when only one can serve it: a bank transfer
/// moves money between two accounts atomically, which the KV protocol cannot express.
pub fn required_protocol(workload: Workload) -> Option<ClientProtocol> {
    (workload == Workload::Bank).then_some(ClientProtocol::Bank)
}

/// Whether the workload's operations are register operations (read, write, cas).
pub fn is_register(workload: Workload) -> bool {
    matches!(workload, Workload::Register | Workload::CasRegister)
}
