"""Helpers shared by the integration tests and their fixtures (no fixtures here)."""

import os
import socket
import subprocess
import time

import pytest

# Lines that fail any test whose daemon printed them.
BAD_LOG_MARKERS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "assertion failed")

# Passed on to the daemon when set, so a sanitizer build can be tuned from
# outside; nothing else of the test runner's environment reaches it.
PASSTHROUGH_ENV = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")


def rtftd_bin():
    path = os.environ.get("RTFTD_BIN")
    if not path:
        pytest.fail("RTFTD_BIN is not set: point it at the built rtftd (build/src/rtftd)")
    if not os.access(path, os.X_OK):
        pytest.fail("RTFTD_BIN=%s is not an executable file: build rtftd first" % path)
    return path


def srcdir():
    return os.environ.get("RT_SRCDIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port(kind=socket.SOCK_STREAM):
    """A TCP (or, with SOCK_DGRAM, UDP) port on 127.0.0.1 that nobody had
    bound a moment ago."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def read_text(path):
    """A log file's text ("" while it does not exist), bad UTF-8 replaced."""
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def port_free(port, kind=socket.SOCK_STREAM):
    """True when port on 127.0.0.1 can be bound now (TCP, or UDP)."""
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_for(cond, timeout, what, interval=0.02):
    """Polls cond() until it returns something truthy; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def clean_env(extra=None):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for k in PASSTHROUGH_ENV:
        if k in os.environ:
            env[k] = os.environ[k]
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def run_rtftd(args, env=None, timeout=30):
    """One-shot run (-t, --migrate-only, ...): returns (rc, stdout, stderr)."""
    p = subprocess.run([rtftd_bin()] + list(args), env=clean_env(env), stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    for marker in BAD_LOG_MARKERS:
        if marker in p.stderr:
            pytest.fail("rtftd %s printed %r (exit %d):\n%s" % (" ".join(args), marker, p.returncode, p.stderr))
    return p.returncode, p.stdout, p.stderr


def write_config(path, values):
    with open(path, "w") as f:
        for k, v in values.items():
            if v is None:
                continue
            f.write("%s = %s\n" % (k, v))


def proc_title(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace").strip()


def proc_ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"




# ---- raw HTTP on a socket, for what http.client will not send ----

def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (last one wins)
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        import json
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 responses (Content-Length bodies) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.error = None

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError as e:
            self.error = e
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def response(self):
        """The next response, or None at EOF before one starts."""
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                if self.buf:
                    raise AssertionError("connection ended inside a response head: %r" % self.buf[:300])
                return None
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = (lines[0].split(" ", 2) + [""])[:3]
        assert version.startswith("HTTP/1."), "not an HTTP response: %r" % head[:200]
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            if not self._fill():
                raise AssertionError("connection ended inside a body: %d of %d bytes" % (len(self.buf), n))
        body, self.buf = self.buf[:n], self.buf[n:]
        return Response(int(status), reason, headers, body, head)

    def at_eof(self):
        """True once the peer closed with nothing more to read."""
        while not self.eof:
            if not self._fill():
                break
        return self.eof and not self.buf


def recv_until(sock, done, timeout=3):
    """Reads from sock until done(bytes so far) is true, the peer closes,
    or timeout seconds pass; returns what was read."""
    buf = b""
    deadline = time.monotonic() + timeout
    while not done(buf) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        if not data:
            break
        buf += data
    return buf


def raw_exchange(port, data, timeout=10):
    """Sends data on a new connection, then reads the first response."""
    s = connect(port, timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before taking it all
        return Reader(s).response()
    finally:
        s.close()


def server_unread_bytes(server_port, client_port):
    """Bytes the server side of 127.0.0.1:client_port -> :server_port has
    not read yet (rx_queue in /proc/net/tcp), or None if no such socket."""
    want_local = "0100007F:%04X" % server_port
    want_remote = "0100007F:%04X" % client_port
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[1] == want_local and fields[2] == want_remote:
                return int(fields[4].split(":")[1], 16)
    return None


def wait_server_read(server_port, sock, timeout=10):
    """Waits until the server has read everything sent on sock so far."""
    client_port = sock.getsockname()[1]
    wait_for(lambda: server_unread_bytes(server_port, client_port) == 0, timeout,
             "the server to read the bytes sent from port %d" % client_port)
