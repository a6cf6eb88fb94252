"""Big messages (64 KiB and more) are read into buffers of their own and
relayed by reference (src/rbuf.h): the bytes a recipient gets must be the
sender's, on the same worker and across workers, when the recipient reads
late, when the sender is gone by then, and when some chunks are refused
because the recipient is over its outbound limit."""
import os
import threading
import time

import pytest

from wsutil import raw_on

CHUNK = 256 * 1024


def pair(d, same_worker):
    """bob with a small receive window, who does not read until told;
    alice on bob's worker or on another one."""
    b = raw_on(d, None, rcvbuf=32768)
    wb = b.worker
    a = raw_on(d, (lambda s: s == wb) if same_worker else (lambda s: s != wb))
    b.register("bob")
    a.register("alice")
    return a, b


def send_file(a, data, name="big.bin", complete=True):
    a.send_json({"type": "FILE_METADATA", "recipient": "bob", "transferMode": "websocket",
                 "file": {"name": name, "size": len(data), "type": "application/octet-stream"}})
    for off in range(0, len(data), CHUNK):
        a.send_json({"type": "FILE_CHUNK", "recipient": "bob",
                     "file": {"name": name, "size": len(data), "offset": off, "data": list(data[off:off + CHUNK])}})
    if complete:
        a.send_json({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": name})


def chunks_until_complete(b):
    """{offset: bytes} of the FILE_CHUNKs bob gets before FILE_COMPLETE."""
    got = {}
    while True:
        m = b.recv_json(timeout=60)
        if m["type"] == "FILE_COMPLETE":
            return got
        if m["type"] == "FILE_CHUNK":
            assert m["sender"] == "alice" and "recipient" not in m
            got[m["file"]["offset"]] = bytes(m["file"]["data"])


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "across-workers"])
def test_chunks_outlive_their_sender(daemon, same_worker):
    """alice sends 12 chunks and leaves before bob reads any of them: what
    bob reads later is the whole file, byte for byte."""
    d = daemon(config={"workers": 2, "max_outbound_bytes": 64 * 1024 * 1024})
    a, b = pair(d, same_worker)
    data = os.urandom(12 * CHUNK - 777)
    send_file(a, data)
    a.close()
    got = chunks_until_complete(b)
    assert sorted(got) == list(range(0, len(data), CHUNK))
    assert b"".join(got[o] for o in sorted(got)) == data
    b.close()


@pytest.mark.parametrize("same_worker", [True, False], ids=["same-worker", "across-workers"])
def test_chunks_refused_to_a_slow_reader_leave_the_others_intact(daemon, same_worker):
    """Over bob's outbound limit chunks are refused (alice hears it); the
    ones bob does get are intact and in order."""
    d = daemon(config={"workers": 2, "max_outbound_bytes": 3 * 1024 * 1024})
    a, b = pair(d, same_worker)
    data = os.urandom(16 * CHUNK)
    send_file(a, data, complete=False)
    err = a.recv_json(timeout=30)
    assert err["type"] == "ERROR" and "bob is not keeping up" in err["message"], err
    # bob reads now; FILE_COMPLETE goes through once his queue has room again
    result = {}
    reader = threading.Thread(target=lambda: result.update(got=chunks_until_complete(b)))
    reader.start()
    deadline = time.monotonic() + 90
    while reader.is_alive() and time.monotonic() < deadline:
        # refused too while bob's queue is full: sent again until it arrives
        a.send_json({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": "big.bin"})
        reader.join(0.5)
    assert "got" in result, "bob never got FILE_COMPLETE"
    got = result["got"]
    assert got, "bob got no chunk at all"
    assert len(got) < 16, "every chunk arrived although bob was over its limit"
    for off, part in got.items():
        assert part == data[off:off + CHUNK], "chunk at %d is not what alice sent" % off
    a.close()
    b.close()
