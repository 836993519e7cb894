/**
 * small-cases.test.ts — issue 15's smaller findings, each on the real parts:
 * lone surrogates in a JSON body, a token file no client can present, and a
 * deleted token made again in silence.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureToken, TokenRefused, TOKEN_FILE } from "../src/server/auth.ts";
import { tempDir } from "../tools/reliability/service.ts";
import { openFixture, type Fixture } from "./server-fixture.ts";

let fx: Fixture;
beforeAll(async () => (fx = await openFixture("small-cases")));
afterAll(() => fx.close());
const root = tempDir("small");
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("a lone surrogate in a JSON body is a 400, never stored as U+FFFD", async () => {
  const before = fx.session.memory.messages.count();
  for (const content of ['"\\ud800 alone"', '"pair \\ud83d\\ude00 then \\udc00"']) {
    const res = await fx.request("/api/chat", {
      method: "POST", headers: { "content-type": "application/json" },
      body: `{"messages":[{"role":"user","content":${content}}],"stream":false}`,
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/lone surrogate/);
  }
  // a proper pair is text
  const ok = await fx.request("/api/chat", {
    method: "POST", headers: { "content-type": "application/json" },
    body: '{"messages":[{"role":"user","content":"a smile \\ud83d\\ude00"}],"stream":false,"options":{"num_predict":4}}',
  });
  expect(ok.status).toBe(200);
  expect(fx.session.memory.messages.count()).toBe(before + 2);
  expect(fx.session.memory.messages.recent(2)[1]!.text).toBe("a smile \u{1F600}");
}, 30_000);

test("a token file with whitespace inside is refused, not trimmed into a token nobody has", () => {
  const home = join(root, "spaces");
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, TOKEN_FILE), "0123456789abcdef 0123456789abcdef\n", { mode: 0o600 });
  expect(() => ensureToken(home)).toThrow(TokenRefused);
  expect(() => ensureToken(home)).toThrow(/whitespace inside its token/);
});

test("a token deleted from a home that holds a conversation is made again with a warning; a first start is quiet", () => {
  const home = join(root, "deleted");
  const warnings: string[] = [];
  const first = ensureToken(home, { warn: (l) => warnings.push(l) });
  expect(warnings).toEqual([]);
  writeFileSync(join(home, "resonance.sqlite3"), "");
  rmSync(join(home, TOKEN_FILE));
  const second = ensureToken(home, { warn: (l) => warnings.push(l) });
  expect(second).not.toBe(first);
  expect(warnings.length).toBe(1);
  expect(warnings[0]).toMatch(/api-token was missing: a new token was written there; every LAN client needs the new one/);
});

test("one over-long word keeps its tail in the prompt instead of emptying the user's turn", async () => {
  const r = await fx.session.turn(`${"abcdefghij".repeat(600)}END`, { sampling: { maxTokens: 4 } });
  expect(r.context.userTruncated).toBe(true);
  // the prompt is the word's tail filling the budget, not just BOS and the generation prefix
  expect(r.context.promptTokens).toBeGreaterThan(r.context.budget / 2);
  expect(r.context.promptTokens).toBeLessThanOrEqual(r.context.budget);
}, 30_000);

test("top_p 0 is refused by the schema with what to do, not by the engine", async () => {
  for (const [path, body] of [
    ["/api/chat", { messages: [{ role: "user", content: "hi" }], stream: false, options: { top_p: 0 } }],
    ["/v1/chat/completions", { messages: [{ role: "user", content: "hi" }], top_p: 0 }],
  ] as const) {
    const res = await fx.post(path, body);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/top_p must be greater than 0/);
  }
}, 30_000);
