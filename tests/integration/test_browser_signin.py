"""Sign-in from the web page, in a real browser (issue 11, point 5).

rtftd with jwt_secret (HS256 tokens made here with hmac), and its page
opened the way an identity provider sends people to it:
https://rtft.example/#token=<jwt>. The page takes the token out of the
address bar, offers it on every WebSocket as the subprotocol entry
rtft.token.<jwt>, tells a refused sign-in from an outage (GET /api/info
says whether sign-in is on: a browser never sees the 401), and stops when
the server closes a session whose token expired (4001).

Every page gets an init script that records each WebSocket the page
makes (URL, offered protocols, whether it opened, the close code) in
window.__rtftSockets, so that the tests can see what went on the wire
and that nothing is retried in a loop. Same harness as test_browser.py
(realprogs.py: chromium through playwright-core, in a private network
namespace).
"""

import base64
import hashlib
import hmac
import json
import os
import time

from helpers import wait_for
from realprogs import ONLINE, STATE, WebPage
from realprogs import browser, private_net, web  # noqa: F401 (fixtures)
from test_browser import deliver, page_config, text_file

SECRET = "browser-signin-secret-of-at-least-32-bytes"
CLAIM = "preferred_username"

RECORD_SOCKETS = r"""
(() => {
	const Native = window.WebSocket;
	if (!Native || Native.__rtftWrapped)
		return;
	window.__rtftSockets = [];
	class Recorded extends Native {
		constructor(url, protocols) {
			super(url, protocols);
			const rec = { url: String(url), protocols: protocols === undefined ? null : [].concat(protocols),
				opened: false, protocol: null, closed: null, at: Date.now() };
			window.__rtftSockets.push(rec);
			this.addEventListener('open', () => {
				rec.opened = true;
				rec.protocol = this.protocol;
			});
			this.addEventListener('close', (ev) => {
				rec.closed = ev.code;
			});
		}
	}
	Recorded.__rtftWrapped = true;
	window.WebSocket = Recorded;
})();
"""

SOCKETS = "() => window.__rtftSockets || []"
SIGNIN = "() => window.rtft ? window.rtft.state().signin : null"


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(secret=SECRET, ttl=600, **claims):
    """A signed HS256 token; ttl in seconds from now (negative: in the past)."""
    now = int(time.time())
    c = {"exp": now + ttl, "iat": now}
    c.update(claims)
    data = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(c).encode())
    sig = hmac.new(secret.encode(), data.encode(), hashlib.sha256).digest()
    return data + "." + b64(sig)


def signin_config(**more):
    return page_config(workers=1, jwt_secret=SECRET, **more)


def page(web, browser, d, name, role, fragment="", query=""):
    """rtftd's page opened at /?query#fragment, its WebSockets recorded."""
    w = WebPage(browser, d, name, query=query, role=role)
    if fragment:
        w.url += "#" + fragment
    web.track(w)
    w.p.add_init_script(RECORD_SOCKETS)
    return w.open()


def location(w):
    return w.p.evaluate("() => ({href: location.href, hash: location.hash, search: location.search})")


def assert_token_nowhere(w, d, token):
    """Not in the address bar, not in any WebSocket URL, not in the
    page's console, not in rtftd's log."""
    loc = location(w)
    assert token not in loc["href"] and "token=" not in loc["href"], loc
    for s in w.p.evaluate(SOCKETS):
        assert "token" not in s["url"], s
    console = "\n".join(w.p.log())
    assert token not in console, console
    assert token not in d.all_log_text()


def wait_signin(w, reason, timeout=40):
    return w.p.wait_for("(r) => { const s = window.rtft && window.rtft.state().signin; "
                        "return !!s && s.reason === r && s.message && s; }", reason, timeout=timeout,
                        describe="() => [window.rtft.state().connection, window.rtft.state().signin, "
                                 "window.__rtftSockets]",
                        what="%s's sign-in message (%s)" % (w.name, reason))


def assert_stays_offline(w, seconds=4):
    """No WebSocket is opened again for a while: no retry loop."""
    n = len(w.p.evaluate(SOCKETS))
    time.sleep(seconds)
    socks = w.p.evaluate(SOCKETS)
    assert len(socks) == n, "the page went on opening WebSockets: %r" % socks[n:]
    st = w.state()
    assert st["connection"] == "offline", st
    return socks


def test_signed_in_pages_send_a_file(web, browser, daemon, tmp_path):
    """Two people follow their sign-in links (the token among other
    fragment parameters, a query too): the token leaves the address bar
    at once, other parts stay; the name field holds the token's name
    claim; every socket offers rtft and rtft.token.<jwt> and gets rtft
    back; another name is refused; alice sends bob a file; after a server
    restart both come back with the same tokens and send again."""
    d = daemon(config=signin_config(jwt_name_claim=CLAIM))
    ta, tb = hs256(preferred_username="alice"), hs256(preferred_username="bob")
    alice = page(web, browser, d, "alice", "sender", fragment="view=compact&token=" + ta + "&x=1")
    bob = page(web, browser, d, "bob", "receiver", fragment="token=" + tb, query="p2pTimeout=10000")
    loc = location(alice)
    assert loc["hash"] == "#view=compact&x=1", loc
    loc = location(bob)
    assert loc["hash"] == "" and loc["search"] == "?p2pTimeout=10000", loc
    for w in (alice, bob):
        w.p.wait_for("() => document.querySelector('[data-testid=\"name-input\"]').value", timeout=15,
                     what="%s's name field prefilled" % w.name)
        assert w.p.evaluate("() => document.querySelector('[data-testid=\"name-input\"]').value") == w.name
        assert w.p.evaluate(SIGNIN) == {"token": True, "required": True, "reason": "", "message": ""}
    for w, tok in ((alice, ta), (bob, tb)):
        w.register()
        socks = w.p.evaluate(SOCKETS)
        assert socks and all(s["protocols"] == ["rtft", "rtft.token." + tok] for s in socks), socks
        assert socks[-1]["opened"] and socks[-1]["protocol"] == "rtft", socks
    alice.wait_sees("bob")
    bob.wait_sees("alice")

    # the token names the one name alice may hold; the page shows why not
    alice.p.fill('[data-testid="name-input"]', "mallory")
    alice.p.click('[data-testid="connect-button"]')
    err = alice.p.wait_for("() => document.querySelector('[data-testid=\"name-error\"]').textContent", timeout=15,
                           what="the USERNAME_ERROR for another name")
    assert 'allows only the name "alice"' in err, err
    assert alice.state()["name"] == "alice"

    f = text_file(tmp_path, "signed in.txt")
    deliver(alice, bob, [f], "p2p")

    # an outage is not a refused sign-in: the pages say "reconnecting",
    # keep trying with their tokens, and are back once rtftd is
    d.stop()
    for w in (alice, bob):
        st = w.p.wait_for("() => { const s = window.rtft.state(); return s.connection === 'reconnecting' && s; }",
                          timeout=15, describe=STATE, what="%s reconnecting" % w.name)
        assert st["signin"]["reason"] == "" and st["signin"]["message"] == "", st
    n = len(alice.p.evaluate(SOCKETS))
    wait_for(lambda: len(alice.p.evaluate(SOCKETS)) >= n + 2, 30, "alice trying again while rtftd is down",
             interval=0.2)
    assert alice.p.evaluate(SIGNIN)["reason"] == ""
    d.start()
    for w, tok in ((alice, ta), (bob, tb)):
        w.p.wait_for(ONLINE, w.name, timeout=40, describe=STATE, what="%s back online" % w.name)
        socks = w.p.evaluate(SOCKETS)
        assert len(socks) >= 3 and all(s["protocols"] == ["rtft", "rtft.token." + tok] for s in socks), socks
    alice.wait_sees("bob", timeout=20)
    g = text_file(tmp_path, "after the restart.txt")
    deliver(alice, bob, [g], "p2p")
    for w, tok in ((alice, ta), (bob, tb)):
        assert_token_nowhere(w, d, tok)


def test_no_token_shows_signin_needed(web, browser, daemon):
    """Without a token the page says at once that the server needs
    sign-in; a try to connect is refused (the socket never opens), says
    so, and is not retried."""
    d = daemon(config=signin_config())
    w = page(web, browser, d, "carol", "person")
    st = wait_signin(w, "needed", timeout=15)
    assert st["required"] is True and st["token"] is False, st
    assert "needs sign-in" in st["message"] and "#token=" in st["message"], st
    w.p.fill('[data-testid="name-input"]', "carol")
    w.p.click('[data-testid="connect-button"]')
    st = wait_signin(w, "missing")
    assert "refused the connection" in st["message"], st
    socks = assert_stays_offline(w)
    assert len(socks) == 1 and socks[0]["protocols"] is None and not socks[0]["opened"], socks
    assert "sign-in refused" in w.p.texts('[data-testid="connection-text"]')[0]
    assert w.p.evaluate("() => document.querySelector('[data-testid=\"signin-message\"]').hidden") is False
    wait_for(lambda: d.log_contains("websocket upgrade refused (401): sign-in required: no token"), 10,
             "the refusal in rtftd's log")


def test_wrong_token_is_refused_and_not_retried_forever(web, browser, daemon):
    """A token signed with another secret: refused before the upgrade; the
    page tries a few times (a rotated key set may take seconds to reach
    the server), then says the sign-in was refused and stops."""
    d = daemon(config=signin_config())
    bad = hs256(secret="not the server's secret at all, 32+ bytes")
    w = page(web, browser, d, "dave", "person", fragment="token=" + bad)
    assert location(w)["hash"] == ""
    w.p.fill('[data-testid="name-input"]', "dave")
    w.p.click('[data-testid="connect-button"]')
    st = wait_signin(w, "refused", timeout=60)
    assert "refused your sign-in" in st["message"], st
    socks = assert_stays_offline(w)
    assert 2 <= len(socks) <= 6, socks
    assert all(s["protocols"] == ["rtft", "rtft.token." + bad] and not s["opened"] for s in socks), socks
    assert w.state()["name"] == ""
    assert_token_nowhere(w, d, bad)
    wait_for(lambda: d.log_contains("websocket upgrade refused (401): bad token signature"), 10,
             "the refusal in rtftd's log")


def test_expired_link_says_so(web, browser, daemon):
    """A link whose token expired (past the 60 s allowance) is refused at
    once with a message that says the link expired."""
    d = daemon(config=signin_config())
    old = hs256(ttl=-600)
    w = page(web, browser, d, "erin", "person", fragment="token=" + old)
    w.p.fill('[data-testid="name-input"]', "erin")
    w.p.click('[data-testid="connect-button"]')
    st = wait_signin(w, "refused", timeout=30)
    assert "expired" in st["message"], st
    socks = assert_stays_offline(w, 3)
    assert len(socks) == 1, socks  # an expired token is not worth a retry


def test_damaged_token_gives_a_message_not_an_exception(web, browser, daemon):
    """#token= with characters no token has (they would make new
    WebSocket() throw): a clear message at load, no uncaught error, the
    fragment still taken out of the address bar; connecting is refused
    by a server that needs sign-in, and the message still says why."""
    d = daemon(config=signin_config())
    w = page(web, browser, d, "frank", "person", fragment="token=abc.d%20ef.<b>x</b>&lang=en")
    st = wait_signin(w, "damaged", timeout=15)
    assert "cannot be used" in st["message"] and "base64url" in st["message"], st
    assert st["token"] is False, st
    assert location(w)["hash"] == "#lang=en"
    w.p.fill('[data-testid="name-input"]', "frank")
    w.p.click('[data-testid="connect-button"]')
    st = wait_signin(w, "missing")
    assert "base64url" in st["message"], st
    socks = assert_stays_offline(w, 2)
    assert [s["protocols"] for s in socks] == [None], socks
    errors = [line for line in w.p.log() if "pageerror" in line]
    assert not errors, errors


def test_token_expiring_during_the_session_closes_4001(web, browser, daemon):
    """A token that expires while the page is online: the server closes
    the session with 4001 when exp plus its 60 s allowance passes; the
    page says the sign-in expired and does not reconnect with the dead
    token. The other person, whose token is good, stays online and sees
    the first one leave."""
    d = daemon(config=signin_config())
    hank = page(web, browser, d, "hank", "long", fragment="token=" + hs256())
    hank.register()
    # exp 45 s ago: with the 60 s allowance the session has about 15 s
    short = hs256(ttl=-45)
    gina = page(web, browser, d, "gina", "short", fragment="token=" + short)
    gina.register()
    hank.wait_sees("gina")
    st = wait_signin(gina, "expired", timeout=40)
    assert "sign-in expired" in st["message"] and "reload the link" in st["message"], st
    socks = gina.p.evaluate(SOCKETS)
    assert socks[-1]["opened"] and socks[-1]["closed"] == 4001, socks
    assert "sign-in expired" in gina.p.texts('[data-testid="connection-text"]')[0]
    socks = assert_stays_offline(gina, 5)
    assert len(socks) == 1, socks
    hank.p.wait_for("() => !window.rtft.state().users.includes('gina')", timeout=15, describe=STATE,
                    what="gina gone from hank's list")
    assert hank.state()["connection"] == "online"
    wait_for(lambda: d.log_contains("token expired"), 10, "the expiry in rtftd's log")


def test_token_on_a_server_without_signin(web, browser, daemon):
    """A page given a token by a server that does not ask for one still
    connects: the server answers the rtft protocol it was offered."""
    d = daemon(config=page_config(workers=1))
    tok = hs256()
    w = page(web, browser, d, "ivy", "person", fragment="token=" + tok)
    w.register()
    socks = w.p.evaluate(SOCKETS)
    assert socks[-1]["protocol"] == "rtft" and socks[-1]["protocols"] == ["rtft", "rtft.token." + tok], socks
    assert w.p.evaluate(SIGNIN)["required"] is False
    assert_token_nowhere(w, d, tok)


def test_reload_keeps_the_signin_of_the_tab(web, browser, daemon):
    """The token is gone from the address bar, yet a reload of the same
    tab still signs in (sessionStorage, which dies with the tab)."""
    d = daemon(config=signin_config())
    tok = hs256()
    w = page(web, browser, d, "jack", "person", fragment="token=" + tok)
    w.register()
    assert location(w)["hash"] == ""
    w.p.goto(location(w)["href"])
    w.p.wait_for("() => !!window.rtft", what="the page again")
    # the name was remembered: the page connects by itself, with the token
    w.p.wait_for(ONLINE, "jack", timeout=20, describe=STATE, what="jack online after the reload")
    socks = w.p.evaluate(SOCKETS)
    assert socks[-1]["protocols"] == ["rtft", "rtft.token." + tok], socks
    assert_token_nowhere(w, d, tok)
