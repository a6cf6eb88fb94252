"""The web page's files from www_root (rtftd(8), HTTP ENDPOINTS): safe
paths, content types, validators, HEAD, the security headers, and the
page in www/ itself being servable under the CSP (no inline script or
style)."""
import html.parser
import json
import os
import re
import socket
import time

from helpers import recv_until, srcdir


def make_root(tmp_path):
    root = tmp_path / "www"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>t</title><script src=/js/app.js></script>\n")
    (root / "js" / "app.js").write_text("console.log('hi');\n")
    (root / "style.css").write_text("body{}\n")
    (root / ".secret").write_text("hidden\n")
    (tmp_path / "outside.txt").write_text("outside\n")
    return str(root)


def test_files_served_with_types_and_security_headers(daemon, tmp_path):
    d = daemon(config={"www_root": make_root(tmp_path)})
    status, h, body = d.get("/")
    assert status == 200
    assert body.startswith(b"<!doctype html><title>t</title>")
    assert h["Content-Type"] == "text/html; charset=utf-8"
    csp = h["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    # the page talks to its own origin only (a ?ws= link cannot divert it)
    assert "connect-src 'self';" in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in h  # no https external_url
    assert h["Cache-Control"] == "no-cache" and h["ETag"]
    for path, ctype, text in (("/js/app.js", "text/javascript; charset=utf-8", b"console.log('hi');\n"),
                              ("/style.css", "text/css; charset=utf-8", b"body{}\n"),
                              ("/index.html", "text/html; charset=utf-8", None)):
        status, h, body = d.get(path)
        assert status == 200, path
        assert h["Content-Type"] == ctype
        assert text is None or body == text
    # JSON answers carry the headers too
    assert d.get("/healthz")[1]["X-Content-Type-Options"] == "nosniff"


def test_paths_outside_or_hidden_are_not_found(daemon, tmp_path):
    d = daemon(config={"www_root": make_root(tmp_path)})
    for path in ("/../outside.txt", "/%2e%2e/outside.txt", "/js/../../outside.txt", "/.secret", "/js/.x",
                 "/js//app.js", "/js/", "/js", "/nope.html", "/a\\b"):
        status, h, body = d.get(path)
        assert status == 404, (path, status, body)
        doc = json.loads(body)
        assert doc["status"] == 404 and doc["request_id"] == h["X-Request-ID"], path
        assert b"outside" not in body and b"hidden" not in body
    status, h, body = d.get("/index.html", method="POST", body=b"x")
    assert status == 405 and h["Allow"] == "GET, HEAD"


def test_etag_and_not_modified(daemon, tmp_path):
    root = make_root(tmp_path)
    d = daemon(config={"www_root": root})
    status, h, body = d.get("/js/app.js")
    etag = h["ETag"]
    status, h2, body2 = d.get("/js/app.js", headers={"If-None-Match": etag})
    assert status == 304 and body2 == b""
    # a 304's Content-Length, if any, is the length of the 200's body
    assert h2.get("Content-Length") in (None, str(len(body)))
    time.sleep(0.01)
    with open(os.path.join(root, "js", "app.js"), "w") as f:
        f.write("console.log('changed');\n")
    status, h3, body3 = d.get("/js/app.js", headers={"If-None-Match": etag})
    assert status == 200 and body3 == b"console.log('changed');\n" and h3["ETag"] != etag


def test_head_has_length_and_no_body(daemon, tmp_path):
    d = daemon(config={"www_root": make_root(tmp_path)})
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    # a HEAD then a GET on one connection: a body after the HEAD would be
    # read as the start of the next response
    s.sendall(b"HEAD /js/app.js HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = recv_until(s, lambda b: b.count(b"HTTP/1.1 ") >= 2 and b.endswith(b"}\n"))
    s.close()
    first, second = data.split(b"HTTP/1.1 ")[1:3]
    assert first.startswith(b"200")
    assert re.search(rb"Content-Length: 19\r\n", first), first
    assert first.endswith(b"\r\n\r\n"), first
    assert second.startswith(b"200") and second.endswith(b'{"status":"ok"}\n')


def test_hsts_only_with_https_external_url(daemon, tmp_path):
    root = make_root(tmp_path)
    d = daemon(config={"www_root": root, "external_url": "https://rtft.example.org", "hsts_max_age": 1234})
    assert d.get("/")[1]["Strict-Transport-Security"] == "max-age=1234"
    d2 = daemon(config={"www_root": root, "external_url": "https://rtft.example.org", "hsts_max_age": 0})
    assert "Strict-Transport-Security" not in d2.get("/")[1]
    d3 = daemon(config={"www_root": root, "external_url": "http://rtft.example.org"})
    assert "Strict-Transport-Security" not in d3.get("/")[1]


def test_without_the_page_root_says_so(daemon, tmp_path):
    for root in ("", str(tmp_path / "missing")):
        d = daemon(config={"www_root": root})
        status, h, body = d.get("/")
        assert status == 200 and b"web client is not installed" in body
        assert d.get("/app.js")[0] == 404


def test_www_root_reloads(daemon, tmp_path):
    d = daemon(config={"www_root": ""})
    assert b"not installed" in d.get("/")[2]
    d.write_config(www_root=make_root(tmp_path))
    n = d.notify_count()
    d.sighup()
    d.wait_ready(after_index=n)
    deadline = time.monotonic() + 5
    while b"<title>t</title>" not in d.get("/")[2]:
        assert time.monotonic() < deadline, "www_root not applied by the reload"
        time.sleep(0.05)


class InlineFinder(html.parser.HTMLParser):
    """What the CSP would block: inline script, event handler attributes,
    style attributes and <style> blocks, javascript: URLs."""

    def __init__(self):
        super().__init__()
        self.problems = []
        self.scripts = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k, v in attrs:
            if k.startswith("on"):
                self.problems.append("event handler attribute %s on <%s>" % (k, tag))
            if k == "style":
                self.problems.append("style attribute on <%s>" % tag)
            if v and v.strip().lower().startswith("javascript:"):
                self.problems.append("javascript: URL on <%s>" % tag)
        if tag == "style":
            self.problems.append("<style> block")
        if tag == "script":
            if "src" not in a:
                self._in_script = True
            else:
                self.scripts.append(a["src"])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.problems.append("inline <script>")


def test_the_web_page_is_servable_under_the_csp(daemon):
    root = os.path.join(srcdir(), "www")
    d = daemon(config={"www_root": root})
    status, h, body = d.get("/")
    assert status == 200
    assert b"not installed" not in body, "www/index.html is missing"
    finder = InlineFinder()
    finder.feed(body.decode())
    assert not finder.problems, finder.problems
    assert finder.scripts, "the page loads no script"
    # every script and stylesheet the page names is served with its type
    for src in finder.scripts + re.findall(r'<link[^>]+href="([^"]+\.css)"', body.decode()):
        path = src if src.startswith("/") else "/" + src.lstrip("./")
        status, h, _ = d.get(path)
        assert status == 200, path
        assert h["Content-Type"].startswith("text/javascript" if path.endswith(".js") else "text/css"), path
