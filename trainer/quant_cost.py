"""The quality cost of a quantized format, measured on the C core itself.

  python trainer/quant_cost.py --model_dir models/default [--out /tmp/q4] [--version 3]

Re-exports a model directory's model.bin in another format (default v3 Q4_0;
from a Q8_0 file the weights are the dequantised Q8_0 ones, as the device would
have them), then scores both files with build/host/libarianna.so on the held-out
corpus documents (the split trainer/arianna_data.py makes: seed 1337, 10 %),
each document from position 0 with BOS, and prints bits per byte (UTF-8 bytes of
the document text), the file sizes and the weight bytes read per decoded token.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cbridge  # noqa: E402
from arianna_data import corpus_documents, split_train_val  # noqa: E402
from export import load_model_bin, model_to_bin  # noqa: E402


def bits_per_byte(model_bin: str, tokenizer_bin: str, docs) -> tuple[float, int]:
    """(bits per byte over docs, tokens scored)."""
    with cbridge.CModel(model_bin) as m:
        tok = cbridge.CTokenizer(tokenizer_bin, m.vocab_size)
        seq_len = m.info["seq_len"]
        nats, nbytes, ntok = 0.0, 0, 0
        for d in docs:
            ids = tok.encode(d, bos=True)[:seq_len]
            logits = m.logits_each(ids[:-1]).astype(np.float64)
            logz = np.log(np.exp(logits - logits.max(axis=1, keepdims=True)).sum(axis=1)) + logits.max(axis=1)
            nats += float((logz - logits[np.arange(len(ids) - 1), ids[1:]]).sum())
            nbytes += len(d.encode("utf-8"))
            ntok += len(ids) - 1
        tok.close()
    return nats / math.log(2) / nbytes, ntok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model_dir", default=os.path.join(os.path.dirname(HERE), "models", "default"))
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--version", type=int, default=3, choices=(1, 2, 3))
    ap.add_argument("--out", default="/tmp/arianna-quant-cost.bin")
    a = ap.parse_args()
    cbridge.ensure_built()
    src = os.path.join(a.model_dir, "model.bin")
    tb = os.path.join(a.model_dir, "tokenizer.bin")
    model, info = load_model_bin(src)
    model_to_bin(model, a.out, a.version)
    _, val = split_train_val(corpus_documents(a.corpus), 0.1, 1337)
    for label, path, fmt in (("source", src, info["format"]), ("re-export", a.out, a.version)):
        bpb, n = bits_per_byte(path, tb, val)
        with cbridge.CModel(path) as m:
            # weight bytes one decoded token reads: every matrix, the embedding row aside
            per_param = {0: 4.0, 1: 4.0, 2: 1 + 4 / max(m.info["group_size"], 1), 3: 0.5 + 4 / 32}[fmt]
            d, v = m.info["dim"], m.info["vocab_size"]
            mats = m.info["n_params"] - v * d * (1 if m.info["shared_classifier"] else 2) + v * d
        print(f"{label:9s} v{fmt}: {bpb:.4f} bits/byte over {len(val)} held-out documents ({n} tokens); "
              f"{os.path.getsize(path)} bytes; ~{mats * per_param / 1e6:.2f} MB of weights read per token")


if __name__ == "__main__":
    main()
