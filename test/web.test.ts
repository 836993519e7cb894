/**
 * web.test.ts — the page in headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core): it loads history, chats through the living session with a
 * streamed reply, plots the timeline and shows model, themes and reloads; on a
 * phone-sized screen too. Screenshots go to ARIANNA_SCREENSHOTS (default: the
 * temp dir). Skipped, with a note, where Chromium is not installed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFixture, type Fixture } from "./server-fixture.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available) console.warn(`web: no Chromium at ${CHROMIUM} (apt-get install chromium); skipping`);
const SHOTS = process.env.ARIANNA_SCREENSHOTS ?? join(tmpdir(), "arianna-screenshots");

let f: Fixture;
let url: string;
let profile: string;
let context: import("playwright-core").BrowserContext;

beforeAll(async () => {
  if (!available) return;
  f = await openFixture("web");
  url = f.listen().url;
  await f.session.turn("a first message from yesterday");
  await f.registry.reload({ trigger: "watch" });
  const { chromium } = await import("playwright-core");
  profile = mkdtempSync(join(tmpdir(), "ia-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 60_000);

afterAll(async () => {
  if (!available) return;
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await f.close();
});

test.skipIf(!available)("chat through the page: streamed reply, history, timeline, themes, model and reloads", async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1100, height: 720 });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  // the earlier turn is there to scroll back to
  expect(await page.locator("#log li").count()).toBe(2);
  expect(await page.textContent("#log li.user")).toContain("a first message from yesterday");

  await page.fill("#prompt", "tell me about the sea and the river");
  await page.press("#prompt", "Enter");
  const reply = page.locator("#log li.arianna").last();
  await reply.locator(".meta").filter({ hasText: "presence" }).waitFor({ timeout: 20_000 });
  const stored = f.session.memory.messages.recent(1)[0];
  expect(stored.role).toBe("arianna");
  expect(await reply.locator(".text").textContent()).toBe(stored.text);

  await page.waitForFunction('document.querySelectorAll("#timeline polyline").length === 4');
  const points = await page.getAttribute("#timeline polyline.pulse", "points");
  expect(points!.split(" ").length).toBe(2);
  expect(await page.textContent("#model")).toContain("test-kernel");
  expect(await page.textContent("#reloads")).toContain("watch");
  expect(await page.locator("#prompt").getAttribute("id")).toBe("prompt");
  expect(await page.locator("label[for=prompt]").count()).toBe(1);
  await page.screenshot({ path: join(SHOTS, "web-desktop.png"), fullPage: true });
  expect(errors).toEqual([]);
}, 60_000);

test.skipIf(!available)("on a phone-sized screen the chat fits and still works", async () => {
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  await page.fill("#prompt", "hello again");
  await page.click("#send");
  await page.locator("#log li.arianna").last().locator(".meta").filter({ hasText: "presence" }).waitFor({ timeout: 20_000 });
  await page.screenshot({ path: join(SHOTS, "web-phone.png"), fullPage: true });
  const width = await page.evaluate<number>("document.documentElement.scrollWidth");
  expect(width).toBeLessThanOrEqual(390);
}, 60_000);
