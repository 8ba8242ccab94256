//! How the KV client maps what a node did onto ok / fail / info, against a fake node.

use serde_json::{json, Value};
use std::time::Duration;
use workloads::client::{Client, KvClient};
use workloads::fake_node::{self as support, Mode};
use workloads::op::{Op, Outcome};

fn client(url: &str) -> KvClient {
    KvClient::new(url, Duration::from_millis(300)).unwrap()
}

#[tokio::test]
async fn successes_are_ok_and_reads_return_the_value() {
    let (url, _fake) = support::start().await;
    let c = client(&url);
    let r = c.invoke(&Op::read(1)).await;
    assert_eq!(
        (r.outcome, r.value.clone(), r.error),
        (Outcome::Ok, Value::Null, None)
    );
    assert_eq!(c.invoke(&Op::write(1, 5)).await.outcome, Outcome::Ok);
    assert_eq!(c.invoke(&Op::read(1)).await.value, json!(5));
    let cas = c.invoke(&Op::cas(1, json!(5), 6)).await;
    assert_eq!((cas.outcome, cas.value), (Outcome::Ok, json!([5, 6])));
    assert_eq!(c.invoke(&Op::append(2, 7)).await.outcome, Outcome::Ok);
    assert_eq!(c.invoke(&Op::append(2, 8)).await.outcome, Outcome::Ok);
    assert_eq!(c.invoke(&Op::final_read(2)).await.value, json!([7, 8]));
}

#[tokio::test]
async fn cas_mismatch_409_is_a_definite_fail() {
    let (url, _fake) = support::start().await;
    let c = client(&url);
    c.invoke(&Op::write(1, 1)).await;
    let r = c.invoke(&Op::cas(1, json!(2), 3)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Fail, Some("cas-mismatch"))
    );
    assert_eq!(r.value, json!([2, 3]));
}

#[tokio::test]
async fn definite_503_is_fail_and_indefinite_500_is_info() {
    let (url, fake) = support::start().await;
    let c = client(&url);
    fake.set_mode(Mode::Error {
        status: 503,
        code: "no-leader",
        definite: true,
    });
    let r = c.invoke(&Op::write(1, 1)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Fail, Some("no-leader"))
    );
    fake.set_mode(Mode::Error {
        status: 500,
        code: "unavailable",
        definite: false,
    });
    let r = c.invoke(&Op::write(1, 2)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Info, Some("unavailable"))
    );
    // A body that is not the protocol's error shape says nothing definite.
    fake.set_mode(Mode::Garbage { status: 503 });
    let r = c.invoke(&Op::cas(1, json!(1), 2)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Info, Some("http-503"))
    );
    // Reads change nothing, so an indeterminate read is a fail.
    fake.set_mode(Mode::Error {
        status: 500,
        code: "unavailable",
        definite: false,
    });
    assert_eq!(c.invoke(&Op::read(1)).await.outcome, Outcome::Fail);
}

#[tokio::test]
async fn a_timeout_is_info_for_writes_and_fail_for_reads() {
    let (url, fake) = support::start().await;
    let c = client(&url);
    fake.set_mode(Mode::Slow(Duration::from_secs(2)));
    let r = c.invoke(&Op::write(1, 1)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Info, Some("timeout"))
    );
    let r = c.invoke(&Op::append(1, 1)).await;
    assert_eq!(r.outcome, Outcome::Info);
    let r = c.invoke(&Op::read(1)).await;
    assert_eq!(
        (r.outcome, r.error.as_deref()),
        (Outcome::Fail, Some("timeout"))
    );
}

#[tokio::test]
async fn connection_refused_is_fail_because_nothing_was_sent() {
    // A port that was just free and has no listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = client(&format!("http://127.0.0.1:{port}"));
    let r = c.invoke(&Op::write(1, 1)).await;
    assert_eq!(r.outcome, Outcome::Fail, "{r:?}");
    assert!(r.error.as_deref().unwrap().starts_with("connect"), "{r:?}");
    assert!(r.unreached, "never reached the node: {r:?}");
}

#[tokio::test]
async fn a_reset_after_the_request_was_sent_is_info() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            // Take the whole request in, then hang up without a word.
            let mut buf = vec![0u8; 4096];
            let _ = socket.read(&mut buf).await;
            drop(socket);
        }
    });
    let c = client(&format!("http://{addr}"));
    let r = c.invoke(&Op::write(1, 1)).await;
    assert_eq!(r.outcome, Outcome::Info, "{r:?}");
    assert!(
        r.error.as_deref().unwrap().starts_with("connection"),
        "{r:?}"
    );
}
