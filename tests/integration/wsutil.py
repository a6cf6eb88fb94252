"""WebSocket helpers for the test_ws_*.py integration tests.

Two kinds of client:

* RawWS: a blocking socket that speaks RFC 6455 by hand, with a tiny frame
  encoder that can break the rules on purpose (unmasked frames, RSV bits,
  reserved opcodes, fragments, invalid UTF-8) and a frame reader that
  records every control frame the server sends.
* Client: a python3-websockets (10.4) asyncio connection with a reader task
  that puts every JSON message in an inbox, so a test can wait for the
  message it wants (with a timeout) while USER_LISTs keep arriving.

Workers: the 101 response carries X-RTFT-Worker: <slot>, and the kernel
picks the worker (SO_REUSEPORT), so connect_on()/raw_on() open connections
until one lands where the test needs it (bounded tries), closing the others.
No fixed sleeps: everything waits on a message, a close or an EOF, with a
timeout.
"""

import asyncio
import base64
import hashlib
import json
import os
import socket
import struct
import time

import pytest

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10

# default time to wait for one expected message
T = 5.0


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def new_key():
    return base64.b64encode(os.urandom(16)).decode()


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"))


# ---------------------------------------------------------------- raw frames

def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None):
    """One frame. rsv: the three RSV bits as a number 0..7 (4 = RSV1)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return head + key + mask_bytes(payload, key)


def mask_bytes(payload, key):
    if not payload:
        return b""
    # XOR with the repeated key, fast enough for a few MB
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Frame:
    def __init__(self, fin, rsv, opcode, payload):
        self.fin, self.rsv, self.opcode, self.payload = fin, rsv, opcode, payload

    @property
    def close_code(self):
        return struct.unpack("!H", self.payload[:2])[0] if len(self.payload) >= 2 else None

    @property
    def close_reason(self):
        return self.payload[2:].decode("utf-8", "replace")

    def __repr__(self):
        return "Frame(fin=%s, rsv=%d, opcode=%d, %d bytes: %r)" % (self.fin, self.rsv, self.opcode,
                                                                  len(self.payload), self.payload[:80])


class EOF(Exception):
    pass


def http_request(path, key, extra=None, version="13", host="127.0.0.1"):
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket", "Connection: Upgrade"]
    if key is not None:
        lines.append("Sec-WebSocket-Key: %s" % key)
    if version is not None:
        lines.append("Sec-WebSocket-Version: %s" % version)
    for k, v in (extra or {}).items():
        lines.append("%s: %s" % (k, v))
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawWS:
    """A WebSocket client on a plain socket. The constructor does the
    handshake; check .status (101 unless something is wrong)."""

    def __init__(self, port, path="/ws", rcvbuf=None, headers=None, key=None, version="13", after=b"",
                 timeout=10, request=None, source=None):
        """source: a loopback address (127.0.0.2, ...) to connect from."""
        self.port = port
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # before connect, so the window is small from the start
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if source:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.buf = b""
        self.eof = False
        self.key = new_key() if key is None else key
        self.pings = []   # payloads of the pings the server sent
        self.pongs = []   # payloads of the pongs the server sent
        self.frames = []  # every frame read, in order
        self.close_frame = None
        if request is None:
            request = http_request(path, self.key if key != "" else None, headers, version)
        s.sendall(request + after)
        head = self._read_until(b"\r\n\r\n", timeout)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), "not an HTTP response: %r" % head[:200]
        self.status = int(parts[1])
        self.headers = {}
        self.header_lines = lines[1:]
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 101:
            n = int(self.headers.get("content-length", "0"))
            self._need(n, timeout)
            self.body, self.buf = self.buf[:n], self.buf[n:]

    # ---- bytes ----
    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data from the server in time (have %d bytes)" % len(self.buf))
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError("no data from the server in time (have %d bytes)" % len(self.buf))
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise EOF()
        self.buf += data

    def _read_until(self, marker, timeout):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _need(self, n, timeout, deadline=None):
        deadline = deadline or time.monotonic() + timeout
        while len(self.buf) < n:
            self._fill(deadline)

    @property
    def worker(self):
        w = self.headers.get("x-rtft-worker")
        return int(w) if w is not None else None

    def json(self):
        return json.loads(self.body)

    # ---- sending ----
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(encode_frame(opcode, payload, **kw))

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_json(self, obj):
        self.send_text(jdump(obj))

    def send_close(self, code=1000, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # ---- receiving ----
    def recv_frame(self, timeout=T):
        """The next frame; raises EOF at end of stream, TimeoutError."""
        deadline = time.monotonic() + timeout
        self._need(2, timeout, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "the server sent a masked frame (RFC 6455 5.1 forbids it)"
        n = b1 & 0x7F
        pos = 2
        if n == 126:
            self._need(4, timeout, deadline)
            n = struct.unpack("!H", self.buf[2:4])[0]
            pos = 4
        elif n == 127:
            self._need(10, timeout, deadline)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            pos = 10
        self._need(pos + n, timeout, deadline)
        f = Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, self.buf[pos:pos + n])
        self.buf = self.buf[pos + n:]
        self.frames.append(f)
        if f.opcode == OP_PING:
            self.pings.append(f.payload)
        elif f.opcode == OP_PONG:
            self.pongs.append(f.payload)
        elif f.opcode == OP_CLOSE:
            self.close_frame = f
        return f

    def recv_message(self, timeout=T, answer_pings=True):
        """The next data message as (opcode, payload), reassembled; a close
        frame gives (OP_CLOSE, frame). Pings are answered if answer_pings."""
        deadline = time.monotonic() + timeout
        parts, op = [], None
        while True:
            f = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if f.opcode == OP_PING:
                if answer_pings:
                    self.send_frame(OP_PONG, f.payload)
                continue
            if f.opcode == OP_PONG:
                continue
            if f.opcode == OP_CLOSE:
                return OP_CLOSE, f
            if op is None:
                op = f.opcode
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def recv_json(self, timeout=T, skip=("USER_LIST",), answer_pings=True):
        """The next JSON message whose type is not in skip."""
        deadline = time.monotonic() + timeout
        while True:
            op, payload = self.recv_message(max(0.001, deadline - time.monotonic()), answer_pings)
            assert op != OP_CLOSE, "the server closed (code %s, %r) while a message was expected" % (
                payload.close_code, payload.close_reason)
            assert op == OP_TEXT, "expected a text message, got opcode %d" % op
            m = json.loads(payload)
            if m.get("type") not in skip:
                return m

    def register(self, name, timeout=T):
        self.send_json({"type": "SET_USERNAME", "username": name})
        m = self.recv_json(timeout)
        assert m == {"type": "USERNAME_SET", "username": name, "availableUsers": m.get("availableUsers")}, m
        return m

    def expect_close(self, timeout=T, answer_pings=True):
        """Reads until the server's close frame: returns it (data messages
        before it are ignored). Fails on EOF without a close frame."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                op, payload = self.recv_message(max(0.001, deadline - time.monotonic()), answer_pings)
            except EOF:
                pytest.fail("the server ended the TCP connection without a close frame")
            if op == OP_CLOSE:
                return payload

    def wait_eof(self, timeout=T):
        """True once the server ended the TCP stream (frames before are read and kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self.recv_frame(max(0.001, deadline - time.monotonic()))
        except EOF:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def raw_on(d, want, tries=200, **kw):
    """A RawWS whose X-RTFT-Worker satisfies want (an int, a collection of
    ints, or a predicate); the misses are closed."""
    ok = _wanter(want)
    for _ in range(tries):
        r = RawWS(d.port, **kw)
        assert r.status == 101, "handshake failed: %d %r" % (r.status, r.body)
        if ok(r.worker):
            return r
        r.close()
    pytest.fail("no connection landed on a worker matching %r in %d tries" % (want, tries))


def _wanter(want):
    if want is None:
        return lambda slot: True
    if callable(want):
        return want
    if isinstance(want, int):
        return lambda slot: slot == want
    s = set(want)
    return lambda slot: slot in s


# ---------------------------------------------------------------- websockets

class Client:
    """A python3-websockets connection with an inbox of decoded messages."""

    def __init__(self, ws):
        self.ws = ws
        self.inbox = []   # not yet taken by next()
        self.log = []     # every message, in arrival order
        self.bad = []     # text that was not JSON, binary messages
        self.close_code = None
        self.close_reason = None
        self.closed_at = None
        self._event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._reader())

    @classmethod
    async def open(cls, d, path="/ws", **kw):
        import websockets
        kw.setdefault("open_timeout", 10)
        kw.setdefault("max_size", None)
        kw.setdefault("compression", None)
        kw.setdefault("ping_interval", None)
        ws = await websockets.connect(d.ws_url(path), **kw)
        return cls(ws)

    @property
    def worker(self):
        return int(self.ws.response_headers["X-RTFT-Worker"])

    async def _reader(self):
        import websockets
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    self.bad.append(raw)
                else:
                    try:
                        m = json.loads(raw)
                    except ValueError:
                        self.bad.append(raw)
                        m = None
                    if m is not None:
                        self.inbox.append(m)
                        self.log.append(m)
                self._event.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self.closed_at = time.monotonic()
            self._event.set()

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else jdump(obj))

    async def _wait_change(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self._event.clear()
        try:
            await asyncio.wait_for(self._event.wait(), left)
        except asyncio.TimeoutError:
            return False
        return True

    def _find(self, pred):
        for i, m in enumerate(self.inbox):
            if pred(m):
                return self.inbox.pop(i)
        return None

    async def next(self, match=None, timeout=T, what=None):
        """The first inbox message matching (a type name, a predicate, or
        None for any), removed from the inbox; waits for it up to timeout."""
        pred = _matcher(match)
        deadline = time.monotonic() + timeout
        while True:
            m = self._find(pred)
            if m is not None:
                return m
            if self.closed_at is not None:
                pytest.fail("connection closed (code %s %r) while waiting for %s; inbox: %s" %
                            (self.close_code, self.close_reason, what or match, _short(self.inbox)))
            if not await self._wait_change(deadline):
                m = self._find(pred)
                if m is not None:
                    return m
                pytest.fail("no %s within %.1f s; inbox: %s" % (what or match, timeout, _short(self.inbox)))

    async def poll(self, match=None, timeout=T):
        """Like next(), but None (not a failure) when nothing matches in time."""
        pred = _matcher(match)
        deadline = time.monotonic() + timeout
        while True:
            m = self._find(pred)
            if m is not None or self.closed_at is not None:
                return m
            if not await self._wait_change(deadline):
                return self._find(pred)

    def take(self, match=None):
        """Removes and returns every inbox message matching, now."""
        pred = _matcher(match)
        out = [m for m in self.inbox if pred(m)]
        self.inbox = [m for m in self.inbox if not pred(m)]
        return out

    def pending(self, match=None):
        pred = _matcher(match)
        return [m for m in self.inbox if pred(m)]

    async def register(self, name, timeout=T):
        await self.send({"type": "SET_USERNAME", "username": name})
        m = await self.next(lambda m: m.get("type") in ("USERNAME_SET", "USERNAME_ERROR", "ERROR"), timeout,
                            "an answer to SET_USERNAME %r" % name)
        assert m.get("type") == "USERNAME_SET" and m.get("username") == name, \
            "SET_USERNAME %r was answered %r" % (name, m)
        return m

    def mark(self):
        """A position in the log, for ping(since=...)."""
        return len(self.log)

    async def ping(self, timeout=T, since=None):
        """PING -> PONG, returning the messages that came before the PONG
        (since the position since, default: since this call)."""
        before = len(self.log) if since is None else since
        await self.send({"type": "PING"})
        pong = await self.next("PONG", timeout)
        assert pong == {"type": "PONG"}, pong
        idx = max(i for i, m in enumerate(self.log) if m is pong)
        return self.log[before:idx]

    async def wait_closed(self, timeout=T):
        """The close code once the connection is closed; fails after timeout."""
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except asyncio.TimeoutError:
            pytest.fail("the connection was not closed within %.1f s" % timeout)
        return self.close_code

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass
        self._task.cancel()
        try:
            await self._task
        except BaseException:
            pass


def _matcher(match):
    if match is None:
        return lambda m: True
    if isinstance(match, str):
        return lambda m: m.get("type") == match
    return match


def _short(msgs, n=8):
    out = []
    for m in msgs[-n:]:
        s = jdump(m)
        out.append(s if len(s) < 200 else s[:200] + "...")
    return "[%d messages] %s" % (len(msgs), " | ".join(out))


async def connect_on(d, want=None, tries=200, path="/ws", **kw):
    """A Client on a worker satisfying want (int, collection, predicate)."""
    ok = _wanter(want)
    for _ in range(tries):
        c = await Client.open(d, path, **kw)
        if ok(c.worker):
            return c
        await c.close()
    pytest.fail("no WebSocket landed on a worker matching %r in %d tries" % (want, tries))


async def clients_on_distinct_workers(d, n, tries=300, **kw):
    """n Clients, each on a different worker."""
    out = []
    for _ in range(n):
        used = {c.worker for c in out}
        out.append(await connect_on(d, lambda s, used=used: s not in used, tries, **kw))
    return out


async def close_all(clients):
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


def run(coro, timeout=120):
    """Runs a test's coroutine with an overall time limit."""
    async def main():
        return await asyncio.wait_for(coro, timeout)
    return asyncio.run(main())


# ---------------------------------------------------------------- processes

def vmrss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def daemon_rss_bytes(d):
    """Sum of VmRSS over the master and all its children."""
    pids = [d.pid] + list(d.all_children())
    return sum(vmrss_kib(p) for p in pids) * 1024


_SANITIZED = {}


def sanitized_binary():
    """True when $RTFTD_BIN is built with AddressSanitizer: its quarantine
    keeps freed memory resident, so RSS limits say nothing then."""
    path = os.environ.get("RTFTD_BIN", "")
    if path not in _SANITIZED:
        try:
            with open(path, "rb") as f:
                _SANITIZED[path] = b"__asan_init" in f.read()
        except OSError:
            _SANITIZED[path] = False
    return _SANITIZED[path]


def check_rss(rss, limit, what):
    """Asserts rss < limit, except under AddressSanitizer (printed only)."""
    if sanitized_binary():
        print("RSS %.0f MiB (%s; not checked under AddressSanitizer)" % (rss / 1048576, what))
        return
    assert rss < limit, "the daemon's RSS reached %.0f MiB (limit %.0f MiB): %s" % (
        rss / 1048576, limit / 1048576, what)
