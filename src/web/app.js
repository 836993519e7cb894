// The web page: chat on the living session (streamed NDJSON from /api/chat, a
// Stop button, a "writing" indicator), scroll-back history with highlights and
// each reply's metrics, the timeline plot (axes, legend, values on hover or
// with the arrow keys, the trauma level as a band), themes, model and reloads.
// Plain browser JavaScript, served as is: the device has no build step.

const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "arianna-token";
const SERIES = [
  ["pulse", "presence_pulse"], ["trauma", "trauma"], ["novelty", "novelty"], ["arousal", "arousal"],
];
let oldestShown = null;

// A link like http://device:8080/#token=… stores the token and leaves the address bar clean.
const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromHash) {
  localStorage.setItem(TOKEN_KEY, fromHash);
  history.replaceState(null, "", location.pathname);
}

/** fetch with the stored token; on 401 ask for the token (saying so when the stored one was refused) and try again. */
async function api(path, init = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = { ...(init.headers || {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(path, { ...init, headers });
  if (res.status !== 401) return res;
  await askToken(token ? "The device did not accept that token. Copy it again from ARIANNA_HOME/api-token." : "");
  return api(path, init);
}

function askToken(problem) {
  const dialog = $("auth");
  $("auth-error").textContent = problem;
  $("auth-error").hidden = !problem;
  return new Promise((resolve) => {
    $("auth-form").addEventListener("submit", () => {
      localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      resolve();
    }, { once: true });
    if (!dialog.open) {
      $("token").value = "";
      dialog.showModal();
    }
  });
}

/** An error answer's message: Ollama-style {error: "..."} or OpenAI-style {error: {message}}. */
async function errorText(res) {
  try {
    const e = (await res.json()).error;
    return (typeof e === "string" ? e : e?.message) || res.statusText;
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}

/** The reply's text with leo's highlights ([start, end, kind] offsets) as <mark>s. */
function renderReply(el, text, highlights = []) {
  el.replaceChildren();
  let at = 0;
  for (const [start, end, kind] of [...highlights].sort((a, b) => a[0] - b[0])) {
    if (start < at) continue;
    el.append(text.slice(at, start));
    const mark = document.createElement("mark");
    mark.className = kind;
    mark.title = kind === "wound" ? "a wounded word" : "an active theme";
    mark.textContent = text.slice(start, end);
    el.append(mark);
    at = end;
  }
  el.append(text.slice(at));
}

function bubble(role, text, meta) {
  const li = document.createElement("li");
  li.className = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  li.append(body);
  if (meta) setMeta(li, meta);
  return li;
}

function setMeta(li, text) {
  let meta = li.querySelector(".meta");
  if (!meta) {
    meta = document.createElement("small");
    meta.className = "meta";
    li.append(meta);
  }
  meta.textContent = text;
}

const time = (ms) => new Date(ms).toLocaleString();
const scrollToEnd = () => { $("log").scrollTop = $("log").scrollHeight; };
let newestId = 0; // the newest message id seen: a stopped reply is looked up after it

/** What leo made of a turn, in one line. */
function readingLine({ pulse, trauma, quality, rate, candidates = 1, revised = false }) {
  return `presence ${pulse.toFixed(2)} · trauma ${trauma.toFixed(2)} · quality ${quality.toFixed(2)}` +
    (rate ? ` · ${rate.toFixed(0)} tok/s` : "") + (candidates > 1 ? ` · best of ${candidates}` : "") + (revised ? " · revised" : "");
}

const fromMetrics = (t) => ({ pulse: t.presence_pulse, trauma: t.trauma, quality: t.quality, rate: t.tokens_per_second, candidates: t.candidates });

function historyBubble(m) {
  if (m.role === "user") return bubble("user", m.text, time(m.ts));
  const li = bubble("arianna", m.text, m.metrics ? `${time(m.ts)} · ${readingLine(fromMetrics(m.metrics))}` : time(m.ts));
  renderReply(li.querySelector(".text"), m.text, m.highlights);
  return li;
}

async function loadHistory() {
  const query = new URLSearchParams({ limit: "30", ...(oldestShown ? { before: String(oldestShown) } : {}) });
  const res = await api(`/api/history?${query}`);
  if (!res.ok) return;
  const page = await res.json();
  const first = oldestShown === null;
  const log = $("log");
  const height = log.scrollHeight;
  for (const m of page.messages) log.prepend(historyBubble(m));
  if (page.messages.length) {
    oldestShown = page.messages.at(-1).id;
    newestId = Math.max(newestId, page.messages[0].id);
  }
  $("earlier").hidden = page.next_before === null;
  if (first) scrollToEnd();
  else log.scrollTop += log.scrollHeight - height; // keep the reader's place
}

/** Reads an NDJSON response line by line. */
async function* ndjson(res) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl).trim();
      buffer = buffer.slice(nl + 1);
      if (line) yield JSON.parse(line);
    }
  }
  if (buffer.trim()) yield JSON.parse(buffer);
}

let replying = null; // the AbortController of the reply being written

/** While she writes: the indicator shows and Stop replaces Send. */
function setWriting(controller) {
  replying = controller;
  $("writing").hidden = !controller;
  $("send").hidden = !!controller;
  $("stop").hidden = !controller;
}

/** After Stop: the session kept what it had streamed, or nothing; show what is stored. */
async function settleStopped(reply, body) {
  const res = await api("/api/history?limit=1");
  const [last] = res.ok ? (await res.json()).messages : [];
  if (last && last.role === "arianna" && last.id > newestId) {
    renderReply(body, last.text, last.highlights);
    setMeta(reply, "stopped · what she wrote is kept");
    newestId = last.id;
  } else {
    setMeta(reply, "stopped before she began · nothing was stored");
    reply.classList.add("empty");
  }
}

async function send(text) {
  const log = $("log");
  log.append(bubble("user", text, time(Date.now())));
  const reply = bubble("arianna", "");
  reply.classList.add("pending");
  reply.setAttribute("aria-busy", "true");
  log.append(reply);
  scrollToEnd();
  const body = reply.querySelector(".text");
  const controller = new AbortController();
  setWriting(controller);
  try {
    const res = await api("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: text }], stream: true }),
      signal: controller.signal,
    });
    if (!res.ok) throw new Error(await errorText(res));
    for await (const chunk of ndjson(res)) {
      if (chunk.error) throw new Error(chunk.error);
      if (chunk.arianna?.resampling) setMeta(reply, `re-sampling (candidate ${chunk.arianna.resampling + 1})…`);
      if (!chunk.done) {
        body.textContent += chunk.message.content;
        scrollToEnd();
        continue;
      }
      const a = chunk.arianna;
      renderReply(body, a.text, a.highlights);
      const rate = chunk.eval_duration ? chunk.eval_count / (chunk.eval_duration / 1e9) : 0;
      setMeta(reply, readingLine({ pulse: a.presence.pulse, trauma: a.trauma.score, quality: a.quality, rate, candidates: a.candidates, revised: a.revised }));
      newestId = Math.max(newestId, a.message_id);
    }
  } catch (e) {
    if (controller.signal.aborted) {
      setWriting(null);
      // the service commits right after the generation stops: wait for the queue to be free
      for (let i = 0; i < 50; i++) {
        const s = await api("/api/status");
        if (!s.ok || !(await s.json()).queue.running) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await settleStopped(reply, body);
    } else {
      setMeta(reply, `error: ${e.message}`);
    }
  } finally {
    setWriting(null);
    reply.classList.remove("pending");
    reply.removeAttribute("aria-busy");
    scrollToEnd();
  }
  await Promise.all([plotTimeline(), refreshStatus()]);
}

const SVG = "http://www.w3.org/2000/svg";
// the plot area inside the viewBox (0 0 320 150): room on the left for the value axis, below for time
const PLOT = { w: 320, h: 150, left: 26, right: 10, top: 8, bottom: 24 };
let timeline = { turns: [], thresholds: null, at: null };

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const plotX = (i, n) => PLOT.left + (n === 1 ? (PLOT.w - PLOT.left - PLOT.right) / 2 : (i * (PLOT.w - PLOT.left - PLOT.right)) / (n - 1));
const plotY = (v) => PLOT.h - PLOT.bottom - Math.max(0, Math.min(1, v)) * (PLOT.h - PLOT.top - PLOT.bottom);
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

async function plotTimeline() {
  const res = await api("/api/metrics?limit=60");
  if (!res.ok) return;
  timeline.turns = (await res.json()).turns;
  drawTimeline();
}

function drawTimeline() {
  const svg = $("timeline");
  const { turns, thresholds } = timeline;
  svg.querySelectorAll(":scope > :not(title)").forEach((el) => el.remove());
  const [x0, x1, yTop, yBase] = [PLOT.left, PLOT.w - PLOT.right, PLOT.top, PLOT.h - PLOT.bottom];
  // the value axis: 0, 0.5 and 1 with grid lines; the time axis: the first and last turn
  for (const v of [0, 0.5, 1]) {
    svg.append(svgEl("line", { class: "grid", x1: x0, x2: x1, y1: plotY(v), y2: plotY(v) }));
    svg.append(svgEl("text", { class: "tick", x: x0 - 4, y: plotY(v) + 3, "text-anchor": "end" }, String(v)));
  }
  svg.append(svgEl("line", { class: "axis", x1: x0, x2: x0, y1: yTop, y2: yBase }));
  svg.append(svgEl("line", { class: "axis", x1: x0, x2: x1, y1: yBase, y2: yBase }));
  if (turns.length === 0) {
    svg.append(svgEl("text", { class: "tick", x: (x0 + x1) / 2, y: (yTop + yBase) / 2, "text-anchor": "middle" }, "no turns yet"));
    return;
  }
  const n = turns.length;
  const x = (i) => plotX(i, n);
  svg.append(svgEl("text", { class: "tick", x: x0, y: PLOT.h - 8, "text-anchor": "start" }, clock(turns[0].ts)));
  if (n > 1) svg.append(svgEl("text", { class: "tick", x: x1, y: PLOT.h - 8, "text-anchor": "end" }, clock(turns[n - 1].ts)));
  svg.append(svgEl("text", { class: "tick", x: (x0 + x1) / 2, y: PLOT.h - 8, "text-anchor": "middle" }, `${n} turn${n === 1 ? "" : "s"}`));

  // the trauma level as a band under its curve, with the levels where she cools and is wounded
  const level = turns.map((t, i) => `${x(i).toFixed(1)},${plotY(t.trauma_level).toFixed(1)}`);
  const band = n === 1 ? [`${x(0) - 3},${plotY(turns[0].trauma_level)}`, `${x(0) + 3},${plotY(turns[0].trauma_level)}`] : level;
  svg.append(svgEl("polygon", { class: "level", points: [`${band[0].split(",")[0]},${yBase}`, ...band, `${band.at(-1).split(",")[0]},${yBase}`].join(" ") }));
  if (thresholds) {
    for (const [v, label] of [[thresholds.cooling_above, "cools"], [thresholds.wounded_above, "wounded"]]) {
      svg.append(svgEl("line", { class: "threshold", x1: x0, x2: x1, y1: plotY(v), y2: plotY(v) }));
      svg.append(svgEl("text", { class: "tick threshold-label", x: x1 - 2, y: plotY(v) - 2, "text-anchor": "end" }, label));
    }
  }
  turns.forEach((t, i) => {
    if (i > 0 && t.model_sha256 !== turns[i - 1].model_sha256)
      svg.append(svgEl("line", { class: "reload", x1: x(i - 0.5), x2: x(i - 0.5), y1: yTop, y2: yBase }));
  });
  for (const [cls, key] of SERIES) {
    svg.append(svgEl("polyline", { class: cls, points: turns.map((t, i) => `${x(i).toFixed(1)},${plotY(t[key]).toFixed(1)}`).join(" ") }));
    if (n <= 30) for (const [i, t] of turns.entries()) svg.append(svgEl("circle", { class: `${cls} dot`, cx: x(i).toFixed(1), cy: plotY(t[key]).toFixed(1), r: 1.6 }));
  }
  svg.append(svgEl("line", { class: "cursor", x1: 0, x2: 0, y1: yTop, y2: yBase, visibility: "hidden" }));
  if (timeline.at !== null) showTurn(Math.min(timeline.at, n - 1));
}

/** The values of turn i, next to the plot (hover, or the arrow keys when the plot has focus). */
function showTurn(i) {
  const { turns } = timeline;
  const tip = $("timeline-tip");
  const cursor = $("timeline").querySelector(".cursor");
  if (i === null || !turns[i] || !cursor) {
    timeline.at = null;
    tip.hidden = true;
    cursor?.setAttribute("visibility", "hidden");
    return;
  }
  timeline.at = i;
  const t = turns[i];
  const vx = plotX(i, turns.length);
  cursor.setAttribute("x1", vx);
  cursor.setAttribute("x2", vx);
  cursor.setAttribute("visibility", "visible");
  const rows = [
    ["pulse", "presence", t.presence_pulse], ["trauma", "trauma", t.trauma], ["level", "trauma level", t.trauma_level],
    ["novelty", "novelty", t.novelty], ["arousal", "arousal", t.arousal],
  ];
  const head = document.createElement("strong");
  head.textContent = `turn ${i + 1} of ${turns.length} · ${time(t.ts)}`;
  const list = document.createElement("dl");
  for (const [cls, label, v] of rows) {
    list.append(Object.assign(document.createElement("dt"), { className: cls, textContent: label }));
    list.append(Object.assign(document.createElement("dd"), { textContent: v.toFixed(2) }));
  }
  tip.replaceChildren(head, list);
  if (t.wounded) tip.append(Object.assign(document.createElement("p"), { className: "wounded", textContent: "wounded" }));
  tip.hidden = false;
  // beside the cursor, on whichever side has room
  const share = vx / PLOT.w;
  tip.style.left = share < 0.5 ? `calc(${(share * 100).toFixed(1)}% + .5rem)` : "";
  tip.style.right = share < 0.5 ? "" : `calc(${((1 - share) * 100).toFixed(1)}% + .5rem)`;
}

function turnAt(clientX) {
  const rect = $("timeline").getBoundingClientRect();
  const vx = ((clientX - rect.left) / rect.width) * PLOT.w;
  const n = timeline.turns.length;
  if (n === 0) return null;
  if (n === 1) return 0;
  const i = Math.round(((vx - PLOT.left) / (PLOT.w - PLOT.left - PLOT.right)) * (n - 1));
  return Math.max(0, Math.min(n - 1, i));
}

$("timeline").addEventListener("pointermove", (e) => showTurn(turnAt(e.clientX)));
$("timeline").addEventListener("pointerleave", () => showTurn(null));
$("timeline").addEventListener("blur", () => showTurn(null));
$("timeline").addEventListener("keydown", (e) => {
  const n = timeline.turns.length;
  if (!n) return;
  const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -n, End: n };
  if (e.key === "Escape") return showTurn(null);
  if (!(e.key in moves)) return;
  e.preventDefault();
  showTurn(Math.max(0, Math.min(n - 1, (timeline.at ?? n - 1) + (timeline.at === null ? 0 : moves[e.key]))));
});

function listItems(el, items, empty) {
  el.replaceChildren(...(items.length ? items : [Object.assign(document.createElement("li"), { textContent: empty })]));
}

async function refreshStatus() {
  const res = await api("/api/status");
  if (!res.ok) return;
  const s = await res.json();
  if (JSON.stringify(s.trauma_thresholds) !== JSON.stringify(timeline.thresholds)) {
    timeline.thresholds = s.trauma_thresholds ?? null;
    drawTimeline();
  }
  const m = s.model;
  $("model").textContent = `${m.kernel_name} · ${m.sha256.slice(0, 12)}${s.status === "ok" ? "" : " · " + s.status}`;
  const facts = [
    ["kernel", m.kernel_name], ["sha256", m.sha256.slice(0, 16)], ["params", m.params ? `${(m.params / 1e6).toFixed(1)}M` : "–"],
    ["context", m.seq_len ?? "–"], ["cpu", m.kernel ?? "–"], ["reloads", s.reloads], ["messages", s.memory.messages],
  ];
  $("kernel").replaceChildren(...facts.flatMap(([k, v]) => [
    Object.assign(document.createElement("dt"), { textContent: k }),
    Object.assign(document.createElement("dd"), { textContent: String(v) }),
  ]));
  listItems($("themes"), s.themes.map((t) => Object.assign(document.createElement("li"), { textContent: t.title ?? `#${t.id}` })), "none yet");
  listItems($("reloads"), s.reload_events.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.textContent = `${time(e.at)} · ${e.trigger} · ${e.ok ? `→ ${(e.to ?? "").slice(0, 12)}` : `failed: ${e.reason ?? "?"}`}`;
    if (!e.ok) li.className = "failed";
    return li;
  }), "none");
}

$("composer").addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (!text) return;
  $("prompt").value = "";
  $("send").disabled = true;
  try {
    await send(text);
  } finally {
    $("send").disabled = false;
    $("prompt").focus();
  }
});
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("stop").addEventListener("click", () => replying?.abort());
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Escape" && replying) replying.abort();
});
$("earlier").addEventListener("click", loadHistory);
$("log").addEventListener("scroll", () => {
  if ($("log").scrollTop === 0 && !$("earlier").hidden) loadHistory();
});

await Promise.all([loadHistory(), plotTimeline(), refreshStatus()]);
setInterval(refreshStatus, 15_000);
document.body.dataset.ready = "true";
