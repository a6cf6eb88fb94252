"""The binary relay extension (docs/protocol.md): CAPABILITIES, binary
chunks forwarded byte for byte with the sender's name in the header, on
the same worker and across workers, and refused (with one ERROR) to a
client that did not ask for binary relay."""
import asyncio
import hashlib
import os
import struct

import websockets

from wsutil import Client, clients_on_distinct_workers, close_all, connect_on, run


def frame(name, tid, offset, data):
    n = name.encode()
    return bytes([1, len(n)]) + n + tid + struct.pack(">Q", offset) + data


def parse(msg):
    assert msg[0] == 1
    n = msg[1]
    name = msg[2:2 + n].decode()
    tid = msg[2 + n:2 + n + 16]
    (offset,) = struct.unpack(">Q", msg[2 + n + 16:2 + n + 24])
    return name, tid, offset, msg[2 + n + 24:]


async def raw_pair(d, same_worker):
    """Two plain websockets connections (binary messages need the raw API)."""
    import json
    for _ in range(200):
        a = await websockets.connect(d.ws_url(), max_size=None, compression=None, ping_interval=None)
        b = await websockets.connect(d.ws_url(), max_size=None, compression=None, ping_interval=None)
        wa, wb = a.response_headers["X-RTFT-Worker"], b.response_headers["X-RTFT-Worker"]
        if (wa == wb) == same_worker:
            break
        await a.close()
        await b.close()
    for ws, name in ((a, "alice"), (b, "bob")):
        await ws.send(json.dumps({"type": "SET_USERNAME", "username": name}))
        while json.loads(await ws.recv())["type"] != "USERNAME_SET":
            pass
    return a, b


async def next_json(ws, want, timeout=5):
    import json
    while True:
        m = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(m, str):
            j = json.loads(m)
            if j["type"] == want:
                return j


async def next_binary(ws, timeout=5):
    while True:
        m = await asyncio.wait_for(ws.recv(), timeout)
        if isinstance(m, bytes):
            return m


def check_relay(d, same_worker):
    import json

    async def main():
        a, b = await raw_pair(d, same_worker)
        await b.send(json.dumps({"type": "CAPABILITIES", "binaryRelay": True}))
        caps = await next_json(b, "CAPABILITIES")
        assert caps["binaryRelay"] is True and caps["maxMessageBytes"] > 0
        tid = os.urandom(16)
        blob = os.urandom(4 * 1024 * 1024)
        size = 256 * 1024
        got = bytearray()
        for off in range(0, len(blob), size):
            await a.send(frame("bob", tid, off, blob[off:off + size]))
            name, rtid, roff, data = parse(await next_binary(b))
            assert name == "alice" and rtid == tid and roff == off
            got += data
        assert hashlib.sha256(got).digest() == hashlib.sha256(blob).digest()
        await a.close()
        await b.close()

    run(main())


def test_binary_chunks_same_worker(daemon):
    check_relay(daemon(config={"workers": 2}), True)


def test_binary_chunks_across_workers(daemon):
    check_relay(daemon(config={"workers": 2}), False)


def test_binary_to_an_old_client_is_refused_once(daemon):
    import json
    d = daemon(config={"workers": 2})

    async def main():
        for same in (True, False):
            a, b = await raw_pair(d, same)
            tid = os.urandom(16)
            for i in range(20):
                await a.send(frame("bob", tid, i * 10, b"x" * 10))
            err = await next_json(a, "ERROR")
            assert "bob does not accept binary relay" in err["message"]
            await a.send(json.dumps({"type": "PING"}))
            # one ERROR for the burst: the next message is the PONG
            nxt = json.loads(await asyncio.wait_for(a.recv(), 5))
            while nxt["type"] == "USER_LIST":
                nxt = json.loads(await asyncio.wait_for(a.recv(), 5))
            assert nxt["type"] == "PONG", nxt
            # bob (an old client) never saw a binary message
            await b.send(json.dumps({"type": "PING"}))
            while True:
                m = await asyncio.wait_for(b.recv(), 5)
                assert not isinstance(m, bytes), "an old client got a binary message"
                if json.loads(m)["type"] == "PONG":
                    break
            await a.close()
            await b.close()

    run(main())


def test_malformed_binary_header_gets_error(daemon):
    import json
    d = daemon(config={"workers": 1})

    async def main():
        a, b = await raw_pair(d, True)
        for bad, text in ((b"\x02abc", "unknown kind"), (b"\x01\x00", "name length"),
                          (b"\x01\x03bob" + b"t" * 5, "shorter than its header")):
            await a.send(bad)
            err = await next_json(a, "ERROR")
            assert text in err["message"], err
        await a.send(frame("carol", os.urandom(16), 0, b"zz"))
        err = await next_json(a, "ERROR")
        assert err["message"] == "carol is not online"
        await a.close()
        await b.close()

    run(main())
