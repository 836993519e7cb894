"""Data preparation for the Arianna kernel.

  - corpus cleaning (unicode NFC, newlines, control characters, whitespace);
  - a sentencepiece BPE tokenizer (vocab 512..8192) trained so that llama2.c's
    C encoder reproduces its ids, and its export to llama2.c's tokenizer.bin;
  - dialogue formatting with the one chat template (trainer/chat_template.json);
  - pretokenised uint16 shards with a train/val split, and a batch sampler that
    mixes the base corpus and the fresh dialogues (80/20 by default).

CLI:
  python trainer/arianna_data.py --corpus trainer/corpus --out trainer/out/data \
      --vocab_size 2048 [--dialogues data/fine_tune_*.jsonl] [--tokenizer tok.model]
"""
from __future__ import annotations

import argparse
import glob
import heapq
import json
import os
import random
import re
import struct
import sys
import unicodedata
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence

import numpy as np

from modeldir import sha256_file  # torch-free hashing, shared with deploy

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATE_PATH = os.path.join(HERE, "chat_template.json")
PROSE_DIR = os.path.join(HERE, "out", "corpus")   # fetch_corpus.py's output: corpus.json and mix/
REPLAY_FRACTION = 0.5   # prose replayed in every fine-tune (the build's, each night's), in bytes of the persona corpus
PROSE_DOC_BYTES = 4096     # consecutive paragraphs grouped into one BOS-led document
BOS_ID, EOS_ID, UNK_ID = 1, 2, 0
N_BYTE_PIECES = 256
MIN_VOCAB, MAX_VOCAB = 512, 8192

# --------------------------------------------------------------------------- cleaning

_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200e\u200f\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")


def clean_text(text: str) -> str:
    """Normalise a corpus text: NFC, \\n newlines, no control characters,
    single spaces, no trailing spaces, at most one blank line in a row."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CTRL.sub("", text)
    lines = [_SPACES.sub(" ", ln).strip() for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def clean_line(text: str) -> str:
    """One dialogue turn on one line: every whitespace run becomes one space."""
    text = unicodedata.normalize("NFC", text)
    text = _CTRL.sub("", text)
    return " ".join(text.split())


def split_documents(text: str) -> List[str]:
    """Blank-line separated blocks (paragraphs, dictionary entries, dialogues)."""
    return [d.strip() for d in clean_text(text).split("\n\n") if d.strip()]


def corpus_files(corpus_dir: str) -> List[str]:
    return sorted(glob.glob(os.path.join(corpus_dir, "*.txt")))


def corpus_provenance(corpus_dir: str) -> dict:
    files = corpus_files(corpus_dir)
    return {
        "dir": os.path.relpath(corpus_dir, os.path.dirname(HERE)) if os.path.isabs(corpus_dir) else corpus_dir,
        "files": [{"name": os.path.basename(p), "bytes": os.path.getsize(p), "sha256": sha256_file(p)}
                  for p in files],
        "bytes": sum(os.path.getsize(p) for p in files),
    }

# --------------------------------------------------------------------------- chat template


def load_template(path: str = TEMPLATE_PATH) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


ROLE_KEYS = {"user": "user", "arianna": "assistant", "assistant": "assistant", "system": "system"}


def format_dialogue(messages: Sequence[dict], template: Optional[dict] = None,
                    system: Optional[str] = None) -> str:
    """Render [{"role": user|arianna|assistant|system, "text": ...}] with the
    template. `system` (default: the template's default_system) opens the
    dialogue unless a message already has the system role; pass "" for none."""
    t = template or load_template()
    out = []
    has_system = any(m.get("role") == "system" for m in messages)
    if system is None:
        system = t.get("default_system", "")
    if system and not has_system:
        out.append(t["system"].replace("{text}", clean_line(system)))
    for m in messages:
        key = ROLE_KEYS.get(m.get("role", ""))
        if key is None:
            continue
        text = clean_line(m.get("text", ""))
        if not text:
            continue
        out.append(t[key].replace("{text}", text))
    return "".join(out)


_TURN = re.compile(r"^(User|Arianna):\s*(.*)$")


def parse_plain_dialogue(block: str) -> Optional[List[dict]]:
    """A corpus dialogue block ('User: ...' / 'Arianna: ...' lines) -> messages,
    or None when the block is not a dialogue."""
    msgs = []
    for ln in block.split("\n"):
        m = _TURN.match(ln.strip())
        if not m:
            return None
        msgs.append({"role": "user" if m.group(1) == "User" else "arianna", "text": m.group(2)})
    return msgs or None


def read_dialogues_jsonl(path: str) -> List[List[dict]]:
    """data/fine_tune_*.jsonl (one dialogue per line, {"messages": [...]}) -> list of message lists."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            obj = json.loads(line)
            msgs = obj.get("messages") if isinstance(obj, dict) else obj
            if msgs:
                out.append(msgs)
    return out

# --------------------------------------------------------------------------- tokenizer


def train_tokenizer(texts: Iterable[str], model_prefix: str, vocab_size: int = 2048,
                    seed_sentences: int = 2_000_000) -> str:
    """Train a sentencepiece BPE model whose encoding llama2.c's C encoder
    reproduces: identity normalisation, no whitespace collapsing, a dummy
    prefix space (llama2.c adds one too), byte fallback (<0xXX> pieces at ids
    3..258), digits split. Returns the path of the .model file."""
    import sentencepiece as spm
    if not MIN_VOCAB <= vocab_size <= MAX_VOCAB:
        raise ValueError(f"vocab_size {vocab_size} outside [{MIN_VOCAB}, {MAX_VOCAB}]")
    os.makedirs(os.path.dirname(os.path.abspath(model_prefix)), exist_ok=True)
    lines = []
    for t in texts:
        lines.extend(ln for ln in t.split("\n") if ln.strip())
    sentences_path = model_prefix + ".sentences.txt"
    with open(sentences_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    spm.SentencePieceTrainer.train(
        input=sentences_path, model_prefix=model_prefix, model_type="bpe",
        vocab_size=vocab_size, self_test_sample_size=0, input_format="text",
        character_coverage=1.0, num_threads=max(1, min(4, os.cpu_count() or 1)),
        split_digits=True, allow_whitespace_only_pieces=True, byte_fallback=True,
        unk_surface=r" \342\201\207 ", normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True,
        max_sentence_length=16384, input_sentence_size=seed_sentences,
        shuffle_input_sentence=True, minloglevel=2,
        unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=-1)
    os.remove(sentences_path)
    return model_prefix + ".model"


class Tokenizer:
    """Encodes text to ids with either the sentencepiece model (fast) or, when
    only a tokenizer.bin is at hand, a Python port of llama2.c's encoder."""

    def __init__(self, sp_model: Optional[str] = None, tokenizer_bin: Optional[str] = None,
                 vocab_size: Optional[int] = None):
        self.sp = None
        self.bin = None
        if sp_model:
            import sentencepiece as spm
            self.sp = spm.SentencePieceProcessor(model_file=sp_model)
            self.vocab_size = self.sp.get_piece_size()
        elif tokenizer_bin:
            self.bin = BinTokenizer(tokenizer_bin, vocab_size)
            self.vocab_size = self.bin.vocab_size
        else:
            raise ValueError("need a sentencepiece model or a tokenizer.bin")

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> List[int]:
        if self.sp is not None:
            ids = self.sp.encode(text) if text else []
            return ([BOS_ID] if bos else []) + list(ids) + ([EOS_ID] if eos else [])
        return self.bin.encode(text, bos, eos)

    def decode(self, ids: Sequence[int]) -> str:
        if self.sp is not None:
            return self.sp.decode(list(ids))
        return self.bin.decode(ids)


def tokenizer_bin_pieces(sp_model: str):
    """[(bytes, score)] for every id, as llama2.c's tokenizer.py exports them."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=sp_model)
    out = []
    for i in range(sp.get_piece_size()):
        t = sp.id_to_piece(i)
        s = sp.get_score(i)
        if i == sp.bos_id():
            t = "\n<s>\n"
        elif i == sp.eos_id():
            t = "\n</s>\n"
        t = t.replace("\u2581", " ")
        out.append((t.encode("utf-8"), float(s)))
    return out


def export_tokenizer_bin(sp_model: str, path: str) -> None:
    """llama2.c tokenizer.bin: uint32 max_token_length, then per id:
    float32 score, int32 length, the bytes (no NUL)."""
    pieces = tokenizer_bin_pieces(sp_model)
    max_len = max(len(b) for b, _ in pieces)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<I", max_len))
        for b, s in pieces:
            f.write(struct.pack("<fi", s, len(b)))
            f.write(b)
    os.replace(tmp, path)


def read_tokenizer_bin(path: str, vocab_size: Optional[int] = None):
    """-> (pieces: list[bytes], scores: list[float], max_token_length). Without
    vocab_size, reads to the end of the file."""
    with open(path, "rb") as f:
        data = f.read()
    (max_len,) = struct.unpack_from("<I", data, 0)
    off, pieces, scores = 4, [], []
    while off < len(data) and (vocab_size is None or len(pieces) < vocab_size):
        s, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(s)
        off += n
    if vocab_size is not None and len(pieces) != vocab_size:
        raise ValueError(f"{path}: {len(pieces)} pieces, expected {vocab_size}")
    return pieces, scores, max_len


class BinTokenizer:
    """llama2.c's BPE encoder over tokenizer.bin, in Python: a dummy prefix
    space, code points looked up whole (else <0xXX> byte pieces, id = byte+3),
    then repeatedly merge the adjacent pair with the best-scoring merged piece
    (leftmost on ties). Byte pieces and '\\n' never merge, so lines are merged
    independently (same result, much faster)."""

    def __init__(self, path: str, vocab_size: Optional[int] = None):
        self.pieces, self.scores, _ = read_tokenizer_bin(path, vocab_size)
        self.vocab_size = len(self.pieces)
        self.lookup = {}
        for i, p in enumerate(self.pieces):
            self.lookup.setdefault(p, i)
        self._cache = {}

    def _merge(self, ids: List[int]) -> List[int]:
        n = len(ids)
        if n < 2:
            return ids
        pieces, lookup, scores = self.pieces, self.lookup, self.scores
        toks = list(ids)
        nxt = list(range(1, n)) + [-1]
        prv = [-1] + list(range(0, n - 1))
        alive = [True] * n
        heap = []

        def push(i):
            j = nxt[i]
            if j < 0:
                return
            m = lookup.get(pieces[toks[i]] + pieces[toks[j]])
            if m is not None:
                heapq.heappush(heap, (-scores[m], i, toks[i], toks[j], m))

        for i in range(n - 1):
            push(i)
        while heap:
            _, i, a, b, m = heapq.heappop(heap)
            j = nxt[i] if alive[i] else -1
            if j < 0 or toks[i] != a or toks[j] != b:
                continue  # stale entry
            toks[i] = m
            alive[j] = False
            nxt[i] = nxt[j]
            if nxt[j] >= 0:
                prv[nxt[j]] = i
            if prv[i] >= 0:
                push(prv[i])
            push(i)
        return [toks[i] for i in range(n) if alive[i]]

    def _encode_segment(self, seg: str) -> List[int]:
        hit = self._cache.get(seg)
        if hit is not None:
            return hit
        ids = []
        for ch in seg:
            b = ch.encode("utf-8")
            tid = self.lookup.get(b)
            if tid is not None:
                ids.append(tid)
            else:
                ids.extend(x + 3 for x in b)
        out = self._merge(ids)
        if len(self._cache) < 200_000:
            self._cache[seg] = out
        return out

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> List[int]:
        ids = [BOS_ID] if bos else []
        if text:
            text = " " + text
            # '\n' is never inside a mergeable piece: encode line by line
            parts = text.split("\n")
            for k, part in enumerate(parts):
                if part:
                    ids.extend(self._encode_segment(part))
                if k < len(parts) - 1:
                    nl = self.lookup.get(b"\n")
                    ids.append(nl if nl is not None else ord("\n") + 3)
        if eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        out = bytearray()
        prev = None
        for t in ids:
            p = self.pieces[t]
            if prev == BOS_ID and p.startswith(b" "):
                p = p[1:]
            m = re.fullmatch(rb"<0x([0-9A-Fa-f]{2})>", p)
            out.extend(bytes([int(m.group(1), 16)]) if m else p)
            prev = t
        text = out.decode("utf-8", errors="replace")
        return text[1:] if text.startswith(" ") and (not ids or ids[0] != BOS_ID) else text

# --------------------------------------------------------------------------- documents


def corpus_documents(corpus_dir: str, template: Optional[dict] = None) -> List[str]:
    """Every blank-line block of trainer/corpus/*.txt; blocks that are dialogues
    are rendered with the chat template (so they open with its system line)."""
    t = template or load_template()
    docs = []
    for path in corpus_files(corpus_dir):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for block in split_documents(text):
            msgs = parse_plain_dialogue(block)
            docs.append(format_dialogue(msgs, t) if msgs else block)
    return docs


def mix_dir(prose_dir: str) -> str:
    """Where the prose text lies (<source>.<split>.txt) in fetch_corpus.py's output."""
    return os.path.join(prose_dir, "mix")


def prose_documents(mix_dir: str, split: str, max_bytes: int = 0) -> List[str]:
    """The fetched prose mix (fetch_corpus.py: <source>.<split>.txt): each
    source's consecutive paragraphs grouped into documents of about
    PROSE_DOC_BYTES. max_bytes > 0 keeps an evenly spaced subset of about
    that size, every source strided alike (a fine-tune's replay slice, the
    nightly gate's held-out prose)."""
    paths = sorted(glob.glob(os.path.join(mix_dir, f"*.{split}.txt")))
    if not paths:
        raise FileNotFoundError(f"{mix_dir}: no *.{split}.txt (run trainer/fetch_corpus.py)")
    per_source = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            paras = split_documents(f.read())
        docs, cur, size = [], [], 0
        for p in paras:
            cur.append(p)
            size += len(p.encode("utf-8")) + 2
            if size >= PROSE_DOC_BYTES:
                docs.append("\n\n".join(cur))
                cur, size = [], 0
        if cur:
            docs.append("\n\n".join(cur))
        per_source.append(docs)
    stride = 1
    if max_bytes > 0:
        total = sum(len(d.encode("utf-8")) for docs in per_source for d in docs)
        stride = max(1, -(-total // max_bytes))
    # strided within each source, so that even a small slice has every source
    return [d for docs in per_source for d in docs[::stride]]


def replay_documents(mix_dir: str, persona_bytes: int) -> List[str]:
    """The prose a fine-tune replays beside the persona corpus (REPLAY_FRACTION
    of its size) so that it does not erode the grammar pretraining taught."""
    return prose_documents(mix_dir, "train", max_bytes=int(REPLAY_FRACTION * persona_bytes))


def dialogue_documents(jsonl_paths: Sequence[str], template: Optional[dict] = None) -> List[str]:
    t = template or load_template()
    docs = []
    for p in jsonl_paths:
        for msgs in read_dialogues_jsonl(p):
            d = format_dialogue(msgs, t)
            if d:
                docs.append(d)
    return docs


def split_train_val(docs: Sequence[str], val_fraction: float, seed: int = 1337):
    """Documents are split whole (a val dialogue is never seen in training).
    At least one document goes to val when there are two or more."""
    idx = list(range(len(docs)))
    random.Random(seed).shuffle(idx)
    n_val = int(round(len(docs) * val_fraction))
    if len(docs) >= 2:
        n_val = max(1, min(n_val, len(docs) - 1))
    else:
        n_val = 0
    val = sorted(idx[:n_val])
    train = sorted(idx[n_val:])
    return [docs[i] for i in train], [docs[i] for i in val]


def tokenize_docs(tok: Tokenizer, docs: Sequence[str]) -> np.ndarray:
    """BOS + ids for every document, concatenated, as uint16."""
    out = []
    for d in docs:
        out.extend(tok.encode(d, bos=True))
    arr = np.array(out, dtype=np.uint16)
    if len(out) and max(out) >= 65536:
        raise ValueError("vocab too large for uint16 shards")
    return arr


def write_shard(path: str, arr: np.ndarray) -> None:
    tmp = path + ".tmp"
    arr.astype(np.uint16).tofile(tmp)
    os.replace(tmp, path)


def write_shards(tok: Tokenizer, out_dir: str, corpus: tuple, dialogues: tuple) -> dict:
    """The four shards (corpus_train/val, dialogues_train/val) from (train, val)
    documents of each stream; -> what meta.json says of them."""
    shards = {}
    for name, docs in (("corpus_train", corpus[0]), ("corpus_val", corpus[1]),
                       ("dialogues_train", dialogues[0]), ("dialogues_val", dialogues[1])):
        arr = tokenize_docs(tok, docs)
        write_shard(os.path.join(out_dir, name + ".bin"), arr)
        shards[name] = {"documents": len(docs), "tokens": int(arr.size)}
    return shards


def read_shard(path: str) -> np.ndarray:
    return np.fromfile(path, dtype=np.uint16) if os.path.exists(path) else np.zeros(0, dtype=np.uint16)


def prepare(corpus_dir: str, out_dir: str, vocab_size: int = 2048,
            dialogue_jsonl: Sequence[str] = (), sp_model: Optional[str] = None,
            tokenizer_bin: Optional[str] = None, val_fraction: float = 0.1,
            dialogue_fraction: float = 0.2, seed: int = 1337,
            replay_docs: Sequence[str] = ()) -> dict:
    """Clean, (train the tokenizer,) tokenize and write the shards:
    out_dir/{corpus,dialogues}_{train,val}.bin, tokenizer.model (when trained
    or given), tokenizer.bin, meta.json. Returns the meta dict.
    replay_docs (prose_documents(..., max_bytes=...)) join the base corpus's
    training side only, so its val loss stays the persona corpus's."""
    os.makedirs(out_dir, exist_ok=True)
    template = load_template()
    cdocs = corpus_documents(corpus_dir, template) if corpus_dir else []
    ddocs = dialogue_documents(list(dialogue_jsonl), template)
    if sp_model is None and tokenizer_bin is None:
        if not cdocs and not ddocs:
            raise ValueError("no text to train a tokenizer on")
        sp_model = train_tokenizer(cdocs + ddocs, os.path.join(out_dir, "tokenizer"), vocab_size)
    elif sp_model is not None and os.path.abspath(sp_model) != os.path.abspath(os.path.join(out_dir, "tokenizer.model")):
        import shutil
        shutil.copyfile(sp_model, os.path.join(out_dir, "tokenizer.model"))
        sp_model = os.path.join(out_dir, "tokenizer.model")
    tok = Tokenizer(sp_model=sp_model, tokenizer_bin=tokenizer_bin,
                    vocab_size=None)
    bin_path = os.path.join(out_dir, "tokenizer.bin")
    if sp_model is not None:
        export_tokenizer_bin(sp_model, bin_path)
    elif os.path.abspath(tokenizer_bin) != os.path.abspath(bin_path):
        import shutil
        shutil.copyfile(tokenizer_bin, bin_path)
    c_train, c_val = split_train_val(cdocs, val_fraction, seed)
    c_train = list(c_train) + list(replay_docs)
    d_train, d_val = split_train_val(ddocs, max(val_fraction, 0.2) if ddocs else 0.0, seed)
    shards = write_shards(tok, out_dir, (c_train, c_val), (d_train, d_val))
    meta = {
        "vocab_size": tok.vocab_size,
        "tokenizer_model": "tokenizer.model" if sp_model else None,
        "tokenizer_bin": "tokenizer.bin",
        "dialogue_fraction": dialogue_fraction,
        "val_fraction": val_fraction,
        "shards": shards,
        "corpus": corpus_provenance(corpus_dir) if corpus_dir else None,
        "dialogues": [{"name": os.path.basename(p), "sha256": sha256_file(p)} for p in dialogue_jsonl],
        "corpus_bytes": sum(len(d.encode("utf-8")) for d in cdocs),
        "replay_bytes": sum(len(d.encode("utf-8")) for d in replay_docs),
        "dialogue_bytes": sum(len(d.encode("utf-8")) for d in ddocs),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return meta

def prepare_prose(mix_dir: str, corpus_dir: str, out_dir: str, vocab_size: int, seed: int = 1337) -> dict:
    """The pretraining data: a tokenizer trained on the prose mix plus the
    persona corpus (weighted x3 so her words get their own pieces), the prose
    as the corpus stream and the persona corpus as the dialogue stream."""
    os.makedirs(out_dir, exist_ok=True)
    template = load_template()
    p_train, p_val = prose_documents(mix_dir, "train"), prose_documents(mix_dir, "val")
    persona = corpus_documents(corpus_dir, template)
    sp_model = train_tokenizer(p_train + persona * 3, os.path.join(out_dir, "tokenizer"), vocab_size)
    export_tokenizer_bin(sp_model, os.path.join(out_dir, "tokenizer.bin"))
    tok = Tokenizer(sp_model=sp_model)
    d_train, d_val = split_train_val(persona, 0.1, seed)
    shards = write_shards(tok, out_dir, (p_train, p_val), (d_train, d_val))
    prose_bytes = sum(len(d.encode("utf-8")) for d in p_train)
    meta = {
        "vocab_size": tok.vocab_size, "tokenizer_model": "tokenizer.model", "tokenizer_bin": "tokenizer.bin",
        "shards": shards, "corpus": corpus_provenance(corpus_dir), "dialogues": [],
        "prose_bytes": prose_bytes, "bytes_per_token": round(prose_bytes / max(1, shards["corpus_train"]["tokens"]), 3),
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    return meta

# --------------------------------------------------------------------------- batches


class MixedBatches:
    """Random windows of seq_len+1 tokens from two streams: the base corpus and
    the fresh dialogues, a window from the dialogues with probability
    dialogue_fraction (0 when there are none)."""

    def __init__(self, data_dir: str, split: str, seq_len: int, dialogue_fraction: float = 0.2,
                 seed: int = 0):
        self.seq_len = seq_len
        self.corpus = read_shard(os.path.join(data_dir, f"corpus_{split}.bin"))
        self.dialogues = read_shard(os.path.join(data_dir, f"dialogues_{split}.bin"))
        ok_c = self.corpus.size > seq_len + 1
        ok_d = self.dialogues.size > seq_len + 1
        if not ok_c and not ok_d:
            # tiny data: tile what there is so a window fits
            base = self.corpus if self.corpus.size >= self.dialogues.size else self.dialogues
            if base.size == 0:
                raise ValueError(f"{data_dir}: no {split} tokens")
            reps = (seq_len + 2) // base.size + 1
            if base is self.corpus:
                self.corpus = np.tile(base, reps)
                ok_c = True
            else:
                self.dialogues = np.tile(base, reps)
                ok_d = True
        self.frac = dialogue_fraction if ok_d else 0.0
        if not ok_c:
            self.frac = 1.0
        self.rng = np.random.default_rng(seed)

    def sample(self, batch_size: int):
        import torch
        xs, ys = [], []
        for _ in range(batch_size):
            src = self.dialogues if self.rng.random() < self.frac else self.corpus
            i = int(self.rng.integers(0, src.size - self.seq_len - 1))
            chunk = src[i:i + self.seq_len + 1].astype(np.int64)
            xs.append(chunk[:-1])
            ys.append(chunk[1:])
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))

    def eval_windows(self, source: str, max_windows: int):
        """Deterministic non-overlapping windows over one stream (for val loss)."""
        import torch
        src = self.corpus if source == "corpus" else self.dialogues
        n = (src.size - 1) // self.seq_len
        for k in range(min(n, max_windows)):
            chunk = src[k * self.seq_len:k * self.seq_len + self.seq_len + 1].astype(np.int64)
            yield torch.from_numpy(chunk[:-1])[None], torch.from_numpy(chunk[1:])[None]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--vocab_size", type=int, default=2048)
    ap.add_argument("--dialogues", nargs="*", default=[])
    ap.add_argument("--tokenizer", default=None, help="reuse this sentencepiece .model")
    ap.add_argument("--tokenizer_bin", default=None, help="reuse this tokenizer.bin (no .model)")
    ap.add_argument("--val_fraction", type=float, default=0.1)
    ap.add_argument("--dialogue_fraction", type=float, default=0.2)
    a = ap.parse_args(argv)
    meta = prepare(a.corpus, a.out, a.vocab_size, a.dialogues, a.tokenizer, a.tokenizer_bin,
                   a.val_fraction, a.dialogue_fraction)
    json.dump(meta["shards"], sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
