"""rtftd at the edge (issue 11, points 3, 4, 6 and 9), behind a real nginx
running the example of rtftd(8) (realprogs.Nginx): the client address
behind a trusted proxy (separate limits, forged X-Forwarded-For and
Forwarded changing nothing, the WebSocket session's address and log
context), the origins allowed to open the WebSocket and to read /api, HSTS
and the https redirect, and the X-Request-ID of the 101.

Clients connect from distinct loopback addresses (127.0.0.2, 127.0.0.4)
by binding before connect; nginx connects to rtftd from 127.0.0.3
(proxy_bind), the one trusted proxy."""
import json
import socket
import time

from helpers import Reader, run_rtftd, wait_for
from realprogs import nginx  # noqa: F401 (fixture)
from wsutil import RawWS, jdump

A, B, PROXY = "127.0.0.2", "127.0.0.4", "127.0.0.3"
EXT = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def behind(**extra):
    cfg = {"trust_proxy": "true", "trusted_proxies": PROXY, "log_format": "json", "workers": 1}
    cfg.update(extra)
    return cfg


def http_from(source, port, path, method="GET", headers=(), host=None):
    """One request from source on a new connection; a helpers.Response.
    headers: (name, value) pairs, repeated names allowed."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((source, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    try:
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % (host or "127.0.0.1:%d" % port),
                 "Connection: close"]
        lines += ["%s: %s" % kv for kv in headers]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        r = Reader(s)
        if method == "HEAD":  # a length but no body
            while b"\r\n\r\n" not in r.buf and r._fill():
                pass
            r.buf = r.buf.split(b"\r\n\r\n", 1)[0] + b"\r\nContent-Length: 0\r\n\r\n"
        return r.response()
    finally:
        s.close()


def records(d):
    """The daemon's JSON log lines as dicts."""
    out = []
    for line in d.all_log_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def http_clients(d, path):
    return [r.get("client") for r in records(d) if r.get("msg") == "http request" and r.get("path") == path]


def codes(source, port, n, path="/api/ice-servers", headers=()):
    return [http_from(source, port, path, headers=headers).status for _ in range(n)]


# ---------------------------------------------------------------- the client address

def test_two_clients_behind_nginx_have_separate_limits(daemon, nginx):
    d = daemon(config=behind(rate_limit_max=3, rate_limit_window_ms=60000))
    n = nginx(d.port)
    assert codes(A, n.port, 3) == [200, 200, 200]
    assert http_from(A, n.port, "/api/ice-servers").status == 429, "A is over its limit"
    assert codes(B, n.port, 3) == [200, 200, 200], "B, behind the same proxy, has a limit of its own"
    assert http_from(B, n.port, "/api/ice-servers").status == 429
    # what rtftd logged and counted: the clients, never the proxy
    wait_for(lambda: len(http_clients(d, "/api/ice-servers")) == 8, 5, "eight request lines")
    assert sorted(set(http_clients(d, "/api/ice-servers"))) == [A, B]


def test_without_trust_every_client_is_the_proxy(daemon, nginx):
    """The control: with trust_proxy off (the default), the same two clients
    share the proxy's one bucket, which is what issue 11 found."""
    d = daemon(config={"log_format": "json", "workers": 1, "rate_limit_max": 3})
    n = nginx(d.port)
    assert codes(A, n.port, 3) == [200, 200, 200]
    assert http_from(B, n.port, "/api/ice-servers").status == 429
    wait_for(lambda: len(http_clients(d, "/api/ice-servers")) == 4, 5, "four request lines")
    assert set(http_clients(d, "/api/ice-servers")) == {PROXY}


def test_forged_forwarding_headers_change_nothing(daemon, nginx):
    d = daemon(config=behind(rate_limit_max=2, log_level="debug"))
    n = nginx(d.port)
    forged = [("X-Forwarded-For", "10.9.9.9"), ("X-Forwarded-For", "10.8.8.8, 127.0.0.3")]
    assert codes(A, n.port, 2) == [200, 200]
    # through the proxy: nginx appends A's address to what A wrote, and the
    # right-most untrusted entry is A's own
    assert codes(A, n.port, 1, headers=forged) == [429]
    assert codes(A, n.port, 1, headers=[("Forwarded", "for=10.7.7.7")]) == [429], "Forwarded is not believed"
    # directly: A is not a trusted proxy, its headers are ignored
    assert codes(A, d.port, 1, headers=forged + [("Forwarded", "for=10.7.7.7")]) == [429]
    # malformed headers from the trusted proxy itself: the proxy, no crash
    for bad in ("garbage", "[::1", "1.2.3.4:x", "," * 3000, "for=\"", "\x7f"):
        r = http_from(PROXY, d.port, "/healthz", headers=[("X-Forwarded-For", bad), ("Forwarded", bad)])
        assert r.status == 200, bad
    wait_for(lambda: len(http_clients(d, "/healthz")) == 6, 5, "six /healthz lines")
    assert set(http_clients(d, "/healthz")) == {PROXY}
    clients = set(http_clients(d, "/api/ice-servers"))
    assert clients == {A}, clients
    text = d.all_log_text()
    assert "forwarding headers from 127.0.0.2 ignored (not a trusted proxy" in text
    assert "forwarding headers from 127.0.0.3 cannot be read: the client is 127.0.0.3" in text


def test_trusted_forwarded_header_and_ipv6(daemon):
    """RFC 7239 Forwarded (quoted IPv6 with a port) and X-Forwarded-For from
    a trusted peer, straight to rtftd (the default: loopback trusted)."""
    d = daemon(config={"trust_proxy": "true", "log_format": "json", "workers": 1})
    cases = [([("Forwarded", 'for="[2001:db8:cafe::17]:4711";proto=https')], "2001:db8:cafe::17"),
             ([("Forwarded", "for=192.0.2.60, for=127.0.0.1")], "192.0.2.60"),
             ([("X-Forwarded-For", "203.0.113.9, 127.0.0.5")], "203.0.113.9"),
             ([("X-Forwarded-For", "198.51.100.1"), ("Forwarded", "for=203.0.113.77")], "198.51.100.1")]
    for headers, want in cases:
        assert http_from("127.0.0.1", d.port, "/api/info", headers=headers).status == 200
    wait_for(lambda: len(http_clients(d, "/api/info")) == len(cases), 5, "the request lines")
    assert http_clients(d, "/api/info") == [want for _, want in cases]


def check(env, print_config=False):
    """rtftd -t (and -p) with only env: (ok, stdout + stderr)."""
    rc, out, err = run_rtftd(["-c", "/dev/null", "-t"] + (["-p"] if print_config else []), env=env)
    return rc == 0, out + err


def test_environment_names_and_bad_lists():
    ok, out = check({"BEHIND_PROXY": "true", "TRUSTED_PROXIES": "10.0.0.0/8, fd00::/8"})
    assert ok, out
    ok, out = check({"TRUSTED_PROXIES": "10.0.0.0/33"})
    assert not ok and 'trusted_proxies = "10.0.0.0/33"' in out and "not an IP address or CIDR range" in out, out
    ok, out = check({"CORS_ORIGINS": "https://a.example/app"})
    assert not ok and "cors_origins" in out and "is not an origin" in out, out
    ok, out = check({"TRUSTED_PROXIES": "10.0.0.1"})
    assert ok and "trust_proxy is off" in out, out
    ok, out = check({"HTTPS_REDIRECT": "sometimes"})
    assert not ok and "https_redirect" in out, out


def test_behind_proxy_is_trust_proxy():
    ok, out = check({"BEHIND_PROXY": "yes"}, print_config=True)
    assert ok and 'trust_proxy = "true"  # environment BEHIND_PROXY' in out, out
    ok, out = check({"BEHIND_PROXY": "true", "TRUST_PROXY": "false"}, print_config=True)
    assert ok and 'trust_proxy = "false"  # environment TRUST_PROXY' in out, out
    ok, out = check({}, print_config=True)
    assert 'trusted_proxies = "127.0.0.0/8, ::1"' in out and 'https_redirect = "auto"' in out, out


# ---------------------------------------------------------------- WebSocket through nginx

def test_websocket_through_nginx_carries_the_client(daemon, nginx):
    d = daemon(config=behind(cors_origins="https://app.example"))
    n = nginx(d.port)
    ws = RawWS(n.port, source=B, headers={"Origin": "https://app.example",
                                          "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    assert ws.status == 101, (ws.status, ws.body)
    rid = ws.headers.get("x-request-id", "")
    assert len(rid) == 32 and all(c in "0123456789abcdef" for c in rid), "nginx's $request_id reaches the 101"
    ws.send_json({"type": "SET_USERNAME", "username": "alice"})
    assert ws.recv_json()["type"] == "USERNAME_SET"
    ws.send_json({"type": "PING"})
    assert ws.recv_json()["type"] == "PONG"
    ws.send_close(1000)
    ws.expect_close()
    ws.close()

    def session(msg_part):
        return [r for r in records(d) if msg_part in r.get("msg", "") and r.get("request_id") == rid]
    wait_for(lambda: session("closed with"), 5, "the session's close line")
    opened = session("opened")
    assert len(opened) == 1 and ("from %s opened" % B) in opened[0]["msg"], opened
    assert opened[0]["client"] == B and "user_id" not in opened[0], opened
    assert opened[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", "traceparent propagated"
    closed = session("closed with")[0]
    assert closed["client"] == B and closed["user_id"] == "alice", closed
    assert (" from %s as alice closed with 1000" % B) in closed["msg"], closed
    upgrade = [r for r in records(d) if r.get("msg") == "http request" and r.get("status") == 101]
    assert upgrade and upgrade[0]["client"] == B and upgrade[0]["request_id"] == rid


def test_direct_101_carries_its_request_id(daemon):
    d = daemon(config={"log_format": "json"})
    ws = RawWS(d.port, headers={"X-Request-ID": "my-upgrade.1"})
    assert ws.status == 101 and ws.headers["x-request-id"] == "my-upgrade.1"
    ws.close()
    ws = RawWS(d.port)
    assert ws.status == 101 and len(ws.headers["x-request-id"]) >= 8, "generated when the client sent none"
    ws.register("bob")
    ws.close()
    rid = ws.headers["x-request-id"]
    wait_for(lambda: any(r.get("request_id") == rid and r.get("user_id") == "bob" for r in records(d)), 5,
             "the close line with bob's request id and name")


# ---------------------------------------------------------------- origins

def upgrade_status(port, origin=None, source="127.0.0.1"):
    ws = RawWS(port, source=source, headers={"Origin": origin} if origin else None)
    try:
        return ws.status
    finally:
        ws.close()


def test_origins_refused_and_allowed(daemon, nginx):
    d = daemon(config=behind(cors_origins="https://app.example, " + EXT))
    n = nginx(d.port)
    for origin in ("https://evil.example", "null", "https://app.example.evil.example", "http://app.example"):
        assert upgrade_status(n.port, origin, source=A) == 403, origin
    for origin in ("https://app.example", "https://APP.example:443", EXT):
        assert upgrade_status(n.port, origin, source=A) == 101, origin
    assert upgrade_status(n.port, None, source=A) == 101, "no Origin: not a browser, let in"
    # the page's own origin (RawWS sends Host: 127.0.0.1; nginx passes $host on)
    assert upgrade_status(n.port, "http://127.0.0.1", source=A) == 101
    d.wait_log('websocket upgrade refused (403): origin \\"https://evil.example\\" is not allowed')
    refused = [r for r in records(d) if r.get("msg", "").startswith("websocket upgrade refused")]
    assert len(refused) == 4 and all(r["client"] == A and "(client %s)" % A in r["msg"] for r in refused)
    assert any('origin \"null\"' in r["msg"] for r in refused)
    # the 403 body says why
    ws = RawWS(d.port, headers={"Origin": "https://evil.example"})
    assert ws.status == 403 and "cors_origins" in json.loads(ws.body)["error"]
    ws.close()
    # require_origin, applied by a reload
    d.write_config(**behind(cors_origins="https://app.example", require_origin="true"))
    d.sighup()
    wait_for(lambda: upgrade_status(d.port) == 403, 10, "require_origin to apply")
    assert upgrade_status(d.port, "https://app.example") == 101
    d.wait_log("no Origin header and require_origin is on")


def test_origin_defaults(daemon):
    dev = daemon(config={})
    assert upgrade_status(dev.port, "https://evil.example") == 101, "development: any origin"
    assert upgrade_status(dev.port, "null") == 403, "but never null unless listed"
    listed = daemon(config={"cors_origins": "null"})
    assert upgrade_status(listed.port, "null") == 101
    assert upgrade_status(listed.port, "https://evil.example") == 403, "a list replaces the development default"
    star = daemon(config={"cors_origins": "*"})
    assert upgrade_status(star.port, "https://any.example") == 101 and upgrade_status(star.port, "null") == 403
    prod = daemon(config={"node_env": "production", "external_url": "https://rtft.example.org",
                          "cors_origins": EXT})
    assert upgrade_status(prod.port, "https://rtft.example.org") == 101, "production: external_url's origin"
    assert upgrade_status(prod.port, EXT) == 101, "and the list"
    assert upgrade_status(prod.port, "https://evil.example") == 403
    # with external_url, a page's own Host is not an origin of its own: a
    # name the attacker points at this server (DNS rebinding) gets nothing
    rebound = daemon(config={"cors_origins": "https://app.example", "external_url": "https://rtft.example.org"})
    assert upgrade_status(rebound.port, "http://127.0.0.1") == 403
    assert upgrade_status(rebound.port, "https://rtft.example.org") == 101
    assert upgrade_status(prod.port, "http://127.0.0.1") == 403


def test_api_cors_and_preflight(daemon, nginx):
    d = daemon(config=behind(cors_origins="https://app.example, " + EXT))
    n = nginx(d.port)
    r = http_from(A, n.port, "/api/ice-servers", method="OPTIONS",
                  headers=[("Origin", EXT), ("Access-Control-Request-Method", "GET"),
                           ("Access-Control-Request-Headers", "x-request-id, traceparent")])
    assert r.status == 204, r.body
    assert r.header("access-control-allow-origin") == EXT
    assert "GET" in r.header("access-control-allow-methods")
    assert r.header("access-control-allow-headers") == "x-request-id, traceparent"
    assert int(r.header("access-control-max-age")) > 0
    r = http_from(A, n.port, "/api/ice-servers", method="OPTIONS",
                  headers=[("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")])
    assert r.status == 403 and r.header("access-control-allow-origin") is None
    r = http_from(A, n.port, "/api/info", headers=[("Origin", "https://app.example")])
    assert r.status == 200 and r.header("access-control-allow-origin") == "https://app.example"
    assert "Origin" in r.header("vary") and "X-Request-ID" in r.header("access-control-expose-headers")
    r = http_from(A, n.port, "/api/info", headers=[("Origin", "https://evil.example")])
    assert r.status == 200 and r.header("access-control-allow-origin") is None and "Origin" in r.header("vary")
    r = http_from(A, n.port, "/api/info", method="OPTIONS")
    assert r.status == 204 and "OPTIONS" in r.header("allow")
    r = http_from(A, n.port, "/healthz", headers=[("Origin", "https://app.example")])
    assert r.header("access-control-allow-origin") is None, "only /api answers CORS"


# ---------------------------------------------------------------- https

def test_hsts_flags(daemon):
    d = daemon(config={"external_url": "https://rtft.example.org", "hsts_max_age": 1234,
                       "hsts_include_subdomains": "true", "hsts_preload": "true"})
    assert d.get("/healthz")[1]["Strict-Transport-Security"] == "max-age=1234; includeSubDomains; preload"
    # no https external_url: HSTS only when a trusted proxy says https
    t = daemon(config={"trust_proxy": "true", "hsts_max_age": 99})
    assert t.get("/", headers={"X-Forwarded-Proto": "https"})[1]["Strict-Transport-Security"] == "max-age=99"
    assert "Strict-Transport-Security" not in t.get("/", headers={"X-Forwarded-Proto": "http"})[1]
    assert "Strict-Transport-Security" not in t.get("/")[1]
    u = daemon(config={"hsts_max_age": 99})
    assert "Strict-Transport-Security" not in u.get("/", headers={"X-Forwarded-Proto": "https"})[1], \
        "an untrusted X-Forwarded-Proto is ignored"


def make_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>t</title>\n")
    (root / "style.css").write_text("body{}\n")
    return str(root)


def test_https_redirect_behind_nginx(daemon, nginx, tmp_path):
    d = daemon(config=behind(external_url="https://rtft.example.org", https_redirect="true",
                             www_root=make_root(tmp_path), cors_origins="https://rtft.example.org"))
    n = nginx(d.port)
    # the TLS-less test server says X-Forwarded-Proto: http
    r = http_from(A, n.port, "/")
    assert r.status == 301 and r.header("location") == "https://rtft.example.org/", (r.status, r.headers)
    assert r.header("strict-transport-security") == "max-age=31536000"
    r = http_from(A, n.port, "/style.css?v=2")
    assert r.status == 301 and r.header("location") == "https://rtft.example.org/style.css?v=2"
    assert http_from(A, n.port, "/", method="HEAD").status == 301
    assert http_from(A, n.port, "/healthz").status == 200
    assert http_from(A, n.port, "/readyz").status in (200, 503)
    assert http_from(A, n.port, "/api/info").status == 200
    assert http_from(A, n.port, "/missing.txt").status == 301, "any page path"
    ws = RawWS(n.port, source=A, headers={"Origin": "https://rtft.example.org"})
    assert ws.status == 101, "WebSocket upgrades are not redirected"
    ws.close()
    # the example's port 80 block redirects by itself
    r = http_from(A, n.http_port, "/x?y=1", host="rtft.example.org")
    assert r.status == 301 and r.header("location") == "https://rtft.example.org/x?y=1"
    # directly, without a trusted X-Forwarded-Proto: served
    assert http_from("127.0.0.1", d.port, "/").status == 200
    # what a TLS proxy forwards (X-Forwarded-Proto: https) is served
    assert http_from(PROXY, d.port, "/", headers=[("X-Forwarded-Proto", "https")]).status == 200


def test_https_redirect_default(daemon):
    hdr = {"X-Forwarded-Proto": "http"}
    base = {"trust_proxy": "true", "external_url": "https://rtft.example.org", "cors_origins": EXT}
    prod = daemon(config=dict(base, node_env="production"))
    status, h, _ = prod.get("/a.html?q", headers=hdr)
    assert status == 301 and h["Location"] == "https://rtft.example.org/a.html?q", "on in production"
    dev = daemon(config=base)
    assert dev.get("/", headers=hdr)[0] == 200, "off in development"
    off = daemon(config=dict(base, node_env="production", https_redirect="false"))
    assert off.get("/", headers=hdr)[0] == 200
    # (production refuses an http external_url outright: see test_production.py)
    plain = daemon(config=dict(base, https_redirect="true", external_url="http://rtft.example.org"))
    assert plain.get("/", headers=hdr)[0] == 200, "no https external_url: nowhere to redirect to"
