//! The faultline KV protocol over HTTP (`docs/protocol.md`), as every reference system
//! answers it: errors as `{"error", "definite", "detail"}`, request bodies parsed into
//! the named fields or a `400` saying what is missing, and a request forwarded once to
//! the node that can serve it, with that node's answer passed back verbatim.
//!
//! The `definite` flag is the part that must never drift between systems: `true`
//! promises the client that the operation did not take effect, so it is only set where
//! that is certain (see [`RelayFailure::definite`]).

// Parsing helpers return the finished error `Response`: it is built once per bad
// request, and boxing it would only add noise to every handler.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// An error answer: `status` with `{"error": code, "definite": definite, "detail": ...}`.
pub fn error(
    status: StatusCode,
    code: &str,
    definite: bool,
    detail: impl Into<String>,
) -> Response {
    (
        status,
        Json(json!({"error": code, "definite": definite, "detail": detail.into()})),
    )
        .into_response()
}

/// `400 bad-request`, definite: a request that could not be understood changed nothing.
pub fn bad_request(detail: impl Into<String>) -> Response {
    error(StatusCode::BAD_REQUEST, "bad-request", true, detail)
}

/// A request body that must be a JSON object.
pub fn json_object(body: &[u8]) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(bad_request(format!(
            "body must be a JSON object, found {other}"
        ))),
        Err(e) => Err(bad_request(format!("body is not JSON: {e}"))),
    }
}

/// The named fields of a JSON object body, in the order named, or a `400` naming the
/// first one missing.
pub fn body_fields<const N: usize>(body: &[u8], names: [&str; N]) -> Result<[Value; N], Response> {
    let mut o = json_object(body)?;
    let mut out = [const { Value::Null }; N];
    for (slot, name) in out.iter_mut().zip(names) {
        *slot = required(&mut o, name)?;
    }
    Ok(out)
}

/// Takes a required field out of a parsed body, or a `400` naming it.
pub fn required(o: &mut Map<String, Value>, name: &str) -> Result<Value, Response> {
    o.remove(name)
        .ok_or_else(|| bad_request(format!("body lacks \"{name}\"")))
}

/// Percent-encodes a key as one path segment (keys are arbitrary strings; a `/` in one
/// must not become a path separator when the request is forwarded).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One KV-protocol operation, as a node re-sends it to another node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KvCall<'a> {
    Read {
        key: &'a str,
    },
    Put {
        key: &'a str,
        value: &'a Value,
    },
    Cas {
        key: &'a str,
        from: &'a Value,
        to: &'a Value,
    },
    Append {
        key: &'a str,
        value: &'a Value,
    },
}

/// An HTTP request to re-send: method, path (with the key encoded) and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Resend {
    pub method: Method,
    pub path: String,
    pub body: Option<Value>,
}

impl KvCall<'_> {
    /// The request that performs this operation on another node.
    pub fn resend(&self) -> Resend {
        let (method, path, body) = match *self {
            KvCall::Read { key } => (Method::GET, format!("/kv/{}", encode_segment(key)), None),
            KvCall::Put { key, value } => (
                Method::PUT,
                format!("/kv/{}", encode_segment(key)),
                Some(json!({"value": value})),
            ),
            KvCall::Cas { key, from, to } => (
                Method::POST,
                format!("/kv/{}/cas", encode_segment(key)),
                Some(json!({"from": from, "to": to})),
            ),
            KvCall::Append { key, value } => (
                Method::POST,
                format!("/kv/{}/append", encode_segment(key)),
                Some(json!({"value": value})),
            ),
        };
        Resend { method, path, body }
    }
}

/// Why a forwarded request brought back no answer to pass on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayFailure {
    /// The connection was never made: the request was not sent, so it certainly did
    /// not take effect.
    Unreachable,
    /// Sent, but no answer in time (or the connection broke): it may take effect.
    NoAnswer,
    /// The answer's head came but its body was cut off: it may have taken effect.
    CutOff,
}

impl RelayFailure {
    /// Whether the client may be promised that the operation did not take effect.
    pub fn definite(self) -> bool {
        self == RelayFailure::Unreachable
    }

    /// The error answer: `503 <unreachable_code>` (definite) when `who` could not be
    /// reached, otherwise `504 timeout` (indeterminate). Systems differ in what they
    /// call an unreachable target (`no-leader`, `unavailable`), so they name it.
    pub fn response(self, unreachable_code: &str, who: &str) -> Response {
        match self {
            RelayFailure::Unreachable => error(
                StatusCode::SERVICE_UNAVAILABLE,
                unreachable_code,
                true,
                format!("cannot reach {who}"),
            ),
            RelayFailure::NoAnswer => error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                false,
                format!("no answer from {who}"),
            ),
            RelayFailure::CutOff => error(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                false,
                format!("the answer of {who} was cut off"),
            ),
        }
    }
}

/// Passes another node's answer back verbatim (status and JSON body), or says why
/// there is none.
pub async fn relay(sent: reqwest::Result<reqwest::Response>) -> Result<Response, RelayFailure> {
    let resp = match sent {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Err(RelayFailure::Unreachable),
        Err(_) => return Err(RelayFailure::NoAnswer),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    match resp.bytes().await {
        Ok(b) => Ok((status, [("content-type", "application/json")], b).into_response()),
        Err(_) => Err(RelayFailure::CutOff),
    }
}

/// Sends `req` to the node at `addr` (`ip:port`), marked with the header
/// `forwarded_header: from` so the receiver never forwards it again, and relays the
/// answer. `timeout` bounds the whole exchange.
pub async fn forward(
    http: &reqwest::Client,
    addr: &str,
    req: Resend,
    (forwarded_header, from): (&str, &str),
    timeout: Duration,
) -> Result<Response, RelayFailure> {
    let mut r = http
        .request(req.method, format!("http://{addr}{}", req.path))
        .header(forwarded_header, from)
        .timeout(timeout);
    if let Some(b) = req.body {
        r = r.json(&b);
    }
    relay(r.send().await).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;

    async fn body_of(r: Response) -> (StatusCode, Value) {
        let status = r.status();
        let b = to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&b).unwrap())
    }

    #[tokio::test]
    async fn missing_fields_and_bad_bodies_are_named_in_a_definite_400() {
        let [from, to] = body_fields(br#"{"from": 1, "to": [2]}"#, ["from", "to"]).unwrap();
        assert_eq!((from, to), (json!(1), json!([2])));
        for (body, says) in [
            (&br#"{"from": 1}"#[..], "body lacks \"to\""),
            (b"[1]", "must be a JSON object"),
            (b"{", "body is not JSON"),
        ] {
            let (status, v) = body_of(body_fields(body, ["from", "to"]).unwrap_err()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(
                (&v["error"], &v["definite"]),
                (&json!("bad-request"), &json!(true))
            );
            assert!(v["detail"].as_str().unwrap().contains(says), "{v}");
        }
    }

    #[test]
    fn keys_are_encoded_as_one_path_segment() {
        assert_eq!(encode_segment("a/b c~1"), "a%2Fb%20c~1");
        let v = json!(5);
        let r = KvCall::Cas {
            key: "k/1",
            from: &v,
            to: &v,
        }
        .resend();
        assert_eq!((r.method, r.path.as_str()), (Method::POST, "/kv/k%2F1/cas"));
        assert_eq!(r.body, Some(json!({"from": 5, "to": 5})));
        assert_eq!(KvCall::Read { key: "x" }.resend().body, None);
    }

    #[tokio::test]
    async fn only_an_unreachable_target_gives_a_definite_answer() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap().to_string();
        drop(closed);
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let call = KvCall::Read { key: "1" }.resend();
        let f = forward(&http, &addr, call, ("x-fwd", "n1"), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert_eq!(f, RelayFailure::Unreachable);
        assert!(f.definite() && !RelayFailure::NoAnswer.definite());
        let (status, v) = body_of(f.response("no-leader", "n2")).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            v,
            json!({"error": "no-leader", "definite": true, "detail": "cannot reach n2"})
        );
        let (status, v) = body_of(RelayFailure::NoAnswer.response("no-leader", "n2")).await;
        assert_eq!(
            (status, &v["definite"]),
            (StatusCode::GATEWAY_TIMEOUT, &json!(false))
        );
    }

    #[tokio::test]
    async fn an_answer_is_passed_back_with_its_status() {
        let app = axum::Router::new().fallback(|headers: axum::http::HeaderMap| async move {
            let from = headers["x-fwd"].to_str().unwrap().to_string();
            (
                StatusCode::CONFLICT,
                Json(json!({"error": "cas-mismatch", "from": from})),
            )
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let v = json!(1);
        let call = KvCall::Put {
            key: "1",
            value: &v,
        }
        .resend();
        let r = forward(&http, &addr, call, ("x-fwd", "n1"), Duration::from_secs(5))
            .await
            .unwrap();
        let (status, v) = body_of(r).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(v, json!({"error": "cas-mismatch", "from": "n1"}));
    }
}
