//! The bank invariant: every whole-bank read sums to the total the workload set up
//! (its accounts times their initial balance), with no negative balance.

use super::{CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::invariants::bank;
use workloads::generator::{BANK_ACCOUNTS, BANK_INITIAL_BALANCE};

pub struct Bank;

impl Checker for Bank {
    fn kind(&self) -> CheckKind {
        CheckKind::Bank
    }

    fn check(&self, input: &CheckInput) -> Result<Found, String> {
        let mut options = bank::BankOptions::new(BANK_ACCOUNTS as i64 * BANK_INITIAL_BALANCE);
        options.accounts = Some((0..BANK_ACCOUNTS).map(|a| a.to_string()).collect());
        let r = bank::check(input.history, &options).map_err(|e| e.to_string())?;
        let seen = match (r.min_total, r.max_total) {
            (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
            (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
            _ => "none".to_string(),
        };
        let summary = format!(
            "{} reads: {} wrong totals (expected {}, seen {seen}), {} negative balances, {} wrong account sets",
            r.reads_checked, r.wrong_totals, options.initial_total, r.negative_balances, r.wrong_accounts
        );
        Ok(super::invariant(
            r.verdict,
            r.reads_checked,
            "no whole-bank read completed",
            summary,
            CheckReport::Bank(Box::new(r)),
        ))
    }
}
