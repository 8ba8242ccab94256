//! Transactional isolation (`checker::txn`): Elle-style dependency cycles and the
//! anomalies outside cycles, on `txn` operations. Two checks, one per datatype:
//! `list-append` (exact for serializability) and `rw-register` (what the weaker
//! inference can see; the report says where orders could not be inferred). Both add
//! process and real-time order, so the report rules models out up to strict
//! serializability; the time bound is the check timeout.

use super::{CheckContext, CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::txn::{self, ReadKind, TxnOptions, Txns};

pub struct Txn {
    kind: CheckKind,
}

pub const LIST_APPEND: Txn = Txn {
    kind: CheckKind::ListAppend,
};
pub const RW_REGISTER: Txn = Txn {
    kind: CheckKind::RwRegister,
};

impl Checker for Txn {
    fn kind(&self) -> CheckKind {
        self.kind
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let h = input.history;
        if !h.ops.iter().any(|o| o.f == txn::TXN_F) {
            anyhow::bail!(
                "the history has no `txn` operations (docs/history.md, \"Transactions\")"
            );
        }
        let kind = read_kind(self.kind);
        let txns = txn::Txns::parse(h, kind).map_err(|e| crate::error::bad_input(e.to_string()))?;
        Ok(check_txns(kind, &txns, input.context))
    }
}

/// How a transactional check reads its micro-operations.
pub fn read_kind(check: CheckKind) -> ReadKind {
    match check {
        CheckKind::RwRegister => ReadKind::Register,
        _ => ReadKind::List,
    }
}

/// Checks transactions already parsed: from a history, or read from a file straight
/// into this form (`faultline check` on a file too big to hold as a history).
pub fn check_txns(kind: ReadKind, txns: &Txns, context: &CheckContext) -> Found {
    let options = TxnOptions {
        time_limit: context.check_timeout,
        ..TxnOptions::default()
    };
    let report = txn::check_txns(txns, kind, &options);
    Found {
        verdict: report.verdict,
        summary: report.summary(),
        report: CheckReport::Txn(Box::new(report)),
    }
}
