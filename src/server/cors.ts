/**
 * cors.ts — lets a browser front-end on another origin read the API, as
 * OLLAMA_ORIGINS does for Ollama. Allowed: the loopback origins (any port),
 * and those in ARIANNA_ORIGINS (comma-separated; `*` in an entry matches any
 * characters, `*` alone any origin). CORS only decides what a browser may
 * read: the token rule (auth.ts) is unchanged, so a page from a LAN origin
 * still sends `Authorization: Bearer …`, and a preflight, which carries no
 * credentials, is answered before the token is asked for.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

const LOOPBACK_ORIGINS = ["http://localhost:*", "https://localhost:*", "http://127.0.0.1:*", "https://127.0.0.1:*", "http://[::1]:*", "https://[::1]:*"];


function matcher(pattern: string): (origin: string) => boolean {
  if (pattern === "*") return () => true;
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, "\\$&")).join(".*")}$`, "i");
  // "http://localhost:*" also covers the origin without a port
  const bare = pattern.endsWith(":*") ? matcher(pattern.slice(0, -2)) : () => false;
  return (origin) => re.test(origin) || bare(origin);
}

export function corsFor(origins: readonly string[]): MiddlewareHandler {
  const allowed = [...LOOPBACK_ORIGINS, ...origins].map(matcher);
  return cors({
    origin: (origin) => (origin && allowed.some((m) => m(origin)) ? origin : null),
    exposeHeaders: ["X-Arianna-Ignored", "X-Arianna-Stateless", "Retry-After"],
    maxAge: 600,
  });
}
