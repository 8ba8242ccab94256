//! The bank invariant: transfers move money between accounts and never create or
//! destroy it, so every read of all balances sums to the initial total; where the
//! system refuses overdrafts, no balance is ever negative.
//!
//! History shape: `f: "transfer"` with `value: {"from", "to", "amount"}` (not
//! needed by the check), and `f: "read"` (or `final-read`) completing with
//! `{"account": balance, ...}`, balances integers.

use crate::consistency::{is_read, Examples, OpRef, ShapeError, DEFAULT_MAX_EXAMPLES};
use crate::history::{History, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankOptions {
    /// The sum of all balances before the test, which transfers must preserve.
    pub initial_total: i64,
    /// Whether the system refuses transfers that would overdraw an account.
    pub negative_balances_allowed: bool,
    /// The accounts every read must list; `None` accepts whatever each read lists.
    pub accounts: Option<Vec<String>>,
    pub max_examples: usize,
}

impl BankOptions {
    pub fn new(initial_total: i64) -> Self {
        BankOptions {
            initial_total,
            negative_balances_allowed: false,
            accounts: None,
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum BankViolation {
    /// The balances of one read do not sum to the initial total.
    WrongTotal {
        read: OpRef,
        process: u64,
        expected: i64,
        observed: i64,
        balances: Value,
    },
    /// A balance below zero where overdrafts are refused.
    NegativeBalance {
        read: OpRef,
        process: u64,
        account: String,
        balance: i64,
    },
    /// A read that does not list exactly the expected accounts.
    WrongAccounts {
        read: OpRef,
        process: u64,
        missing: Vec<String>,
        unexpected: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankReport {
    pub verdict: Verdict,
    pub reads_checked: u64,
    pub wrong_totals: u64,
    pub negative_balances: u64,
    pub wrong_accounts: u64,
    /// The smallest and largest totals read (equal in a correct system).
    pub min_total: Option<i64>,
    pub max_total: Option<i64>,
    pub violations: Examples<BankViolation>,
}

pub fn check(history: &History, opts: &BankOptions) -> Result<BankReport, ShapeError> {
    let limit = opts.max_examples;
    let mut r = BankReport {
        verdict: Verdict::Valid,
        reads_checked: 0,
        wrong_totals: 0,
        negative_balances: 0,
        wrong_accounts: 0,
        min_total: None,
        max_total: None,
        violations: Examples::new(),
    };
    for op in history
        .ops
        .iter()
        .filter(|o| is_read(o) && o.outcome == Outcome::Ok)
    {
        let Some(balances) = op.output.as_object() else {
            return Err(ShapeError::at(
                op,
                format!(
                    "a bank read must return an object of balances, found {}",
                    op.output
                ),
            ));
        };
        r.reads_checked += 1;
        let mut total: i128 = 0;
        for (account, b) in balances {
            let Some(b) = b.as_i64() else {
                return Err(ShapeError::at(
                    op,
                    format!("balance of account {account:?} is not an integer: {b}"),
                ));
            };
            total += b as i128;
            if b < 0 && !opts.negative_balances_allowed {
                r.negative_balances += 1;
                r.violations
                    .offer(limit, || BankViolation::NegativeBalance {
                        read: OpRef::of(op),
                        process: op.process,
                        account: account.clone(),
                        balance: b,
                    });
            }
        }
        let total = total.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        r.min_total = Some(r.min_total.map_or(total, |m| m.min(total)));
        r.max_total = Some(r.max_total.map_or(total, |m| m.max(total)));
        if total != opts.initial_total {
            r.wrong_totals += 1;
            r.violations.offer(limit, || BankViolation::WrongTotal {
                read: OpRef::of(op),
                process: op.process,
                expected: opts.initial_total,
                observed: total,
                balances: op.output.clone(),
            });
        }
        if let Some(expected) = &opts.accounts {
            let missing: Vec<String> = expected
                .iter()
                .filter(|a| !balances.contains_key(*a))
                .cloned()
                .collect();
            let unexpected: Vec<String> = balances
                .keys()
                .filter(|a| !expected.contains(a))
                .cloned()
                .collect();
            if !missing.is_empty() || !unexpected.is_empty() {
                r.wrong_accounts += 1;
                r.violations.offer(limit, || BankViolation::WrongAccounts {
                    read: OpRef::of(op),
                    process: op.process,
                    missing,
                    unexpected,
                });
            }
        }
    }
    if r.violations.count > 0 {
        r.verdict = Verdict::Invalid;
    }
    Ok(r)
}
