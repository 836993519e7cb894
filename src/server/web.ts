/**
 * web.ts — serves the page in src/web as it is (no build step). The files
 * are public: they hold no data, and the page asks for the token itself
 * when the API answers 401.
 */
import { Hono } from "hono";
import { join, resolve } from "node:path";

const WEB_DIR = resolve(import.meta.dir, "..", "web");

const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

export function webRoutes(): Hono {
  const app = new Hono();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    app.get(path, async (c) => {
      c.header("Content-Type", type);
      c.header("Cache-Control", "no-cache");
      c.header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'");
      return c.body(await Bun.file(join(WEB_DIR, file)).arrayBuffer());
    });
  }
  return app;
}
