/**
 * web.ts — serves the page in src/web as it is (no build step). The files
 * are public: they hold no data, and the page asks for the token itself
 * when the API answers 401. `/` gives the page to browsers and Ollama's
 * banner to everyone else.
 */
import { Hono } from "hono";
import { join, resolve } from "node:path";

const WEB_DIR = resolve(import.meta.dir, "..", "web");

const FILES: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/style.css": { file: "style.css", type: "text/css; charset=utf-8" },
};

/** What Ollama answers on / (tools probe for it to find a server). */
export const OLLAMA_BANNER = "Ollama is running";

export function webRoutes(): Hono {
  const app = new Hono();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    app.get(path, async (c) => {
      // a browser asks for text/html; API clients and probes get Ollama's banner
      if (path === "/" && !c.req.header("accept")?.includes("text/html")) return c.text(OLLAMA_BANNER);
      c.header("Content-Type", type);
      c.header("Cache-Control", "no-cache");
      c.header("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'");
      return c.body(await Bun.file(join(WEB_DIR, file)).arrayBuffer());
    });
  }
  return app;
}
