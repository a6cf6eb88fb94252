"""Processes and signals: titles, readiness, worker death and respawn with
back-off, SIGHUP (in place, invalid, new generation), SIGTERM with a request
in flight, SIGUSR1, the systemd watchdog, and start-up failures."""

import json
import os
import signal
import socket
import time
import uuid

from helpers import Reader, connect, free_port, pid_alive, wait_for, wait_server_read


def readyz(d):
    status, _, body = d.metrics_get("/readyz")
    return status, json.loads(body)


def workers_ready(d, n):
    status, doc = readyz(d)
    w = doc["checks"]["workers"]
    return status == 200 and w["ready"] == n and w["wanted"] == n


class KeepAlive:
    """A held-open HTTP/1.1 connection."""

    def __init__(self, port):
        self.sock = connect(port)
        self.reader = Reader(self.sock)
        self.local_port = self.sock.getsockname()[1]

    def get(self, path="/healthz"):
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        resp = self.reader.response()
        assert resp is not None, "keep-alive connection closed by the server"
        return resp

    def close(self):
        self.sock.close()


def keepalive_on_each_worker(d, slots, attempts=200):
    """{slot: KeepAlive} with one open connection per worker slot."""
    held = {}
    spare = []
    for _ in range(attempts):
        if len(held) == len(slots):
            break
        c = KeepAlive(d.port)
        slot = int(c.get().header("x-rtft-worker"))
        if slot in held:
            spare.append(c)
        else:
            held[slot] = c
    for c in spare:
        c.close()
    assert set(held) == set(slots), "could not reach every worker: %s" % sorted(held)
    return held


def metric(d, name):
    _, _, body = d.metrics_get("/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_process_titles(daemon):
    d = daemon(config={"workers": 3})
    pids = wait_for(lambda: (lambda p: p if len(p["workers"]) == 3 and p["metrics"] else None)(d.pids()), 5,
                    "3 workers and a metrics child")
    assert pids["master"] == d.pid
    assert sorted(pids["workers"]) == [0, 1, 2]
    assert len({pids["metrics"], *pids["workers"].values()}) == 4
    with open("/proc/%d/comm" % pids["workers"][2]) as f:
        assert f.read().strip() == "rtftd-worker 2"
    with open("/proc/%d/comm" % pids["metrics"]) as f:
        assert f.read().strip() == "rtftd-metrics"
    # nothing else is a child of the master
    assert len(list(d.all_children())) == 4


def test_ready_and_status_notifications(daemon):
    d = daemon()
    i = d.wait_ready()
    assert "MAINPID=%d" % d.pid in d.notifications[i]
    j = d.wait_notify("STATUS=")
    status = [m for m in d.notifications if m.startswith("STATUS=")]
    assert status, d.notifications
    d.wait_notify("STATUS=2/2 workers ready", i)
    # READY=1 comes only once every child is up: it is not the first message
    assert j < i or any(m.startswith("STATUS=starting") for m in d.notifications[:i])
    assert workers_ready(d, 2)


def test_killed_worker_is_replaced_and_others_keep_serving(daemon):
    d = daemon()
    held = keepalive_on_each_worker(d, [0, 1])
    try:
        old = d.pids()["workers"]
        t0 = time.monotonic()
        os.kill(old[0], signal.SIGKILL)
        new = wait_for(lambda: (lambda p: p if p not in (None, old[0]) else None)(d.pids()["workers"].get(0)),
                       5, "a new worker 0")
        wait_for(lambda: workers_ready(d, 2) and not pid_alive(old[0]), 5, "2 workers ready again")
        took = time.monotonic() - t0
        assert took < 1.0, "worker 0 was serving again only after %.2f s" % took
        assert new != old[0]
        assert d.pids()["workers"][1] == old[1], "the other worker was restarted too"
        # the connection held on worker 1 still answers, on the same socket
        for _ in range(3):
            r = held[1].get()
            assert r.status == 200 and r.header("x-rtft-worker") == "1"
        # the one on the dead worker is gone
        held[0].sock.settimeout(5)
        assert held[0].reader.at_eof()
        # the new worker 0 serves new connections
        wait_for(lambda: d.get("/healthz")[1]["X-RTFT-Worker"] == "0", 10, "a response from the new worker 0",
                 interval=0)
        wait_for(lambda: metric(d, "rtftd_worker_restarts_total") == 1, 5, "rtftd_worker_restarts_total 1")
        assert d.wait_log("worker 0 (pid %d) killed by signal 9" % old[0])
    finally:
        for c in held.values():
            c.close()


def test_worker_that_keeps_dying_backs_off(daemon):
    d = daemon()
    gaps = []
    pid = d.pids()["workers"][0]
    for _ in range(5):
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        newpid = wait_for(lambda: (lambda p: p if p not in (None, pid) else None)(d.pids()["workers"].get(0)),
                          10, "worker 0 to come back", interval=0.005)
        gaps.append(time.monotonic() - t0)
        pid = newpid
    # 1st death: at once; then 100 ms doubling (a lower bound, whatever the load)
    for i, want in enumerate([0, 0.1, 0.2, 0.4, 0.8]):
        assert gaps[i] >= want * 0.95, "restart %d after %.3f s, expected >= %.1f s (%s)" % (i + 1, gaps[i],
                                                                                             want, gaps)
    assert gaps[4] > gaps[2], gaps
    for n, ms in ((2, 100), (3, 200), (4, 400), (5, 800)):
        d.wait_log("worker 0 keeps dying (%d times in a row): next start in %d ms" % (n, ms))
    wait_for(lambda: workers_ready(d, 2), 5, "2 workers ready after the last restart")
    assert metric(d, "rtftd_worker_restarts_total") == 5
    assert d.get("/healthz")[0] == 200


def test_sighup_in_place_keeps_connections(daemon):
    d = daemon()
    c = KeepAlive(d.port)
    try:
        first = c.get()
        assert first.status == 200
        slot = first.header("x-rtft-worker")
        pids = d.pids()
        assert " debug: " not in d.log_text()
        n = d.notify_count()
        d.write_config(log_level="debug")
        d.sighup()
        i = d.wait_notify("RELOADING=1", n)
        d.wait_ready(i + 1)
        d.wait_log("reload complete: settings applied in place")
        # the connection opened before the reload still works, on the same socket
        r = c.get()
        assert r.status == 200 and r.header("x-rtft-worker") == slot
        d.wait_log(" debug: ")
        # nothing was restarted
        assert d.pids() == pids
    finally:
        c.close()


def test_sighup_applies_limits_in_place(daemon):
    d = daemon()
    long_line = b"GET /" + b"a" * 1500 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert Reader_exchange(d.port, long_line).status == 404
    n = d.notify_count()
    d.write_config(max_request_line_bytes=1024)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    wait_for(lambda: Reader_exchange(d.port, long_line).status == 414, 5, "the new limit in every worker")
    wait_for(lambda: all(Reader_exchange(d.port, long_line).status == 414 for _ in range(10)), 5,
             "the new limit in every worker")


def Reader_exchange(port, data):
    s = connect(port)
    try:
        s.sendall(data)
        return Reader(s).response()
    finally:
        s.close()


def test_sighup_invalid_config_keeps_running(daemon):
    d = daemon()
    pids = d.pids()
    n = d.notify_count()
    good = dict(d.config)
    d.write_config(port=70000)
    d.sighup()
    i = d.wait_notify("RELOADING=1", n)
    d.wait_ready(i + 1)
    d.wait_log("reload failed")
    line = [l for l in d.log_text().splitlines() if "reload failed" in l][0]
    assert "keeping" in line, line
    assert d.log_contains('port = "70000"')
    d.wait_notify("STATUS=reload failed", i)
    # still serving on the old port with the same processes
    assert d.get("/healthz")[0] == 200
    assert d.pids() == pids
    # a later valid reload works
    d.config = good
    d.write_config(log_level="debug")
    n = d.notify_count()
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("reload complete")
    assert d.get("/healthz")[0] == 200


def test_sighup_changes_worker_count(daemon):
    d = daemon()
    old = d.pids()["workers"]
    assert len(old) == 2
    n = d.notify_count()
    d.write_config(workers=3)
    d.sighup()
    i = d.wait_notify("RELOADING=1", n)
    d.wait_ready(i + 1)
    d.wait_log("reload complete: 3 workers ready")
    # the old workers exit, three new ones serve
    wait_for(lambda: not any(pid_alive(p) for p in old.values()), 10, "the old workers to exit")
    new = d.pids()["workers"]
    assert len(new) == 3, new
    assert not set(new.values()) & set(old.values())
    wait_for(lambda: workers_ready(d, 3), 5, "readyz: 3 of 3 workers")
    status, doc = readyz(d)
    assert doc["status"] == "ready" and doc["checks"]["workers"]["wanted"] == 3
    assert metric(d, "rtftd_workers_configured") == 3
    seen = set()
    wait_for(lambda: seen.add(d.get("/healthz")[1]["X-RTFT-Worker"]) or len(seen) == 3, 10,
             "responses from 3 workers", interval=0)
    assert seen == {str(s) for s in new}
    assert metric(d, "rtftd_worker_restarts_total") == 0


def connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        # queued on a listener that was closing: not refused yet, try again
        return False


def test_sighup_changes_port(daemon):
    d = daemon()
    old_port, new_port = d.port, free_port()
    old = d.pids()["workers"]
    n = d.notify_count()
    d.write_config(port=new_port)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.port = new_port
    status, headers, body = d.get("/healthz")
    assert status == 200
    wait_for(lambda: connect_refused(old_port), 10, "the old port %d to stop accepting" % old_port)
    wait_for(lambda: not any(pid_alive(p) for p in old.values()), 10, "the old workers to exit")
    assert workers_ready(d, 2)
    assert d.get("/healthz")[0] == 200


def test_sighup_port_in_use_keeps_old_generation(daemon):
    d = daemon()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        pids = d.pids()
        n = d.notify_count()
        d.write_config(port=blocker.getsockname()[1])
        d.sighup()
        d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
        d.wait_log("reload failed")
        assert d.get("/healthz")[0] == 200
        assert d.pids() == pids
    finally:
        blocker.close()


def test_sigterm_finishes_request_in_flight(daemon):
    d = daemon(config={"shutdown_timeout_ms": 5000})
    s = connect(d.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ab")
        wait_server_read(d.port, s)
        n = d.notify_count()
        t0 = time.monotonic()
        d.sigterm()
        d.wait_notify("STOPPING=1", n)
        # the worker holding our request has been told to stop
        d.wait_log("shutting down: no longer accepting, 1 connections open")
        # new connections are no longer accepted
        wait_for(lambda: connect_refused(d.port), 5, "the listener to close")
        s.sendall(b"cd\r\n\r\n")
        resp = Reader(s).response()
        assert resp is not None, "the request in flight got no response"
        assert resp.status == 200
        assert resp.header("connection") == "close"
        rc = d.wait_exit(10)
        took = time.monotonic() - t0
        assert rc == 0, d.log_tail()
        assert took < 5.0, "exit took %.1f s with shutdown_timeout_ms = 5000" % took
    finally:
        s.close()
    assert d.log_contains("stopped")


def test_sigterm_idle_exits_quickly(daemon):
    d = daemon()
    pids = d.pids()
    t0 = time.monotonic()
    assert d.stop() == 0
    assert time.monotonic() - t0 < 3
    d.wait_notify("STOPPING=1")
    for p in [pids["metrics"], *pids["workers"].values()]:
        wait_for(lambda: not pid_alive(p), 5, "child %d to be gone" % p)


def test_sigterm_kills_stuck_request_at_deadline(daemon):
    d = daemon(config={"shutdown_timeout_ms": 1000})
    s = connect(d.port)
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        wait_server_read(d.port, s)
        t0 = time.monotonic()
        d.sigterm()
        rc = d.wait_exit(10)
        took = time.monotonic() - t0
        assert rc == 0, d.log_tail()
        assert took < 3.5, "exit took %.1f s with shutdown_timeout_ms = 1000" % took
    finally:
        s.close()


def test_sigusr1_reopens_log_file(daemon):
    d = daemon()
    logfile = os.path.join(d.dir, "rtftd.log")
    n = d.notify_count()
    d.write_config(log_file=logfile)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)

    def logged_to(path, rid):
        try:
            with open(path) as f:
                return rid in f.read()
        except FileNotFoundError:
            return False

    rid = "before-" + uuid.uuid4().hex
    d.get("/healthz", headers={"X-Request-ID": rid})
    wait_for(lambda: logged_to(logfile, rid), 5, "requests in log_file")
    rotated = logfile + ".1"
    os.rename(logfile, rotated)
    rid = "rotated-" + uuid.uuid4().hex
    d.get("/healthz", headers={"X-Request-ID": rid})
    wait_for(lambda: logged_to(rotated, rid), 5, "lines in the renamed file until SIGUSR1")
    assert not os.path.exists(logfile)
    d.sigusr1()
    wait_for(lambda: logged_to(logfile, "log file reopened"), 5, "a new log file")
    # every worker and the metrics child write to the new file
    pending = {"0", "1"}
    deadline = time.monotonic() + 20
    while pending:
        assert time.monotonic() < deadline, "no request reached worker(s) %s" % sorted(pending)
        rid = "after-" + uuid.uuid4().hex
        slot = d.get("/healthz", headers={"X-Request-ID": rid})[1]["X-RTFT-Worker"]
        if slot in pending:
            wait_for(lambda: logged_to(logfile, rid), 5, "worker %s logging to the new file" % slot)
            pending.discard(slot)
    rid = "metrics-" + uuid.uuid4().hex
    d.metrics_get("/healthz", headers={"X-Request-ID": rid})
    wait_for(lambda: logged_to(logfile, rid), 5, "the metrics child logging to the new file")
    assert not logged_to(rotated, "after-")
    assert not logged_to(rotated, "log file reopened")


def test_watchdog_notifications(daemon):
    d = daemon(env={"WATCHDOG_USEC": "2000000"})
    i = d.wait_notify("WATCHDOG=1", timeout=10)
    d.wait_notify("WATCHDOG=1", i + 1, timeout=10)


def test_watchdog_stops_while_a_worker_hangs(daemon):
    d = daemon(env={"WATCHDOG_USEC": "2000000"})
    d.wait_notify("WATCHDOG=1", timeout=10)
    victim = d.pids()["workers"][1]
    os.kill(victim, signal.SIGSTOP)
    try:
        d.wait_log("worker 1 has not beaten", timeout=15)
        n = d.notify_count()
        time.sleep(3)  # an observation window: no pings may come in it
        pings = [m for m in d.notifications[n:] if "WATCHDOG=1" in m]
        assert len(pings) <= 1, "watchdog kept pinging while worker 1 was stopped: %d pings" % len(pings)
    finally:
        os.kill(victim, signal.SIGCONT)
    d.wait_notify("WATCHDOG=1", d.notify_count(), timeout=10)


def test_main_port_in_use_fails_start(daemon):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        port = blocker.getsockname()[1]
        d = daemon(config={"port": port}, start=False)
        d.port = port
        d.start(wait=False)
        assert d.wait_exit(10) == 1, d.log_tail()
        assert d.log_contains("bind(127.0.0.1:%d) failed: Address already in use" % port), d.log_tail()
        assert not any("READY=1" in m for m in d.notifications)
    finally:
        blocker.close()


def test_metrics_port_in_use_fails_start(daemon):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    try:
        port = blocker.getsockname()[1]
        d = daemon(config={"metrics_listen": "127.0.0.1:%d" % port}, start=False)
        d.start(wait=False)
        assert d.wait_exit(10) == 1, d.log_tail()
        assert d.log_contains("metrics_listen: bind(127.0.0.1:%d) failed" % port), d.log_tail()
        assert not any("READY=1" in m for m in d.notifications)
    finally:
        blocker.close()
