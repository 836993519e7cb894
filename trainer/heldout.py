"""What a night learns from and what it is judged on.

  split_day()   the day's exchanges -> training dialogues + an interleaved
                held-out slice (every `every`-th exchange, counted across the
                whole day, so even a single sitting gives held-out talk);
  score()       a kernel's held-out dialogue loss (nats per token of the
                held-out exchanges, each given the turns before it as context)
                and its bits per byte on named sets of text: the held-out
                prose of the mix (PROSE_BYTES of it) and the persona corpus's
                val split.

An exchange is one user turn and, when leo judged it good, her reply (the
export leaves bad replies out, so a user turn may stand alone). A held-out
exchange is scored with up to CONTEXT_EXCHANGES earlier exchanges of its
sitting before it; only its own tokens count. The held-out slice is written
out so that the next night trains on it (nightly.py's carry file).
"""
from __future__ import annotations

import json
import math
import os
from typing import Dict, List, Sequence

CONTEXT_EXCHANGES = 2
# Held-out prose the gate scores: about this many bytes, strided over every
# source with a floor of one document each, so 56 KB in 10 documents of the
# fetched mix. Its bits per byte were within 2 % of all 267 KB of held-out prose,
# and scoring it took 14 s per kernel (with the persona val split) on one
# thread of the busy 2-core box, against 45 s for the whole.
PROSE_BYTES = 32_000


def exchanges(messages: Sequence[dict]) -> List[List[dict]]:
    """[{"role", "text"}] -> [[user, arianna?], ...]: a new exchange at every
    user turn; system lines and a reply before any user turn are dropped."""
    out: List[List[dict]] = []
    for m in messages:
        if m["role"] == "user":
            out.append([{"role": "user", "text": m["text"]}])
        elif m["role"] == "arianna" and out and out[-1][-1]["role"] == "user":
            out[-1].append({"role": "arianna", "text": m["text"]})
    return out


def split_day(dialogues: Sequence[dict], every: int = 5):
    """dialogues (export_dialogues.py records) -> (train, held_out).

    train: [[messages]] one per sitting, its held-out exchanges left out.
    held_out: [{"episode_id", "context": [messages], "target": [messages]}].
    Exchange k of the day (all sittings in order) is held out when
    k % every == every // 2; a day with 2..every-1 exchanges holds out its
    middle one, a day of one exchange holds out nothing."""
    per = [(d.get("episode_id"), exchanges(d["messages"])) for d in dialogues]
    total = sum(len(ex) for _, ex in per)
    if total >= every:
        pick = lambda k: k % every == every // 2  # noqa: E731
    else:
        pick = lambda k: total >= 2 and k == total // 2  # noqa: E731
    train, held, k = [], [], 0
    for eid, exs in per:
        kept = []
        for i, ex in enumerate(exs):
            if pick(k):
                ctx = [m for e in exs[max(0, i - CONTEXT_EXCHANGES):i] for m in e]
                held.append({"episode_id": eid, "context": ctx, "target": ex})
            else:
                kept.extend(ex)
            k += 1
        if kept:
            train.append(kept)
    return train, held


def write_jsonl(path: str, records: Sequence) -> str:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def read_jsonl(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def _windows(ids: Sequence[int], start: int, seq_len: int):
    """(inputs, targets) windows that score ids[start:], each target with as
    much context as fits (at least seq_len // 2 tokens once there are that many)."""
    step = max(1, seq_len // 2)
    out = []
    for p in range(max(1, start), len(ids), step):
        e = min(len(ids), p + step)
        s = max(0, e - 1 - seq_len)
        x = list(ids[s:e - 1])
        y = [-1] * (p - s - 1) + list(ids[p:e])
        out.append((x, y))
    return out


def _nll(model, windows, device: str, batch: int = 16):
    """Summed nats and the number of scored tokens over the windows."""
    import torch
    total, n = 0.0, 0
    for k in range(0, len(windows), batch):
        chunk = windows[k:k + batch]
        width = max(len(x) for x, _ in chunk)
        X = torch.tensor([x + [0] * (width - len(x)) for x, _ in chunk], device=device)
        Y = torch.tensor([y + [-1] * (width - len(y)) for _, y in chunk], device=device)
        with torch.no_grad():
            _, loss = model(X, Y, reduction="sum")
        total += float(loss)
        n += int((Y >= 0).sum())
    return total, n


def score(model_bin: str, tokenizer, held_out: Sequence[dict], texts: Dict[str, Sequence[str]],
          device: str = "cpu") -> dict:
    """{"heldout_loss": nats/token or None, "heldout_tokens", "bpb": {name:
    bits per byte or None}, "bytes": {name: bytes}} for the kernel in
    model_bin (as the device runs it: a Q8_0 file is scored with its rounded
    weights), every set of texts scored document by document from BOS."""
    import arianna_data as D
    import export as E
    from model import pick_device
    device = pick_device(device)
    model, _ = E.load_model_bin(model_bin)
    model.to(device).eval()
    seq_len = model.args.max_seq_len
    t = D.load_template()
    wins = []
    for r in held_out:
        before = tokenizer.encode(D.format_dialogue(r["context"], t), bos=True)
        whole = tokenizer.encode(D.format_dialogue(list(r["context"]) + list(r["target"]), t), bos=True)
        common = next((i for i, (a, b) in enumerate(zip(before, whole)) if a != b), min(len(before), len(whole)))
        wins.extend(_windows(whole, common, seq_len))
    h_nats, h_n = _nll(model, wins, device) if wins else (0.0, 0)
    out = {"heldout_loss": h_nats / h_n if h_n else None, "heldout_tokens": h_n, "bpb": {}, "bytes": {}}
    for name, docs in texts.items():
        wins = [w for d in docs for w in _windows(tokenizer.encode(d, bos=True), 1, seq_len)]
        nats, _ = _nll(model, wins, device) if wins else (0.0, 0)
        n_bytes = sum(len(d.encode("utf-8")) for d in docs)
        out["bpb"][name] = nats / math.log(2) / n_bytes if n_bytes else None
        out["bytes"][name] = n_bytes
    return out
