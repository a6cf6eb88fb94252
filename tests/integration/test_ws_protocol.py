"""RTFT protocol v1 (/work/shared/rtft-protocol-v1.md), field for field,
through the python3-websockets client, WORKERS=4."""

import copy
import json
import time

import pytest

from wsutil import clients_on_distinct_workers, close_all, connect_on, run

WORKERS = 4

ONLY_CHARS = "Username may contain only letters, digits, _, - and ."


def not_lists(msgs):
    return [m for m in msgs if m.get("type") != "USER_LIST"]


def start(daemon, **cfg):
    c = {"workers": WORKERS}
    c.update(cfg)
    return daemon(config=c)


async def pair(d, same_worker):
    """Two clients, registered as alice and bob, on the same or on different workers."""
    a = await connect_on(d)
    if same_worker:
        b = await connect_on(d, a.worker)
    else:
        b = await connect_on(d, lambda s: s != a.worker)
    await a.register("alice")
    await b.register("bob")
    return a, b


# ---------------------------------------------------------------- SET_USERNAME

def test_set_username_fields(daemon):
    d = start(daemon)

    async def body():
        a, b, c = await clients_on_distinct_workers(d, 3)
        try:
            m = await a.register("alice")
            assert m == {"type": "USERNAME_SET", "username": "alice", "availableUsers": []}
            assert list(m) == ["type", "username", "availableUsers"]
            m = await b.register("bob")
            assert m == {"type": "USERNAME_SET", "username": "bob", "availableUsers": ["alice"]}
            m = await c.register("carol")
            assert m["type"] == "USERNAME_SET" and m["username"] == "carol"
            assert m["availableUsers"] == ["alice", "bob"]
            assert set(m) == {"type", "username", "availableUsers"}
        finally:
            await close_all([a, b, c])
    run(body())


def test_username_is_trimmed(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await a.send({"type": "SET_USERNAME", "username": "  \t alice \n "})
            m = await a.next("USERNAME_SET")
            assert m == {"type": "USERNAME_SET", "username": "alice", "availableUsers": []}
            # the trimmed name is the one held: "alice" is taken, " alice" too
            await b.send({"type": "SET_USERNAME", "username": " alice"})
            m = await b.next(lambda m: m["type"] != "USER_LIST")
            assert m == {"type": "USERNAME_ERROR", "message": "Username already taken"}
            await b.register("bob")
            await b.send({"type": "GET_USERS"})
            m = await b.next(lambda m: m["type"] == "USER_LIST" and "alice" in m["users"])
            assert m["users"] == ["alice"]
        finally:
            await close_all([a, b])
    run(body())


def test_repeated_set_username_same_connection_is_success(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await b.register("bob")
            # the web page sends it twice right after connecting
            await a.send({"type": "SET_USERNAME", "username": "alice"})
            await a.send({"type": "SET_USERNAME", "username": "alice"})
            m1 = await a.next(lambda m: m["type"] in ("USERNAME_SET", "USERNAME_ERROR", "ERROR"))
            m2 = await a.next(lambda m: m["type"] in ("USERNAME_SET", "USERNAME_ERROR", "ERROR"))
            assert m1 == {"type": "USERNAME_SET", "username": "alice", "availableUsers": ["bob"]}
            assert m2 == m1
            m3 = await a.register("alice")  # and once more, later
            assert m3 == m1
            # still held by a: b cannot take it
            await b.send({"type": "SET_USERNAME", "username": "alice"})
            m = await b.next("USERNAME_ERROR")
            assert m["message"] == "Username already taken"
            assert await a.ping() is not None
            assert not a.pending(lambda m: m["type"] in ("ERROR", "USERNAME_ERROR")), a.inbox
        finally:
            await close_all([a, b])
    run(body())


def test_taken_name(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await a.register("alice")
            await b.send({"type": "SET_USERNAME", "username": "alice"})
            m = await b.next(lambda m: m["type"] != "USER_LIST")
            assert m == {"type": "USERNAME_ERROR", "message": "Username already taken"}
            # b is not registered: a relay is refused
            await b.send({"type": "FILE_COMPLETE", "recipient": "alice", "fileName": "x"})
            m = await b.next(lambda m: m["type"] != "USER_LIST")
            assert m["type"] == "ERROR" and "username" in m["message"].lower(), m
            # case-sensitive, as the old server: "Alice" is another name
            await b.register("Alice")
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("name,why", [
    ("ab", "at least 3"),
    ("  ab  ", "at least 3"),
    ("", "at least 3"),
    ("a" * 33, "at most 32"),
    ("x" * 200, "at most 32"),
    ("<img src=x onerror=1>", ONLY_CHARS),
    ("a b", ONLY_CHARS),
    ("j\u00f6rg", ONLY_CHARS),
    ("\u65e5\u672c\u8a9e", ONLY_CHARS),
    ("bob\u0000x", ONLY_CHARS),
    ("a/b", ONLY_CHARS),
    ("a\"b", ONLY_CHARS),
])
def test_invalid_names(daemon, name, why):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await b.register("bob")
            b.take()
            await a.send({"type": "SET_USERNAME", "username": name})
            m = await a.next(lambda m: m["type"] != "USER_LIST")
            assert m["type"] == "USERNAME_ERROR", m
            assert set(m) == {"type", "message"}
            assert why in m["message"], m
            # nothing registered: b's list stays ["alice"]-free, a relay is refused
            await a.send({"type": "GET_USERS"})
            m = await a.next("USER_LIST")
            assert m["users"] == ["bob"], m
            await b.send({"type": "GET_USERS"})
            m = await b.next("USER_LIST")
            assert m["users"] == [], m
            # a valid name after a bad one works
            await a.register("alice")
        finally:
            await close_all([a, b])
    run(body())


def test_invalid_rename_keeps_the_old_name(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await a.register("alice")
            await b.register("bob")
            await a.send({"type": "SET_USERNAME", "username": "<b>x</b>"})
            m = await a.next("USERNAME_ERROR")
            assert ONLY_CHARS in m["message"]
            await a.send({"type": "SET_USERNAME", "username": "bob"})
            m = await a.next("USERNAME_ERROR")
            assert m["message"] == "Username already taken"
            # still alice: b can send to alice, and the sender of a's message is alice
            await a.send({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "f"})
            m = await b.next("FILE_COMPLETE")
            assert m == {"sender": "alice", "type": "FILE_COMPLETE", "fileName": "f"}
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("value", [123, None, True, ["alice"], {"n": "alice"}])
def test_non_string_username_is_error(daemon, value):
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            await a.send({"type": "SET_USERNAME", "username": value})
            m = await a.next()
            assert m == {"type": "ERROR", "message": "\"username\" must be a string"}, m
            await a.send({"type": "SET_USERNAME"})
            m = await a.next()
            assert m == {"type": "ERROR", "message": "\"username\" must be a string"}, m
            assert await a.ping() == []
            await a.register("alice")
        finally:
            await a.close()
    run(body())


# ---------------------------------------------------------------- GET_USERS, PING

def test_get_users_and_ping(daemon):
    d = start(daemon)

    async def body():
        cs = await clients_on_distinct_workers(d, 4)
        try:
            names = ["dan", "ann", "Zed", "b-c"]  # byte order: Zed, ann, b-c, dan
            for c, n in zip(cs, names):
                await c.register(n)
            for c, n in zip(cs, names):
                c.take("USER_LIST")
                await c.send({"type": "GET_USERS"})
                m = await c.next("USER_LIST")
                assert set(m) == {"type", "users"}
                assert m["users"] == sorted(set(names) - {n}), "not the other names in byte order: %r" % m
                await c.send({"type": "PING"})
                m = await c.next(lambda m: m["type"] != "USER_LIST")
                assert m == {"type": "PONG"}
            # PING and GET_USERS need no name
            x = await connect_on(d)
            try:
                await x.send({"type": "PING"})
                assert await x.next() == {"type": "PONG"}
                await x.send({"type": "GET_USERS"})
                m = await x.next()
                assert m["type"] == "USER_LIST" and sorted(m["users"]) == sorted(names)
            finally:
                await x.close()
        finally:
            await close_all(cs)
    run(body())


# ---------------------------------------------------------------- malformed input

@pytest.mark.parametrize("text,message", [
    ("garbage", "Invalid message format"),
    ("{\"type\":\"PING\"", "Invalid message format"),
    ("{\"type\":\"PING\"}}", "Invalid message format"),
    ("{'type':'PING'}", "Invalid message format"),
    ("", "Invalid message format"),
    ("[1,2,3]", "message must be a JSON object"),
    ("\"PING\"", "message must be a JSON object"),
    ("42", "message must be a JSON object"),
    ("null", "message must be a JSON object"),
    ("{}", "message has no \"type\" string"),
    ("{\"username\":\"alice\"}", "message has no \"type\" string"),
    ("{\"type\":5}", "message has no \"type\" string"),
    ("{\"type\":null}", "message has no \"type\" string"),
    ("{\"type\":\"FOO\"}", "unknown message type \"FOO\""),
    ("{\"type\":\"ping\"}", "unknown message type \"ping\""),
    ("{\"type\":\"PING\",\"type\":\"PING\"}", "duplicate \"type\""),
    ("{\"type\":\"PING\",\"x\":" + "[" * 32 + "]" * 32 + "}", "message nested deeper than 32 levels"),
    ("{\"type\":\"PING\",\"x\":" + "{\"a\":" * 40 + "1" + "}" * 40 + "}", "message nested deeper than 32 levels"),
])
def test_bad_messages_get_specific_errors_and_connection_stays(daemon, text, message):
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            await a.register("alice")
            a.take()
            for _ in range(2):
                await a.send(text)
                m = await a.next(lambda m: m["type"] != "USER_LIST")
                assert m == {"type": "ERROR", "message": message}, m
            assert not_lists(await a.ping()) == []
            await a.send({"type": "GET_USERS"})
            assert (await a.next("USER_LIST"))["users"] == []
            # still registered as alice
            await a.register("alice")
        finally:
            await a.close()
    run(body())


def test_nesting_at_the_limit_is_accepted(daemon):
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            # the message is level 1: 31 nested arrays make 32 levels
            await a.send("{\"type\":\"PING\",\"x\":" + "[" * 31 + "]" * 31 + "}")
            assert await a.next() == {"type": "PONG"}
        finally:
            await a.close()
    run(body())


def test_unknown_type_is_quoted_escaped_and_cut(daemon):
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            await a.send({"type": "<x\"y\\z>"})
            m = await a.next()
            # the type is quoted as JSON string content (escaped), as proto.h says
            assert m == {"type": "ERROR", "message": "unknown message type \"<x\\\"y\\\\z>\""}, m
            await a.send({"type": "T" * 500})
            m = await a.next()
            assert m["type"] == "ERROR" and m["message"].startswith("unknown message type \"TTTT"), m
            assert len(m["message"]) < 200, m
        finally:
            await a.close()
    run(body())


def test_binary_message_is_error_and_connection_stays(daemon):
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            await a.send(b"\x00\x01binary")
            m = await a.next()
            assert m["type"] == "ERROR" and "binary" in m["message"], m
            assert await a.ping() == []
        finally:
            await a.close()
    run(body())


# ---------------------------------------------------------------- relaying

OFFER = {"type": "WEBRTC_OFFER", "recipient": "bob",
         "offer": {"type": "offer", "sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\n"
                   "t=0 0\r\na=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n\u00e9\u65e5 \"quoted\" \\ back\r\n"}}
ANSWER = {"type": "WEBRTC_ANSWER", "recipient": "bob",
          "answer": {"type": "answer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}
ICE = {"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob",
       "candidate": {"candidate": "candidate:842163049 1 udp 1677729535 192.0.2.3 46154 typ srflx raddr "
                                  "10.0.0.1 rport 46154 generation 0", "sdpMid": "0", "sdpMLineIndex": 0,
                     "usernameFragment": "abcd"}}
ICE_NULL = {"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob", "candidate": None}
META_RTC = {"type": "FILE_METADATA", "recipient": "bob",
            "file": {"name": "holiday photo.jpg", "size": 1234567, "type": "image/jpeg"},
            "transferMode": "webrtc"}
META_WS = {"type": "FILE_METADATA", "recipient": "bob",
           "file": {"name": "notes.txt", "size": 12, "type": "text/plain"}, "transferMode": "websocket"}
META_NONE = {"type": "FILE_METADATA", "recipient": "bob",
             "file": {"name": "r\u00e9sum\u00e9 (1).txt", "size": 0, "type": ""}}
CHUNK = {"type": "FILE_CHUNK", "recipient": "bob",
         "file": {"name": "notes.txt", "size": 12, "offset": 0, "data": list(b"hello world\n")}}
COMPLETE = {"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "notes.txt"}

ALL_RELAYS = [OFFER, ANSWER, ICE, ICE_NULL, META_RTC, META_WS, META_NONE, CHUNK, COMPLETE]


def forwarded_form(msg, sender):
    out = {k: v for k, v in msg.items() if k != "recipient"}
    out["sender"] = sender
    if msg["type"] == "FILE_METADATA" and "transferMode" not in msg:
        out["transferMode"] = "websocket"
    return out


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "cross-worker"])
def test_every_relay_type_arrives_as_sent(daemon, same_worker):
    d = start(daemon)

    async def body():
        a, b = await pair(d, same_worker)
        assert (a.worker == b.worker) == same_worker
        try:
            for msg in ALL_RELAYS:
                await a.send(msg)
                got = await b.next(lambda m: m["type"] != "USER_LIST", what="forwarded %s" % msg["type"])
                assert "recipient" not in got, got
                assert got == forwarded_form(msg, "alice"), (msg, got)
            # and back, with recipient alice
            for msg in ALL_RELAYS:
                back = dict(msg, recipient="alice")
                await b.send(back)
                got = await a.next(lambda m: m["type"] != "USER_LIST")
                assert got == forwarded_form(back, "bob"), (back, got)
            # neither heard an ERROR
            await a.ping()
            await b.ping()
            assert not [m for m in a.log + b.log if m["type"] == "ERROR"], (a.log, b.log)
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "cross-worker"])
def test_relay_keeps_the_clients_json_valid_wherever_recipient_is(daemon, same_worker):
    """The server cuts "recipient" out of the client's own bytes: first,
    last, middle member, odd white space, pretty-printed, only member
    besides type."""
    d = start(daemon)
    texts = [
        '{"recipient":"bob","type":"FILE_COMPLETE","fileName":"a"}',
        '{"type":"FILE_COMPLETE","fileName":"b","recipient":"bob"}',
        '{"type":"FILE_COMPLETE","recipient":"bob","fileName":"c"}',
        '{ "recipient" : "bob" , "type" : "FILE_COMPLETE" , "fileName" : "d" }',
        '{ "type" : "FILE_COMPLETE" , "fileName" : "e" , "recipient" : "bob" }',
        '\n{\n  "type": "FILE_COMPLETE",\n  "recipient": "bob",\n  "fileName": "f"\n}\n',
        json.dumps({"type": "WEBRTC_ICE_CANDIDATE", "candidate": {"recipient": "nested", "x": [1, {}]},
                    "recipient": "bob"}, indent=3),
        '{"type":"WEBRTC_ANSWER","answer":{},"recipient":"b\\u006fb","extra":[null,true,false,1.5e3]}',
        '{"type":"FILE_METADATA","recipient":"bob","file":{"name":"g","size":1}}',
        '{"recipient":"bob","type":"FILE_METADATA","file":{"name":"h","size":1}}',
        '{"type":"FILE_METADATA","file":{"name":"i","size":1},"recipient":"bob"}',
        '{"type":"FILE_METADATA","file":{"name":"j","size":1},"recipient":"bob" }',
    ]

    async def body():
        a, b = await pair(d, same_worker)
        try:
            for t in texts:
                await a.send(t)
                got = await b.next(lambda m: m["type"] != "USER_LIST", what="forwarded %r" % t)
                want = forwarded_form(json.loads(t), "alice")
                assert got == want, (t, got)
            assert not b.bad, b.bad
            assert not_lists(await a.ping()) == [], a.log
        finally:
            await close_all([a, b])
    run(body())


def test_relay_before_set_username_is_error_and_not_forwarded(daemon):
    d = start(daemon)

    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        try:
            await b.register("bob")
            b.take()
            bmark = b.mark()
            for msg in ALL_RELAYS:
                await a.send(msg)
                m = await a.next()
                assert m == {"type": "ERROR", "message": "Set a username before sending messages"}, m
            # a marker on the same path shows nothing came before it
            await a.register("alice")
            await a.send(dict(COMPLETE, fileName="marker"))
            got = await b.next("FILE_COMPLETE")
            assert got["fileName"] == "marker", got
            assert not_lists(b.log[bmark:]) == [got], b.log
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "cross-worker"])
def test_client_chosen_sender_is_replaced(daemon, same_worker):
    """A client's own sender is cut and the server's stamped, as the old
    server did (test_old_clients.py checks the bytes)."""
    d = start(daemon)

    async def body():
        a, b = await pair(d, same_worker)
        try:
            b.take()
            bmark = b.mark()
            want = []
            for msg in ALL_RELAYS:
                for sender in ("bob", "alice", None, ""):
                    await a.send(dict(msg, sender=sender))
                    want.append(forwarded_form(msg, "alice"))
            await a.send(dict(COMPLETE, fileName="marker"))
            await b.next(lambda m: m.get("fileName") == "marker")
            want.append({"sender": "alice", "type": "FILE_COMPLETE", "fileName": "marker"})
            assert not_lists(b.log[bmark:]) == want, b.log
            assert not [m for m in a.log if m.get("type") == "ERROR"], a.log
        finally:
            await close_all([a, b])
    run(body())


def test_relay_field_errors(daemon):
    d = start(daemon)
    cases = [
        ({"type": "WEBRTC_OFFER", "recipient": "bob", "offer": "sdp"}, "\"offer\" must be an object"),
        ({"type": "WEBRTC_OFFER", "recipient": 5, "offer": {}}, "\"recipient\" must be a string"),
        ({"type": "WEBRTC_OFFER", "offer": {}}, "\"recipient\" must be a string"),
        ({"type": "WEBRTC_ANSWER", "recipient": "bob"}, "\"answer\" must be an object"),
        ({"type": "WEBRTC_ICE_CANDIDATE", "recipient": "bob", "candidate": "x"},
         "\"candidate\" must be an object or null"),
        ({"type": "FILE_METADATA", "recipient": "bob", "file": {"name": "a", "size": 1}, "transferMode": "x"},
         "\"transferMode\" must be \"webrtc\" or \"websocket\""),
        ({"type": "FILE_METADATA", "recipient": "bob", "file": {"name": "a", "size": -1}},
         "\"file.size\" must be a non-negative integer"),
        ({"type": "FILE_CHUNK", "recipient": "bob", "file": {"name": "a", "offset": 0, "data": [1, 256]}},
         "\"file.data\" element 1 is not an integer 0..255"),
        ({"type": "FILE_CHUNK", "recipient": "bob", "file": {"name": "a", "offset": 0, "data": "AAE="}},
         "\"file.data\" must be an array of integers 0..255"),
        ({"type": "FILE_COMPLETE", "recipient": "bob"}, "\"fileName\" must be a string"),
    ]

    async def body():
        a, b = await pair(d, False)
        try:
            b.take()
            bmark = b.mark()
            for msg, message in cases:
                await a.send(msg)
                m = await a.next(lambda m: m["type"] != "USER_LIST")
                assert m == {"type": "ERROR", "message": message}, (msg, m)
            await a.send(dict(COMPLETE, fileName="marker"))
            got = await b.next("FILE_COMPLETE")
            assert not_lists(b.log[bmark:]) == [got], b.log
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("recipient", ["nobody", "x" * 40, "<img src=x>", "ab"])
def test_not_online_is_told_once_for_a_burst(daemon, recipient):
    d = start(daemon)

    async def body():
        a, b = await pair(d, False)
        try:
            a.take()
            mark = a.mark()
            t0 = time.monotonic()
            kinds = [ICE, dict(CHUNK), OFFER, COMPLETE, META_NONE]
            for i in range(50):
                msg = copy.deepcopy(kinds[i % len(kinds)])
                msg["recipient"] = recipient
                await a.send(msg)
            assert time.monotonic() - t0 < 1.0
            before = await a.ping(since=mark)
            errors = [m for m in before if m["type"] == "ERROR"]
            assert len(errors) == 1, "%d ERRORs for a burst of 50 messages to %r (want exactly one): %s" % (
                len(errors), recipient, errors[:3])
            assert errors == [{"type": "ERROR", "message": "%s is not online" % recipient}], before
            # a different absent name gets its own single notice
            mark = a.mark()
            await a.send(dict(COMPLETE, recipient="nobody2"))
            await a.send(dict(COMPLETE, recipient="nobody2"))
            before = await a.ping(since=mark)
            assert [m for m in before if m["type"] == "ERROR"] == [
                {"type": "ERROR", "message": "nobody2 is not online"}], before
            # and bob, who is online, still gets messages
            await a.send(dict(COMPLETE, fileName="marker"))
            assert (await b.next("FILE_COMPLETE"))["fileName"] == "marker"
            assert not b.pending(lambda m: m["type"] != "USER_LIST"), b.inbox
        finally:
            await close_all([a, b])
    run(body())


def test_recipient_that_left_is_not_online(daemon):
    d = start(daemon)

    async def body():
        a, b = await pair(d, False)
        try:
            await b.close()
            await a.next(lambda m: m["type"] == "USER_LIST" and "bob" not in m["users"])
            a.take()
            mark = a.mark()
            for _ in range(20):
                await a.send(dict(ICE, recipient="bob"))
            before = await a.ping(since=mark)
            assert [m for m in before if m["type"] == "ERROR"] == [
                {"type": "ERROR", "message": "bob is not online"}], before
        finally:
            await close_all([a, b])
    run(body())


@pytest.mark.parametrize("padded", [" " * 130 + "alice" + " " * 3, "\t" * 200 + "alice\n"],
                         ids=["spaces", "tabs-newline"])
def test_long_white_space_around_a_valid_name_is_trimmed(daemon, padded):
    """The protocol: names are checked "after trimming" (short names are
    trimmed of any white space, isspace()). Over 128 bytes (PROTO_NAME_MAX)
    the same must hold: "  ...  alice\n" is "alice". (Minor: no known
    client pads so.)"""
    d = start(daemon)
    # once registered, a coalesced USER_LIST may come before the answer
    answer = lambda m: m["type"] in ("USERNAME_SET", "USERNAME_ERROR", "ERROR")

    async def body():
        a = await connect_on(d)
        try:
            # the short form of the same padding is accepted
            await a.send({"type": "SET_USERNAME", "username": padded.replace(" " * 130, " ").replace(
                "\t" * 200, "\t")})
            m = await a.next(answer)
            assert m == {"type": "USERNAME_SET", "username": "alice", "availableUsers": []}, m
            await a.send({"type": "SET_USERNAME", "username": padded})
            m = await a.next(answer)
            assert m == {"type": "USERNAME_SET", "username": "alice", "availableUsers": []}, (
                "SET_USERNAME %r (%d bytes) was answered %r" % (padded[:12] + "...", len(padded), m))
        finally:
            await a.close()
    run(body())


def test_not_online_notice_comes_again_after_5_s(daemon):
    """docs/protocol.md: once per recipient every 5 s. A sender that keeps
    sending to an absent name hears about it again after the window."""
    d = start(daemon)

    async def body():
        a = await connect_on(d)
        try:
            await a.register("alice")
            a.take()
            await a.send(dict(ICE, recipient="ghost"))
            first = await a.next("ERROR")
            t0 = time.monotonic()
            assert first["message"] == "ghost is not online"
            mark = a.mark()
            # one message every 250 ms until the next notice (no more than 8 s)
            while time.monotonic() - t0 < 8:
                await a.send(dict(ICE, recipient="ghost"))
                if await a.poll("ERROR", timeout=0.25):
                    break
            took = time.monotonic() - t0
            errors = [m for m in a.log[mark:] if m["type"] == "ERROR"]
            assert len(errors) == 1, "after %.1f s: %s" % (took, errors)
            assert 4.5 <= took <= 6.5, "the second notice came %.2f s after the first" % took
        finally:
            await a.close()
    run(body())
