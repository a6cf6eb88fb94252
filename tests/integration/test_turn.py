"""TURN credentials that rtftd mints, checked by a real coturn.

A turnserver (Debian's coturn) runs on 127.0.0.1 with use-auth-secret and
the same secret as rtftd's turn_secret. turnutils_uclient then allocates
relays with the credentials rtftd hands out (GET /api/ice-servers, and the
ICE_SERVERS message pushed to a page after SET_USERNAME) and sends
messages between two relayed endpoints (-y): good credentials allocate and
carry data, expired ones (rtftd's username format and HMAC, with an expiry
in the past) and ones signed with another secret are refused.
"""

import asyncio
import json
import re
import time

from realprogs import coturn, turn_password, turn_username  # noqa: F401 (coturn is a fixture)

SECRET = "s3cret-for-coturn-tests"
TTL = 600

TOTALS = re.compile(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)")


def ice_config(turn, secret=SECRET, **more):
    cfg = {"workers": 1, "turn_servers": turn.url, "turn_secret": secret, "turn_ttl": TTL,
           "rate_limit_max": 1000}
    cfg.update(more)
    return cfg


def fetch_ice(d):
    status, headers, body = d.get("/api/ice-servers")
    assert status == 200, (status, body)
    assert headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def check_minted(j, turn, user=None, secret=SECRET):
    """The TURN REST API fields, as coturn will check them; returns (username, password)."""
    now = time.time()
    username, password = j["username"], j["password"]
    m = re.fullmatch(r"(\d+):([A-Za-z0-9_.-]+)", username)
    assert m, "TURN username %r is not <expiry>:<user>" % username
    expiry = int(m.group(1))
    assert now + TTL - 10 <= expiry <= now + TTL + 10, "expiry %d is not now + turn_ttl (%d)" % (expiry, now + TTL)
    assert j["expiresAt"] == expiry
    assert j["ttl"] == TTL
    assert j["uris"] == [turn.url]
    if user is not None:
        assert m.group(2) == user, username
    # the password is coturn's: base64(HMAC-SHA1(secret, username))
    assert password == turn_password(secret, username), "the password is not HMAC-SHA1(turn_secret, username)"
    turns = [s for s in j["iceServers"] if any(u.startswith("turn:") for u in s["urls"])]
    assert turns == [{"urls": [turn.url], "username": username, "credential": password}], j["iceServers"]
    return username, password


def assert_relayed(turn, r, username):
    """uclient allocated with username and its messages came back through the relay."""
    totals = TOTALS.findall(r.stdout)
    assert r.returncode == 0 and totals, "turnutils_uclient failed (exit %d):\n%s\n%s" % (
        r.returncode, r.stdout[-3000:], turn.log_tail())
    sent, got = (int(x) for x in totals[-1])
    assert sent > 0 and got == sent, "sent %d messages through the relays, %d arrived:\n%s" % (sent, got, r.stdout[-2000:])
    allocs = turn.allocations()
    assert (username, True) in allocs, "coturn's log shows no successful ALLOCATE for %s: %r\n%s" % (
        username, allocs, turn.log_tail())


def assert_refused(turn, r, username):
    assert r.returncode != 0, "turnutils_uclient succeeded with credentials coturn must refuse:\n%s" % r.stdout[-3000:]
    assert "Cannot complete Allocation" in r.stdout, r.stdout[-3000:]
    assert not TOTALS.search(r.stdout) or all(s == "0" for s, _ in TOTALS.findall(r.stdout))
    assert (username, True) not in turn.allocations(), "coturn allocated for %s" % username


def test_minted_credentials_allocate_on_coturn(daemon, coturn):
    turn = coturn(SECRET)
    d = daemon(config=ice_config(turn))
    j = fetch_ice(d)
    assert j["iceTransportPolicy"] == "all"
    username, password = check_minted(j, turn)
    r = turn.uclient(username, password)
    assert_relayed(turn, r, username)


def test_expired_credentials_are_refused(daemon, coturn):
    """rtftd's own format and HMAC with an expiry in the past: coturn refuses it.
    (turn_ttl is at least 60 s, so the test signs an expired username with the
    same secret rather than waiting for a minted one to expire; that the HMAC
    is rtftd's is checked on a minted pair first.)"""
    turn = coturn(SECRET)
    d = daemon(config=ice_config(turn))
    username, password = check_minted(fetch_ice(d), turn)
    user = username.split(":", 1)[1]
    expired = turn_username(int(time.time()) - 120, user)
    r = turn.uclient(expired, turn_password(SECRET, expired), timeout=30)
    assert_refused(turn, r, expired)
    # coturn said why: the expired username has no valid credentials
    assert "Cannot find credentials of user <%s>" % expired in turn.log_text(), turn.log_tail()


def test_credentials_signed_with_another_secret_are_refused(daemon, coturn):
    turn = coturn(SECRET)
    d = daemon(config=ice_config(turn, secret="not-the-coturn-secret"))
    username, password = check_minted(fetch_ice(d), turn, secret="not-the-coturn-secret")
    r = turn.uclient(username, password, timeout=30)
    assert_refused(turn, r, username)


def test_pushed_ice_servers_allocate_under_the_users_name(daemon, coturn):
    """A page that asked for iceServers gets ICE_SERVERS after SET_USERNAME,
    with the TURN username's user part = its name; coturn takes them, and a
    GET_ICE_SERVERS later gives a fresh pair that works as well."""
    turn = coturn(SECRET)
    d = daemon(config=ice_config(turn, ice_transport_policy="relay"))

    async def main():
        async with d.ws_connect() as ws:
            await ws.send(json.dumps({"type": "CAPABILITIES", "binaryRelay": True, "transfer": 1,
                                      "iceServers": True}))
            await ws.send(json.dumps({"type": "SET_USERNAME", "username": "alice"}))
            got = []
            while len(got) < 1:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m["type"] == "ICE_SERVERS":
                    got.append(m)
            await ws.send(json.dumps({"type": "GET_ICE_SERVERS"}))
            while len(got) < 2:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m["type"] == "ICE_SERVERS":
                    got.append(m)
            return got

    pushed, asked = asyncio.run(main())
    for m in (pushed, asked):
        assert list(m)[0] == "type"
        assert m["iceTransportPolicy"] == "relay"
        assert m["p2pTimeoutMs"] > 0
    username, password = check_minted(pushed, turn, user="alice")
    check_minted(asked, turn, user="alice")
    r = turn.uclient(username, password)
    assert_relayed(turn, r, username)
