"""Python access to the C core (build/host/libarianna.so via ctypes) and the
standalone runner (build/host/arianna-run).

The trainer uses it to cross-check every export against the code that will run
it on the device: the same model.bin must give the same logits in C as in
model.py, and the same text must give the same token ids in C's tokenizer as
in sentencepiece. Both are built by `make -s -C csrc host` (`bun run build`);
ensure_built() runs that when they are missing.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
from typing import List, Optional, Sequence

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("ARIANNA_BUILD_DIR", os.path.join(REPO, "build", "host"))
LIB_PATH = os.path.join(BUILD, "libarianna.so")
RUNNER_PATH = os.path.join(BUILD, "arianna-run")


def ensure_built() -> None:
    """Build the host library and runner with make when either is missing or
    older than the C sources."""
    srcs = [os.path.join(REPO, "csrc", f) for f in os.listdir(os.path.join(REPO, "csrc"))
            if f.endswith((".c", ".h"))] if os.path.isdir(os.path.join(REPO, "csrc")) else []
    newest = max((os.path.getmtime(s) for s in srcs), default=0)
    if all(os.path.exists(p) and os.path.getmtime(p) >= newest for p in (LIB_PATH, RUNNER_PATH)):
        return
    # OUT is named explicitly: the Makefile's `OUT ?=` would otherwise take an
    # OUT variable from the environment
    subprocess.run(["make", "-s", "-C", os.path.join(REPO, "csrc"), "host", f"HOST_OUT={BUILD}"], check=True)


_lib = None


vp, cp, i32p = ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int32)
# The functions of csrc/arianna.h this bridge calls: (restype, argtypes). test/abi.test.ts checks them
# against the header.
SIGNATURES = {
    "ar_last_error": (cp, []),
    "ar_model_open": (vp, [cp, ctypes.c_int]),
    "ar_model_free": (None, [vp]),
    "ar_model_info": (ctypes.c_int64, [vp, ctypes.c_int]),
    "ar_session_new": (vp, [vp]),
    "ar_session_free": (None, [vp]),
    "ar_session_reset": (None, [vp]),
    "ar_session_prefill": (ctypes.c_int, [vp, i32p, ctypes.c_int]),
    "ar_session_forward": (ctypes.c_int, [vp, ctypes.c_int]),
    "ar_session_logits": (ctypes.POINTER(ctypes.c_float), [vp]),
    "ar_tokenizer_open": (vp, [cp, ctypes.c_int]),
    "ar_tokenizer_free": (None, [vp]),
    "ar_tokenizer_encode": (ctypes.c_int, [vp, cp, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                           i32p, ctypes.c_int]),
    "ar_session_embed": (ctypes.c_int, [vp, i32p, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_int]),
}


def lib():
    global _lib
    if _lib is not None:
        return _lib
    ensure_built()
    L = ctypes.CDLL(LIB_PATH)
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(L, name)
        fn.restype = res
        fn.argtypes = args
    _lib = L
    return L


class CoreError(RuntimeError):
    pass


def _err() -> str:
    msg = lib().ar_last_error()
    return msg.decode("utf-8", "replace") if msg else "unknown error"


INFO_KEYS = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len",
             "format", "group_size", "shared_classifier", "n_params", "file_bytes", "n_threads"]


class CModel:
    """A model.bin opened by the C core, with one session."""

    def __init__(self, path: str, n_threads: int = 1):
        L = lib()
        self.m = L.ar_model_open(path.encode(), n_threads)
        if not self.m:
            raise CoreError(f"ar_model_open({path}): {_err()}")
        self.s = L.ar_session_new(self.m)
        if not self.s:
            L.ar_model_free(self.m)
            raise CoreError(f"ar_session_new: {_err()}")
        self.info = {k: int(L.ar_model_info(self.m, i)) for i, k in enumerate(INFO_KEYS)}
        self.vocab_size = self.info["vocab_size"]

    def logits_each(self, tokens: Sequence[int]) -> np.ndarray:
        """Feed tokens one by one from position 0; logits after each (T, V)."""
        L = lib()
        L.ar_session_reset(self.s)
        out = np.zeros((len(tokens), self.vocab_size), dtype=np.float32)
        for i, t in enumerate(tokens):
            r = L.ar_session_forward(self.s, int(t))
            if r < 0:
                raise CoreError(f"ar_session_forward: {_err()}")
            p = L.ar_session_logits(self.s)
            out[i] = np.ctypeslib.as_array(p, shape=(self.vocab_size,))
        return out

    def logits_prefill(self, tokens: Sequence[int]) -> np.ndarray:
        """Prefill all tokens in one call; logits of the last (V,)."""
        L = lib()
        L.ar_session_reset(self.s)
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        r = L.ar_session_prefill(self.s, arr, len(tokens))
        if r < 0:
            raise CoreError(f"ar_session_prefill: {_err()}")
        return np.ctypeslib.as_array(L.ar_session_logits(self.s), shape=(self.vocab_size,)).copy()

    def embed(self, tokens: Sequence[int]) -> np.ndarray:
        """The unit-length mean of the final hidden states (ar_session_embed), (dim,).
        Runs from position 0: the session's cache is overwritten."""
        dim = self.info["dim"]
        out = np.zeros(dim, dtype=np.float32)
        arr = (ctypes.c_int32 * len(tokens))(*tokens)
        r = lib().ar_session_embed(self.s, arr, len(tokens), out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), dim)
        if r < 0:
            raise CoreError(f"ar_session_embed: {_err()}")
        return out

    def close(self):
        if self.s:
            lib().ar_session_free(self.s)
            self.s = None
        if self.m:
            lib().ar_model_free(self.m)
            self.m = None

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class CTokenizer:
    def __init__(self, path: str, vocab_size: int):
        self.t = lib().ar_tokenizer_open(path.encode(), vocab_size)
        if not self.t:
            raise CoreError(f"ar_tokenizer_open({path}): {_err()}")

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> List[int]:
        b = text.encode("utf-8")
        cap = len(b) + 8
        buf = (ctypes.c_int32 * cap)()
        n = lib().ar_tokenizer_encode(self.t, b, len(b), int(bos), int(eos), buf, cap)
        if n < 0:
            raise CoreError(f"ar_tokenizer_encode: {_err()}")
        return list(buf[:n])

    def close(self):
        if self.t:
            lib().ar_tokenizer_free(self.t)
            self.t = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def run_runner(model_path: str, tokenizer_path: str, prompt: str, steps: int = 48,
               temperature: float = 0.0, seed: int = 42, topp: float = 0.9,
               extra: Sequence[str] = (), timeout: float = 120.0, ids: bool = False):
    """Run arianna-run in generate mode; returns (stdout, stderr). Raises on a
    non-zero exit."""
    ensure_built()
    cmd = [RUNNER_PATH, model_path, "-z", tokenizer_path, "-n", str(steps), "-t", str(temperature),
           "-p", str(topp), "-s", str(seed), "-i", prompt, "-m", "generate", "--threads", "2", *extra]
    if ids:
        cmd.append("--ids")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise CoreError(f"arianna-run exited {r.returncode}: {r.stderr.strip()[-500:]}")
    return r.stdout, r.stderr
