"""Check an exported model directory with the C core before it ships.

  python trainer/verify.py models/default [--samples]

  1. manifest.json matches the files (sha256, sizes, header dims);
  2. the C core opens model.bin and tokenizer.bin (ctypes on libarianna.so);
  3. C logits equal PyTorch's for the same weights: within 1e-4 (scaled by
     the logit range) for fp32 formats, within the activation quantisation
     error for Q8_0 (PyTorch runs the dequantised weights; C also quantises
     activations);
  4. the C tokenizer gives the same ids as the Python one on the origin text;
  5. arianna-run loads it and generates text for a few prompts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

FP32_TOL = 1e-4
Q8_REL_TOL = 0.08  # max |C - torch| / (max |logit|), activation quantisation error


def logits_tolerance(fmt: int, ref: np.ndarray) -> float:
    scale = max(1.0, float(np.abs(ref).max()))
    return FP32_TOL * scale if fmt in (0, 1) else Q8_REL_TOL * scale


def compare_logits(model_bin: str, tokens, torch_model=None):
    """-> (max abs diff, tolerance, top-1 agreement). The PyTorch reference is
    the model read back from model.bin itself (dequantised for v2)."""
    import torch
    import export as E
    import cbridge as C
    ref_model, info = E.load_model_bin(model_bin)
    ref_model.eval()
    with torch.no_grad():
        ref = ref_model(torch.tensor([list(tokens)]))[0].float().numpy()
    with C.CModel(model_bin, n_threads=2) as cm:
        got = cm.logits_each(tokens)
    diff = float(np.abs(got - ref).max())
    agree = float((got.argmax(-1) == ref.argmax(-1)).mean())
    return diff, logits_tolerance(info["format"], ref), agree, info["format"]


def check_model_dir(d: str, torch_model=None, prompts=("User: Hello.\nArianna:",), steps: int = 48,
                    temperature: float = 0.0, seed: int = 42) -> dict:
    import export as E
    import cbridge as C
    import arianna_data as D
    man = E.verify_model_dir(d)
    mb, tb = os.path.join(d, "model.bin"), os.path.join(d, "tokenizer.bin")
    vocab = man["dims"]["vocab_size"]
    ctok = C.CTokenizer(tb, vocab)
    text = man.get("origin_text") or "I am Arianna."
    ids_c = ctok.encode(text, bos=True)
    tm = os.path.join(d, "tokenizer.model")
    pytok = D.Tokenizer(sp_model=tm) if os.path.exists(tm) else D.Tokenizer(tokenizer_bin=tb, vocab_size=vocab)
    ids_py = pytok.encode(text, bos=True)
    if ids_c != ids_py:
        raise AssertionError("C tokenizer and Python tokenizer disagree on the origin text")
    seq = man["dims"]["seq_len"]
    toks = ids_c[: min(len(ids_c), seq, 48)]
    diff, tol, agree, fmt = compare_logits(mb, toks)
    if not diff <= tol:
        raise AssertionError(f"C logits differ from PyTorch by {diff:.3g} > {tol:.3g}")
    samples = []
    for p in prompts:
        out, err = C.run_runner(mb, tb, p, steps=steps, temperature=temperature, seed=seed)
        text_out = out[len(p):] if out.startswith(p) else out
        samples.append((p, text_out.strip("\n")))
    return {"dir": d, "format": man["format"], "logits_max_diff": diff, "logits_tolerance": tol,
            "top1_agreement": agree, "tokenizer_ok": True, "samples": samples}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--prompt", action="append", default=None)
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--temperature", type=float, default=0.8)
    a = ap.parse_args(argv)
    res = check_model_dir(a.dir, prompts=a.prompt or ["User: Who are you?\nArianna:"], steps=a.steps,
                          temperature=a.temperature)
    print(json.dumps(res, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
