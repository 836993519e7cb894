"""The trainer machine's timer and service units, and their install script:
the unit starts on a fresh machine only if every path it names exists after
install, so the install runs into a staging root and the paths are checked
there; `systemd-analyze verify` and `security` judge the units themselves."""
import configparser
import os
import re
import shutil
import subprocess

import pytest

from conftest import REPO

UNITS = os.path.join(REPO, "systemd")
INSTALL = os.path.join(UNITS, "install-trainer.sh")
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None and os.environ.get("CI", "false") in ("", "false"),
                                   reason="systemd-analyze is not installed")


def parse(path):
    cp = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    cp.optionxform = str
    cp.read(path)
    return cp


def settings(path):
    """[(key, value)] of the [Service] section, repeated keys kept."""
    out, section = [], None
    for ln in open(path, encoding="utf-8"):
        ln = ln.strip()
        if ln.startswith("["):
            section = ln
        elif section == "[Service]" and "=" in ln and not ln.startswith("#"):
            k, _, v = ln.partition("=")
            out.append((k, v))
    return out


def test_units_are_wired_to_the_nightly_pipeline():
    svc = parse(os.path.join(UNITS, "arianna-train.service"))
    tmr = parse(os.path.join(UNITS, "arianna-train.timer"))
    assert svc["Service"]["Type"] == "oneshot"
    exe = svc["Service"]["ExecStart"]
    m = re.match(r"/opt/inner-arianna/(\S+) /opt/inner-arianna/(\S+) --no-progress$", exe)
    assert m and m.group(1) == "trainer/.venv/bin/python" and m.group(2) == "trainer/nightly.py"
    assert tmr["Timer"]["Unit"] == "arianna-train.service"
    assert tmr["Timer"]["OnCalendar"]
    assert tmr["Timer"]["Persistent"] == "true"
    assert tmr["Install"]["WantedBy"] == "timers.target"
    # every ARIANNA_TRAIN_* the unit documents or sets is an option nightly.py reads
    import nightly as N
    names = {N.env_name(a) for a in N.build_parser(environ={})._actions if a.option_strings}
    text = open(os.path.join(UNITS, "arianna-train.service")).read()
    for name in re.findall(r"(ARIANNA_TRAIN_[A-Z_]+)=", text):
        assert name in names, name


def test_the_unit_writes_only_where_systemd_or_the_install_creates():
    s = settings(os.path.join(UNITS, "arianna-train.service"))
    keys = dict(s)
    assert keys["ProtectSystem"] == "strict" and keys["ProtectHome"] == "yes"
    assert keys["StateDirectory"] == "arianna-train"
    # no ReadWritePaths: the checkout (and its gitignored build/) stays read-only
    assert "ReadWritePaths" not in keys
    env = dict(v.split("=", 1) for k, v in s if k == "Environment")
    for var in ("HOME", "ARIANNA_TRAIN_WORK_ROOT", "ARIANNA_BUILD_DIR", "MPLCONFIGDIR"):
        assert env[var].startswith("/var/lib/arianna-train"), var


def test_install_creates_every_path_the_unit_needs(tmp_path):
    root = tmp_path / "root"
    r = subprocess.run(["bash", INSTALL, "--root", str(root)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    unit = root / "etc/systemd/system/arianna-train.service"
    assert unit.exists() and (root / "etc/systemd/system/arianna-train.timer").exists()
    s = settings(str(unit))
    keys = dict(s)
    state = root / "var/lib" / keys["StateDirectory"]
    assert state.is_dir() and oct(state.stat().st_mode & 0o777) == "0o700"
    must_exist = [keys["WorkingDirectory"]] + keys["ExecStart"].split()[:2]
    env = dict(v.split("=", 1) for k, v in s if k == "Environment")
    must_exist += [env["HOME"], os.path.dirname(env["ARIANNA_TRAIN_WORK_ROOT"]),
                   env["ARIANNA_BUILD_DIR"] + "/libarianna.so", env["ARIANNA_BUILD_DIR"] + "/arianna-run"]
    for k, v in s:
        if k in ("ReadWritePaths", "ReadOnlyPaths", "BindPaths", "BindReadOnlyPaths"):
            must_exist += [p.lstrip("-") for p in v.split()]
    for p in must_exist:
        assert os.path.exists(str(root) + p), f"the unit names {p}, which the install did not create"
    # the script is idempotent
    r = subprocess.run(["bash", INSTALL, "--root", str(root)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert subprocess.run(["bash", INSTALL, "--bogus"], capture_output=True).returncode == 2


@needs_analyze
def test_systemd_analyze_verify(tmp_path):
    # point the absolute install paths at this checkout so verify can stat them
    for name in ("arianna-train.service", "arianna-train.timer"):
        text = open(os.path.join(UNITS, name)).read().replace("/opt/inner-arianna", REPO)
        (tmp_path / name).write_text(text)
    r = subprocess.run([ANALYZE, "verify", "--man=no", "arianna-train.service", "arianna-train.timer"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60)
    noise = [ln for ln in r.stderr.splitlines() if "arianna-train" in ln]
    assert r.returncode == 0 and not noise, r.stderr


@needs_analyze
def test_systemd_analyze_security_exposure_is_at_most_3():
    r = subprocess.run([ANALYZE, "security", "--offline=true", "--no-pager",
                        os.path.join(UNITS, "arianna-train.service")], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for arianna-train\.service: ([\d.]+)", r.stdout)
    if m is None and re.search(r"unrecognized option|offline", r.stderr, re.I):
        pytest.skip("systemd-analyze is older than 250 (no --offline)")
    assert m, r.stdout[-2000:] + r.stderr
    print(f"arianna-train.service exposure: {m.group(1)}")
    assert float(m.group(1)) <= 3.0
