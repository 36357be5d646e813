import { test, expect } from "./helpers";

test("a supervisor starts a rescoring job and watches it finish", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("User name").fill("sam");
  await page.getByLabel("Password").fill("triage-supervisor");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.getByRole("navigation", { name: "Sections" }).getByRole("link", { name: "Jobs" }).click();
  await expect(page.getByRole("heading", { name: "Jobs", level: 1 })).toBeVisible();
  await page.locator("body[data-hydrated=true]").waitFor();

  await page.locator("select[name=kind]").selectOption("rescore");
  await page.locator("select[name=status]").selectOption("new");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByRole("status")).toContainText(/Job \d+ queued: status new/);
  const id = (await page.getByRole("status").innerText()).match(/Job (\d+)/)![1];

  // The table refreshes by itself: the job runs and finishes without a reload.
  const row = page.locator(`table.jobs tr[data-job="${id}"]`);
  await expect(row).toContainText("succeeded", { timeout: 20_000 });
  await expect(row).toContainText(/(\d+) \/ \1 \(100%\)/);
  await expect(row.getByRole("progressbar")).toBeVisible();
});

test("a supervisor sets and clears the scoring schedule", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("User name").fill("sam");
  await page.getByLabel("Password").fill("triage-supervisor");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/jobs");
  await page.locator("body[data-hydrated=true]").waitFor();
  const every = page.getByLabel("Score what is unscored every (minutes)");
  await every.fill("15");
  await every.locator("xpath=ancestor::form").getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("A score job now runs every 15 minutes.");
  await page.reload();
  await expect(page.getByLabel("Score what is unscored every (minutes)")).toHaveValue("15");
  await page.getByLabel("Score what is unscored every (minutes)").fill("");
  await page.getByLabel("Score what is unscored every (minutes)").locator("xpath=ancestor::form").getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("The score schedule is off.");
});

test("a supervisor starts a Batch Transform job and reads why it cannot run", async ({ page }) => {
  await page.goto("/login");
  await page.getByLabel("User name").fill("sam");
  await page.getByLabel("Password").fill("triage-supervisor");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/$/);
  await page.goto("/jobs");
  await page.locator("body[data-hydrated=true]").waitFor();

  await page.locator("select[name=kind]").selectOption("transform");
  const fields = page.getByRole("group", { name: "Batch Transform (SageMaker)" });
  await fields.getByLabel("SageMaker model").fill("my-bert");
  await fields.getByLabel("Instances").fill("2");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page.getByRole("status")).toContainText(
    /Job \d+ queued: every unscored email, by Batch Transform with my-bert/,
  );
  const id = (await page.getByRole("status").innerText()).match(/Job (\d+)/)![1];

  // This test server has no S3 folder set: the job fails at once, saying what to set.
  const row = page.locator(`table.jobs tr[data-job="${id}"]`);
  await expect(row).toContainText("failed", { timeout: 20_000 });
  await expect(row).toContainText("no S3 folder for the input and output");
});
