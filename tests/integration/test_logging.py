"""Logging: JSON lines, journald priority prefixes, and secrets that never
reach the log at any level."""

import json
import os
import re
import uuid

import pytest

from helpers import raw_exchange, run_rtftd

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
LEVELS = {"error", "warn", "info", "debug", "trace"}


def json_lines(d):
    with open(d.log_path, "rb") as f:
        raw = f.read()
    out = []
    for line in raw.splitlines():
        assert line, "empty line in the JSON log"
        text = line.decode("utf-8")  # JSON text must be UTF-8 (RFC 8259)
        out.append(json.loads(text))
    return out


def test_json_lines(daemon):
    d = daemon(env={"LOG_FORMAT": "json"})
    pids = d.pids()
    rids = {}
    for path in ("/healthz", "/missing", "/readyz"):
        rid = "j-" + uuid.uuid4().hex
        rids[rid] = (path, d.get(path, headers={"X-Request-ID": rid})[0])
    mrid = "m-" + uuid.uuid4().hex
    d.metrics_get("/healthz", headers={"X-Request-ID": mrid})
    for rid in list(rids) + [mrid]:
        d.wait_log(rid)
    lines = json_lines(d)
    assert len(lines) >= 6
    roles = set()
    for doc in lines:
        for k in ("timestamp", "level", "msg", "pid", "role"):
            assert k in doc, (k, doc)
        assert TIMESTAMP.match(doc["timestamp"]), doc
        assert doc["level"] in LEVELS, doc
        assert isinstance(doc["pid"], int) and isinstance(doc["msg"], str) and doc["msg"]
        roles.add(doc["role"])
        if doc["role"] == "master":
            assert doc["pid"] == d.pid
        elif doc["role"] == "worker":
            assert doc["pid"] == pids["workers"][doc["worker"]], doc
        elif doc["role"] == "metrics":
            assert doc["pid"] == pids["metrics"]
        else:
            pytest.fail("unexpected role: %r" % doc)
    assert {"master", "worker", "metrics"} <= roles
    by_rid = {doc["request_id"]: doc for doc in lines if "request_id" in doc}
    for rid, (path, status) in rids.items():
        doc = by_rid[rid]
        assert doc["path"] == path and doc["status"] == status and doc["method"] == "GET"
        assert isinstance(doc["latency_ms"], float) and 0 <= doc["latency_ms"] < 10000
        assert doc["role"] == "worker" and doc["level"] == "info"
    assert by_rid[mrid]["role"] == "metrics"


def test_json_escapes_client_input(daemon):
    d = daemon(env={"LOG_FORMAT": "json"})
    resp = raw_exchange(d.port, b'GET /q"\\x%22\x01 HTTP/1.1\r\nHost: x\r\nX-Request-ID: esc-1\r\n\r\n')
    assert resp.status == 404
    d.wait_log("esc-1")
    doc = [l for l in json_lines(d) if l.get("request_id") == "esc-1"][0]
    assert doc["path"] == '/q"\\x%22\x01'


def test_json_log_stays_utf8_for_invalid_utf8_path(daemon):
    """A path with bytes that are not UTF-8 must not make the line invalid JSON."""
    d = daemon(env={"LOG_FORMAT": "json"})
    resp = raw_exchange(d.port, b"GET /caf\xc3\xa9\xff\xfe HTTP/1.1\r\nHost: x\r\nX-Request-ID: utf8-1\r\n\r\n")
    assert resp.status == 404
    d.wait_log("utf8-1")
    with open(d.log_path, "rb") as f:
        line = [l for l in f.read().splitlines() if b"utf8-1" in l][0]
    try:
        doc = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as e:
        pytest.fail("the JSON log line is not UTF-8 (%s): %r" % (e, line))
    assert doc["path"].startswith("/caf\u00e9")


def journal_daemon(daemon, config=None, stream=None):
    d = daemon(config=config, start=False)
    open(d.log_path, "ab").close()
    st = os.stat(d.log_path)
    d.extra_env["JOURNAL_STREAM"] = stream or "%d:%d" % (st.st_dev, st.st_ino)
    return d


PRIO = {"error": 3, "warn": 4, "info": 6, "debug": 7, "trace": 7}


def test_journald_priority_prefixes(daemon):
    d = journal_daemon(daemon, config={"no_such_key": 1, "log_level": "debug"})
    d.start()
    rid = "jr-" + uuid.uuid4().hex
    d.get("/healthz", headers={"X-Request-ID": rid})
    d.wait_log(rid)
    # an error: a reload with an invalid file
    n = d.notify_count()
    d.write_config(port=70000)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("reload failed")
    lines = d.log_text().splitlines()
    seen = set()
    for line in lines:
        m = re.match(r"^<(\d)>(master|metrics|worker/\d+)\[\d+\] (\w+): ", line)
        assert m, "line without a journald prefix: %r" % line
        prio, level = int(m.group(1)), m.group(3)
        assert PRIO[level] == prio, line
        seen.add(prio)
    assert {3, 4, 6, 7} <= seen, seen
    info = [l for l in lines if rid in l][0]
    assert info.startswith("<6>worker/")
    warn = [l for l in lines if "no_such_key" in l][0]
    assert warn.startswith("<4>master[")
    # no timestamp in front: journald adds its own
    assert not any(TIMESTAMP.match(l.split(" ")[0]) for l in lines)


def test_no_prefix_when_stderr_is_not_the_journal(daemon):
    d = journal_daemon(daemon, stream="1:2")  # a stream that is not our stderr
    d.start()
    lines = d.log_text().splitlines()
    assert lines
    for line in lines:
        assert not line.startswith("<"), line
        assert TIMESTAMP.match(line.split(" ")[0]), line


SESSION_SECRET = "sess-" + "Zq8" * 12
SESSION_SECRET2 = "sess2-" + "Kp4" * 12
DB_PASSWORD = "pgPassw0rdXyz"
DB_PASSWORD2 = "pgOtherPassw0rd"


def secrets_absent(text, secrets):
    for s in secrets:
        assert s not in text, "secret %r found in:\n%s" % (s, [l for l in text.splitlines() if s in l][:3])


def test_secrets_never_logged(daemon, pg_server, postgres):
    db = postgres.rsplit("/", 1)[1]
    url = pg_server.url(db, password=DB_PASSWORD)  # trust auth: libpq never sends it
    d = daemon(config={"log_level": "trace", "session_secret": SESSION_SECRET, "database_url": url})
    secrets = [SESSION_SECRET, DB_PASSWORD, SESSION_SECRET2, DB_PASSWORD2]
    d.get("/healthz")
    d.get("/readyz", headers={"Authorization": "Bearer x"})
    d.metrics_get("/metrics")
    assert d.log_contains("postgres:***@127.0.0.1")  # the redacted DSN is what is shown
    # a reload changing the secret, and a start-only key (the DSN)
    n = d.notify_count()
    d.write_config(session_secret=SESSION_SECRET2, database_url=pg_server.url(db, password=DB_PASSWORD2),
                   log_format="json")
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("database_url changed")
    d.get("/healthz")
    # -t -p on the same file
    rc, out, err = run_rtftd(["-c", d.config_path, "-t", "-p"])
    assert rc == 0, err
    secrets_absent(out + err, secrets)
    assert d.stop() == 0
    secrets_absent(d.all_log_text(), secrets)


def test_invalid_database_url_error_hides_password(daemon):
    """An error about a mistyped DSN must not print its password."""
    bad = "postgress://rt:%s@db.example/rt" % DB_PASSWORD  # scheme typo
    rc, out, err = run_rtftd(["-t", "-c", "/dev/null", "--database-url=" + bad])
    assert rc == 1
    assert "database_url" in err
    d = daemon()
    n = d.notify_count()
    d.write_config(database_url=bad)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("reload failed")
    secrets_absent(d.log_text(), [DB_PASSWORD])
    secrets_absent(err, [DB_PASSWORD])
