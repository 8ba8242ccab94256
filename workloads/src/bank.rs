//! The client for bank systems (cl-bank, `docs/systems.md`): `transfer` is
//! `POST /transfer {"from", "to", "amount"}`, a whole-bank read is `POST /snapshot`
//! (on cl-bank a Chandy-Lamport global snapshot).
//!
//! The KV protocol cannot express the bank workload: a transfer changes two keys,
//! and nothing in the protocol makes that atomic, so a bank built on it would test
//! the client, not the system. The harness therefore runs the bank workload only
//! against systems that speak this.
//!
//! A snapshot records every account's balance at its node's cut and the credits
//! still travelling on the channels; the read this client records is the bank at the
//! cut: each account's recorded balance **plus the credits in flight to it**. In a
//! consistent snapshot these sum to the bank's total; a snapshot that misses money in
//! flight (cl-bank `--bug naive-snapshot`) comes out short, and the bank checker
//! shows the read, the expected and the observed total.

use crate::client::{
    error_name, indeterminate, transport_error, BoxFuture, Client, ClientFactory, Target,
};
use crate::op::{Completion, Kind, Op};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone)]
pub struct BankClientFactory {
    http: reqwest::Client,
}

impl BankClientFactory {
    pub fn new(timeout: Duration) -> anyhow::Result<BankClientFactory> {
        Ok(BankClientFactory {
            http: crate::client::http_client(timeout)?,
        })
    }
}

impl ClientFactory for BankClientFactory {
    fn open(&self, target: &Target) -> anyhow::Result<Arc<dyn Client>> {
        Ok(Arc::new(BankClient {
            http: self.http.clone(),
            base: target.url.trim_end_matches('/').to_string(),
        }))
    }
}

pub struct BankClient {
    http: reqwest::Client,
    base: String,
}

/// The bank at a snapshot's cut: balances plus credits in flight to each account.
/// `None` when the answer is not a snapshot.
pub fn bank_at_cut(snapshot: &Value) -> Option<Value> {
    let mut accounts: BTreeMap<u64, i64> = BTreeMap::new();
    for (account, balance) in snapshot.get("balances")?.as_object()? {
        accounts.insert(account.parse().ok()?, balance.as_i64()?);
    }
    if let Some(channels) = snapshot.get("channels").and_then(Value::as_object) {
        for credits in channels.values() {
            for credit in credits.as_array()? {
                let account = credit.get("account")?.as_u64()?;
                let amount = credit.get("amount")?.as_i64()?;
                let slot = accounts.entry(account).or_insert(0);
                *slot = slot.checked_add(amount)?;
            }
        }
    }
    let map: Map<String, Value> = accounts
        .into_iter()
        .map(|(a, b)| (a.to_string(), Value::from(b)))
        .collect();
    Some(Value::Object(map))
}

impl BankClient {
    async fn perform(&self, op: &Op) -> Completion {
        let request = match op.kind {
            Kind::Transfer => self
                .http
                .post(format!("{}/transfer", self.base))
                .json(&op.value),
            Kind::BankRead => self.http.post(format!("{}/snapshot", self.base)),
            _ => {
                return Completion::fail(
                    op.value.clone(),
                    format!(
                        "bad-request: a bank system has no `{}` operation",
                        op.history_f()
                    ),
                )
            }
        };
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return transport_error(op, &e),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return indeterminate(op, error_name("body", &e)),
        };
        let parsed: Option<Value> = serde_json::from_slice(&body).ok();
        if status == reqwest::StatusCode::OK {
            if op.kind == Kind::Transfer {
                return Completion::ok(op.value.clone());
            }
            return match parsed.as_ref().and_then(bank_at_cut) {
                Some(v) => Completion::ok(v),
                None => indeterminate(
                    op,
                    "malformed-response: a 200 snapshot without {\"balances\": ...}".into(),
                ),
            };
        }
        let error = parsed.and_then(|v| {
            let code = v.get("error")?.as_str()?.to_string();
            Some((
                code,
                v.get("definite").and_then(Value::as_bool).unwrap_or(false),
            ))
        });
        match error {
            Some((code, true)) => Completion::fail(op.value.clone(), code),
            Some((code, false)) => indeterminate(op, code),
            None => indeterminate(op, format!("http-{}", status.as_u16())),
        }
    }
}

impl Client for BankClient {
    fn invoke<'a>(&'a self, op: &'a Op) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn credits_in_flight_count_for_the_account_they_travel_to() {
        let snap = json!({"balances": {"0": 90, "1": 100, "2": 95},
            "channels": {"n1->n2": [{"account": 1, "amount": 10, "transfer": "t1"}], "n2->n1": [],
                         "n3->n1": [{"account": 0, "amount": 5, "transfer": "t2"}]},
            "in_flight": 15, "total": 300});
        assert_eq!(
            bank_at_cut(&snap),
            Some(json!({"0": 95, "1": 110, "2": 95}))
        );
        assert_eq!(bank_at_cut(&json!({"total": 3})), None);
        assert_eq!(bank_at_cut(&json!({"balances": {"x": 1}})), None);
    }
}
