"""Night school: one command that pulls the day's dialogues from the device,
fine-tunes the device's current kernel on them, judges the result on talk it
never saw, exports, checks it with the C core, and deploys it atomically.

  python trainer/nightly.py --url http://arianna.local:8080 --token-file ~/.arianna-token \
      --dest pi@arianna.local:/var/lib/arianna
  python trainer/nightly.py --db /var/lib/arianna/resonance.sqlite3 --dest /var/lib/arianna
  python trainer/nightly.py --ssh-db pi@arianna.local:/var/lib/arianna/resonance.sqlite3 \
      --dest pi@arianna.local:/var/lib/arianna

Stages (each one a step of the progress bar and one line in the journal):
  1. pull      dialogues since the last deployed night (export_dialogues.py):
               GET /api/export with the bearer token, or an SQLite online backup
               (`sqlite3 DB .backup` over ssh, or the backup API locally).
               Kept: every user turn; her replies only where leo judged them
               good (a snapshot, or quality >= --min-quality); never low-quality,
               cancelled or orphaned ones.
  2. base      the device's live kernel, DEST/models/current/ (rsync), else
               --base, else models/default/;
  3. prepare   hold out every --holdout-every-th exchange of the day (counted
               across sittings, so a single sitting is split too); the rest,
               plus the slice held out by the last deployed night, become the
               training dialogues. Tokenised with the base kernel's own
               tokenizer, mixed with a replay of the base (80/20,
               --dialogue-fraction): the persona corpus plus, when the prose
               mix is there (--prose, fetch_corpus.py's output), a replayed
               prose slice (arianna_data.REPLAY_FRACTION of the persona
               corpus's size, as in the kernel's own fine-tune) so that
               nights do not erode grammar;
  4. finetune  train_arianna.py --init_from=<base>/model.bin (its CLI, in a
               child process; one journal line per eval);
  5. export    model.bin in the base's format, labelled a candidate;
  6. gate      base and candidate model.bin scored the same way (heldout.py):
               PASS only when the held-out dialogue loss (nats/token of the
               held-out exchanges, given their earlier turns) is lower than
               the base's by at least --min-improvement (1 %) AND prose bits
               per byte regress by less than --max-regression (5 %) AND the
               weights changed at all. Prose is the mix's held-out slice
               (heldout.PROSE_BYTES of it, never trained on) when the mix is
               there, else the persona corpus's val split; with the mix the
               persona val split is reported beside it;
  7. check     verify.py: manifest, C logits vs PyTorch, arianna-run generates;
  8. deploy    deploy.py: rsync to models/versions/<version>/, verify, atomic
               switch of models/current.
A refused candidate keeps its "nightly-candidate" label, which deploy.py
refuses; --deploy-anyway ships it as "nightly-ungated" (never as a
fine-tune). Only a deploy consumes the day: after --no-deploy, a refusal or
an error, the next night pulls the same dialogues again. Nothing runs when
there are no new dialogues (unless --force). The last --keep-work work
directories are kept (default trainer/out/nightly/<stamp>/).

Every option also reads ARIANNA_TRAIN_<NAME> from the environment (e.g.
ARIANNA_TRAIN_DEST, ARIANNA_TRAIN_FORCE=1, ARIANNA_TRAIN_SET="iters=5 x=y"),
which is how the systemd unit configures it.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from arianna_data import PROSE_DIR  # noqa: E402  (where build_default.py's prose is too)

STAGES = ["pull", "base", "prepare", "finetune", "export", "gate", "check", "deploy"]
ENV_PREFIX = "ARIANNA_TRAIN_"
STAMP = re.compile(r"^\d{8}T\d{6}Z$")
CARRY = "carry.jsonl"  # the last deployed night's held-out slice, trained on next


def env_name(action) -> str:
    return ENV_PREFIX + action.dest.upper()


def _truthy(name: str, s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise SystemExit(f"{name}={s!r}: expected 1/0, true/false, yes/no or on/off")


def apply_env(ap: argparse.ArgumentParser, environ=os.environ) -> argparse.ArgumentParser:
    """Every option's default from ARIANNA_TRAIN_<DEST>, converted as the
    command line would convert it (flags: 1/0 etc., --set: space-separated)."""
    for a in ap._actions:
        if not a.option_strings or a.dest == "help" or env_name(a) not in environ:
            continue
        raw = environ[env_name(a)]
        if isinstance(a, argparse._StoreTrueAction):
            value = _truthy(env_name(a), raw)
        elif isinstance(a, argparse._AppendAction):
            value = shlex.split(raw)
        else:
            try:
                value = a.type(raw) if a.type else raw
            except ValueError as e:
                raise SystemExit(f"{env_name(a)}={raw!r}: {e}")
            if a.choices is not None and value not in a.choices:
                raise SystemExit(f"{env_name(a)}={raw!r}: choose from {sorted(a.choices)}")
        ap.set_defaults(**{a.dest: value})
    return ap


def _int_or_none(s: str):
    return int(s) or None


def build_parser(environ=os.environ):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="device base URL for GET /api/export")
    ap.add_argument("--token")
    ap.add_argument("--token-file")
    ap.add_argument("--db", help="a local resonance.sqlite3")
    ap.add_argument("--ssh-db", help="[user@]host:/path/resonance.sqlite3")
    ap.add_argument("--jsonl", help="an already exported JSONL file")
    ap.add_argument("--dest", help="device ARIANNA_HOME: /path or [user@]host:/path")
    ap.add_argument("--ssh", default="ssh")
    ap.add_argument("--base", help="base model dir when the device has none")
    ap.add_argument("--corpus", default=os.path.join(HERE, "corpus"))
    ap.add_argument("--prose", default=PROSE_DIR,
                    help="fetch_corpus.py's output, as build_default.py takes it: its prose mix is replayed "
                         "and gated on; where there is none, the persona corpus alone is")
    ap.add_argument("--work-root", default=os.path.join(HERE, "out", "nightly"))
    ap.add_argument("--since", help="default: the last deployed night")
    ap.add_argument("--until")
    ap.add_argument("--exclude-flags", type=lambda s: int(s, 0), default=None,
                    help="message flag bits to leave out (default: export_dialogues.DEFAULT_EXCLUDE_FLAGS: "
                         "low quality, unanswered, cancelled)")
    ap.add_argument("--min-quality", type=float, default=0.6,
                    help="her replies below this leo quality are left out unless saved as a snapshot "
                         "(leo's snapshots.minQuality, src/config/leo.ts)")
    ap.add_argument("--limit", type=_int_or_none, default=None)
    ap.add_argument("--holdout-every", type=int, default=5, help="hold out every N-th exchange of the day")
    ap.add_argument("--min-improvement", type=float, default=0.01,
                    help="smallest relative fall of the held-out dialogue loss the gate accepts "
                         "(above the noise of re-rounding unchanged Q8_0 weights)")
    ap.add_argument("--max-regression", type=float, default=0.05,
                    help="largest relative rise of the base corpus's bits per byte the gate allows")
    ap.add_argument("--iters", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=0.0)
    ap.add_argument("--learning-rate", type=float, default=2e-4)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--seq-len", type=_int_or_none, default=None)
    ap.add_argument("--dialogue-fraction", type=float, default=0.2)
    ap.add_argument("--eval-interval", type=int, default=50)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--format", type=int, default=None, choices=(0, 1, 2), help="default: the base's format")
    ap.add_argument("--keep", type=int, default=5, help="kernel versions kept on the device")
    ap.add_argument("--keep-work", type=int, default=7, help="work directories kept under --work-root")
    ap.add_argument("--force", action="store_true", help="fine-tune even with no new dialogues")
    ap.add_argument("--deploy-anyway", action="store_true",
                    help="deploy a refused candidate, labelled nightly-ungated")
    ap.add_argument("--no-deploy", action="store_true", help="stop before deploying; consumes nothing")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra train_arianna.py config")
    for a in ap._actions:
        if a.option_strings and a.dest != "help":
            a.help = ((a.help + " ") if a.help else "") + f"[env {env_name(a)}]"
    return apply_env(ap, environ)


def pull_ssh_db(spec: str, local: str, ssh: str = "ssh") -> str:
    """Online backup on the device (sqlite3 CLI), copied back with rsync."""
    host, _, path = spec.partition(":")
    remote_tmp = f"/tmp/arianna-export-{os.getpid()}.sqlite3"
    cmd = shlex.split(ssh) + [host, f"sqlite3 {shlex.quote(path)} {shlex.quote('.backup ' + remote_tmp)}"]
    subprocess.run(cmd, check=True, capture_output=True)
    try:
        subprocess.run(["rsync", "-a", "-e", ssh, f"{host}:{remote_tmp}", local], check=True, capture_output=True)
    finally:
        subprocess.run(shlex.split(ssh) + [host, f"rm -f {shlex.quote(remote_tmp)}"], capture_output=True)
    return local


def prune_work(work_root: str, keep: int, current: str) -> list:
    """Remove all but the newest `keep` stamp directories (never `current`)."""
    stamps = sorted(d for d in os.listdir(work_root)
                    if STAMP.match(d) and os.path.isdir(os.path.join(work_root, d)))
    old = [d for d in stamps[:max(0, len(stamps) - max(1, keep))] if os.path.join(work_root, d) != current]
    for d in old:
        shutil.rmtree(os.path.join(work_root, d), ignore_errors=True)
    return old


def finetune(cfg: dict, log) -> dict:
    """train_arianna.py's CLI in a child process; one log line per eval from
    its log.jsonl while it runs. Returns its summary plus the eval history."""
    log_path = os.path.join(cfg["out_dir"], "log.jsonl")
    cmd = [sys.executable, os.path.join(HERE, "train_arianna.py")] + [f"--{k}={v}" for k, v in cfg.items()]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out: list = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()), daemon=True)
    reader.start()
    seen = 0

    def tail():
        nonlocal seen
        if not os.path.exists(log_path):
            return
        with open(log_path) as f:
            lines = f.read().splitlines()
        for ln in lines[seen:]:
            try:
                r = json.loads(ln)
            except ValueError:
                return  # a line being written: read it next time
            seen += 1
            parts = [f"{k} {r[k]:.4f}" for k in ("val_loss", "val_corpus", "val_dialogues")
                     if isinstance(r.get(k), (int, float))]
            if isinstance(r.get("train_loss"), (int, float)):
                parts.append(f"train {r['train_loss']:.4f}")
            log(f"finetune: eval at iter {r['iter']}: " + ", ".join(parts))

    while proc.poll() is None:
        tail()
        time.sleep(0.5)
    reader.join()
    tail()
    if proc.returncode != 0:
        raise RuntimeError(f"train_arianna.py failed with exit code {proc.returncode}")
    text = "".join(out)
    res = json.loads(text[text.index("\n{") + 1 if not text.startswith("{") else 0:])
    with open(log_path) as f:
        res["history"] = [json.loads(ln) for ln in f if ln.strip()]
    return res


def run(a) -> dict:
    os.makedirs(a.work_root, exist_ok=True)
    lock_f = open(os.path.join(a.work_root, ".lock"), "w")
    try:
        fcntl.flock(lock_f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("another nightly run holds the lock")
    state_path = os.path.join(a.work_root, "state.json")
    state = json.load(open(state_path)) if os.path.exists(state_path) else {}
    carry_path = os.path.join(a.work_root, CARRY)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = os.path.join(a.work_root, stamp)
    os.makedirs(work, exist_ok=True)
    report = {"stamp": stamp, "work": work, "stages": {}}

    bar = None
    if not a.no_progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=len(STAGES), desc="nightly", unit="stage", file=sys.stderr,
                       bar_format="{desc}: {n_fmt}/{total_fmt} stages |{bar}| {elapsed} [{postfix}]")
        except ImportError:
            bar = None

    def log(msg):
        if bar is not None:
            bar.write("nightly: " + msg, file=sys.stderr)
        else:
            print("nightly: " + msg, file=sys.stderr, flush=True)

    current = [None]

    def stage(name):
        current[0] = name
        if bar is not None:
            bar.set_postfix_str(name)
        report["stages"][name] = {"started": time.time()}

    def done(name, **info):
        st = report["stages"][name]
        st["seconds"] = round(time.time() - st.pop("started"), 2)
        st.update(info)
        shown = ", ".join(f"{k} {_fmt(v)}" for k, v in info.items() if not isinstance(v, (dict, list)))
        log(f"{name} ({st['seconds']} s): {shown}")
        if bar is not None:
            bar.update(1)

    def finish(status):
        report["status"] = status
        report["pruned_work"] = prune_work(a.work_root, a.keep_work, work)
        log(f"status {status}")
        if bar is not None:
            bar.close()
        with open(os.path.join(work, "report.json"), "w") as f:
            json.dump(report, f, indent=2, default=str)
        return report

    try:
        return _stages(a, state, state_path, carry_path, stamp, work, stage, done, finish, log)
    except BaseException as e:
        log(f"{current[0]} failed: {type(e).__name__}: {e}")
        report["error"] = f"{type(e).__name__}: {e}"
        finish("failed")
        raise


def _fmt(v):
    """A value on one journal line."""
    return f"{v:.4g}" if isinstance(v, float) else " ".join(str(v).split())


def _stages(a, state, state_path, carry_path, stamp, work, stage, done, finish, log):
    """The night's eight numbered stages, one after the other. One piece on purpose: it reads
    like the journal it writes, each stage using what the earlier ones made (paths, the base
    kernel, the held-out slice, the candidate); the work of each lives in its own module."""
    import arianna_data as D
    import deploy as P
    import export_dialogues as X
    import heldout as H
    import modeldir as M

    # 1. pull
    stage("pull")
    token = a.token
    if a.token_file:
        with open(os.path.expanduser(a.token_file)) as f:
            token = f.read().strip()
    since = a.since if a.since is not None else state.get("last_until")
    until = a.until or str(int(time.time() * 1000))
    common = dict(out_dir=os.path.join(work, "data"), since=since, until=until, exclude_flags=X.DEFAULT_EXCLUDE_FLAGS if a.exclude_flags is None else a.exclude_flags,
                  min_quality=a.min_quality, keep_unanswered=True, limit=a.limit, stamp=stamp)
    if a.ssh_db:
        ex = X.export(db=pull_ssh_db(a.ssh_db, os.path.join(work, "resonance-backup.sqlite3"), a.ssh), **common)
    elif a.db:
        ex = X.export(db=a.db, **common)
    elif a.url:
        ex = X.export(url=a.url, token=token, **common)
    elif a.jsonl:
        ex = X.export(jsonl=a.jsonl, **common)
    else:
        raise SystemExit("give a dialogue source: --url, --db, --ssh-db or --jsonl")
    done("pull", **{k: ex[k] for k in ("path", "dialogues", "exchanges", "messages_read", "since", "until")})
    if ex["dialogues"] == 0 and not a.force:
        return finish("nothing-new")

    # 2. base kernel
    stage("base")
    base_dir = None
    if a.dest:
        base_dir = P.fetch_current(a.dest, os.path.join(work, "base"), a.ssh)
    if base_dir is None:
        base_dir = a.base or os.path.join(REPO, "models", "default")
    base_man = M.verify_model_dir(base_dir)
    done("base", dir=base_dir, version=base_man.get("version"), format=base_man["format"])

    # 3. prepare: the held-out slice, the training dialogues, the shards
    stage("prepare")
    day = D.read_dialogues_jsonl(ex["path"])
    train, held = H.split_day([{"messages": m} for m in day], a.holdout_every)
    carried = H.read_jsonl(carry_path) if os.path.exists(carry_path) else []
    train += [r["target"] for r in carried]
    train_path = H.write_jsonl(os.path.join(work, "train.jsonl"), [{"messages": m} for m in train])
    held_path = H.write_jsonl(os.path.join(work, "heldout.jsonl"), held)
    tok_model = os.path.join(base_dir, "tokenizer.model")
    tok_kw = dict(sp_model=tok_model) if os.path.exists(tok_model) else \
        dict(tokenizer_bin=os.path.join(base_dir, "tokenizer.bin"), vocab_size=base_man["dims"]["vocab_size"])
    data_dir = os.path.join(work, "prepared")
    # the base the night replays: the persona corpus, and prose when the mix is here
    mix = D.mix_dir(a.prose)
    if not os.path.isdir(mix):
        log(f"prepare: no prose mix at {mix} (trainer/fetch_corpus.py): the base is the persona corpus "
            "alone and the gate's prose is its val split")
        mix = None
    replay = D.replay_documents(mix, D.corpus_provenance(a.corpus)["bytes"]) if mix else []
    meta = D.prepare(a.corpus, data_dir, dialogue_jsonl=[train_path], val_fraction=0.1,
                     dialogue_fraction=a.dialogue_fraction, seed=1337, replay_docs=replay,
                     **{k: v for k, v in tok_kw.items() if k != "vocab_size"})
    # every training dialogue trains; checkpoints are chosen on the corpus val
    # split and the training dialogues, so the held-out slice stays unseen
    tok = D.Tokenizer(**tok_kw)
    docs = D.dialogue_documents([train_path])
    arr = D.tokenize_docs(tok, docs)
    for split in ("train", "val"):
        D.write_shard(os.path.join(data_dir, f"dialogues_{split}.bin"), arr)
        meta["shards"][f"dialogues_{split}"] = {"documents": len(docs), "tokens": int(arr.size)}
    with open(os.path.join(data_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    texts = {"persona": D.split_train_val(D.corpus_documents(a.corpus), 0.1, 1337)[1]}
    if mix:
        texts["prose"] = D.prose_documents(mix, "val", max_bytes=H.PROSE_BYTES)
    gated = "prose" if mix else "persona"
    n_train_ex = sum(len(H.exchanges(m)) for m in train)
    done("prepare", train_exchanges=n_train_ex, carried_exchanges=len(carried), heldout_exchanges=len(held),
         prose_mix=mix or "none", replay_bytes=meta["replay_bytes"], shards=meta["shards"])

    # 4. fine-tune (train_arianna.py's CLI)
    stage("finetune")
    seq_len = a.seq_len or base_man["dims"]["seq_len"]
    cfg = dict(data_dir=data_dir, out_dir=os.path.join(work, "run"), init_from=os.path.join(base_dir, "model.bin"),
               max_iters=a.iters, max_minutes=a.minutes, learning_rate=a.learning_rate, min_lr=a.learning_rate / 10,
               warmup_iters=min(20, a.iters // 10), batch_size=a.batch_size, seq_len=seq_len,
               dialogue_fraction=a.dialogue_fraction, eval_interval=a.eval_interval, device=a.device,
               progress=not a.no_progress, dropout=0.0)
    for kv in a.set:
        k, eq, v = kv.partition("=")
        if not eq:
            raise SystemExit(f"--set {kv!r}: expected KEY=VALUE")
        cfg[k] = v
    res = finetune(cfg, log)
    done("finetune", iters=res["iters"], tokens=res["tokens"], tokens_per_second=res["tokens_per_second"],
         stop_reason=res["stop_reason"], val_before=res["first_val"]["val_loss"], val_best=res["best_val_loss"])

    # 5. export the candidate
    stage("export")
    import export as E
    model, ck = E.load_checkpoint(res["ckpt"])
    fmt = a.format if a.format is not None else base_man["format_version"]
    training = dict(ck.get("provenance", {}))
    training.update(kind="nightly-candidate", parent=base_man.get("version"), parent_name=base_man.get("name"),
                    dialogues_file=os.path.basename(ex["path"]), dialogues=ex["dialogues"],
                    exchanges=ex["exchanges"], train_exchanges=n_train_ex, carried_exchanges=len(carried),
                    heldout_exchanges=len(held), replay_bytes=meta["replay_bytes"],
                    window={"since": ex["since"], "until": ex["until"]})
    version = stamp.replace("T", "-").rstrip("Z")
    out_dir = os.path.join(work, "model")
    man = E.write_model_dir(model, out_dir, fmt, tokenizer_bin=os.path.join(base_dir, "tokenizer.bin"),
                            tokenizer_model=tok_model if os.path.exists(tok_model) else None,
                            group_size=base_man.get("group_size") or None, name=base_man.get("name", "arianna"),
                            model_version=version, origin_text=base_man.get("origin_text"),
                            val_loss=res["best_val_loss"], training=training, corpus=meta.get("corpus"),
                            chat_template=base_man.get("chat_template"))
    done("export", dir=out_dir, version=version, bytes=man["files"]["model.bin"]["bytes"])

    # 6. the gate: held-out dialogue loss must fall, prose must not regress 5 %
    stage("gate")
    before = H.score(os.path.join(base_dir, "model.bin"), tok, held, texts, a.device)
    after = H.score(os.path.join(out_dir, "model.bin"), tok, held, texts, a.device)
    unchanged = man["sha256"]["model"] == base_man["sha256"]["model"]
    regression = (after["bpb"][gated] - before["bpb"][gated]) / before["bpb"][gated]
    improved = before["heldout_loss"] is not None and \
        after["heldout_loss"] < before["heldout_loss"] * (1 - a.min_improvement)
    passed = improved and regression < a.max_regression and not unchanged
    gate = {"passed": passed, "heldout_exchanges": len(held), "heldout_tokens": before["heldout_tokens"],
            "heldout_loss_before": before["heldout_loss"], "heldout_loss_after": after["heldout_loss"],
            "prose_set": "held-out prose" if mix else "persona val", "prose_bytes": before["bytes"][gated],
            "prose_bpb_before": before["bpb"][gated], "prose_bpb_after": after["bpb"][gated],
            "prose_regression": regression, "min_improvement": a.min_improvement,
            "max_regression": a.max_regression, "unchanged": unchanged}
    if mix:
        gate.update(persona_bpb_before=before["bpb"]["persona"], persona_bpb_after=after["bpb"]["persona"])
    label = "nightly-finetune" if passed else "nightly-ungated" if a.deploy_anyway and not unchanged \
        else "nightly-candidate"
    training.update(kind=label, gate=gate)
    _relabel(out_dir, training)
    done("gate", **{k: v for k, v in gate.items() if k not in ("min_improvement", "max_regression")}, label=label)

    # 7. check with the C core
    stage("check")
    import verify as V
    chk = V.check_model_dir(out_dir, prompts=["User: Hello.\nArianna:"], steps=24)
    done("check", logits_max_diff=chk["logits_max_diff"], sample=chk["samples"][0][1][:200])

    # 8. deploy
    stage("deploy")
    if a.no_deploy or not a.dest:
        done("deploy", skipped="no --dest" if not a.dest else "--no-deploy")
        return finish("exported")
    if label == "nightly-candidate":
        done("deploy", skipped="unchanged from the base" if unchanged else "the gate refused it")
        state.update(last_run=stamp, last_status="refused")
        _save_state(state_path, state)
        return finish("refused")
    dep = P.deploy(out_dir, a.dest, version=version if passed else version + "-ungated", keep=a.keep, ssh=a.ssh)
    done("deploy", **dep)
    # the day is consumed; its held-out slice is what the next night trains on first
    H.write_jsonl(carry_path, held)
    state.update(last_run=stamp, last_status="deployed", last_until=ex["until"], last_version=dep["version"])
    _save_state(state_path, state)
    return finish("deployed")


def _relabel(out_dir: str, training: dict) -> dict:
    """Rewrite the manifest's training record (the hashed files stay as they are)."""
    path = os.path.join(out_dir, "manifest.json")
    with open(path, encoding="utf-8") as f:
        man = json.load(f)
    man["training"] = training
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(man, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return man


def _save_state(path: str, state: dict) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(state, f, indent=2)
    os.replace(path + ".tmp", path)


def main(argv=None):
    a = build_parser().parse_args(argv)
    rep = run(a)
    print(json.dumps({"status": rep["status"], "work": rep["work"],
                      "stages": rep["stages"]}, indent=2, default=str))


if __name__ == "__main__":
    main()
