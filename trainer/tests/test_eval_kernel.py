"""eval_kernel.py on a tiny exported kernel through the real C core."""
from __future__ import annotations

import math
import os

import eval_kernel as K


def test_chunks_keep_every_word_and_stay_under_the_limit():
    text = "word " * 400 + "\n\nA short paragraph."
    cs = K.chunks(text, limit=100)
    assert all(len(c.encode()) <= 100 for c in cs)
    assert " ".join(cs).split() == text.split()


def test_reply_stats_count_real_words_and_distinct_bigrams():
    s = K.reply_stats(["the cat sat", "the cat sat", "zzqx blorp"], {"the", "cat", "sat"})
    assert math.isclose(s["real_word_rate"], 6 / 8)
    assert math.isclose(s["distinct_2"], 3 / 5)  # (the cat)(cat sat) twice, (zzqx blorp) once


def test_a_kernel_is_measured_through_the_c_core(clib, tiny_model_dir, tmp_path):
    mix = tmp_path / "mix"
    mix.mkdir()
    story = "Once there was a little hen who lived by the river. She liked the sun and the rain."
    (mix / "children.test.txt").write_text(story + "\n\n" + story + "\n")
    (mix / "children.train.txt").write_text((story + "\n\n") * 5)
    res = K.evaluate(tiny_model_dir, str(mix), K.real_words(str(mix)))
    p = res["prose"]["children"]
    assert p["bytes"] == 2 * len(story) and 0 < p["bpb"] < 20
    # the same text scored by the C core twice gives the same number
    assert K.Kernel(tiny_model_dir).bits_per_byte([story, story])["bpb"] == p["bpb"]
    assert 0 < res["persona"]["bpb"] < 20 and res["persona"]["tokens"] > 100
    assert len(res["replies"]) == 30 and all("\n" not in r["reply"] for r in res["replies"])
    assert 0 <= res["reply_stats"]["real_word_rate"] <= 1
