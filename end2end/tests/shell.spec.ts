import { test, expect, signIn } from "./helpers";


test("an agent signs in, sees the queue, moves with j/k and signs out", async ({ page }) => {
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=/);

  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "Queue" })).toBeVisible();
  const rows = page.locator("table.queue tbody tr");
  await expect(rows).toHaveCount(50);

  // The navigation shows only what an agent may open.
  const nav = page.getByRole("navigation", { name: "Sections" });
  await expect(nav.getByRole("link", { name: "Queue" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Admin" })).toHaveCount(0);
  await expect(nav.getByRole("link", { name: "Analytics" })).toHaveCount(0);

  // A client-side interaction: only works once the page has hydrated.
  await page.locator("body[data-hydrated=true]").waitFor();
  await expect(rows.nth(0)).toHaveClass(/selected/);
  await page.keyboard.press("j");
  await page.keyboard.press("j");
  await expect(rows.nth(2)).toHaveClass(/selected/);
  await expect(rows.nth(0)).not.toHaveClass(/selected/);
  await page.keyboard.press("k");
  await expect(rows.nth(1)).toHaveAttribute("aria-selected", "true");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=/);
});

test("a wrong password gets the same message as an unknown user", async ({ page }) => {
  await signIn(page, "sam", "not-the-password");
  await expect(page.getByRole("alert")).toHaveText("Wrong user name or password.");
  await signIn(page, "nobody-here", "not-the-password");
  await expect(page.getByRole("alert")).toHaveText("Wrong user name or password.");
});

test("an agent is refused the admin page; an admin sees the users", async ({ page, browser }) => {
  await signIn(page, "alex", "triage-agent");
  const refused = await page.goto("/admin");
  expect(refused?.status()).toBe(403);

  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  await signIn(admin, "admin", "triage-admin");
  await admin.goto("/admin");
  await expect(admin.getByRole("table", { name: "People" }).getByRole("cell", { name: "alex", exact: true })).toBeVisible();
  await adminContext.close();
});

test("the queue filter lives in the URL and works without waiting for JavaScript", async ({ page }) => {
  await signIn(page, "alex", "triage-agent");
  await page.getByLabel("Category").selectOption("complaint");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/category=complaint/);
  const badges = page.locator("table.queue tbody .badge");
  await expect(badges.first()).toHaveText("complaint");
  for (const text of await badges.allTextContents()) expect(text).toBe("complaint");
});
