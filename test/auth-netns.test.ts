/**
 * auth-netns.test.ts — the token rule from a real non-loopback address. The
 * test makes its own network namespace joined to the root one by a veth
 * pair; the server listens on the root side's address and the client runs
 * inside the namespace (ip netns exec). Needs root and iproute2; skipped
 * (with a note) where the sandbox cannot make namespaces.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { openFixture, type Fixture } from "./server-fixture.ts";

const tag = (process.pid % 10_000).toString();
const NS = `ia-auth-${tag}`;
const HOST_IF = `iah${tag}`;
const NS_IF = `ian${tag}`;
const octet = (process.pid % 200) + 20;
const HOST_ADDR = `10.231.${octet}.1`;
const NS_ADDR = `10.231.${octet}.2`;

const sh = (...cmd: string[]) => Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });

function makeNamespace(): boolean {
  if (process.getuid?.() !== 0 || !Bun.which("ip") || !Bun.which("curl")) return false;
  const steps = [
    ["ip", "netns", "add", NS],
    ["ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF],
    ["ip", "link", "set", NS_IF, "netns", NS],
    ["ip", "addr", "add", `${HOST_ADDR}/30`, "dev", HOST_IF],
    ["ip", "link", "set", HOST_IF, "up"],
    ["ip", "netns", "exec", NS, "ip", "addr", "add", `${NS_ADDR}/30`, "dev", NS_IF],
    ["ip", "netns", "exec", NS, "ip", "link", "set", NS_IF, "up"],
    ["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"],
  ];
  return steps.every((s) => sh(...s).exitCode === 0);
}

function removeNamespace(): void {
  sh("ip", "link", "del", HOST_IF);
  sh("ip", "netns", "del", NS);
}

const ready = makeNamespace();
if (!ready) {
  removeNamespace();
  console.warn("auth-netns: cannot make a network namespace here (needs root, ip, curl); skipping");
}

let f: Fixture;
let url: string;
beforeAll(async () => {
  if (!ready) return;
  f = await openFixture("auth-netns");
  url = f.listen(HOST_ADDR).url;
});
afterAll(async () => {
  if (ready) await f.close();
  removeNamespace();
});

/** curl from inside the namespace: the server sees NS_ADDR as the client (async: the server runs in this process). */
async function curlFromNamespace(path: string, token?: string): Promise<{ status: number; body: string }> {
  const args = ["ip", "netns", "exec", NS, "curl", "-s", "-m", "10", "-w", "\n%{http_code}", url + path];
  if (token) args.push("-H", `Authorization: Bearer ${token}`);
  const out = await new Response(Bun.spawn(args, { stdout: "pipe" }).stdout).text();
  const nl = out.lastIndexOf("\n");
  return { status: Number(out.slice(nl + 1)), body: out.slice(0, nl) };
}

test.skipIf(!ready)("from another address: no token 401, a wrong one 401, the right one 200", async () => {
  for (const path of ["/health", "/api/status", "/metrics", "/v1/models", "/api/export"]) {
    const none = await curlFromNamespace(path);
    expect(none.status).toBe(401);
    const error = JSON.parse(none.body).error; // Ollama-style routes: a string; /v1: OpenAI's { message, type, ... }
    expect(typeof error === "string" ? error : error.message).toContain("token");
    expect(none.body).not.toContain(f.token);
    expect((await curlFromNamespace(path, "0".repeat(64))).status).toBe(401);
    expect((await curlFromNamespace(path, f.token)).status).toBe(200);
  }
  // the page itself loads anywhere: it holds no data and asks for the token
  expect((await curlFromNamespace("/")).status).toBe(200);
});

test.skipIf(!ready)("the same server trusts a loopback client", async () => {
  const local = f.listen("127.0.0.1");
  expect((await fetch(`${local.url}/api/status`)).status).toBe(200);
  // the root side's own veth address is not loopback: it needs the token too
  expect((await fetch(`${url}/api/status`)).status).toBe(401);
});
