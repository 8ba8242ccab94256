#!/usr/bin/env bash
# The whole test suite, as CI runs it: system packages, then every crate's tests.
# Tests that build namespaces need root; run as root (sudo) or they fail with a
# message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Binaries, tests and examples in one build, so that everything is built once with the
# features the tests resolve (tempfile, a dev-dependency, turns on features of crates
# that reqwest and mysql_async share; a plain `cargo build` first built the whole
# workspace a second time without them). The tests need every system's binary built.
cargo build --workspace --bins --tests --examples --quiet
cargo test --workspace --no-fail-fast
