"""Flow control: a recipient that stops reading costs bounded memory, its
sender is told once, and everyone else keeps being served (WORKERS=4,
max_outbound_bytes=1 MiB)."""

import asyncio
import os
import socket
import time

import pytest

from wsutil import EOF, OP_PING, OP_TEXT, RawWS, check_rss, connect_on, daemon_rss_bytes, encode_frame, jdump, raw_on, run

WORKERS = 4
MIB = 1024 * 1024
CHUNK = 65536  # bytes per FILE_CHUNK: a JSON array of 65536 numbers, about 250 KB of text


def chunk_text(data, offset, size):
    return ('{"type":"FILE_CHUNK","recipient":"slow","file":{"name":"big.bin","size":%d,"offset":%d,"data":%s}}'
            % (size, offset, data))


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "cross-worker"])
def test_slow_reader_bounded_memory_and_sender_told(daemon, same_worker):
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": MIB})
    payload = jdump(list(os.urandom(CHUNK)))
    assert 200_000 < len(payload) < 300_000
    limit = 200 * MIB

    async def body():
        loop = asyncio.get_running_loop()
        # the slow one: a small receive buffer, registers, then reads nothing
        slow = raw_on(d, None, rcvbuf=4096)
        await loop.run_in_executor(None, slow.register, "slow")
        if same_worker:
            fast = await connect_on(d, slow.worker)
        else:
            fast = await connect_on(d, lambda s: s != slow.worker)
        other = await connect_on(d, lambda s: s not in (slow.worker, fast.worker))
        try:
            await fast.register("fast")
            await other.register("other")
            rss0 = daemon_rss_bytes(d)
            rss_max = rss0
            sent = 0
            n = 0
            told = None
            pong_worst = 0.0
            t0 = time.monotonic()
            while sent < limit:
                text = chunk_text(payload, n * CHUNK, 1 << 40)
                await fast.send(text)
                await asyncio.sleep(0)  # let the client read what the server says
                sent += len(text)
                n += 1
                rss_max = max(rss_max, daemon_rss_bytes(d))
                errs = fast.pending(lambda m: m["type"] == "ERROR")
                if errs:
                    told = errs[0]
                    break
                if n % 8 == 0:
                    t = time.monotonic()
                    await other.ping(timeout=2)
                    pong_worst = max(pong_worst, time.monotonic() - t)
            took = time.monotonic() - t0
            print("slow reader: told after %d chunks, %.1f MiB in %.2f s; RSS %.1f -> max %.1f MiB; "
                  "worst PONG %.3f s" % (n, sent / MIB, took, rss0 / MIB, rss_max / MIB, pong_worst))
            assert told is not None, "no ERROR after %.0f MiB to a client that reads nothing" % (sent / MIB)
            assert told["message"].startswith("slow is not keeping up"), told
            assert sent < 64 * MIB, "the sender was told only after %.0f MiB" % (sent / MIB)
            check_rss(rss_max, 200 * MIB, "while pushing chunks to a client that reads nothing")

            # a few more chunks within the same seconds: no flood of errors
            mark = fast.mark()
            for i in range(10):
                await fast.send(chunk_text(payload, (n + i) * CHUNK, 1 << 40))
                rss_max = max(rss_max, daemon_rss_bytes(d))
            before = await fast.ping(since=mark)
            more = [m for m in before if m["type"] == "ERROR"]
            assert len(more) <= 1, "%d more ERRORs for 10 more chunks: %s" % (len(more), more[:2])
            check_rss(rss_max, 200 * MIB, "while pushing chunks to a client that reads nothing")
            # everyone else is still served
            await other.ping(timeout=2)
            await other.send({"type": "FILE_COMPLETE", "recipient": "fast", "fileName": "hi"})
            assert (await fast.next("FILE_COMPLETE"))["sender"] == "other"

            # the slow one reads again: what it gets is in order, without duplicates, from offset 0
            def drain_until_marker(timeout=20):
                offsets = []
                deadline = time.monotonic() + timeout
                while True:
                    op, data = slow.recv_message(max(0.001, deadline - time.monotonic()))
                    assert op == OP_TEXT, (op, data)
                    if data.startswith(b'{"sender":"fast","type":"FILE_COMPLETE"'):
                        return offsets
                    if b'"FILE_CHUNK"' in data[:80]:
                        i = data.index(b'"offset":') + 9
                        offsets.append(int(data[i:data.index(b",", i)]))
            reader = loop.run_in_executor(None, drain_until_marker)
            # send the marker until it gets through (drops are expected while the backlog drains)
            for _ in range(100):
                await fast.send({"type": "FILE_COMPLETE", "recipient": "slow", "fileName": "end"})
                done, _ = await asyncio.wait([reader], timeout=0.2)
                if done:
                    break
            offsets = await asyncio.wait_for(reader, 20)
            assert offsets[:3] == [0, CHUNK, 2 * CHUNK], offsets[:5]
            assert offsets == sorted(set(offsets)), "chunks out of order or repeated: %s" % offsets[:20]
        finally:
            slow.close()
            await fast.close()
            await other.close()
    run(body(), timeout=240)


def test_client_that_sends_but_never_reads_costs_bounded_memory(daemon):
    """A client that floods requests (GET_USERS) and never reads its
    replies: once its replies pass max_outbound_bytes the server closes it
    (1008, session.c send_text). What it keeps sending after that must not be
    buffered without bound: the daemon's RSS must stay under 200 MiB
    while it pushes 400 MiB, and other clients must be served."""
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": 65536})

    async def body():
        loop = asyncio.get_running_loop()
        r = RawWS(d.port, rcvbuf=4096)
        other = await connect_on(d, r.worker)
        try:
            await other.register("other")
            frame = encode_frame(OP_TEXT, jdump({"type": "GET_USERS", "pad": "x" * 1000}))

            def flood():
                sent = 0
                r.sock.settimeout(3)
                try:
                    while sent < 400 * MIB:
                        r.sock.sendall(frame * 64)
                        sent += len(frame) * 64
                except (BrokenPipeError, ConnectionResetError):
                    return sent, True
                except socket.timeout:
                    return sent, False
                return sent, False
            rss0 = daemon_rss_bytes(d)
            sent, ended = await loop.run_in_executor(None, flood)
            rss = daemon_rss_bytes(d)
            print("flooder: %.1f MiB sent, connection ended: %s, RSS %.1f -> %.1f MiB" % (
                sent / MIB, ended, rss0 / MIB, rss / MIB))
            check_rss(rss, 200 * MIB, "grew from %.0f MiB while a client that never reads sent %.0f MiB" % (
                rss0 / MIB, sent / MIB))
            # the server stopped reading it or closed it; either way, others are served
            await other.ping(timeout=2)
        finally:
            r.close()
            await other.close()
    run(body())


def test_stuck_reader_is_dropped_and_its_name_released(daemon):
    """A client whose TCP stays up but that reads nothing (a frozen tab):
    once its outbound queue is full it answers no pings, so the heartbeat
    closes it (1001). Its close frame cannot be delivered (the queue is
    full), yet the server must not keep the connection, its buffered
    megabytes and its name forever: ws.c waits WS_CLOSE_WAIT_MS (2 s) for
    a peer after the close. Others must see it leave within 5 s."""
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": MIB, "heartbeat_interval_ms": 300})
    payload = jdump(list(os.urandom(CHUNK)))

    async def body():
        loop = asyncio.get_running_loop()
        stuck = raw_on(d, None, rcvbuf=4096)
        await loop.run_in_executor(None, stuck.register, "slow")
        fast = await connect_on(d, lambda s: s != stuck.worker)
        try:
            await fast.register("fast")
            await fast.next(lambda m: m["type"] == "USER_LIST" and m["users"] == ["slow"])
            sent = 0
            while not fast.pending("ERROR"):
                assert sent < 64 * MIB, "no 'not keeping up' after %d MiB" % (sent // MIB)
                text = chunk_text(payload, 0, 1 << 40)
                await fast.send(text)
                await asyncio.sleep(0)  # let the client read what the server says
                sent += len(text)
            assert fast.take("ERROR")[0]["message"].startswith("slow is not keeping up")
            t0 = time.monotonic()
            # the heartbeat (2 x 300 ms) closes it; the close handshake waits at most 2 s
            m = await fast.next(lambda m: m["type"] == "USER_LIST" and "slow" not in m["users"], timeout=5,
                                what="a USER_LIST without the stuck client 'slow' (it reads nothing, "
                                     "its TCP connection stays up)")
            assert m["users"] == []
            print("stuck reader released after %.2f s" % (time.monotonic() - t0))
        finally:
            stuck.close()
            await fast.close()
    run(body())


def test_not_keeping_up_is_told_even_right_after_not_online(daemon):
    """session.c keeps one notice "per recipient and reason every few seconds".
    A sender told "slow is not online" who, within 5 s, sends to slow (now
    online, but not reading) must still hear that slow is not keeping up:
    otherwise the chunks are dropped with no word to the sender."""
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": MIB})
    payload = jdump(list(os.urandom(CHUNK)))

    async def body():
        loop = asyncio.get_running_loop()
        fast = await connect_on(d)
        await fast.register("fast")
        await fast.send({"type": "FILE_COMPLETE", "recipient": "slow", "fileName": "early"})
        m = await fast.next("ERROR")
        assert m["message"] == "slow is not online", m
        stuck = raw_on(d, lambda s: s != fast.worker, rcvbuf=4096)
        try:
            await loop.run_in_executor(None, stuck.register, "slow")
            sent = 0
            t0 = time.monotonic()
            while not fast.pending("ERROR"):
                if sent >= 64 * MIB:
                    break
                text = chunk_text(payload, sent, 1 << 40)
                await fast.send(text)
                await asyncio.sleep(0)  # let the client read what the server says
                sent += len(text)
            took = time.monotonic() - t0
            assert took < 4, "took %.1f s: the 5 s notice window is over, the test proves nothing" % took
            errs = fast.take("ERROR")
            assert errs and errs[0]["message"].startswith("slow is not keeping up"), (
                "%.0f MiB of chunks to a client that reads nothing, %.1f s after 'slow is not online': "
                "no 'not keeping up' ERROR (got %r)" % (sent / MIB, took, errs))
        finally:
            stuck.close()
            await fast.close()
    run(body())


def test_stuck_reader_that_sends_close_is_dropped_and_its_name_released(daemon):
    """Like the stuck reader above, but the client itself starts the close
    handshake (close frame 1000) and then reads nothing: the server's reply
    cannot be written (its queue is full). The server must still give up on
    it after the close wait and release the name, not hold it forever."""
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": MIB})
    payload = jdump(list(os.urandom(CHUNK)))

    async def body():
        loop = asyncio.get_running_loop()
        stuck = raw_on(d, None, rcvbuf=4096)
        await loop.run_in_executor(None, stuck.register, "slow")
        fast = await connect_on(d, lambda s: s != stuck.worker)
        try:
            await fast.register("fast")
            await fast.next(lambda m: m["type"] == "USER_LIST" and m["users"] == ["slow"])
            sent = 0
            while not fast.pending("ERROR"):
                assert sent < 64 * MIB, "no 'not keeping up' after %d MiB" % (sent // MIB)
                text = chunk_text(payload, 0, 1 << 40)
                await fast.send(text)
                await asyncio.sleep(0)  # let the client read what the server says
                sent += len(text)
            assert fast.take("ERROR")[0]["message"].startswith("slow is not keeping up")
            stuck.send_close(1000)
            t0 = time.monotonic()
            m = await fast.next(lambda m: m["type"] == "USER_LIST" and "slow" not in m["users"], timeout=6,
                                what="a USER_LIST without 'slow', which sent a close frame but reads nothing")
            assert m["users"] == []
            print("released after %.2f s" % (time.monotonic() - t0))
        finally:
            stuck.close()
            await fast.close()
    run(body())


def test_client_that_pings_but_never_reads_is_closed(daemon):
    """Pings are answered with pongs, which wait in the client's queue like
    any message: a client that sends pings and never reads must be closed
    (1008) once its queue passes max_outbound_bytes, not make the queue
    grow without bound (ws.c answered every ping with no limit: 64 MiB of
    pings grew the daemon by about 100 MiB)."""
    d = daemon(config={"workers": WORKERS, "max_outbound_bytes": 65536})
    r = RawWS(d.port, rcvbuf=4096)
    ping = encode_frame(OP_PING, b"p" * 125) * 256
    sent = 0
    rss0 = daemon_rss_bytes(d)
    r.sock.settimeout(5)
    try:
        try:
            while sent < 64 * MIB:
                r.sock.sendall(ping)
                sent += len(ping)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        rss = daemon_rss_bytes(d)
        print("pinger: %.1f MiB of pings sent, RSS %.1f -> %.1f MiB" % (sent / MIB, rss0 / MIB, rss / MIB))
        check_rss(rss, rss0 + 32 * MIB, "grew while a client sent pings and read nothing")
        # what it finally reads: some pongs, then the close frame
        f = r.expect_close(timeout=5, answer_pings=False)
        assert f.close_code == 1008, (f.close_code, f.close_reason)
    finally:
        r.close()


def test_replies_queued_when_the_client_half_closes_are_delivered(daemon):
    """A client sends many requests, then ends its side of the TCP
    connection (shutdown) before reading the replies: the replies queued
    for it are still written (ws.c dropped them when it read the EOF)."""
    d = daemon(config={"workers": WORKERS})
    r = RawWS(d.port, rcvbuf=4096)
    n = 400000  # 6.8 MB of answers: more than the kernel's socket buffers hold
    try:
        r.sock.sendall(encode_frame(OP_TEXT, jdump({"type": "PING"})) * n)
        time.sleep(1)  # the server reads them all and queues the answers
        r.sock.shutdown(socket.SHUT_WR)
        pongs = 0
        try:
            while True:
                op, payload = r.recv_message(5, False)
                if op == OP_TEXT and b"PONG" in payload:
                    pongs += 1
        except EOF:
            pass
        assert pongs == n, "%d of %d PONGs arrived after the client's half-close" % (pongs, n)
    finally:
        r.close()
