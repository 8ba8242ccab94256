#!/usr/bin/env bash
# The whole test suite, as CI runs it: system packages, then every crate's tests.
# Tests that build namespaces need root; run as root (sudo) or they fail with a
# message saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --workspace --quiet
cargo test --workspace --no-fail-fast
