"""Across worker processes: relaying over the bus, name uniqueness, and a
worker that dies (WORKERS=4)."""

import asyncio
import os
import signal
import time

from helpers import pid_alive, wait_for
from wsutil import clients_on_distinct_workers, close_all, connect_on, run

WORKERS = 4


def start(daemon, **cfg):
    c = {"workers": WORKERS}
    c.update(cfg)
    return daemon(config=c)


def not_lists(msgs):
    return [m for m in msgs if m.get("type") != "USER_LIST"]


def every_type(to):
    return [
        {"type": "WEBRTC_OFFER", "recipient": to, "offer": {"type": "offer", "sdp": "v=0\r\n"}},
        {"type": "WEBRTC_ANSWER", "recipient": to, "answer": {"type": "answer", "sdp": "v=0\r\n"}},
        {"type": "WEBRTC_ICE_CANDIDATE", "recipient": to,
         "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0}},
        {"type": "WEBRTC_ICE_CANDIDATE", "recipient": to, "candidate": None},
        {"type": "FILE_METADATA", "recipient": to, "file": {"name": "f.bin", "size": 3, "type": "x/y"},
         "transferMode": "webrtc"},
        {"type": "FILE_METADATA", "recipient": to, "file": {"name": "f.bin", "size": 3, "type": "x/y"}},
        {"type": "FILE_CHUNK", "recipient": to, "file": {"name": "f.bin", "size": 3, "offset": 0, "data": [0, 1, 255]}},
        {"type": "FILE_COMPLETE", "recipient": to, "fileName": "f.bin"},
    ]


def forwarded(msg, sender):
    out = {k: v for k, v in msg.items() if k != "recipient"}
    out["sender"] = sender
    if msg["type"] == "FILE_METADATA" and "transferMode" not in msg:
        out["transferMode"] = "websocket"
    return out


def test_cross_worker_every_type_in_order(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        assert a.worker != b.worker
        try:
            await a.register("alice")
            await b.register("bob")
            a.take(), b.take()
            ma, mb = a.mark(), b.mark()
            sent_ab = every_type("bob")
            sent_ba = every_type("alice")
            # 200 numbered candidates each way, sent without waiting
            for i in range(200):
                sent_ab.append({"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob",
                                "candidate": {"candidate": "candidate:%d" % i, "sdpMLineIndex": i}})
                sent_ba.append({"type": "WEBRTC_ICE_CANDIDATE", "recipient": "alice",
                                "candidate": {"candidate": "candidate:%d" % i, "sdpMLineIndex": i}})
            sent_ab += every_type("bob")

            async def push(c, msgs):
                for m in msgs:
                    await c.send(m)
            await asyncio.gather(push(a, sent_ab), push(b, sent_ba))

            async def all_of(c, mark, n):
                deadline = time.monotonic() + 10
                while len(not_lists(c.log[mark:])) < n and time.monotonic() < deadline:
                    await c._wait_change(deadline)
                return not_lists(c.log[mark:])
            got_b = await all_of(b, mb, len(sent_ab))
            got_a = await all_of(a, ma, len(sent_ba))
            assert len(got_b) == len(sent_ab), "bob got %d of %d messages" % (len(got_b), len(sent_ab))
            assert len(got_a) == len(sent_ba), "alice got %d of %d messages" % (len(got_a), len(sent_ba))
            want_b = [forwarded(m, "alice") for m in sent_ab]
            want_a = [forwarded(m, "bob") for m in sent_ba]
            nums = [m["candidate"]["sdpMLineIndex"] for m in got_b
                    if m["type"] == "WEBRTC_ICE_CANDIDATE" and m["candidate"] and
                    m["candidate"]["candidate"].startswith("candidate:") and "typ" not in m["candidate"]["candidate"]]
            assert nums == list(range(200)), "candidates out of order: %s" % nums[:40]
            for i, (g, w) in enumerate(zip(got_b, want_b)):
                assert g == w, "message %d to bob: got %r, sent %r" % (i, g, w)
            for i, (g, w) in enumerate(zip(got_a, want_a)):
                assert g == w, "message %d to alice: got %r, sent %r" % (i, g, w)
            assert await a.ping(timeout=5) is not None and await b.ping() is not None
            assert not [m for m in a.log + b.log if m["type"] == "ERROR"]
        finally:
            await close_all([a, b])
    run(body())


def test_cross_worker_websocket_file_transfer_in_order(daemon):
    """websocket transfer mode: 256 KiB chunks through two workers, bytes intact."""
    d = start(daemon)
    data = os.urandom(5 * 262144 + 1234)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await a.register("alice")
            await b.register("bob")
            await a.send({"type": "FILE_METADATA", "recipient": "bob",
                          "file": {"name": "r.bin", "size": len(data), "type": "application/octet-stream"},
                          "transferMode": "websocket"})
            for off in range(0, len(data), 262144):
                await a.send({"type": "FILE_CHUNK", "recipient": "bob",
                              "file": {"name": "r.bin", "size": len(data), "offset": off,
                                       "data": list(data[off:off + 262144])}})
            await a.send({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "r.bin"})
            meta = await b.next("FILE_METADATA", timeout=10)
            assert meta["transferMode"] == "websocket" and meta["sender"] == "alice"
            got = bytearray()
            while True:
                m = await b.next(lambda m: m["type"] in ("FILE_CHUNK", "FILE_COMPLETE"), timeout=10)
                if m["type"] == "FILE_COMPLETE":
                    break
                assert m["file"]["offset"] == len(got), "chunk at %d while %d bytes arrived" % (
                    m["file"]["offset"], len(got))
                got += bytes(m["file"]["data"])
            assert bytes(got) == data
            assert not a.pending("ERROR"), a.inbox
        finally:
            await close_all([a, b])
    run(body())


def test_name_race_across_workers(daemon):
    d = start(daemon)

    async def body():
        # 5 connections on each of the 4 workers
        cs = []
        for w in range(WORKERS):
            for _ in range(5):
                cs.append(await connect_on(d, w))
        assert sorted({c.worker for c in cs}) == list(range(WORKERS))
        try:
            for rnd in range(5):
                name = "racer%d" % rnd
                for c in cs:
                    c.take()
                await asyncio.gather(*(c.send({"type": "SET_USERNAME", "username": name}) for c in cs))
                answers = await asyncio.gather(*(c.next(lambda m: m["type"] in ("USERNAME_SET", "USERNAME_ERROR",
                                                                                 "ERROR"))
                                                 for c in cs))
                won = [i for i, m in enumerate(answers) if m["type"] == "USERNAME_SET"]
                lost = [m for m in answers if m["type"] != "USERNAME_SET"]
                assert len(won) == 1, "round %d: %d connections got USERNAME_SET for %r (workers %s)" % (
                    rnd, len(won), name, [cs[i].worker for i in won])
                assert answers[won[0]]["username"] == name
                assert lost == [{"type": "USERNAME_ERROR", "message": "Username already taken"}] * 19, lost
                # the directory agrees: the name is listed once, to someone else
                other = cs[(won[0] + 1) % len(cs)]
                await other.send({"type": "GET_USERS"})
                lst = await other.next("USER_LIST")
                assert lst["users"].count(name) == 1, lst
                # the winner gives it up (renames); next round races for a fresh name
                await cs[won[0]].register("winner%d" % rnd)
        finally:
            await close_all(cs)
    run(body())


def test_rename_is_atomic_for_other_workers(daemon):
    """A rename frees the old name at once: another worker can claim it,
    and messages to the new name reach the renamed client."""
    d = start(daemon)

    async def body():
        a, b, c = await clients_on_distinct_workers(d, 3)
        try:
            await a.register("alice")
            await b.register("bob")
            await a.register("alice2")
            await c.register("alice")
            await b.send({"type": "FILE_COMPLETE", "recipient": "alice2", "fileName": "to-a"})
            await b.send({"type": "FILE_COMPLETE", "recipient": "alice", "fileName": "to-c"})
            assert (await a.next("FILE_COMPLETE"))["fileName"] == "to-a"
            assert (await c.next("FILE_COMPLETE"))["fileName"] == "to-c"
            await a.send({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "x"})
            assert (await b.next("FILE_COMPLETE"))["sender"] == "alice2"
        finally:
            await close_all([a, b, c])
    run(body())


def test_killed_worker_releases_names_and_others_keep_going(daemon):
    d = start(daemon)

    async def body():
        a, b, c = await clients_on_distinct_workers(d, 3)
        slot_a = a.worker
        try:
            await a.register("alice")
            await b.register("bob")
            await c.register("carol")
            # b's worker has a bus link to a's worker before the kill
            await b.send({"type": "FILE_COMPLETE", "recipient": "alice", "fileName": "before"})
            assert (await a.next("FILE_COMPLETE"))["fileName"] == "before"
            await b.next(lambda m: m["type"] == "USER_LIST" and sorted(m["users"]) == ["alice", "carol"])
            b.take()
            pid = d.pids()["workers"][slot_a]
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL)
            m = await b.next(lambda m: m["type"] == "USER_LIST" and "alice" not in m["users"], timeout=3,
                             what="a USER_LIST without alice")
            took = time.monotonic() - t0
            assert m["users"] == ["carol"], m
            assert took < 1.0, "bob saw alice leave only %.2f s after her worker was killed" % took
            assert await a.wait_closed(5) == 1006
            # b still works, and can reach c on a third worker
            await b.ping()
            await b.send({"type": "WEBRTC_OFFER", "recipient": "carol", "offer": {"sdp": "x"}})
            assert await c.next("WEBRTC_OFFER") == {"sender": "bob", "type": "WEBRTC_OFFER", "offer": {"sdp": "x"}}
            # alice's name is free again; a client on the replacement worker can take it and be reached
            wait_for(lambda: d.pids()["workers"].get(slot_a) not in (None, pid), 5, "a new worker %d" % slot_a)
            assert not pid_alive(pid)
            a2 = await connect_on(d, slot_a)
            try:
                await a2.register("alice")
                mark = b.mark()
                await b.send({"type": "FILE_COMPLETE", "recipient": "alice", "fileName": "after"})
                m = await a2.next("FILE_COMPLETE", what="bob's message to the new alice on worker %d" % slot_a)
                assert m == {"sender": "bob", "type": "FILE_COMPLETE", "fileName": "after"}
                assert not [x for x in (await b.ping(since=mark)) if x["type"] == "ERROR"]
            finally:
                await a2.close()
        finally:
            await close_all([a, b, c])
    run(body())
