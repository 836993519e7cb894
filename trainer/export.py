"""Export a trained model as llama2.c's model.bin (v0 legacy, v1 fp32, v2 Q8_0, v3 Q4_0),
read any of them back, and write a model directory (model.bin, tokenizer.bin,
manifest.json, and the tokenizer.model that fine-tuning reuses).

  python trainer/export.py --ckpt trainer/out/run/ckpt.pt --out models/x --version 2 \
      [--group_size 64] [--name arianna] [--origin trainer/corpus/origin.txt]

Formats (docs/architecture.md §4 has them in full):
  v0: 7 x int32 header (vocab_size < 0 = separate classifier), fp32 weights in
      llama2.c's legacy order, two legacy RoPE tables, [wcls].
  v1: 256-byte header (magic "ak42", version 1, 7 x int32, uint8 shared
      classifier), then fp32 norms, tok_emb, wq, wk, wv, wo, w1, w2, w3, [wcls].
  v2: v1 header with version 2 and int32 group_size at byte 37, fp32 norms,
      then for each tensor its int8 values followed by its fp32 scales
      (symmetric, scale = max|w| / 127 per group of group_size values).
  v3: v2 header with version 3 and group_size 32; each tensor's values are
      4-bit (symmetric, scale = max|w| / 7, q in [-7, 7]) stored q + 8, two to
      a byte: in each group of 32, byte j holds value j in its low nibble and
      value j + 16 in its high nibble; then the tensor's fp32 scales.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import struct
import sys
from typing import Optional

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from model import ModelArgs, Transformer, precompute_freqs  # noqa: E402

MAGIC = 0x616B3432
HEADER_BYTES = 256
FORMAT_NAMES = {0: "v0-legacy-fp32", 1: "v1-fp32", 2: "v2-q8_0", 3: "v3-q4_0"}
QUANTIZATION = {0: "fp32", 1: "fp32", 2: "q8_0", 3: "q4_0"}
Q4_GROUP = 32


def _f32(t) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1)


def _layers(model: Transformer, attr: str):
    out = []
    for layer in model.layers:
        obj = layer
        for part in attr.split("."):
            obj = getattr(obj, part)
        out.append(obj)
    return out


def pick_group_size(dim: int, hidden_dim: int, preferred: int = 64) -> int:
    """The largest power of two <= preferred that divides dim and hidden_dim
    (every matrix row is dim or hidden_dim wide; SIMD kernels like powers of
    two), else the largest such divisor, at least 2."""
    p = 1
    while p * 2 <= min(preferred, dim, hidden_dim):
        p *= 2
    while p >= 8:
        if dim % p == 0 and hidden_dim % p == 0:
            return p
        p //= 2
    for gs in range(min(preferred, dim, hidden_dim), 1, -1):
        if dim % gs == 0 and hidden_dim % gs == 0:
            return gs
    raise ValueError(f"no Q8_0 group size divides dim {dim} and hidden_dim {hidden_dim}")


def quantize_q80(w: np.ndarray, group_size: int):
    """Symmetric int8 per group: (q int8, scales fp32, max abs error)."""
    w = np.asarray(w, dtype=np.float32).reshape(-1)
    assert w.size % group_size == 0, "tensor size must be a multiple of the group size"
    g = w.reshape(-1, group_size)
    wmax = np.abs(g).max(axis=1)
    scale = (wmax / np.float32(127.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0))
    q = np.round(g / safe[:, None])
    q = np.clip(q, -127, 127).astype(np.int8)
    q[scale == 0] = 0
    err = np.abs(q.astype(np.float32) * scale[:, None] - g).max() if g.size else 0.0
    return q.reshape(-1), scale, float(err)


def quantize_q40(w: np.ndarray):
    """Symmetric 4-bit per group of 32: (packed uint8 [n/2], scales fp32, max abs error)."""
    w = np.asarray(w, dtype=np.float32).reshape(-1)
    assert w.size % Q4_GROUP == 0, "tensor size must be a multiple of 32"
    g = w.reshape(-1, Q4_GROUP)
    scale = (np.abs(g).max(axis=1) / np.float32(7.0)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1.0))
    q = np.clip(np.round(g / safe[:, None]), -7, 7).astype(np.int8)
    q[scale == 0] = 0
    err = np.abs(q.astype(np.float32) * scale[:, None] - g).max() if g.size else 0.0
    u = (q + 8).astype(np.uint8)
    packed = u[:, :16] | (u[:, 16:] << 4)
    return packed.reshape(-1), scale, float(err)


def dequantize_q40(packed: np.ndarray, scales: np.ndarray) -> np.ndarray:
    p = packed.reshape(-1, Q4_GROUP // 2)
    q = np.concatenate([p & 15, p >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scales[:, None]).reshape(-1)


def _header_v(version: int, a: ModelArgs, group_size: int = 0) -> bytes:
    hdr = struct.pack("<Ii", MAGIC, version)
    hdr += struct.pack("<7i", a.dim, a.hidden_dim, a.n_layers, a.n_heads, a.n_kv_heads,
                       a.vocab_size, a.max_seq_len)
    hdr += struct.pack("<B", 1 if a.shared_classifier else 0)
    if version >= 2:
        hdr += struct.pack("<i", group_size)  # byte offset 37
    return hdr + b"\0" * (HEADER_BYTES - len(hdr))


def model_to_bin(model: Transformer, path: str, version: int = 1, group_size: Optional[int] = None) -> dict:
    """Write model.bin in the given format (atomically: a temp file renamed).
    Returns {"format", "group_size", "max_quant_error"}."""
    a = model.args
    shared = a.shared_classifier
    tmp = path + ".tmp"
    info = {"format": version, "group_size": 0, "max_quant_error": 0.0}
    with open(tmp, "wb") as f:
        if version == 0:
            vs = a.vocab_size if shared else -a.vocab_size
            f.write(struct.pack("<7i", a.dim, a.hidden_dim, a.n_layers, a.n_heads, a.n_kv_heads,
                                vs, a.max_seq_len))
            ws = [model.tok_embeddings.weight]
            ws += _layers(model, "attention_norm.weight")
            ws += [l.attention.wq.weight for l in model.layers]
            ws += [l.attention.wk.weight for l in model.layers]
            ws += [l.attention.wv.weight for l in model.layers]
            ws += [l.attention.wo.weight for l in model.layers]
            ws += _layers(model, "ffn_norm.weight")
            ws += [l.feed_forward.w1.weight for l in model.layers]
            ws += [l.feed_forward.w2.weight for l in model.layers]
            ws += [l.feed_forward.w3.weight for l in model.layers]
            ws += [model.norm.weight]
            for w in ws:
                f.write(_f32(w).tobytes())
            cos, sin = precompute_freqs(a.head_size, a.max_seq_len)
            f.write(cos.numpy().astype(np.float32).tobytes())
            f.write(sin.numpy().astype(np.float32).tobytes())
            if not shared:
                f.write(_f32(model.output.weight).tobytes())
        elif version in (1, 2, 3):
            if version == 3:
                if a.dim % Q4_GROUP or a.hidden_dim % Q4_GROUP:
                    raise ValueError(f"Q4_0 needs dim {a.dim} and hidden_dim {a.hidden_dim} to be multiples of 32")
                info["group_size"] = Q4_GROUP
            if version == 2:
                gs = group_size or pick_group_size(a.dim, a.hidden_dim)
                if a.dim % gs or a.hidden_dim % gs:
                    raise ValueError(f"group size {gs} must divide dim {a.dim} and hidden_dim {a.hidden_dim}")
                info["group_size"] = gs
            f.write(_header_v(version, a, info["group_size"]))
            norms = _layers(model, "attention_norm.weight") + _layers(model, "ffn_norm.weight") + [model.norm.weight]
            for w in norms:
                f.write(_f32(w).tobytes())
            ws = [model.tok_embeddings.weight]
            ws += [l.attention.wq.weight for l in model.layers]
            ws += [l.attention.wk.weight for l in model.layers]
            ws += [l.attention.wv.weight for l in model.layers]
            ws += [l.attention.wo.weight for l in model.layers]
            ws += [l.feed_forward.w1.weight for l in model.layers]
            ws += [l.feed_forward.w2.weight for l in model.layers]
            ws += [l.feed_forward.w3.weight for l in model.layers]
            if not shared:
                ws.append(model.output.weight)
            for w in ws:
                if version == 1:
                    f.write(_f32(w).tobytes())
                elif version == 3:
                    q, s, err = quantize_q40(_f32(w))
                    info["max_quant_error"] = max(info["max_quant_error"], err)
                    f.write(q.tobytes())
                    f.write(s.astype(np.float32).tobytes())
                else:
                    q, s, err = quantize_q80(_f32(w), info["group_size"])
                    info["max_quant_error"] = max(info["max_quant_error"], err)
                    f.write(q.tobytes())
                    f.write(s.astype(np.float32).tobytes())
        else:
            raise ValueError(f"unknown model.bin version {version}")
    os.replace(tmp, path)
    return info


def read_model_bin(path: str):
    """Read model.bin (v0, v1, v2 or v3) -> (ModelArgs, state_dict of fp32
    tensors, info). v2 and v3 weights come back dequantised."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data, 0)[0]
    info = {"format": 0, "group_size": 0}
    if magic == MAGIC:
        version = struct.unpack_from("<i", data, 4)[0]
        dim, hidden, nl, nh, nkv, vocab, seq = struct.unpack_from("<7i", data, 8)
        shared = bool(data[36])
        gs = struct.unpack_from("<i", data, 37)[0] if version >= 2 else 0
        if version not in (1, 2, 3):
            raise ValueError(f"{path}: unknown version {version}")
        info = {"format": version, "group_size": gs}
        off = HEADER_BYTES
    else:
        dim, hidden, nl, nh, nkv, vocab, seq = struct.unpack_from("<7i", data, 0)
        shared = vocab > 0
        vocab = abs(vocab)
        version = 0
        off = 28
    args = ModelArgs(dim=dim, n_layers=nl, n_heads=nh, n_kv_heads=nkv, vocab_size=vocab,
                     hidden_dim=hidden, max_seq_len=seq, shared_classifier=shared)
    hs = dim // nh
    kv = nkv * hs
    pos = [off]

    def take(n):
        a = np.frombuffer(data, dtype=np.float32, count=n, offset=pos[0])
        pos[0] += 4 * n
        return a

    def take_q(n):
        q = np.frombuffer(data, dtype=np.int8, count=n, offset=pos[0])
        pos[0] += n
        s = np.frombuffer(data, dtype=np.float32, count=n // gs, offset=pos[0])
        pos[0] += 4 * (n // gs)
        return (q.reshape(-1, gs).astype(np.float32) * s[:, None]).reshape(-1)

    def take_q4(n):
        q = np.frombuffer(data, dtype=np.uint8, count=n // 2, offset=pos[0])
        pos[0] += n // 2
        s = np.frombuffer(data, dtype=np.float32, count=n // Q4_GROUP, offset=pos[0])
        pos[0] += 4 * (n // Q4_GROUP)
        return dequantize_q40(q, s)

    sd = {}
    T = lambda a, *shape: torch.from_numpy(np.array(a, dtype=np.float32).reshape(*shape))
    shapes = {"wq": (dim, dim), "wk": (kv, dim), "wv": (kv, dim), "wo": (dim, dim),
              "w1": (hidden, dim), "w2": (dim, hidden), "w3": (hidden, dim)}
    mod = {"wq": "attention", "wk": "attention", "wv": "attention", "wo": "attention",
           "w1": "feed_forward", "w2": "feed_forward", "w3": "feed_forward"}

    def put_mats(name, reader):
        for i in range(nl):
            r, c = shapes[name]
            sd[f"layers.{i}.{mod[name]}.{name}.weight"] = T(reader(r * c), r, c)

    if version == 0:
        sd["tok_embeddings.weight"] = T(take(vocab * dim), vocab, dim)
        for i in range(nl):
            sd[f"layers.{i}.attention_norm.weight"] = T(take(dim), dim)
        for name in ("wq", "wk", "wv", "wo"):
            put_mats(name, take)
        for i in range(nl):
            sd[f"layers.{i}.ffn_norm.weight"] = T(take(dim), dim)
        for name in ("w1", "w2", "w3"):
            put_mats(name, take)
        sd["norm.weight"] = T(take(dim), dim)
        take(seq * hs // 2)
        take(seq * hs // 2)
        if not shared:
            sd["output.weight"] = T(take(vocab * dim), vocab, dim)
    else:
        for i in range(nl):
            sd[f"layers.{i}.attention_norm.weight"] = T(take(dim), dim)
        for i in range(nl):
            sd[f"layers.{i}.ffn_norm.weight"] = T(take(dim), dim)
        sd["norm.weight"] = T(take(dim), dim)
        reader = {1: take, 2: take_q, 3: take_q4}[version]
        sd["tok_embeddings.weight"] = T(reader(vocab * dim), vocab, dim)
        for name in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
            put_mats(name, reader)
        if not shared:
            sd["output.weight"] = T(reader(vocab * dim), vocab, dim)
    if pos[0] != len(data):
        raise ValueError(f"{path}: {len(data) - pos[0]} unexpected trailing bytes")
    if shared:
        sd["output.weight"] = sd["tok_embeddings.weight"]
    return args, sd, info


def load_model_bin(path: str, max_seq_len: Optional[int] = None, dropout: float = 0.0):
    """model.bin -> (Transformer, info)."""
    args, sd, info = read_model_bin(path)
    if max_seq_len:
        args.max_seq_len = max_seq_len
    args.dropout = dropout
    model = Transformer(args)
    model.load_state_dict(sd, strict=True)
    return model, info


def load_checkpoint(path: str, device: str = "cpu"):
    """ckpt.pt -> (Transformer, checkpoint dict)."""
    ck = torch.load(path, map_location=device, weights_only=False) if _has_weights_only() else \
        torch.load(path, map_location=device)
    args = ModelArgs.from_dict(ck["model_args"])
    model = Transformer(args)
    sd = {k.replace("_orig_mod.", "").replace("module.", ""): v for k, v in ck["model"].items()}
    model.load_state_dict(sd, strict=True)
    return model, ck


def _has_weights_only() -> bool:
    import inspect
    return "weights_only" in inspect.signature(torch.load).parameters

# --------------------------------------------------------------------------- model directory


from modeldir import sha256_file, verify_model_dir, read_header  # noqa: E402,F401  (torch-free)


def load_template() -> dict:
    with open(os.path.join(HERE, "chat_template.json"), encoding="utf-8") as f:
        return json.load(f)


def write_model_dir(model: Transformer, out_dir: str, version: int = 2, *,
                    tokenizer_bin: str, tokenizer_model: Optional[str] = None,
                    group_size: Optional[int] = None, name: str = "arianna",
                    model_version: Optional[str] = None, origin_text: Optional[str] = None,
                    val_loss: Optional[float] = None, training: Optional[dict] = None,
                    corpus: Optional[dict] = None, chat_template: Optional[dict] = None) -> dict:
    """Write out_dir/{model.bin, tokenizer.bin, tokenizer.model?, manifest.json}.
    manifest.json is written last, so a directory with a manifest is complete."""
    os.makedirs(out_dir, exist_ok=True)
    mpath = os.path.join(out_dir, "model.bin")
    tpath = os.path.join(out_dir, "tokenizer.bin")
    info = model_to_bin(model, mpath, version, group_size)
    if os.path.abspath(tokenizer_bin) != os.path.abspath(tpath):
        shutil.copyfile(tokenizer_bin, tpath)
    files = {}
    for fn in ("model.bin", "tokenizer.bin"):
        p = os.path.join(out_dir, fn)
        files[fn] = {"bytes": os.path.getsize(p), "sha256": sha256_file(p)}
    tok_model_name = None
    if tokenizer_model:
        dst = os.path.join(out_dir, "tokenizer.model")
        if os.path.abspath(tokenizer_model) != os.path.abspath(dst):
            shutil.copyfile(tokenizer_model, dst)
        tok_model_name = "tokenizer.model"
        files["tokenizer.model"] = {"bytes": os.path.getsize(dst), "sha256": sha256_file(dst)}
    if origin_text is None:
        p = os.path.join(HERE, "corpus", "origin.txt")
        origin_text = open(p, encoding="utf-8").read().strip() if os.path.exists(p) else ""
    a = model.args
    now = _dt.datetime.now(_dt.timezone.utc)
    manifest = {
        "manifest_version": 1,
        "name": name,
        "version": model_version or now.strftime("%Y%m%d-%H%M%S"),
        "created_at": now.isoformat(timespec="seconds"),
        "format": FORMAT_NAMES[version],
        "format_version": version,
        "quantization": QUANTIZATION[version],
        "group_size": info["group_size"],
        "dims": {"dim": a.dim, "hidden_dim": a.hidden_dim, "n_layers": a.n_layers,
                 "n_heads": a.n_heads, "n_kv_heads": a.n_kv_heads, "vocab_size": a.vocab_size,
                 "seq_len": a.max_seq_len, "shared_classifier": bool(a.shared_classifier),
                 "n_params": model.n_params()},
        "vocab": {"size": a.vocab_size, "type": "sentencepiece-bpe", "byte_fallback": True,
                  "add_dummy_prefix": True, "unk_id": 0, "bos_id": 1, "eos_id": 2,
                  "tokenizer_model": tok_model_name},
        "chat_template": chat_template or load_template(),
        "origin_text": origin_text,
        "origin": origin_text,  # the key src/config/model-profile.ts reads
        "files": files,
        "sha256": {"model": files["model.bin"]["sha256"], "tokenizer": files["tokenizer.bin"]["sha256"]},
        "val_loss": val_loss,
        "max_quant_error": info["max_quant_error"] if version >= 2 else None,
        "corpus": corpus,
        "training": training or {},
    }
    tmp = os.path.join(out_dir, "manifest.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, "manifest.json"))
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--ckpt", help="a ckpt.pt from train_arianna.py")
    src.add_argument("--model_bin", help="re-export an existing model.bin (any version)")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--version", type=int, default=2, choices=(0, 1, 2, 3))
    ap.add_argument("--group_size", type=int, default=None)
    ap.add_argument("--tokenizer_bin", default=None)
    ap.add_argument("--tokenizer_model", default=None)
    ap.add_argument("--name", default="arianna")
    ap.add_argument("--origin", default=os.path.join(HERE, "corpus", "origin.txt"))
    a = ap.parse_args(argv)
    training, val_loss, corpus = {}, None, None
    if a.ckpt:
        model, ck = load_checkpoint(a.ckpt)
        training = ck.get("provenance", {})
        val_loss = ck.get("best_val_loss")
        corpus = ck.get("corpus")
        data_dir = ck.get("config", {}).get("data_dir")
        tb = a.tokenizer_bin or (os.path.join(data_dir, "tokenizer.bin") if data_dir else None)
        tm = a.tokenizer_model or (os.path.join(data_dir, "tokenizer.model") if data_dir else None)
    else:
        model, _ = load_model_bin(a.model_bin)
        tb = a.tokenizer_bin or os.path.join(os.path.dirname(a.model_bin), "tokenizer.bin")
        tm = a.tokenizer_model
    if tm and not os.path.exists(tm):
        tm = None
    origin = open(a.origin, encoding="utf-8").read().strip() if a.origin and os.path.exists(a.origin) else ""
    man = write_model_dir(model, a.out, a.version, tokenizer_bin=tb, tokenizer_model=tm,
                          group_size=a.group_size, name=a.name, origin_text=origin,
                          val_loss=val_loss, training=training, corpus=corpus)
    print(json.dumps({k: man[k] for k in ("format", "group_size", "dims", "files")}, indent=2))


if __name__ == "__main__":
    main()
