"""ICE servers and TURN credentials (docs/protocol.md, rtftd.conf(5)):
GET /api/ice-servers, the pushed ICE_SERVERS message and its renewal,
GET_ICE_SERVERS and its limit, refused entries at start-up, and the new
clients' PEER_INFO and TRANSFER beside old clients that see none of it."""
import base64
import hashlib
import hmac
import json
import subprocess
import time

from conftest import rtftd_bin, clean_env
from wsutil import Client, clients_on_distinct_workers, close_all, run

SECRET = "north-test-secret"
TURN = "turn:127.0.0.1:3478?transport=udp"
CAPS = {"type": "CAPABILITIES", "binaryRelay": True, "transfer": 1, "iceServers": True}


def turn_password(secret, username):
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def ice_config(**extra):
    cfg = {"stun_servers": "stun:127.0.0.1:3478, stun:[::1]:3479",
           "turn_servers": "%s, turns:alice:fixed-pw@127.0.0.1:5349" % TURN,
           "turn_secret": "%s, older-secret" % SECRET, "turn_ttl": 600,
           "ice_check_interval_ms": 0}
    cfg.update(extra)
    return cfg


def test_api_ice_servers_mints_coturn_credentials(daemon):
    d = daemon(config=ice_config())
    before = int(time.time())
    status, headers, body = d.get("/api/ice-servers")
    after = int(time.time())
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    doc = json.loads(body)
    assert doc["iceTransportPolicy"] == "all"
    assert doc["p2pTimeoutMs"] == 10000
    servers = doc["iceServers"]
    assert servers[0] == {"urls": ["stun:127.0.0.1:3478", "stun:[::1]:3479"]}
    fixed = [s for s in servers if s.get("username") == "alice"]
    assert fixed == [{"urls": ["turns:127.0.0.1:5349"], "username": "alice", "credential": "fixed-pw"}]
    minted = [s for s in servers if s["urls"] == [TURN]]
    assert len(minted) == 1
    expiry, user = doc["username"].split(":", 1)
    assert before + 600 <= int(expiry) <= after + 600
    assert doc["expiresAt"] == int(expiry)
    assert len(user) >= 8 and user.isalnum()
    # coturn's check: base64(HMAC-SHA1(first secret, username))
    assert doc["password"] == turn_password(SECRET, doc["username"])
    assert minted[0]["username"] == doc["username"] and minted[0]["credential"] == doc["password"]
    assert doc["ttl"] == 600 and doc["uris"] == [TURN]
    # each request gets its own user part
    doc2 = json.loads(d.get("/api/ice-servers")[2])
    assert doc2["username"].split(":", 1)[1] != user


def test_api_ice_servers_empty_and_relay_policy(daemon):
    d = daemon()
    doc = json.loads(d.get("/api/ice-servers")[2])
    assert doc == {"iceServers": [], "iceTransportPolicy": "all", "p2pTimeoutMs": 10000}
    d2 = daemon(config=ice_config(ice_transport_policy="relay", p2p_timeout_ms=2500))
    doc = json.loads(d2.get("/api/ice-servers")[2])
    assert doc["iceTransportPolicy"] == "relay"
    assert doc["p2pTimeoutMs"] == 2500


def test_api_ice_servers_rate_limited_per_address(daemon):
    d = daemon(config=ice_config(rate_limit_max=3, rate_limit_window_ms=60000, workers=1))
    codes = [d.get("/api/ice-servers")[0] for _ in range(3)]
    assert codes == [200, 200, 200]
    status, headers, body = d.get("/api/ice-servers")
    assert status == 429, body
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert "too many requests" in json.loads(body)["error"]
    # other endpoints are not limited
    assert d.get("/healthz")[0] == 200


def test_api_ice_servers_window_ends(daemon):
    d = daemon(config=ice_config(rate_limit_max=1, rate_limit_window_ms=400, workers=1))
    assert d.get("/api/ice-servers")[0] == 200
    assert d.get("/api/ice-servers")[0] == 429
    time.sleep(0.5)
    assert d.get("/api/ice-servers")[0] == 200


def test_invalid_entries_refused_at_start(tmp_path):
    cases = [
        ({"STUN_SERVERS": "stun.example.org"}, 'stun_servers: "stun.example.org"'),
        ({"TURN_SERVERS": "turn:u:hunter2@h?transport=sctp"}, 'turn_servers: "turn:***@h?transport=sctp"'),
        ({"TURN_SERVERS": "turn:u:hun?ter2@h"}, 'turn_servers: "turn:***@h"'),
        ({"TURN_SERVERS": "turn:h"}, "has no user:password@ and turn_secret is empty"),
        ({"ICE_TRANSPORT_POLICY": "relay"}, "needs at least one entry in turn_servers"),
        ({"ICE_TRANSPORT_POLICY": "sometimes"}, "ice_transport_policy"),
        ({"STUN_SERVERS": "stun:h:70000"}, "port from 1 to 65535"),
    ]
    for env, want in cases:
        p = subprocess.run([rtftd_bin(), "-c", "/dev/null", "-t"], env=clean_env(env), capture_output=True,
                           text=True, timeout=20)
        assert p.returncode == 1, (env, p.stderr)
        assert want in p.stderr, (env, p.stderr)
        assert "hunter2" not in p.stderr


def test_print_redacts_turn_passwords(tmp_path):
    env = {"TURN_SERVERS": "turn:u:hunter2@h", "TURN_SECRET": "s3cr3t-value"}
    p = subprocess.run([rtftd_bin(), "-c", "/dev/null", "-t", "-p"], env=clean_env(env), capture_output=True,
                       text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert 'turn_servers = "turn:***@h"' in p.stdout
    assert "hunter2" not in p.stdout + p.stderr and "s3cr3t-value" not in p.stdout + p.stderr


def test_ice_servers_pushed_after_registration(daemon):
    d = daemon(config=ice_config())

    async def body():
        new = await Client.open(d)
        old = await Client.open(d)
        await new.send(CAPS)
        caps = await new.next("CAPABILITIES")
        assert caps["transfer"] == 1 and caps["iceServers"] is True and caps["binaryRelay"] is True
        t0 = int(time.time())
        await new.register("alice")
        ice = await new.next("ICE_SERVERS")
        expiry, user = ice["username"].split(":", 1)
        assert user == "alice"
        assert t0 + 600 <= int(expiry) <= int(time.time()) + 600
        assert ice["password"] == turn_password(SECRET, ice["username"])
        # an old client: no CAPABILITIES, so none of the new messages
        await old.register("bob")
        log = await old.ping()
        log += old.log
        assert not [m for m in log if m["type"] in ("ICE_SERVERS", "CAPABILITIES", "PEER_INFO", "TRANSFER")]
        # asking again gives fresh credentials
        await new.send({"type": "GET_ICE_SERVERS"})
        again = await new.next("ICE_SERVERS")
        assert again["password"] == turn_password(SECRET, again["username"])
        await close_all([new, old])
    run(body())


def test_ice_servers_pushed_when_asked_after_registering(daemon):
    d = daemon(config=ice_config())

    async def body():
        c = await Client.open(d)
        await c.register("carol")
        await c.send(CAPS)
        await c.next("CAPABILITIES")
        ice = await c.next("ICE_SERVERS")
        assert ice["username"].endswith(":carol")
        await c.close()
    run(body())


def test_ice_credentials_renewed_before_expiry(daemon):
    # turn_ttl 5 s: renewal is due after 4 s
    d = daemon(config=ice_config(turn_ttl=5))

    async def body():
        c = await Client.open(d)
        await c.send(CAPS)
        await c.register("dave")
        first = await c.next("ICE_SERVERS")
        t0 = time.monotonic()
        second = await c.next("ICE_SERVERS", timeout=8)
        waited = time.monotonic() - t0
        assert 3.0 <= waited <= 6.5, waited
        assert int(second["expiresAt"]) > int(first["expiresAt"])
        assert second["password"] == turn_password(SECRET, second["username"])
        await c.close()
    run(body())


def test_get_ice_servers_limited_per_connection(daemon):
    d = daemon(config=ice_config(rate_limit_max=2))

    async def body():
        c = await Client.open(d)
        await c.send(CAPS)
        await c.register("erin")
        await c.next("ICE_SERVERS")  # the push after the claim counts too
        await c.send({"type": "GET_ICE_SERVERS"})
        await c.next("ICE_SERVERS")
        await c.send({"type": "GET_ICE_SERVERS"})
        err = await c.next("ERROR")
        assert err["message"].startswith("Too many requests for ICE servers, try again in ")
        # the connection stays usable
        await c.ping()
        await c.close()
    run(body())


def test_peer_info_and_transfer_across_workers(daemon):
    d = daemon(config={"workers": 2})

    async def body():
        a, b, old = await clients_on_distinct_workers(d, 2) + [await Client.open(d)]
        assert a.worker != b.worker
        for c in (a, b):
            await c.send(CAPS)
            await c.next("CAPABILITIES")
        await a.register("alice")
        await b.register("bob")
        await old.register("oldie")
        await a.send({"type": "PEER_INFO", "user": "bob"})
        assert await a.next("PEER_INFO") == {"type": "PEER_INFO", "user": "bob", "online": True, "transfer": 1,
                                               "binaryRelay": True}
        await a.send({"type": "PEER_INFO", "user": "oldie"})
        assert await a.next("PEER_INFO") == {"type": "PEER_INFO", "user": "oldie", "online": True, "transfer": 0,
                                               "binaryRelay": False}
        await a.send({"type": "PEER_INFO", "user": "nobody"})
        assert (await a.next("PEER_INFO"))["online"] is False
        await a.send({"type": "PEER_INFO", "user": "<b>x"})
        assert (await a.next("PEER_INFO"))["user"] == "<b>x"
        # a TRANSFER crosses workers with the sender's name, members kept
        offer = {"type": "TRANSFER", "recipient": "bob", "id": "00112233445566778899aabbccddeeff",
                 "action": "offer", "file": {"name": "a.txt", "size": 3, "type": "text/plain"},
                 "sha256": "ab" * 32, "p2p": True}
        await a.send(offer)
        got = await b.next("TRANSFER")
        want = dict(offer)
        del want["recipient"]
        want["sender"] = "alice"
        assert got == want
        await b.send({"type": "TRANSFER", "recipient": "alice", "id": offer["id"], "action": "decline"})
        assert (await a.next("TRANSFER"))["action"] == "decline"
        # never to an old client: the sender is told, once
        for _ in range(3):
            await a.send(dict(offer, recipient="oldie"))
        err = await a.next("ERROR")
        assert err["message"] == "oldie does not understand TRANSFER messages"
        await a.ping()
        assert not a.pending("ERROR")
        log = await old.ping()
        assert not [m for m in log + old.log if m["type"] == "TRANSFER"]
        # a malformed TRANSFER is refused with a reason
        await a.send({"type": "TRANSFER", "recipient": "bob", "id": "not valid!", "action": "offer"})
        assert '"id" must be' in (await a.next("ERROR"))["message"]
        await close_all([a, b, old])
    run(body())


def test_capabilities_dropped_by_a_later_message(daemon):
    d = daemon(config={"workers": 1})

    async def body():
        a = await Client.open(d)
        b = await Client.open(d)
        await a.send(CAPS)
        assert (await a.next("CAPABILITIES"))["transfer"] == 1
        await a.register("alice")
        await b.register("bob")
        await a.send({"type": "CAPABILITIES", "binaryRelay": False})
        caps = await a.next("CAPABILITIES")
        assert "transfer" not in caps
        await b.send({"type": "PEER_INFO", "user": "alice"})
        info = await b.next("PEER_INFO")
        assert info["transfer"] == 0 and info["binaryRelay"] is False
        await close_all([a, b])
    run(body())


def test_claims_and_capabilities_cannot_mint_without_limit(daemon):
    d = daemon(config=ice_config(rate_limit_max=3, workers=1))

    async def body():
        c = await Client.open(d)
        await c.send(CAPS)
        await c.register("frank")          # 1: first claim
        # claiming the same name again, and toggling iceServers, mint no
        # more than the limit allows
        for _ in range(5):
            await c.register("frank")
        for on in (False, True) * 5:
            await c.send(dict(CAPS, iceServers=on))
        await c.register("frank2")         # a rename carries the name
        await c.ping()
        got = c.take("ICE_SERVERS")
        # the first claim and the first two times iceServers came back on;
        # the re-claims gave none, the rest and the rename were over the limit
        assert len(got) == 3, [m["username"] for m in got]
        assert all(m["username"].endswith(":frank") for m in got)
        await c.send({"type": "GET_ICE_SERVERS"})
        m = await c.next(lambda m: m["type"] in ("ERROR", "ICE_SERVERS"))
        assert m["type"] == "ERROR" and m["message"].startswith("Too many requests"), m
        await c.close()
    run(body())


def test_reload_sends_new_servers_to_open_pages(daemon):
    d = daemon(config={"stun_servers": "stun:127.0.0.1:3478", "ice_check_interval_ms": 0})

    async def body():
        c = await Client.open(d)
        old = await Client.open(d)
        await old.register("olga")
        await c.send(CAPS)
        await c.register("gina")
        first = await c.next("ICE_SERVERS")
        assert "username" not in first  # nothing minted
        n = d.notify_count()
        d.write_config(turn_servers=TURN, turn_secret=SECRET)
        d.sighup()
        d.wait_ready(after_index=n)
        second = await c.next("ICE_SERVERS", timeout=5)
        assert second["uris"] == [TURN] and second["username"].endswith(":gina")
        assert second["password"] == turn_password(SECRET, second["username"])
        # an old client gets nothing of it
        log = await old.ping()
        assert not [m for m in log + old.log if m["type"] == "ICE_SERVERS"]
        await close_all([c, old])
    run(body())


def test_errors_carry_a_code_for_new_clients_only(daemon):
    d = daemon(config={"workers": 1})

    async def body():
        new = await Client.open(d)
        old = await Client.open(d)
        await new.send(CAPS)
        await new.next("CAPABILITIES")
        await new.register("nina")
        await old.register("otto")
        await new.send({"type": "WEBRTC_OFFER", "recipient": "ghost", "offer": {"type": "offer", "sdp": "x"}})
        assert await new.next("ERROR") == {"type": "ERROR", "message": "ghost is not online", "code": "not_online",
                                           "user": "ghost"}
        await new.send({"type": "TRANSFER", "recipient": "otto", "id": "a1", "action": "offer"})
        assert await new.next("ERROR") == {"type": "ERROR", "message": "otto does not understand TRANSFER messages",
                                           "code": "no_transfer", "user": "otto"}
        await new.send("not json")
        e = await new.next("ERROR")
        assert e["code"] == "invalid_format" and "user" not in e
        # the old client's errors are v1's {type, message}
        await old.send({"type": "WEBRTC_OFFER", "recipient": "ghost", "offer": {"type": "offer", "sdp": "x"}})
        assert await old.next("ERROR") == {"type": "ERROR", "message": "ghost is not online"}
        await close_all([new, old])
    run(body())
