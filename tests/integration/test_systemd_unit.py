"""The systemd unit passes systemd-analyze verify, and a child that cannot
initialise stops the master with exit 1 instead of a respawn loop."""
import os
import shutil
import subprocess
import time

import socket

import pytest

from helpers import BAD_LOG_MARKERS


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

SRCDIR = os.environ.get("RT_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
RTFTD = os.environ["RTFTD_BIN"]


def test_systemd_unit_verifies(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing: apt-get install systemd"
    with open(os.path.join(SRCDIR, "systemd", "rtftd.service.in")) as f:
        unit = f.read()
    # point the unit at the binary under test; keep everything else as shipped
    bindir = tmp_path / "sbin"
    bindir.mkdir()
    os.symlink(os.path.abspath(RTFTD), bindir / "rtftd")
    unit = unit.replace("@sbindir@", str(bindir)).replace("@sysconfdir@", "/etc")
    import re
    assert not re.search(r"@[a-z]+@", unit), "unsubstituted placeholder in the unit"
    (tmp_path / "rtftd.service").write_text(unit)
    # Documentation=man:... is checked against MANPATH
    for sec, page in (("8", "rtftd.8"), ("5", "rtftd.conf.5")):
        d = tmp_path / "man" / ("man" + sec)
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.join(SRCDIR, "man", page), d / page)
    env = dict(os.environ, MANPATH=str(tmp_path / "man"))
    r = subprocess.run([analyze, "verify", str(tmp_path / "rtftd.service")], env=env,
                       capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).strip()
    assert r.returncode == 0 and out == "", out
    for needle in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                   "StateDirectory=", "RuntimeDirectory=", "LimitNOFILE=", "NoNewPrivileges=yes",
                   "User=rtft"):
        assert needle in unit, needle


@pytest.mark.parametrize("child", ["metrics", "worker"])
def test_child_that_cannot_initialise_stops_master(tmp_path, child):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "DATABASE_URL": "sqlite://%s/rt.db" % tmp_path,
           "HOST": "127.0.0.1", "PORT": str(free_port()),
           "METRICS_LISTEN": "127.0.0.1:%d" % free_port(), "WORKERS": "2",
           "RTFTD_TEST_FAIL_INIT": child}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    t0 = time.monotonic()
    r = subprocess.run([RTFTD, "-c", "/dev/null"], env=env, capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr
    assert not any(m in r.stderr for m in BAD_LOG_MARKERS), r.stderr
    assert "could not initialise (exit 2): stopping rtftd" in r.stderr
    # one attempt per child, never a respawn loop
    attempts = r.stderr.count("cannot initialise: RTFTD_TEST_FAIL_INIT")
    assert 1 <= attempts <= (1 if child == "metrics" else 2), r.stderr
    assert "restarting" not in r.stderr and "keeps dying" not in r.stderr
    assert took < 10
