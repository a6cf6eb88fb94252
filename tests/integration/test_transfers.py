"""Transfer records: FILE_METADATA opens one, FILE_COMPLETE closes it, a
disconnect mid-transfer marks it failed, relayed bytes are counted, and
file names are stored only with store_file_names = true. The records are
written by each worker's writer thread; the test reads the real SQLite
database (and, once, the throw-away PostgreSQL)."""
import os
import sqlite3
import subprocess
import time

from helpers import wait_for
from wsutil import Client, clients_on_distinct_workers, close_all, run


def db_rows(d):
    path = d.config["database_url"][len("sqlite://"):]
    con = sqlite3.connect(path, timeout=5)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM transfers ORDER BY id")]
    finally:
        con.close()


def chunk(recipient, name, offset, n):
    return {"type": "FILE_CHUNK", "recipient": recipient,
            "file": {"name": name, "size": 3 * n, "offset": offset, "data": list(range(n))}}


async def send_file(a, b, name, chunks=3, per=10, complete=True, mode=None):
    meta = {"type": "FILE_METADATA", "recipient": "bob", "file": {"name": name, "size": chunks * per,
                                                                   "type": "text/plain"}}
    if mode:
        meta["transferMode"] = mode
    await a.send(meta)
    await b.next("FILE_METADATA")
    for i in range(chunks):
        await a.send(chunk("bob", name, i * per, per))
        await b.next("FILE_CHUNK")
    if complete:
        await a.send({"type": "FILE_COMPLETE", "recipient": "bob", "fileName": name})
        await b.next("FILE_COMPLETE")


def test_completed_and_failed_records_without_file_names(daemon):
    d = daemon(config={"workers": 2})

    async def main():
        a, b = await clients_on_distinct_workers(d, 2)
        await a.register("alice")
        await b.register("bob")
        await send_file(a, b, "secret-plan.txt", chunks=3, per=10)
        await send_file(a, b, "second.bin", chunks=2, per=7, complete=False)
        await a.close()
        await close_all([b])

    run(main())

    def rows_done():
        rows = db_rows(d)
        return len(rows) == 2 and all(r["ended_at"] for r in rows)
    wait_for(rows_done, 10, "both transfer records to be written and ended")
    first, second = db_rows(d)
    assert first["sender"] == "alice" and first["recipient"] == "bob"
    assert first["status"] == "completed" and first["bytes_relayed"] == 30
    assert first["mode"] == "websocket" and first["file_size"] == 30 and first["file_type"] == "text/plain"
    assert first["file_name"] is None, "file names are stored only with store_file_names = true"
    assert first["started_at"] <= first["ended_at"]
    assert second["status"] == "failed" and second["bytes_relayed"] == 14
    assert second["failure_reason"] == "sender disconnected"
    assert len(first["transfer_uid"]) == 32 and first["transfer_uid"] != second["transfer_uid"]
    # file names never reach the log at info level
    assert "secret-plan.txt" not in d.all_log_text()
    # and the metrics child counts them
    def counted():
        _, _, body = d.metrics_get("/metrics")
        text = body.decode()
        return ('rtftd_transfers_ended_total{mode="websocket",outcome="completed"} 1' in text and
                'rtftd_transfers_ended_total{mode="websocket",outcome="failed"} 1' in text)
    wait_for(counted, 5, "transfer counters in /metrics")


def test_file_names_stored_when_configured_and_recipient_gone(daemon):
    d = daemon(config={"workers": 2, "store_file_names": "true"})

    async def main():
        a = await Client.open(d)
        b = await Client.open(d)
        await a.register("alice")
        await b.register("bob")
        await a.send({"type": "FILE_METADATA", "recipient": "bob", "transferMode": "webrtc",
                      "file": {"name": "holiday.jpg", "size": 5, "type": "image/jpeg"}})
        await b.next("FILE_METADATA")
        await a.send({"type": "FILE_METADATA", "recipient": "bob",
                      "file": {"name": "notes.txt", "size": 5}})
        await b.next("FILE_METADATA")
        await b.close()
        # bob is gone: the next chunk is refused, and the relayed transfer fails
        await a.send(chunk("bob", "notes.txt", 0, 5))
        await a.next(lambda m: m["type"] == "ERROR" and "bob is not online" in m["message"])
        await a.close()

    run(main())

    def done():
        rows = db_rows(d)
        return len(rows) == 2 and all(r["ended_at"] for r in rows)
    wait_for(done, 10, "two ended transfer records")
    p2p, relayed = db_rows(d)
    assert p2p["file_name"] == "holiday.jpg" and p2p["mode"] == "webrtc"
    # the server never sees a peer to peer transfer end: outcome unknown
    assert p2p["status"] == "active"
    assert relayed["file_name"] == "notes.txt" and relayed["mode"] == "websocket"
    assert relayed["status"] == "failed" and relayed["failure_reason"] == "recipient not online"


def test_records_on_postgres(daemon, postgres):
    d = daemon(config={"workers": 2, "database_url": postgres})

    async def main():
        a, b = await clients_on_distinct_workers(d, 2)
        await a.register("alice")
        await b.register("bob")
        await send_file(a, b, "x.txt", chunks=2, per=4)
        await close_all([a, b])

    run(main())
    psql = "/usr/bin/psql"
    def row():
        r = subprocess.run([psql, postgres, "-At", "-c",
                            "SELECT status, bytes_relayed, mode, ended_at IS NOT NULL FROM transfers"],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.strip()
    wait_for(lambda: row() == "completed|8|websocket|t", 10, "the record on PostgreSQL")
