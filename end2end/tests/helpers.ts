import { APIRequestContext, Page, expect, test as base } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";

/** Playwright's test, whose pages fail the test on any Content-Security-Policy
 * violation: the policy is on in every browser test, and whatever it blocks is a
 * bug (a script without the nonce, a style element, a fetch it does not allow). */
export const test = base.extend({
  page: async ({ page }, use) => {
    const violations: string[] = [];
    page.on("console", (message) => {
      const text = message.text();
      if (/Content Security Policy|Refused to (load|execute|apply|connect|frame|evaluate)/i.test(text)) violations.push(text);
    });
    await use(page);
    expect(violations, "Content-Security-Policy violations").toEqual([]);
  },
});
export { expect };

/** Signs in through the form, as a person would. */
export async function signIn(page: Page, username: string, password: string) {
  await page.goto("/login");
  await page.getByLabel("User name").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Waits until the page's scripts have taken over (keyboard shortcuts work). */
export async function hydrated(page: Page) {
  await page.locator("body[data-hydrated=true]").waitFor();
}

let token: string | undefined;

/** An API token with the agent role (it may also post mail), made once per worker
 * process with the command line, as an operator would. */
export function apiToken(): string {
  token ??= execFileSync(process.env.TRIAGE_BIN ?? "../target/debug/triage", ["token", "create", `e2e ${process.pid}`, "--role", "agent"], {
    env: { ...process.env, TRIAGE_DATA_DIR: process.env.TRIAGE_E2E_DATA_DIR, TRIAGE_LOG: "warn" },
  })
    .toString()
    .trim();
  return token;
}

export interface OwnEmail {
  subject: string;
  body: string;
  /** An HTML part besides the text. */
  html?: string;
  from?: string;
  /** A historical category, stored as an imported label. */
  category?: string;
}

/** Mail that belongs to one test: every email carries the same made-up word (`tag`),
 * so `/?q=<tag>` shows exactly this test's emails, whatever other tests and the demo
 * data do meanwhile. Waits until the model has scored each of them. */
export async function ownEmails(request: APIRequestContext, emails: OwnEmail[]): Promise<{ tag: string; ids: number[] }> {
  const tag = `e2e${randomBytes(6).toString("hex")}`;
  const headers = { Authorization: `Bearer ${apiToken()}` };
  const response = await request.post("/api/v1/emails", {
    headers,
    data: {
      emails: emails.map((e, i) => ({
        message_id: `<${tag}-${i}@e2e.example>`,
        from: e.from ?? "Nora Quinn <nora@shop.example>",
        subject: `${e.subject} (${tag})`,
        body: `${e.body}\n\nRef ${tag}`,
        ...(e.html ? { html: e.html } : {}),
        ...(e.category ? { category: e.category } : {}),
      })),
    },
  });
  expect(response.status(), await response.text()).toBeLessThan(300);
  const results: { status: string; id: number }[] = (await response.json()).results;
  expect(results.map((r) => r.status)).toEqual(emails.map(() => "created"));
  // Scored on arrival, in the background: wait for every prediction.
  await expect
    .poll(
      async () => {
        const list = await request.get(`/api/v1/emails?q=${tag}&limit=200`, { headers });
        const items: { confidence: number | null }[] = (await list.json()).items;
        return items.filter((i) => i.confidence !== null).length;
      },
      { timeout: 15_000 },
    )
    .toBe(emails.length);
  return { tag, ids: results.map((r) => r.id) };
}
