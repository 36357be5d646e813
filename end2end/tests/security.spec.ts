import { Page } from "@playwright/test";
import { test, expect, hydrated, ownEmails, signIn } from "./helpers";

// Hardening (issue 32): the headers every page carries, and hostile HTML mail that
// must neither load anything nor run anything when an agent reads it in Chromium.

/** Tracking pixels in every form a browser would still fetch, and script in every
 * place it has been known to hide. Every address points at tracker.invalid, which the
 * test watches. */
const HOSTILE_HTML = [
  // First: the unclosed <style> below swallows what follows it, as HTML parsing does.
  `<p>The visible part of a hostile newsletter.</p>`,
  `<img src="https://tracker.invalid/plain.gif" alt="pixel">`,
  `<img src="HTTPS://tracker.invalid/upper.gif">`,
  `<img src="   https://tracker.invalid/spaces.gif">`,
  `<img src="//tracker.invalid/protocol-relative.gif">`,
  `<img src="\\\\tracker.invalid/backslashes.gif">`,
  `<img src="/\\tracker.invalid/slash-backslash.gif">`,
  `<img srcset="https://tracker.invalid/srcset.gif 1x">`,
  `<table background="https://tracker.invalid/background.gif"><tr><td>cell</td></tr></table>`,
  `<p style="background-image:url('https://tracker.invalid/css-url.gif')">styled</p>`,
  `<style>@import url("https://tracker.invalid/import.css"); p { background: url(https://tracker.invalid/style.gif) }</style>`,
  `<link rel="stylesheet" href="https://tracker.invalid/link.css">`,
  `<meta http-equiv="refresh" content="0;url=https://tracker.invalid/refresh">`,
  `<svg width="10" height="10"><image href="https://tracker.invalid/svg.gif"/></svg>`,
  `<video poster="https://tracker.invalid/poster.gif"></video>`,
  `<iframe src="https://tracker.invalid/frame"></iframe>`,
  `<object data="https://tracker.invalid/object"></object>`,
  `<script>console.log("pwned: script")</script>`,
  `<img src="x" onerror="console.log('pwned: onerror')">`,
  `<body onload="console.log('pwned: onload')">`,
  `<a href="javascript:console.log('pwned: link')">a link</a>`,
  `<img src="data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' onload='console.log(&quot;pwned: svg&quot;)'/>">`,
  `<svg><script>console.log("pwned: svg script")</script></svg>`,
  `<math><mtext><table><mglyph><style><img src=x onerror="console.log('pwned: mxss')">`,
  `<div <img src=x onerror="console.log('pwned: malformed')">>broken</div>`,
].join("\n");

/** Every request the page makes to another host, answered here (never sent), and
 * every console line that says a script ran. */
async function watch(page: Page) {
  const foreign: string[] = [];
  const ran: string[] = [];
  await page.context().route(
    (url) => url.hostname !== "127.0.0.1",
    async (route) => {
      foreign.push(route.request().url());
      await route.fulfill({ status: 200, contentType: "image/gif", body: Buffer.from("R0lGODlhAQABAAAAACw=", "base64") });
    },
  );
  page.on("console", (m) => {
    if (m.text().includes("pwned")) ran.push(m.text());
  });
  page.on("dialog", (d) => {
    ran.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return { foreign, ran };
}

test("every page and API answer carries the security headers", async ({ page }) => {
  const login = await page.request.get("/login");
  const csp = login.headers()["content-security-policy"];
  expect(csp).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}'/);
  expect(csp).not.toContain("unsafe-inline' 'wasm");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(login.headers()["x-frame-options"]).toBe("DENY");
  expect(login.headers()["x-content-type-options"]).toBe("nosniff");
  expect(login.headers()["referrer-policy"]).toBe("same-origin");
  // A fresh nonce for every answer.
  const again = (await page.request.get("/login")).headers()["content-security-policy"];
  expect(again).not.toBe(csp);
  const api = await page.request.get("/api/v1/categories");
  expect(api.headers()["content-security-policy"]).toContain("script-src 'none'");
  expect(api.headers()["x-content-type-options"]).toBe("nosniff");
});

test("hostile HTML mail loads nothing and runs nothing until images are asked for", async ({ page }) => {
  const { ids } = await ownEmails(page.request, [
    { subject: "Newsletter with trackers", body: "A newsletter; its HTML version is hostile.", html: HOSTILE_HTML },
  ]);
  const { foreign, ran } = await watch(page);
  await signIn(page, "alex", "triage-agent");
  await expect(page).toHaveURL(/\/$/);

  // The mail's document arrives in its frame. (Playwright cannot look inside a
  // frame sandboxed without scripts, so the test reads the document as it arrived.)
  const frameDocument = page.waitForResponse((r) => r.url().endsWith(`/emails/${ids[0]}/html`));
  await page.goto(`/emails/${ids[0]}?html=1`);
  const served = await (await frameDocument).text();
  expect(served).toContain("The visible part of a hostile newsletter.");
  expect(served).toContain("a link");
  expect(served).not.toContain("tracker.invalid");
  await expect(page.getByText(/remote images blocked/)).toBeVisible();
  // The frame is sandboxed: no scripts, an origin of its own.
  await expect(page.locator("iframe.email-html")).toHaveAttribute("sandbox", "allow-popups allow-popups-to-escape-sandbox");
  // Give late loads (lazy images, refresh) time to happen before judging.
  await page.waitForTimeout(1500);
  expect(ran, "scripts that ran").toEqual([]);
  expect(foreign, "requests to other hosts").toEqual([]);

  // Asked for, the plain remote image loads (so the watch above can see a load), and
  // still nothing else does.
  await page.getByRole("link", { name: "Load them" }).click();
  await expect.poll(() => foreign).toContain("https://tracker.invalid/plain.gif");
  await page.waitForTimeout(1000);
  expect(ran, "scripts that ran").toEqual([]);
  expect(foreign.filter((u) => !/\/(plain|upper|spaces)\.gif$/.test(u)), "other loads").toEqual([]);
});

test("a person invited with a one-time password chooses their own before anything else", async ({ page, browser }) => {
  await signIn(page, "admin", "triage-admin");
  await page.goto("/admin");
  await hydrated(page);
  const people = page.getByRole("region", { name: "People" });
  const name = `robin${Date.now() % 100000}`;
  await people.getByLabel("User name").fill(name);
  await people.getByRole("button", { name: "Add" }).click();
  const shown = people.getByRole("status").filter({ hasText: `Added ${name} as agent` });
  await expect(shown).toContainText(/shown only now: \S{16}/);
  const oneTime = (await shown.textContent())!.match(/shown only now: (\S{16})/)![1];

  const theirs = await (await browser.newContext()).newPage();
  await signIn(theirs, name, oneTime);
  await expect(theirs).toHaveURL(/\/account\?required=1$/);
  await expect(theirs.getByRole("alert")).toContainText("Choose your own to go on");
  // Nowhere else to go until then.
  await theirs.goto("/review");
  await expect(theirs).toHaveURL(/\/account\?required=1$/);
  await theirs.getByLabel("Current password").fill(oneTime);
  await theirs.getByLabel("New password (at least 8 characters)").fill("robin's own phrase");
  await theirs.getByLabel("New password again").fill("robin's own phrase");
  await theirs.getByRole("button", { name: "Change password" }).click();
  await expect(theirs.getByRole("status")).toContainText("Password changed");
  await theirs.goto("/");
  await expect(theirs.getByRole("heading", { name: /Queue/, level: 1 })).toBeVisible();
  // The one-time password is spent.
  const again = await (await browser.newContext()).newPage();
  await signIn(again, name, oneTime);
  await expect(again.getByRole("alert")).toContainText("Wrong user name or password");
});
