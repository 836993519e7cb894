/**
 * auth.ts — the LAN rule: loopback clients are trusted, every other client
 * presents the device's bearer token. The token is made once, at first start,
 * into ARIANNA_HOME/api-token (mode 0600), and is never logged.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { timingSafeEqual } from "node:crypto";
import { join } from "node:path";
import type { MiddlewareHandler } from "hono";

export const TOKEN_FILE = "api-token";

/** The token file cannot be used; the message names it and says what to do. */
export class TokenRefused extends Error {}

/**
 * Read the token, creating it (32 random bytes, hex) on first start. A token
 * no client could present (whitespace inside, too short) is refused, not
 * trimmed into something else; a token missing from a home that already holds
 * a conversation is made again with a warning, since every LAN client that
 * knew the old one is now locked out.
 */
export function ensureToken(home: string, opts: { warn?: (line: string) => void } = {}): string {
  const path = join(home, TOKEN_FILE);
  if (!existsSync(path)) {
    if (existsSync(join(home, "resonance.sqlite3")))
      opts.warn?.(`${path} was missing: a new token was written there; every LAN client needs the new one`);
    mkdirSync(home, { recursive: true });
    const token = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex");
    // "wx": never overwrite a token another process wrote meanwhile
    try {
      writeFileSync(path, token + "\n", { mode: 0o600, flag: "wx" });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
  }
  chmodSync(path, 0o600);
  const token = readFileSync(path, "utf8").trim();
  if (/\s/.test(token))
    throw new TokenRefused(`${path} has whitespace inside its token, which no client can send: write the token on one line, or delete the file to make a new one`);
  if (token.length < 16) throw new TokenRefused(`${path} holds no usable token (fewer than 16 characters): delete it to make a new one`);
  return token;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms; anything unknown is not loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** Constant-time comparison of a presented token with the device's (lengths are not secret). */
export function tokenMatches(presented: string, token: string): boolean {
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A Host or Origin host naming this machine's loopback: localhost, 127.x.y.z, [::1] (port optional). */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const h = host.toLowerCase().replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || isLoopback(h);
}

/** The host of a request URL; none when it cannot be parsed (an HTTP/1.0 request without Host). */
function urlHost(url: string): string | undefined {
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}

/**
 * Whether a loopback connection may go without the token. A browser on the
 * device is also a loopback client, so a page from anywhere could post to us
 * (cross-site requests) or read us through DNS rebinding (a foreign Host):
 * the exemption holds only for a loopback Host and a request that is not
 * cross-site.
 */
function trustedLoopback(address: string | undefined, url: string, header: (name: string) => string | undefined): boolean {
  // A server request's URL is built from its Host header; an in-process request may have none.
  if (!isLoopback(address) || !isLoopbackHost(header("host") ?? urlHost(url))) return false;
  if (header("sec-fetch-site") === "cross-site") return false;
  const origin = header("origin");
  if (origin === undefined) return true;
  try {
    return isLoopbackHost(new URL(origin).host);
  } catch {
    return false; // "null" and other opaque origins
  }
}

/**
 * Seconds a socket may sit idle (no request, or between requests) before the
 * server closes it: Bun.serve's idleTimeout. A LAN client without the token
 * could otherwise hold sockets forever (300 of them at a 256-fd limit cut
 * loopback off). A request that passes the rule lifts it for its socket
 * (trust), so a streamed reply waiting in the queue is never cut.
 */
export const IDLE_TIMEOUT_S = 10;

/** The Bun server a request came through (Hono's env under Bun.serve), when there is one. */
type Timeouts = { timeout?(request: Request, seconds: number): void };

/** Middleware: trusted loopback passes; everyone else needs `Authorization: Bearer <token>`. */
export function requireToken(token: string, clientAddress: (c: Parameters<MiddlewareHandler>[0]) => string | undefined): MiddlewareHandler {
  const trust = (c: Parameters<MiddlewareHandler>[0]) => (c.env as Timeouts | undefined)?.timeout?.(c.req.raw, 0);
  return async (c, next) => {
    if (trustedLoopback(clientAddress(c), c.req.url, (name) => c.req.header(name))) {
      trust(c);
      return next();
    }
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
    if (presented && tokenMatches(presented, token)) {
      trust(c);
      return next();
    }
    c.header("Connection", "close"); // an unauthenticated client keeps no socket
    c.header("WWW-Authenticate", 'Bearer realm="arianna"');
    return c.json({ error: "a bearer token is required from this address (see ARIANNA_HOME/api-token)" }, 401);
  };
}
