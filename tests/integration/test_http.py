"""HTTP on the main listener: routes, JSON errors, request ids, the byte
guard in front of libevhtp (414/431/413/501), keep-alive and timeouts,
and the per-request log line."""

import json
import socket
import re
import time
import uuid

import pytest

from helpers import Reader, connect, raw_exchange, recv_until, wait_server_read

GENERATED_ID = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture
def d(daemon):
    return daemon()


def json_body(status, headers, body):
    assert headers.get("Content-Type", "").startswith("application/json"), headers
    return json.loads(body)


def test_healthz(d):
    status, headers, body = d.get("/healthz")
    assert status == 200
    assert json_body(status, headers, body) == {"status": "ok"}
    assert headers["Cache-Control"] == "no-store"


def test_readyz_all_checks_ok(d):
    status, headers, body = d.get("/readyz")
    assert status == 200, body
    doc = json_body(status, headers, body)
    assert doc["status"] == "ready"
    checks = doc["checks"]
    for name in ("database", "migrations", "workers"):
        assert checks[name]["status"] == "ok", (name, doc)
    assert checks["workers"]["ready"] == 2 and checks["workers"]["wanted"] == 2
    assert checks["migrations"]["version"] == checks["migrations"]["latest"] >= 1


def test_root_serves_html(d):
    status, headers, body = d.get("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"rtftd" in body


def test_api_info(d):
    status, headers, body = d.get("/api/info")
    assert status == 200
    doc = json_body(status, headers, body)
    assert doc["name"] == "rtftd" and doc["protocol"] == 1 and doc["version"]
    assert doc["signin"] is False and "name_claim" not in doc, doc


def test_unknown_path_404_json(d):
    status, headers, body = d.get("/no/such/path")
    assert status == 404
    doc = json_body(status, headers, body)
    assert doc["error"]
    assert doc["status"] == 404
    assert doc["request_id"] == headers["X-Request-ID"]


def test_wrong_method_405(d):
    status, headers, body = d.get("/healthz", method="POST", body=b"")
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    doc = json_body(status, headers, body)
    assert doc["error"] and doc["status"] == 405


def test_head_is_allowed(d):
    status, headers, body = d.get("/healthz", method="HEAD")
    assert status == 200
    assert body == b""


def test_request_id_echoed_when_valid(d):
    rid = "abc-DEF_123." + uuid.uuid4().hex
    status, headers, _ = d.get("/healthz", headers={"X-Request-ID": rid})
    assert status == 200
    assert headers["X-Request-ID"] == rid
    # also on errors, and in the body
    status, headers, body = d.get("/nope", headers={"X-Request-ID": rid})
    assert headers["X-Request-ID"] == rid
    assert json.loads(body)["request_id"] == rid


@pytest.mark.parametrize("sent", [None, "has spaces in it", "x" * 200, "semi;colon", "quote\"d"],
                         ids=["absent", "spaces", "200-chars", "semicolon", "quote"])
def test_request_id_generated_when_absent_or_invalid(d, sent):
    headers = {"X-Request-ID": sent} if sent is not None else {}
    ids = set()
    for _ in range(2):
        status, h, _ = d.get("/healthz", headers=headers)
        assert status == 200
        rid = h["X-Request-ID"]
        assert rid != sent
        assert GENERATED_ID.match(rid), rid
        ids.add(rid)
    assert len(ids) == 2, "generated request ids repeat"


def test_worker_header(d):
    seen = set()
    for _ in range(4):
        status, headers, _ = d.get("/healthz")
        seen.add(headers["X-RTFT-Worker"])
    assert seen and seen <= {"0", "1"}


def assert_refused(resp, status):
    assert resp is not None, "the connection closed without a response (expected %d)" % status
    assert resp.status == status, (resp.status, resp.body)
    assert resp.header("content-type") == "application/json"
    doc = resp.json()
    assert doc["status"] == status and doc["error"]
    assert doc["request_id"] == resp.header("x-request-id")
    assert resp.header("connection") == "close"
    assert resp.header("x-rtft-worker") in ("0", "1")


def test_long_request_line_414(d):
    resp = raw_exchange(d.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_refused(resp, 414)


def test_long_request_line_one_byte_per_send_414(d):
    """The guard counts across any split of the stream: a URI sent one byte
    per send() still gets the 414, every time (10 tries)."""
    data = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    outcomes = []
    for _ in range(10):
        s = connect(d.port)
        sent = 0
        try:
            for i in range(len(data)):
                try:
                    s.send(data[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break  # refused and closed part way: the answer should be waiting
                sent += 1
            reader = Reader(s)
            resp = reader.response()
            outcomes.append(resp.status if resp else "no response (%s after %d bytes)" %
                            ("reset" if reader.error else "EOF", sent))
            if resp:
                assert_refused(resp, 414)
        finally:
            s.close()
    assert outcomes == [414] * 10, "one byte per send(): %s" % outcomes


def test_request_line_split_across_reads(d):
    """A request line that reaches the worker in many reads (a slow client,
    small segments) must be read as it was sent. Each byte is sent alone
    and the next one only once the server has read it."""
    paths = []
    for _ in range(3):
        s = connect(d.port)
        try:
            line = b"GET /healthz HTTP/1.1\r\n"
            for i in range(len(line)):
                s.send(line[i:i + 1])
                wait_server_read(d.port, s)
            s.sendall(b"Host: x\r\nX-Request-ID: split-%d\r\n\r\n" % len(paths))
            resp = Reader(s).response()
            paths.append(resp.status if resp else "no response")
        finally:
            s.close()
    logged = re.findall(r'path="([^"]*(?:\\.[^"]*)*)" status=\d+ .*request_id=split-', d.log_text())
    assert paths == [200, 200, 200], "GET /healthz sent in pieces got %s; paths seen by rtftd: %s" % (paths, logged)


def test_many_headers_20000_bytes_431(d):
    headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"h" * 480) for i in range(40))
    resp = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert_refused(resp, 431)


def test_one_header_of_20000_bytes_431(d):
    # one header line past max_header_bytes (16384) must get the same 431
    resp = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 20000 + b"\r\n\r\n")
    assert_refused(resp, 431)


def test_one_header_line_over_libevhtp_buffer_431(d):
    # under max_header_bytes (16384) in total, but one line is longer than
    # libevhtp's 8 KiB field buffer: refused with 431, never a silent close
    resp = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 10000 + b"\r\n\r\n")
    assert_refused(resp, 431)


def test_head_of_12000_bytes_in_short_lines_is_served(d):
    hdrs = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 5900) for i in range(2))
    resp = raw_exchange(d.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert resp is not None, "a request under max_header_bytes got no response at all"
    assert resp.status == 200


def test_content_length_too_large_413(d):
    resp = raw_exchange(d.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
    assert_refused(resp, 413)


def test_chunked_body_501(d):
    resp = raw_exchange(d.port, b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                b"5\r\nhello\r\n0\r\n\r\n")
    assert_refused(resp, 501)


def test_refusals_are_logged_and_counted_as_requests(d):
    rid_re = re.compile(r"request refused: request line too long status=414 .*request_id=(\w+)")
    resp = raw_exchange(d.port, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert resp.status == 414
    rid = resp.header("x-request-id")
    d.wait_log("request_id=" + rid)
    assert any(m.group(1) == rid for m in rid_re.finditer(d.log_text()))


def test_pipelined_get_then_long_request_line(d):
    s = connect(d.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        r = Reader(s)
        first = r.response()
        assert first is not None and first.status == 200, first and first.body
        assert json.loads(first.body) == {"status": "ok"}
        assert_refused(r.response(), 414)
        assert r.at_eof()
    finally:
        s.close()


def test_keepalive_then_long_request_line(d):
    s = connect(d.port)
    try:
        r = Reader(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.response().status == 200
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.response().status == 200
        s.sendall(b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert_refused(r.response(), 414)
    finally:
        s.close()


@pytest.mark.parametrize("second,status", [
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n", 413),
], ids=["chunked-501", "content-length-413"])
def test_pipelined_get_then_refused_request_in_one_packet(d, second, status):
    """A valid request must be answered even when the bad one behind it
    arrives in the same read: the refusal belongs to the second request."""
    s = connect(d.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + second)
        r = Reader(s)
        first = r.response()
        assert first is not None, "no response at all"
        assert first.status == 200, "the valid first request was answered with %d: %r" % (first.status, first.body)
        assert_refused(r.response(), status)
    finally:
        s.close()


def test_idle_connection_closed_after_request_timeout(daemon):
    d = daemon(config={"request_timeout_ms": 1000})
    for payload in (b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"):  # idle, and a stalled head
        s = connect(d.port, timeout=10)
        try:
            if payload:
                s.sendall(payload)
            t0 = time.monotonic()
            r = Reader(s)
            resp = r.response()  # a stalled head may get a 408; silence gets nothing
            assert resp is None or (payload and resp.status == 408), resp and resp.status
            r.at_eof()
            took = time.monotonic() - t0
            assert r.eof
            assert took < 3.0, "idle connection closed only after %.1f s" % took
            assert took > 0.5, "closed after %.2f s, before the 1 s timeout" % took
        finally:
            s.close()
    # a connection that is used within the timeout stays open
    s = connect(d.port)
    try:
        r = Reader(s)
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert r.response().status == 200
            time.sleep(0.4)  # activity spacing, not synchronisation
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.response().status == 200
    finally:
        s.close()


def test_each_request_logs_one_info_line(d):
    ids = []
    for path, want in (("/healthz", 200), ("/readyz", 200), ("/missing", 404)):
        rid = "log-" + uuid.uuid4().hex
        status, _, _ = d.get(path, headers={"X-Request-ID": rid})
        assert status == want
        ids.append((rid, path, want))
    for rid, path, want in ids:
        d.wait_log("request_id=" + rid)
    text = d.log_text()
    for rid, path, want in ids:
        lines = [l for l in text.splitlines() if "request_id=" + rid in l]
        assert len(lines) == 1, lines
        line = lines[0]
        assert " info: " in line, line
        assert 'path="%s"' % path in line, line
        assert "status=%d" % want in line, line
        assert re.search(r"latency_ms=\d+\.\d+", line), line
        assert "method=GET" in line, line


def test_traceparent_trace_id_logged(d):
    trace = uuid.uuid4().hex
    rid = "tp-" + uuid.uuid4().hex
    tp = "00-%s-%s-01" % (trace, "b7ad6b7169203331")
    status, _, _ = d.get("/healthz", headers={"traceparent": tp, "X-Request-ID": rid})
    assert status == 200
    d.wait_log("request_id=" + rid)
    line = [l for l in d.log_text().splitlines() if rid in l][0]
    assert "trace_id=" + trace in line


def test_pipelined_gets_are_all_answered(d):
    """Three GETs in one packet: libevhtp alone would answer the first and
    wait for more input before the others; all three come back at once."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
        buf = recv_until(s, lambda b: b.count(b"HTTP/1.1 200") >= 3)
        assert buf.count(b"HTTP/1.1 200") == 3, buf
    finally:
        s.close()
