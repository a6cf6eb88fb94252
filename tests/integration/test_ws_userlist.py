"""USER_LIST: pushed after every join, leave and rename, coalesced under a
join storm, capped by user_list_max (WORKERS=4)."""

import asyncio
import time

from wsutil import Client, clients_on_distinct_workers, close_all, connect_on, run

WORKERS = 4


def start(daemon, **cfg):
    c = {"workers": WORKERS}
    c.update(cfg)
    return daemon(config=c)


async def fresh_list(c, want, timeout=2.0, what=None):
    """Waits for a USER_LIST whose users are exactly the set want."""
    want = set(want)
    m = await c.next(lambda m: m["type"] == "USER_LIST" and set(m["users"]) == want, timeout,
                     what or "a USER_LIST of %s" % sorted(want))
    assert len(m["users"]) == len(set(m["users"])), "duplicates in %r" % m
    assert set(m) == {"type", "users"}, m
    return m


def test_user_list_after_join_leave_rename(daemon):
    d = start(daemon)

    async def body():
        a, b, c, x = await clients_on_distinct_workers(d, 4)
        # an unregistered client on a's worker: never gets USER_LIST
        y = await connect_on(d, a.worker)
        everyone = {"ann": a, "ben": b, "cat": c}
        try:
            for n, cl in everyone.items():
                await cl.register(n)
            for n, cl in everyone.items():
                await fresh_list(cl, set(everyone) - {n})
                cl.take("USER_LIST")

            # join
            await x.register("dan")
            for n, cl in everyone.items():
                await fresh_list(cl, set(everyone) - {n} | {"dan"}, what="%s's USER_LIST after dan joined" % n)
                cl.take("USER_LIST")
            # rename
            await x.register("dan2")
            for n, cl in everyone.items():
                await fresh_list(cl, set(everyone) - {n} | {"dan2"}, what="%s's USER_LIST after dan renamed" % n)
                cl.take("USER_LIST")
            # the renamed client hears of the others, never of itself
            await fresh_list(x, set(everyone))
            assert all(set(m["users"]) == set(everyone) for m in x.log if m["type"] == "USER_LIST"), x.log
            # leave
            await x.close()
            for n, cl in everyone.items():
                await fresh_list(cl, set(everyone) - {n}, what="%s's USER_LIST after dan2 left" % n)
                cl.take("USER_LIST")
            # leaving with a close handshake
            await c.ws.close(1000)
            await fresh_list(a, {"ben"}, what="ann's USER_LIST after cat closed")
            await fresh_list(b, {"ann"}, what="ben's USER_LIST after cat closed")
            assert not y.log, "an unregistered connection got %r" % y.log[:3]
            assert await y.ping() == []
        finally:
            await close_all([a, b, c, x, y])
    run(body())


def test_join_storm_is_coalesced(daemon):
    d = start(daemon)
    N = 200

    async def body():
        obs = await connect_on(d)
        await obs.register("observer")
        cs = []
        try:
            for _ in range(N):
                cs.append(await Client.open(d))
            assert len({c.worker for c in cs}) == WORKERS
            obs.take()
            mark = obs.mark()
            names = ["storm%03d" % i for i in range(N)]
            t0 = time.monotonic()
            await asyncio.gather(*(c.send({"type": "SET_USERNAME", "username": n}) for c, n in zip(cs, names)))
            sets = await asyncio.gather(*(c.next("USERNAME_SET", timeout=10) for c in cs))
            assert [m["username"] for m in sets] == names
            t_reg = time.monotonic()
            full = await fresh_list(obs, names, timeout=2.0, what="the observer's USER_LIST of all %d" % N)
            t_full = time.monotonic()
            # nothing after it changes the picture
            await obs.ping()
            lists = [m for m in obs.log[mark:] if m["type"] == "USER_LIST"]
            last = lists[-1]
            assert set(last["users"]) == set(names), "the last USER_LIST has %d names" % len(last["users"])
            assert full in lists
            assert len(lists) < 60, "the observer got %d USER_LISTs for %d joins (%.2f s)" % (
                len(lists), N, t_reg - t0)
            # the clients of the storm see each other and the observer
            for c, n in zip(cs, names):
                await fresh_list(c, set(names) - {n} | {"observer"}, timeout=2.0,
                                 what="%s's USER_LIST of everyone" % n)
            print("storm: %d registered in %.2f s, full list %.2f s later, %d lists to the observer" % (
                N, t_reg - t0, t_full - t_reg, len(lists)))
        finally:
            await close_all(cs + [obs])
    run(body(), timeout=180)


def test_user_list_max_caps_lists(daemon):
    d = start(daemon, user_list_max=5)

    async def body():
        cs = []
        for w in range(WORKERS):
            cs.append(await connect_on(d, w))
            cs.append(await connect_on(d, w))
        names = ["user%d" % i for i in range(len(cs))]
        try:
            for i, (c, n) in enumerate(zip(cs, names)):
                m = await c.register(n)
                assert m["availableUsers"] == sorted(names[:i])[:5], m
            for c, n in zip(cs, names):
                c.take("USER_LIST")
                await c.send({"type": "GET_USERS"})
                m = await c.next("USER_LIST")
                # docs/protocol.md: the other names in byte order, at most user_list_max
                assert m["users"] == sorted(set(names) - {n})[:5], m
            # a join after the first user_list_max + 1 names changes nobody's
            # list: none is sent to the others (docs/protocol.md), but the
            # newcomer gets its own, capped
            extra = await connect_on(d)
            first = await connect_on(d)
            try:
                for c in cs:
                    c.take("USER_LIST")
                await extra.register("zzlast")
                m = await extra.next("USER_LIST", timeout=2)
                assert m["users"] == sorted(names)[:5], m
                # a name that sorts first changes every list: pushed, capped
                await first.register("aaa-first")
                for c, n in zip(cs, names):
                    m = await c.next(lambda m: m["type"] == "USER_LIST" and "aaa-first" in m["users"], timeout=2)
                    assert m["users"] == sorted(set(names + ["aaa-first"]) - {n})[:5], m
                for c in cs:
                    assert not [m for m in c.take("USER_LIST") if "zzlast" in m["users"]]
            finally:
                await extra.close()
                await first.close()
        finally:
            await close_all(cs)
    run(body())
