"""Cleaning, template formatting, shards and the 80/20 mix."""
import json
import os

import numpy as np

from conftest import synthetic_dialogues, write_dialogues_jsonl


def test_clean_text():
    import arianna_data as D
    raw = "\ufeffHello\r\nworld\x07  with   spaces \t\n\n\n\nnext\u00a0para  \r\n"
    assert D.clean_text(raw) == "Hello\nworld with spaces\n\nnext para"
    assert D.clean_line("  a\n b\t c  ") == "a b c"


def test_format_dialogue_uses_the_template():
    import arianna_data as D
    t = D.load_template()
    msgs = [{"role": "user", "text": "Hi\nthere"}, {"role": "arianna", "text": "Hello."},
            {"role": "tool", "text": "ignored"}]
    out = D.format_dialogue(msgs, t, system="Be kind.")
    assert out == "Be kind.\nUser: Hi there\nArianna: Hello.\n"
    out = D.format_dialogue(msgs, t)
    assert out.startswith(t["default_system"] + "\n")
    assert D.format_dialogue(msgs, t, system="") == "User: Hi there\nArianna: Hello.\n"
    # the prompt the runtime builds ends with the generation prefix, which is
    # exactly how an assistant line starts
    assert t["assistant"].startswith(t["generation_prefix"])
    assert all(s.startswith("\n") for s in t["stop"])


def test_corpus_dialogues_are_parsed(corpus_dir):
    import arianna_data as D
    docs = D.corpus_documents(corpus_dir)
    t = D.load_template()
    dialogues = [d for d in docs if d.startswith(t["default_system"])]
    assert len(dialogues) > 50
    assert all("\nArianna: " in d for d in dialogues)
    assert any("origin" in d.lower() or "resonance" in d.lower() for d in docs)


def test_prepare_and_mix(tmp_path, corpus_dir, prepared):
    import arianna_data as D
    jl = write_dialogues_jsonl(str(tmp_path / "fine_tune_x.jsonl"), synthetic_dialogues(40, 3))
    d = str(tmp_path / "mixed")
    meta = D.prepare(corpus_dir, d, sp_model=os.path.join(prepared, "tokenizer.model"),
                     dialogue_jsonl=[jl], dialogue_fraction=0.2)
    sh = meta["shards"]
    assert sh["dialogues_train"]["documents"] + sh["dialogues_val"]["documents"] == 40
    assert sh["dialogues_val"]["documents"] >= 1 and sh["corpus_val"]["documents"] >= 1
    for name in ("corpus_train", "corpus_val", "dialogues_train", "dialogues_val"):
        arr = D.read_shard(os.path.join(d, name + ".bin"))
        assert arr.dtype == np.uint16 and arr.size == sh[name]["tokens"]
        assert arr[0] == D.BOS_ID and arr.max() < 512
    assert json.load(open(os.path.join(d, "meta.json")))["vocab_size"] == 512
    mb = D.MixedBatches(d, "train", 32, dialogue_fraction=0.2, seed=0)
    # count windows drawn from each stream: about 20% dialogues
    n, from_d = 2000, 0
    rng_state = mb.rng.bit_generator.state
    for _ in range(n):
        from_d += mb.rng.random() < mb.frac
    assert 0.15 < from_d / n < 0.25
    mb.rng.bit_generator.state = rng_state
    x, y = mb.sample(4)
    assert x.shape == (4, 32) and y.shape == (4, 32)
    assert (x[:, 1:] == y[:, :-1]).all()


def test_tokenizer_bin_fallback_gives_same_shards(tmp_path, corpus_dir, prepared):
    """Fine-tuning a kernel that ships only tokenizer.bin tokenises identically."""
    import arianna_data as D
    a = str(tmp_path / "a")
    D.prepare(corpus_dir, a, tokenizer_bin=os.path.join(prepared, "tokenizer.bin"))
    for name in ("corpus_train", "corpus_val"):
        assert np.array_equal(D.read_shard(os.path.join(a, name + ".bin")),
                              D.read_shard(os.path.join(prepared, name + ".bin")))


def test_a_small_prose_slice_still_has_every_source(tmp_path):
    import arianna_data as D
    mix = tmp_path / "mix"
    mix.mkdir()
    for source, n in (("big", 400), ("small", 30)):
        paras = [f"{source} paragraph {i}, a plain sentence of about sixty bytes or so." for i in range(n)]
        (mix / f"{source}.val.txt").write_text("\n\n".join(paras))
    whole = D.prose_documents(str(mix), "val")
    part = D.prose_documents(str(mix), "val", max_bytes=6000)
    assert {d.split()[0] for d in part} == {"big", "small"}
    assert len(part) < len(whole) and all(d in whole for d in part)
    assert sum(len(d.encode()) for d in part) < 2 * 6000
