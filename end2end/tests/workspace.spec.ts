import { test, expect, Page } from "@playwright/test";
import { signIn as signInForm } from "./helpers";

// The agents' workspace (issue 6). Each test works on its own slice of the demo data
// (a category), so the tests can run side by side on one server.

async function signIn(page: Page, username: string, password: string) {
  await signInForm(page, username, password);
  await expect(page).toHaveURL(/\/$/);
}

async function hydrated(page: Page) {
  await page.locator("body[data-hydrated=true]").waitFor();
}

test("an agent triages five emails with the keyboard only", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await page.goto("/?status=new&category=technical_support");
  await hydrated(page);
  const rows = page.locator("table.queue tbody tr");
  const ids = await rows.evaluateAll((rs) => rs.slice(0, 5).map((r) => r.getAttribute("data-email-id")));
  expect(ids).toHaveLength(5);
  // Rows by id: mail arriving meanwhile goes on top and must not disturb the work.
  const row = (i: number) => page.locator(`table.queue tbody tr[data-email-id="${ids[i]}"]`);

  // ? shows every shortcut; Esc closes the list.
  await page.keyboard.press("?");
  await expect(page.getByRole("dialog", { name: "Keyboard shortcuts" })).toBeVisible();
  await page.keyboard.press("Escape");
  await expect(page.getByRole("dialog")).toHaveCount(0);

  // a accepts the prediction and moves on; 2 labels with the second category.
  for (let i = 0; i < 4; i++) {
    await expect(row(i)).toHaveAttribute("aria-selected", "true");
    await page.keyboard.press("a");
    await expect(row(i)).toHaveAttribute("data-status", "triaged");
  }
  await expect(page.getByRole("status").filter({ hasText: "Accepted technical support" })).toBeVisible();
  await expect(row(4)).toHaveAttribute("aria-selected", "true");
  await page.keyboard.press("2");
  await expect(row(4)).toHaveAttribute("data-status", "triaged");
  await expect(row(4).locator(".badge")).toHaveText("cancellation");

  // The five left the untriaged complaints for good.
  await page.reload();
  await hydrated(page);
  const left = await page.locator("table.queue tbody tr").evaluateAll((rs) => rs.map((r) => r.getAttribute("data-email-id")));
  for (const id of ids) expect(left).not.toContain(id);
});

test("an agent corrects a category by typing part of its name", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await page.goto("/?status=new&category=order_status");
  await hydrated(page);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/emails\/\d+$/);
  await expect(page.getByRole("heading", { name: "Category" })).toBeVisible();
  await page.keyboard.press("c");
  await expect(page.getByRole("combobox")).toBeFocused();
  await page.keyboard.type("refu");
  await expect(page.getByRole("listbox", { name: "Categories" }).getByRole("option")).toHaveCount(1);
  await page.keyboard.press("Enter");
  await expect(page.getByText("Corrected to returns refunds.")).toBeVisible();
  // The history shows the correction after a reload, with who made it.
  await page.reload();
  await expect(page.locator(".history-list li").first()).toContainText("corrected returns refunds");
  await expect(page.locator(".history-list li").first()).toContainText("Alex Agent");
});

test("a supervisor writes a template; the reply uses it, is edited and marked replied", async ({ page }) => {
  await signIn(page, "sam", "triage-supervisor");
  await page.goto("/templates");
  await hydrated(page);
  const form = page.locator(".template").last();
  await form.getByLabel("Name").fill("Refund on its way");
  await form.getByLabel("Category").selectOption("returns_refunds");
  await form.getByLabel("Text").fill("Hello {{customer_first_name}}, your refund is on its way. {{agent_name}}");
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByText("Template “Refund on its way” saved.")).toBeVisible();

  await page.goto("/?status=new&category=returns_refunds");
  await hydrated(page);
  await page.keyboard.press("r");
  await expect(page).toHaveURL(/\/emails\/\d+\?reply=1$/);
  await expect(page.getByRole("heading", { name: "Reply", exact: true })).toBeVisible();
  await page.getByRole("button", { name: /Refund on its way/ }).click();
  const draft = page.getByLabel("Reply text");
  await expect(draft).toHaveValue(/^Hello \S+, your refund is on its way\. Sam Supervisor$/);
  await draft.press("End");
  await draft.pressSequentially(" Thanks!");
  await page.getByRole("button", { name: "Mark replied" }).click();
  await expect(page.getByText("Marked replied (8 characters edited).")).toBeVisible();
  await page.reload();
  await expect(page.locator(".email-meta .status")).toHaveText("replied");
  await expect(page.getByRole("heading", { name: "Reply sent" })).toBeVisible();
});

test("an agent bulk-accepts every email of a filter after confirming the count", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await page.goto("/?status=new&category=spam");
  await hydrated(page);
  await expect(page.locator("table.queue tbody tr").first()).toBeVisible();
  let question = "";
  page.once("dialog", async (dialog) => {
    question = dialog.message();
    await dialog.accept();
  });
  await page.getByLabel("Every email in this view").check();
  await page.getByRole("region", { name: "Bulk actions" }).getByRole("button", { name: "Accept" }).click();
  await expect(page.getByText(/^\d+ emails? accepted\.$/)).toBeVisible();
  expect(question).toMatch(/^Accept the model's category for \d+ emails?\?/);
  const asked = Number(question.match(/for (\d+) email/)![1]);
  const done = Number((await page.getByText(/^\d+ emails? accepted\.$/).textContent())!.split(" ")[0]);
  expect(done).toBe(asked);
  await page.reload();
  await expect(page.getByText("No emails match this view.")).toBeVisible();
});

test("the review view puts the least sure predictions first", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await page.goto("/review");
  await expect(page.getByRole("heading", { name: "Review" })).toBeVisible();
  const percents = (await page.locator("table.queue tbody td.confidence .pct").allTextContents()).map((t) => parseInt(t, 10));
  expect(percents.length).toBeGreaterThan(10);
  const sorted = [...percents].sort((a, b) => a - b);
  expect(percents).toEqual(sorted);
  for (const status of await page.locator("table.queue tbody td.status").allTextContents()) expect(status).toBe("new");
});

test("an agent cannot reach supervisor pages", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  for (const path of ["/templates", "/jobs", "/models", "/analytics", "/import"]) {
    const response = await page.goto(path);
    expect(response?.status(), path).toBe(403);
  }
  const nav = page.getByRole("navigation", { name: "Sections" });
  await page.goto("/");
  await expect(nav.getByRole("link", { name: "Review" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Templates" })).toHaveCount(0);
});
