"""Old clients' quirks (docs/protocol.md; issue 11 points 1 and 2), on 1
and on 2 workers, with the scripted old client of test_interop.py (the
extension in websocket mode: no CAPABILITIES) and raw WebSockets where the
exact bytes matter.

* A client's own top-level "sender" is cut and the server's stamped, every
  one of them; a nested "sender" is data. An old client that echoes what it
  received keeps working.
* A file name that an old client would run as markup is not delivered to
  an old client, on this worker or another one; the sender hears it once;
  a new client (one that sent CAPABILITIES) gets the name as it is.
"""

import asyncio
import json

import pytest

from helpers import wait_for
from test_interop import legacy_ws  # noqa: F401 (fixture)
from wsutil import close_all, connect_on, raw_on, run

BAD_NAME = "<img src=x onerror=alert(1)>"
CODE = "unsafe_file_name"


def start(daemon, workers):
    return daemon(config={"workers": workers})


def where(workers, same):
    """X-RTFT-Worker predicates for the second party: the first one's
    worker, or any other."""
    if workers == 1 or same:
        return lambda first: (lambda s: s == first)
    return lambda first: (lambda s: s != first)


LAYOUTS = [(1, True), (2, True), (2, False)]
LAYOUT_IDS = ["1-worker", "2-workers-same", "2-workers-cross"]


def no_dup_keys(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "duplicate keys %r" % keys
    return dict(pairs)


@pytest.mark.parametrize("workers,same", LAYOUTS, ids=LAYOUT_IDS)
def test_client_senders_are_cut_and_the_servers_stamped(daemon, workers, same):
    d = start(daemon, workers)
    a = raw_on(d, None)
    b = raw_on(d, where(workers, same)(a.worker))
    try:
        a.register("alice")
        b.register("bob")
        cases = [
            # (what alice sends, exactly what bob gets)
            ('{"sender":"bob","type":"WEBRTC_ICE_CANDIDATE","candidate":{"candidate":"c","sender":"n"},'
             '"sender":"x","recipient":"bob"}',
             '{"sender":"alice","type":"WEBRTC_ICE_CANDIDATE","candidate":{"candidate":"c","sender":"n"}}'),
            ('{"type":"FILE_COMPLETE","recipient":"bob","s\\u0065nder":null,"fileName":"a.txt"}',
             '{"sender":"alice","type":"FILE_COMPLETE","fileName":"a.txt"}'),
            ('{ "type" : "WEBRTC_OFFER" , "offer" : {"sdp":"v=0"} , "sender" : 5 , "recipient" : "bob" }',
             '{"sender":"alice", "type" : "WEBRTC_OFFER" , "offer" : {"sdp":"v=0"}   }'),
            ('{"type":"FILE_METADATA","sender":"","recipient":"bob","file":{"name":"a","size":1,"sender":"f"}}',
             '{"sender":"alice","type":"FILE_METADATA","file":{"name":"a","size":1,"sender":"f"},'
             '"transferMode":"websocket"}'),
        ]
        for sent, want in cases:
            a.send_text(sent)
            op, got = b.recv_message()
            while json.loads(got).get("type") == "USER_LIST":
                op, got = b.recv_message()
            assert got.decode() == want
            json.loads(got, object_pairs_hook=no_dup_keys)
        # alice was told nothing: the next thing she gets is her PONG
        a.send_json({"type": "PING"})
        assert a.recv_json() == {"type": "PONG"}
        # more senders than any client sends: refused, and nothing relayed
        a.send_text('{"type":"FILE_COMPLETE","recipient":"bob","fileName":"x",%s}' %
                    ",".join('"sender":%d' % i for i in range(9)))
        assert a.recv_json() == {"type": "ERROR", "message": "\"sender\" more than 8 times"}
        a.send_json({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "marker"})
        assert b.recv_json() == {"sender": "alice", "type": "FILE_COMPLETE", "fileName": "marker"}
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("workers,same", LAYOUTS, ids=LAYOUT_IDS)
def test_old_client_that_echoes_what_it_got(daemon, workers, same):
    """bob's old client answers every relayed message by sending the
    object back with only the recipient added (the sender it got still in
    it): the server relays it as the old server did."""
    d = start(daemon, workers)

    async def body():
        a = await connect_on(d)
        b = await connect_on(d, where(workers, same)(a.worker))
        try:
            await a.register("alice")
            await b.register("bob")
            msgs = [
                {"type": "WEBRTC_OFFER", "recipient": "bob", "offer": {"type": "offer", "sdp": "v=0\r\n"}},
                {"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob",
                 "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sender": "nested"}},
                {"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob", "candidate": None},
                {"type": "FILE_METADATA", "recipient": "bob", "file": {"name": "a.bin", "size": 3},
                 "transferMode": "websocket"},
                {"type": "FILE_CHUNK", "recipient": "bob", "file": {"name": "a.bin", "offset": 0, "data": [1, 2, 3]}},
                {"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "a.bin"},
            ]
            for msg in msgs:
                await a.send(msg)
                got = await b.next(msg["type"])
                assert got["sender"] == "alice" and "recipient" not in got, got
                echo = dict(got, recipient=got["sender"])
                await b.send(echo)
                back = await a.next(msg["type"])
                want = {k: v for k, v in msg.items() if k != "recipient"}
                want["sender"] = "bob"
                assert back == want
            for c in (a, b):
                assert not c.pending("ERROR"), c.pending("ERROR")
                assert await c.ping() is not None
                assert not [m for m in c.log if m.get("type") == "ERROR"], c.log
        finally:
            await close_all([a, b])
    run(body())


def worker_of(old):
    return int(old.ws.response_headers["X-RTFT-Worker"])


@pytest.mark.parametrize("workers,same", LAYOUTS, ids=LAYOUT_IDS)
def test_markup_file_name_does_not_reach_an_old_client(legacy_ws, daemon, workers, same):
    """A new client (the web page, say) sends files to the old extension:
    the one whose name would run as markup there is refused with one
    ERROR naming the problem; the next, plainly named, arrives."""
    d = start(daemon, workers)
    old = legacy_ws(d, "oldext")

    async def body():
        a = await connect_on(d, where(workers, same)(worker_of(old)))
        try:
            await a.send({"type": "CAPABILITIES", "transfer": 1})
            await a.next("CAPABILITIES")
            await a.register("alice")
            meta = {"type": "FILE_METADATA", "recipient": "oldext", "file": {"name": BAD_NAME, "size": 3},
                    "transferMode": "websocket"}
            await a.send(meta)
            err = await a.next("ERROR")
            assert err == {"type": "ERROR", "code": CODE, "user": "oldext",
                           "message": "oldext uses an older client that would run markup in this file name: "
                                      "rename the file without any of < > & \" ' ` and send it again"}, err
            # the chunks and the completion that follow: dropped too, no second ERROR
            await a.send({"type": "FILE_CHUNK", "recipient": "oldext",
                          "file": {"name": BAD_NAME, "offset": 0, "data": [1, 2, 3]}})
            await a.send({"type": "FILE_COMPLETE", "recipient": "oldext", "fileName": BAD_NAME})
            # the same name spelt with escapes, as a JSON text of our own
            await a.send('{"type":"FILE_METADATA","recipient":"oldext","file":{"name":"x\\u003cb\\u003e","size":1}}')
            await a.send(dict(meta, file={"name": "notes.txt", "size": 3}))
            await a.send({"type": "FILE_CHUNK", "recipient": "oldext",
                          "file": {"name": "notes.txt", "offset": 0, "data": [1, 2, 3]}})
            await a.send({"type": "FILE_COMPLETE", "recipient": "oldext", "fileName": "notes.txt"})
            await a.ping()
            assert not a.pending("ERROR"), a.pending("ERROR")
        finally:
            await close_all([a])
    run(body())
    files = old.wait_files(1, timeout=20)
    assert [f["name"] for f in files] == ["notes.txt"] and bytes(files[0]["data"]) == b"\x01\x02\x03"
    assert [m["file"]["name"] for m in old.metas] == ["notes.txt"], old.metas
    assert not old.errors and not old.unknown, (old.errors, old.unknown)


@pytest.mark.parametrize("workers,same", LAYOUTS, ids=LAYOUT_IDS)
def test_old_sender_hears_once_and_a_new_receiver_gets_the_name(legacy_ws, daemon, workers, same):
    """The old extension sends: to another old client a markup name is
    refused with one plain v1 ERROR (no code); to a new client it arrives
    as it is."""
    d = start(daemon, workers)
    sender = legacy_ws(d, "oldsend")
    receiver = legacy_ws(d, "oldrecv")

    async def body():
        n = await connect_on(d, where(workers, same)(worker_of(sender)))
        try:
            await n.send({"type": "CAPABILITIES"})
            await n.next("CAPABILITIES")
            await n.register("newpage")
            await asyncio.to_thread(sender.send_file, "oldrecv", BAD_NAME, b"abc")
            await asyncio.to_thread(sender.send_file, "newpage", BAD_NAME, b"abc")
            meta = await n.next("FILE_METADATA")
            assert meta["file"]["name"] == BAD_NAME and meta["sender"] == "oldsend"
            done = await n.next("FILE_COMPLETE")
            assert done == {"sender": "oldsend", "type": "FILE_COMPLETE", "fileName": BAD_NAME}
            await asyncio.to_thread(sender.send_file, "oldrecv", "plain.txt", b"xyz")
        finally:
            await close_all([n])
    run(body())
    files = receiver.wait_files(1, timeout=20)
    assert [f["name"] for f in files] == ["plain.txt"]
    assert [m["file"]["name"] for m in receiver.metas] == ["plain.txt"] and not receiver.errors
    wait_for(lambda: sender.errors, 10, "the ERROR to the old sender")
    assert sender.errors == ["oldrecv uses an older client that would run markup in this file name: "
                             "rename the file without any of < > & \" ' ` and send it again"], sender.errors
