"""Frame-level rules (RFC 6455) and the message size limit, with a raw
client that can break them (WORKERS=4, max_message_bytes=65536)."""

import json

import pytest

from wsutil import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Client, RawWS, close_payload,
                    encode_frame, jdump, run)

WORKERS = 4
MAX = 65536


@pytest.fixture
def d(daemon):
    return daemon(config={"workers": WORKERS, "max_message_bytes": MAX})


def open_raw(d, **kw):
    r = RawWS(d.port, **kw)
    assert r.status == 101, (r.status, r.body)
    return r


def expect_closed_with(r, code, timeout=5):
    """The server's close frame carries code, and then the TCP stream ends."""
    f = r.expect_close(timeout)
    assert f.close_code == code, "close code %s (%r), want %d" % (f.close_code, f.close_reason, code)
    # answer it, as a client should; then the server ends the stream
    try:
        r.send_close(code)
    except OSError:
        pass
    assert r.wait_eof(timeout)
    return f


def padded_ping(size):
    """A PING message of exactly size bytes (white space is valid JSON)."""
    base = b'{"type":"PING"}'
    return base[:-1] + b" " * (size - len(base)) + b"}"


def test_message_over_limit_is_1009(d):
    r = open_raw(d)
    try:
        r.register("alice")
        r.send_text(padded_ping(MAX + 100))
        expect_closed_with(r, 1009)
    finally:
        r.close()


def test_message_at_limit_is_accepted(d):
    r = open_raw(d)
    try:
        r.send_text(padded_ping(MAX))
        assert r.recv_json() == {"type": "PONG"}
        # in fragments too
        msg = padded_ping(MAX)
        r.send_frame(OP_TEXT, msg[:30000], fin=False)
        r.send_frame(OP_CONT, msg[30000:60000], fin=False)
        r.send_frame(OP_CONT, msg[60000:], fin=True)
        assert r.recv_json() == {"type": "PONG"}
    finally:
        r.close()


def test_fragmented_message_over_limit_is_1009(d):
    r = open_raw(d)
    try:
        msg = padded_ping(MAX + 1)
        r.send_frame(OP_TEXT, msg[:40000], fin=False)
        r.send_frame(OP_CONT, msg[40000:], fin=True)
        expect_closed_with(r, 1009)
    finally:
        r.close()


def test_large_message_with_websockets_client_is_1009(d):
    async def body():
        c = await Client.open(d)
        try:
            await c.register("alice")
            await c.send(json.dumps({"type": "FILE_CHUNK", "recipient": "alice",
                                     "file": {"name": "x", "offset": 0, "data": [7] * 40000}}))
            code = await c.wait_closed(5)
            assert code == 1009, (code, c.close_reason)
        finally:
            await c.close()
    run(body())


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf",
                                 b"\xe2\x82"])
def test_invalid_utf8_text_is_1007(d, bad):
    r = open_raw(d)
    try:
        r.send_text(b'{"type":"PING","x":"' + bad + b'"}')
        expect_closed_with(r, 1007)
    finally:
        r.close()


def test_invalid_utf8_split_across_fragments_is_1007(d):
    r = open_raw(d)
    try:
        r.register("alice")
        # each fragment alone could be a valid prefix/suffix; together they are not UTF-8
        r.send_frame(OP_TEXT, b'{"type":"PING","x":"\xe2\x82', fin=False)
        r.send_frame(OP_CONT, b'(x"}', fin=True)
        expect_closed_with(r, 1007)
    finally:
        r.close()


def test_valid_utf8_split_across_fragments_is_accepted(d):
    r = open_raw(d)
    try:
        text = '{"type":"PING","x":"\u00e9\u65e5\U0001f600"}'.encode()
        i = text.index(b"\xf0") + 2  # inside the 4-byte sequence
        j = text.index(b"\xc3") + 1  # inside the 2-byte one
        r.send_frame(OP_TEXT, text[:j], fin=False)
        r.send_frame(OP_CONT, text[j:i], fin=False)
        r.send_frame(OP_CONT, text[i:], fin=True)
        assert r.recv_json() == {"type": "PONG"}
    finally:
        r.close()


def test_unmasked_frame_is_1002(d):
    r = open_raw(d)
    try:
        r.send_frame(OP_TEXT, jdump({"type": "PING"}), mask=False)
        expect_closed_with(r, 1002)
        assert not [x for x in r.frames if x.opcode == OP_TEXT], "the unmasked PING was answered"
    finally:
        r.close()


@pytest.mark.parametrize("rsv", [4, 2, 1])
def test_rsv_bits_are_1002(d, rsv):
    r = open_raw(d)
    try:
        r.send_frame(OP_TEXT, jdump({"type": "PING"}), rsv=rsv)
        expect_closed_with(r, 1002)
        assert not [x for x in r.frames if x.opcode == OP_TEXT]
    finally:
        r.close()


@pytest.mark.parametrize("opcode", [3, 7, 0xB, 0xF])
def test_reserved_opcodes_are_1002(d, opcode):
    r = open_raw(d)
    try:
        r.send_frame(opcode, b"hello")
        expect_closed_with(r, 1002)
    finally:
        r.close()


def test_continuation_without_start_is_1002(d):
    r = open_raw(d)
    try:
        r.send_frame(OP_CONT, b'{"type":"PING"}', fin=True)
        expect_closed_with(r, 1002)
    finally:
        r.close()


def test_new_message_inside_a_fragmented_one_is_1002(d):
    r = open_raw(d)
    try:
        r.send_frame(OP_TEXT, b'{"type":', fin=False)
        r.send_frame(OP_TEXT, b'{"type":"PING"}', fin=True)
        expect_closed_with(r, 1002)
    finally:
        r.close()


def test_fragmented_control_frame_is_1002(d):
    """RFC 6455 5.5: control frames must not be fragmented; 7.1.7: the
    endpoint SHOULD send a Close frame (1002) before closing TCP."""
    r = open_raw(d)
    try:
        r.send_frame(OP_PING, b"x", fin=False)
        expect_closed_with(r, 1002)
    finally:
        r.close()


def test_oversized_control_frame_is_1002(d):
    """RFC 6455 5.5: control frame payloads are at most 125 bytes."""
    r = open_raw(d)
    try:
        r.send_frame(OP_PING, b"x" * 126)
        expect_closed_with(r, 1002)
    finally:
        r.close()


def test_fragments_with_interleaved_ping_are_reassembled(d):
    r = open_raw(d)
    try:
        msg = b'{"type" : "PING" ,  "pad":"' + b"p" * 300 + b'"}'
        r.send_frame(OP_TEXT, msg[:5], fin=False)
        r.send_frame(OP_PING, b"ping-1")
        r.send_frame(OP_CONT, msg[5:200], fin=False)
        r.send_frame(OP_PING, b"ping-2")
        r.send_frame(OP_CONT, msg[200:], fin=True)
        assert r.recv_json() == {"type": "PONG"}
        assert r.pongs == [b"ping-1", b"ping-2"], r.frames
        # an unsolicited pong is ignored
        r.send_frame(OP_PONG, b"nobody asked")
        # and a fragmented SET_USERNAME with an empty middle fragment
        m = jdump({"type": "SET_USERNAME", "username": "frag"}).encode()
        r.send_frame(OP_TEXT, m[:10], fin=False)
        r.send_frame(OP_CONT, b"", fin=False)
        r.send_frame(OP_CONT, m[10:], fin=True)
        assert r.recv_json() == {"type": "USERNAME_SET", "username": "frag", "availableUsers": []}
    finally:
        r.close()


def test_many_messages_in_one_segment(d):
    r = open_raw(d)
    try:
        r.send_raw(b"".join(encode_frame(OP_TEXT, jdump({"type": "PING"})) for _ in range(100)))
        for _ in range(100):
            assert r.recv_json() == {"type": "PONG"}
    finally:
        r.close()


def test_binary_frame_is_error_not_close(d):
    r = open_raw(d)
    try:
        r.send_frame(OP_BINARY, b"\x00\xff")
        m = r.recv_json()
        assert m["type"] == "ERROR" and "binary" in m["message"], m
        r.send_json({"type": "PING"})
        assert r.recv_json() == {"type": "PONG"}
    finally:
        r.close()


@pytest.mark.parametrize("code", [1000, 1001, 4000])
def test_client_close_is_echoed_and_tcp_closed(d, code):
    r = open_raw(d)
    try:
        r.register("alice")
        r.send_close(code, b"bye")
        f = r.expect_close()
        assert f.close_code == code, (f.close_code, f.close_reason)
        assert r.wait_eof(5)
    finally:
        r.close()
    # the name was released
    r = open_raw(d)
    try:
        r.register("alice")
    finally:
        r.close()


def test_client_close_without_code(d):
    r = open_raw(d)
    try:
        r.send_frame(OP_CLOSE, b"")
        f = r.expect_close()
        assert f.close_code in (None, 1000), f
        assert r.wait_eof(5)
    finally:
        r.close()


@pytest.mark.parametrize("payload", [close_payload(1005), close_payload(999), close_payload(1000, b"\xff")])
def test_invalid_close_frames_are_1002(d, payload):
    r = open_raw(d)
    try:
        r.send_frame(OP_CLOSE, payload)
        f = r.expect_close()
        assert f.close_code in (1002, 1007) if payload.endswith(b"\xff") else f.close_code == 1002, f
        assert r.wait_eof(5)
    finally:
        r.close()


def test_abrupt_disconnect_releases_name(d):
    r = open_raw(d)
    r.register("alice")
    r.close()  # no close frame
    from helpers import wait_for

    def claim():
        r2 = open_raw(d)
        try:
            r2.send_json({"type": "SET_USERNAME", "username": "alice"})
            return r2.recv_json()["type"] == "USERNAME_SET"
        finally:
            r2.close()
    wait_for(claim, 3, "alice to be free after her TCP connection ended", interval=0.05)


def test_max_message_bytes_reload_applies_to_new_connections(daemon):
    """rtftd.conf(5): max_message_bytes is reloadable "for connections
    opened after the reload"."""
    dd = daemon(config={"workers": WORKERS, "max_message_bytes": MAX})
    old = open_raw(dd)
    try:
        old.send_text(padded_ping(MAX))
        assert old.recv_json() == {"type": "PONG"}
        n = dd.notify_count()
        dd.write_config(max_message_bytes=4 * MAX)
        dd.sighup()
        dd.wait_ready(dd.wait_notify("RELOADING=1", n) + 1)
        dd.wait_log("reload complete")
        new = open_raw(dd)
        try:
            new.send_text(padded_ping(3 * MAX))
            assert new.recv_json() == {"type": "PONG"}
            new.send_text(padded_ping(4 * MAX + 1))
            expect_closed_with(new, 1009)
        finally:
            new.close()
        # the old connection keeps its limit, and was not dropped by the reload
        old.send_json({"type": "PING"})
        assert old.recv_json() == {"type": "PONG"}
        old.send_text(padded_ping(MAX + 1))
        expect_closed_with(old, 1009)
    finally:
        old.close()
