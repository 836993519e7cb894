// What leo gives the HTTP API (docs/leo.md §6.5, §6.6): each reply's highlights, stored with it and shown in
// /api/history; the external vocabulary ratio in the chat answer; the v2 figures in /api/metrics.
import { describe, expect, test } from "bun:test";
import { fixtureForTests } from "./server-fixture.ts";

const f = fixtureForTests("leo-http");

describe("leo over HTTP", () => {
  test("a chat answer carries the external ratio; the turn's highlights are stored and /api/history shows them", async () => {
    const r = await (await f.post("/api/chat", { messages: [{ role: "user", content: "tell me about the river" }], stream: false })).json();
    expect(typeof r.arianna.external_ratio).toBe("number");
    expect(r.arianna.external_ratio).toBeGreaterThanOrEqual(0);
    expect(r.arianna.external_ratio).toBeLessThanOrEqual(1);
    const stored = f.session.memory.metrics.forMessage(r.arianna.message_id)!;
    expect(stored.highlights).toEqual(r.arianna.highlights);

    // a reply whose record holds highlights (as a turn with wounded and theme words writes it)
    const { memory } = f.session;
    const reply = memory.atomically(() => {
      memory.messages.append("user", "the river and the lighthouse");
      const m = memory.messages.append("arianna", "The river remembers the lighthouse.");
      memory.metrics.insert({
        ...stored, messageId: m.id, ts: m.ts,
        highlights: [[4, 9, "wound"], [24, 34, "theme"]],
      });
      return m;
    });
    const history = await (await f.request("/api/history?limit=4")).json();
    const shown = history.messages.find((m: { id: number }) => m.id === reply.id);
    expect(shown.highlights).toEqual([[4, 9, "wound"], [24, 34, "theme"]]);
    expect(reply.text.slice(4, 9)).toBe("river");
    expect(history.messages.find((m: { role: string }) => m.role === "user").highlights).toBeUndefined();
    const turn = history.messages.find((m: { id: number }) => m.id === r.arianna.message_id);
    expect(turn.highlights).toEqual(r.arianna.highlights);
  });

  test("/api/metrics reports the v2 figures of each turn", async () => {
    const series = await (await f.request("/api/metrics?limit=50")).json();
    const last = series.turns.at(-1);
    for (const key of ["non_word_share", "stock_phrase_share"]) expect(typeof last[key]).toBe("number");
    expect(last.entropy_band).toHaveLength(2);
    expect(last.empty_rings).toBe(0);
  });
});
