"""The generated recall dialogues: the fact is told before it is asked, the
answer holds it, and no value the memory probe asks about is ever taught."""
import os
import random
import re

import recall_dialogues as R

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def probe_answers():
    src = open(os.path.join(REPO, "tools", "memory-probe.ts"), encoding="utf-8").read()
    answers = re.findall(r'answer: "([^"]+)"', src)
    assert len(answers) == 5, answers
    return answers


def test_the_fact_is_told_before_the_question_and_the_answer_holds_it():
    rng = random.Random(2)
    for _ in range(300):
        msgs, value = R.recall_dialogue(rng)
        assert [m["role"] for m in msgs[-2:]] == ["user", "arianna"]
        told = [m["text"] for m in msgs[:-2] if m["role"] == "user" and value in m["text"]]
        assert len(told) == 1, msgs
        assert value not in msgs[-2]["text"]
        assert value.lower() in msgs[-1]["text"].lower()


def test_no_value_the_memory_probe_asks_about_is_taught():
    text = "\n".join(m["text"] for d in R.recall_dialogues(3000, seed=1) for m in d).lower()
    for a in probe_answers():
        assert a.lower() not in text, a


def test_the_dialogues_are_the_same_for_a_seed_and_differ_across_seeds():
    assert R.recall_dialogues(20, seed=5) == R.recall_dialogues(20, seed=5)
    assert R.recall_dialogues(20, seed=5) != R.recall_dialogues(20, seed=6)
