"""Migrations on SQLite and on a throw-away PostgreSQL: applied once,
recorded with their checksums, and start-up refused for an edited
migration or a database newer than the binary."""

import hashlib
import json
import os
import re
import sqlite3
import subprocess

import pytest

from helpers import BAD_LOG_MARKERS, clean_env, free_port, rtftd_bin, run_rtftd, srcdir, write_config

TABLES = ("transfers", "presence", "nodes")


def migration_files(backend):
    """[(version, name, sha256 hex)] of migrations/<backend>/, in order."""
    d = os.path.join(srcdir(), "migrations", backend)
    out = []
    for name in sorted(os.listdir(d)):
        m = re.match(r"^(\d{4})_.+\.sql$", name)
        assert m, "unexpected file in %s: %s" % (d, name)
        with open(os.path.join(d, name), "rb") as f:
            out.append((int(m.group(1)), name, hashlib.sha256(f.read()).hexdigest()))
    assert out, "no migrations in %s" % d
    return out


def conf(tmp_path, database_url):
    path = os.path.join(str(tmp_path), "migrate.conf")
    write_config(path, {"host": "127.0.0.1", "port": free_port(), "metrics_listen": "off",
                        "database_url": database_url, "workers": 1})
    return path


def migrate(path):
    return run_rtftd(["-c", path, "--migrate-only"], timeout=60)


# ---- backends under test ----

class SqliteDb:
    backend = "sqlite"

    def __init__(self, tmp_path):
        self.path = os.path.join(str(tmp_path), "rt.db")
        self.url = "sqlite://" + self.path

    def rows(self, sql):
        con = sqlite3.connect(self.path)
        try:
            return [[str(v) for v in row] for row in con.execute(sql).fetchall()]
        finally:
            con.close()

    def execute(self, sql):
        con = sqlite3.connect(self.path)
        try:
            con.execute(sql)
            con.commit()
        finally:
            con.close()

    def tables(self):
        return {r[0] for r in self.rows("SELECT name FROM sqlite_master WHERE type = 'table'")}


class PgDb:
    backend = "postgres"

    def __init__(self, server):
        self.server = server
        self.name = server.new_database("mig")
        self.url = server.url(self.name)

    def rows(self, sql):
        return self.server.psql(self.name, sql)

    def execute(self, sql):
        self.server.psql(self.name, sql)

    def tables(self):
        return {r[0] for r in self.rows("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return SqliteDb(tmp_path)
    return PgDb(request.getfixturevalue("pg_server"))


def test_migrate_only_is_idempotent(db, tmp_path):
    files = migration_files(db.backend)
    path = conf(tmp_path, db.url)
    rc, out, err = migrate(path)
    assert rc == 0, err
    for _, name, _ in files:
        assert re.search(r"migration %s applied \(%s" % (re.escape(name), db.backend), err), err
    assert "at schema version %d (%d applied now)" % (files[-1][0], len(files)) in err, err
    rows = db.rows("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert [(int(v), n, c) for v, n, c in rows] == files
    for _, _, checksum in rows:
        assert re.match(r"^[0-9a-f]{64}$", checksum)
    assert set(TABLES) <= db.tables()
    applied_at = db.rows("SELECT applied_at FROM schema_migrations")
    # the second run changes nothing
    rc, out, err = migrate(path)
    assert rc == 0, err
    assert "(0 applied now)" in err, err
    assert " applied (" not in err, err
    assert db.rows("SELECT version, name, checksum FROM schema_migrations ORDER BY version") == rows
    assert db.rows("SELECT applied_at FROM schema_migrations") == applied_at


def test_concurrent_migrations_apply_once(db, tmp_path):
    files = migration_files(db.backend)
    path = conf(tmp_path, db.url)
    procs = [subprocess.Popen([rtftd_bin(), "-c", path, "--migrate-only"], env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.wait(60), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    applied = 0
    for rc, err in results:
        assert not any(m in err for m in BAD_LOG_MARKERS), err
        assert rc == 0, err
        m = re.search(r"\((\d+) applied now\)", err)
        assert m, err
        applied += int(m.group(1))
    assert applied == len(files), results
    assert len(db.rows("SELECT version FROM schema_migrations")) == len(files)


def refused_start(daemon, db, want):
    d = daemon(config={"database_url": db.url}, start=False)
    d.start(wait=False)
    rc = d.wait_exit(20)
    assert rc == 1, d.log_tail()
    text = d.log_text()
    assert re.search(want, text), text
    assert not any("READY=1" in m for m in d.notifications)
    assert "ready:" not in text
    return text


def test_edited_migration_stops_start(db, tmp_path, daemon):
    files = migration_files(db.backend)
    rc, out, err = migrate(conf(tmp_path, db.url))
    assert rc == 0, err
    db.execute("UPDATE schema_migrations SET checksum = '%s' WHERE version = %d" % ("0" * 64, files[0][0]))
    text = refused_start(daemon, db, r"migration %s was edited after it was applied" % re.escape(files[0][1]))
    assert "checksum" in text
    # --migrate-only refuses too, and applies nothing
    rc, out, err = migrate(conf(tmp_path, db.url))
    assert rc == 1 and "edited" in err, err


def test_newer_database_stops_start(db, tmp_path, daemon):
    rc, out, err = migrate(conf(tmp_path, db.url))
    assert rc == 0, err
    if db.backend == "sqlite":
        db.execute("INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                   "VALUES (9999, '9999_future.sql', '%s', '2030-01-01T00:00:00Z')" % ("a" * 64))
    else:
        db.execute("INSERT INTO schema_migrations (version, name, checksum) "
                   "VALUES (9999, '9999_future.sql', '%s')" % ("a" * 64))
    text = refused_start(daemon, db, r"schema version 9999 is newer than this rtftd")
    assert "newer" in text
    rc, out, err = migrate(conf(tmp_path, db.url))
    assert rc == 1 and "newer" in err, err


def test_daemon_starts_and_migrates_on_postgres(daemon, pg_server):
    db = PgDb(pg_server)
    d = daemon(config={"database_url": db.url})
    status, _, body = d.get("/readyz")
    assert status == 200, body
    doc = json.loads(body)
    assert doc["checks"]["database"]["status"] == "ok"
    assert doc["checks"]["migrations"]["status"] == "ok"
    files = migration_files("postgres")
    assert doc["checks"]["migrations"]["version"] == files[-1][0]
    assert set(TABLES) <= db.tables()
    assert d.log_contains("database %s at schema version" % db.url)
    # the metrics child's database checker is connected
    _, _, body = d.metrics_get("/metrics")
    assert "\nrtftd_db_up 1\n" in body.decode()
    # no database handle crosses a fork: the master keeps no connection open
    app_names = [r[0] for r in db.rows("SELECT application_name FROM pg_stat_activity WHERE datname = '%s'"
                                       % db.name)]
    assert "rtftd-migrate" not in app_names, app_names


def test_unreachable_postgres_stops_start(daemon):
    port = free_port()  # nobody listens there
    d = daemon(config={"database_url": "postgres://postgres:pw0rdX@127.0.0.1:%d/rt" % port}, start=False)
    d.start(wait=False)
    assert d.wait_exit(30) == 1, d.log_tail()
    text = d.log_text()
    assert "127.0.0.1:%d" % port in text
    assert "pw0rdX" not in text
