"""nightly.py end to end on CPU with a tiny model: a one-sitting day pulled
from a device database, the interleaved held-out slice, the prose replay and
the held-out prose the gate scores (or, without a prose mix, the persona
corpus alone), the gate, the deploy,
what a refused or --no-deploy night leaves behind, the journal lines, every
option from its ARIANNA_TRAIN_* variable, and the pruning of work directories."""
import contextlib
import io
import json
import os
import shutil

import pytest

from conftest import SCHEMA_MIN, SCHEMA_RUNTIME, make_db, synthetic_dialogues

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")


def one_sitting(exchanges: int, seed: int = 5):
    """One episode of `exchanges` user -> arianna exchanges (a normal day)."""
    msgs = [m for d in synthetic_dialogues(exchanges // 2 + 1, seed) for m in d]
    return [msgs[:2 * exchanges]]


def nightly_args(db, home, base, corpus, work, *extra, prose="/nonexistent/prose"):
    import nightly as N
    return N.build_parser(environ={}).parse_args([
        "--db", db, "--dest", home, "--base", base, "--corpus", corpus, "--prose", prose, "--work-root", work,
        "--since", "0", "--iters", "30", "--batch-size", "8", "--learning-rate", "2e-3",
        "--eval-interval", "15", "--device", "cpu", "--no-progress",
        "--set", "eval_windows=8", "--set", "threads=1", "--set", "plot=False", *extra])


@pytest.fixture(scope="module")
def first_night(tmp_path_factory, clib, tiny_model_dir, corpus_dir, prose_dir):
    """A 60-exchange one-sitting day with a prose mix at hand, deployed; the
    journal it wrote."""
    import nightly as N
    tmp = tmp_path_factory.mktemp("night")
    db = make_db(str(tmp / "resonance.sqlite3"), SCHEMA_MIN, one_sitting(60))
    home, work = str(tmp / "home"), str(tmp / "work")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rep = N.run(nightly_args(db, home, tiny_model_dir, corpus_dir, work, prose=prose_dir))
    return {"rep": rep, "db": db, "home": home, "work": work, "journal": err.getvalue(), "tmp": tmp}


def test_a_one_sitting_day_holds_out_talk_and_deploys_a_better_kernel(first_night):
    import nightly as N
    rep = first_night["rep"]
    st = rep["stages"]
    assert rep["status"] == "deployed", json.dumps(st, default=str)[:3000]
    assert list(st) == N.STAGES
    assert st["pull"]["dialogues"] == 1 and st["pull"]["exchanges"] == 60
    # every 5th exchange of the single sitting is held out, interleaved
    assert st["prepare"]["heldout_exchanges"] == 12 and st["prepare"]["train_exchanges"] == 48
    g = st["gate"]
    assert g["passed"] is True and g["label"] == "nightly-finetune"
    assert g["heldout_loss_after"] < g["heldout_loss_before"]
    assert g["prose_regression"] < 0.05
    cur = os.path.join(first_night["home"], "models", "current")
    man = json.load(open(os.path.join(cur, "manifest.json")))
    assert man["training"]["kind"] == "nightly-finetune"
    assert man["training"]["gate"]["heldout_loss_after"] == g["heldout_loss_after"]
    assert man["training"]["parent"] == "20000101-000000"
    assert man["format"] == "v2-q8_0"
    # the held-out slice waits for the next night
    carry = [json.loads(ln) for ln in open(os.path.join(first_night["work"], N.CARRY))]
    assert len(carry) == 12 and all(r["target"][0]["role"] == "user" for r in carry)


def _find(shard, ids) -> bool:
    """Is ids a contiguous run of tokens in shard?"""
    hay, needle = shard.astype("<u2").tobytes(), bytes(bytearray().join(i.to_bytes(2, "little") for i in ids))
    at = hay.find(needle)
    while at >= 0 and at % 2:
        at = hay.find(needle, at + 1)
    return at >= 0


def test_the_night_replays_prose_in_training_only(first_night, tiny_model_dir, corpus_dir, prose_dir):
    import arianna_data as D
    st = first_night["rep"]["stages"]
    replay = D.replay_documents(D.mix_dir(prose_dir), D.corpus_provenance(corpus_dir)["bytes"])
    assert st["prepare"]["prose_mix"] == D.mix_dir(prose_dir)
    assert st["prepare"]["replay_bytes"] == sum(len(d.encode()) for d in replay) > 0
    assert "nightly: prepare (" in first_night["journal"] and "replay_bytes" in first_night["journal"]
    tok = D.Tokenizer(sp_model=os.path.join(tiny_model_dir, "tokenizer.model"))
    data = os.path.join(first_night["rep"]["work"], "prepared")
    shard = {n: D.read_shard(os.path.join(data, n + ".bin"))
             for n in ("corpus_train", "corpus_val", "dialogues_train", "dialogues_val")}
    for doc in replay:
        ids = tok.encode(doc, bos=True)
        assert _find(shard["corpus_train"], ids)
        assert not _find(shard["corpus_val"], ids) and not _find(shard["dialogues_val"], ids)
    # the prose the gate scores is in no shard
    for doc in D.prose_documents(D.mix_dir(prose_dir), "val"):
        assert not any(_find(a, tok.encode(doc, bos=True)) for a in shard.values())


def test_the_gate_scores_held_out_prose_when_the_mix_is_there(first_night, tiny_model_dir, prose_dir):
    import arianna_data as D
    import heldout as H
    g = first_night["rep"]["stages"]["gate"]
    held_out_prose = D.prose_documents(D.mix_dir(prose_dir), "val", max_bytes=H.PROSE_BYTES)
    assert g["prose_set"] == "held-out prose"
    assert g["prose_bytes"] == sum(len(d.encode()) for d in held_out_prose)
    tok = D.Tokenizer(sp_model=os.path.join(tiny_model_dir, "tokenizer.model"))
    base = H.score(os.path.join(tiny_model_dir, "model.bin"), tok, [], {"prose": held_out_prose}, "cpu")
    assert g["prose_bpb_before"] == base["bpb"]["prose"]
    # the persona val split is the second figure, and a different one
    assert g["persona_bpb_before"] > 0 and g["persona_bpb_before"] != g["prose_bpb_before"]


def test_the_live_kernel_runs_in_the_c_core(first_night, clib):
    cur = os.path.join(first_night["home"], "models", "current")
    man = json.load(open(os.path.join(cur, "manifest.json")))
    with clib.CModel(os.path.join(cur, "model.bin")) as cm:
        assert cm.info["vocab_size"] == man["dims"]["vocab_size"]
    out, err = clib.run_runner(os.path.join(cur, "model.bin"), os.path.join(cur, "tokenizer.bin"),
                               "User: Hello.\nArianna:", steps=16)
    assert out.startswith("User: Hello.") and "achieved tok/s" in err


def test_the_journal_has_a_line_per_stage_and_per_eval_without_a_progress_bar(first_night):
    import nightly as N
    lines = first_night["journal"].splitlines()
    for name in N.STAGES:
        assert sum(ln.startswith(f"nightly: {name} (") for ln in lines) == 1, (name, lines)
    evals = [ln for ln in lines if ln.startswith("nightly: finetune: eval at iter")]
    assert [ln.split()[5].rstrip(":") for ln in evals] == ["0", "15", "30"], lines
    assert lines[-1] == "nightly: status deployed"


def test_a_night_with_nothing_new_changes_nothing(first_night, corpus_dir):
    import nightly as N
    cur = os.path.join(first_night["home"], "models", "current")
    live = os.readlink(cur)
    rep = N.run(N.build_parser(environ={}).parse_args([
        "--db", first_night["db"], "--dest", first_night["home"], "--corpus", corpus_dir,
        "--work-root", first_night["work"], "--no-progress"]))
    assert rep["status"] == "nothing-new"
    assert os.readlink(cur) == live


def test_no_deploy_and_a_refused_night_consume_nothing(first_night, tiny_model_dir, corpus_dir, tmp_path):
    import deploy as P
    import nightly as N
    db = make_db(str(tmp_path / "day2.sqlite3"), SCHEMA_MIN, one_sitting(10, seed=9))
    home, work = first_night["home"], first_night["work"]
    cur = os.path.join(home, "models", "current")
    live = os.readlink(cur)
    state = open(os.path.join(work, "state.json")).read()
    carry = open(os.path.join(work, N.CARRY)).read()
    short = ["--iters", "4", "--eval-interval", "4"]
    # --no-deploy: exported, nothing consumed, nothing deployed
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rep = N.run(nightly_args(db, home, tiny_model_dir, corpus_dir, work, *short, "--no-deploy"))
    assert rep["status"] == "exported"
    # no prose mix: the base is the persona corpus alone, said in one journal line
    assert rep["stages"]["prepare"]["replay_bytes"] == 0 and rep["stages"]["prepare"]["prose_mix"] == "none"
    assert rep["stages"]["gate"]["prose_set"] == "persona val" and "persona_bpb_before" not in rep["stages"]["gate"]
    assert sum("no prose mix at /nonexistent/prose" in ln for ln in err.getvalue().splitlines()) == 1
    assert rep["stages"]["prepare"]["carried_exchanges"] == 12  # last night's held-out slice trains
    assert open(os.path.join(work, "state.json")).read() == state
    assert open(os.path.join(work, N.CARRY)).read() == carry
    assert os.readlink(cur) == live
    # a night that learnt nothing (no step taken): refused, not deployed, nothing
    # consumed, and the candidate directory cannot be deployed by hand either
    rep = N.run(nightly_args(db, home, tiny_model_dir, corpus_dir, work, "--iters", "0", "--eval-interval", "1"))
    assert rep["status"] == "refused" and rep["stages"]["gate"]["passed"] is False
    assert rep["stages"]["gate"]["label"] == "nightly-candidate"
    assert os.readlink(cur) == live
    assert json.load(open(os.path.join(work, "state.json"))).get("last_until") == json.loads(state)["last_until"]
    assert open(os.path.join(work, N.CARRY)).read() == carry
    with pytest.raises(P.DeployError, match="did not pass its gate"):
        P.deploy(rep["stages"]["export"]["dir"], str(tmp_path / "other_home"))
    # --deploy-anyway ships it, but never under a fine-tune's label
    rep = N.run(nightly_args(db, home, tiny_model_dir, corpus_dir, work, *short, "--max-regression", "-1",
                             "--deploy-anyway"))
    assert rep["status"] == "deployed"
    man = json.load(open(os.path.join(cur, "manifest.json")))
    assert man["training"]["kind"] == "nightly-ungated" and man["training"]["gate"]["passed"] is False
    assert os.readlink(cur).endswith("-ungated")
    P.rollback(home, live.split("/")[-1])


def test_every_option_reads_its_environment_variable():
    import argparse
    import nightly as N
    ap = N.build_parser(environ={})
    env, want = {}, {}
    for a in ap._actions:
        if not a.option_strings or a.dest == "help":
            continue
        name = N.env_name(a)
        assert name in (a.help or ""), f"--help does not name {name}"
        if isinstance(a, argparse._StoreTrueAction):
            env[name], want[a.dest] = "1", True
        elif isinstance(a, argparse._AppendAction):
            env[name], want[a.dest] = "eval_windows=4 threads=1", ["eval_windows=4", "threads=1"]
        elif a.choices:
            env[name], want[a.dest] = "1", 1
        elif a.type in (int, float) or a.dest in ("exclude_flags", "limit", "seq_len"):
            env[name], want[a.dest] = "7", 7
        else:
            env[name], want[a.dest] = f"/x/{a.dest}", f"/x/{a.dest}"
    got = vars(N.build_parser(environ=env).parse_args([]))
    for dest, v in want.items():
        assert got[dest] == v, dest
    assert "ARIANNA_TRAIN_FORCE" in env and "ARIANNA_TRAIN_DEPLOY_ANYWAY" in env
    assert N.build_parser(environ={"ARIANNA_TRAIN_FORCE": "no"}).parse_args([]).force is False
    # the command line still wins, and a bad value is a clear error
    assert N.build_parser(environ=env).parse_args(["--iters", "3"]).iters == 3
    with pytest.raises(SystemExit, match="ARIANNA_TRAIN_FORCE"):
        N.build_parser(environ={"ARIANNA_TRAIN_FORCE": "maybe"})
    with pytest.raises(SystemExit, match="ARIANNA_TRAIN_ITERS"):
        N.build_parser(environ={"ARIANNA_TRAIN_ITERS": "many"})


def test_old_work_directories_are_pruned(tmp_path):
    import nightly as N
    for d in ("20250101T030000Z", "20250102T030000Z", "20250103T030000Z", "20250104T030000Z"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "report.json").write_text("{}")
    (tmp_path / "state.json").write_text("{}")
    (tmp_path / "keep-me").mkdir()
    removed = N.prune_work(str(tmp_path), 2, str(tmp_path / "20250104T030000Z"))
    assert removed == ["20250101T030000Z", "20250102T030000Z"]
    assert sorted(os.listdir(tmp_path)) == ["20250103T030000Z", "20250104T030000Z", "keep-me", "state.json"]


def test_the_held_out_slice_is_interleaved_even_in_one_sitting():
    import heldout as H
    day = [{"episode_id": 1, "messages": [m for d in synthetic_dialogues(5, 1) for m in d]},  # 10 exchanges
           {"episode_id": 2, "messages": [{"role": "user", "text": "alone"}]}]                # no good reply
    train, held = H.split_day(day, every=5)
    assert [r["target"][0]["text"] for r in held] == [day[0]["messages"][4]["text"], day[0]["messages"][14]["text"]]
    assert held[0]["context"] == day[0]["messages"][0:4]  # the two exchanges before it
    assert sum(len(H.exchanges(m)) for m in train) == 9
    assert train[1] == [{"role": "user", "text": "alone"}]
    # a short day still holds out one exchange; a single exchange trains
    assert len(H.split_day([{"messages": day[0]["messages"][:4]}], 5)[1]) == 1
    assert H.split_day([{"messages": day[0]["messages"][:2]}], 5)[1] == []


@pytest.mark.skipif(not SCHEMA_RUNTIME, reason="the runtime's migrations are not here")
def test_a_night_learns_the_users_lines_and_only_her_good_replies(tmp_path):
    """User turns always; her replies only where leo judged them good: a saved
    snapshot, or a quality at or above the save threshold, never low-quality."""
    import sqlite3
    import export_dialogues as X
    day = [[{"role": "user", "text": "My cat is called Basil."}, {"role": "arianna", "text": "Basil, a small name."},
            {"role": "user", "text": "I teach the violin."}, {"role": "arianna", "text": "zzz zzz"},
            {"role": "user", "text": "I grow tomatoes."}, {"role": "arianna", "text": "Tomatoes in the sun."},
            {"role": "user", "text": "My name is Mira."}, {"role": "arianna", "text": "so so so"},
            {"role": "user", "text": "Good night."}]]
    db = make_db(str(tmp_path / "r.sqlite3"), SCHEMA_RUNTIME, day,
                 flags_for=lambda e, k, m: 4 if k == 7 else 0)
    con = sqlite3.connect(db)
    ids = [r[0] for r in con.execute("SELECT id FROM messages WHERE role = 'arianna' ORDER BY id")]
    for mid, q in zip(ids, (0.8, 0.3, 0.5, 0.9)):
        con.execute("INSERT INTO metrics(message_id, ts, quality) VALUES (?, 0, ?)", (mid, q))
    con.execute("INSERT INTO snapshots(message_id, ts, text, quality) VALUES (?, 0, 'x', 0.5)", (ids[2],))
    con.commit()
    con.close()
    res = X.export(db=db, out_dir=str(tmp_path / "out"), min_quality=0.6, keep_unanswered=True)
    msgs = json.loads(open(res["path"]).readline())["messages"]
    assert msgs == [
        {"role": "user", "text": "My cat is called Basil."}, {"role": "arianna", "text": "Basil, a small name."},
        # quality 0.3: her reply is dropped, the user's words stay (a turn of their own, never
        # merged into the next exchange)
        {"role": "user", "text": "I teach the violin."},
        {"role": "user", "text": "I grow tomatoes."},
        {"role": "arianna", "text": "Tomatoes in the sun."},  # 0.5, but leo saved it as a snapshot
        # 0.9 but flagged low quality: dropped; the last user turn has no reply and still counts
        {"role": "user", "text": "My name is Mira."}, {"role": "user", "text": "Good night."}]
