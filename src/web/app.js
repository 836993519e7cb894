// The web page: chat on the living session (streamed NDJSON from /api/chat),
// scroll-back history, highlights, the timeline plot, themes, model and reloads.
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

/** fetch with the stored token; on 401 ask for the token once and try again. */
async function api(path, init = {}) {
  const token = localStorage.getItem(TOKEN_KEY);
  const headers = { ...(init.headers || {}), ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(path, { ...init, headers });
  if (res.status !== 401) return res;
  await askToken();
  return api(path, init);
}

function askToken() {
  const dialog = $("auth");
  return new Promise((resolve) => {
    $("auth-form").addEventListener("submit", () => {
      localStorage.setItem(TOKEN_KEY, $("token").value.trim());
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
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

async function loadHistory() {
  const query = new URLSearchParams({ limit: "30", ...(oldestShown ? { before: String(oldestShown) } : {}) });
  const res = await api(`/api/history?${query}`);
  if (!res.ok) return;
  const page = await res.json();
  const first = oldestShown === null;
  const log = $("log");
  const height = log.scrollHeight;
  for (const m of page.messages) log.prepend(bubble(m.role === "user" ? "user" : "arianna", m.text, time(m.ts)));
  if (page.messages.length) oldestShown = page.messages.at(-1).id;
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

async function send(text) {
  const log = $("log");
  log.append(bubble("user", text, time(Date.now())));
  const reply = bubble("arianna", "");
  reply.classList.add("pending");
  reply.setAttribute("aria-busy", "true");
  log.append(reply);
  scrollToEnd();
  const body = reply.querySelector(".text");
  try {
    const res = await api("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: text }], stream: true }),
    });
    if (!res.ok) throw new Error((await res.json()).error || res.statusText);
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
      const rate = chunk.eval_duration ? (chunk.eval_count / (chunk.eval_duration / 1e9)).toFixed(0) : "–";
      setMeta(reply, `presence ${a.presence.pulse.toFixed(2)} · trauma ${a.trauma.score.toFixed(2)} · ${rate} tok/s` +
        (a.candidates > 1 ? ` · best of ${a.candidates}` : "") + (a.revised ? " · revised" : ""));
    }
  } catch (e) {
    setMeta(reply, `error: ${e.message}`);
  } finally {
    reply.classList.remove("pending");
    reply.removeAttribute("aria-busy");
    scrollToEnd();
  }
  await Promise.all([plotTimeline(), refreshStatus()]);
}

const SVG = "http://www.w3.org/2000/svg";

async function plotTimeline() {
  const res = await api("/api/metrics?limit=60");
  if (!res.ok) return;
  const { turns } = await res.json();
  const svg = $("timeline");
  svg.querySelectorAll("polyline, line").forEach((el) => el.remove());
  if (turns.length === 0) return;
  const [w, h, pad] = [300, 120, 6];
  const x = (i) => pad + (turns.length === 1 ? (w - 2 * pad) / 2 : (i * (w - 2 * pad)) / (turns.length - 1));
  const y = (v) => h - pad - Math.max(0, Math.min(1, v)) * (h - 2 * pad);
  turns.forEach((t, i) => {
    if (i > 0 && t.model_sha256 !== turns[i - 1].model_sha256) {
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "reload");
      line.setAttribute("x1", x(i - 0.5)); line.setAttribute("x2", x(i - 0.5));
      line.setAttribute("y1", pad); line.setAttribute("y2", h - pad);
      svg.append(line);
    }
  });
  for (const [cls, key] of SERIES) {
    const poly = document.createElementNS(SVG, "polyline");
    poly.setAttribute("class", cls);
    poly.setAttribute("points", turns.map((t, i) => `${x(i).toFixed(1)},${y(t[key]).toFixed(1)}`).join(" "));
    svg.append(poly);
  }
}

function listItems(el, items, empty) {
  el.replaceChildren(...(items.length ? items : [Object.assign(document.createElement("li"), { textContent: empty })]));
}

async function refreshStatus() {
  const res = await api("/api/status");
  if (!res.ok) return;
  const s = await res.json();
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
$("earlier").addEventListener("click", loadHistory);
$("log").addEventListener("scroll", () => {
  if ($("log").scrollTop === 0 && !$("earlier").hidden) loadHistory();
});

await Promise.all([loadHistory(), plotTimeline(), refreshStatus()]);
setInterval(refreshStatus, 15_000);
document.body.dataset.ready = "true";
