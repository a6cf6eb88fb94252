"""Sign-in with tokens on the WebSocket upgrade (jwt_secret, jwks_url).

Real tokens signed with Python's cryptography (HS256, RS256, ES256, EdDSA),
a JSON Web Key Set served by a real HTTP server on loopback that the tests
rotate, and every place a token can travel: ?token=, Authorization: Bearer
and a Sec-WebSocket-Protocol entry."""

import base64
import http.server
import json
import threading
import time

import pytest
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from helpers import wait_for
from wsutil import OP_CLOSE, RawWS

SECRET = "integration-secret-of-at-least-32-bytes"
ISS, AUD = "https://id.test", "rtft"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_token(alg, key, kid=None, ttl=600, **claims):
    h = {"alg": alg, "typ": "JWT"}
    if kid:
        h["kid"] = kid
    c = {"iss": ISS, "aud": AUD, "exp": int(time.time()) + ttl, "iat": int(time.time())}
    c.update(claims)
    data = (b64(json.dumps(h).encode()) + "." + b64(json.dumps(c).encode())).encode()
    if alg == "HS256":
        m = hmac.HMAC(key.encode() if isinstance(key, str) else key, hashes.SHA256())
        m.update(data)
        sig = m.finalize()
    elif alg == "RS256":
        sig = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        sig = key.sign(data)
    return data.decode() + "." + b64(sig)


def jwk(kid, key):
    pub = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        n = pub.public_numbers()
        return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
                "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), "e": b64(n.e.to_bytes(3, "big"))}
    if isinstance(key, ec.EllipticCurvePrivateKey):
        n = pub.public_numbers()
        return {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")),
                "y": b64(n.y.to_bytes(32, "big"))}
    from cryptography.hazmat.primitives import serialization
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(raw)}


class JwksServer:
    """A key set on loopback; .keys and .status may be changed at any time."""

    def __init__(self):
        self.keys = []
        self.status = 200
        self.hits = 0
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                srv.hits += 1
                body = json.dumps({"keys": list(srv.keys)}).encode()
                self.send_response(srv.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/jwks.json" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks():
    s = JwksServer()
    yield s
    s.close()


def upgrade(d, token=None, where="query", protocols=None, path="/ws"):
    headers = {}
    if token and where == "query":
        path += "?token=" + token
    elif token and where == "bearer":
        headers["Authorization"] = "Bearer " + token
    elif token and where == "protocol":
        protocols = (protocols or ["rtft"]) + ["rtft.token." + token]
    if protocols:
        headers["Sec-WebSocket-Protocol"] = ", ".join(protocols)
    return RawWS(d.port, path=path, headers=headers)


def refused(r, status=401):
    assert r.status == status, (r.status, r.body)
    body = json.loads(r.body)
    r.close()
    return body


def hs_daemon(daemon, **cfg):
    config = {"workers": 1, "jwt_secret": SECRET, "jwt_issuer": ISS, "jwt_audience": AUD}
    config.update(cfg)
    return daemon(config=config)


@pytest.mark.parametrize("where", ["query", "bearer", "protocol"])
def test_hs256_token_in_each_place(daemon, where):
    d = hs_daemon(daemon)
    tok = make_token("HS256", SECRET)
    r = upgrade(d, tok, where)
    try:
        assert r.status == 101, (r.status, r.body)
        # RFC 6455 4.2.2: the server picks one of the offered protocols or
        # none; the token entry is never echoed
        if where == "protocol":
            assert r.headers.get("sec-websocket-protocol") == "rtft", r.header_lines
        else:
            assert "sec-websocket-protocol" not in r.headers
        r.register("alice")
    finally:
        r.close()
    assert tok not in d.all_log_text()


def test_protocol_token_alone_gets_no_protocol_back(daemon):
    d = hs_daemon(daemon)
    r = upgrade(d, make_token("HS256", SECRET), "protocol", protocols=["x"])
    try:
        assert r.status == 101, (r.status, r.body)
        assert "sec-websocket-protocol" not in r.headers, r.header_lines
    finally:
        r.close()


def test_refusals_are_401_with_reason_and_no_token_logged(daemon):
    d = hs_daemon(daemon)
    now = int(time.time())
    cases = {
        "no token": (None, "no token"),
        "malformed": ("not-a-token", "malformed token"),
        "bad chars": ("a.b.c%20", "malformed token"),
        "expired": (make_token("HS256", SECRET, ttl=-120), "token expired"),
        "not yet": (make_token("HS256", SECRET, nbf=now + 300), "token not valid yet"),
        "bad signature": (make_token("HS256", "another secret"), "bad token signature"),
        "issuer": (make_token("HS256", SECRET, iss="https://evil.test"), "token issuer not accepted"),
        "audience": (make_token("HS256", SECRET, aud=["x", "y"]), "token audience not accepted"),
        "alg none": (b64(b'{"alg":"none"}') + "." + b64(b'{"exp":9999999999}') + ".", "algorithm"),
        "RS256 without keys": (make_token("RS256", rsa.generate_private_key(65537, 2048)), "algorithm"),
        "oversized": (make_token("HS256", SECRET, pad="x" * 9000), None),
    }
    for name, (tok, why) in cases.items():
        r = upgrade(d, tok, "bearer")
        if name == "oversized":
            # over libevhtp's header limit or the token limit: refused either way
            assert r.status in (401, 431, 400), (name, r.status)
            r.close()
            continue
        assert r.status == 401, (name, r.status, r.body)
        assert r.headers.get("www-authenticate", "").startswith("Bearer"), (name, r.header_lines)
        body = refused(r)
        assert why in json.dumps(body), (name, body)
        if tok:
            assert tok not in d.all_log_text(), name
    # the log says why
    wait_for(lambda: d.log_contains("websocket upgrade refused (401): token expired (token in Authorization)"), 5,
             "the refusal's log line")
    # a long token in the query is refused too, not passed on
    r = upgrade(d, make_token("HS256", SECRET, pad="x" * 6000), "query")
    assert r.status in (401, 414, 400), r.status
    r.close()


def test_expiry_during_session_closes_4001(daemon):
    d = hs_daemon(daemon)
    # exp passed 57 s ago: valid for 3 more seconds with the 60 s skew
    r = upgrade(d, make_token("HS256", SECRET, ttl=-57), "query")
    try:
        assert r.status == 101, (r.status, r.body)
        r.register("carol")
        f = r.expect_close(timeout=10)
        assert f.close_code == 4001, f
        assert f.close_reason == "token expired", f
    finally:
        r.close()


def test_name_claim_enforced(daemon):
    d = hs_daemon(daemon, jwt_name_claim="preferred_username")
    r = upgrade(d, make_token("HS256", SECRET, preferred_username="alice"), "bearer")
    try:
        assert r.status == 101
        r.send_json({"type": "SET_USERNAME", "username": "mallory"})
        m = r.recv_json()
        assert m["type"] == "USERNAME_ERROR", m
        assert "alice" in m["message"] and "token" in m["message"], m
        r.register("alice")
    finally:
        r.close()
    refused(upgrade(d, make_token("HS256", SECRET), "bearer"))  # no such claim


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_jwks_algorithms(daemon, jwks, alg):
    key = {"RS256": lambda: rsa.generate_private_key(65537, 2048),
           "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
           "EdDSA": ed25519.Ed25519PrivateKey.generate}[alg]()
    jwks.keys = [jwk("k1", key)]
    d = daemon(config={"workers": 1, "jwks_url": jwks.url, "jwt_issuer": ISS})
    wait_for(lambda: d.log_contains("signing key(s) loaded"), 10, "the key set")
    r = upgrade(d, make_token(alg, key, kid="k1"), "protocol")
    try:
        assert r.status == 101, (r.status, r.body)
        r.register("dave")
    finally:
        r.close()
    other = {"RS256": lambda: rsa.generate_private_key(65537, 2048),
             "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
             "EdDSA": ed25519.Ed25519PrivateKey.generate}[alg]()
    body = refused(upgrade(d, make_token(alg, other, kid="k1")))
    assert "bad token signature" in json.dumps(body), body
    # alg confusion: an HS256 token keyed with the public key document
    body = refused(upgrade(d, make_token("HS256", json.dumps(jwks.keys[0]), kid="k1")))
    assert "algorithm" in json.dumps(body), body


def test_jwks_rotation(daemon, jwks):
    k1, k2 = ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()
    jwks.keys = [jwk("k1", k1)]
    d = daemon(config={"workers": 1, "jwks_url": jwks.url})
    wait_for(lambda: d.log_contains("1 signing key(s) loaded"), 10, "the first key set")
    ok = upgrade(d, make_token("ES256", k1, kid="k1"))
    assert ok.status == 101
    ok.close()
    # a new key appears: unknown at first (401, and a refresh is asked for)
    jwks.keys = [jwk("k1", k1), jwk("k2", k2)]
    tok2 = make_token("EdDSA", k2, kid="k2")
    body = refused(upgrade(d, tok2))
    assert "unknown key" in json.dumps(body), body
    hits = jwks.hits
    # a flood of bogus kids does not hammer the URL
    for i in range(20):
        refused(upgrade(d, make_token("EdDSA", k2, kid="bogus%d" % i)))

    def accepted(tok):
        r = upgrade(d, tok)
        st = r.status
        r.close()
        return st == 101
    wait_for(lambda: accepted(tok2), 15, "the new key accepted after the refresh", interval=0.5)
    assert jwks.hits - hits <= 2, jwks.hits - hits
    # the old key is removed: refused once the set is fetched again (an
    # unknown kid triggers that fetch)
    jwks.keys = [jwk("k2", k2)]
    refused(upgrade(d, make_token("EdDSA", k2, kid="k3")))
    tok1 = make_token("ES256", k1, kid="k1")
    wait_for(lambda: not accepted(tok1), 15, "the removed key refused after the refresh", interval=0.5)


def test_jwks_unavailable_at_start_503_then_recovers(daemon, jwks):
    key = rsa.generate_private_key(65537, 2048)
    jwks.keys = [jwk("k1", key)]
    jwks.status = 500
    d = daemon(config={"workers": 1, "jwks_url": jwks.url})
    wait_for(lambda: d.log_contains("jwks_url: fetch failed: HTTP status 500"), 10, "the failed fetch warned")
    tok = make_token("RS256", key, kid="k1")
    r = upgrade(d, tok)
    assert r.status == 503, (r.status, r.body)
    assert r.headers.get("retry-after") == "5"
    r.close()
    jwks.status = 200

    def accepted():
        r = upgrade(d, tok)
        st = r.status
        r.close()
        return st == 101
    wait_for(accepted, 15, "keys after the retry", interval=0.5)


def test_api_info_says_whether_signin_is_on(daemon):
    """The web page cannot read a refused upgrade's 401: GET /api/info
    tells it that sign-in is on, and which claim names the session."""
    d = hs_daemon(daemon, jwt_name_claim="preferred_username")
    status, _, body = d.get("/api/info")
    assert status == 200
    doc = json.loads(body)
    assert doc["signin"] is True and doc["name_claim"] == "preferred_username", doc
    assert SECRET not in body.decode()
    # a reload that turns sign-in off says so at once
    d.write_config(jwt_secret=None, jwt_name_claim=None)
    d.sighup()
    wait_for(lambda: json.loads(d.get("/api/info")[2])["signin"] is False, 15, "signin false after the reload",
             interval=0.3)
    assert "name_claim" not in json.loads(d.get("/api/info")[2])


def test_secret_never_shown(daemon):
    d = hs_daemon(daemon)
    assert SECRET not in d.all_log_text()


def test_reload_changes_jwks_url_and_secret(daemon, jwks):
    k1 = ed25519.Ed25519PrivateKey.generate()
    jwks.keys = [jwk("k1", k1)]
    other = JwksServer()
    try:
        k2 = ec.generate_private_key(ec.SECP256R1())
        other.keys = [jwk("k2", k2)]
        d = daemon(config={"workers": 1, "jwks_url": jwks.url})
        wait_for(lambda: d.log_contains("1 signing key(s) loaded"), 10, "the first key set")

        def status(tok):
            r = upgrade(d, tok)
            st = r.status
            r.close()
            return st
        t1, t2 = make_token("EdDSA", k1, kid="k1"), make_token("ES256", k2, kid="k2")
        assert status(t1) == 101
        assert status(make_token("HS256", SECRET)) == 401
        # a reload to another key set and an HS256 secret: no new workers needed
        d.write_config(jwks_url=other.url, jwt_secret=SECRET)
        d.sighup()
        wait_for(lambda: status(t2) == 101, 15, "the new URL's key accepted", interval=0.3)
        assert status(t1) == 401, "the old URL's keys are dropped"
        assert status(make_token("HS256", SECRET)) == 101
        # sign-in turned off by a reload: upgrades without a token pass
        d.write_config(jwks_url=None, jwt_secret=None)
        d.sighup()
        wait_for(lambda: status(None) == 101, 15, "sign-in off after the reload", interval=0.3)
    finally:
        other.close()
