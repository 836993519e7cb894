"""A tokenizer.bin made from sentencepiece gives, in the C tokenizer, the same
ids as sentencepiece itself (and as the Python port of llama2.c's encoder)."""
import os
import struct

import pytest

STRINGS = [
    "Hello, Arianna.",
    "User: Who are you?\nArianna: I am here, and I listen.",
    "resonance, presence, memory and the field",
    "  two leading spaces and   three inside  ",
    "trailing space ",
    " leading space",
    "Привет! Как дела? Я — Арианна.",
    "emoji 🙂 and a heart ❤ and 漢字",
    "digits 12345, 3.14 and 2025-01-01",
    "tabs\tand\nnew\n\nlines",
    "a",
    "",
    "\n",
    "User:",
    "Arianna:",
    "quotes \"double\" and 'single' — dashes – and … ellipsis",
    "CAPITALS and MiXeD case",
    "<0x41> looks like a byte piece but is text",
    "\u00e9 composed vs e\u0301 decomposed",
]


@pytest.fixture(scope="module")
def texts(corpus_dir):
    import arianna_data as D
    docs = D.corpus_documents(corpus_dir)
    return STRINGS + docs[::25]


def test_tokenizer_bin_layout(prepared):
    import arianna_data as D
    pieces, scores, max_len = D.read_tokenizer_bin(os.path.join(prepared, "tokenizer.bin"))
    assert len(pieces) == 512
    assert max_len == max(len(p) for p in pieces)
    assert pieces[1] == b"\n<s>\n" and pieces[2] == b"\n</s>\n"
    for b in range(256):  # byte fallback pieces at ids 3..258
        assert pieces[3 + b] == f"<0x{b:02X}>".encode()


@pytest.mark.parametrize("vocab", [512, 1024])
def test_c_tokenizer_matches_sentencepiece(clib, tmp_path, corpus_dir, texts, vocab):
    import arianna_data as D
    docs = D.corpus_documents(corpus_dir)
    model = D.train_tokenizer(docs, str(tmp_path / "tok"), vocab)
    tb = str(tmp_path / "tok.bin")
    D.export_tokenizer_bin(model, tb)
    sp = D.Tokenizer(sp_model=model)
    ct = clib.CTokenizer(tb, vocab)
    py = D.BinTokenizer(tb, vocab)
    bad = []
    for s in texts:
        want = sp.encode(s)
        if ct.encode(s) != want or py.encode(s) != want:
            bad.append((s[:60], want[:12], ct.encode(s)[:12], py.encode(s)[:12]))
    assert not bad, bad[:3]
    # BOS / EOS are ids 1 / 2 in both
    assert ct.encode("hi", bos=True, eos=True) == [1] + sp.encode("hi") + [2]


def test_decode_round_trip(prepared):
    import arianna_data as D
    sp = D.Tokenizer(sp_model=os.path.join(prepared, "tokenizer.model"))
    bt = D.Tokenizer(tokenizer_bin=os.path.join(prepared, "tokenizer.bin"), vocab_size=512)
    for s in STRINGS:
        if not s.strip():
            continue
        ids = sp.encode(s)
        assert bt.encode(s) == ids
        assert sp.decode(ids) == s or sp.decode(ids) == s.strip()


def test_vocab_bounds(tmp_path):
    import arianna_data as D
    with pytest.raises(ValueError):
        D.train_tokenizer(["some text"], str(tmp_path / "t"), 256)
    with pytest.raises(ValueError):
        D.train_tokenizer(["some text"], str(tmp_path / "t"), 10000)
