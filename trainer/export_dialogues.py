"""Extract fresh dialogues from the device's memory for fine-tuning.

  python trainer/export_dialogues.py --db /var/lib/arianna/resonance.sqlite3 \
      [--since 2025-01-01 | --since 7d] [--until ...] [--episode 12 --episode 13] \
      [--exclude-flags 4] [--limit 200] [--out-dir data]
  python trainer/export_dialogues.py --jsonl export.jsonl ...      # a file from GET /api/export
  python trainer/export_dialogues.py --url http://pi:8080 --token-file ~/.arianna-token ...

Reads a consistent snapshot, never a live file copied mid-write: a database is
first copied with SQLite's online backup API into a temporary file (the device
keeps writing meanwhile), and only the copy is read. The schema it needs is
trainer/fixtures/schema_min.sql (a subset of the runtime's, src/memory/migrations/):
episodes(id, started_at, title) and messages(id, ts, role, text, episode_id, flags),
times in unix ms.

Filters: time window on messages.ts, episode ids, and flag bits (a message with
any bit of --exclude-flags is dropped; by default the runtime's bits 4 = low
quality, 8 = unanswered and 16 = cancelled). Turns are grouped by episode,
ordered by (ts, id); runs of replies are joined; only user -> arianna exchanges
are kept (a user turn nobody answered, or a reply with no question before it,
is left out: one user message followed by another was never answered, and is
never merged into the next exchange).

Writes data/fine_tune_<UTC timestamp>.jsonl, one dialogue (episode) per line:
  {"episode_id": 3, "title": "...", "started_at": ms, "first_ts": ms, "last_ts": ms,
   "messages": [{"role": "user", "text": "..."}, {"role": "arianna", "text": "..."}, ...]}
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import sqlite3
import sys
import tempfile
import urllib.parse
import urllib.request
from typing import Iterable, List, Optional, Sequence

from heldout import write_jsonl as write_records  # the one atomic JSONL writer (nightly's files too)

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMA_MIN = os.path.join(HERE, "fixtures", "schema_min.sql")
LOW_QUALITY = 4  # src/memory/messages.ts MessageFlag.LowQuality
UNANSWERED = 8  # MessageFlag.Unanswered: a user message whose reply was never stored
CANCELLED = 16  # MessageFlag.Cancelled: a turn the client cut short (the reply and its user message)
DEFAULT_EXCLUDE_FLAGS = LOW_QUALITY | UNANSWERED | CANCELLED


def parse_time(s: Optional[str], now_ms: Optional[int] = None) -> Optional[int]:
    """unix ms from: an integer (ms, or s when < 1e11), an ISO date/time
    (UTC unless it says otherwise), or a relative '36h' / '7d' / '90m' ago."""
    if s is None or s == "":
        return None
    s = str(s).strip()
    now_ms = now_ms if now_ms is not None else int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhdw])", s)
    if m:
        mult = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
        return now_ms - int(float(m.group(1)) * mult * 1000)
    if re.fullmatch(r"-?\d+", s):
        v = int(s)
        return v * 1000 if abs(v) < 10 ** 11 else v
    dt = _dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp() * 1000)


def snapshot_db(path: str, dest: Optional[str] = None) -> str:
    """Copy a (possibly live) SQLite database with the online backup API into
    dest (default: a temp file). Returns the copy's path."""
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    if dest is None:
        fd, dest = tempfile.mkstemp(prefix="resonance-snapshot-", suffix=".sqlite3")
        os.close(fd)
    src = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst, pages=256)
            # The copy carries the device's WAL mode in its header; as a plain
            # rollback-journal file it is one file, and reading it leaves no
            # -wal/-shm beside it (those outlived every removed snapshot).
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    return dest


def rows_from_db(path: str) -> tuple:
    """-> (messages: list of dicts, episodes: {id: dict}) from a snapshot of path."""
    snap = snapshot_db(path)
    try:
        con = sqlite3.connect(f"file:{snap}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            # leo's judgement of each reply, where the runtime's schema has it
            quality = "(SELECT quality FROM metrics WHERE message_id = m.id)" if "metrics" in tables else "NULL"
            saved = "EXISTS (SELECT 1 FROM snapshots WHERE message_id = m.id)" if "snapshots" in tables else "0"
            msgs = [dict(r) for r in con.execute(
                f"SELECT id, ts, role, text, episode_id, flags, {quality} AS quality, {saved} AS saved "
                "FROM messages m ORDER BY ts, id")]
            eps = {r["id"]: dict(r) for r in con.execute("SELECT id, started_at, title FROM episodes")}
        finally:
            con.close()
    finally:
        os.remove(snap)
    return msgs, eps


def _norm_row(r: dict) -> Optional[dict]:
    role = r.get("role")
    text = r.get("text")
    if role is None or text is None:
        return None
    return {"id": r.get("id"), "ts": r.get("ts") or 0, "role": role, "text": text,
            "episode_id": r.get("episode_id", r.get("episodeId")), "flags": int(r.get("flags") or 0),
            "quality": r.get("quality"), "saved": bool(r.get("saved"))}


def rows_from_jsonl(lines: Iterable[str]) -> tuple:
    """Rows from GET /api/export output: JSON lines that are message rows
    ({id, ts, role, text, episode_id|episodeId, flags}), episode objects with a
    "messages" array, or one JSON document holding either."""
    msgs, eps = [], {}
    text = "".join(lines) if not isinstance(lines, list) else "\n".join(lines)
    items: List = []
    stripped = text.strip()
    if stripped.startswith("[") or (stripped.startswith("{") and "\n{" not in stripped):
        doc = json.loads(stripped)
        if isinstance(doc, dict):
            items = doc.get("messages") or doc.get("episodes") or [doc]
        else:
            items = doc
    else:
        items = [json.loads(ln) for ln in stripped.splitlines() if ln.strip()]
    for it in items:
        if not isinstance(it, dict):
            continue
        if it.get("type") == "episode" or ("messages" in it and "role" not in it):
            eid = it.get("id", it.get("episode_id"))
            if eid is not None:
                eps[eid] = {"id": eid, "started_at": it.get("started_at", it.get("startedAt")),
                            "title": it.get("title")}
            for m in it.get("messages") or []:
                m = dict(m)
                m.setdefault("episode_id", eid)
                n = _norm_row(m)
                if n:
                    msgs.append(n)
        else:
            n = _norm_row(it)
            if n:
                msgs.append(n)
    msgs.sort(key=lambda m: (m["ts"], m["id"] or 0))
    return msgs, eps


def fetch_export(url: str, token: Optional[str] = None, since: Optional[int] = None,
                 until: Optional[int] = None, timeout: float = 60.0) -> str:
    """GET <device>/api/export (bearer token) -> response text. `url` is the
    device's base URL or the full export URL."""
    if "/api/export" not in url:
        url = url.rstrip("/") + "/api/export"
    q = {k: v for k, v in (("since", since), ("until", until)) if v is not None}
    if q:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(q)
    req = urllib.request.Request(url, headers={"Accept": "application/x-ndjson, application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read().decode("utf-8")


def _clean(text: str) -> str:
    return " ".join(str(text).split())


def build_dialogues(msgs: Sequence[dict], eps: dict, since: Optional[int] = None,
                    until: Optional[int] = None, episodes: Optional[Sequence[int]] = None,
                    exclude_flags: int = DEFAULT_EXCLUDE_FLAGS, include_system: bool = False,
                    limit: Optional[int] = None, min_exchanges: int = 1,
                    min_quality: Optional[float] = None, keep_unanswered: bool = False) -> List[dict]:
    """Filter and pair the turns; one dialogue per episode (messages without an
    episode form one 'episode_id: null' dialogue). Newest `limit` dialogues.
    min_quality: a reply whose leo quality is known and below it is dropped
    unless leo saved it as a snapshot. keep_unanswered: a user turn left
    without a reply still counts (her words are worth learning even when her
    answer was not), and a dialogue needs no exchange to be kept."""
    ep_set = set(int(e) for e in episodes) if episodes else None
    by_ep = {}
    for m in msgs:
        if since is not None and m["ts"] < since:
            continue
        if until is not None and m["ts"] >= until:
            continue
        if ep_set is not None and m["episode_id"] not in ep_set:
            continue
        if exclude_flags and (m["flags"] & exclude_flags):
            continue
        if (min_quality is not None and m["role"] == "arianna" and m.get("quality") is not None
                and m["quality"] < min_quality and not m.get("saved")):
            continue
        if m["role"] == "system" and not include_system:
            continue
        if m["role"] not in ("user", "arianna", "system"):
            continue
        text = _clean(m["text"])
        if not text:
            continue
        by_ep.setdefault(m["episode_id"], []).append(dict(m, text=text))
    out = []
    for eid, ms in by_ep.items():
        ms.sort(key=lambda m: (m["ts"], m["id"] or 0))
        # join runs of one role, except user messages: the runtime answers each one, so a user
        # message followed by another was never answered (or its reply was filtered out)
        turns = []
        for m in ms:
            if turns and turns[-1]["role"] == m["role"] and m["role"] != "user":
                turns[-1]["text"] += " " + m["text"]
                turns[-1]["last_ts"] = m["ts"]
            else:
                turns.append({"role": m["role"], "text": m["text"], "ts": m["ts"], "last_ts": m["ts"]})
        # keep user -> arianna exchanges (system lines stay where they are)
        kept, pending_user, pending_sys = [], None, []
        for t in turns:
            if t["role"] == "system":
                pending_sys.append(t)
            elif t["role"] == "user":
                if keep_unanswered and pending_user is not None:
                    kept.extend(pending_sys)
                    kept.append(pending_user)
                    pending_sys = []
                pending_user = t
            elif t["role"] == "arianna" and pending_user is not None:
                kept.extend(pending_sys)
                kept.append(pending_user)
                kept.append(t)
                pending_user, pending_sys = None, []
        if keep_unanswered and pending_user is not None:
            kept.extend(pending_sys)
            kept.append(pending_user)
        n_ex = sum(1 for t in kept if t["role"] == "arianna")
        if n_ex < min_exchanges and not (keep_unanswered and kept):
            continue
        ep = eps.get(eid, {}) if eid is not None else {}
        out.append({"episode_id": eid, "title": ep.get("title"), "started_at": ep.get("started_at"),
                    "first_ts": kept[0]["ts"], "last_ts": kept[-1]["last_ts"], "exchanges": n_ex,
                    "messages": [{"role": t["role"], "text": t["text"]} for t in kept]})
    out.sort(key=lambda d: (d["last_ts"], d["episode_id"] if d["episode_id"] is not None else -1))
    if limit:
        out = out[-limit:]
    return out


def write_jsonl(dialogues: Sequence[dict], out_dir: str, stamp: Optional[str] = None) -> str:
    os.makedirs(out_dir, exist_ok=True)
    stamp = stamp or _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return write_records(os.path.join(out_dir, f"fine_tune_{stamp}.jsonl"), dialogues)


def export(db: Optional[str] = None, jsonl: Optional[str] = None, url: Optional[str] = None,
           token: Optional[str] = None, out_dir: str = "data", since=None, until=None,
           episodes=None, exclude_flags: int = DEFAULT_EXCLUDE_FLAGS, include_system: bool = False,
           limit: Optional[int] = None, stamp: Optional[str] = None,
           min_quality: Optional[float] = None, keep_unanswered: bool = False) -> dict:
    """One call for the CLI and nightly.py. Returns {"path", "dialogues", "exchanges", ...}."""
    since_ms, until_ms = parse_time(since), parse_time(until)
    if db:
        msgs, eps = rows_from_db(db)
        source = {"kind": "sqlite-backup", "path": db}
    elif jsonl:
        with open(jsonl, encoding="utf-8") as f:
            msgs, eps = rows_from_jsonl(f.read().splitlines())
        source = {"kind": "jsonl", "path": jsonl}
    elif url:
        msgs, eps = rows_from_jsonl(fetch_export(url, token, since_ms, until_ms).splitlines())
        source = {"kind": "http", "url": url}
    else:
        raise ValueError("need db, jsonl or url")
    dialogues = build_dialogues(msgs, eps, since_ms, until_ms, episodes, exclude_flags,
                                include_system, limit, min_quality=min_quality,
                                keep_unanswered=keep_unanswered)
    path = write_jsonl(dialogues, out_dir, stamp)
    return {"path": path, "dialogues": len(dialogues),
            "exchanges": sum(d["exchanges"] for d in dialogues), "messages_read": len(msgs),
            "source": source, "since": since_ms, "until": until_ms, "exclude_flags": exclude_flags}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--db", help="resonance.sqlite3 (read through the backup API)")
    src.add_argument("--jsonl", help="a file saved from the device's GET /api/export")
    src.add_argument("--url", help="the device's base URL; GET /api/export with the bearer token")
    ap.add_argument("--token", default=os.environ.get("ARIANNA_TOKEN"))
    ap.add_argument("--token-file", default=None)
    ap.add_argument("--since", default=None, help="unix ms/s, ISO date, or 7d / 36h ago")
    ap.add_argument("--until", default=None)
    ap.add_argument("--episode", type=int, action="append", default=None)
    ap.add_argument("--exclude-flags", type=lambda s: int(s, 0), default=DEFAULT_EXCLUDE_FLAGS,
                    help="drop messages with any of these flag bits (default 4 = low quality; 0 keeps all)")
    ap.add_argument("--include-system", action="store_true")
    ap.add_argument("--limit", type=int, default=None, help="keep only the newest N dialogues")
    ap.add_argument("--out-dir", default="data")
    a = ap.parse_args(argv)
    token = a.token
    if a.token_file:
        with open(os.path.expanduser(a.token_file)) as f:
            token = f.read().strip()
    res = export(a.db, a.jsonl, a.url, token, a.out_dir, a.since, a.until, a.episode,
                 a.exclude_flags, a.include_system, a.limit)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
