"""export_dialogues.py on a fixture database built from the shared schema
(trainer/fixtures/schema_min.sql, and the runtime's migrations in src/memory/migrations/)."""
import glob
import json
import os
import sqlite3
import threading

import pytest

from conftest import SCHEMA_MIN, SCHEMA_RUNTIME, make_db

SCHEMAS = {"schema_min": SCHEMA_MIN, **({"migrations": SCHEMA_RUNTIME} if SCHEMA_RUNTIME else {})}
T0 = 1_700_000_000_000
MIN = 60_000


def fixture_dialogues():
    return [
        # episode 1: plain exchange, plus a low-quality reply (flag 4)
        [{"role": "user", "text": "Hello"}, {"role": "arianna", "text": "Hello, I am here."},
         {"role": "user", "text": "Say something odd"}, {"role": "arianna", "text": "zzz garbage"}],
        # episode 2: system line, two user lines in a row, dangling user turn
        [{"role": "system", "text": "model reloaded"}, {"role": "user", "text": "One."},
         {"role": "user", "text": "Two.\nThree."}, {"role": "arianna", "text": "I hear  one, two\tand three."},
         {"role": "user", "text": "Are you there?"}],
        # episode 3: a reply with no question before it, then an exchange
        [{"role": "arianna", "text": "Good morning."}, {"role": "user", "text": "Morning!"},
         {"role": "arianna", "text": "Did you sleep well?"}],
        # episode 4: only a user line
        [{"role": "user", "text": "anyone?"}],
    ]


def flags(e, k, m):
    return 4 if (e == 1 and k == 3) else (1 if (e == 3 and k == 2) else 0)


@pytest.fixture(params=list(SCHEMAS.values()), ids=list(SCHEMAS))
def db(request, tmp_path):
    return make_db(str(tmp_path / "resonance.sqlite3"), request.param, fixture_dialogues(), T0, MIN, flags)


def read(path):
    return [json.loads(l) for l in open(path, encoding="utf-8")]


def test_pairs_filters_and_writes_jsonl(db, tmp_path):
    import export_dialogues as X
    out = str(tmp_path / "data")
    res = X.export(db=db, out_dir=out)
    assert os.path.basename(res["path"]).startswith("fine_tune_") and res["path"].endswith(".jsonl")
    assert glob.glob(os.path.join(out, "fine_tune_*.jsonl")) == [res["path"]]
    ds = read(res["path"])
    assert [d["episode_id"] for d in ds] == [1, 2, 3]  # episode 4 has no exchange
    assert ds[0]["messages"] == [{"role": "user", "text": "Hello"},
                                 {"role": "arianna", "text": "Hello, I am here."}]  # flag-4 reply dropped
    # "One." was never answered (the runtime answers every user message): it is not merged into the next exchange
    assert ds[1]["messages"] == [{"role": "user", "text": "Two. Three."},
                                 {"role": "arianna", "text": "I hear one, two and three."}]
    assert ds[2]["messages"] == [{"role": "user", "text": "Morning!"},
                                 {"role": "arianna", "text": "Did you sleep well?"}]
    assert ds[0]["title"] == "episode 1" and ds[0]["started_at"] == T0
    assert res["dialogues"] == 3 and res["exchanges"] == 3


def test_flag_mask_and_system(db, tmp_path):
    import export_dialogues as X
    ds = read(X.export(db=db, out_dir=str(tmp_path), exclude_flags=0, stamp="a")["path"])
    assert len(ds[0]["messages"]) == 4  # the low-quality exchange is back
    ds = read(X.export(db=db, out_dir=str(tmp_path), exclude_flags=1 | 4, stamp="b")["path"])
    assert [d["episode_id"] for d in ds] == [1, 2]  # episode 3's only reply had flag 1
    ds = read(X.export(db=db, out_dir=str(tmp_path), include_system=True, stamp="c")["path"])
    assert ds[1]["messages"][0] == {"role": "system", "text": "model reloaded"}


def test_time_and_episode_filters(db, tmp_path):
    import export_dialogues as X
    # episode 1 is minutes 0-3, episode 2 minutes 4-8, episode 3 minutes 9-11
    ds = read(X.export(db=db, out_dir=str(tmp_path), since=str(T0 + 4 * MIN), stamp="s")["path"])
    assert [d["episode_id"] for d in ds] == [2, 3]
    ds = read(X.export(db=db, out_dir=str(tmp_path), until=str(T0 + 9 * MIN), stamp="u")["path"])
    assert [d["episode_id"] for d in ds] == [1, 2]
    ds = read(X.export(db=db, out_dir=str(tmp_path), episodes=[3], stamp="e")["path"])
    assert [d["episode_id"] for d in ds] == [3]
    ds = read(X.export(db=db, out_dir=str(tmp_path), limit=1, stamp="l")["path"])
    assert [d["episode_id"] for d in ds] == [3]


def test_parse_time():
    import export_dialogues as X
    assert X.parse_time("1700000000") == 1_700_000_000_000
    assert X.parse_time("1700000000123") == 1_700_000_000_123
    assert X.parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert X.parse_time("2d", now_ms=10 * 86_400_000) == 8 * 86_400_000
    assert X.parse_time(None) is None


def test_snapshot_is_consistent_while_the_device_writes(tmp_path):
    """A writer holding an open transaction neither blocks the export nor leaks
    its uncommitted rows into it (WAL, as the runtime uses)."""
    import export_dialogues as X
    path = make_db(str(tmp_path / "live.sqlite3"), SCHEMA_MIN, fixture_dialogues()[:1], T0, MIN)
    w = sqlite3.connect(path, isolation_level=None)
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("BEGIN IMMEDIATE")
    w.execute("INSERT INTO messages(ts, role, text, episode_id) VALUES (?, 'user', 'uncommitted', 1)", (T0 + 99 * MIN,))
    w.execute("INSERT INTO messages(ts, role, text, episode_id) VALUES (?, 'arianna', 'not yet', 1)", (T0 + 100 * MIN,))
    result = {}
    t = threading.Thread(target=lambda: result.update(X.export(db=path, out_dir=str(tmp_path), exclude_flags=0)))
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "export blocked on the writer"
    ds = read(result["path"])
    assert all("uncommitted" not in m["text"] for d in ds for m in d["messages"])
    w.execute("COMMIT")
    w.close()


def test_the_snapshot_of_a_wal_database_leaves_nothing_behind(tmp_path, monkeypatch):
    """The snapshot is read and removed: no -wal or -shm of it outlives the export."""
    import tempfile
    import export_dialogues as X
    path = make_db(str(tmp_path / "live.sqlite3"), SCHEMA_MIN, fixture_dialogues()[:1], T0, MIN)
    w = sqlite3.connect(path)
    w.execute("PRAGMA journal_mode=WAL")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    X.export(db=path, out_dir=str(tmp_path / "out"), exclude_flags=0)
    w.close()
    assert os.listdir(scratch) == []


def test_jsonl_from_api_export(tmp_path):
    import export_dialogues as X
    rows = [
        {"id": 1, "ts": T0, "role": "user", "text": "hi", "episodeId": 7, "flags": 0},
        {"id": 2, "ts": T0 + 1, "role": "arianna", "text": "hello", "episodeId": 7, "flags": 0},
        {"type": "episode", "id": 8, "started_at": T0, "title": "t",
         "messages": [{"id": 3, "ts": T0 + 5, "role": "user", "text": "q"},
                      {"id": 4, "ts": T0 + 6, "role": "arianna", "text": "a", "flags": 4}]},
    ]
    src = tmp_path / "export.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ds = read(X.export(jsonl=str(src), out_dir=str(tmp_path))["path"])
    assert [d["episode_id"] for d in ds] == [7]  # episode 8's reply is low quality
    assert ds[0]["messages"] == [{"role": "user", "text": "hi"}, {"role": "arianna", "text": "hello"}]


def test_http_export_with_bearer_token(tmp_path):
    """GET /api/export from a device (a local stand-in server) with the token."""
    import http.server
    import export_dialogues as X
    body = "\n".join(json.dumps(r) for r in [
        {"id": 1, "ts": T0, "role": "user", "text": "hi", "episode_id": 1},
        {"id": 2, "ts": T0 + 1, "role": "arianna", "text": "hello", "episode_id": 1}]) + "\n"
    seen = {}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen["path"], seen["auth"] = self.path, self.headers.get("Authorization")
            if self.headers.get("Authorization") != "Bearer s3cret":
                self.send_response(401)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    th = threading.Thread(target=srv.handle_request)
    th.start()
    try:
        res = X.export(url=f"http://127.0.0.1:{srv.server_port}", token="s3cret", out_dir=str(tmp_path),
                       since=str(T0 - 1000))
    finally:
        th.join(timeout=10)
        srv.server_close()
    assert seen["path"].startswith("/api/export?since=")
    assert res["dialogues"] == 1


def test_cli(db, tmp_path, capsys):
    import export_dialogues as X
    X.main(["--db", db, "--out-dir", str(tmp_path / "cli"), "--exclude-flags", "0x4", "--episode", "1"])
    out = json.loads(capsys.readouterr().out)
    assert out["dialogues"] == 1 and os.path.exists(out["path"])


def test_unanswered_and_cancelled_turns_are_no_training_data(tmp_path):
    """A reply that could not be stored leaves its user message flagged 8 (unanswered); a turn the
    client cut short has 16 (cancelled) on both messages. Neither is exported, and an unanswered
    user message (flagged or not: a database from before the flag) never joins the next exchange."""
    import export_dialogues as X
    dialogue = [{"role": "user", "text": "disk full question"},                 # flag 8: its reply never stored
                {"role": "user", "text": "legacy orphan"},                      # no flag, but no reply either
                {"role": "user", "text": "hung up"}, {"role": "arianna", "text": "Half a sen"},  # flag 16 on both
                {"role": "user", "text": "Real question?"}, {"role": "arianna", "text": "A real answer."}]
    marks = {0: 8, 2: 16, 3: 16}
    path = make_db(str(tmp_path / "r.sqlite3"), SCHEMA_MIN, [dialogue], T0, MIN, lambda e, k, m: marks.get(k, 0))
    ds = read(X.export(db=path, out_dir=str(tmp_path))["path"])
    assert ds[0]["messages"] == [{"role": "user", "text": "Real question?"}, {"role": "arianna", "text": "A real answer."}]
    # the night keeps unanswered user words on request, but never a cancelled turn, and never merged
    ds = read(X.export(db=path, out_dir=str(tmp_path), exclude_flags=X.CANCELLED | X.LOW_QUALITY, keep_unanswered=True, stamp="k")["path"])
    assert [m["text"] for m in ds[0]["messages"]] == ["disk full question", "legacy orphan", "Real question?", "A real answer."]
