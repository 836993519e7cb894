"""Measure a kernel directory through the project's own C core.

  bun run eval:kernel [DIR ...]      # default: models/default
  trainer/.venv/bin/python trainer/eval_kernel.py models/default /path/to/other --json out.json

For each directory (model.bin + tokenizer.bin, as the device loads them):
  - bits per byte on the held-out test slice of every prose source
    (fetch_corpus.py's <source>.test.txt, never trained on), the text cut
    into chunks of at most CHUNK_BYTES on paragraph/word boundaries, each
    chunk scored from BOS: bits per byte compares kernels whose tokenizers differ;
  - bits per byte and nats/token on held-out persona dialogues
    (trainer/eval/dialogues.txt, in the chat template, never in the corpus);
  - replies to the 30 everyday prompts of trainer/eval/prompts.txt (seeded
    sampling as the device samples: temperature, top-p), their real-word rate
    (words seen >= REAL_WORD_MIN_COUNT times in the prose mix's training side)
    and distinct-2 (distinct word bigrams / all bigrams), and the replies.
Prints a table; --json writes everything.
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import math
import os
import re
import sys
from typing import Dict, List, Sequence

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import arianna_data as D  # noqa: E402
import cbridge as C  # noqa: E402

EVAL_DIR = os.path.join(HERE, "eval")
CHUNK_BYTES = 700          # ~200 tokens at 3.5 bytes/token: fits every kernel's context
MAX_TEST_BYTES = 30_000    # per source: enough for ~0.01 bpb resolution, minutes not hours
REAL_WORD_MIN_COUNT = 3
REPLY_TOKENS = 48
TEMPERATURE, TOP_P, SEED = 0.8, 0.9, 7   # src/config/runtime.ts samples at 0.8 / 0.9
_WORD = re.compile(r"[a-zа-яё]+(?:'[a-z]+)?", re.I)


def chunks(text: str, limit: int = CHUNK_BYTES) -> List[str]:
    """Paragraphs packed into chunks of <= limit bytes; a longer paragraph is
    cut between words."""
    out = []
    for para in D.split_documents(text):
        cur = ""
        for w in para.split(" "):
            cand = f"{cur} {w}" if cur else w
            if len(cand.encode("utf-8")) > limit and cur:
                out.append(cur)
                cur = w
            else:
                cur = cand
        if cur:
            out.append(cur)
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


class Kernel:
    """A model directory opened by the C core: model.bin and tokenizer.bin."""

    def __init__(self, model_dir: str):
        self.dir = model_dir
        self.model = C.CModel(os.path.join(model_dir, "model.bin"), n_threads=1)
        self.vocab = self.model.vocab_size
        self.seq_len = self.model.info["seq_len"]
        self.ctok = C.CTokenizer(os.path.join(model_dir, "tokenizer.bin"), self.vocab)
        self.pieces = D.BinTokenizer(os.path.join(model_dir, "tokenizer.bin"), self.vocab)

    def nll(self, text: str) -> tuple:
        """(nats summed over every token after BOS, token count) for one chunk."""
        ids = self.ctok.encode(text, bos=True)[:self.seq_len]
        logits = self.model.logits_each(ids[:-1])
        lp = log_softmax(logits)
        tgt = np.array(ids[1:])
        return float(-lp[np.arange(len(tgt)), tgt].sum()), len(tgt)

    def bits_per_byte(self, texts: Sequence[str]) -> dict:
        nats, toks, nbytes = 0.0, 0, 0
        for t in texts:
            n, k = self.nll(t)
            nats += n
            toks += k
            nbytes += len(t.encode("utf-8"))
        return {"bpb": nats / math.log(2) / nbytes, "nats_per_token": nats / toks, "tokens": toks, "bytes": nbytes}

    def reply(self, prompt: str, rng: np.random.Generator) -> str:
        """Sample a reply with the C core; stops at the end of the line."""
        ids = self.ctok.encode(prompt, bos=True)
        ids = ids[-(self.seq_len - REPLY_TOKENS):]
        logits = self.model.logits_prefill(ids)
        out: List[int] = []
        L = C.lib()
        for _ in range(REPLY_TOKENS):
            p = np.exp(log_softmax(logits / TEMPERATURE))
            order = np.argsort(-p)
            keep = order[:int(np.searchsorted(np.cumsum(p[order]), TOP_P)) + 1]
            tok = int(rng.choice(keep, p=p[keep] / p[keep].sum()))
            if tok in (D.BOS_ID, D.EOS_ID):
                break
            out.append(tok)
            text = self.pieces.decode([ids[-1]] + out)[len(self.pieces.decode([ids[-1]])):]
            if "\n" in text:
                break
            if L.ar_session_forward(self.model.s, tok) < 0:
                raise C.CoreError(C._err())
            logits = np.ctypeslib.as_array(L.ar_session_logits(self.model.s), shape=(self.vocab,)).copy()
        text = self.pieces.decode([ids[-1]] + out)[len(self.pieces.decode([ids[-1]])):]
        return text.split("\n")[0].strip()


def real_words(mix_dir: str) -> set:
    counts = collections.Counter()
    for p in glob.glob(os.path.join(mix_dir, "*.train.txt")):
        with open(p, encoding="utf-8") as f:
            counts.update(w.lower() for w in _WORD.findall(f.read()))
    return {w for w, c in counts.items() if c >= REAL_WORD_MIN_COUNT}


def reply_stats(replies: Sequence[str], vocab: set) -> dict:
    words = [[w.lower() for w in _WORD.findall(r)] for r in replies]
    flat = [w for ws in words for w in ws]
    bigrams = [(a, b) for ws in words for a, b in zip(ws, ws[1:])]
    return {"real_word_rate": sum(w in vocab for w in flat) / max(1, len(flat)),
            "distinct_2": len(set(bigrams)) / max(1, len(bigrams)),
            "words": len(flat), "mean_words": len(flat) / max(1, len(replies))}


def evaluate(model_dir: str, mix_dir: str, vocab: set) -> dict:
    k = Kernel(model_dir)
    template = D.load_template()
    res: Dict[str, dict] = {"dir": model_dir, "seq_len": k.seq_len, "vocab_size": k.vocab,
                            "model_bin_bytes": os.path.getsize(os.path.join(model_dir, "model.bin"))}
    prose = {}
    for path in sorted(glob.glob(os.path.join(mix_dir, "*.test.txt"))):
        with open(path, encoding="utf-8") as f:
            text = f.read()[:MAX_TEST_BYTES]
        prose[os.path.basename(path)[:-len(".test.txt")]] = k.bits_per_byte(chunks(text))
    res["prose"] = prose
    with open(os.path.join(EVAL_DIR, "dialogues.txt"), encoding="utf-8") as f:
        dialogues = [D.format_dialogue(D.parse_plain_dialogue(b), template) for b in D.split_documents(f.read())]
    res["persona"] = k.bits_per_byte(dialogues)
    with open(os.path.join(EVAL_DIR, "prompts.txt"), encoding="utf-8") as f:
        prompts = [ln.strip() for ln in f if ln.strip()]
    rng = np.random.default_rng(SEED)
    replies = [k.reply(D.format_dialogue([{"role": "user", "text": p}], template) + template["generation_prefix"],
                       rng) for p in prompts]
    res["replies"] = [{"prompt": p, "reply": r} for p, r in zip(prompts, replies)]
    res["reply_stats"] = reply_stats(replies, vocab)
    return res


def print_table(results: Sequence[dict]) -> None:
    names = [os.path.basename(os.path.normpath(r["dir"])) or r["dir"] for r in results]
    rows = [("prose bpb: " + s, [r["prose"][s]["bpb"] for r in results]) for s in results[0]["prose"]]
    rows.append(("prose bpb: mean of sources", [np.mean([v["bpb"] for v in r["prose"].values()]) for r in results]))
    rows.append(("persona dialogues bpb", [r["persona"]["bpb"] for r in results]))
    rows.append(("persona dialogues nats/token", [r["persona"]["nats_per_token"] for r in results]))
    rows.append(("replies: real-word rate", [r["reply_stats"]["real_word_rate"] for r in results]))
    rows.append(("replies: distinct-2", [r["reply_stats"]["distinct_2"] for r in results]))
    rows.append(("replies: mean words", [r["reply_stats"]["mean_words"] for r in results]))
    w = max(len(n) for n in names + ["x" * 10]) + 2
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, vals in rows:
        print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    for n, r in zip(names, results):
        print(f"\n## replies of {n} (seed {SEED}, temperature {TEMPERATURE}, top-p {TOP_P})")
        for x in r["replies"]:
            print(f"User: {x['prompt']}\nArianna: {x['reply']}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", default=[os.path.join(REPO, "models", "default")])
    ap.add_argument("--prose", default=D.PROSE_DIR,
                    help="fetch_corpus.py output (fetched when missing)")
    ap.add_argument("--json", default=None, help="also write the results here")
    a = ap.parse_args(argv)
    if not os.path.exists(os.path.join(a.prose, "corpus.json")):
        import fetch_corpus
        fetch_corpus.fetch(a.prose)
    mix_dir = D.mix_dir(a.prose)
    vocab = real_words(mix_dir)
    results = [evaluate(d, mix_dir, vocab) for d in a.dirs]
    print_table(results)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    main()
