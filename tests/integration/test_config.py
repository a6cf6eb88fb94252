"""Configuration: rtftd -t / -t -p, sources and their precedence, errors
that name the key, secrets kept out of the output, refusal to start."""

import os
import re
import socket
import time

from helpers import free_port, port_free, run_rtftd, srcdir, write_config

SECRET = "s3cr3t-" + "q" * 40  # a turn_secret
DB_PASSWORD = "hunter2secret"


def base_config(tmp_path, **extra):
    cfg = {
        "host": "127.0.0.1",
        "port": free_port(),
        "metrics_listen": "127.0.0.1:%d" % free_port(),
        "database_url": "sqlite://%s/rt.db" % tmp_path,
        "workers": 2,
    }
    cfg.update(extra)
    return cfg


def conf_file(tmp_path, name="rtftd.conf", **values):
    path = os.path.join(str(tmp_path), name)
    write_config(path, base_config(tmp_path, **values))
    return path


def printed(stdout):
    """-t -p output as {key: (value, source comment)}."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r'^(\w+) = "(.*)"  # (.*)$', line)
        assert m, "unexpected -t -p line: %r" % line
        out[m.group(1)] = (m.group(2), m.group(3))
    return out


APPLY_WORDS = {"CONFIG_RESTART": "restart", "CONFIG_RELOAD": "reload", "CONFIG_GENERATION": "generation"}


def keys_in_source():
    """(name, --list-keys word of its apply class) for every entry of the key
    table in src/config.c."""
    with open(os.path.join(srcdir(), "src", "config.c")) as f:
        text = f.read()
    table = text[text.index("static const struct key keys[]"):]
    table = table[:table.index("};")]
    found = re.findall(r'\{\s*"(\w+)",\s*KT_\w+,\s*F\(\w+\),\s*(?:\w+\s+)?"[^"]*",\s*[^,]+,\s*[^,]+,\s*(CONFIG_\w+)',
                       table)
    assert len(found) >= 10, "could not read the key table from src/config.c"
    assert len(found) == table.count("KT_"), "a key table entry did not match the pattern"
    return [(name, APPLY_WORDS[cls]) for name, cls in found]


def test_valid_file_passes(tmp_path):
    path = conf_file(tmp_path)
    rc, out, err = run_rtftd(["-c", path, "-t"])
    assert rc == 0, err
    assert "valid" in err
    assert out == ""


def test_port_out_of_range_names_key_value_and_range(tmp_path):
    path = conf_file(tmp_path, port=70000)
    rc, out, err = run_rtftd(["-c", path, "-t"])
    assert rc == 1
    lines = [l for l in err.splitlines() if "70000" in l]
    assert len(lines) == 1, err
    assert "port" in lines[0] and "1 to 65535" in lines[0], err
    # the error points at the line of the file
    assert "%s:2" % path in lines[0], err


def test_unknown_key_warned_with_file_and_line(tmp_path):
    path = conf_file(tmp_path)
    with open(path, "a") as f:
        f.write("\n# comment\nno_such_key = 1\nPORT = 9\n")
    nlines = sum(1 for _ in open(path))
    rc, out, err = run_rtftd(["-c", path, "-t"])
    assert rc == 0, err  # unknown keys are warnings, not errors
    assert re.search(r'warning: %s:%d: unknown key "no_such_key"' % (re.escape(path), nlines - 1), err), err
    # an upper-case key in the file is pointed at its lower-case spelling
    assert re.search(r'%s:%d: unknown key "PORT".*\bport\b' % (re.escape(path), nlines), err), err


def test_print_redacts_secrets(tmp_path):
    dburl = "postgres://u:%s@127.0.0.1/x" % DB_PASSWORD
    path = conf_file(tmp_path, turn_secret=SECRET, database_url=dburl)
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"])
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["turn_secret"][0] == "(redacted)"
    assert cfg["database_url"][0].startswith("postgres://u:")
    assert cfg["database_url"][0].endswith("@127.0.0.1/x")
    for text in (out, err):
        assert SECRET not in text
        assert DB_PASSWORD not in text
    # every key is printed
    assert set(cfg) == {name for name, _ in keys_in_source()}


def test_print_redacts_secrets_from_every_source(tmp_path):
    path = conf_file(tmp_path)
    rc, out, err = run_rtftd(["-c", path, "-t", "-p", "--turn-secret=" + SECRET],
                             env={"DATABASE_URL": "postgresql://admin:%s@db.example/rt" % DB_PASSWORD})
    assert rc == 0, err
    assert SECRET not in out + err and DB_PASSWORD not in out + err
    cfg = printed(out)
    assert cfg["turn_secret"] == ("(redacted)", "command line")
    assert cfg["database_url"][1].startswith("environment DATABASE_URL")


def test_precedence_file_env_command_line(tmp_path):
    path = conf_file(tmp_path, port=1111, log_level="debug", request_timeout_ms=5000)
    # file only
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"])
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["port"][0] == "1111" and cfg["port"][1].startswith(path + ":")
    assert cfg["log_level"][0] == "debug"
    assert cfg["max_body_bytes"] == ("65536", "default")
    # environment beats the file
    env = {"PORT": "2222", "LOG_LEVEL": "trace"}
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"], env=env)
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["port"][0] == "2222" and cfg["port"][1].startswith("environment PORT")
    assert cfg["log_level"][0] == "trace"
    assert cfg["request_timeout_ms"][0] == "5000"  # untouched keys keep the file's value
    # --set and --KEY=VALUE beat the environment
    rc, out, err = run_rtftd(["-c", path, "-t", "-p", "--set", "port=3333", "--log-level=warn"], env=env)
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["port"][0] == "3333" and cfg["port"][1].startswith("command line")
    assert cfg["log_level"] == ("warn", "command line")
    rc, out, err = run_rtftd(["-c", path, "-t", "-p", "--port=4444"], env=env)
    assert rc == 0, err
    assert printed(out)["port"][0] == "4444"
    # the later of two command-line settings wins
    rc, out, err = run_rtftd(["-c", path, "-t", "-p", "--port=4444", "--set", "port=5555"], env=env)
    assert rc == 0, err
    assert printed(out)["port"][0] == "5555"


def test_env_file(tmp_path):
    path = conf_file(tmp_path, port=1111)
    envfile = os.path.join(str(tmp_path), ".env")
    with open(envfile, "w") as f:
        f.write("# an existing RTFT .env\nexport PORT=6001\nLOG_LEVEL=\"debug\"\nNOT_OURS=1\n"
                "REQUEST_TIMEOUT_MS='7000'\n")
    rc, out, err = run_rtftd(["-c", path, "--env-file", envfile, "-t", "-p"])
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["port"][0] == "6001" and envfile in cfg["port"][1]
    assert cfg["log_level"][0] == "debug"
    assert cfg["request_timeout_ms"][0] == "7000"
    # the real environment beats the .env file, the command line beats both
    rc, out, err = run_rtftd(["-c", path, "--env-file", envfile, "-t", "-p", "--log-level=trace"],
                             env={"PORT": "6002"})
    assert rc == 0, err
    cfg = printed(out)
    assert cfg["port"][0] == "6002"
    assert cfg["log_level"][0] == "trace"
    # a missing env file is an error
    rc, out, err = run_rtftd(["-c", path, "--env-file", envfile + ".missing", "-t"])
    assert rc == 1
    assert ".missing" in err


def test_missing_config_file(tmp_path):
    missing = os.path.join(str(tmp_path), "nope.conf")
    rc, out, err = run_rtftd(["-c", missing, "-t"])
    assert rc == 1
    assert missing in err
    rc, out, err = run_rtftd(["-c", missing], timeout=20)
    assert rc == 1
    assert missing in err


def test_daemon_with_bad_config_exits_at_once(daemon):
    d = daemon(config={"request_timeout_ms": 5}, start=False)
    t0 = time.monotonic()
    d.start(wait=False)
    rc = d.wait_exit(10)
    took = time.monotonic() - t0
    assert rc == 1, d.log_tail()
    assert took < 5, "took %.1f s to refuse a bad config" % took
    log = d.log_text()
    errors = [l for l in log.splitlines() if "error" in l and "request_timeout_ms" in l]
    assert len(errors) == 1, log
    assert '"5"' in errors[0] and "100 to 3600000" in errors[0] and "rtftd.conf:" in errors[0], log
    # nothing was started: no database, no listener, no readiness
    assert not os.path.exists(os.path.join(d.dir, "rt.db")), "the database was opened before the config check"
    assert port_free(d.port) and port_free(d.metrics_port)
    assert not any("READY=1" in m for m in d.notifications)
    assert not re.search(r"rtftd \S+ starting", log), log


REMOVED = {"session_secret": "rtftd issues no tokens", "db_max_pool": "each process opens one database handle"}


def test_removed_keys_are_warnings(tmp_path):
    """db_max_pool and session_secret did nothing and were removed: a config
    written for an older rtftd still passes -t, with a warning per key that
    does not show the value."""
    path = conf_file(tmp_path, session_secret="abcde", db_max_pool=10)
    rc, out, err = run_rtftd(["-c", path, "-t", "--session-secret=fghij", "--set", "db_max_pool=5"],
                             env={"NODE_ENV": "production", "SESSION_SECRET": "klmno", "DB_MAX_POOL": "7",
                                  "EXTERNAL_URL": "https://rtft.example"})
    assert rc == 0, err
    for name, why in REMOVED.items():
        assert re.search(r'warning: %s:\d+: key "%s" is no longer used \(%s\)' % (re.escape(path), name, why),
                         err), err
        assert 'warning: command line: key "%s" is no longer used' % name in err, err
    for value in ("abcde", "fghij", "klmno"):
        assert value not in err
    # in the environment they are variables of the table rtftd does not use
    # (test_production.py): one warning each, still without the value
    assert err.count("warning: environment SESSION_SECRET: rtftd does not use SESSION_SECRET") == 1, err
    assert err.count("warning: environment DB_MAX_POOL: rtftd does not use DB_MAX_POOL") == 1, err
    # and they are no keys any more
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"])
    assert rc == 0, err
    assert not set(REMOVED) & set(printed(out))


def test_daemon_starts_with_removed_keys(daemon):
    d = daemon(config={"session_secret": "s" * 40, "db_max_pool": 10}, args=["--session-secret=" + "t" * 40])
    assert d.get("/healthz")[0] == 200
    log = d.log_text()
    assert log.count('key "session_secret" is no longer used') == 2, log
    assert log.count('key "db_max_pool" is no longer used') == 1, log
    assert "s" * 40 not in log and "t" * 40 not in log


def test_list_keys_lists_every_key():
    rc, out, err = run_rtftd(["--list-keys"])
    assert rc == 0, err
    listed = {}
    for line in out.splitlines():
        name, kind = line.split()
        listed[name] = kind
    expected = keys_in_source()
    assert sorted(listed) == sorted(name for name, _ in expected)
    for name, word in expected:
        assert listed[name] == word, (name, listed[name])
    # design.md: the listen address and the worker count, and nothing else,
    # take a new worker generation on reload
    assert {name for name, word in listed.items() if word == "generation"} == {"host", "port", "workers"}
    assert listed["database_url"] == "restart" and listed["log_level"] == "reload"


def test_every_key_settable_from_environment(tmp_path):
    """Each key's upper-case environment name is read (value = its default)."""
    path = conf_file(tmp_path)
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"])
    assert rc == 0, err
    defaults = printed(out)
    env = {}
    for name, (value, _) in defaults.items():
        env[name.upper()] = value
    rc, out, err = run_rtftd(["-c", path, "-t", "-p"], env=env)
    assert rc == 0, err
    for name, (value, source) in printed(out).items():
        assert source.startswith("environment %s" % name.upper()), (name, source)


def test_reload_keeps_start_only_values(daemon):
    """A reload that changes start-only keys together with a reloadable and a
    generation key: the start-only ones are named once and keep running, the
    others are applied."""
    d = daemon()
    other_metrics = free_port()
    other_db = os.path.join(d.dir, "other.db")
    n = d.notify_count()
    d.write_config(metrics_listen="127.0.0.1:%d" % other_metrics, database_url="sqlite://" + other_db,
                   log_level="debug", workers=3)
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("reload complete: 3 workers ready")
    warned = [l for l in d.log_text().splitlines() if "takes a restart" in l]
    assert len(warned) == 1, warned
    assert "reload: database_url, metrics_listen changed, which takes a restart; keeping the running values" \
        in warned[0], warned[0]
    assert " warn" in warned[0], warned[0]
    d.wait_log(" debug: ")  # log_level was applied
    assert d.metrics_get("/healthz")[0] == 200  # still on the old metrics port
    assert port_free(other_metrics)
    assert d.get("/healthz")[0] == 200
    assert not os.path.exists(other_db)
    # the file still differs from what runs: the next reload says so again
    n = d.notify_count()
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    d.wait_log("settings applied in place")
    assert len([l for l in d.log_text().splitlines() if "takes a restart" in l]) == 2


def test_reload_in_place_acknowledged_by_each_worker(daemon):
    """Workers confirm a config applied in place (CHAN_CONFIG_OK); the master
    logs each at debug level."""
    d = daemon()
    n = d.notify_count()
    d.write_config(log_level="debug")
    d.sighup()
    d.wait_ready(d.wait_notify("RELOADING=1", n) + 1)
    for slot in d.pids()["workers"]:
        d.wait_log("worker %d applied the new configuration" % slot)
    assert "unexpected channel message" not in d.log_text()
