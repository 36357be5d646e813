#!/usr/bin/env bash
# Installs what this machine lacks to build Triage (and, with --test, to test it).
# Safe to run again: each tool is installed only when its version is missing.
# Versions: ../shared/TOOLCHAIN.md.
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=false
[ "${1:-}" = "--test" ] && want_tests=true

LEPTOSFMT_VERSION=0.1.33
AIOSMTPD_VERSION=1.4.6
MOTO_VERSION=5.2.1
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

step() { printf '\n==> %s\n' "$*"; }

if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  step "adding the wasm32 target"
  rustup target add wasm32-unknown-unknown
fi

# No cargo-leptos and no wasm-bindgen CLI to install: `cargo xtask build` compiles the
# site with wasm-bindgen's library (xtask/). Those who have cargo-leptos 0.3.10 can
# still use `cargo leptos watch`.

if $want_tests; then
  if ! rustup component list --installed | grep -q '^clippy'; then
    step "adding clippy and rustfmt"
    rustup component add clippy rustfmt
  fi
  if [ "$(leptosfmt --version 2>/dev/null | awk '{print $2}')" != "$LEPTOSFMT_VERSION" ]; then
    step "installing leptosfmt $LEPTOSFMT_VERSION (formats view! macros; a few minutes, once)"
    cargo install "leptosfmt@$LEPTOSFMT_VERSION" --locked
  fi
  if [ ! -x /usr/bin/chromium ]; then
    step "installing Debian's Chromium for the browser tests"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -x /usr/sbin/dovecot ]; then
    step "installing Debian's Dovecot, the IMAP server of the mailbox tests"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
    # The tests run their own throwaway instances on free ports; the system-wide
    # daemon the package may have started is not needed.
    $SUDO service dovecot stop >/dev/null 2>&1 || true
  fi
  if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
    step "installing aiosmtpd $AIOSMTPD_VERSION, the SMTP sink of the mailbox tests"
    # A pyenv or venv Python takes the package as is; Debian's own Python refuses pip
    # installs (PEP 668) unless asked, so that one gets it in the user's site-packages.
    python3 -m pip install -q "aiosmtpd==$AIOSMTPD_VERSION" 2>/dev/null ||
      python3 -m pip install -q --user --break-system-packages "aiosmtpd==$AIOSMTPD_VERSION"
  fi
  if ! python3 -c "import moto, moto.server, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
    step "installing moto[server] $MOTO_VERSION, the local S3 and SageMaker of the AWS tests"
    python3 -m pip install -q "moto[server]==$MOTO_VERSION" 2>/dev/null ||
      python3 -m pip install -q --user --break-system-packages "moto[server]==$MOTO_VERSION"
  fi
  if [ ! -d end2end/node_modules/@playwright/test ]; then
    step "installing the Playwright test runner (npm ci; no browser download)"
    (cd end2end && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    step "starting PostgreSQL"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
    pg_isready -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not running on 127.0.0.1:5432" >&2; exit 1; }
  fi
fi
