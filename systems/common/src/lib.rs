//! What the reference systems under test (raft-kv, dynamo-kv, pb-kv, cl-bank) have in
//! common, so that a fix to the protocol or the command line lands in all of them.
//!
//! Each system stays its own binary with its own configuration; only what is the same
//! to the letter lives here:
//! - [`peers`]: the `--peers id=ip:port,...` list and where this node stands in it.
//! - [`logging`]: one JSON object per line on stderr.
//! - [`kv_http`]: the faultline KV protocol's error answers (`docs/protocol.md`), body
//!   parsing that names what is wrong, and forwarding a request to another node with
//!   its answer passed back verbatim.
//! - [`node`]: the shape of a node's `main`: parse, run, print the error and exit 1.

pub mod kv_http;
pub mod logging;
pub mod node;
pub mod peers;
