#!/usr/bin/env bash
# The optimised build: server with `--release`, browser bundle with the small
# `wasm-release` profile and wasm-opt (npm's binaryen: Debian's is too old, see
# ../shared/TOOLCHAIN.md). Output: $CARGO_TARGET_DIR/release/triage and
# $CARGO_TARGET_DIR/site.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
source scripts/env.sh
if [ ! -x .tools/node_modules/.bin/wasm-opt ]; then
  echo "==> installing wasm-opt (npm binaryen@132) into .tools/"
  npm install --prefix .tools --no-audit --no-fund binaryen@132 >/dev/null
fi
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
cargo xtask build --release
