import { Page } from "@playwright/test";
import { test, expect, OwnEmail, hydrated, ownEmails, signIn as signInForm } from "./helpers";

// The agents' workspace (issue 6). Each test that changes mail posts its own emails
// first and works only on them (`/?q=<tag>`), so the tests run side by side on one
// server and none depends on the demo's data, the date, or another test.

async function signIn(page: Page, username: string, password: string) {
  await signInForm(page, username, password);
  await expect(page).toHaveURL(/\/$/);
}

const SUPPORT_QUESTIONS: OwnEmail[] = [
  { subject: "Scanner will not pair", body: "Our handheld scanner no longer pairs with the base station after the update. We restarted both." },
  { subject: "Label printer error E42", body: "The label printer shows error E42 and stops after every third label. Cleaning the head did not help." },
  { subject: "Firmware update failed", body: "The firmware update of our packing station stopped at 80% and now it does not boot. What can we do?" },
  { subject: "Login to the portal", body: "Since this morning none of us can log in to the ordering portal; the page keeps loading." },
  { subject: "Barcode not read", body: "The barcodes on your new pallets are not read by our warehouse scanners. Is there a new format?" },
];

test("an agent triages five emails with the keyboard only", async ({ page }) => {
  const { tag, ids } = await ownEmails(page.request, SUPPORT_QUESTIONS);
  await signIn(page, "alex", "triage-agent");
  await page.goto(`/?status=new&q=${tag}`);
  await hydrated(page);
  const shown = await page.locator("table.queue tbody tr").evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("data-email-id"))));
  expect([...shown].sort()).toEqual([...ids].sort());
  const row = (i: number) => page.locator(`table.queue tbody tr[data-email-id="${shown[i]}"]`);

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
  await expect(page.getByRole("status").filter({ hasText: /^Accepted / })).toBeVisible();
  await expect(row(4)).toHaveAttribute("aria-selected", "true");
  await page.keyboard.press("2");
  await expect(row(4)).toHaveAttribute("data-status", "triaged");
  await expect(row(4).locator(".badge")).toHaveText("cancellation");

  // The five left the untriaged mail for good.
  await page.reload();
  await expect(page.getByText("No emails match this view.")).toBeVisible();
});

test("an agent corrects a category by typing part of its name", async ({ page }) => {
  const { tag } = await ownEmails(page.request, [
    { subject: "Where is my order?", body: "Hello, my order SO-48213 was due on Monday and the tracking link shows nothing yet. When will it arrive?" },
  ]);
  await signIn(page, "alex", "triage-agent");
  await page.goto(`/?status=new&q=${tag}`);
  await hydrated(page);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/\/emails\/\d+$/);
  await expect(page.getByRole("heading", { name: "Category" })).toBeVisible();
  await page.keyboard.press("c");
  await expect(page.getByRole("textbox", { name: /Correct to/ })).toBeFocused();
  await page.keyboard.type("refu");
  await expect(page.getByRole("list", { name: "Categories" }).getByRole("button")).toHaveCount(1);
  await page.keyboard.press("Enter");
  await expect(page.getByText("Corrected to returns refunds.")).toBeVisible();
  // The history shows the correction after a reload, with who made it.
  await page.reload();
  await expect(page.locator(".history-list li").first()).toContainText("corrected returns refunds");
  await expect(page.locator(".history-list li").first()).toContainText("Alex Agent");
});

test("a supervisor writes a template; the reply uses it, is edited and marked replied", async ({ page }) => {
  // Filed as a return by the team's old tool (an imported label), so the refund
  // templates apply whatever the model thinks.
  const { tag } = await ownEmails(page.request, [
    { subject: "Return of two chairs", body: "We sent back two office chairs last week. Please refund them to our card.", from: "Lena Park <lena@park.example>", category: "returns_refunds" },
  ]);
  const name = `Refund on its way ${tag}`;
  await signIn(page, "sam", "triage-supervisor");
  await page.goto("/templates");
  await hydrated(page);
  const form = page.locator(".template").last();
  await form.getByLabel("Name").fill(name);
  await form.getByLabel("Category").selectOption("returns_refunds");
  await form.getByLabel("Text").fill("Hello {{customer_first_name}}, your refund is on its way. {{agent_name}}");
  await form.getByRole("button", { name: "Create" }).click();
  await expect(page.getByText(`Template “${name}” saved.`)).toBeVisible();

  await page.goto(`/?q=${tag}`);
  await hydrated(page);
  await page.keyboard.press("r");
  await expect(page).toHaveURL(/\/emails\/\d+\?reply=1$/);
  await expect(page.getByRole("heading", { name: "Reply", exact: true })).toBeVisible();
  await page.getByRole("button", { name }).click();
  const draft = page.getByLabel("Reply text");
  await expect(draft).toHaveValue("Hello Lena, your refund is on its way. Sam Supervisor");
  await draft.press("End");
  await draft.pressSequentially(" Thanks!");
  await page.getByRole("button", { name: "Mark replied" }).click();
  await expect(page.getByText("Marked replied (8 characters edited).")).toBeVisible();
  await page.reload();
  await expect(page.locator(".email-meta .status")).toHaveText("replied");
  await expect(page.getByRole("heading", { name: "Reply sent" })).toBeVisible();
});

test("an agent bulk-accepts every email of a filter after confirming the count", async ({ page }) => {
  const { tag } = await ownEmails(page.request, SUPPORT_QUESTIONS.slice(0, 3));
  await signIn(page, "alex", "triage-agent");
  await page.goto(`/?status=new&q=${tag}`);
  await hydrated(page);
  await expect(page.locator("table.queue tbody tr")).toHaveCount(3);
  let question = "";
  page.once("dialog", async (dialog) => {
    question = dialog.message();
    await dialog.accept();
  });
  await page.getByLabel("Every email in this view").check();
  await page.getByRole("region", { name: "Bulk actions" }).getByRole("button", { name: "Accept" }).click();
  await expect(page.getByText("3 emails accepted.")).toBeVisible();
  expect(question).toMatch(/^Accept the model's category for 3 emails\?/);
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

test("an agent assigns an email to themself from its page, finds it under assignee=me, and unassigns it", async ({ page }) => {
  const { tag, ids } = await ownEmails(page.request, [
    { subject: "Invoice copy please", body: "Could you send me a copy of invoice INV-2291 for our records?" },
  ]);
  await signIn(page, "alex", "triage-agent");
  await page.goto(`/emails/${ids[0]}`);
  await hydrated(page);
  const assignee = page.locator(".assignment .assignee-name");
  await expect(assignee).toHaveText("nobody");
  await page.getByRole("button", { name: "Assign to me" }).click();
  await expect(assignee).toHaveText("Alex Agent");

  // Stored: the queue's "assigned to me" view has it, and so does the page after a reload.
  await page.goto(`/?assignee=me&q=${tag}`);
  await expect(page.locator("table.queue tbody tr")).toHaveCount(1);
  await expect(page.locator("table.queue tbody tr td.assignee")).toHaveText("Alex Agent");
  await page.goto(`/emails/${ids[0]}`);
  await hydrated(page);
  await expect(assignee).toHaveText("Alex Agent");
  await page.getByRole("button", { name: "Unassign" }).click();
  await expect(assignee).toHaveText("nobody");
  await page.goto(`/?assignee=me&q=${tag}`);
  await expect(page.getByText("No emails match this view.")).toBeVisible();
});
