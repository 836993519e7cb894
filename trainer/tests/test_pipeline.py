"""Deploy with real rsync into a local ARIANNA_HOME (locally and through a
stand-in for ssh): the atomic switch, prune, rollback, refusals. The nightly
pipeline end to end is in test_nightly.py."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(shutil.which("rsync") is None, reason="rsync is not installed")


def test_deploy_atomic_switch_and_prune(clib, tiny_model_dir, tmp_path):
    import deploy as P
    import export as E
    home = str(tmp_path / "home")
    r1 = P.deploy(tiny_model_dir, home, version="20250101-010101", keep=2)
    cur = os.path.join(home, "models", "current")
    assert os.path.islink(cur) and os.readlink(cur) == "versions/20250101-010101"
    assert not os.path.lexists(cur + ".tmp")
    E.verify_model_dir(cur)
    # a second deploy switches the link; the first version stays for rollback
    P.deploy(tiny_model_dir, home, version="20250102-010101", keep=2)
    assert os.readlink(cur) == "versions/20250102-010101"
    assert P.list_versions(home) == ["20250101-010101", "20250102-010101"]
    # a third prunes the oldest (keep=2) but never the live one
    P.deploy(tiny_model_dir, home, version="20250103-010101", keep=2)
    assert P.list_versions(home) == ["20250102-010101", "20250103-010101"]
    P.rollback(home, "20250102-010101")
    assert P.current_version(home) == "20250102-010101"
    with clib.CModel(os.path.join(cur, "model.bin")) as cm:
        assert cm.info["format"] == 2
    assert r1["version"] == "20250101-010101"


def test_deploy_refuses_a_broken_directory(tiny_model_dir, tmp_path):
    import deploy as P
    bad = str(tmp_path / "bad")
    shutil.copytree(tiny_model_dir, bad)
    with open(os.path.join(bad, "tokenizer.bin"), "ab") as f:
        f.write(b"x")
    with pytest.raises(ValueError):
        P.deploy(bad, str(tmp_path / "home"))
    assert not os.path.exists(os.path.join(tmp_path, "home", "models", "current"))


def test_deploy_keeps_a_hand_installed_current_dir(tiny_model_dir, tmp_path):
    import deploy as P
    home = tmp_path / "home"
    shutil.copytree(tiny_model_dir, home / "models" / "current")
    P.deploy(tiny_model_dir, str(home), version="v2")
    assert os.path.islink(home / "models" / "current")
    assert any(v.startswith("legacy-") for v in P.list_versions(str(home)))


def test_runtime_model_profile_reads_the_deployed_kernel(tiny_model_dir, tmp_path):
    """The runtime's own manifest reader (src/config/model-profile.ts) accepts it."""
    mp = os.path.join(REPO, "src", "config", "model-profile.ts")
    bun = shutil.which("bun")
    if not (os.path.exists(mp) and bun):
        pytest.skip("the runtime's model-profile.ts or bun is not here")
    import deploy as P
    home = str(tmp_path / "home")
    P.deploy(tiny_model_dir, home, version="v1")
    cur = os.path.join(home, "models", "current")
    script = (f"import {{ loadModelProfile }} from {json.dumps(mp)};"
              f"console.log(JSON.stringify(loadModelProfile({json.dumps(cur)})));")
    r = subprocess.run([bun, "-e", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    prof = json.loads(r.stdout.strip().splitlines()[-1])
    man = json.load(open(os.path.join(cur, "manifest.json")))
    assert prof["name"] == man["name"]
    assert prof["sha256"] == man["files"]["model.bin"]["sha256"]
    assert prof["template"]["generation_prefix"] == man["chat_template"]["generation_prefix"]
    assert prof["origin"] == man["origin_text"]


FAKE_SSH = """#!/bin/sh
# a stand-in for ssh: skip the options and the host, run the command here
while [ $# -gt 0 ]; do case "$1" in -*) shift;; *) break;; esac; done
shift
exec sh -c "$*"
"""


def test_deploy_over_ssh(tiny_model_dir, tmp_path):
    """The remote path (mkdir, rsync -e ssh, sha256sum, mv -T switch, prune,
    fetch_current) through a local stand-in for ssh."""
    import deploy as P
    import export as E
    ssh = tmp_path / "fake-ssh"
    ssh.write_text(FAKE_SSH)
    ssh.chmod(0o755)
    home = str(tmp_path / "remote_home")
    dest = f"device:{home}"
    assert P.split_dest(dest) == ("device", home)
    assert P.split_dest(home) == (None, home)
    assert P.fetch_current(dest, str(tmp_path / "nothing"), ssh=str(ssh)) is None
    P.deploy(tiny_model_dir, dest, version="r1", ssh=str(ssh), keep=2)
    P.deploy(tiny_model_dir, dest, version="r2", ssh=str(ssh), keep=2)
    P.deploy(tiny_model_dir, dest, version="r3", ssh=str(ssh), keep=2)
    cur = os.path.join(home, "models", "current")
    assert os.readlink(cur) == "versions/r3"
    assert P.current_version(dest, ssh=str(ssh)) == "r3"
    assert P.list_versions(dest, ssh=str(ssh)) == ["r2", "r3"]
    got = P.fetch_current(dest, str(tmp_path / "fetched"), ssh=str(ssh))
    E.verify_model_dir(got)
    P.rollback(dest, "r2", ssh=str(ssh))
    assert os.readlink(cur) == "versions/r2"


def test_deploy_needs_no_torch():
    """deploy.py runs with the standard library alone (plus rsync)."""
    import sys
    from conftest import TRAINER
    code = ("import sys; sys.path.insert(0, %r); import deploy; "
            "assert 'torch' not in sys.modules and 'numpy' not in sys.modules") % TRAINER
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
