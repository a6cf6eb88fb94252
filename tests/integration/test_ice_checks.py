"""STUN/TURN reachability checks: the metrics child sends a STUN Binding
request (RFC 5389) to every server of stun_servers and turn_servers each
ice_check_interval_ms, shows reachability and round-trip time in /metrics,
and /readyz reports "degraded" (still 200) when none answers.

The STUN server is a real coturn (/usr/bin/turnserver) on 127.0.0.1 with a
throw-away configuration; the broken servers are Python sockets here.
Everything stays on loopback."""

import json
import os
import shutil
import socket
import struct
import subprocess
import threading

import pytest

from helpers import free_port, wait_for
from realprogs import Coturn
from test_metrics import parse, scrape, value

COOKIE = 0x2112A442
SECRET = "throw-away-secret"


def free_udp_port():
    return free_port(socket.SOCK_DGRAM)


def binding_request():
    tid = os.urandom(12)
    return struct.pack(">HHI", 0x0001, 0, COOKIE) + tid, tid


@pytest.fixture
def coturn(tmp_path):
    """A real coturn (realprogs.Coturn) on 127.0.0.1, UDP and TCP."""
    c = Coturn(str(tmp_path), SECRET)
    try:
        yield c.start()
    finally:
        c.stop()


class Responder:
    """A socket on 127.0.0.1 served by a thread: serve_one() handles what
    one accept() or recvfrom() brought, until close()."""

    def __init__(self, kind):
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                self.serve_one()
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()


class UdpResponder(Responder):
    """Records every datagram and answers each with answer(datagram, n)
    (None: no answer)."""

    def __init__(self, answer):
        self.answer = answer
        self.received = []
        super().__init__(socket.SOCK_DGRAM)

    def serve_one(self):
        data, peer = self.sock.recvfrom(65536)
        self.received.append(data)
        out = self.answer(data, len(self.received))
        if out is not None:
            self.sock.sendto(out, peer)


class TcpResponder(Responder):
    """Reads a little of each connection, writes answer bytes and closes."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        super().__init__(socket.SOCK_STREAM)

    def serve_one(self):
        c, _ = self.sock.accept()
        self.connections += 1
        try:
            c.settimeout(1)
            c.recv(64)
            c.sendall(self.answer)
        except OSError:
            pass
        finally:
            c.close()


def ice(stun=None, turn=None, interval=200):
    cfg = {"ice_check_interval_ms": interval, "log_level": "info"}
    if stun:
        cfg["stun_servers"] = stun
    if turn:
        cfg["turn_servers"] = turn
        cfg["turn_secret"] = SECRET
    return cfg


def readyz(d, metrics=False):
    status, _, body = d.metrics_get("/readyz") if metrics else d.get("/readyz")
    return status, json.loads(body)


def ice_samples(d):
    s = parse(scrape(d))
    return {k: v for k, v in s.items() if k[0].startswith("rtftd_ice_")}


def checks(d, url, result):
    return value(parse(scrape(d)), "rtftd_ice_server_checks_total", url=url, result=result) or 0


def promtool_clean(text):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool is missing: apt-get install prometheus")
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", \
        "promtool check metrics exited %d:\n%s%s" % (p.returncode, p.stdout, p.stderr)


def test_coturn_answers_over_udp_and_tcp(daemon, coturn):
    udp = "stun:127.0.0.1:%d" % coturn.port
    tcp = "turn:127.0.0.1:%d?transport=tcp" % coturn.port
    d = daemon(config=ice(stun=udp, turn=tcp))

    def both_up():
        s = parse(scrape(d))
        return all(value(s, "rtftd_ice_server_up", url=u) == 1 for u in (udp, tcp)) and s
    s = wait_for(both_up, 10, "both checks of coturn to succeed")
    for u in (udp, tcp):
        rtt = value(s, "rtftd_ice_server_rtt_seconds", url=u)
        assert rtt is not None and 0 < rtt < 2, (u, rtt)
        assert value(s, "rtftd_ice_server_checks_total", url=u, result="ok") >= 1
        assert value(s, "rtftd_ice_server_checks_total", url=u, result="error") == 0
        assert value(s, "rtftd_ice_server_checks_total", url=u, result="timeout") == 0
        assert value(s, "rtftd_ice_server_checks_total", url=u, result="unchecked") is None
    # checks keep coming at the interval
    n = value(s, "rtftd_ice_server_checks_total", url=udp, result="ok")
    wait_for(lambda: checks(d, udp, "ok") >= n + 3, 5, "three more rounds")

    for metrics in (False, True):
        status, doc = readyz(d, metrics)
        assert status == 200 and doc["status"] == "ready", doc
        assert "reason" not in doc
        got = doc["checks"]["ice"]
        assert got["status"] == "ok" and got["answering"] == 2 and got["servers"] == 2 and got["checked"] == 2, got
        assert 0 <= got["checked_ms_ago"] < 5000, got
    promtool_clean(scrape(d))


def test_nobody_listening_is_degraded(daemon):
    udp = "stun:127.0.0.1:%d" % free_udp_port()
    tcp = "turn:127.0.0.1:%d?transport=tcp" % free_port()
    d = daemon(config=ice(stun=udp, turn=tcp))

    def both_failed():
        s = parse(scrape(d))
        return all(value(s, "rtftd_ice_server_checks_total", url=u, result="error") or 0 for u in (udp, tcp)) and s
    s = wait_for(both_failed, 10, "both checks to fail")
    for u in (udp, tcp):
        assert value(s, "rtftd_ice_server_up", url=u) == 0
        assert value(s, "rtftd_ice_server_rtt_seconds", url=u) is None
        assert value(s, "rtftd_ice_server_checks_total", url=u, result="ok") == 0

    for metrics in (False, True):
        status, doc = readyz(d, metrics)
        assert status == 200, doc
        assert doc["status"] == "degraded" and doc["reason"], doc
        got = doc["checks"]["ice"]
        assert got["status"] == "degraded" and got["answering"] == 0 and got["servers"] == 2, got
        assert udp in got["reason"] and "connection refused" in got["reason"], got
        # the other checks are untouched
        assert {k: v["status"] for k, v in doc["checks"].items() if k != "ice"} == {
            "database": "ok", "migrations": "ok", "workers": "ok"}
    d.wait_log("ice check: %s failed (error)" % udp)
    d.wait_log("no STUN or TURN server answers")
    promtool_clean(scrape(d))


def test_one_answering_server_is_enough(daemon, coturn):
    good = "stun:127.0.0.1:%d" % coturn.port
    bad = "stun:127.0.0.1:%d" % free_udp_port()
    d = daemon(config=ice(stun="%s, %s" % (bad, good)))
    wait_for(lambda: value(parse(scrape(d)), "rtftd_ice_server_up", url=good) == 1
             and value(parse(scrape(d)), "rtftd_ice_server_up", url=bad) == 0, 10, "one up, one down")
    status, doc = readyz(d)
    assert status == 200 and doc["status"] == "ready", doc
    assert doc["checks"]["ice"]["status"] == "ok" and doc["checks"]["ice"]["answering"] == 1, doc


def test_relay_policy_counts_turn_servers_only(daemon, coturn):
    stun = "stun:127.0.0.1:%d" % coturn.port          # answers, but unused
    turn = "turn:127.0.0.1:%d?transport=tcp" % free_port()  # nobody there
    cfg = ice(stun=stun, turn=turn)
    cfg["ice_transport_policy"] = "relay"
    d = daemon(config=cfg)
    wait_for(lambda: (checks(d, turn, "error") or 0) >= 1, 10, "the TURN check to fail")
    s = parse(scrape(d))
    assert value(s, "rtftd_ice_server_up", url=stun) is None, "a STUN server is not checked under relay"
    status, doc = readyz(d)
    assert status == 200 and doc["status"] == "degraded", doc
    assert doc["checks"]["ice"]["servers"] == 1, doc


def garbage(data, n):
    """Answers that are not a Binding response to the request, in turn."""
    tid = data[8:20]
    kinds = [
        b"\xff" * 40,                                           # not STUN
        b"HTTP/1.1 400 Bad Request\r\n\r\n",                    # not STUN either
        struct.pack(">HHI", 0x0101, 0, COOKIE) + os.urandom(12),  # another transaction
        struct.pack(">HHI", 0x0101, 12, COOKIE) + tid,          # length beyond the datagram
        struct.pack(">HHI", 0x0101, 8, COOKIE) + tid + struct.pack(">HHI", 0x0020, 300, 0),  # attribute too long
        struct.pack(">HHI", 0x0101, 0, COOKIE) + tid,           # success without an address
        struct.pack(">HHI", 0x0111, 0, COOKIE) + tid,           # error without ERROR-CODE
        data,                                                   # the request itself, echoed
        b"",                                                    # an empty datagram
    ]
    return kinds[(n - 1) % len(kinds)]


def error_response(data, n):
    """A Binding error response 403 whose reason phrase has an escape sequence."""
    value = b"\0\0\x04\x03" + b"Forbidden\x1b[2J"
    body = struct.pack(">HH", 0x0009, len(value)) + value + b"\0" * (-len(value) % 4)
    return struct.pack(">HHI", 0x0111, len(body), COOKIE) + data[8:20] + body


def test_garbage_answers_are_errors(daemon):
    junk = UdpResponder(garbage)
    refusal = UdpResponder(error_response)
    tcp_junk = TcpResponder(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    tcp_short = TcpResponder(struct.pack(">HHI", 0x0101, 12, COOKIE) + os.urandom(12))
    urls = {
        "junk": "stun:127.0.0.1:%d" % junk.port,
        "refusal": "stun:127.0.0.1:%d" % refusal.port,
        "tcp_junk": "turn:127.0.0.1:%d?transport=tcp" % tcp_junk.port,
        "tcp_short": "turn:127.0.0.1:%d?transport=tcp" % tcp_short.port,
    }
    try:
        d = daemon(config=ice(stun="%s,%s" % (urls["junk"], urls["refusal"]),
                              turn="%s,%s" % (urls["tcp_junk"], urls["tcp_short"])))
        metrics_pid = d.pids()["metrics"]
        wait_for(lambda: checks(d, urls["junk"], "error") >= 2 * 9, 15, "every kind of garbage, twice")
        s = parse(scrape(d))
        for name, u in urls.items():
            assert value(s, "rtftd_ice_server_up", url=u) == 0, name
            assert value(s, "rtftd_ice_server_checks_total", url=u, result="ok") == 0, name
            assert value(s, "rtftd_ice_server_checks_total", url=u, result="error") >= 1, name
        status, doc = readyz(d)
        assert status == 200 and doc["status"] == "degraded", doc
        reason = doc["checks"]["ice"]["reason"]
        assert "bad answer" in reason, reason
        # each server's first failure is logged with what was wrong; the
        # error response's reason phrase with its control byte made harmless
        d.wait_log("ice check: %s failed (error): bad answer: " % urls["junk"])
        d.wait_log("ice check: %s failed (error): error response 403 Forbidden?[2J" % urls["refusal"])
        d.wait_log("ice check: %s failed (error): bad answer: not a STUN message" % urls["tcp_junk"])
        d.wait_log("ice check: %s failed (error): connection closed after 20 bytes of an answer" % urls["tcp_short"])
        assert "\x1b" not in d.log_text()
        # nothing crashed or was replaced
        assert d.pids()["metrics"] == metrics_pid
        promtool_clean(scrape(d))
        # no answer was ever taken for a success
        assert not d.log_contains("answers again")
    finally:
        for r in (junk, refusal, tcp_junk, tcp_short):
            r.close()


def test_silent_server_times_out_after_one_retransmission(daemon):
    silent = UdpResponder(lambda data, n: None)
    url = "stun:127.0.0.1:%d" % silent.port
    try:
        d = daemon(config=ice(stun=url))
        wait_for(lambda: checks(d, url, "timeout") >= 1, 10, "a time-out")
        s = parse(scrape(d))
        assert value(s, "rtftd_ice_server_up", url=url) == 0
        assert value(s, "rtftd_ice_server_checks_total", url=url, result="error") == 0
        # a Binding request without attributes, sent twice with one transaction id
        first, second = silent.received[0], silent.received[1]
        assert len(first) == 20 and first[:8] == struct.pack(">HHI", 0x0001, 0, COOKIE), first.hex()
        assert second == first
        # and the next round is a new transaction
        wait_for(lambda: len(silent.received) >= 3, 5, "the next round")
        assert silent.received[2][8:20] != first[8:20]
        status, doc = readyz(d)
        assert status == 200 and doc["status"] == "degraded", doc
        assert "no answer within 2000 ms" in doc["checks"]["ice"]["reason"], doc
    finally:
        silent.close()


def test_tls_entries_are_unchecked(daemon):
    listener = TcpResponder(b"")
    tls = ["stuns:127.0.0.1:%d" % listener.port, "turns:127.0.0.1:%d?transport=tcp" % listener.port]
    try:
        d = daemon(config=ice(stun=tls[0], turn=tls[1]))
        wait_for(lambda: all(checks(d, u, "unchecked") >= 2 for u in tls), 10, "two rounds")
        s = parse(scrape(d))
        for u in tls:
            assert value(s, "rtftd_ice_server_up", url=u) is None
            assert value(s, "rtftd_ice_server_checks_total", url=u, result="ok") is None
        assert listener.connections == 0
        status, doc = readyz(d)
        assert status == 200 and doc["status"] == "ready", doc
        got = doc["checks"]["ice"]
        assert got["status"] == "unchecked" and got["servers"] == 2 and got["checked"] == 0, got
        assert "not checked" in got["reason"], got
        promtool_clean(scrape(d))
    finally:
        listener.close()


def test_checks_off(daemon, coturn):
    url = "stun:127.0.0.1:%d" % coturn.port
    d = daemon(config=ice(stun=url, interval=0))
    wait_for(lambda: "ice" in readyz(d)[1]["checks"], 5, "the ice check in /readyz")
    status, doc = readyz(d)
    assert status == 200 and doc["status"] == "ready", doc
    got = doc["checks"]["ice"]
    assert got["status"] == "unchecked" and "ice_check_interval_ms" in got["reason"], got
    s = parse(scrape(d))
    assert value(s, "rtftd_ice_server_up", url=url) is None
    assert value(s, "rtftd_ice_server_checks_total", url=url, result="ok") == 0


def test_no_servers_no_ice_check(daemon):
    d = daemon()
    status, doc = readyz(d)
    assert status == 200 and doc["status"] == "ready" and "ice" not in doc["checks"], doc
    assert ice_samples(d) == {}


def test_reload_changes_the_servers(daemon, coturn):
    good = "stun:127.0.0.1:%d" % coturn.port
    bad = "stun:127.0.0.1:%d" % free_udp_port()
    d = daemon(config={"ice_check_interval_ms": 200})
    assert "ice" not in readyz(d)[1]["checks"]

    def reload(**changes):
        n = d.notify_count()
        d.write_config(**changes)
        d.sighup()
        d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)

    reload(stun_servers=good)
    wait_for(lambda: value(parse(scrape(d)), "rtftd_ice_server_up", url=good) == 1, 10, "the new server checked")
    wait_for(lambda: readyz(d)[1]["checks"].get("ice", {}).get("status") == "ok", 5, "ice ok in /readyz")
    before = checks(d, good, "ok")

    # a second server: the first keeps its counters
    reload(stun_servers="%s,%s" % (good, bad))
    wait_for(lambda: checks(d, bad, "error") >= 1, 10, "the second server checked")
    assert checks(d, good, "ok") >= before
    assert readyz(d)[1]["checks"]["ice"]["servers"] == 2

    # only the dead one: degraded
    reload(stun_servers=bad)
    wait_for(lambda: readyz(d)[1]["status"] == "degraded", 10, "/readyz degraded")
    assert value(parse(scrape(d)), "rtftd_ice_server_up", url=good) is None

    # none: the check is gone again
    reload(stun_servers=None)
    wait_for(lambda: "ice" not in readyz(d)[1]["checks"], 10, "no ice check")
    assert readyz(d)[0] == 200 and readyz(d)[1]["status"] == "ready"
    assert ice_samples(d) == {}
