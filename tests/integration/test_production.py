"""Production mode (NODE_ENV=production) refuses to start on a setting
that is fine on a laptop and wrong on the internet, one line per problem
and all of them; every variable of an RTFT .env that rtftd does not take
gets one warning saying what to do, and a name that looks like a typing
error for a key gets one naming the key. rtftd -t says all of it."""

import os
import re
import time

from helpers import free_port, port_free, run_rtftd, write_config

GOOD_SECRET = "0123456789abcdef" * 4
DB_PASSWORD = "pw-" + "Zx9" * 8


def conf(tmp_path, **values):
    cfg = {"host": "127.0.0.1", "port": free_port(), "metrics_listen": "127.0.0.1:%d" % free_port(),
           "database_url": "sqlite://%s/rt.db" % tmp_path, "workers": 1}
    cfg.update(values)
    path = os.path.join(str(tmp_path), "rtftd.conf")
    write_config(path, cfg)
    return path


def lines(err, kind):
    return [line for line in err.splitlines() if line.startswith("rtftd: %s: " % kind)]


def test_production_lists_every_problem(tmp_path):
    path = conf(tmp_path, external_url="http://rtft.example", turn_secret="short",
                metrics_listen="0.0.0.0:%d" % free_port(),
                database_url="postgres://rtft:%s@db.example/rtft" % DB_PASSWORD, db_ssl="disable")
    rc, out, err = run_rtftd(["-c", path, "-t"], env={"NODE_ENV": "production"})
    assert rc == 1, err
    errors = lines(err, "error")
    assert len(errors) == 4, err
    assert any('production: external_url = "http://rtft.example": expected an https:// URL' in e for e in errors)
    assert any("production: turn_secret: secret 1 is 5 bytes: expected at least 32" in e for e in errors)
    assert any(re.search(r'production: metrics_listen = "0\.0\.0\.0:\d+" serves /metrics beyond loopback', e)
               for e in errors)
    assert any("production: database_url sends a password to db.example without TLS (db_ssl = disable)" in e
               for e in errors)
    assert DB_PASSWORD not in err and "short" not in err.replace("shorter", "")
    # the same settings outside production: fine
    rc, out, err = run_rtftd(["-c", path, "-t"], env={"NODE_ENV": "development"})
    assert rc == 0 and not lines(err, "error"), err


def test_production_wants_external_url(tmp_path):
    rc, out, err = run_rtftd(["-c", conf(tmp_path), "-t"], env={"NODE_ENV": "production"})
    assert rc == 1 and lines(err, "error") == [
        "rtftd: error: production: no origins are configured: no web page could open the WebSocket "
        "(expected external_url, whose origin is allowed, and cors_origins for any other)",
        "rtftd: error: production: external_url is not set: expected the https:// URL people open "
        "(browsers allow WebRTC only from https pages)"], err
    rc, out, err = run_rtftd(["-c", conf(tmp_path, external_url="https://rtft.example", turn_secret=GOOD_SECRET,
                                         metrics_listen="[::1]:%d" % free_port()), "-t"],
                             env={"NODE_ENV": "production"})
    assert rc == 0 and not lines(err, "error"), err


def test_daemon_in_production_does_not_start(daemon):
    d = daemon(config={"external_url": "http://rtft.example"}, env={"NODE_ENV": "production"}, start=False)
    t0 = time.monotonic()
    d.start(wait=False)
    assert d.wait_exit(10) == 1, d.log_tail()
    assert time.monotonic() - t0 < 5
    log = d.log_text()
    assert re.search(r'error: config production: external_url = "http://rtft.example"', log), log
    assert port_free(d.port) and not any("READY=1" in m for m in d.notifications)


SEED_ONLY = {
    "SMTP_HOST": "sends no mail", "SMTP_PORT": "sends no mail", "SMTP_USER": "sends no mail",
    "SMTP_PASS": "sends no mail", "SMTP_FROM": "sends no mail",
    "S3_BUCKET": "stores no files", "S3_REGION": "stores no files", "AWS_ACCESS_KEY_ID": "stores no files",
    "AWS_SECRET_ACCESS_KEY": "stores no files",
    "API_KEYS_ADMIN": "has no API keys", "API_KEYS_READONLY": "has no API keys",
    "TURN_API_KEY": "TURN_SECRET", "TURN_STATIC_CREDENTIALS": "TURN_SERVERS",
    "SESSION_SECRET": "no session cookies", "DB_MAX_POOL": "one database handle", "REDIS_URL": "needs no Redis",
}


def test_variables_rtftd_does_not_take(tmp_path):
    env = {name: "value-%d-x" % i for i, name in enumerate(SEED_ONLY)}
    env.update({"LOG_LEVL": "debug", "RATE_LIMT_MAX": "5", "HOME": "/root", "HOSTNAME": "box",
                "USER": "root", "LANG": "C.UTF-8", "OTHER_APP_TOKEN": "1"})
    rc, out, err = run_rtftd(["-c", conf(tmp_path), "-t"], env=env)
    assert rc == 0, err
    warnings = lines(err, "warning")
    for name, why in SEED_ONLY.items():
        mine = [w for w in warnings if w.startswith("rtftd: warning: environment %s: " % name)]
        assert len(mine) == 1 and why in mine[0], (name, warnings)
    assert "rtftd: warning: environment LOG_LEVL: LOG_LEVL is not a variable rtftd reads: did you mean LOG_LEVEL?" \
        in warnings, err
    assert any("RATE_LIMT_MAX is not a variable rtftd reads: did you mean RATE_LIMIT_MAX?" in w for w in warnings)
    assert len(warnings) == len(SEED_ONLY) + 2, warnings
    assert "value-" not in err


def test_env_file_and_config_file_are_looked_at_too(tmp_path):
    envf = os.path.join(str(tmp_path), "rtft.env")
    with open(envf, "w") as f:
        f.write("PORT=%d\nSMTP_HOST=mail.example\nLOG_LEVL=debug\nexport REDIS_URL=redis://x\nOTHER=1\n" % free_port())
    path = conf(tmp_path)
    with open(path, "a") as f:
        f.write("log_levl = debug\nturn_api_key = k\nno_such_key = 1\n")
    rc, out, err = run_rtftd(["-c", path, "--env-file", envf, "-t"])
    assert rc == 0, err
    w = lines(err, "warning")
    assert any(re.search(r"rtft\.env:2: rtftd does not use SMTP_HOST: rtftd sends no mail", x) for x in w), w
    assert any(re.search(r"rtft\.env:3: LOG_LEVL is not a variable rtftd reads: did you mean LOG_LEVEL\?", x)
               for x in w), w
    assert any(re.search(r"rtft\.env:4: rtftd does not use REDIS_URL", x) for x in w), w
    assert any(re.search(r"rtftd\.conf:\d+: log_levl is not a key rtftd reads: did you mean log_level\?", x)
               for x in w), w
    assert any(re.search(r"rtftd\.conf:\d+: rtftd does not use turn_api_key: rtftd mints", x) for x in w), w
    assert any('unknown key "no_such_key" ignored' in x for x in w), w
    assert not any("OTHER" in x for x in w), w


def test_signin_keys_over_plain_http_and_a_short_secret(tmp_path):
    """jwks_url over plain http to a host beyond loopback (anyone on the
    path could swap the keys and forge tokens) and a jwt_secret under 32
    bytes: warnings in development, errors in production."""
    path = conf(tmp_path, external_url="https://rtft.example", jwks_url="http://keys:pa55word@idp.example/jwks.json",
                jwt_secret="tiny-secret")
    want = ['jwks_url fetches the signing keys over plain http from idp.example, beyond '
            'loopback: anyone on the path can replace them and forge tokens (expected an https:// URL)',
            "jwt_secret is 11 bytes: expected at least 32"]
    rc, out, err = run_rtftd(["-c", path, "-t"], env={"NODE_ENV": "development"})
    assert rc == 0 and not lines(err, "error"), err
    warnings = lines(err, "warning")
    assert all(sum(w in line for line in warnings) == 1 for w in want), err
    rc, out, err = run_rtftd(["-c", path, "-t"], env={"NODE_ENV": "production"})
    errors = lines(err, "error")
    assert rc == 1 and len(errors) == 2, err
    assert all(sum(("production: " + w) in line for line in errors) == 1 for w in want), err
    assert "tiny-secret" not in err and "pa55word" not in err
    # https, or http on loopback, and a long secret: not a word
    for url in ("https://idp.example/jwks.json", "http://127.0.0.1:9/jwks.json", "http://[::1]:9/k",
                "http://localhost:9/k"):
        path = conf(tmp_path, external_url="https://rtft.example", jwks_url=url, jwt_secret=GOOD_SECRET)
        rc, out, err = run_rtftd(["-c", path, "-t"], env={"NODE_ENV": "production"})
        assert rc == 0 and "jwks_url" not in err and "jwt_secret" not in err, (url, err)


def test_daemon_warns_at_start_about_a_short_jwt_secret(daemon):
    d = daemon(config={"jwt_secret": "tiny-secret"})
    log = d.log_text()
    assert re.search(r"warn: config jwt_secret is 11 bytes: expected at least 32", log), log
    assert "tiny-secret" not in log
