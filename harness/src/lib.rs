//! The harness: what the `faultline` binary is built from, layer by layer, each
//! reachable from integration tests. Dependencies point down this list only:
//!
//! - [`cli`]: the only layer that prints or chooses exit codes (test, check, synth,
//!   clean). Nothing imports it but `main.rs`.
//! - [`campaign`]: a comparison plan's runs, resumable, and the consistency matrix.
//! - [`run`]: the phases of a test, its outcome, progress, interrupts.
//! - [`results`]: typed run results, the results folder, and the renderers.
//! - [`config`]: raw flags and a test file resolved into one typed configuration.
//! - [`check`]: the checks a test runs on its history, behind one trait.
//! - [`backend`]: where nodes run (today: local network namespaces).
//! - [`relay`]: the Maelstrom relay, a node-side program that uses no other layer.
//! - [`system`]: what a system under test is; the built-in ones.
//! - [`adapter`]: client protocols behind one trait; [`workload`]: what a workload
//!   needs; [`error`]: the one error style; [`units`]: durations and sizes as typed.

pub mod adapter;
pub mod backend;
pub mod campaign;
pub mod check;
pub mod cli;
pub mod config;
pub mod error;
pub mod relay;
pub mod results;
pub mod run;
pub mod system;
pub mod units;
pub mod workload;
