/**
 * cors.test.ts — a browser front-end on another origin: loopback origins and
 * those configured (ARIANNA_ORIGINS) may read the API, others may not, and
 * CORS never replaces the token: a configured LAN origin still needs it.
 */
import { beforeAll, expect, test } from "bun:test";
import { loadRuntimeConfig } from "../src/config/runtime.ts";
import { fixtureForTests } from "./server-fixture.ts";

const f = fixtureForTests("cors", { server: { origins: loadRuntimeConfig({ ARIANNA_ORIGINS: "http://studio.lan:3000, https://*.example.org" }).origins } });
let url: string;
beforeAll(() => {
  url = f.listen().url;
});

const preflight = (origin: string) =>
  fetch(`${url}/api/chat`, {
    method: "OPTIONS",
    headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, x-stainless-os" },
  });

test("a preflight from a configured or loopback origin is allowed, with the headers it asked for; others get no grant", async () => {
  for (const origin of ["http://studio.lan:3000", "https://chat.example.org", "http://localhost:5173", "http://127.0.0.1"]) {
    const res = await preflight(origin);
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(origin);
    expect(res.headers.get("access-control-allow-headers")).toContain("authorization");
    expect(res.headers.get("access-control-allow-methods")).toContain("POST");
  }
  for (const origin of ["http://evil.example.com", "http://studio.lan:3001", "https://example.org.evil.com"]) {
    expect((await preflight(origin)).headers.get("access-control-allow-origin")).toBeNull();
  }
});

test("the token rule stands: a configured origin without the token gets a readable 401, with it the answer", async () => {
  const origin = "http://studio.lan:3000";
  const denied = await fetch(`${url}/api/tags`, { headers: { origin } });
  expect(denied.status).toBe(401);
  expect(denied.headers.get("access-control-allow-origin")).toBe(origin);
  const ok = await fetch(`${url}/v1/models`, { headers: { origin, authorization: `Bearer ${f.token}` } });
  expect(ok.status).toBe(200);
  expect(ok.headers.get("access-control-allow-origin")).toBe(origin);
  const chat = await fetch(`${url}/api/chat`, {
    method: "POST", headers: { origin, authorization: `Bearer ${f.token}` },
    body: JSON.stringify({ model: "arianna:stateless", messages: [{ role: "user", content: "hi" }], options: { num_predict: 2, mirostat: 1 } }),
  });
  expect(chat.headers.get("access-control-allow-origin")).toBe(origin);
  expect(chat.headers.get("access-control-expose-headers")).toContain("X-Arianna-Ignored");
  await chat.text();
  const openaiDenied = await fetch(`${url}/v1/models`, { headers: { origin } });
  expect(openaiDenied.status).toBe(401);
  expect((await openaiDenied.json()).error.type).toBe("authentication_error");
});
