"""Shared fixtures for the trainer tests: a tokenizer and shards prepared from
the real persona corpus, a tiny trained model, the C core (built on demand),
and fresh synthetic dialogues. Everything is sized to train in seconds on a
2-core CPU."""
from __future__ import annotations

import glob
import json
import os
import random
import sqlite3
import sys

import pytest

TRAINER = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(TRAINER)
sys.path.insert(0, TRAINER)

import torch  # noqa: E402

torch.set_num_threads(1)  # the box is shared: one thread each is faster than fighting

TINY = dict(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, hidden_dim=192, seq_len=64,
            batch_size=8, dropout=0.0, warmup_iters=5, learning_rate=3e-3, min_lr=3e-4,
            eval_interval=20, eval_windows=8, progress=False, plot=False, threads=1, device="cpu")


@pytest.fixture(scope="session")
def corpus_dir():
    return os.path.join(TRAINER, "corpus")


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, corpus_dir):
    """Shards + a 512-piece tokenizer from the real corpus."""
    import arianna_data as D
    d = str(tmp_path_factory.mktemp("prepared"))
    D.prepare(corpus_dir, d, vocab_size=512)
    return d


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory, prepared):
    """A tiny model trained a few seconds on the corpus: (ckpt path, result)."""
    import train_arianna as T
    out = str(tmp_path_factory.mktemp("tiny_run"))
    cfg = tiny_cfg(data_dir=prepared, out_dir=out, max_iters=60)
    res = T.train(cfg)
    return res["ckpt"], res


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_ckpt, prepared):
    """The tiny model exported as a v2 model directory (the base for fine-tuning)."""
    import export as E
    model, ck = E.load_checkpoint(tiny_ckpt[0])
    d = str(tmp_path_factory.mktemp("tiny_model"))
    E.write_model_dir(model, d, 2, tokenizer_bin=os.path.join(prepared, "tokenizer.bin"),
                      tokenizer_model=os.path.join(prepared, "tokenizer.model"), name="arianna-tiny",
                      model_version="20000101-000000", val_loss=ck.get("best_val_loss"),
                      training=ck.get("provenance"))
    return d


@pytest.fixture(scope="session")
def clib():
    """The C core via ctypes; built with `make -s -C csrc host` when missing."""
    if not os.path.exists(os.path.join(REPO, "csrc", "arianna.c")):
        pytest.skip("the C core (csrc/arianna.c) is not in this tree")
    import cbridge
    cbridge.ensure_built()
    return cbridge


PLACES = ["garden", "kitchen", "river", "library", "station", "harbor", "forest", "market"]
THINGS = ["tomatoes", "a lamp", "old letters", "blue cups", "a kite", "warm bread", "a map", "seeds"]
COLORS = ["green", "red", "golden", "silver", "quiet", "bright"]


def synthetic_dialogues(n: int, seed: int):
    """Fresh dialogues in a pattern the base corpus does not have."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, t, c = rng.choice(PLACES), rng.choice(THINGS), rng.choice(COLORS)
        out.append([
            {"role": "user", "text": f"I went to the {p} today and found {t}."},
            {"role": "arianna", "text": f"The {p} gave you {t}. I will keep the {c} picture of the {p} in my memory."},
            {"role": "user", "text": f"What will you remember about the {p}?"},
            {"role": "arianna", "text": f"I will remember the {p}, the {t}, and the {c} light."},
        ])
    return out


def write_dialogues_jsonl(path, dialogues):
    with open(path, "w", encoding="utf-8") as f:
        for i, msgs in enumerate(dialogues):
            f.write(json.dumps({"episode_id": i + 1, "messages": msgs}) + "\n")
    return path


SHORES = ["north shore", "old harbour", "grey cliffs", "long beach"]
KEEPERS = ["the keeper", "his daughter", "the old sailor", "a fisherman"]


@pytest.fixture(scope="session")
def prose_dir(tmp_path_factory):
    """A small fetch_corpus.py output (mix/<source>.<split>.txt): two sources of
    plain sentences in a pattern of their own, each with a held-out val side."""
    import arianna_data as D
    d = tmp_path_factory.mktemp("prose")
    mix = D.mix_dir(str(d))
    os.makedirs(mix)
    rng = random.Random(3)
    for source in ("lighthouse", "shoreline"):
        for split, n in (("train", 120), ("val", 24)):
            paras = [f"On the {rng.choice(SHORES)} {rng.choice(KEEPERS)} counted {rng.randint(2, 90)} gulls "
                     f"and wrote the number in the {source} book before the lamp was lit." for _ in range(n)]
            with open(os.path.join(mix, f"{source}.{split}.txt"), "w", encoding="utf-8") as f:
                f.write("\n\n".join(paras) + "\n")
    return str(d)


# A schema is the list of SQL files that build it, in order.
SCHEMA_MIN = [os.path.join(TRAINER, "fixtures", "schema_min.sql")]
# The device's: its migrations (src/memory/migrations/NNN_name.sql) in the order the runtime applies them
# to a new database; empty in a checkout without the runtime.
SCHEMA_RUNTIME = sorted(glob.glob(os.path.join(REPO, "src", "memory", "migrations", "[0-9]*_*.sql")),
                        key=lambda p: int(os.path.basename(p).split("_", 1)[0]))


def make_db(path, schema, dialogues, t0_ms=1_700_000_000_000, step_ms=60_000, flags_for=None):
    """A resonance.sqlite3 built from a schema (its SQL files in order), one episode per dialogue."""
    con = sqlite3.connect(path)
    for sql_file in schema:
        with open(sql_file, encoding="utf-8") as f:
            con.executescript(f.read())
    ts = t0_ms
    for e, msgs in enumerate(dialogues, start=1):
        con.execute("INSERT INTO episodes(id, started_at, title) VALUES (?, ?, ?)", (e, ts, f"episode {e}"))
        for k, m in enumerate(msgs):
            flags = flags_for(e, k, m) if flags_for else 0
            con.execute("INSERT INTO messages(ts, role, text, episode_id, flags) VALUES (?, ?, ?, ?, ?)",
                        (ts, m["role"], m["text"], e, flags))
            ts += step_ms
    con.commit()
    con.close()
    return path


def tiny_cfg(**overrides):
    """train_arianna config: defaults < TINY < overrides."""
    import train_arianna as T
    return {**T.DEFAULTS, **TINY, **overrides}
