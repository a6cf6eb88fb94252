"""The WebSocket handshake (RFC 6455 section 4) on "/" and "/ws"."""

import json

import pytest

from helpers import Reader, connect, raw_exchange, recv_until
from wsutil import OP_TEXT, Client, RawWS, accept_for, encode_frame, http_request, jdump, new_key, run

WORKERS = 4


def pong_over(r):
    """Sends a masked PING text frame and expects the PONG text frame."""
    r.send_json({"type": "PING"})
    m = r.recv_json()
    assert m == {"type": "PONG"}, m


@pytest.mark.parametrize("path", ["/", "/ws"])
def test_upgrade_101_with_correct_accept(daemon, path):
    d = daemon(config={"workers": WORKERS})
    key = new_key()
    r = RawWS(d.port, path=path, key=key)
    try:
        assert r.status == 101, (r.status, r.body)
        assert r.headers.get("upgrade", "").lower() == "websocket"
        assert "upgrade" in r.headers.get("connection", "").lower()
        assert r.headers.get("sec-websocket-accept") == accept_for(key), r.header_lines
        # no subprotocol was asked for, none is chosen; no extension either
        assert "sec-websocket-protocol" not in r.headers
        assert "sec-websocket-extensions" not in r.headers
        assert r.worker in range(WORKERS), r.headers
        pong_over(r)
        pong_over(r)
    finally:
        r.close()


def test_known_accept_value(daemon):
    """The example of RFC 6455 section 1.3."""
    d = daemon(config={"workers": WORKERS})
    r = RawWS(d.port, path="/", key="dGhlIHNhbXBsZSBub25jZQ==")
    try:
        assert r.status == 101
        assert r.headers["sec-websocket-accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    finally:
        r.close()


@pytest.mark.parametrize("key", ["", "abc", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZQ=!",
                                 "AAAAAAAAAAAAAAAAAAAAAAA=", "!!!!!!!!!!!!!!!!!!!!!!=="])
@pytest.mark.parametrize("path", ["/", "/ws"])
def test_missing_or_invalid_key_400_json(daemon, key, path):
    d = daemon(config={"workers": WORKERS})
    r = RawWS(d.port, path=path, key=key)
    try:
        assert r.status == 400, (r.status, r.header_lines, r.body)
        assert r.headers.get("content-type", "").startswith("application/json")
        doc = r.json()
        assert doc["status"] == 400
        assert "Sec-WebSocket-Key" in doc["error"], doc
        assert "sec-websocket-accept" not in r.headers
    finally:
        r.close()


@pytest.mark.parametrize("version", ["8", None, "13, 8", "14"])
def test_wrong_version_426(daemon, version):
    d = daemon(config={"workers": WORKERS})
    r = RawWS(d.port, path="/ws", version=version)
    try:
        assert r.status == 426, (r.status, r.body)
        assert r.headers.get("sec-websocket-version") == "13", r.header_lines
        doc = r.json()
        assert doc["status"] == 426 and "13" in doc["error"], doc
        assert "sec-websocket-accept" not in r.headers
    finally:
        r.close()


def test_plain_get_ws_is_426_and_root_serves_the_page(daemon):
    d = daemon(config={"workers": WORKERS})
    status, headers, body = d.get("/ws")
    assert status == 426
    assert headers["Upgrade"].lower() == "websocket"
    doc = json.loads(body)
    assert doc["status"] == 426
    status, headers, body = d.get("/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")


def test_upgrade_on_other_paths_is_not_a_websocket(daemon):
    d = daemon(config={"workers": WORKERS})
    r = RawWS(d.port, path="/healthz")
    try:
        assert r.status != 101
    finally:
        r.close()
    r = RawWS(d.port, path="/nope")
    try:
        assert r.status == 404
    finally:
        r.close()


def test_upgrade_needs_get_and_http11_and_connection_upgrade(daemon):
    d = daemon(config={"workers": WORKERS})
    key = new_key()
    base = ("Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
            "Sec-WebSocket-Version: 13\r\n" % key)
    r = raw_exchange(d.port, ("POST /ws HTTP/1.1\r\n" + base + "Content-Length: 0\r\n\r\n").encode())
    assert r.status == 400, r.raw_head
    r = raw_exchange(d.port, ("GET /ws HTTP/1.0\r\n" + base + "\r\n").encode())
    assert r.status == 400, r.raw_head
    r = raw_exchange(d.port, ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                              "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    assert r.status == 400 and "Connection" in r.json()["error"], r.raw_head
    # header values are token lists, case-insensitive
    r = RawWS(d.port, path="/ws", request=(
        "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    try:
        assert r.status == 101, (r.status, r.body)
        assert r.headers["sec-websocket-accept"] == accept_for(key)
        pong_over(r)
    finally:
        r.close()


def test_frames_sent_with_the_request_are_not_lost(daemon):
    """A client may send its first frame in the same packet as the upgrade."""
    d = daemon(config={"workers": WORKERS})
    first = encode_frame(OP_TEXT, jdump({"type": "PING"})) + encode_frame(OP_TEXT, jdump({"type": "GET_USERS"}))
    for _ in range(5):
        r = RawWS(d.port, path="/", after=first)
        try:
            assert r.status == 101
            assert r.recv_json() == {"type": "PONG"}
            assert r.recv_json(skip=()) == {"type": "USER_LIST", "users": []}
        finally:
            r.close()


def test_permessage_deflate_offer_is_declined(daemon):
    d = daemon(config={"workers": WORKERS})
    # raw: the offer a browser makes
    r = RawWS(d.port, path="/", headers={"Sec-WebSocket-Extensions":
                                         "permessage-deflate; client_max_window_bits"})
    try:
        assert r.status == 101
        assert "sec-websocket-extensions" not in r.headers, r.header_lines
        pong_over(r)
    finally:
        r.close()

    # python3-websockets offers permessage-deflate by default
    async def body():
        c = await Client.open(d, "/ws", compression="deflate")
        try:
            assert "Sec-WebSocket-Extensions" not in c.ws.response_headers
            assert c.ws.extensions == []
            await c.ping()
            m = await c.register("deflater")
            assert m["availableUsers"] == []
            await c.ping()
        finally:
            await c.close()
    run(body())


def test_upgrade_pipelined_after_a_keepalive_request(daemon):
    """A GET and an upgrade on one connection, sent in one packet (HTTP/1.1
    pipelining): the GET is answered, then the 101 follows, and the frame
    sent behind the upgrade is answered too -- without the client having to
    send anything more. (A plain GET + GET pipelined stalls the same way:
    the second request waits for more input.)"""
    d = daemon(config={"workers": WORKERS})
    key = new_key()
    s = connect(d.port, timeout=3)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + http_request("/ws", key) +
                  encode_frame(OP_TEXT, jdump({"type": "PING"})))
        want = b'\x81\x0f{"type":"PONG"}'
        buf = recv_until(s, lambda b: want in b)
        assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
        assert b"HTTP/1.1 101" in buf, "no 101 within 3 s for an upgrade pipelined after a GET: %r" % buf[-200:]
        assert ("Sec-WebSocket-Accept: %s" % accept_for(key)).encode() in buf
        assert want in buf, "no PONG for the frame sent behind the upgrade: %r" % buf[-100:]
    finally:
        s.close()


def test_upgrade_after_a_keepalive_request(daemon):
    """The same, one request after the other on a kept-alive connection."""
    d = daemon(config={"workers": WORKERS})
    key = new_key()
    s = connect(d.port)
    try:
        r = Reader(s)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert r.response().status == 200
        s.sendall(http_request("/", key))
        resp = r.response()
        assert resp.status == 101 and resp.header("sec-websocket-accept") == accept_for(key)
        s.sendall(encode_frame(OP_TEXT, jdump({"type": "PING"})))
        while len(r.buf) < 17:
            assert r._fill(), "EOF"
        assert r.buf == b'\x81\x0f{"type":"PONG"}', r.buf
    finally:
        s.close()


def test_frame_bytes_behind_a_pipelined_upgrade_are_not_judged_as_http(daemon):
    """Like the test above, with a mask chosen so that the masked frame,
    read as HTTP, is a malformed request (a header line starting with a
    space). The HTTP guard scans every byte the client sends, including
    the frames behind an upgrade: its verdict on them must not cost the
    requests before them (the GET's answer, the 101) or the frame itself.
    With a random mask this happened now and then."""
    d = daemon(config={"workers": WORKERS})
    key = new_key()
    payload = jdump({"type": "PING"}).encode()
    want_masked = b"\r\nX\r\n x\r\n\r\n"  # masked bytes 0..10: a line, then a space-led header
    mask = bytes(want_masked[i] ^ payload[i] for i in range(4))
    frame = encode_frame(OP_TEXT, payload, mask_key=mask)
    s = connect(d.port, timeout=3)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + http_request("/ws", key) + frame)
        want = b'\x81\x0f{"type":"PONG"}'
        buf = recv_until(s, lambda b: want in b)
        assert buf.startswith(b"HTTP/1.1 200"), buf[:100]
        assert b"HTTP/1.1 101" in buf, "the upgrade behind a GET was refused: %r" % buf[-200:]
        assert want in buf, "no PONG for the frame sent behind the upgrade: %r" % buf[-100:]
    finally:
        s.close()
