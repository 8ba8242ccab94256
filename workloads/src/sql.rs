//! What the SQL clients of the transactional workloads share (PostgreSQL in
//! [`crate::postgres`], MariaDB Galera in [`crate::galera`]): the isolation levels a
//! test asks for, Jepsen's storage of lists as comma-separated text, and how a
//! transaction's end becomes `ok`, `fail` or `info`.

use crate::client::Target;
use crate::op::{Completion, Op, OpFn};
use crate::txn::{self, Mop};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Tables per model, as in Jepsen's tests (key `k` lives in table `k mod 3`).
pub const TABLES: u64 = 3;

/// The isolation level every transaction asks for: the three both databases offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    #[default]
    Serializable,
    RepeatableRead,
    ReadCommitted,
}

impl Isolation {
    pub const NAMES: &'static [&'static str] =
        &["serializable", "repeatable-read", "read-committed"];

    pub fn name(self) -> &'static str {
        match self {
            Isolation::Serializable => "serializable",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::ReadCommitted => "read-committed",
        }
    }

    /// SQL's name of the level.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::Serializable => "SERIALIZABLE",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::ReadCommitted => "READ COMMITTED",
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "serializable" => Ok(Isolation::Serializable),
            "repeatable-read" => Ok(Isolation::RepeatableRead),
            "read-committed" => Ok(Isolation::ReadCommitted),
            other => Err(format!(
                "unknown isolation level `{other}` (known: {})",
                Isolation::NAMES.join(", ")
            )),
        }
    }
}

/// `host` and `port` of a target's `http://ip:port` address, `default_port` when it
/// names none.
pub fn endpoint(target: &Target, default_port: u16) -> (String, u16) {
    let rest = target
        .url
        .split_once("://")
        .map_or(target.url.as_str(), |(_, r)| r);
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(default_port)),
        None => (rest.to_string(), default_port),
    }
}

/// A transaction's micro-ops, or the `fail` completion that refuses an operation
/// `client` (a database's name) cannot run: not a transaction, or a malformed one.
pub fn txn_mops(op: &Op, client: &str) -> Result<Vec<Mop>, Completion> {
    if op.f != OpFn::Txn {
        return Err(Completion::fail(
            op.value.clone(),
            format!("unsupported: the {client} client runs transactions (txn-append, txn-register), not {}", op.f),
        ));
    }
    txn::from_json(&op.value)
        .map_err(|e| Completion::fail(op.value.clone(), format!("bad-request: {e}")))
}

/// How a transaction went wrong, before the outcome is decided.
pub enum TxnError {
    /// No connection could be opened: nothing was sent.
    Unreached(String),
    /// The server answered with an error: the transaction is rolled back.
    Refused(String),
    /// The connection broke.
    Broken(String),
    /// A read returned something that is not a list or register of integers.
    Garbled(String),
}

/// How a transaction ended: `ok` with its reads; `fail` when it certainly had no
/// effect (refused by the server, which rolled it back; broken before `COMMIT` was
/// sent; never sent; or read-only); `info` when the connection broke while `COMMIT`
/// was in flight.
pub fn outcome(
    op: &Op,
    result: Result<Vec<Mop>, TxnError>,
    in_commit: bool,
    read_only: bool,
) -> Completion {
    match result {
        Ok(mops) => Completion::ok(txn::to_json(&mops)),
        Err(TxnError::Unreached(e)) => Completion::unreached(op.value.clone(), e),
        Err(TxnError::Refused(e)) | Err(TxnError::Garbled(e)) => {
            Completion::fail(op.value.clone(), e)
        }
        Err(TxnError::Broken(e)) if in_commit && !read_only => Completion::info(
            op.value.clone(),
            format!("connection lost during COMMIT: {e}"),
        ),
        Err(TxnError::Broken(e)) => Completion::fail(op.value.clone(), e),
    }
}

/// A list's text (`"1,2,3"`) as its elements; no row or no text is the empty list.
pub fn parse_list(key: u64, text: Option<&str>) -> Result<Vec<i64>, TxnError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(|e| e.trim().parse::<i64>())
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|_| {
            TxnError::Garbled(format!(
                "malformed-response: key {key} holds {text:?}, not a list of integers"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::ReadValue;

    #[test]
    fn isolation_levels_parse_and_name_their_sql() {
        for name in Isolation::NAMES {
            let level: Isolation = name.parse().unwrap();
            assert_eq!(level.name(), *name);
        }
        assert_eq!(Isolation::RepeatableRead.sql(), "REPEATABLE READ");
        let e = "snapshot".parse::<Isolation>().unwrap_err();
        assert!(e.contains("known: serializable"), "{e}");
    }

    #[test]
    fn aborts_fail_and_only_a_commit_in_doubt_of_a_writing_transaction_is_info() {
        use crate::op::Outcome;
        let write = Op::txn(&[Mop::Append { key: 1, value: 2 }]);
        let broken = || Err(TxnError::Broken("connection reset".into()));
        let refused = Err(TxnError::Refused("serialization-failure: 40001".into()));
        let c = outcome(&write, refused, true, false);
        assert_eq!((c.outcome, c.value), (Outcome::Fail, write.value.clone()));
        assert_eq!(
            outcome(&write, broken(), false, false).outcome,
            Outcome::Fail
        );
        let c = outcome(&write, broken(), true, false);
        assert_eq!(c.outcome, Outcome::Info);
        assert!(c.error.unwrap().contains("during COMMIT"));
        assert_eq!(outcome(&write, broken(), true, true).outcome, Outcome::Fail);
        let c = outcome(
            &write,
            Err(TxnError::Unreached("connect".into())),
            false,
            false,
        );
        assert!(c.outcome == Outcome::Fail && c.unreached);
        let read = vec![Mop::Read {
            key: 1,
            value: ReadValue::List(vec![2]),
        }];
        let c = outcome(&write, Ok(read), true, false);
        assert_eq!(c.value.to_string(), r#"[["r",1,[2]]]"#);
    }

    #[test]
    fn lists_are_read_from_comma_separated_text() {
        assert_eq!(parse_list(1, None).ok(), Some(vec![]));
        assert_eq!(parse_list(1, Some("")).ok(), Some(vec![]));
        assert_eq!(parse_list(1, Some("3,1,2")).ok(), Some(vec![3, 1, 2]));
        match parse_list(7, Some("1,x")) {
            Err(TxnError::Garbled(e)) => assert!(e.contains("key 7"), "{e}"),
            _ => panic!("a garbled list must be refused"),
        }
    }

    #[test]
    fn endpoints_come_from_the_targets_address() {
        let t = |url: &str| Target {
            id: "n1".into(),
            url: url.into(),
        };
        assert_eq!(
            endpoint(&t("http://10.1.2.3:5432"), 5432),
            ("10.1.2.3".into(), 5432)
        );
        assert_eq!(endpoint(&t("10.1.2.3"), 3306), ("10.1.2.3".into(), 3306));
    }
}
