//! Transactional isolation (`checker::txn`): Elle-style dependency cycles and the
//! anomalies outside cycles, on `txn` operations. Two checks, one per datatype:
//! `list-append` (exact for serializability) and `rw-register` (what the weaker
//! inference can see; the report says where orders could not be inferred). Both add
//! process and real-time order, so the report rules models out up to strict
//! serializability; the time bound is the check timeout.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::txn::{self, TxnOptions};

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
        let options = TxnOptions {
            time_limit: input.context.check_timeout,
            ..TxnOptions::default()
        };
        let report = match self.kind {
            CheckKind::RwRegister => txn::check_rw_register(h, &options),
            _ => txn::check_list_append(h, &options),
        }
        .map_err(|e| crate::error::bad_input(e.to_string()))?;
        Ok(Found {
            verdict: report.verdict,
            summary: report.summary(),
            report: CheckReport::Txn(Box::new(report)),
        })
    }
}
