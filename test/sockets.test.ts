/**
 * sockets.test.ts — unauthenticated sockets are not held (issue 15, case 11),
 * on the real service over raw TCP on loopback: a request refused for want of
 * the token is answered with `Connection: close` and its socket closed (idle
 * ones are closed after IDLE_TIMEOUT_S); a trusted client's socket is not;
 * HTTP/1.0 without Host is an ordinary 401, never a 500 with a stack.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync } from "node:fs";
import { connect } from "node:net";
import { IDLE_TIMEOUT_S } from "../src/server/auth.ts";
import { startService, tempDir, type Service } from "../tools/reliability/service.ts";

const home = tempDir("sockets");
let svc: Service;
let port: number;
beforeAll(async () => {
  svc = await startService(home);
  port = Number(new URL(svc.url).port);
});
afterAll(async () => {
  await svc.kill("SIGTERM");
  rmSync(home, { recursive: true, force: true });
});

/** Send `raw`, read until the server closes (or `waitMs` passes: then null); the answer and when it closed. */
function exchange(raw: string, waitMs: number): Promise<{ answer: string; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const socket = connect(port, "127.0.0.1");
    let answer = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ answer, closedAfterMs: null });
    }, waitMs);
    socket.on("data", (d) => (answer += d));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ answer, closedAfterMs: Date.now() - t0 });
    });
    socket.on("error", () => {});
    socket.write(raw);
  });
}

test("sockets refused for want of the token are closed at once; a trusted one is kept past the idle timeout", async () => {
  // a Host that is not loopback makes a loopback client an outsider (the DNS-rebinding rule)
  const outsiders = Array.from({ length: 40 }, () => exchange("GET /health HTTP/1.1\r\nHost: evil.example\r\n\r\n", 5_000));
  const trusted = exchange("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", (IDLE_TIMEOUT_S + 3) * 1000);
  for (const o of await Promise.all(outsiders)) {
    expect(o.answer).toMatch(/^HTTP\/1\.1 401 /);
    expect(o.answer).toMatch(/\r\nConnection: close\r\n/i);
    expect(o.closedAfterMs).not.toBeNull();
  }
  const t = await trusted;
  expect(t.answer).toMatch(/^HTTP\/1\.1 200 /);
  expect(t.closedAfterMs).toBeNull(); // still open after IDLE_TIMEOUT_S + 3 s
}, 30_000);

test("HTTP/1.0 without Host from loopback is an ordinary 401, not a 500", async () => {
  const before = svc.log.length;
  const r = await exchange("GET /health HTTP/1.0\r\n\r\n", 5_000);
  expect(r.answer).toMatch(/^HTTP\/1\.[01] 401 /);
  expect(r.answer).toContain('"error":"a bearer token is required');
  expect(svc.log.slice(before).filter((l) => /unexpected error|Invalid URL/.test(l))).toEqual([]);
}, 10_000);
