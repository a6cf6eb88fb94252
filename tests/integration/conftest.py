"""Fixtures for rtftd's integration tests.

Every test starts the real daemon ($RTFTD_BIN) with a config file of its own,
free loopback ports, an SQLite database in a temporary directory and a
NOTIFY_SOCKET the test owns, and waits for READY=1 (never a fixed sleep).
At teardown every daemon is stopped and the test fails if its log shows a
sanitizer report or a failed rt_assert().

Run: RTFTD_BIN=build/src/rtftd RT_SRCDIR=. /usr/bin/python3 -m pytest -q tests/integration
"""

import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from helpers import (BAD_LOG_MARKERS, clean_env, free_port, pid_alive, proc_ppid, proc_title, read_text, rtftd_bin,
                     wait_for, write_config)

PG_BIN = "/usr/lib/postgresql/15/bin"

# the master's line for a child that died of a signal
CHILD_SIGNAL = re.compile(r"\((?:pid \d+)\) (?:killed by signal|stopped with signal) (\d+)")


class Notifier:
    """The systemd side of sd_notify: a datagram socket, read by a thread."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                self.messages.append(data.decode("utf-8", "replace"))
                self.cond.notify_all()

    def close(self):
        self.closed = True
        self.thread.join(2)
        self.sock.close()


class Daemon:
    """One rtftd under test."""

    def __init__(self, root, config=None, env=None, args=None, name="d", nofile=None):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.metrics_port = free_port()
        while self.metrics_port == self.port:
            self.metrics_port = free_port()
        self.config = {
            "host": "127.0.0.1",
            "port": self.port,
            "metrics_listen": "127.0.0.1:%d" % self.metrics_port,
            "database_url": "sqlite://%s/rt.db" % self.dir,
            "workers": 2,
        }
        if config:
            self.config.update(config)
        self.config_path = os.path.join(self.dir, "rtftd.conf")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.extra_env = dict(env or {})
        self.args = list(args or [])
        self.nofile = nofile  # (soft, hard) RLIMIT_NOFILE for the daemon, or None
        self.proc = None
        self.exit_code = None
        # sun_path is 108 bytes: keep the socket in a short directory
        self.sockdir = tempfile.mkdtemp(prefix="rtn", dir="/tmp")
        self.notifier = Notifier(os.path.join(self.sockdir, "notify"))
        self.write_config()

    # ---- config ----
    def write_config(self, **changes):
        """Rewrites the config file with changes (None removes a key)."""
        for k, v in changes.items():
            if v is None:
                self.config.pop(k, None)
            else:
                self.config[k] = v
        write_config(self.config_path, self.config)

    def set_config_text(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    # ---- process ----
    def start(self, wait=True):
        env = {"NOTIFY_SOCKET": self.notifier.path}
        env.update(self.extra_env)
        self.log_file = open(self.log_path, "ab")
        limits = None
        if self.nofile:
            import resource
            limits = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)
        self.proc = subprocess.Popen([rtftd_bin(), "-c", self.config_path] + self.args, env=clean_env(env),
                                     stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=self.log_file,
                                     preexec_fn=limits)
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15):
        """SIGTERM and wait; the exit code. Fails (after SIGKILL) if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                pytest.fail("rtftd (pid %d) did not exit within %d s of SIGTERM\n%s" %
                            (self.proc.pid, timeout, self.log_tail()))
        self.exit_code = self.proc.returncode
        return self.exit_code

    def cleanup(self):
        """Teardown: stop, then make sure no child is left behind."""
        children = []
        if self.proc is not None and self.proc.poll() is None:
            children = list(self.all_children())
        try:
            return self.stop()
        finally:
            for pid in children:
                if pid_alive(pid):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            self.notifier.close()
            if getattr(self, "log_file", None):
                self.log_file.close()
            shutil.rmtree(self.sockdir, ignore_errors=True)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def sighup(self):
        self.signal(signal.SIGHUP)

    def sigterm(self):
        self.signal(signal.SIGTERM)

    def sigusr1(self):
        self.signal(signal.SIGUSR1)

    def all_children(self):
        for entry in os.listdir("/proc"):
            if entry.isdigit() and proc_ppid(int(entry)) == self.proc.pid:
                yield int(entry)

    def pids(self):
        """{'master': pid, 'metrics': pid or None, 'workers': {slot: pid}}, from process titles."""
        out = {"master": None, "metrics": None, "workers": {}}
        if proc_title(self.proc.pid) == "rtftd: master":
            out["master"] = self.proc.pid
        for pid in self.all_children():
            if not pid_alive(pid):
                continue
            title = proc_title(pid)
            if title == "rtftd: metrics":
                out["metrics"] = pid
            elif title and title.startswith("rtftd: worker "):
                out["workers"][int(title[len("rtftd: worker "):])] = pid
        return out

    # ---- sd_notify ----
    @property
    def notifications(self):
        with self.notifier.cond:
            return list(self.notifier.messages)

    def notify_count(self):
        with self.notifier.cond:
            return len(self.notifier.messages)

    def wait_notify(self, substr, after_index=0, timeout=20):
        """Index of the first notification at or after after_index holding substr."""
        deadline = time.monotonic() + timeout
        with self.notifier.cond:
            while True:
                msgs = self.notifier.messages
                for i in range(after_index, len(msgs)):
                    if substr in msgs[i]:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                if self.proc is not None and self.proc.poll() is not None:
                    break
                self.notifier.cond.wait(min(left, 0.2))
        pytest.fail("no %r notification (after #%d) within %.0f s; rtftd %s; got %r\n%s" %
                    (substr, after_index, timeout,
                     "exited %s" % self.proc.returncode if self.proc.poll() is not None else "running",
                     self.notifications[after_index:], self.log_tail()))

    def wait_ready(self, after_index=0, timeout=20):
        return self.wait_notify("READY=1", after_index, timeout)

    # ---- HTTP ----
    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def metrics_url(self, path):
        return "http://127.0.0.1:%d%s" % (self.metrics_port, path)

    def get(self, path, headers=None, method="GET", body=None, port=None, timeout=10):
        """One request on a fresh connection: (status, headers, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def metrics_get(self, path, headers=None, method="GET"):
        return self.get(path, headers, method=method, port=self.metrics_port)

    # ---- WebSocket ----
    def ws_url(self, path="/ws"):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def ws_connect(self, path="/ws", **kwargs):
        """A python3-websockets client connection (use with "async with")."""
        import websockets
        return websockets.connect(self.ws_url(path), open_timeout=10, **kwargs)

    # ---- log ----
    def log_files(self):
        """The stderr log and every *.log file in the daemon's directory."""
        files = [self.log_path]
        for name in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, name)
            if p != self.log_path and (".log" in name) and os.path.isfile(p):
                files.append(p)
        return files

    def log_text(self):
        return read_text(self.log_path)

    def all_log_text(self):
        return "\n".join(read_text(p) for p in self.log_files())

    def log_tail(self, n=60):
        lines = self.all_log_text().splitlines()
        return "---- rtftd log (last %d lines) ----\n%s" % (n, "\n".join(lines[-n:]))

    def log_contains(self, substr):
        return substr in self.all_log_text()

    def wait_log(self, substr, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.log_contains(substr):
            if time.monotonic() >= deadline:
                pytest.fail("%r did not appear in the log within %.0f s\n%s" % (substr, timeout, self.log_tail()))
            time.sleep(0.05)
        return True


@pytest.fixture
def daemon(tmp_path):
    """Factory: daemon(config={...}, env={...}, args=[...], start=True) -> Daemon."""
    made = []

    def make(config=None, env=None, args=None, start=True, wait=True, nofile=None):
        d = Daemon(str(tmp_path), config=config, env=env, args=args, name="d%d" % len(made), nofile=nofile)
        made.append(d)
        if start:
            d.start(wait=wait)
        return d

    yield make

    problems = []
    for d in made:
        try:
            rc = d.cleanup()
            if rc is not None and rc < 0:
                problems.append("rtftd was killed by signal %d\n%s" % (-rc, d.log_tail()))
        except pytest.fail.Exception as e:
            problems.append(str(e))
        text = d.all_log_text()
        for marker in BAD_LOG_MARKERS:
            if marker in text:
                lines = [l for l in text.splitlines() if marker in l][:5]
                problems.append("rtftd log holds %r:\n%s\n%s" % (marker, "\n".join(lines), d.log_tail()))
        # a child that crashed (tests only ever kill with SIGKILL or stop with SIGSTOP)
        for m in CHILD_SIGNAL.finditer(text):
            if int(m.group(1)) not in (signal.SIGKILL, signal.SIGSTOP):
                problems.append("a child of rtftd died of signal %s: %s\n%s" % (m.group(1), m.group(0), d.log_tail()))
    if problems:
        pytest.fail("\n\n".join(problems))


# ---- PostgreSQL ----

class PgServer:
    """A throw-away PostgreSQL 15 on 127.0.0.1, trust auth, owned by this session."""

    def __init__(self):
        missing = [b for b in ("initdb", "pg_ctl", "postgres", "pg_isready", "psql", "createdb")
                   if not os.access(os.path.join(PG_BIN, b), os.X_OK)]
        if missing:
            pytest.fail("PostgreSQL 15 is not installed (%s missing from %s): apt-get install postgresql" %
                        (", ".join(missing), PG_BIN))
        self.dir = tempfile.mkdtemp(prefix="rtpg", dir="/tmp")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root, and there is no postgres user to run PostgreSQL as")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.started = False
        self._n = 0

    def run(self, argv, check=True, timeout=60, input=None):
        p = subprocess.run(self.as_user + argv, capture_output=True, text=True, timeout=timeout, input=input,
                           env=clean_env({"LC_ALL": "C", "PGCONNECT_TIMEOUT": "5"}), cwd=self.dir)
        if check and p.returncode != 0:
            pytest.fail("%s exited %d:\n%s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
        return p

    def start(self):
        self.run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--no-sync"])
        opts = ("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off "
                "-c max_connections=50" % (self.port, self.dir))
        self.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "pg.log"),
                  "-o", opts, "-w", "-t", "60", "start"], timeout=90)
        self.started = True
        wait_for(lambda: self.run([os.path.join(PG_BIN, "pg_isready"), "-h", "127.0.0.1", "-p",
                                   str(self.port)], check=False).returncode == 0, 30, "pg_isready")

    def stop(self):
        if self.started:
            self.run([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop"],
                     check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def new_database(self, prefix="rt"):
        self._n += 1
        name = "%s_%d_%s" % (prefix, self._n, uuid.uuid4().hex[:8])
        self.run([os.path.join(PG_BIN, "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                  name])
        return name

    def url(self, db, password=None):
        auth = "postgres:%s" % password if password else "postgres"
        return "postgres://%s@127.0.0.1:%d/%s" % (auth, self.port, db)

    def psql(self, db, sql):
        """Runs sql; returns the rows as lists of strings (unaligned, tuples only)."""
        p = self.run([os.path.join(PG_BIN, "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                      "-d", db, "-X", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\t", "-c", sql])
        return [line.split("\t") for line in p.stdout.splitlines() if line]


@pytest.fixture(scope="session")
def pg_server():
    srv = PgServer()
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def postgres(pg_server):
    """URL of a database on the throw-away server: postgres://postgres@127.0.0.1:<port>/<db>."""
    return pg_server.url(pg_server.new_database("rtftd"))
