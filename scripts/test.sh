#!/usr/bin/env bash
# The whole test suite: unit tests, the integration suite against SQLite and
# PostgreSQL, and the end-to-end tests in Chromium. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
source scripts/env.sh

echo "==> building (server + browser bundle)"
cargo leptos build

echo "==> unit and integration tests (SQLite and PostgreSQL)"
cargo test --workspace --no-fail-fast

echo "==> end-to-end tests in Chromium"
(cd end2end && npx playwright test)
