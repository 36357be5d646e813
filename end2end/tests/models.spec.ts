import { Page } from "@playwright/test";
import { test, expect, ownEmails, signIn } from "./helpers";

// The page's main outcome line (the auto-accept section has its own, further down).
const outcome = (page: Page) => page.getByRole("status").first();


test("a supervisor trains a candidate, compares it with the active model, promotes it and rolls back", async ({ page }) => {
  await signIn(page, "sam", "triage-supervisor");
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Models" }).click();
  await expect(page.getByRole("heading", { name: "Models" })).toBeVisible();
  const table = page.getByRole("table", { name: "Model versions" });
  // The demo trains one model on first start and makes it active.
  await expect(table.locator("tbody tr.active-model")).toHaveCount(1);
  const first = await table.locator("tbody tr.active-model").getAttribute("data-model");
  // Supervisors do not get the endpoint form: that is for admins.
  await expect(page.getByRole("heading", { name: "Connect a SageMaker endpoint" })).toHaveCount(0);

  await page.locator("body[data-hydrated=true]").waitFor();
  await page.getByRole("button", { name: "Train a new model on the labels" }).click();
  await expect(outcome(page)).toContainText(/Trained builtin-\S+ on all \d+ labelled emails\. Measured on \d+ held-out emails by its twin/, { timeout: 20_000 });

  // The new version is listed, a candidate until someone promotes it.
  const version = (await outcome(page).innerText()).match(/Trained (\S+)/)![1];
  const row = table.locator(`tbody tr[data-model="${version}"]`);
  await expect(row).toContainText("candidate");

  // Each built-in model lists its figures per category, with the labels it learnt from.
  const perCategory = table.locator("tr.per-category-row").first();
  await perCategory.getByText(/^Per category \(\d+\)/).click();
  const categories = perCategory.getByRole("table", { name: "Figures per category" }).locator("tbody tr");
  await expect(categories).toHaveCount(10);
  await expect(categories.first().locator("td").nth(1)).toHaveText(/^\d+$/);

  // Side by side on the same held-out emails: figures, per-category table, both
  // confusion matrices and the emails whose category would change.
  await row.getByRole("link", { name: "Compare" }).click();
  await expect(page).toHaveURL(/\/models\?compare=\d+$/);
  const comparison = page.getByRole("region", { name: new RegExp(`Candidate ${version} against active ${first}`) });
  await expect(comparison).toContainText(/Both scored the same \d+ held-out labelled emails/, { timeout: 20_000 });
  await expect(comparison.locator('[data-figure="candidate-macro-f1"]')).toHaveText(/^[01]\.\d{3}$/);
  await expect(comparison.locator('[data-figure="active-macro-f1"]')).toHaveText(/^[01]\.\d{3}$/);
  await expect(comparison.locator("table.confusion")).toHaveCount(2);
  await expect(comparison.getByRole("heading", { name: /\d+ emails would change category/ })).toBeVisible();

  await page.locator("body[data-hydrated=true]").waitFor();
  await comparison.getByRole("button", { name: `Promote ${version}` }).click();
  await expect(outcome(page)).toContainText("Promoted");
  await expect(table.locator(`tbody tr[data-model="${version}"]`)).toContainText("active");
  await expect(table.locator("tbody tr.active-model")).toHaveCount(1);

  // Rolling back brings the demo's model back.
  await page.getByRole("button", { name: `Roll back to ${first}` }).click();
  await expect(outcome(page)).toContainText("Rolled back");
  await expect(table.locator(`tbody tr[data-model="${first}"]`)).toContainText("active");
  await expect(table.locator(`tbody tr[data-model="${version}"]`)).toContainText("retired");
});

test("an email's page shows the prediction, its probabilities and why", async ({ page }) => {
  const { tag } = await ownEmails(page.request, [
    { subject: "Quotation for 40 desks", body: "Could you send us a quotation for 40 standing desks and 40 chairs, delivered to our Leeds office in March?" },
  ]);
  await signIn(page, "alex", "triage-agent");
  await page.goto(`/?q=${tag}`);
  const first = page.locator("table.queue tbody tr").first().getByRole("link");
  const subject = (await first.innerText()).trim();
  await first.click();
  await expect(page).toHaveURL(/\/emails\/\d+$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(subject);
  const prediction = page.getByRole("region", { name: "Model prediction" });
  await expect(prediction.getByRole("heading", { name: "Prediction" })).toBeVisible();
  // Every category the model knows, and the terms behind the top one.
  await expect(prediction.locator("ul.probabilities li")).not.toHaveCount(0);
  await expect(prediction.getByRole("heading", { name: "Why" })).toBeVisible();
  await expect(prediction.locator("ol.reasons li").first()).toBeVisible();
});

test("an admin connects an endpoint and hears back when it cannot be reached", async ({ page }) => {
  await signIn(page, "admin", "triage-admin");
  await page.goto("/models");
  await page.locator("body[data-hydrated=true]").waitFor();
  await page.getByLabel("Endpoint name").fill("nowhere");
  // Port 9 (discard) refuses connections: the check fails and nothing is activated.
  await page.getByLabel("Endpoint URL").fill("http://127.0.0.1:9");
  await page.getByLabel("Timeout (ms)").fill("500");
  await page.getByLabel("Make it the active scorer if the check passes").check();
  await page.getByRole("button", { name: "Save and check" }).click();
  await expect(outcome(page)).toContainText("the check failed, so it is not active", { timeout: 20_000 });
  const table = page.getByRole("table", { name: "Model versions" });
  await expect(table.locator('tbody tr[data-model="endpoint-nowhere"]')).toContainText("candidate");
});
