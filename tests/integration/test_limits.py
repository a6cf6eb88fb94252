"""Open-file limits: rtftd raises its soft limit to the hard one, and a
worker out of descriptors pauses accepting instead of spinning on
accept() (libevent would call it again at once, forever, logging each
failure)."""
import os
import socket
import time

from helpers import wait_for


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_idle(port, n):
    """n TCP connections that send nothing (each is a descriptor in a worker
    once accepted); the kernel completes the handshakes from the backlog."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        socks.append(s)
    return socks


def test_soft_open_files_limit_is_raised_to_the_hard_one(daemon):
    d = daemon(config={"workers": 1}, nofile=(64, 4096))
    socks = open_idle(d.port, 150)
    try:
        # all 150 are served although the soft limit rtftd started with is 64
        for s in socks[::10]:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.1 200"), "no answer on one of 150 connections"
        assert not d.log_contains("accept() failed")
    finally:
        for s in socks:
            s.close()


def test_out_of_descriptors_pauses_accept_and_recovers(daemon):
    d = daemon(config={"workers": 1}, nofile=(64, 64))
    worker = d.pids()["workers"][0]
    socks = open_idle(d.port, 100)  # more than the worker can hold
    try:
        wait_for(lambda: d.log_contains("accept() failed"), 10, "the accept() failure in the log")
        c0 = cpu_seconds(worker)
        time.sleep(2)
        used = cpu_seconds(worker) - c0
        # spinning on accept() would keep a core busy; pausing 100 ms at a time costs nothing
        assert used < 0.5, "worker used %.2f s of CPU in 2 s while out of descriptors" % used
        text = d.log_text()
        assert text.count("accept() failed") <= 2, "the failure is logged once in a while, not per call"
        assert "Too many open files" in text and "LimitNOFILE" in text
    finally:
        for s in socks:
            s.close()
    # descriptors are free again: the worker accepts and answers
    wait_for(lambda: d.get("/healthz", timeout=2)[0] == 200, 10, "GET /healthz after the connections closed")
