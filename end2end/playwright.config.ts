import { defineConfig } from "@playwright/test";

// The server under test: the built `triage` binary with a fresh SQLite database and
// the demo data, on its own port. TRIAGE_BIN and LEPTOS_SITE_ROOT come from
// scripts/env.sh.
const port = Number(process.env.TRIAGE_E2E_PORT ?? 3199);
const baseURL = `http://127.0.0.1:${port}`;
// `triage model-server` on the demo's database drafts the replies (by retrieval: it
// has no language model), as Triage's text-generation endpoint.
const modelPort = Number(process.env.TRIAGE_E2E_MODEL_PORT ?? port + 1);
const modelURL = `http://127.0.0.1:${modelPort}`;
// Workers load this file too; they inherit the main process's choice.
process.env.TRIAGE_E2E_DATA_DIR ??= `${process.env.TMPDIR ?? "/tmp"}/triage-e2e-${process.pid}`;
const dataDir = process.env.TRIAGE_E2E_DATA_DIR;

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  fullyParallel: true,
  workers: 2,
  retries: 0,
  reporter: [["list"]],
  use: {
    baseURL,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    },
  },
  // Started in this order, each once the one before answers: the model server reads
  // the model and past replies the demo wrote.
  webServer: [{
    command: `rm -rf ${dataDir} && ${process.env.TRIAGE_BIN ?? "../target/debug/triage"} demo --serve --addr 127.0.0.1:${port}`,
    url: `${baseURL}/readyz`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      TRIAGE_DATA_DIR: dataDir,
      LEPTOS_SITE_ROOT: process.env.LEPTOS_SITE_ROOT ?? "../target/site",
      // Each test signs in afresh; keep the limit well above what the suite needs.
      TRIAGE_LOGIN_MAX_FAILURES: "50",
      // Loopback only: the AWS credential chain must not probe the instance-metadata
      // address (169.254.169.254) when a test connects an endpoint.
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ACCESS_KEY_ID: "e2e-test",
      AWS_SECRET_ACCESS_KEY: "e2e-test",
      AWS_REGION: "us-east-1",
      TRIAGE_GENERATOR_ENDPOINT_NAME: "triage-drafts",
      TRIAGE_GENERATOR_ENDPOINT_URL: modelURL,
    },
  }, {
    command: `${process.env.TRIAGE_BIN ?? "../target/debug/triage"} model-server --addr 127.0.0.1:${modelPort}`,
    url: `${modelURL}/ping`,
    timeout: 30_000,
    reuseExistingServer: false,
    stdout: "ignore",
    stderr: "pipe",
    env: { TRIAGE_DATA_DIR: dataDir, TRIAGE_LOG: "warn" },
  }],
});
