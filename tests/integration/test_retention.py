"""Retention (issue 11 point 8): transfer records started more than
retention_days ago are purged by the workers' writer threads, in batches,
soon after start and when a reload changes retention_days; younger ones
stay, and retention_days = 0 keeps every record. On SQLite and on the
throw-away PostgreSQL, with rows of different ages written straight into
the database the daemon migrated."""

import re
import sqlite3
import time

import pytest

from helpers import run_rtftd, wait_for
from wsutil import clients_on_distinct_workers, close_all, run

DAY_MS = 86400 * 1000
# (uid, age in days): the boundary is 30 days
AGES = [("old-400", 400), ("old-31", 31), ("old-30.1", 30.1), ("young-29.9", 29.9), ("young-1", 1), ("young-0", 0)]
BULK = 1234  # old rows beyond one purge batch (500)


class SqliteRows:
    def __init__(self, d):
        self.path = d.config["database_url"][len("sqlite://"):]

    def execute(self, sql, rows=()):
        con = sqlite3.connect(self.path, timeout=10)
        try:
            with con:
                con.executemany(sql, rows) if rows else con.execute(sql)
        finally:
            con.close()

    def insert(self, uid_ages, now_ms):
        self.execute("INSERT INTO transfers (transfer_uid, sender, recipient, file_size, mode, status, worker, "
                     "started_at) VALUES (?, 'alice', 'bob', 1, 'websocket', 'completed', 0, ?)",
                     [(uid, int(now_ms - age * DAY_MS)) for uid, age in uid_ages])

    def uids(self):
        con = sqlite3.connect(self.path, timeout=10)
        try:
            return {r[0] for r in con.execute("SELECT transfer_uid FROM transfers")}
        finally:
            con.close()


class PgRows:
    def __init__(self, pg_server, db):
        self.pg, self.db = pg_server, db

    def insert(self, uid_ages, now_ms):
        values = ",".join("('%s', 'alice', 'bob', 1, 'websocket', 'completed', 0, to_timestamp(%d / 1000.0))" %
                          (uid, int(now_ms - age * DAY_MS)) for uid, age in uid_ages)
        self.pg.psql(self.db, "INSERT INTO transfers (transfer_uid, sender, recipient, file_size, mode, status, "
                              "worker, started_at) VALUES " + values)

    def uids(self):
        return {r[0] for r in self.pg.psql(self.db, "SELECT transfer_uid FROM transfers")}


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, pg_server):
    if request.param == "sqlite":
        return None
    return pg_server.new_database("retention")


def start(daemon, backend, pg_server, **cfg):
    config = {"workers": 2}
    if backend:
        config["database_url"] = pg_server.url(backend)
    config.update(cfg)
    d = daemon(config=config)
    rows = PgRows(pg_server, backend) if backend else SqliteRows(d)
    return d, rows


def reload(d, **changes):
    n = d.notify_count()
    d.write_config(**changes)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)


def test_records_older_than_retention_are_purged(daemon, pg_server, backend):
    # kept at first: retention 0
    d, rows = start(daemon, backend, pg_server, retention_days=0)
    now = time.time() * 1000
    rows.insert(AGES + [("bulk-%d" % i, 45 + i % 300) for i in range(BULK)], now)
    time.sleep(2.5)  # past the first purge round of both workers
    assert len(rows.uids()) == len(AGES) + BULK, "retention_days = 0 keeps every record"
    assert "purged" not in d.all_log_text()

    # a reload to 30 days purges by it at once, in batches, in both workers
    reload(d, retention_days=30)
    want = {uid for uid, age in AGES if age < 30}
    wait_for(lambda: rows.uids() == want, 20, "the records older than 30 days to go")
    purged = [int(w) for w in re.findall(r"transfer records: purged (\d+) started more than 30 days ago",
                                                        d.all_log_text())]
    assert sum(purged) == BULK + 3, d.log_tail()

    # records written by the daemon itself are young and stay
    async def body():
        a, b = await clients_on_distinct_workers(d, 2)
        await a.register("alice")
        await b.register("bob")
        await a.send({"type": "FILE_METADATA", "recipient": "bob", "file": {"name": "x", "size": 1}})
        await b.next("FILE_METADATA")
        await close_all([a, b])
    run(body())
    wait_for(lambda: len(rows.uids()) == len(want) + 1, 10, "the new record")
    assert want < rows.uids()


def test_purge_runs_soon_after_start(daemon, pg_server, backend):
    """A daemon started with retention_days purges within seconds, without
    a reload: rows of 2 days and of 1 hour, retention 1 day, written after
    --migrate-only and before the start."""
    config = {"workers": 1, "retention_days": 1}
    if backend:
        config["database_url"] = pg_server.url(backend)
    d = daemon(config=config, start=False)
    rc, out, err = run_rtftd(["-c", d.config_path, "--migrate-only"], timeout=60)
    assert rc == 0, err
    rows = PgRows(pg_server, backend) if backend else SqliteRows(d)
    rows.insert([("two-days", 2), ("an-hour", 1 / 24)], time.time() * 1000)
    d.start()
    wait_for(lambda: rows.uids() == {"an-hour"}, 20, "the two-day-old record to be purged")
