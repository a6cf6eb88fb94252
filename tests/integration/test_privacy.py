"""Privacy (issue 11 point 8): how client addresses and user names reach
the log (log_client_address, log_user_names), with production's defaults,
and a reload that changes them in place. Clients connect from distinct
loopback source addresses (127.0.0.2, 127.0.0.3, ...) so that their
addresses differ."""

import re

import websockets

from helpers import wait_for
from wsutil import Client, run


async def connect_from(d, source):
    ws = await websockets.connect(d.ws_url("/ws"), open_timeout=10, max_size=None, compression=None,
                                  ping_interval=None, local_addr=(source, 0))
    return Client(ws)


async def visit(d, source, name):
    """A client from source that registers as name and leaves."""
    c = await connect_from(d, source)
    await c.register(name)
    await c.close()


def session_lines(d, n):
    """The opened/closed lines of the WebSocket sessions, once there are n."""
    def lines():
        found = [l for l in d.all_log_text().splitlines() if re.search(r"websocket \d+ from .* (opened|closed)", l)]
        return found if len(found) >= n else None
    return wait_for(lines, 10, "%d session lines in the log" % n)


def addr_of(line):
    return re.search(r"websocket \d+ from (\S+) (?:opened|(?:as \S+ )?closed)", line).group(1)


def test_development_logs_addresses_and_names(daemon):
    d = daemon(config={"workers": 1})
    run(visit(d, "127.0.0.2", "alice"))
    lines = session_lines(d, 2)
    assert re.match(r"127\.0\.0\.2$", addr_of(lines[0])), lines
    assert any(" as alice closed" in l for l in lines), lines


def test_truncated_addresses_and_no_names_at_info(daemon):
    d = daemon(config={"workers": 2, "log_client_address": "truncated", "log_user_names": "false"})
    run(visit(d, "127.0.0.2", "alice"))
    run(visit(d, "127.0.0.3", "bob"))
    lines = session_lines(d, 4)
    assert {addr_of(l) for l in lines} == {"127.0.0.0/24"}, lines
    text = d.all_log_text()
    assert "127.0.0.2" not in text and "127.0.0.3" not in text
    assert "alice" not in text and "bob" not in text, text
    # the lines' context fields too: the address truncated, the name a
    # pseudonym that is the same on both of a user's lines
    assert "client=127.0.0.0/24" in text
    ids = re.findall(r'user_id="(u:[0-9a-f]{16})"', text)
    assert len(set(ids)) == 2, text


def test_hashed_addresses_compare_within_a_run_only(daemon):
    d = daemon(config={"workers": 2, "log_client_address": "hashed", "log_user_names": "false"})
    for i in range(3):
        run(visit(d, "127.0.0.2", "alice%d" % i))
    run(visit(d, "127.0.0.3", "bob"))
    lines = session_lines(d, 8)
    addrs = [addr_of(l) for l in lines]
    assert all(re.match(r"h:[0-9a-f]{16}$", a) for a in addrs), addrs
    # the same address hashes alike in both workers, another one differently
    assert len(set(addrs[:6])) == 1 and addrs[6] == addrs[7] and addrs[6] != addrs[0], addrs
    assert "127.0.0.2" not in d.all_log_text() and "127.0.0.3" not in d.all_log_text()
    first = addrs[0]
    # another run (a restart) draws a new key
    d2 = daemon(config={"workers": 1, "log_client_address": "hashed"})
    run(visit(d2, "127.0.0.2", "alice"))
    again = addr_of(session_lines(d2, 2)[-1])
    assert re.match(r"h:[0-9a-f]{16}$", again) and again != first, (first, again)


def test_debug_names_users_and_reload_applies_in_place(daemon):
    d = daemon(config={"workers": 2, "log_client_address": "truncated", "log_user_names": "false",
                       "log_level": "debug"})
    run(visit(d, "127.0.0.2", "carol"))
    lines = session_lines(d, 2)
    assert any(" as carol closed" in l for l in lines), "at debug, names are logged: %r" % lines
    # a reload to full addresses and info: applied by the running workers
    n = d.notify_count()
    d.write_config(log_client_address="full", log_level="info", log_user_names="true")
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    run(visit(d, "127.0.0.4", "dave"))
    lines = session_lines(d, 4)
    assert re.match(r"127\.0\.0\.4$", addr_of(lines[-1])) and " as dave closed" in lines[-1], lines


def test_production_defaults(daemon):
    d = daemon(config={"workers": 1, "external_url": "https://rtft.example"}, env={"NODE_ENV": "production"})
    run(visit(d, "127.0.0.5", "erin"))
    lines = session_lines(d, 2)
    assert {addr_of(l) for l in lines} == {"127.0.0.0/24"}, lines
    assert "erin" not in d.all_log_text()
