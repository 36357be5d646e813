import { test, expect } from "@playwright/test";
import { execFileSync } from "node:child_process";

test("new mail appears in an open queue without a reload", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("User name").fill("alex");
  await page.getByLabel("Password").fill("triage-agent");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("body[data-hydrated=true]").waitFor();

  const token = execFileSync(process.env.TRIAGE_BIN ?? "../target/debug/triage", ["token", "create", "e2e", "--role", "ingest"], {
    env: { ...process.env, TRIAGE_DATA_DIR: process.env.TRIAGE_E2E_DATA_DIR, TRIAGE_LOG: "warn" },
  })
    .toString()
    .trim();
  // Give the page's event stream a moment to take its first look.
  await page.waitForTimeout(2000);
  const subject = `Live arrival ${Date.now()}`;
  const response = await page.request.post("/api/v1/emails", {
    headers: { Authorization: `Bearer ${token}` },
    data: { from: "Nora Quinn <nora@shop.example>", subject, body: "Do you deliver on Saturdays?" },
  });
  expect(response.status()).toBe(201);
  await expect(page.getByText(subject)).toBeVisible({ timeout: 10_000 });
  expect(page.url()).not.toContain("cursor");
});
