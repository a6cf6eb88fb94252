"""WebSockets across SIGTERM (1001) and a reload that retires a worker
generation (1012 after drain_timeout_ms), WORKERS=4."""

import asyncio
import time

from helpers import pid_alive, wait_for
from wsutil import Client, close_all, connect_on, raw_on, run

WORKERS = 4


def test_sigterm_closes_websockets_with_1001_and_exits_0(daemon):
    d = daemon(config={"workers": WORKERS, "shutdown_timeout_ms": 5000})

    async def body():
        loop = asyncio.get_running_loop()
        cs = []
        for w in range(WORKERS):
            for _ in range(2):
                cs.append(await connect_on(d, w))
        for i, c in enumerate(cs):
            await c.register("user%d" % i)
        # a raw one that answers the close, and one that reads nothing at all
        raw = raw_on(d, None)
        mute = raw_on(d, None, rcvbuf=4096)
        t0 = time.monotonic()
        d.sigterm()
        codes = await asyncio.gather(*(c.wait_closed(5) for c in cs))
        assert codes == [1001] * len(cs), [(c.worker, c.close_code, c.close_reason) for c in cs]
        f = await loop.run_in_executor(None, raw.expect_close, 5)
        assert f.close_code == 1001, f
        raw.send_close(1001)
        assert await loop.run_in_executor(None, raw.wait_eof, 5)
        rc = await loop.run_in_executor(None, d.wait_exit, 15)
        took = time.monotonic() - t0
        assert rc == 0, "rtftd exited %s after SIGTERM\n%s" % (rc, d.log_tail())
        assert took < 8, "exit took %.1f s" % took
        raw.close()
        mute.close()
        await close_all(cs)
    run(body())


def test_reload_fewer_workers_drains_with_1012_and_clients_come_back(daemon):
    d = daemon(config={"workers": WORKERS, "drain_timeout_ms": 1000})

    async def body():
        old_pids = d.pids()["workers"]
        assert sorted(old_pids) == list(range(WORKERS))
        old = []
        for w in range(WORKERS):
            old.append(await connect_on(d, w))
        names = ["old%d" % w for w in range(WORKERS)]
        for c, n in zip(old, names):
            await c.register(n)

        n = d.notify_count()
        d.write_config(workers=2)
        t0 = time.monotonic()
        d.sighup()
        i = d.wait_notify("RELOADING=1", n)
        d.wait_ready(i + 1)
        new_slots = set(d.pids()["workers"]) - set(old_pids)
        assert len(new_slots) == 2, d.pids()

        # while draining, the old connections still work, and reach clients of the new generation
        newc = await connect_on(d, new_slots)
        await newc.register("newbie")
        await old[0].ping(timeout=1)
        await newc.send({"type": "FILE_COMPLETE", "recipient": "old1", "fileName": "during-drain"})
        assert (await old[1].next("FILE_COMPLETE", timeout=1))["fileName"] == "during-drain"
        await old[2].send({"type": "FILE_COMPLETE", "recipient": "newbie", "fileName": "from-old"})
        assert (await newc.next("FILE_COMPLETE", timeout=1))["sender"] == "old2"
        assert all(c.closed_at is None for c in old), "closed %.2f s into a 1000 ms drain" % (
            time.monotonic() - t0)

        codes = await asyncio.gather(*(c.wait_closed(5) for c in old))
        took = [c.closed_at - t0 for c in old]
        assert codes == [1012] * WORKERS, [(c.close_code, c.close_reason) for c in old]
        assert all(0.7 <= t <= 3.0 for t in took), "1012 after %s s with drain_timeout_ms=1000" % (
            ["%.2f" % t for t in took])
        assert newc.closed_at is None

        # they reconnect (to the new workers) and take their names again
        back = []
        for nm in names:
            c = await Client.open(d)
            assert c.worker in new_slots, "a new connection landed on old worker %d" % c.worker
            await c.register(nm)
            back.append(c)
        await back[0].send({"type": "WEBRTC_OFFER", "recipient": "old3", "offer": {"sdp": "again"}})
        assert (await back[3].next("WEBRTC_OFFER"))["sender"] == "old0"
        await newc.send({"type": "GET_USERS"})
        m = await newc.next(lambda m: m["type"] == "USER_LIST" and len(m["users"]) == WORKERS)
        assert sorted(m["users"]) == names
        # the old workers are gone
        wait_for(lambda: not any(pid_alive(p) for p in old_pids.values()), 10, "the old workers to exit")
        await close_all(old + back + [newc])
    run(body())
