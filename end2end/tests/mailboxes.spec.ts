import { test, expect, signIn, hydrated } from "./helpers";

// Mailboxes (issue 30): an admin adds one and tests it; an agent's reply goes to its
// outbox. The servers here are a closed port on loopback, so the browser sees the
// plain-words errors; real Dovecot and SMTP servers are in the integration suite
// (server/tests/api/mailboxes.rs).

test("an admin adds a mailbox, tests it, and an agent's reply waits in its outbox", async ({ page }) => {
  const name = `E2E mailbox ${Date.now()}`;
  await signIn(page, "admin", "triage-admin");
  await page.goto("/admin/mailboxes");
  await expect(page.getByRole("heading", { name: "Mailboxes", level: 1 })).toBeVisible();
  await hydrated(page);

  const add = page.getByRole("region", { name: "Add a mailbox" });
  await add.getByLabel("Name", { exact: true }).fill(name);
  await add.getByLabel("Address replies go out from").fill("support@northwind-supply.example");
  const imap = add.getByRole("group", { name: "Reading (IMAP)" });
  await imap.getByLabel("Server", { exact: true }).fill("127.0.0.1");
  await imap.getByLabel("Port", { exact: true }).fill("9");
  await imap.locator("select[name=\"mailbox[imap_security]\"]").selectOption("none");
  await imap.getByLabel("User name", { exact: true }).fill("support");
  await imap.getByLabel("Password", { exact: true }).fill("imap-password-never-shown");
  const smtp = add.getByRole("group", { name: "Sending (SMTP)" });
  await smtp.getByLabel("Server", { exact: true }).fill("127.0.0.1");
  await smtp.getByLabel("Port", { exact: true }).fill("9");
  await smtp.locator("select[name=\"mailbox[smtp_security]\"]").selectOption("none");
  await add.getByRole("button", { name: "Add mailbox" }).click();

  const card = page.getByRole("region", { name });
  await expect(card).toBeVisible();
  await expect(page.locator("body")).not.toContainText("imap-password-never-shown");
  await card.getByRole("button", { name: "Test connection" }).click();
  const result = card.getByRole("status").filter({ hasText: "IMAP" });
  await expect(result).toContainText(/cannot reach 127\.0\.0\.1:9 \(connection refused\)/i);
  await expect(result).toContainText(/SMTP ✗/);

  // The reader tries on its own and shows the error beside "never" synced.
  await expect(card).toContainText(/connection refused/i, { timeout: 20_000 });

  // An agent's reply: the email is replied at once, the message waits in the outbox
  // with the server's words until the server answers.
  await page.goto("/?status=new");
  await hydrated(page);
  await page.keyboard.press("r");
  await expect(page).toHaveURL(/\/emails\/\d+\?reply=1$/);
  const draft = page.getByLabel("Reply text");
  await draft.fill("Thank you, we are on it.");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await expect(page.getByText(/Reply queued/)).toBeVisible();
  const sent = page.getByRole("list", { name: "Sent replies" });
  await expect(sent).toContainText("queued");
  await expect(sent).toContainText(/cannot reach 127\.0\.0\.1:9/, { timeout: 20_000 });
  await page.reload();
  await expect(page.locator(".email-meta .status")).toHaveText("replied");
});
