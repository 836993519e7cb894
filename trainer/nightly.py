"""Night school: one command that pulls the day's dialogues from the device,
fine-tunes the device's current kernel on them, exports, checks the result
with the C core, and deploys it atomically.

  python trainer/nightly.py --url http://arianna.local:8080 --token-file ~/.arianna-token \
      --dest pi@arianna.local:/var/lib/arianna
  python trainer/nightly.py --db /var/lib/arianna/resonance.sqlite3 --dest /var/lib/arianna
  python trainer/nightly.py --ssh-db pi@arianna.local:/var/lib/arianna/resonance.sqlite3 \
      --dest pi@arianna.local:/var/lib/arianna

Stages (each one a step of the progress bar):
  1. pull      dialogues since the last successful night (export_dialogues.py):
               GET /api/export with the bearer token, or an SQLite online backup
               (`sqlite3 DB .backup` over ssh, or the backup API locally);
  2. base      the device's live kernel, DEST/models/current/ (rsync), else
               --base, else models/default/;
  3. prepare   tokenise with the base kernel's own tokenizer: base corpus and
               fresh dialogues mixed 80/20 (arianna_data.py);
  4. finetune  train_arianna.py --init_from=<base>/model.bin;
  5. export    model.bin in the base's format, tokenizer.bin, manifest.json;
  6. check     verify.py: manifest, C logits vs PyTorch, arianna-run generates;
  7. deploy    deploy.py: rsync to models/versions/<version>/, verify, atomic
               switch of models/current.
Nothing is deployed when there are no new dialogues (unless --force) or when
the fine-tuned kernel is not better on the validation dialogues than the base
(unless --deploy-anyway). Every option also reads ARIANNA_TRAIN_<NAME> from
the environment (e.g. ARIANNA_TRAIN_DEST), which is how the systemd unit
configures it. Work files go to --work (default trainer/out/nightly/<stamp>/).
"""
from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

STAGES = ["pull", "base", "prepare", "finetune", "export", "check", "deploy"]


def env_default(name, default=None):
    return os.environ.get("ARIANNA_TRAIN_" + name.upper(), default)


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=env_default("url"), help="device base URL for GET /api/export")
    ap.add_argument("--token", default=env_default("token"))
    ap.add_argument("--token-file", default=env_default("token_file"))
    ap.add_argument("--db", default=env_default("db"), help="a local resonance.sqlite3")
    ap.add_argument("--ssh-db", default=env_default("ssh_db"), help="[user@]host:/path/resonance.sqlite3")
    ap.add_argument("--jsonl", default=env_default("jsonl"), help="an already exported JSONL file")
    ap.add_argument("--dest", default=env_default("dest"), help="device ARIANNA_HOME: /path or [user@]host:/path")
    ap.add_argument("--ssh", default=env_default("ssh", "ssh"))
    ap.add_argument("--base", default=env_default("base"), help="base model dir when the device has none")
    ap.add_argument("--corpus", default=env_default("corpus", os.path.join(HERE, "corpus")))
    ap.add_argument("--work-root", default=env_default("work_root", os.path.join(HERE, "out", "nightly")))
    ap.add_argument("--since", default=env_default("since"), help="default: the last successful night")
    ap.add_argument("--until", default=env_default("until"))
    ap.add_argument("--exclude-flags", type=lambda s: int(s, 0), default=int(env_default("exclude_flags", "4"), 0))
    ap.add_argument("--limit", type=int, default=int(env_default("limit", "0")) or None)
    ap.add_argument("--iters", type=int, default=int(env_default("iters", "300")))
    ap.add_argument("--minutes", type=float, default=float(env_default("minutes", "0")))
    ap.add_argument("--learning-rate", type=float, default=float(env_default("learning_rate", "2e-4")))
    ap.add_argument("--batch-size", type=int, default=int(env_default("batch_size", "8")))
    ap.add_argument("--seq-len", type=int, default=int(env_default("seq_len", "0")) or None)
    ap.add_argument("--dialogue-fraction", type=float, default=float(env_default("dialogue_fraction", "0.2")))
    ap.add_argument("--eval-interval", type=int, default=int(env_default("eval_interval", "50")))
    ap.add_argument("--device", default=env_default("device", "auto"))
    ap.add_argument("--format", type=int, default=None, choices=(0, 1, 2), help="default: the base's format")
    ap.add_argument("--keep", type=int, default=int(env_default("keep", "5")))
    ap.add_argument("--force", action="store_true", help="fine-tune even with no new dialogues")
    ap.add_argument("--deploy-anyway", action="store_true", help="deploy even if val loss did not improve")
    ap.add_argument("--no-deploy", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra train_arianna.py config")
    return ap


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


def run(a) -> dict:
    import arianna_data as D
    import export as E
    import export_dialogues as X
    import train_arianna as T
    import verify as V
    import deploy as P

    os.makedirs(a.work_root, exist_ok=True)
    lock_f = open(os.path.join(a.work_root, ".lock"), "w")
    try:
        fcntl.flock(lock_f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("another nightly run holds the lock")
    state_path = os.path.join(a.work_root, "state.json")
    state = json.load(open(state_path)) if os.path.exists(state_path) else {}
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

    def stage(name):
        if bar is not None:
            bar.set_postfix_str(name)
        else:
            print(f"nightly: {name}", file=sys.stderr, flush=True)
        report["stages"][name] = {"started": time.time()}

    def done(name, **info):
        st = report["stages"][name]
        st["seconds"] = round(time.time() - st.pop("started"), 2)
        st.update(info)
        if bar is not None:
            bar.update(1)

    def finish(status):
        report["status"] = status
        if bar is not None:
            bar.close()
        with open(os.path.join(work, "report.json"), "w") as f:
            json.dump(report, f, indent=2, default=str)
        return report

    # 1. pull
    stage("pull")
    token = a.token
    if a.token_file:
        with open(os.path.expanduser(a.token_file)) as f:
            token = f.read().strip()
    since = a.since if a.since is not None else state.get("last_until")
    until = a.until or str(int(time.time() * 1000))
    data_out = os.path.join(work, "data")
    if a.ssh_db:
        db = pull_ssh_db(a.ssh_db, os.path.join(work, "resonance-backup.sqlite3"), a.ssh)
        ex = X.export(db=db, out_dir=data_out, since=since, until=until,
                      exclude_flags=a.exclude_flags, limit=a.limit, stamp=stamp)
    elif a.db:
        ex = X.export(db=a.db, out_dir=data_out, since=since, until=until,
                      exclude_flags=a.exclude_flags, limit=a.limit, stamp=stamp)
    elif a.url:
        ex = X.export(url=a.url, token=token, out_dir=data_out, since=since, until=until,
                      exclude_flags=a.exclude_flags, limit=a.limit, stamp=stamp)
    elif a.jsonl:
        ex = X.export(jsonl=a.jsonl, out_dir=data_out, since=since, until=until,
                      exclude_flags=a.exclude_flags, limit=a.limit, stamp=stamp)
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
    base_man = E.verify_model_dir(base_dir)
    done("base", dir=base_dir, version=base_man.get("version"), format=base_man["format"])

    # 3. prepare
    stage("prepare")
    tok_model = os.path.join(base_dir, "tokenizer.model")
    data_dir = os.path.join(work, "prepared")
    meta = D.prepare(a.corpus, data_dir, dialogue_jsonl=[ex["path"]],
                     sp_model=tok_model if os.path.exists(tok_model) else None,
                     tokenizer_bin=None if os.path.exists(tok_model) else os.path.join(base_dir, "tokenizer.bin"),
                     dialogue_fraction=a.dialogue_fraction)
    done("prepare", shards=meta["shards"])

    # 4. fine-tune
    stage("finetune")
    seq_len = a.seq_len or base_man["dims"]["seq_len"]
    cfg = dict(T.DEFAULTS, data_dir=data_dir, out_dir=os.path.join(work, "run"),
               init_from=os.path.join(base_dir, "model.bin"), max_iters=a.iters, max_minutes=a.minutes,
               learning_rate=a.learning_rate, min_lr=a.learning_rate / 10, warmup_iters=min(20, a.iters // 10),
               batch_size=a.batch_size, seq_len=seq_len, dialogue_fraction=a.dialogue_fraction,
               eval_interval=a.eval_interval, device=a.device, progress=not a.no_progress, dropout=0.0)
    cfg = T.parse_overrides([f"--{kv}" for kv in a.set], cfg)
    res = T.train(cfg)
    first, best = res["first_val"]["val_loss"], res["best_val_loss"]
    first_d = res["first_val"].get("val_dialogues")
    best_d = min((h["val_dialogues"] for h in res["history"] if h.get("val_dialogues") is not None),
                 default=None)
    improved = best is not None and first is not None and best < first
    done("finetune", iters=res["iters"], tokens=res["tokens"], tokens_per_second=res["tokens_per_second"],
         val_before=first, val_after=best, val_dialogues_before=first_d, val_dialogues_best=best_d,
         improved=improved)

    # 5. export
    stage("export")
    model, ck = E.load_checkpoint(res["ckpt"])
    model.eval()
    fmt = a.format if a.format is not None else base_man["format_version"]
    training = dict(ck.get("provenance", {}))
    training.update(kind="nightly-finetune", parent=base_man.get("version"), parent_name=base_man.get("name"),
                    dialogues_file=os.path.basename(ex["path"]), dialogues=ex["dialogues"],
                    exchanges=ex["exchanges"], window={"since": ex["since"], "until": ex["until"]},
                    val_before=first, val_dialogues_before=first_d)
    version = stamp.replace("T", "-").rstrip("Z")
    out_dir = os.path.join(work, "model")
    man = E.write_model_dir(model, out_dir, fmt, tokenizer_bin=os.path.join(base_dir, "tokenizer.bin"),
                            tokenizer_model=tok_model if os.path.exists(tok_model) else None,
                            group_size=base_man.get("group_size") or None, name=base_man.get("name", "arianna"),
                            model_version=version, origin_text=base_man.get("origin_text"), val_loss=best,
                            training=training, corpus=meta.get("corpus"),
                            chat_template=base_man.get("chat_template"))
    done("export", dir=out_dir, version=version, bytes=man["files"]["model.bin"]["bytes"])

    # 6. check with the C core
    stage("check")
    chk = V.check_model_dir(out_dir, prompts=["User: Hello.\nArianna:"], steps=24)
    done("check", logits_max_diff=chk["logits_max_diff"], sample=chk["samples"][0][1][:200])

    # 7. deploy
    stage("deploy")
    if a.no_deploy or not a.dest:
        done("deploy", skipped="no --dest" if not a.dest else "--no-deploy")
        status = "exported"
    elif not improved and not a.deploy_anyway:
        done("deploy", skipped="val loss did not improve")
        status = "not-better"
    else:
        dep = P.deploy(out_dir, a.dest, version=version, keep=a.keep, ssh=a.ssh)
        done("deploy", **dep)
        status = "deployed"
    state.update(last_run=stamp, last_status=status)
    if status in ("deployed", "exported"):  # not-better: the dialogues wait for the next night
        state["last_until"] = ex["until"]
    if status == "deployed":
        state["last_version"] = version
    with open(state_path + ".tmp", "w") as f:
        json.dump(state, f, indent=2)
    os.replace(state_path + ".tmp", state_path)
    return finish(status)


def main(argv=None):
    a = build_parser().parse_args(argv)
    rep = run(a)
    print(json.dumps({"status": rep["status"], "work": rep["work"],
                      "stages": rep["stages"]}, indent=2, default=str))


if __name__ == "__main__":
    main()
