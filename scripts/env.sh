# Shared by the scripts: one build configuration, so `cargo xtask build` (or
# `cargo leptos build`) and `cargo test` reuse each other's compiled crates
# instead of rebuilding ~345 of them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export RUSTFLAGS="--cfg erase_components"
export LEPTOS_OUTPUT_NAME=triage
export LEPTOS_SITE_ROOT="$CARGO_TARGET_DIR/site"
export TRIAGE_BIN="$CARGO_TARGET_DIR/debug/triage"
