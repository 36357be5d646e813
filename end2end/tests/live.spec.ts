import { test, expect, apiToken, hydrated, signIn } from "./helpers";

test("new mail appears in an open queue without a reload", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await hydrated(page);
  const token = apiToken();
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
