#!/usr/bin/env bash
# Installs what is missing, builds Triage, loads the demo mailbox into the embedded
# SQLite database (./data/triage.db) and serves it at http://127.0.0.1:3000.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
cargo xtask build
exec "$TRIAGE_BIN" demo --serve "$@"
