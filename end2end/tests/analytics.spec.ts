import { test, expect, signIn } from "./helpers";

// Supervisor analytics (issue 7): charts rendered by the server, a period in the URL,
// CSV per view, and the drift alert's level.

test("a supervisor reads the analytics for a period, downloads a view as CSV and sets the drift level", async ({ page }) => {
  await signIn(page, "sam", "triage-supervisor");
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Analytics" }).click();
  await expect(page.getByRole("heading", { name: "Analytics", level: 1 })).toBeVisible();

  // The summary and the charts are in the server's HTML, before any script runs.
  const tiles = page.getByRole("list", { name: "Summary" });
  await expect(tiles).toContainText("Received");
  await expect(tiles).toContainText("Untriaged");
  await expect(page.getByRole("img", { name: "Emails received per day, stacked by category" })).toBeVisible();
  await expect(page.locator("svg rect").first()).toBeVisible();
  await expect(page.getByRole("img", { name: /Reliability/ })).toBeVisible();

  // The period lives in the URL: a preset link and the date form both set it.
  await page.getByRole("link", { name: "7 days" }).click();
  await expect(page).toHaveURL(/\/analytics\?from=\d{4}-\d{2}-\d{2}&to=\d{4}-\d{2}-\d{2}$/);
  const from = new URL(page.url()).searchParams.get("from")!;
  await expect(page.getByRole("form", { name: "Period" }).getByLabel("From")).toHaveValue(from);

  // Each view has its CSV.
  const csv = await page.request.get(await page.getByRole("link", { name: "CSV of Volume by category" }).getAttribute("href") ?? "");
  expect(csv.status()).toBe(200);
  expect(csv.headers()["content-type"]).toContain("text/csv");
  expect((await csv.text()).split("\n")[0]).toBe("date,category,emails");

  // Once hydrated, the legend hides and shows a series.
  await page.locator("body[data-hydrated=true]").waitFor();
  const legend = page.getByRole("group", { name: "Series" }).first();
  const item = legend.getByRole("button").first();
  await expect(item).toHaveAttribute("aria-pressed", "true");
  await item.click();
  await expect(item).toHaveAttribute("aria-pressed", "false");

  // The drift alert's level is saved and shown.
  await page.getByLabel(/Alert below/).fill("75");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await expect(page.getByRole("status").filter({ hasText: "Saved" })).toContainText("falls below 75%");
  await expect(page.locator(".drift-ok, .drift-alert")).toContainText("75%");
});

test("an agent cannot open the analytics", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Analytics" })).toHaveCount(0);
  const response = await page.goto("/analytics");
  expect(response?.status()).toBe(403);
});
