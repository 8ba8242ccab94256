//! The bank invariant: transfers move money between accounts and never create or
//! destroy it, so every read of all balances sums to the initial total; where the
//! system refuses overdrafts, no balance is ever negative.
//!
//! History shape, faultline's and Jepsen's alike: `f: "transfer"` with `value:
//! {"from", "to", "amount"}` (Jepsen: `{:from 0, :to 1, :amount 5}`; not needed by the
//! check), and `f: "read"` (or `final-read`) completing with a map of account to
//! balance (`{"0": 10, ...}`; Jepsen's `{0 10, 1 20}` reads the same way, its integer
//! accounts becoming the keys `"0"`, `"1"`), balances integers.
//!
//! The expected total and the accounts come from the options, or else from the first
//! complete (`ok`) read: a Jepsen history does not say what the test set up (Jepsen's
//! own bank tests use totals of 100 or 30 over 3 to 10 accounts). The report says
//! which source it used ([`Source`]).

use crate::consistency::{is_read, Examples, OpRef, ShapeError, DEFAULT_MAX_EXAMPLES};
use crate::history::{History, Operation, Outcome};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The total every read must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BankTotal {
    /// Known from the test's setup.
    Given(i64),
    /// Whatever the first complete read sums to.
    FromFirstRead,
}

/// `1000`, or `the first read's`.
impl fmt::Display for BankTotal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BankTotal::Given(total) => write!(f, "{total}"),
            BankTotal::FromFirstRead => f.write_str("the first read's"),
        }
    }
}

/// Where the expected total or the expected accounts came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The options.
    Given,
    /// The first complete read: the history event of its invocation.
    FirstRead { invoke_index: u64 },
    /// Nothing: no option, and no read completed.
    Nowhere,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Given => f.write_str("given"),
            Source::FirstRead { invoke_index } => {
                write!(f, "from the first read (history event {invoke_index})")
            }
            Source::Nowhere => f.write_str("unknown (no read completed)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankOptions {
    /// The sum of all balances before the test, which transfers must preserve.
    pub initial_total: BankTotal,
    /// Whether the system refuses transfers that would overdraw an account.
    pub negative_balances_allowed: bool,
    /// The accounts every read must list; `None`: those of the first complete read.
    pub accounts: Option<Vec<String>>,
    pub max_examples: usize,
}

impl BankOptions {
    /// A known total; accounts from the first read unless set.
    pub fn new(initial_total: i64) -> Self {
        BankOptions {
            initial_total: BankTotal::Given(initial_total),
            ..BankOptions::from_first_read()
        }
    }

    /// Total and accounts both taken from the first complete read, for histories
    /// that do not say how the test was set up.
    pub fn from_first_read() -> Self {
        BankOptions {
            initial_total: BankTotal::FromFirstRead,
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
    /// The total every read was held to, and where it came from.
    pub expected_total: Option<i64>,
    pub total_source: Source,
    /// The accounts every read was held to, and where they came from.
    pub expected_accounts: Option<Vec<String>>,
    pub accounts_source: Source,
    /// The smallest and largest totals read (equal in a correct system).
    pub min_total: Option<i64>,
    pub max_total: Option<i64>,
    pub violations: Examples<BankViolation>,
}

/// The balances of a complete read, checked to be integers.
fn balances(op: &Operation) -> Result<Vec<(&String, i64)>, ShapeError> {
    let Some(balances) = op.output.as_object() else {
        return Err(ShapeError::at(
            op,
            format!(
                "a bank read must return a map of account to balance, found {}",
                op.output
            ),
        ));
    };
    balances
        .iter()
        .map(|(account, b)| match b.as_i64() {
            Some(b) => Ok((account, b)),
            None => Err(ShapeError::at(
                op,
                format!("balance of account {account:?} is not an integer: {b}"),
            )),
        })
        .collect()
}

/// What every read is held to, and where each part came from.
struct Expected {
    total: Option<i64>,
    total_source: Source,
    accounts: Option<Vec<String>>,
    accounts_source: Source,
}

/// The expected total and accounts, from the options or the first complete read.
fn expectations(reads: &[&Operation], opts: &BankOptions) -> Result<Expected, ShapeError> {
    let first = reads.first();
    let source = first.map_or(Source::Nowhere, |op| Source::FirstRead {
        invoke_index: op.invoke_index,
    });
    let (total, total_source) = match opts.initial_total {
        BankTotal::Given(t) => (Some(t), Source::Given),
        BankTotal::FromFirstRead => match first {
            Some(op) => (Some(sum(&balances(op)?)), source),
            None => (None, Source::Nowhere),
        },
    };
    let (accounts, accounts_source) = match (&opts.accounts, first) {
        (Some(a), _) => (Some(a.clone()), Source::Given),
        (None, Some(op)) => (
            op.output.as_object().map(|m| m.keys().cloned().collect()),
            source,
        ),
        (None, None) => (None, Source::Nowhere),
    };
    Ok(Expected {
        total,
        total_source,
        accounts,
        accounts_source,
    })
}

fn sum(balances: &[(&String, i64)]) -> i64 {
    let total: i128 = balances.iter().map(|(_, b)| *b as i128).sum();
    total.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

pub fn check(history: &History, opts: &BankOptions) -> Result<BankReport, ShapeError> {
    let limit = opts.max_examples;
    let reads: Vec<&Operation> = history
        .ops
        .iter()
        .filter(|o| is_read(o) && o.outcome == Outcome::Ok)
        .collect();
    let expected = expectations(&reads, opts)?;
    let expected_total = expected.total;
    let mut r = BankReport {
        verdict: Verdict::Valid,
        reads_checked: 0,
        wrong_totals: 0,
        negative_balances: 0,
        wrong_accounts: 0,
        expected_total,
        total_source: expected.total_source,
        expected_accounts: expected.accounts,
        accounts_source: expected.accounts_source,
        min_total: None,
        max_total: None,
        violations: Examples::new(),
    };
    for op in reads {
        let balances = balances(op)?;
        r.reads_checked += 1;
        for &(account, b) in &balances {
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
        let total = sum(&balances);
        r.min_total = Some(r.min_total.map_or(total, |m| m.min(total)));
        r.max_total = Some(r.max_total.map_or(total, |m| m.max(total)));
        if let Some(expected) = expected_total.filter(|&e| e != total) {
            r.wrong_totals += 1;
            r.violations.offer(limit, || BankViolation::WrongTotal {
                read: OpRef::of(op),
                process: op.process,
                expected,
                observed: total,
                balances: op.output.clone(),
            });
        }
        if let Some(expected) = &r.expected_accounts {
            let listed: &Map<String, Value> = op.output.as_object().expect("checked above");
            let missing: Vec<String> = expected
                .iter()
                .filter(|a| !listed.contains_key(*a))
                .cloned()
                .collect();
            let unexpected: Vec<String> = listed
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

impl BankReport {
    /// One line for a person: counts, and what the reads were held to.
    pub fn summary(&self) -> String {
        let seen = match (self.min_total, self.max_total) {
            (Some(lo), Some(hi)) if lo == hi => lo.to_string(),
            (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
            _ => "none".to_string(),
        };
        let expected = self
            .expected_total
            .map_or("nothing".to_string(), |t| t.to_string());
        let accounts = self.expected_accounts.as_ref().map_or(0, Vec::len);
        format!(
            "{} reads: {} wrong totals (expected {expected}, {}; seen {seen}), {} negative balances, \
             {} wrong account sets ({accounts} accounts, {})",
            self.reads_checked,
            self.wrong_totals,
            self.total_source,
            self.negative_balances,
            self.wrong_accounts,
            self.accounts_source
        )
    }
}
