import AxeBuilder from "@axe-core/playwright";
import { Page } from "@playwright/test";
import { test, expect, signIn, hydrated } from "./helpers";

/** Every page a person opens (the admin sees them all), the first email's page too. */
const PAGES = ["/", "/review", "/analytics", "/templates", "/import", "/jobs", "/models", "/admin",
  "/admin/mailboxes", "/account"];

/** axe-core's serious and critical findings on the page as it stands (WCAG 2.1 A and AA
 * and axe's best practices), one line each: rule, what it says, where. */
async function seriousViolations(page: Page): Promise<string[]> {
  const results = await new AxeBuilder({ page })
    .withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"])
    .analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .flatMap((v) => v.nodes.slice(0, 3).map((n) => `${v.id}: ${v.help} at ${n.target.join(" ")}`));
}

for (const scheme of ["light", "dark"] as const) {
  test(`no serious accessibility violation on any page, ${scheme}`, async ({ page }) => {
    test.setTimeout(120_000);
    await page.emulateMedia({ colorScheme: scheme });
    const found: Record<string, string[]> = {};
    await page.goto("/login");
    found["/login"] = await seriousViolations(page);

    await signIn(page, "admin", "triage-admin");
    await expect(page).toHaveURL(/\/$/);
    const firstEmail = await page.locator("table.queue tbody tr a").first().getAttribute("href");
    for (const path of [...PAGES, firstEmail!]) {
      await page.goto(path);
      await hydrated(page);
      found[path] = await seriousViolations(page);
    }
    const failing = Object.fromEntries(Object.entries(found).filter(([, v]) => v.length > 0));
    expect(failing).toEqual({});
  });
}

test("the theme button switches light and dark, over the system's choice, and is remembered", async ({ page }) => {
  await page.emulateMedia({ colorScheme: "dark" });
  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);
  await hydrated(page);
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const toggle = page.locator("button.theme-toggle");
  const dark = "rgb(21, 23, 26)";
  const light = "rgb(247, 247, 245)";

  await expect(toggle).toHaveAccessibleName("Theme: auto");
  expect(await background()).toBe(dark);

  await toggle.click();
  await expect(toggle).toHaveAccessibleName("Theme: light");
  expect(await background()).toBe(light);

  // Remembered: the server renders the next page light from its first byte.
  await page.reload();
  await expect(page.locator("html")).toHaveAttribute("data-theme", "light");
  expect(await background()).toBe(light);

  await hydrated(page);
  await toggle.click();
  await expect(toggle).toHaveAccessibleName("Theme: dark");
  await page.emulateMedia({ colorScheme: "light" });
  expect(await background()).toBe(dark);

  await toggle.click();
  await expect(toggle).toHaveAccessibleName("Theme: auto");
  expect(await background()).toBe(light);
});
