import { test, expect, signIn } from "./helpers";

/** `YYYY-MM-DD HH:MM` of an instant in a zone, as Triage writes it. */
function inZone(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat("sv-SE", {
    timeZone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
  }).format(new Date(iso));
}

test.describe("in New York", () => {
  test.use({ timezoneId: "America/New_York" });

  test("times are in the browser's zone, named once, with ages in the queue and the full time on hover", async ({ page }) => {
    // The sign-in page tells the server the browser's zone; the pages after it come in it.
    await signIn(page, "alex", "triage-agent");
    await expect(page).toHaveURL(/\/$/);
    await expect(page.locator(".zone-note")).toHaveText("America/New_York");
    await expect(page.locator("html")).toHaveAttribute("data-tz", "America/New_York");

    const when = page.locator("table.queue tbody tr td.when time").first();
    const instant = (await when.getAttribute("datetime"))!;
    await expect(when).toHaveText(/^(now|\d+ min|\d+ h|\d+ d|\d{4}-\d{2}-\d{2})$/);
    await expect(when).toHaveAttribute("title", `${inZone(instant, "America/New_York")} America/New_York`);

    // The email's page shows the full time in the zone, not in UTC.
    await page.locator("table.queue tbody tr a").first().click();
    await expect(page).toHaveURL(/\/emails\/\d+$/);
    const received = page.locator("dd time").first();
    const at = (await received.getAttribute("datetime"))!;
    await expect(received).toHaveText(inZone(at, "America/New_York"));
    expect(inZone(at, "America/New_York")).not.toBe(inZone(at, "UTC"));
  });
});

test("a zone the server does not know is not guessed at: the page says UTC", async ({ page, baseURL }) => {
  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);
  await page.context().addCookies([{ name: "triage_tz", value: "Nowhere/Atlantis", url: baseURL! }]);
  // Read as sent, before any script could tell the server the browser's real zone.
  const html = await (await page.request.get("/")).text();
  expect(html).toContain('data-tz="UTC"');
  expect(html).toMatch(/class="zone-note"[^>]*>UTC</);
});
