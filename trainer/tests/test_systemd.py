"""The trainer machine's timer and service units."""
import configparser
import os
import re
import shutil
import subprocess

from conftest import REPO, TRAINER

UNITS = os.path.join(REPO, "systemd")


def parse(name):
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read(os.path.join(UNITS, name))
    return cp


def test_units_are_wired_to_the_nightly_pipeline():
    svc = parse("arianna-train.service")
    tmr = parse("arianna-train.timer")
    assert svc["Service"]["Type"] == "oneshot"
    exe = svc["Service"]["ExecStart"]
    m = re.match(r"/opt/inner-arianna/(\S+) /opt/inner-arianna/(\S+)", exe)
    assert m and m.group(1) == "trainer/.venv/bin/python" and m.group(2) == "trainer/nightly.py"
    assert os.path.exists(os.path.join(REPO, m.group(2)))
    assert tmr["Timer"]["Unit"] == "arianna-train.service"
    assert tmr["Timer"]["OnCalendar"]
    assert tmr["Timer"]["Persistent"] == "true"
    assert tmr["Install"]["WantedBy"] == "timers.target"
    # every ARIANNA_TRAIN_* the unit documents is an option nightly.py reads
    import nightly as N
    opts = {a.dest for a in N.build_parser()._actions}
    text = open(os.path.join(UNITS, "arianna-train.service")).read()
    for name in re.findall(r"ARIANNA_TRAIN_([A-Z_]+)=", text):
        assert name.lower() in opts, name


def test_systemd_analyze_verify(tmp_path):
    sa = shutil.which("systemd-analyze")
    if not sa:
        import pytest
        pytest.skip("systemd-analyze is not installed")
    # point the absolute install paths at this checkout so verify can stat them
    for name in ("arianna-train.service", "arianna-train.timer"):
        text = open(os.path.join(UNITS, name)).read().replace("/opt/inner-arianna", REPO)
        (tmp_path / name).write_text(text)
    r = subprocess.run([sa, "verify", "--man=no", "arianna-train.service", "arianna-train.timer"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    noise = [l for l in r.stderr.splitlines() if "Unknown" in l or "Invalid" in l or "Failed" in l
             and "arianna-train" in l]
    assert r.returncode == 0 and not noise, r.stderr
