/**
 * web.test.ts — the page in headless Chromium (Debian's /usr/bin/chromium via
 * playwright-core): it loads history (highlights and each reply's metrics),
 * chats through the living session with a streamed reply, shows that she is
 * writing and stops a reply (a stand-in model that writes one sentence and
 * waits: what was shown is what is stored), plots the timeline (axes, the
 * trauma level band and its marks, values on hover) and shows model, themes
 * and reloads; on a phone-sized screen too; and a wrong token gets told.
 * Screenshots go to ARIANNA_SCREENSHOTS (default: the temp dir). Skipped, with
 * a note, where Chromium is not installed.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFixture, type Fixture } from "./server-fixture.ts";
import { holdingModel } from "./support/holding-model.ts";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
if (!available) console.warn(`web: no Chromium at ${CHROMIUM} (apt-get install chromium); skipping`);
const SHOTS = process.env.ARIANNA_SCREENSHOTS ?? join(tmpdir(), "arianna-screenshots");

/** While `holding`, the model writes this sentence and waits until it is stopped; otherwise it is the real engine. */
let holding: string | null = null;

/** Requests count as coming from off the device while this is set (the token is asked for). */
let offDevice = false;

let f: Fixture;
let url: string;
let profile: string;
let context: import("playwright-core").BrowserContext;

beforeAll(async () => {
  if (!available) return;
  f = await openFixture("web", { wrap: (engine) => holdingModel(engine, () => holding), server: { clientAddress: () => (offDevice ? "192.0.2.7" : "127.0.0.1") } });
  url = f.listen().url;
  await f.session.turn("a first message from yesterday");
  // a reply with highlights, as leo stores them (the tiny kernel's own replies rarely have any)
  const memory = f.session.memory;
  memory.messages.append("user", "what does the sea keep?");
  const text = "The sea keeps the river and the wound.";
  const reply = memory.messages.append("arianna", text);
  const span = (word: string, kind: string): [number, number, string] => [text.indexOf(word), text.indexOf(word) + word.length, kind];
  const last = memory.metrics.recent(1)[0]!;
  memory.metrics.insert({ ...last, messageId: reply.id, ts: reply.ts, traumaLevel: 0.8, traumaScore: 0.9, wounded: true, highlights: [span("sea", "theme"), span("wound", "wound")] });
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

test.skipIf(!available)("chat through the page: history, a streamed reply, Stop, the timeline, themes, model and reloads", async () => {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.setViewportSize({ width: 1100, height: 760 });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  // the earlier turns are there to scroll back to, with highlights and each reply's metrics
  expect(await page.locator("#log li").count()).toBe(4);
  expect(await page.textContent("#log li.user")).toContain("a first message from yesterday");
  const remembered = page.locator("#log li.arianna").last();
  expect(await remembered.locator("mark.theme").textContent()).toBe("sea");
  expect(await remembered.locator("mark.wound").textContent()).toBe("wound");
  expect(await remembered.locator(".text").textContent()).toBe("The sea keeps the river and the wound.");
  expect(await page.locator("#log li.arianna .meta").first().textContent()).toMatch(/presence \d\.\d\d · trauma \d\.\d\d · quality \d\.\d\d/);

  await page.fill("#prompt", "tell me about the sea and the river");
  await page.press("#prompt", "Enter");
  const reply = page.locator("#log li.arianna").last();
  await reply.locator(".meta").filter({ hasText: "presence" }).waitFor({ timeout: 20_000 });
  const stored = f.session.memory.messages.recent(1)[0];
  expect(stored.role).toBe("arianna");
  expect(await reply.locator(".text").textContent()).toBe(stored.text);
  expect(await page.isHidden("#writing")).toBe(true);

  // she writes one sentence and waits: the indicator and Stop show; Stop keeps what was shown
  holding = "I am listening to the water. ";
  try {
    await page.fill("#prompt", "wait for me");
    await page.press("#prompt", "Enter");
    const writing = page.locator("#log li.arianna").last();
    await writing.locator(".text").filter({ hasText: "I am listening to the water." }).waitFor({ timeout: 20_000 });
    expect(await page.isVisible("#writing")).toBe(true);
    expect(await page.isVisible("#stop")).toBe(true);
    expect(await page.isHidden("#send")).toBe(true);
    await page.screenshot({ path: join(SHOTS, "web-writing.png") });
    await page.click("#stop");
    await writing.locator(".meta").filter({ hasText: "stopped · what she wrote is kept" }).waitFor({ timeout: 10_000 });
    expect(await page.isVisible("#send")).toBe(true);
    expect(await page.isHidden("#writing")).toBe(true);
    const kept = f.session.memory.messages.recent(2).reverse().map((m) => [m.role, m.text]);
    expect(kept).toEqual([["user", "wait for me"], ["arianna", "I am listening to the water."]]);
  } finally {
    holding = null;
  }

  // the timeline: every turn on each series, value axis, time axis, the trauma level band and its marks
  const turns = (await (await f.request("/api/metrics?limit=60")).json()).turns.length;
  await page.waitForFunction(`document.querySelector("#timeline polyline.pulse")?.getAttribute("points").split(" ").length === ${turns}`);
  expect(await page.locator("#timeline polyline").count()).toBe(4);
  expect(await page.locator("#timeline text.tick").allTextContents()).toEqual(expect.arrayContaining(["0", "0.5", "1", `${turns} turns`, "cools", "wounded"]));
  expect(await page.locator("#timeline polygon.level").count()).toBe(1);
  expect(await page.locator("#timeline line.threshold").count()).toBe(2);
  // hovering the plot shows the values of the nearest turn (the last one, at the right edge)
  const box = (await page.locator("#timeline").boundingBox())!;
  await page.mouse.move(box.x + box.width - 12, box.y + box.height / 2);
  await page.locator("#timeline-tip").waitFor({ state: "visible" });
  const tip = await page.textContent("#timeline-tip");
  expect(tip).toContain(`turn ${turns} of ${turns}`);
  expect(tip).toMatch(/presence\d\.\d\d/);
  expect(tip).toContain("trauma level");
  expect(await page.textContent("#model")).toContain("test-kernel");
  expect(await page.textContent("#reloads")).toContain("watch");
  expect(await page.locator("label[for=prompt]").count()).toBe(1);
  await page.screenshot({ path: join(SHOTS, "web-desktop.png"), fullPage: true });
  await page.mouse.move(0, 0);
  await page.locator("#timeline-tip").waitFor({ state: "hidden" });
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

test.skipIf(!available)("off the device the page asks for the token, and says so when one is wrong", async () => {
  offDevice = true;
  try {
    const page = await context.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(url);
    await page.locator("#auth").waitFor({ state: "visible" });
    expect(await page.isHidden("#auth-error")).toBe(true); // the first ask is no reproach
    await page.fill("#token", "not-the-token");
    await page.press("#token", "Enter");
    await page.locator("#auth-error").waitFor({ state: "visible" });
    expect(await page.textContent("#auth-error")).toContain("did not accept that token");
    expect(await page.inputValue("#token")).toBe("");
    await page.screenshot({ path: join(SHOTS, "web-bad-token.png") });
    await page.fill("#token", f.token);
    await page.press("#token", "Enter");
    await page.waitForSelector("body[data-ready=true]");
    expect(await page.isHidden("#auth")).toBe(true);
    expect(await page.locator("#log li").count()).toBeGreaterThan(0);
  } finally {
    offDevice = false;
  }
}, 60_000);
