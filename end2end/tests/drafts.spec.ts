import { test, expect, hydrated, ownEmails, signIn } from "./helpers";

// Generated reply drafts (issue 31): the suite's Triage drafts replies with
// `triage model-server` (playwright.config.ts), which has no language model and says
// so. The draft arrives on its own beside the other suggestions; a reply started
// from it counts its edits like any other.

test("an agent starts a reply from the generated draft, with the keyboard", async ({ page }) => {
  const { tag } = await ownEmails(page.request, [
    { subject: "Change our delivery address", body: "Please change the delivery address on our account to Harbour Road 12, Leith, from the next order on.", from: "Mia Stone <mia@stone.example>", category: "account_change" },
  ]);
  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);
  await page.goto(`/?q=${tag}`);
  await hydrated(page);
  await page.keyboard.press("r");
  await expect(page).toHaveURL(/\/emails\/\d+\?reply=1$/);

  // The templates are there at once; the draft joins them when it comes.
  await expect(page.getByRole("list", { name: "Suggestions" }).getByRole("button").first()).toBeVisible();
  const choice = page
    .getByRole("list", { name: "Generated draft" })
    .getByRole("button", { name: "Draft built from the most similar past replies (no language model)" });
  await expect(choice).toBeVisible({ timeout: 15_000 });

  await choice.focus();
  await page.keyboard.press("Enter");
  const reply = page.getByLabel("Reply text");
  await expect(reply).toBeFocused();
  const text = await reply.inputValue();
  expect(text.length).toBeGreaterThan(20);
  await reply.press("Control+End");
  await reply.pressSequentially(" Thanks!");
  await page.getByRole("button", { name: "Mark replied" }).click();
  await expect(page.getByText("Marked replied (8 characters edited).")).toBeVisible();
  await page.reload();
  await expect(page.getByRole("heading", { name: "Reply sent" })).toBeVisible();
  await expect(page.locator(".email-body").last()).toContainText(`${text.trim().slice(0, 20)}`);
});
