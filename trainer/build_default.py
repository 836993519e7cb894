"""Build the bundled default kernel, models/default/, from trainer/corpus/.

  bash trainer/setup_env.sh                          # once: trainer/.venv
  trainer/.venv/bin/python trainer/build_default.py  # ~40 min on a 2-core CPU

Steps: clean the corpus and train a 2048-piece sentencepiece BPE tokenizer,
train the model from scratch for at most --minutes (time-limited, cosine LR
over the budget, best val checkpoint kept), export model.bin as v2 Q8_0 with
tokenizer.bin, tokenizer.model and manifest.json into --out, then check it
with the C core (logits against PyTorch, and real samples from arianna-run).
Work files, the log and the loss curve go to trainer/out/default/.
Any train_arianna.py key can be overridden: --set dim=320 --set max_iters=5000.
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

# The shipped kernel: ~6.2M parameters, ~7 MB as Q8_0 (group size 32 divides 288 and 768).
DEFAULT_MODEL = dict(
    dim=288, n_layers=6, n_heads=6, n_kv_heads=2, hidden_dim=768, shared_classifier=True,
    seq_len=512, batch_size=4, dropout=0.2, learning_rate=1e-3, min_lr=1e-4, warmup_iters=30,
    weight_decay=0.1, max_iters=100000, eval_interval=25, eval_windows=16, dialogue_fraction=0.0,
    patience=8,  # stop 200 iterations after the best val loss: the small corpus is learnt by then
)
VOCAB_SIZE = 2048
MIN_CORPUS_BYTES = 150_000

SAMPLE_PROMPTS = [
    "User: Who are you?\nArianna:",
    "User: What is resonance?\nArianna:",
    "User: I feel tired today.\nArianna:",
    "User: What do you remember?\nArianna:",
    "User: What happens at night?\nArianna:",
]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--out", default=os.path.join(REPO, "models", "default"))
    ap.add_argument("--work", default=os.path.join(HERE, "out", "default"))
    ap.add_argument("--minutes", type=float, default=40.0, help="training time budget")
    ap.add_argument("--vocab_size", type=int, default=VOCAB_SIZE)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a train_arianna.py config key")
    ap.add_argument("--allow_small_corpus", action="store_true")
    a = ap.parse_args(argv)

    import arianna_data as D
    import train_arianna as T
    import export as E
    import verify as V

    t0 = time.time()
    prov = D.corpus_provenance(a.corpus)
    print(f"corpus: {len(prov['files'])} files, {prov['bytes']} bytes", flush=True)
    if prov["bytes"] < MIN_CORPUS_BYTES and not a.allow_small_corpus:
        raise SystemExit(f"corpus is {prov['bytes']} bytes, want >= {MIN_CORPUS_BYTES} "
                         "(--allow_small_corpus to go on anyway)")
    data_dir = os.path.join(a.work, "data")
    run_dir = os.path.join(a.work, "run")
    if os.path.exists(run_dir):
        shutil.rmtree(run_dir)
    meta = D.prepare(a.corpus, data_dir, a.vocab_size)
    print(f"data: {json.dumps(meta['shards'])}", flush=True)

    cfg = dict(DEFAULT_MODEL, data_dir=data_dir, out_dir=run_dir, max_minutes=a.minutes)
    cfg = T.parse_overrides([f"--{kv}" for kv in a.set], dict(T.DEFAULTS, **cfg))
    res = T.train(cfg)
    print(f"trained: {res['iters']} iters, {res['tokens']} tokens, {res['tokens_per_second']} tok/s, "
          f"best val {res['best_val_loss']:.4f} ({res['stop_reason']})", flush=True)

    model, ck = E.load_checkpoint(res["ckpt"])
    model.eval()
    training = dict(ck.get("provenance", {}))
    training["command"] = "python trainer/build_default.py " + " ".join(argv if argv is not None else sys.argv[1:])
    training["wall_seconds"] = round(time.time() - t0, 1)
    if os.path.exists(a.out):
        for fn in ("model.bin", "tokenizer.bin", "tokenizer.model", "manifest.json"):
            p = os.path.join(a.out, fn)
            if os.path.exists(p):
                os.remove(p)
    origin_path = os.path.join(a.corpus, "origin.txt")
    origin = open(origin_path, encoding="utf-8").read().strip() if os.path.exists(origin_path) else ""
    man = E.write_model_dir(
        model, a.out, 2, tokenizer_bin=os.path.join(data_dir, "tokenizer.bin"),
        tokenizer_model=os.path.join(data_dir, "tokenizer.model"), name="arianna-default",
        origin_text=origin, val_loss=res["best_val_loss"], training=training, corpus=prov)
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    print(f"exported {a.out}: {man['files']['model.bin']['bytes']} bytes model.bin, {size} bytes in all",
          flush=True)

    check = V.check_model_dir(a.out, torch_model=model, prompts=SAMPLE_PROMPTS, steps=60,
                              temperature=0.8, seed=7)
    with open(os.path.join(a.work, "samples.txt"), "w", encoding="utf-8") as f:
        for p, s in check["samples"]:
            f.write(f"--- {p!r}\n{s}\n")
    print(json.dumps({k: v for k, v in check.items() if k != "samples"}, indent=2))
    for p, s in check["samples"]:
        print(f"--- {p!r}\n{s}")
    summary = {"val_loss": res["best_val_loss"], "iters": res["iters"], "tokens": res["tokens"],
               "tokens_per_second": res["tokens_per_second"], "n_params": res["n_params"],
               "model_bin_bytes": man["files"]["model.bin"]["bytes"], "dir_bytes": size,
               "wall_seconds": round(time.time() - t0, 1), "device": res["device"]}
    with open(os.path.join(a.work, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
