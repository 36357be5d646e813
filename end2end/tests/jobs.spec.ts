import { Page } from "@playwright/test";
import { test, expect, signIn, hydrated } from "./helpers";

/** Signs Sam the supervisor in and opens the Jobs page, ready for the keyboard. */
async function jobsPage(page: Page) {
  await signIn(page, "sam", "triage-supervisor");
  await expect(page).toHaveURL(/\/$/);
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Jobs" }).click();
  await expect(page.getByRole("heading", { name: "Jobs", level: 1 })).toBeVisible();
  await hydrated(page);
}

/** Presses Start and reads the queued job's id from the status line. */
async function start(page: Page, queued: RegExp): Promise<string> {
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByRole("status")).toContainText(queued);
  return (await page.getByRole("status").innerText()).match(/Job (\d+)/)![1];
}

test("a supervisor starts a rescoring job and watches it finish", async ({ page }) => {
  await jobsPage(page);
  await page.locator("select[name=kind]").selectOption("rescore");
  await page.locator("select[name=status]").selectOption("new");
  const id = await start(page, /Job \d+ queued: status new/);

  // The table refreshes by itself: the job runs and finishes without a reload.
  const row = page.locator(`table.jobs tr[data-job="${id}"]`);
  await expect(row).toContainText("succeeded", { timeout: 20_000 });
  await expect(row).toContainText(/(\d+) \/ \1 \(100%\)/);
  await expect(row.getByRole("progressbar")).toBeVisible();
});

test("a supervisor sets and clears the scoring schedule", async ({ page }) => {
  await jobsPage(page);
  const every = () => page.getByLabel("Score what is unscored every (minutes)");
  const save = () => every().locator("xpath=ancestor::form").getByRole("button", { name: "Save" });
  await every().fill("15");
  await save().click();
  await expect(page.getByRole("status")).toContainText("A score job now runs every 15 minutes.");
  await page.reload();
  await expect(every()).toHaveValue("15");
  await hydrated(page);
  await every().fill("");
  await save().click();
  await expect(page.getByRole("status")).toContainText("The score schedule is off.");
});

test("a supervisor starts a Batch Transform job and reads why it cannot run", async ({ page }) => {
  await jobsPage(page);
  await page.locator("select[name=kind]").selectOption("transform");
  const fields = page.getByRole("group", { name: "Batch Transform (SageMaker)" });
  await fields.getByLabel("SageMaker model").fill("my-bert");
  await fields.getByLabel("Instances").fill("2");
  const id = await start(page, /Job \d+ queued: every unscored email, by Batch Transform with my-bert/);

  // This test server has no S3 folder set: the job fails at once, saying what to set.
  const row = page.locator(`table.jobs tr[data-job="${id}"]`);
  await expect(row).toContainText("failed", { timeout: 20_000 });
  await expect(row).toContainText("no S3 folder for the input and output");
});
