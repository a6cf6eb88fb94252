"""Liveness: heartbeat pings and the register timeout (WORKERS=4)."""

import asyncio
import time

import pytest

from wsutil import EOF, OP_CLOSE, Client, RawWS, run

WORKERS = 4


def start(daemon, **cfg):
    c = {"workers": WORKERS}
    c.update(cfg)
    return daemon(config=c)


def read_until_closed(r, timeout, answer_pings):
    """Reads frames (answering pings or not) until the server's close
    frame or EOF; returns (close frame or None, seconds taken)."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    try:
        while True:
            op, payload = r.recv_message(max(0.001, deadline - time.monotonic()), answer_pings=answer_pings)
            if op == OP_CLOSE:
                return payload, time.monotonic() - t0
    except EOF:
        return None, time.monotonic() - t0
    except TimeoutError:
        pytest.fail("the connection was still open after %.1f s (%d pings seen)" % (timeout, len(r.pings)))


def test_client_that_never_answers_pings_is_closed_and_released(daemon):
    d = start(daemon, heartbeat_interval_ms=300)

    async def body():
        watcher = await Client.open(d, ping_interval=None)  # python3-websockets answers pings by itself
        await watcher.register("watcher")
        r = RawWS(d.port)
        try:
            assert r.status == 101
            await asyncio.get_running_loop().run_in_executor(None, r.register, "sleepy")
            await watcher.next(lambda m: m["type"] == "USER_LIST" and m["users"] == ["sleepy"])
            t0 = time.monotonic()
            f, took = await asyncio.get_running_loop().run_in_executor(None, read_until_closed, r, 2.0, False)
            assert r.pings, "the server closed without pinging first"
            assert f is not None, "no close frame before EOF"
            assert f.close_code == 1001, (f.close_code, f.close_reason)
            assert took < 2.0
            # the name is released: the watcher sees sleepy leave, sleepy can be claimed again
            await watcher.next(lambda m: m["type"] == "USER_LIST" and m["users"] == [], timeout=2,
                               what="a USER_LIST without sleepy")
            assert time.monotonic() - t0 < 2.5
            other = await Client.open(d)
            try:
                await other.register("sleepy")
            finally:
                await other.close()
            # and the watcher, which answers pings, is still there
            await watcher.ping()
        finally:
            r.close()
            await watcher.close()
    run(body())


def test_clients_that_answer_pings_or_talk_stay(daemon):
    d = start(daemon, heartbeat_interval_ms=300)

    async def body():
        c = await Client.open(d, ping_interval=None)
        await c.register("lively")
        loop = asyncio.get_running_loop()
        r = RawWS(d.port)
        talker = RawWS(d.port)
        try:
            await loop.run_in_executor(None, r.register, "ponger")

            def answer_for(secs):
                # reads and answers pings for secs: must not see a close
                deadline = time.monotonic() + secs
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return len(r.pings)
                    try:
                        op, payload = r.recv_message(left, answer_pings=True)
                    except TimeoutError:
                        return len(r.pings)
                    assert op != OP_CLOSE, "closed although it answered pings: %s" % payload

            def talk_for(secs):
                # never answers a ping, but sends a PING message every 150 ms
                deadline = time.monotonic() + secs
                n = 0
                while time.monotonic() < deadline:
                    talker.send_json({"type": "PING"})
                    m = talker.recv_json(2, answer_pings=False)
                    assert m == {"type": "PONG"}, m
                    n += 1
                    try:
                        op, payload = talker.recv_message(0.15, answer_pings=False)
                        assert op != OP_CLOSE, "closed although it kept talking: %s" % payload
                    except TimeoutError:
                        pass
                return n

            t0 = time.monotonic()
            pings, talks = await asyncio.gather(loop.run_in_executor(None, answer_for, 2.5),
                                                loop.run_in_executor(None, talk_for, 2.5))
            # the library client: still open after the same time
            assert c.closed_at is None, "the websockets client was closed with %s" % c.close_code
            assert time.monotonic() - t0 >= 2.5
            assert pings >= 3, "only %d pings in 2.5 s at heartbeat_interval_ms=300" % pings
            await c.ping()
            await loop.run_in_executor(None, lambda: r.send_json({"type": "PING"}))
            assert await loop.run_in_executor(None, r.recv_json) == {"type": "PONG"}
        finally:
            r.close()
            talker.close()
            await c.close()
    run(body())


def test_register_timeout_closes_with_1008(daemon):
    d = start(daemon, register_timeout_ms=500)

    async def body():
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        lib = await Client.open(d)
        r = RawWS(d.port)
        named = RawWS(d.port)
        try:
            await loop.run_in_executor(None, named.register, "quick")
            # a nameless connection that talks is closed all the same
            r.send_json({"type": "PING"})
            assert r.recv_json() == {"type": "PONG"}
            f, took = await loop.run_in_executor(None, read_until_closed, r, 2.0, True)
            assert f is not None and f.close_code == 1008, f
            code = await lib.wait_closed(2.0)
            elapsed = time.monotonic() - t0
            assert code == 1008, (code, lib.close_reason)
            assert 0.4 <= elapsed < 2.0, "closed after %.2f s with register_timeout_ms=500" % elapsed
            assert r.wait_eof(3)

            # the registered one stays
            def still_open():
                try:
                    op, payload = named.recv_message(0.3)
                    assert op != OP_CLOSE, "a registered client was closed: %s" % payload
                except TimeoutError:
                    pass
                named.send_json({"type": "PING"})
                return named.recv_json()
            assert await loop.run_in_executor(None, still_open) == {"type": "PONG"}
        finally:
            r.close()
            named.close()
            await lib.close()
    run(body())


def test_http_request_timeout_does_not_apply_to_websockets(daemon):
    """request_timeout_ms bounds HTTP requests; a WebSocket that answers
    pings may stay quiet much longer. (Before ws.c took the socket from
    libevhtp's bufferevent, its read timeout dropped such a client with no
    close frame.)"""
    d = start(daemon, request_timeout_ms=1000, heartbeat_interval_ms=400)

    async def body():
        c = await Client.open(d)
        try:
            await c.register("quiet")
            await asyncio.sleep(3)
            await c.ping(timeout=2)
            assert c.closed_at is None
        finally:
            await c.close()
    run(body())
