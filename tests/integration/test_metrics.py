"""The metrics listener: /metrics in the Prometheus text format (checked
with promtool), its own /healthz and /readyz, counters that follow the
traffic, and per-process series."""

import json
import os
import re
import shutil
import signal
import subprocess

import pytest

from helpers import raw_exchange, run_rtftd, wait_for

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, frozenset(labels.items())): float} for every sample."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = frozenset(LABEL.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def scrape(d):
    status, headers, body = d.metrics_get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return body.decode()


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())))


def requests_total(d, route, code):
    return value(parse(scrape(d)), "rtftd_http_requests_total", route=route, code=code) or 0


@pytest.fixture
def d(daemon):
    return daemon()


def test_metrics_only_on_metrics_listener(d):
    status, headers, body = d.get("/metrics")
    assert status == 404
    assert b"rtftd_" not in body
    assert "rtftd_build_info" in scrape(d)


def test_request_counter_follows_traffic(d):
    before = requests_total(d, "/healthz", "200")
    n = 7
    for _ in range(n):
        assert d.get("/healthz")[0] == 200
    # workers send their records about once a second
    wait_for(lambda: requests_total(d, "/healthz", "200") >= before + n, 5,
             "rtftd_http_requests_total{route=\"/healthz\",code=\"200\"} to reach %d" % (before + n))
    assert requests_total(d, "/healthz", "200") == before + n
    # the metrics listener's own /healthz is not main-listener traffic
    assert d.metrics_get("/healthz")[0] == 200
    for _ in range(3):
        assert d.get("/nope")[0] == 404
    wait_for(lambda: requests_total(d, "not_found", "404") == 3, 5, "3 not_found/404 requests counted")
    assert requests_total(d, "/healthz", "200") == before + n


def test_refusals_counted(d):
    resp = raw_exchange(d.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 414
    wait_for(lambda: requests_total(d, "rejected", "414") == 1, 5, "the 414 to be counted")


def test_promtool_accepts_exposition(d):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool is missing: apt-get install prometheus")
    # some traffic of every kind so every family has samples
    d.get("/healthz")
    d.get("/readyz")
    d.get("/nope")
    d.get("/healthz", method="POST", body=b"")
    raw_exchange(d.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    wait_for(lambda: requests_total(d, "rejected", "414") == 1, 5, "the traffic to be counted")
    text = scrape(d)
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", \
        "promtool check metrics exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr)


def test_metrics_listener_health_and_readiness(d):
    status, headers, body = d.metrics_get("/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, headers, body = d.metrics_get("/readyz")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == "ready"
    assert {k: v["status"] for k, v in doc["checks"].items()} == {
        "database": "ok", "migrations": "ok", "workers": "ok"}
    # the metrics listener has no worker, so no worker header
    assert "X-RTFT-Worker" not in headers
    status, headers, body = d.metrics_get("/metrics", method="POST")
    assert status == 405


def test_process_series_for_every_process(daemon):
    d = daemon(config={"workers": 3})
    pids = d.pids()
    assert len(pids["workers"]) == 3
    samples = parse(scrape(d))
    expected = [("master", ""), ("metrics", "")] + [("worker", str(s)) for s in pids["workers"]]
    for role, worker in expected:
        rss = value(samples, "rtftd_process_resident_memory_bytes", role=role, worker=worker)
        cpu = value(samples, "rtftd_process_cpu_seconds_total", role=role, worker=worker)
        assert rss is not None and rss > 1 << 20, (role, worker, rss)
        assert cpu is not None and cpu >= 0, (role, worker, cpu)
    for s in pids["workers"]:
        assert value(samples, "rtftd_connections_open", worker=str(s)) is not None
        assert value(samples, "rtftd_worker_heartbeat_age_seconds", worker=str(s)) < 5
    assert value(samples, "rtftd_workers_ready") == 3
    assert value(samples, "rtftd_workers_configured") == 3
    assert value(samples, "rtftd_db_up") == 1


def test_build_info(d):
    samples = parse(scrape(d))
    infos = [(k, v) for k, v in samples.items() if k[0] == "rtftd_build_info"]
    assert len(infos) == 1
    (name, labels), v = infos[0]
    assert v == 1
    labels = dict(labels)
    assert re.match(r"^\d+\.\d+\.\d+", labels["version"]), labels
    for lib in ("libevent", "sqlite", "libpq", "json_c"):
        assert labels.get(lib), (lib, labels)
    rc, out, err = run_rtftd(["-V"])
    assert rc == 0 and out.strip() == "rtftd " + labels["version"]


def test_counters_survive_a_worker_restart(daemon):
    d = daemon(config={"workers": 1})
    for _ in range(5):
        assert d.get("/healthz")[0] == 200
    wait_for(lambda: requests_total(d, "/healthz", "200") == 5, 5, "5 requests counted")
    old = d.pids()["workers"][0]
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: d.pids()["workers"].get(0) not in (None, old), 5, "a new worker 0")
    assert d.get("/healthz")[0] == 200
    # the dead worker's requests stay counted next to the new one's
    wait_for(lambda: requests_total(d, "/healthz", "200") == 6, 5, "6 requests counted after the restart")
    samples = parse(scrape(d))
    assert value(samples, "rtftd_worker_restarts_total") == 1


def test_metrics_child_replaced_and_totals_recovered(d):
    for _ in range(4):
        assert d.get("/healthz")[0] == 200
    old = d.pids()
    os.kill(old["metrics"], signal.SIGKILL)
    wait_for(lambda: d.pids()["metrics"] not in (None, old["metrics"]), 5, "a new metrics child")

    def serving():
        try:
            return d.metrics_get("/healthz")[0] == 200
        except OSError:
            return False
    wait_for(serving, 5, "the metrics listener to serve again")
    # workers send cumulative records, so the new child learns the totals
    wait_for(lambda: requests_total(d, "/healthz", "200") == 4, 5, "the 4 requests counted by the new child")
    assert d.pids()["workers"] == old["workers"], "workers were restarted with the metrics child"
    assert d.get("/healthz")[0] == 200
    assert d.log_contains("restarting metrics")
