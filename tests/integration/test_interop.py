"""The web page and the old clients (shared/rtft-protocol-v1.md) send files
to each other, through a real rtftd, in both of v1's modes.

* websocket mode: a Python client that behaves exactly like the old
  extension (no CAPABILITIES; FILE_METADATA, FILE_CHUNKs of 256 KiB as JSON
  arrays of numbers, FILE_COMPLETE).
* webrtc mode: tests/browser/legacy.js in a blank page of rtftd's origin
  (FILE_METADATA with transferMode webrtc, WEBRTC_OFFER/ANSWER/ICE, a data
  channel carrying 256 KiB binary messages, then the text {"type":"EOF"}).

The web page is driven as in test_browser.py (chromium, playwright-core, a
network namespace of the test's own). Each test checks the bytes
(SHA-256), and that the old client never got a message v1 does not have
(no CAPABILITIES, TRANSFER, PEER_INFO, ICE_SERVERS, no binary message).
Screenshots: <test>-sender.png and <test>-receiver.png, as in
test_browser.py (the old client's page shows its log).
"""

import asyncio
import hashlib
import json
import math
import os
import threading

import pytest
import websockets

from helpers import srcdir
from realprogs import artifacts_dir, sha256_file
from realprogs import browser, private_net, web  # noqa: F401 (fixtures)

CHUNK = 256 * 1024
V1_FROM_SERVER = {"USERNAME_SET", "USERNAME_ERROR", "USER_LIST", "ERROR", "PONG", "WEBRTC_OFFER",
                  "WEBRTC_ANSWER", "WEBRTC_ICE_CANDIDATE", "FILE_METADATA", "FILE_CHUNK", "FILE_COMPLETE"}


def page_config(**more):
    cfg = {"workers": 2, "www_root": os.path.join(srcdir(), "www"), "p2p_timeout_ms": 10000}
    cfg.update(more)
    return cfg


class LegacyWS:
    """The old extension in websocket mode, in Python: one connection to
    ws://HOST/ (path /), SET_USERNAME, nothing else of the new protocol.
    Runs its own event loop on a thread so the test can drive the browser
    meanwhile."""

    def __init__(self, d, name):
        self.d = d
        self.name = name
        self.types = []        # the type of every text message received
        self.unknown = []      # what a v1 client would not know
        self.errors = []
        self.files = []        # completed: {sender, name, size, mode, metas, data, chunks}
        self.current = None
        self.metas = []        # every FILE_METADATA received
        self.cond = threading.Condition()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.ws = None
        self.reader = None

    def run(self, coro, timeout=60):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def connect(self):
        async def go():
            self.ws = await websockets.connect(self.d.ws_url("/"), max_size=None, compression=None,
                                               ping_interval=None, open_timeout=10)
            await self.ws.send(json.dumps({"type": "SET_USERNAME", "username": self.name}))
            while True:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), 10))
                self._record(m)
                if m["type"] == "USERNAME_SET":
                    break
            self.reader = asyncio.ensure_future(self._read())
        self.run(go())
        return self

    async def _read(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    with self.cond:
                        self.unknown.append("a binary message of %d bytes" % len(raw))
                    continue
                m = json.loads(raw)
                self._record(m)
                self._handle(m)
        except websockets.ConnectionClosed:
            pass

    def _record(self, m):
        with self.cond:
            self.types.append(m.get("type"))
            if m.get("type") not in V1_FROM_SERVER:
                self.unknown.append(json.dumps(m)[:300])
            if m.get("type") in ("ERROR", "USERNAME_ERROR"):
                self.errors.append(m.get("message"))

    def _handle(self, m):
        t = m["type"]
        with self.cond:
            if t == "FILE_METADATA":
                self.metas.append(m)
                # like the old client: a new FILE_METADATA starts a new file
                self.current = {"sender": m["sender"], "name": m["file"]["name"], "size": m["file"]["size"],
                                "mode": m.get("transferMode"), "data": bytearray(), "chunks": []}
            elif t == "FILE_CHUNK" and self.current is not None:
                f = m["file"]
                self.current["chunks"].append((f["offset"], len(f["data"])))
                self.current["data"] += bytes(f["data"])
            elif t == "FILE_COMPLETE" and self.current is not None:
                self.current["fileName"] = m.get("fileName")
                self.files.append(self.current)
                self.current = None
                self.cond.notify_all()

    def wait_files(self, n, timeout=60):
        with self.cond:
            ok = self.cond.wait_for(lambda: len(self.files) >= n, timeout)
            assert ok, "the old client got %d of %d files in %d s (types seen: %r)" % (
                len(self.files), n, timeout, self.types[-20:])
            return list(self.files)

    def send_file(self, to, name, data):
        """FILE_METADATA, FILE_CHUNKs of 256 KiB (JSON arrays), FILE_COMPLETE."""
        async def go():
            await self.ws.send(json.dumps({"type": "FILE_METADATA", "recipient": to,
                                           "file": {"name": name, "size": len(data), "type": "application/octet-stream"},
                                           "transferMode": "websocket"}))
            for off in range(0, len(data), CHUNK):
                part = data[off:off + CHUNK]
                await self.ws.send(json.dumps({"type": "FILE_CHUNK", "recipient": to,
                                               "file": {"name": name, "size": len(data), "offset": off,
                                                        "data": list(part)}}))
            await self.ws.send(json.dumps({"type": "FILE_COMPLETE", "recipient": to, "fileName": name}))
        self.run(go(), timeout=120)

    def close(self):
        async def go():
            if self.ws is not None:
                await self.ws.close()
            if self.reader is not None:
                await asyncio.wait_for(self.reader, 5)
        try:
            self.run(go(), timeout=15)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
            self.loop.close()


@pytest.fixture
def legacy_ws():
    made = []

    def make(d, name):
        c = LegacyWS(d, name)
        made.append(c)
        return c.connect()

    yield make
    for c in made:
        c.close()


class LegacyPage:
    """tests/browser/legacy.js in a page of rtftd's origin (its CSP allows
    only the page's own scripts, so this context bypasses it)."""

    def __init__(self, browser, d, name, role):
        self.name = name
        self.role = role
        self.p = browser.page(name, bypass_csp=True)
        assert self.p.goto(d.url("/healthz")) == 200
        self.p.add_script(path=os.path.join(browser.dir, "legacy.js"))
        self.p.evaluate("([url, name]) => window.legacy.connect(url, name).then(() => true)", [d.ws_url("/"), name])

    def state(self):
        return self.p.evaluate("""() => ({seen: legacy.seen, unknown: legacy.unknown, errors: legacy.errors,
                                          received: legacy.received, sent: legacy.sent, users: legacy.users,
                                          log: legacy.log})""")

    def send_file(self, to, name, size, mode, timeout=60):
        return self.p.evaluate("([to, name, size, mode]) => legacy.sendFile(to, name, size, mode)",
                               [to, name, size, mode], timeout=timeout)

    def wait_received(self, n, timeout=60):
        return self.p.wait_for("(n) => legacy.received.length >= n && legacy.received", n, timeout=timeout,
                               describe="() => ({log: legacy.log.slice(-10), seen: legacy.seen.slice(-10)})",
                               what="%d file(s) received by the old client" % n)

    def screenshot(self, test):
        path = os.path.join(artifacts_dir(), "%s-%s.png" % (test, self.role))
        self.p.screenshot(path)
        return path


@pytest.fixture
def legacy_page(browser, web):
    def make(d, name, role):
        lp = LegacyPage(browser, d, name, role)
        web.track(lp)  # photographed and closed with the web pages
        return lp
    return make


def check_v1_only(seen_types, unknown, errors):
    assert not unknown, "the old client got messages v1 does not have: %r" % unknown[:5]
    assert not errors, "the old client got errors: %r" % errors
    assert "USERNAME_SET" in seen_types


def random_bytes(n):
    return os.urandom(n)


# ---------------------------------------------------------------- websocket mode

# legacy_ws comes before web in the arguments: it is set up first and so
# torn down last, after the pages' screenshots (which then still show it)

def test_old_websocket_client_sends_to_the_page(legacy_ws, web, daemon, tmp_path):
    d = daemon(config=page_config())
    bob = web(d, "bob", "receiver")
    bob.register()
    old = legacy_ws(d, "oldext")
    bob.wait_sees("oldext")
    data = random_bytes(3 * CHUNK + 12345)
    old.send_file("bob", "from the extension.bin", data)
    t = bob.wait_transfer("receive", "from the extension.bin", ["done", "failed", "cancelled"], timeout=60)
    assert t["status"] == "done", t
    assert t["protocol"] == "v1" and t["path"] == "relay" and t["peer"] == "oldext", t
    # an old client sends no digest: the page says so rather than "verified"
    assert t["sha256ok"] is None, t
    assert bob.p.texts('%s [data-testid="status"]' % bob.item(t)) == ["done (not verified: sent by an older client)"]
    dl = bob.save(t)
    assert dl["suggested"] == "from the extension.bin"
    assert sha256_file(dl["path"]) == hashlib.sha256(data).hexdigest()
    check_v1_only(old.types, old.unknown, old.errors)


@pytest.mark.parametrize("query", ["p2p=off", "p2pTimeout=1000"], ids=["p2p-off", "webrtc-ignored"])
def test_page_sends_to_old_websocket_client(legacy_ws, web, daemon, tmp_path, query):
    """The page sends to a client without WebRTC: directly in websocket mode
    (p2p off), or after its webrtc offer went unanswered for p2pTimeout."""
    d = daemon(config=page_config())
    alice = web(d, "alice", "sender", query)
    alice.register()
    old = legacy_ws(d, "oldext")
    path = os.path.join(str(tmp_path), "for the extension.bin")
    with open(path, "wb") as f:
        f.write(random_bytes(2 * CHUNK + 777))
    alice.send("oldext", [path])
    t = alice.wait_transfer("send", "for the extension.bin", ["sent", "done", "failed", "cancelled"], timeout=60)
    assert t["status"] == "sent" and t["protocol"] == "v1" and t["path"] == "relay", t
    files = old.wait_files(1, timeout=30)
    f = files[0]
    assert f["sender"] == "alice" and f["name"] == "for the extension.bin" and f["mode"] == "websocket", f
    assert f["fileName"] == "for the extension.bin"
    assert f["size"] == os.path.getsize(path) == len(f["data"])
    assert hashlib.sha256(f["data"]).hexdigest() == sha256_file(path)
    # 256 KiB chunks at their offsets, in order
    offsets = [o for o, _ in f["chunks"]]
    assert offsets == list(range(0, f["size"], CHUNK)), offsets
    assert all(n == CHUNK for _, n in f["chunks"][:-1]), f["chunks"]
    if query == "p2p=off":
        assert [m["transferMode"] for m in old.metas] == ["websocket"]
    else:
        # first the webrtc offer nobody answered, then the same file by websocket
        assert [m["transferMode"] for m in old.metas] == ["webrtc", "websocket"]
        assert "WEBRTC_OFFER" in old.types
    check_v1_only(old.types, old.unknown, old.errors)


# ---------------------------------------------------------------- webrtc mode

def test_old_webrtc_client_sends_to_the_page(web, daemon, legacy_page):
    d = daemon(config=page_config())
    bob = web(d, "bob", "receiver")
    bob.register()
    old = legacy_page(d, "oldext", "sender")
    bob.wait_sees("oldext")
    size = 5 * 1024 * 1024 + 4321
    sent = old.send_file("bob", "webrtc from the extension.bin", size, "webrtc")
    assert sent["messages"] == math.ceil(size / CHUNK)
    t = bob.wait_transfer("receive", "webrtc from the extension.bin", ["done", "failed", "cancelled"], timeout=60)
    assert t["status"] == "done" and t["protocol"] == "v1" and t["path"] == "p2p", t
    assert t["sha256ok"] is None, t
    dl = bob.save(t)
    assert dl["suggested"] == "webrtc from the extension.bin"
    assert os.path.getsize(dl["path"]) == size
    assert sha256_file(dl["path"]) == sent["sha256"]
    st = old.state()
    check_v1_only(st["seen"], st["unknown"], st["errors"])
    assert "WEBRTC_ANSWER" in st["seen"]


def test_page_sends_to_old_webrtc_client(web, daemon, legacy_page, tmp_path):
    d = daemon(config=page_config())
    old = legacy_page(d, "oldext", "receiver")
    alice = web(d, "alice", "sender")
    alice.register()
    path = os.path.join(str(tmp_path), "webrtc for the extension.bin")
    size = 5 * 1024 * 1024 + 99
    with open(path, "wb") as f:
        f.write(random_bytes(size))
    alice.send("oldext", [path])
    got = old.wait_received(1, timeout=60)[0]
    assert got["sender"] == "alice" and got["mode"] == "webrtc" and got["via"] == "webrtc", got
    assert got["name"] == "webrtc for the extension.bin" and got["size"] == size == got["bytes"], got
    assert got["sha256"] == sha256_file(path)
    # the old client's message size: 256 KiB binary messages
    assert got["largest"] == CHUNK and got["messages"] == math.ceil(size / CHUNK), got
    t = alice.wait_transfer("send", "webrtc for the extension.bin", ["sent", "done", "failed", "cancelled"])
    assert t["status"] == "sent" and t["protocol"] == "v1" and t["path"] == "p2p", t
    st = old.state()
    check_v1_only(st["seen"], st["unknown"], st["errors"])
    assert "WEBRTC_OFFER" in st["seen"]


def test_page_sends_two_files_to_old_webrtc_client(web, daemon, legacy_page, tmp_path):
    """Old clients get one peer connection per file, one after the other:
    the first file must be whole before its connection makes way for the
    next (a file marked sent while bytes were still in flight was cut)."""
    d = daemon(config=page_config())
    old = legacy_page(d, "oldext", "receiver")
    alice = web(d, "alice", "sender")
    alice.register()
    paths = []
    for i, size in enumerate((3 * 1024 * 1024 + 7, 1000)):
        p = os.path.join(str(tmp_path), "part%d.bin" % i)
        with open(p, "wb") as f:
            f.write(random_bytes(size))
        paths.append(p)
    alice.send("oldext", paths)
    got = old.wait_received(2, timeout=90)
    by_name = {g["name"]: g for g in got}
    for p in paths:
        g = by_name[os.path.basename(p)]
        assert g["mode"] == "webrtc" and g["via"] == "webrtc", g
        assert g["bytes"] == g["size"] == os.path.getsize(p), g
        assert g["sha256"] == sha256_file(p), g
    for p in paths:
        t = alice.wait_transfer("send", os.path.basename(p), ["sent", "done", "failed", "cancelled"])
        assert t["status"] == "sent", t
