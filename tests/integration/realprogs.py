"""Real programs for the browser, interop, TURN and edge tests.

* Coturn: coturn's turnserver on 127.0.0.1 with use-auth-secret (the TURN
  REST API credentials rtftd mints), verbose log kept in a file, a small
  relay port range; turnutils_uclient runs against it.
* Browser: Debian's chromium, headless, driven by playwright-core through
  tests/browser/driver.mjs (a Node process that takes one JSON request a
  line and answers one JSON line).
* Nginx: Debian's nginx running the nginx example of man/rtftd.8 (made
  runnable on loopback, TLS-less) in front of one rtftd; it connects to
  rtftd from 127.0.0.3 (proxy_bind).
* private_net: the browser tests run in a network namespace of their own.
  Chromium's WebRTC never gathers candidates on the loopback interface, so
  on the host it would send its connectivity checks to the machine's
  Ethernet address and mDNS queries out of the Ethernet port. In the
  namespace there is only lo and a veth pair whose two ends both stay in
  the namespace (198.18.0.1/24, the default route, where any stray packet
  dies), so nothing these tests do can leave the machine. The pytest
  process enters it for the module and goes back at the end; rtftd, coturn,
  node and chromium started meanwhile live in it.

None of these programs is optional: CI installs them (packaging/deps.sh
--test), so a missing one fails the test with what to install.
"""

import base64
import ctypes
import hashlib
import hmac
import json
import os
import queue
import random
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

from helpers import free_port, port_free, read_text, srcdir, wait_for

TURNSERVER = "/usr/bin/turnserver"
UCLIENT = "/usr/bin/turnutils_uclient"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def require(path, package, why=""):
    """Fails (never skips) when a program the tests need is missing."""
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("%s is missing%s: apt-get install %s (packaging/deps.sh --test installs it)" %
                    (path, " (" + why + ")" if why else "", package))
    return path


def which(name, package):
    path = shutil.which(name)
    if not path:
        pytest.fail("%s is not on PATH: apt-get install %s (packaging/deps.sh --test installs it)" % (name, package))
    return path


def artifacts_dir():
    """Where screenshots are kept: $RT_ARTIFACTS, else <repo>/build/artifacts/screenshots
    (else, when the source tree is read-only as under make distcheck,
    $RT_BUILDDIR/artifacts/screenshots)."""
    want = os.environ.get("RT_ARTIFACTS")
    if want:
        os.makedirs(want, exist_ok=True)
        return want
    tried = []
    for base in (os.path.join(srcdir(), "build"), os.environ.get("RT_BUILDDIR")):
        if not base:
            continue
        d = os.path.join(base, "artifacts", "screenshots")
        try:
            os.makedirs(d, exist_ok=True)
        except OSError as e:
            tried.append("%s: %s" % (d, e))
            continue
        if os.access(d, os.W_OK):
            return d
        tried.append("%s: not writable" % d)
    pytest.fail("no folder for screenshots (set RT_ARTIFACTS): %s" % "; ".join(tried))


# ---------------------------------------------------------------- TURN REST API credentials

def turn_password(secret, username):
    """coturn's use-auth-secret password: base64(HMAC-SHA1(secret, username))."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


def turn_username(expiry, user):
    return "%d:%s" % (expiry, user)


# ---------------------------------------------------------------- ports

def udp_port_free(port):
    return port_free(port, socket.SOCK_DGRAM)


def free_tcp_udp_port():
    """A port free for both TCP and UDP on 127.0.0.1 (a TURN listener takes both)."""
    for _ in range(100):
        p = free_port()
        if udp_port_free(p):
            return p
    pytest.fail("no port free for both TCP and UDP on 127.0.0.1")


def free_udp_range(n):
    """n consecutive UDP ports below the kernel's ephemeral range, all free now."""
    for _ in range(200):
        base = random.randrange(12000, 30000 - n)
        if all(udp_port_free(p) for p in range(base, base + n)):
            return base, base + n - 1
    pytest.fail("no range of %d free UDP ports on 127.0.0.1" % n)


def stun_binding(port, host="127.0.0.1", timeout=0.3):
    """Sends a STUN Binding request over UDP; True when a Binding success answers."""
    tid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(req, (host, port))
        data, _ = s.recvfrom(2048)
    except OSError:
        return False
    finally:
        s.close()
    return len(data) >= 20 and struct.unpack("!H", data[:2])[0] == 0x0101 and data[8:20] == tid


# ---------------------------------------------------------------- coturn

class Coturn:
    """One turnserver on 127.0.0.1, use-auth-secret, no TLS/DTLS, no CLI, no config file."""

    def __init__(self, root, secret, realm="rtft.test", relay_ports=16, extra=None):
        require(TURNSERVER, "coturn")
        self.dir = tempfile.mkdtemp(prefix="coturn-", dir=root)
        self.secret = secret
        self.realm = realm
        self.port = free_tcp_udp_port()
        self.min_port, self.max_port = free_udp_range(relay_ports)
        self.log_path = os.path.join(self.dir, "turnserver.log")
        self.pidfile = os.path.join(self.dir, "turnserver.pid")
        self.argv = [TURNSERVER, "-n", "--no-cli", "-v",
                     "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1",
                     "--listening-port", str(self.port),
                     "--min-port", str(self.min_port), "--max-port", str(self.max_port),
                     "--no-tls", "--no-dtls", "--no-rfc5780", "--no-multicast-peers",
                     "--use-auth-secret", "--static-auth-secret", secret, "--realm", realm,
                     "--allow-loopback-peers",
                     "--userdb", os.path.join(self.dir, "turndb"),
                     "--pidfile", self.pidfile,
                     "--log-file", "stdout", "--simple-log"] + list(extra or [])
        self.proc = None
        self.log_file = None

    @property
    def url(self):
        return "turn:127.0.0.1:%d?transport=udp" % self.port

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + 20
        while not stun_binding(self.port):
            if self.proc.poll() is not None:
                pytest.fail("turnserver exited %s at start:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                pytest.fail("turnserver did not answer a STUN binding on 127.0.0.1:%d within 20 s\n%s" %
                            (self.port, self.log_tail()))
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def log_text(self):
        return read_text(self.log_path)

    def log_tail(self, n=40):
        lines = self.log_text().splitlines()
        return "---- turnserver log (last %d lines) ----\n%s" % (n, "\n".join(lines[-n:]))

    def allocations(self):
        """(username, success) for every ALLOCATE the log shows (coturn's -v lines:
        'session ...: realm <R> user <U>: incoming packet ALLOCATE processed, success')."""
        out = []
        for line in self.log_text().splitlines():
            if "incoming packet ALLOCATE processed" not in line:
                continue
            i = line.find(" user <")
            if i < 0:
                continue
            j = line.find(">", i)
            out.append((line[i + 7:j], line.rstrip().endswith("success")))
        return out

    def uclient(self, username, password, messages=3, length=100, timeout=60):
        """turnutils_uclient in client-to-client mode (-y): two allocations made
        with username/password send messages to each other through the relay.
        Returns the CompletedProcess (stdout and stderr together)."""
        require(UCLIENT, "coturn")
        argv = [UCLIENT, "-y", "-c", "-n", str(messages), "-l", str(length), "-z", "5",
                "-p", str(self.port), "-u", username, "-w", password, "-e", "127.0.0.1", "127.0.0.1"]
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            pytest.fail("turnutils_uclient did not finish within %d s:\n%s" % (timeout, e.stdout))


@pytest.fixture
def coturn(tmp_path):
    """Factory: coturn(secret) -> a started Coturn; stopped at teardown."""
    made = []

    def make(secret, **kw):
        c = Coturn(str(tmp_path), secret, **kw)
        made.append(c)
        return c.start()

    yield make
    for c in made:
        c.stop()


# ---------------------------------------------------------------- a private network namespace

CLONE_NEWNET = 0x40000000
PRIVATE_ADDR = "198.18.0.1"


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _sysctl(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass


def enter_private_net():
    """Moves this thread (and what it starts from now on) into a new network
    namespace: lo up, and a veth pair with 198.18.0.1/24 and the default
    route (WebRTC needs a non-loopback interface to gather candidates on).
    Returns a descriptor of the namespace to go back to."""
    ip = which("ip", "iproute2")
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        os.close(orig)
        pytest.fail("unshare(CLONE_NEWNET) failed: %s (the browser tests run as root in a network namespace "
                    "of their own)" % os.strerror(err))
    try:
        for argv in (["link", "set", "lo", "up"],
                     ["link", "add", "rtb0", "type", "veth", "peer", "name", "rtb1"],
                     ["addr", "add", PRIVATE_ADDR + "/24", "dev", "rtb0"],
                     ["link", "set", "rtb0", "up"],
                     ["link", "set", "rtb1", "up"],
                     ["route", "add", "default", "dev", "rtb0"]):
            p = subprocess.run([ip] + argv, capture_output=True, text=True, timeout=10)
            if p.returncode != 0:
                pytest.fail("ip %s (in the private network namespace) failed: %s" % (" ".join(argv), p.stderr))
        for dev in ("rtb0", "rtb1"):
            _sysctl("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % dev, "1")
    except BaseException:
        leave_private_net(orig)
        raise
    return orig


def leave_private_net(orig):
    libc = _libc()
    try:
        if libc.setns(orig, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back to the original network namespace failed")
    finally:
        os.close(orig)


@pytest.fixture(scope="module")
def private_net():
    orig = enter_private_net()
    try:
        yield PRIVATE_ADDR
    finally:
        leave_private_net(orig)


# ---------------------------------------------------------------- chromium through playwright-core

BROWSER_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "browser"))


def browser_dir():
    """tests/browser with driver.mjs and node_modules/playwright-core
    (npm ci --prefix tests/browser). Tests run from an unpacked release
    tarball (make distcheck unpacks it under the checkout's build/) have
    neither: then the nearest checkout above that has them is used."""
    def usable(d):
        return (os.path.isfile(os.path.join(d, "driver.mjs")) and
                os.path.isfile(os.path.join(d, "node_modules", "playwright-core", "package.json")))
    if usable(BROWSER_DIR):
        return BROWSER_DIR
    d = os.path.dirname(os.path.dirname(BROWSER_DIR))
    while True:
        cand = os.path.join(d, "tests", "browser")
        if usable(cand):
            return cand
        up = os.path.dirname(d)
        if up == d:
            break
        d = up
    pytest.fail("playwright-core is not installed in %s: npm ci --prefix tests/browser "
                "(packaging/deps.sh --test runs it)" % BROWSER_DIR)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",                    # the tests run as root
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    # host candidates as plain addresses: mDNS names would need multicast
    # resolution between the two contexts, which says nothing about rtftd
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--no-first-run",
    "--no-default-browser-check",
    "--password-store=basic",
]


class DriverError(AssertionError):
    pass


class Browser:
    """One chromium and the node driver that holds it."""

    def __init__(self, workdir):
        self.node = which("node", "nodejs")
        require(CHROMIUM, "chromium")
        self.dir = browser_dir()
        self.driver = os.path.join(self.dir, "driver.mjs")
        self.workdir = workdir
        self.err_path = os.path.join(workdir, "driver.stderr")
        self.err_file = open(self.err_path, "ab")
        env = dict(os.environ)
        env["CHROMIUM"] = CHROMIUM
        env["PLAYWRIGHT_CORE"] = os.path.join(self.dir, "node_modules", "playwright-core")
        self.proc = subprocess.Popen([self.node, self.driver], cwd=os.path.dirname(self.driver),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err_file,
                                     env=env)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.n = 0
        self.version = self.call("launch", args=CHROMIUM_ARGS, timeout=60)["version"]
        print("chromium %s, playwright-core from %s" % (self.version, self.dir))

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def call(self, cmd, timeout=30, **kw):
        """One request; timeout (seconds) bounds the driver's own wait (sent
        as "ms"), and this side waits 15 s more for the answer."""
        self.n += 1
        req = dict(kw, id=self.n, cmd=cmd, ms=int(timeout * 1000))
        try:
            self.proc.stdin.write((json.dumps(req) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise DriverError("the browser driver is gone:\n%s" % self.stderr_tail())
        deadline = time.monotonic() + timeout + 15
        while True:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise DriverError("the browser driver did not answer %s within %.0f s" % (cmd, timeout + 15))
            if line is None:
                raise DriverError("the browser driver exited during %s:\n%s" % (cmd, self.stderr_tail()))
            try:
                resp = json.loads(line)
            except ValueError:
                continue  # not ours (a stray print)
            if resp.get("id") != self.n:
                continue
            if not resp.get("ok"):
                raise DriverError("%s failed: %s" % (cmd, resp.get("error")))
            return resp.get("result")

    def stderr_tail(self, n=30):
        try:
            with open(self.err_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("quit", timeout=15)
            except DriverError:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.err_file.close()

    def page(self, name, url=None, bypass_csp=False, downloads=None, viewport=None):
        """viewport: {"width": w, "height": h} (CSS pixels); the driver's default is 1100x800."""
        self.call("newPage", page=name, url=url, bypassCSP=bypass_csp, viewport=viewport,
                  downloads=downloads or os.path.join(self.workdir, "downloads-" + name), timeout=30)
        return Page(self, name, downloads or os.path.join(self.workdir, "downloads-" + name))


class Page:
    """A page in a context (profile) of its own."""

    def __init__(self, browser, name, downloads):
        self.b = browser
        self.name = name
        self.download_dir = downloads

    def goto(self, url):
        return self.b.call("goto", page=self.name, url=url)

    def evaluate(self, fn, arg=None, timeout=30):
        return self.b.call("evaluate", page=self.name, fn=fn, arg=arg, timeout=timeout)

    def wait_for(self, fn, arg=None, timeout=20, describe=None, what=None):
        try:
            return self.b.call("waitFor", page=self.name, fn=fn, arg=arg, describe=describe, timeout=timeout)
        except DriverError as e:
            raise DriverError("%s: waiting for %s: %s\n---- %s's console ----\n%s" %
                              (self.name, what or fn, e, self.name, "\n".join(self.log()[-30:])))

    def click(self, selector, timeout=15):
        return self.b.call("click", page=self.name, selector=selector, timeout=timeout)

    def fill(self, selector, value, timeout=15):
        return self.b.call("fill", page=self.name, selector=selector, value=value, timeout=timeout)

    def press(self, selector, key, timeout=15):
        return self.b.call("press", page=self.name, selector=selector, key=key, timeout=timeout)

    def key(self, key, timeout=15):
        """Presses key ("Tab", "Shift+Tab", "Enter", " ") on the page, wherever its focus is."""
        return self.b.call("key", page=self.name, key=key, timeout=timeout)

    def type(self, text, timeout=15):
        """Types text on the keyboard into whatever has the focus."""
        return self.b.call("type", page=self.name, text=text, timeout=timeout)

    def set_input_files(self, selector, files, timeout=15):
        return self.b.call("setInputFiles", page=self.name, selector=selector, files=list(files), timeout=timeout)

    def wait_selector(self, selector, state="visible", timeout=15):
        return self.b.call("waitForSelector", page=self.name, selector=selector, state=state, timeout=timeout)

    def count(self, selector):
        return self.b.call("count", page=self.name, selector=selector)

    def texts(self, selector):
        return self.b.call("text", page=self.name, selector=selector)

    def add_script(self, path=None, content=None):
        return self.b.call("addScript", page=self.name, path=path, content=content)

    def add_init_script(self, content):
        """Runs content in every document this page loads from now on, before the page's own scripts."""
        return self.b.call("addInitScript", page=self.name, content=content)

    def screenshot(self, path):
        return self.b.call("screenshot", page=self.name, path=path, timeout=30)

    def downloads(self):
        return self.b.call("downloads", page=self.name)

    def log(self):
        try:
            return self.b.call("log", page=self.name)
        except DriverError:
            return []

    def close(self):
        return self.b.call("closePage", page=self.name)

    def wait_downloads(self, n, timeout=30):
        """The first n saved downloads [{suggested, path, failure}], waiting for them."""
        def ready():
            d = self.downloads()
            done = [x for x in d if x["saved"]]
            return done if len(done) >= n else None
        got = wait_for(ready, timeout, "%d download(s) saved by %s (have %r)" % (n, self.name, self.downloads()),
                       interval=0.1)
        for x in got:
            assert not x["failure"], "%s: download %s failed: %s" % (self.name, x["suggested"], x["failure"])
        return got


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@pytest.fixture(scope="module")
def browser(private_net, tmp_path_factory):
    """One headless chromium for the module, inside the private network namespace."""
    b = Browser(str(tmp_path_factory.mktemp("browser")))
    try:
        yield b
    finally:
        b.close()


# ---------------------------------------------------------------- rtftd's web page (www/)

# Records, in every page of a context, the type of the candidate pair each
# RTCPeerConnection selected once it connected (getStats), in
# window.__rtftPairs: [{local, remote, localAddress, remoteAddress}], and
# keeps every RTCPeerConnection the page made in window.__rtftPcs.
RECORD_PAIRS = r"""
(() => {
	const Native = window.RTCPeerConnection;
	if (!Native || Native.__rtftWrapped)
		return;
	window.__rtftPairs = [];
	window.__rtftPcs = [];
	async function record(pc) {
		for (let i = 0; i < 40; i++) {
			const stats = await pc.getStats().catch(() => null);
			if (!stats)
				return;
			let pairId = null;
			stats.forEach((s) => {
				if (s.type === 'transport' && s.selectedCandidatePairId)
					pairId = s.selectedCandidatePairId;
			});
			if (!pairId)
				stats.forEach((s) => {
					if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated)
						pairId = s.id;
				});
			const pair = pairId && stats.get(pairId);
			if (pair) {
				const l = stats.get(pair.localCandidateId) || {};
				const r = stats.get(pair.remoteCandidateId) || {};
				window.__rtftPairs.push({ local: l.candidateType, remote: r.candidateType,
					localAddress: (l.address || l.ip) + ':' + l.port, remoteAddress: (r.address || r.ip) + ':' + r.port,
					relayProtocol: l.relayProtocol || null });
				return;
			}
			await new Promise((res) => setTimeout(res, 50));
		}
	}
	class Recorded extends Native {
		constructor(...args) {
			super(...args);
			window.__rtftPcs.push(this);
			let done = false;
			this.addEventListener('connectionstatechange', () => {
				if (!done && this.connectionState === 'connected') {
					done = true;
					record(this);
				}
			});
		}
	}
	Recorded.__rtftWrapped = true;
	window.RTCPeerConnection = Recorded;
})();
"""

STATE = "() => window.rtft ? window.rtft.state() : null"
TRANSFERS = "() => window.rtft ? window.rtft.state().transfers : null"

ONLINE = """(name) => {
	const s = window.rtft && window.rtft.state();
	return !!s && s.connection === 'online' && s.name === name && s;
}"""

SEES = """(other) => {
	const s = window.rtft && window.rtft.state();
	return !!s && s.users.includes(other);
}"""

# the transfer a = {direction, name, id?} once its status is one of a.statuses
TRANSFER_IN = """(a) => {
	const s = window.rtft && window.rtft.state();
	if (!s)
		return null;
	const t = s.transfers.find((t) => t.direction === a.direction && t.name === a.name && (!a.id || t.id === a.id));
	return t && a.statuses.includes(t.status) ? t : null;
}"""


def css_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class WebPage:
    """rtftd's page (GET /) in a context of its own, driven like a person would."""

    def __init__(self, browser, d, name, query="", record_pairs=False, role=None, viewport=None):
        self.name = name
        self.role = role or name
        url = d.url("/" + (("?" + query) if query else ""))
        self.p = browser.page(name, url=None, viewport=viewport)
        self.url = url
        self.record_pairs = record_pairs

    def open(self):
        if self.record_pairs:
            self.p.add_init_script(RECORD_PAIRS)
        status = self.p.goto(self.url)
        assert status == 200, "GET %s answered %s" % (self.url, status)
        self.p.wait_for("() => !!window.rtft", what="the page's window.rtft hook")
        return self

    def register(self):
        self.p.fill('[data-testid="name-input"]', self.name)
        self.p.click('[data-testid="connect-button"]')
        return self.p.wait_for(ONLINE, self.name, timeout=15, describe=STATE, what="%s online" % self.name)

    def state(self):
        return self.p.evaluate(STATE)

    def wait_sees(self, other, timeout=15):
        return self.p.wait_for(SEES, other, timeout=timeout, describe=STATE, what="%s in %s's list" % (other, self.name))

    def send(self, to, files):
        self.wait_sees(to)
        person = '[data-testid="user"][data-name=%s]' % css_str(to)
        # a click on the chosen person un-chooses them: click only when not chosen
        if self.p.count(person + '[aria-pressed="true"]') == 0:
            self.p.click(person)
            self.p.wait_selector(person + '[aria-pressed="true"]')
        self.p.set_input_files('[data-testid="file-input"]', files)
        self.p.wait_for("() => !document.querySelector('[data-testid=\"send-button\"]').disabled",
                        what="the Send button enabled")
        self.p.click('[data-testid="send-button"]')

    def wait_transfer(self, direction, name, statuses, tid=None, timeout=30):
        return self.p.wait_for(TRANSFER_IN, {"direction": direction, "name": name, "statuses": list(statuses),
                                             "id": tid},
                               timeout=timeout, describe=TRANSFERS,
                               what="%s's %s transfer of %s to be %s" % (self.name, direction, name, "/".join(statuses)))

    def item(self, t):
        return '[data-testid="transfer"][data-direction="%s"][data-transfer-id=%s]' % (t["direction"], css_str(t["id"]))

    def click_in(self, t, testid):
        self.p.click('%s [data-testid="%s"]' % (self.item(t), testid))

    def save(self, t, timeout=30):
        """Clicks the transfer's download link: {suggested (the file name the
        page gave), path (where the download was saved)}."""
        before = len(self.p.downloads())
        self.click_in(t, "download-link")
        got = self.p.wait_downloads(before + 1, timeout=timeout)
        return got[before]

    def pairs(self):
        return self.p.evaluate("() => window.__rtftPairs || []")

    def screenshot(self, test, role=None):
        path = os.path.join(artifacts_dir(), "%s-%s.png" % (test, role or self.role))
        self.p.screenshot(path)
        return path


def screenshot_name(request):
    """<test> for screenshot files: the test function's name (parameters joined with -)."""
    n = request.node.name
    return n.replace("[", "-").replace("]", "").replace("/", "_")


@pytest.fixture
def web(browser, daemon, request):
    """Factory: web(d, name, role, query="", record_pairs=False, viewport=None) -> an open
    WebPage (viewport: {"width", "height"} in CSS pixels, else the driver's default).
    At teardown (before the daemon stops) each page is photographed, then closed."""
    made = []

    def make(d, name, role, query="", record_pairs=False, viewport=None):
        w = WebPage(browser, d, name, query=query, record_pairs=record_pairs, role=role, viewport=viewport)
        made.append(w)
        return w.open()

    # anything else to photograph and close at the end (.screenshot(test), .p.close())
    make.track = made.append
    yield make
    test = screenshot_name(request)
    problems = []
    for w in made:  # every page first, while all are still open
        try:
            w.screenshot(test)
        except Exception as e:  # a screenshot must not hide the test's own failure
            problems.append("screenshot of %s: %s" % (w.name, e))
    for w in made:
        try:
            w.p.close()
        except Exception:
            pass
    if problems:
        print("\n".join(problems))


# ---------------------------------------------------------------- nginx in front

NGINX = "/usr/sbin/nginx"

# what nginx needs around the example's map and server blocks: everything
# in a temporary prefix, in the foreground, logs kept for failures
NGINX_SKELETON = """# written by tests/integration/realprogs.py around the example of rtftd(8)
daemon off;
master_process on;
worker_processes 1;
%(user)s
error_log %(dir)s/error.log info;
pid %(dir)s/nginx.pid;
events {
    worker_connections 256;
}
http {
    access_log %(dir)s/access.log;
    client_body_temp_path %(dir)s/client_body;
    proxy_temp_path %(dir)s/proxy;
    fastcgi_temp_path %(dir)s/fastcgi;
    uwsgi_temp_path %(dir)s/uwsgi;
    scgi_temp_path %(dir)s/scgi;

%(example)s
}
"""

# what the example must say for rtftd to work behind it (issue 11)
NGINX_EXAMPLE_MUST = (
    "proxy_http_version 1.1;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "default upgrade;",
    "proxy_set_header Host $host;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "return 301 https://$host$request_uri;",
)


def unroff(text):
    """The text of a man page's .EX block as it is meant to be read."""
    return (text.replace("\\-", "-").replace("\\(aq", "'").replace("\\(dq", '"').replace("\\e", "\\")
            .replace("\\&", ""))


def man_nginx_example():
    """The nginx example of man/rtftd.8 (the .EX block with the proxy_pass
    to rtftd), roff escapes undone. Fails when it is not there."""
    text = read_text(os.path.join(srcdir(), "man", "rtftd.8"))
    blocks = [b.split("\n.EE", 1)[0] for b in text.split("\n.EX\n")[1:]]
    found = [unroff(b) for b in blocks if "proxy_pass http://127.0.0.1:8080;" in b]
    if len(found) != 1:
        pytest.fail("man/rtftd.8 should hold exactly one nginx example with proxy_pass http://127.0.0.1:8080 "
                    "(found %d)" % len(found))
    return found[0]


def nginx_conf_from_example(example, https_port, http_port, upstream_port, proxy_bind):
    """The example made runnable on loopback: its TLS listener becomes plain
    (TLS-less, so $scheme is http) on https_port, its port 80 listener
    http_port, rtftd is upstream_port, and nginx connects from proxy_bind.
    Each substitution must match exactly once, so the example cannot drift
    from what the tests run."""
    for must in NGINX_EXAMPLE_MUST:
        if must not in example:
            pytest.fail("the nginx example of rtftd(8) lacks %r" % must)
    subs = (("listen 443 ssl;", "listen 127.0.0.1:%d;" % https_port),
            ("listen 80;", "listen 127.0.0.1:%d;" % http_port),
            ("proxy_pass http://127.0.0.1:8080;",
             "proxy_pass http://127.0.0.1:%d;\n        proxy_bind %s;" % (upstream_port, proxy_bind)))
    for old, new in subs:
        if example.count(old) != 1:
            pytest.fail("the nginx example of rtftd(8) should have %r exactly once" % old)
        example = example.replace(old, new)
    return example


class Nginx:
    """Debian's nginx in front of one rtftd, running the example of rtftd(8)
    on two loopback ports: .port (the TLS server block, here plain http)
    and .http_port (the port 80 block that redirects to https)."""

    def __init__(self, root, upstream_port, proxy_bind="127.0.0.3"):
        require(NGINX, "nginx")
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=root)
        self.port = free_port()
        self.http_port = free_port()
        while self.http_port == self.port:
            self.http_port = free_port()
        self.proxy_bind = proxy_bind
        example = nginx_conf_from_example(man_nginx_example(), self.port, self.http_port, upstream_port,
                                          proxy_bind)
        # as root, nginx's workers switch to the configured user (default
        # "nobody"), who cannot read the temporary directory: keep them root
        user = "user root;" if os.geteuid() == 0 else ""
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(NGINX_SKELETON % {"user": user, "dir": self.dir, "example": example})
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.log_file = None

    def start(self):
        argv = [NGINX, "-p", self.dir + "/", "-c", self.conf, "-e", os.path.join(self.dir, "error.log")]
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        deadline = time.monotonic() + 20
        while port_free(self.port) or port_free(self.http_port):
            if self.proc.poll() is not None:
                pytest.fail("nginx exited %s at start:\n%s" % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                pytest.fail("nginx did not listen on 127.0.0.1:%d within 20 s\n%s" % (self.port, self.log_tail()))
            time.sleep(0.02)
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the master stops its workers
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    def log_tail(self, n=30):
        text = read_text(self.log_path) + read_text(os.path.join(self.dir, "error.log"))
        return "---- nginx log (last %d lines) ----\n%s" % (n, "\n".join(text.splitlines()[-n:]))


@pytest.fixture
def nginx(tmp_path):
    """Factory: nginx(rtftd_port, proxy_bind="127.0.0.3") -> a started Nginx
    running rtftd(8)'s example in front of that port; stopped at teardown."""
    made = []

    def make(upstream_port, **kw):
        n = Nginx(str(tmp_path), upstream_port, **kw)
        made.append(n)
        return n.start()

    yield make
    for n in made:
        n.stop()
