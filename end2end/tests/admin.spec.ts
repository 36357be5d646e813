import { test, expect, signIn } from "./helpers";

// Administration (issue 7): people, tokens and the audit log.

test("an admin adds a person, creates a token shown once, revokes it, and finds both in the audit log", async ({ page }) => {
  await signIn(page, "admin", "triage-admin");
  await page.goto("/admin");
  await expect(page.getByRole("heading", { name: "Admin", level: 1 })).toBeVisible();
  await page.locator("body[data-hydrated=true]").waitFor();

  // A new person gets a one-time password, shown once.
  const people = page.getByRole("region", { name: "People" });
  await people.getByLabel("User name").fill("casey");
  await people.getByLabel("Name", { exact: true }).fill("Casey Agent");
  await people.getByRole("button", { name: "Add" }).click();
  await expect(people.getByRole("status").filter({ hasText: "Added casey as agent" })).toContainText(/password, shown only now: \S{16}/);
  await expect(page.getByRole("table", { name: "People" }).locator('tr[data-user="casey"]')).toContainText("Casey Agent");

  // A token: its secret once, then only its prefix; revoked, it says so.
  const tokens = page.getByRole("region", { name: "API tokens" });
  await tokens.getByLabel("Name").fill("e2e gateway");
  await tokens.getByRole("button", { name: "Create token" }).click();
  const created = tokens.getByRole("status").filter({ hasText: "Token created" });
  await expect(created).toContainText(/trg_\S+/);
  const row = page.getByRole("table", { name: "API tokens" }).locator("tbody tr").filter({ hasText: "e2e gateway" });
  await expect(row).toContainText("never");
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(page.getByRole("table", { name: "API tokens" }).locator("tbody tr").filter({ hasText: "e2e gateway" })).toContainText("revoked");

  // The audit log, filtered by family and person, in the URL.
  await page.goto("/admin?action=token&actor=admin");
  const log = page.getByRole("table", { name: "Audit log" });
  await expect(log.locator("tbody tr").first()).toContainText("token.revoke");
  await expect(log).toContainText("token.create");
  await expect(log).not.toContainText("user.create");
});
