"""Model directories without PyTorch: read a model.bin header, hash files, and
check a directory against its manifest. deploy.py uses only this, so a deploy
needs nothing beyond the Python standard library (and rsync)."""
from __future__ import annotations

import hashlib
import json
import os
import struct

MAGIC = 0x616B3432
HEADER_BYTES = 256


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_header(path: str) -> dict:
    """model.bin header -> {format, group_size, dim, hidden_dim, n_layers,
    n_heads, n_kv_heads, vocab_size, seq_len, shared_classifier}."""
    with open(path, "rb") as f:
        raw = f.read(HEADER_BYTES)
    if len(raw) < 28:
        raise ValueError(f"{path}: too short for a model.bin header")
    if struct.unpack_from("<I", raw, 0)[0] == MAGIC:
        version = struct.unpack_from("<i", raw, 4)[0]
        dims = struct.unpack_from("<7i", raw, 8)
        shared = bool(raw[36])
        gs = struct.unpack_from("<i", raw, 37)[0] if version >= 2 else 0
    else:
        version, gs = 0, 0
        dims = struct.unpack_from("<7i", raw, 0)
        shared = dims[5] > 0
        dims = dims[:5] + (abs(dims[5]), dims[6])
    keys = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len")
    return {"format": version, "group_size": gs, "shared_classifier": shared, **dict(zip(keys, dims))}


def verify_model_dir(d: str) -> dict:
    """Check a model directory against its manifest (sizes and sha256 of every
    listed file, model.bin header against dims and format). Returns the
    manifest; raises ValueError on any mismatch."""
    with open(os.path.join(d, "manifest.json"), encoding="utf-8") as f:
        man = json.load(f)
    for fn, meta in man["files"].items():
        p = os.path.join(d, fn)
        if not os.path.exists(p):
            raise ValueError(f"{d}: {fn} is missing")
        if os.path.getsize(p) != meta["bytes"] or sha256_file(p) != meta["sha256"]:
            raise ValueError(f"{d}: {fn} does not match its manifest sha256")
    h = read_header(os.path.join(d, "model.bin"))
    dims = man["dims"]
    for k in ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"):
        if h[k] != dims[k]:
            raise ValueError(f"{d}: model.bin header {k}={h[k]} disagrees with the manifest ({dims[k]})")
    if h["format"] != man["format_version"]:
        raise ValueError(f"{d}: model.bin is v{h['format']}, the manifest says v{man['format_version']}")
    return man
