//! The bank invariant: every whole-bank read sums to the bank's total, with no
//! negative balance and exactly the bank's accounts. `faultline test` knows the bank
//! its workload set up ([`generated_bank`]); a stored history checked with flags gets
//! `--bank-total` and `--bank-accounts`, or else the first complete read's.

use super::{CheckContext, CheckInput, CheckKind, CheckReport, Checker, Found};
use checker::consistency::invariants::bank::{self, BankOptions, BankTotal};
use workloads::generator::{BANK_ACCOUNTS, BANK_INITIAL_BALANCE};

pub struct Bank;

/// The bank the bank workload sets up: its accounts, each with the initial balance.
pub fn generated_bank() -> BankOptions {
    let mut options = BankOptions::new(BANK_ACCOUNTS as i64 * BANK_INITIAL_BALANCE);
    options.accounts = Some((0..BANK_ACCOUNTS).map(|a| a.to_string()).collect());
    options
}

impl Checker for Bank {
    fn kind(&self) -> CheckKind {
        CheckKind::Bank
    }

    fn check(&self, input: &CheckInput) -> anyhow::Result<Found> {
        let options = input
            .context
            .bank
            .clone()
            .unwrap_or_else(BankOptions::from_first_read);
        let r = bank::check(input.history, &options).map_err(anyhow::Error::new)?;
        Ok(super::invariant(
            r.verdict,
            r.reads_checked,
            "no whole-bank read completed",
            r.summary(),
            CheckReport::Bank(Box::new(r)),
        ))
    }

    /// The total and accounts the check was given, so the replay holds the reads to
    /// the same bank instead of the first read's.
    fn replay_flags(&self, context: &CheckContext) -> String {
        let Some(options) = &context.bank else {
            return String::new();
        };
        let mut flags = String::new();
        if let BankTotal::Given(total) = options.initial_total {
            flags.push_str(&format!(" --bank-total {total}"));
        }
        if let Some(accounts) = &options.accounts {
            flags.push_str(&format!(" --bank-accounts {}", accounts.join(",")));
        }
        flags
    }
}
