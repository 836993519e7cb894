/**
 * service-for-tests.ts — the real service (`bun src/main.ts`, tools/reliability/service.ts) for the
 * tests of one describe block: started in its beforeAll, stopped in its afterAll.
 */
import { afterAll, beforeAll } from "bun:test";
import { startService, type Service } from "../../tools/reliability/service.ts";

/**
 * `home()` is read when the block starts (the file's own beforeAll makes the home). The object returned
 * is filled in then; a test that starts the service again assigns the new one into it
 * (`Object.assign(svc, await startService(home))`) so that afterAll stops that one with `stop`.
 */
export function serviceForTests(home: () => string, options: { env?: Record<string, string>; stop: NodeJS.Signals }): Service {
  const svc = {} as Service;
  beforeAll(async () => {
    Object.assign(svc, await startService(home(), { env: options.env }));
  }, 60_000);
  afterAll(() => svc.kill?.(options.stop));
  return svc;
}
