"""Deploy a model directory to a device so the new kernel appears complete and
atomically.

  python trainer/deploy.py trainer/out/nightly/20250101T030000Z/model  pi@arianna.local:/var/lib/arianna
  python trainer/deploy.py models/default /tmp/arianna-home        # a local ARIANNA_HOME

DEST is the device's ARIANNA_HOME, local or `[user@]host:path` (over ssh).
  1. rsync the files into DEST/models/versions/<version>/ — a new directory
     the runtime does not look at; rsync writes each file under a temporary
     name and renames it (never --inplace);
  2. verify: a second rsync pass with --checksum must find nothing to send,
     and (locally) every sha256 must match the manifest;
  3. switch: make the link DEST/models/current.tmp -> versions/<version> and
     rename it over DEST/models/current (rename(2) is atomic), the step the
     runtime's watcher on ARIANNA_HOME/models reacts to;
  4. prune old versions, keeping the newest --keep (never the live one).
A `current` that is a real directory (an old hand install) is first moved
into versions/ so it is kept.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

_REMOTE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>.*)$")


class DeployError(RuntimeError):
    pass


def split_dest(dest: str):
    """-> (ssh target or None, path)."""
    if os.path.isabs(dest) or dest.startswith(".") or not _REMOTE.match(dest):
        return None, dest
    m = _REMOTE.match(dest)
    host = (m.group("user") + "@" if m.group("user") else "") + m.group("host")
    return host, m.group("path") or "."


def _run(cmd: List[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise DeployError(f"{' '.join(shlex.quote(c) for c in cmd)} failed ({r.returncode}): "
                          f"{r.stderr.strip()[-800:]}")
    return r


def _ssh(host: str, script: str, ssh: str = "ssh") -> str:
    return _run(shlex.split(ssh) + [host, script]).stdout


def _rsync_base(ssh: str) -> List[str]:
    # -a keeps modes/times; --delay-updates puts files in place only at the end;
    # no --inplace: rsync writes a temp file and renames it.
    return ["rsync", "-a", "--delay-updates", "-e", ssh]


def version_of(model_dir: str) -> str:
    man = os.path.join(model_dir, "manifest.json")
    if os.path.exists(man):
        with open(man) as f:
            v = json.load(f).get("version")
        if v:
            return re.sub(r"[^A-Za-z0-9._-]", "_", str(v))
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def deploy(model_dir: str, dest: str, version: Optional[str] = None, keep: int = 5,
           ssh: str = "ssh", progress=None) -> dict:
    """Upload, verify and switch. Returns {"version", "path", "current", "pruned"}."""
    import modeldir as E  # torch-free: a deploy needs only the standard library and rsync
    man = E.verify_model_dir(model_dir)  # never ship a directory that fails its own manifest
    if (man.get("training") or {}).get("kind") == "nightly-candidate":
        # nightly.py relabels a candidate once its gate passed (or as nightly-ungated)
        raise DeployError(f"{model_dir} is a nightly candidate that did not pass its gate")
    version = version or version_of(model_dir)
    host, root = split_dest(dest)
    models = root.rstrip("/") + "/models"
    vdir = f"{models}/versions/{version}"
    target = f"{host}:{vdir}/" if host else vdir + "/"
    step = (lambda msg: progress(msg)) if progress else (lambda msg: None)

    # 1. upload into a fresh versioned directory
    step("upload")
    if host:
        _ssh(host, f"mkdir -p {shlex.quote(models + '/versions')}", ssh)
    else:
        os.makedirs(os.path.join(models, "versions"), exist_ok=True)
    _run(_rsync_base(ssh) + ["--checksum", model_dir.rstrip("/") + "/", target])

    # 2. verify: nothing left to send, and (locally) the sha256 of every file
    step("verify")
    r = _run(_rsync_base(ssh) + ["--checksum", "--dry-run", "--itemize-changes",
                                 model_dir.rstrip("/") + "/", target])
    pending = [ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith(".d")]
    if pending:
        raise DeployError(f"verification found differences after upload: {pending[:5]}")
    if host:
        sums = _ssh(host, "cd " + shlex.quote(vdir) + " && sha256sum " +
                    " ".join(shlex.quote(f) for f in man["files"]), ssh)
        got = {ln.split()[1].lstrip("*"): ln.split()[0] for ln in sums.splitlines() if ln.strip()}
        for fn, meta in man["files"].items():
            if got.get(fn) != meta["sha256"]:
                raise DeployError(f"{fn}: remote sha256 {got.get(fn)} != manifest {meta['sha256']}")
    else:
        E.verify_model_dir(vdir)

    # 3. atomic switch of models/current
    step("switch")
    rel = f"versions/{version}"
    if host:
        script = (
            f"set -e; cd {shlex.quote(models)}; "
            f"if [ -d current ] && [ ! -L current ]; then mv current versions/legacy-$(date +%Y%m%d%H%M%S); fi; "
            f"rm -f current.tmp; ln -s {shlex.quote(rel)} current.tmp; mv -T current.tmp current"
        )
        _ssh(host, script, ssh)
    else:
        cur = os.path.join(models, "current")
        if os.path.isdir(cur) and not os.path.islink(cur):
            os.rename(cur, os.path.join(models, "versions", "legacy-" + time.strftime("%Y%m%d%H%M%S")))
        tmp = os.path.join(models, "current.tmp")
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(rel, tmp)
        os.replace(tmp, cur)  # rename(2): atomic
        try:  # make the rename durable
            fd = os.open(models, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        except OSError:
            pass

    # 4. prune
    step("prune")
    pruned = prune(dest, keep, ssh, live=version)
    return {"version": version, "path": vdir, "current": f"{models}/current -> {rel}", "pruned": pruned,
            "dest": dest}


def list_versions(dest: str, ssh: str = "ssh") -> List[str]:
    host, root = split_dest(dest)
    vroot = root.rstrip("/") + "/models/versions"
    if host:
        out = _ssh(host, f"ls -1 {shlex.quote(vroot)} 2>/dev/null || true", ssh)
        names = [n for n in out.splitlines() if n.strip()]
    else:
        names = os.listdir(vroot) if os.path.isdir(vroot) else []
    return sorted(names)


def current_version(dest: str, ssh: str = "ssh") -> Optional[str]:
    host, root = split_dest(dest)
    cur = root.rstrip("/") + "/models/current"
    if host:
        out = _ssh(host, f"readlink {shlex.quote(cur)} || true", ssh).strip()
    else:
        out = os.readlink(cur) if os.path.islink(cur) else ""
    return os.path.basename(out.rstrip("/")) or None


def prune(dest: str, keep: int, ssh: str = "ssh", live: Optional[str] = None) -> List[str]:
    """Remove all but the newest `keep` versions (by name order = time order),
    never the live one."""
    if keep <= 0:
        return []
    host, root = split_dest(dest)
    vroot = root.rstrip("/") + "/models/versions"
    live = live or current_version(dest, ssh)
    names = [n for n in list_versions(dest, ssh) if n != live]
    victims = names[: max(0, len(names) - (keep - 1))]
    for n in victims:
        p = f"{vroot}/{n}"
        if host:
            _ssh(host, f"rm -rf -- {shlex.quote(p)}", ssh)
        else:
            shutil.rmtree(p, ignore_errors=True)
    return victims


def rollback(dest: str, version: str, ssh: str = "ssh") -> None:
    """Point models/current back at an existing version (same atomic switch)."""
    host, root = split_dest(dest)
    models = root.rstrip("/") + "/models"
    rel = f"versions/{version}"
    if host:
        _ssh(host, f"set -e; cd {shlex.quote(models)}; test -d {shlex.quote(rel)}; rm -f current.tmp; "
                   f"ln -s {shlex.quote(rel)} current.tmp; mv -T current.tmp current", ssh)
    else:
        if not os.path.isdir(os.path.join(models, rel)):
            raise DeployError(f"no version {version} in {models}/versions")
        tmp = os.path.join(models, "current.tmp")
        if os.path.lexists(tmp):
            os.remove(tmp)
        os.symlink(rel, tmp)
        os.replace(tmp, os.path.join(models, "current"))


def fetch_current(dest: str, local_dir: str, ssh: str = "ssh") -> Optional[str]:
    """Copy the device's live kernel (DEST/models/current/) into local_dir.
    Returns local_dir, or None when the device has none."""
    host, root = split_dest(dest)
    cur = root.rstrip("/") + "/models/current/"
    if host:
        r = subprocess.run(shlex.split(ssh) + [host, f"test -f {shlex.quote(cur + 'model.bin')}"])
        if r.returncode != 0:
            return None
        src = f"{host}:{cur}"
    else:
        if not os.path.exists(os.path.join(cur, "model.bin")):
            return None
        src = cur
    os.makedirs(local_dir, exist_ok=True)
    _run(["rsync", "-aL", "-e", ssh, src, local_dir.rstrip("/") + "/"])
    return local_dir


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir", nargs="?")
    ap.add_argument("dest", help="ARIANNA_HOME on the device: /path or [user@]host:/path")
    ap.add_argument("--version", default=None, help="default: the manifest's version")
    ap.add_argument("--keep", type=int, default=5)
    ap.add_argument("--ssh", default=os.environ.get("ARIANNA_SSH", "ssh"), help="ssh command for rsync -e")
    ap.add_argument("--rollback", default=None, metavar="VERSION")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        cur = current_version(a.dest, a.ssh)
        for v in list_versions(a.dest, a.ssh):
            print(("* " if v == cur else "  ") + v)
        return
    if a.rollback:
        rollback(a.dest, a.rollback, a.ssh)
        print(f"current -> versions/{a.rollback}")
        return
    if not a.model_dir:
        ap.error("model_dir is required")
    print(json.dumps(deploy(a.model_dir, a.dest, a.version, a.keep, a.ssh,
                            progress=lambda s: print(f"deploy: {s}", file=sys.stderr)), indent=2))


if __name__ == "__main__":
    main()
