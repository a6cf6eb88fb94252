"""The web page (www/, served by rtftd at GET /) in a real browser.

Debian's chromium, headless, driven through playwright-core
(tests/browser/driver.mjs), in a network namespace of the test's own
(realprogs.private_net). Two pages in two separate browser contexts are two
people: they register through the name form, one picks the other in the
list and sends files with the file input and the Send button, the other
accepts (or declines, or someone cancels) with the buttons a person would
press, and the received file is saved through the page's download link and
compared, SHA-256 against SHA-256, with what was sent.

Paths: peer to peer over a WebRTC data channel; the server's binary relay
when the receiver's page has peer to peer off (?p2p=off) so the sender's
data channel never opens; and peer to peer through a real TURN server
(coturn) with ice_transport_policy=relay and credentials rtftd mints.

Screenshots of both pages are kept at the end of every test, pass or fail,
as <test>-sender.png and <test>-receiver.png in $RT_ARTIFACTS or
build/artifacts/screenshots/.
"""

import math
import os

from helpers import srcdir, wait_for
from realprogs import ONLINE, PRIVATE_ADDR, STATE
from realprogs import TRANSFERS as TRANSFERS_FN
from realprogs import browser, coturn, private_net, sha256_file, web  # noqa: F401 (fixtures)

SECRET = "browser-turn-secret"


def random_file(tmp_path, name, size):
    path = os.path.join(str(tmp_path), name)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 1 << 20)
            f.write(os.urandom(n))
            left -= n
    return path


def text_file(tmp_path, name="notes for bob.txt"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w", encoding="utf-8") as f:
        f.write("Hello Bob,\nhere are the numbers: 1 2 3 — and a snowman ☃.\n")
    return path


def page_config(**more):
    cfg = {"workers": 2, "www_root": os.path.join(srcdir(), "www"), "p2p_timeout_ms": 10000}
    cfg.update(more)
    return cfg


def relay_counts(d):
    """{transfer: TRANSFER messages, chunks: binary chunks, bytes: all bytes}
    rtftd relayed, from its /metrics."""
    status, _, body = d.metrics_get("/metrics")
    assert status == 200
    out = {"transfer": 0, "chunks": 0, "bytes": 0}
    for line in body.decode().splitlines():
        if line.startswith('rtftd_messages_relayed_total{type="TRANSFER"}'):
            out["transfer"] = int(float(line.split()[-1]))
        elif line.startswith('rtftd_messages_relayed_total{type="BINARY_CHUNK"}'):
            out["chunks"] = int(float(line.split()[-1]))
        elif line.startswith("rtftd_relayed_bytes_total "):
            out["bytes"] = int(float(line.split()[-1]))
    return out


def assert_no_file_bytes_relayed(d, files):
    """The server relayed the transfers' messages (offer, accept, done for
    each file, once its workers' counters reach the metrics child) but not
    one binary chunk: the bytes went peer to peer."""
    got = wait_for(lambda: (lambda c: c if c["transfer"] >= 3 * len(files) else None)(relay_counts(d)), 10,
                   "the TRANSFER messages in rtftd's metrics", interval=0.1)
    assert got["chunks"] == 0, "rtftd relayed %d binary chunks of a peer to peer transfer: %r" % (got["chunks"], got)
    assert got["bytes"] < min(os.path.getsize(f) for f in files) + 256 * 1024, got


def assert_file_bytes_relayed(d, files):
    """Every byte of the files went through rtftd's binary relay, in chunks
    of at most 256 KiB (the counters reach the metrics child a moment later)."""
    total = sum(os.path.getsize(f) for f in files)
    chunks = sum(math.ceil(os.path.getsize(f) / (256 * 1024)) for f in files)
    wait_for(lambda: (lambda c: c["bytes"] >= total and c["chunks"] >= chunks)(relay_counts(d)), 10,
             "rtftd's metrics to count %d bytes in %d binary chunks relayed" % (total, chunks), interval=0.1)


def pair(web, d, sender_query="", receiver_query="", record_pairs=False):
    alice = web(d, "alice", "sender", sender_query, record_pairs)
    bob = web(d, "bob", "receiver", receiver_query, record_pairs)
    alice.register()
    bob.register()
    alice.wait_sees("bob")
    bob.wait_sees("alice")
    return alice, bob


def deliver(alice, bob, files, path, timeout=60):
    """alice sends files to bob, bob accepts each; checks the saved bytes.
    Returns bob's final transfers."""
    alice.send("bob", files)
    out = []
    for f in files:
        name = os.path.basename(f)
        offer = bob.wait_transfer("receive", name, ["offered"], timeout=30)
        assert offer["size"] == os.path.getsize(f)
        assert offer["peer"] == "alice" and offer["protocol"] in (None, "transfer"), offer
        bob.click_in(offer, "accept-button")
        out.append(offer)
    done = []
    for f, offer in zip(files, out):
        name = os.path.basename(f)
        got = bob.wait_transfer("receive", name, ["done", "failed", "cancelled"], tid=offer["id"], timeout=timeout)
        assert got["status"] == "done", got
        assert got["sha256ok"] is True, got
        assert got["path"] == path, "%s came by %s, not %s" % (name, got["path"], path)
        sent = alice.wait_transfer("send", name, ["done", "failed", "cancelled"], tid=offer["id"], timeout=30)
        assert sent["status"] == "done", sent
        dl = bob.save(got)
        assert dl["suggested"] == name, dl  # the link saves under the sender's file name
        saved = dl["path"]
        assert os.path.getsize(saved) == os.path.getsize(f)
        assert sha256_file(saved) == sha256_file(f), "%s: the saved bytes differ from the sent ones" % name
        # the page's own digest of what it holds agrees
        assert bob.p.evaluate("(id) => window.rtft.receivedSha256(id)", offer["id"]) == sha256_file(f)
        done.append(got)
    return done


def test_two_files_peer_to_peer(web, daemon, tmp_path):
    """5 MiB of random bytes and a small text file over the data channel."""
    d = daemon(config=page_config())
    alice, bob = pair(web, d, record_pairs=True)
    big = random_file(tmp_path, "random-5MiB.bin", 5 * 1024 * 1024)
    small = text_file(tmp_path)
    deliver(alice, bob, [big, small], "p2p")
    # host to host on the namespace's address (the remote candidate may be
    # peer-reflexive: learnt from a check that came before the candidate
    # itself; chromium does not show a prflx candidate's address)
    for w in (alice, bob):
        pairs = w.pairs()
        assert pairs, "%s recorded no connected RTCPeerConnection" % w.name
        for p in pairs:
            assert p["local"] == "host" and p["localAddress"].startswith(PRIVATE_ADDR + ":"), pairs
            assert p["remote"] == "prflx" or (p["remote"] == "host" and
                                              p["remoteAddress"].startswith(PRIVATE_ADDR + ":")), pairs
    assert_no_file_bytes_relayed(d, [big, small])


def test_decline(web, daemon, tmp_path):
    d = daemon(config=page_config())
    alice, bob = pair(web, d)
    f = text_file(tmp_path, "unwanted.txt")
    alice.send("bob", [f])
    offer = bob.wait_transfer("receive", "unwanted.txt", ["offered"])
    alice.wait_transfer("send", "unwanted.txt", ["waiting"], tid=offer["id"])
    bob.click_in(offer, "decline-button")
    t = alice.wait_transfer("send", "unwanted.txt", ["declined", "done", "failed", "cancelled"], tid=offer["id"])
    assert t["status"] == "declined", t
    r = bob.wait_transfer("receive", "unwanted.txt", ["declined", "done", "failed", "cancelled"], tid=offer["id"])
    assert r["status"] == "declined" and not r["url"], r
    assert alice.p.texts('%s [data-testid="status"]' % alice.item(t)) == ["declined by bob"]
    assert bob.p.count('%s [data-testid="download-link"]' % bob.item(r)) == 0
    assert bob.p.downloads() == []


def test_cancel_by_sender_before_accept(web, daemon, tmp_path):
    d = daemon(config=page_config())
    alice, bob = pair(web, d)
    f = text_file(tmp_path, "changed my mind.txt")
    alice.send("bob", [f])
    offer = bob.wait_transfer("receive", "changed my mind.txt", ["offered"])
    t = alice.wait_transfer("send", "changed my mind.txt", ["waiting"], tid=offer["id"])
    alice.click_in(t, "cancel-button")
    t = alice.wait_transfer("send", "changed my mind.txt", ["cancelled", "done", "failed", "declined"], tid=offer["id"])
    assert t["status"] == "cancelled", t
    r = bob.wait_transfer("receive", "changed my mind.txt", ["cancelled", "done", "failed", "declined"],
                          tid=offer["id"])
    assert r["status"] == "cancelled", r
    # the offer's buttons are gone: nothing left to accept
    assert bob.p.count('%s [data-testid="accept-button"]' % bob.item(r)) == 0


# Clicks the transfer's Cancel button from inside the page the moment its
# first bytes have arrived, so the cancel lands mid-transfer however fast
# the path is; resolves to the transfer as it was then.
CANCEL_WHEN_MOVING = """(a) => new Promise((resolve, reject) => {
	const t0 = Date.now();
	const tick = () => {
		const t = window.rtft.state().transfers.find((t) => t.direction === a.direction && t.id === a.id);
		if (t && t.status === 'transferring' && t.bytes > 0 && t.bytes < t.size) {
			const b = document.querySelector('[data-testid="transfer"][data-direction="' + a.direction +
				'"][data-transfer-id="' + a.id + '"] [data-testid="cancel-button"]');
			if (b) {
				b.click();
				resolve(t);
				return;
			}
		}
		if (t && ['done', 'failed', 'cancelled', 'declined', 'sent'].includes(t.status))
			return reject(new Error('the transfer ended before it could be cancelled: ' + JSON.stringify(t)));
		if (Date.now() - t0 > a.timeout)
			return reject(new Error('no bytes moved within ' + a.timeout + ' ms: ' + JSON.stringify(t)));
		setTimeout(tick, 2);
	};
	tick();
})"""


def test_cancel_by_receiver_during_transfer(web, daemon, tmp_path):
    """The receiver cancels while bytes are moving (through the relay, the
    slower path): both sides end cancelled, nothing is offered for saving."""
    d = daemon(config=page_config())
    alice, bob = pair(web, d, sender_query="p2p=off", receiver_query="p2p=off")
    f = random_file(tmp_path, "big-64MiB.bin", 64 * 1024 * 1024)
    alice.send("bob", [f])
    offer = bob.wait_transfer("receive", "big-64MiB.bin", ["offered"], timeout=60)
    bob.click_in(offer, "accept-button")
    at = bob.p.evaluate(CANCEL_WHEN_MOVING, {"direction": "receive", "id": offer["id"], "timeout": 20000}, timeout=30)
    assert 0 < at["bytes"] < at["size"], at
    r = bob.wait_transfer("receive", "big-64MiB.bin", ["cancelled", "done", "failed"], tid=offer["id"])
    assert r["status"] == "cancelled" and not r["url"], r
    t = alice.wait_transfer("send", "big-64MiB.bin", ["cancelled", "done", "failed"], tid=offer["id"])
    assert t["status"] == "cancelled", t
    assert t["bytes"] < t["size"], t
    assert bob.p.count('%s [data-testid="download-link"]' % bob.item(r)) == 0
    # both pages stay usable: a small file goes through afterwards
    small = text_file(tmp_path, "after the cancel.txt")
    deliver(alice, bob, [small], "relay")


def test_relay_fallback_when_peer_to_peer_is_impossible(web, daemon, tmp_path):
    """The receiver's page has peer to peer off: the sender's data channel
    never opens, and after p2p_timeout_ms the bytes go through rtftd's
    binary relay, byte-exact."""
    d = daemon(config=page_config(p2p_timeout_ms=1000))
    alice, bob = pair(web, d, receiver_query="p2p=off")
    assert alice.state()["p2p"] is True and bob.state()["p2p"] is False
    big = random_file(tmp_path, "random-5MiB.bin", 5 * 1024 * 1024)
    small = text_file(tmp_path)
    deliver(alice, bob, [big, small], "relay")
    for name in ("random-5MiB.bin", "notes for bob.txt"):
        sent = alice.wait_transfer("send", name, ["done"])
        assert sent["path"] == "relay", sent
    assert_file_bytes_relayed(d, [big, small])


def test_relay_takes_over_when_the_data_channel_breaks(web, daemon, tmp_path):
    """The sender's peer connection is closed mid-transfer: the rest goes
    through the relay from the receiver's last ack, and the whole file
    still arrives byte-exact."""
    d = daemon(config=page_config(p2p_timeout_ms=1000))
    alice, bob = pair(web, d, record_pairs=True)
    f = random_file(tmp_path, "broken-link-24MiB.bin", 24 * 1024 * 1024)
    alice.send("bob", [f])
    offer = bob.wait_transfer("receive", "broken-link-24MiB.bin", ["offered"], timeout=30)
    bob.click_in(offer, "accept-button")
    at = bob.p.wait_for("""(id) => {
        const t = window.rtft.state().transfers.find((t) => t.id === id);
        return t && t.path === 'p2p' && t.bytes > 1048576 && t;
    }""", offer["id"], timeout=30, describe=TRANSFERS_FN, what="1 MiB over the data channel")
    closed = alice.p.evaluate("() => { for (const pc of window.__rtftPcs) pc.close(); return window.__rtftPcs.length; }")
    assert closed >= 1
    got = bob.wait_transfer("receive", "broken-link-24MiB.bin", ["done", "failed", "cancelled"], tid=offer["id"],
                            timeout=60)
    assert at["bytes"] < got["size"], "the transfer was over before the break: %r" % at
    assert got["status"] == "done" and got["sha256ok"] is True and got["path"] == "relay", got
    sent = alice.wait_transfer("send", "broken-link-24MiB.bin", ["done", "failed", "cancelled"], tid=offer["id"])
    assert sent["status"] == "done" and sent["path"] == "relay", sent
    assert sha256_file(bob.save(got)["path"]) == sha256_file(f)


def test_peer_to_peer_through_coturn(web, daemon, coturn, tmp_path):
    """ice_transport_policy=relay: the only candidates are coturn's relays,
    allocated with the credentials rtftd minted for each page (user part =
    the page's name); the file still arrives byte-exact, the selected
    candidate pair is relay on both sides, and coturn's log shows the
    allocations under the minted usernames."""
    turn = coturn(SECRET)
    d = daemon(config=page_config(turn_servers=turn.url, turn_secret=SECRET, turn_ttl=3600,
                                  ice_transport_policy="relay"))
    alice, bob = pair(web, d, record_pairs=True)
    minted = {}
    for w in (alice, bob):
        ice = w.p.wait_for("() => window.rtft.state().iceServers", timeout=10, what="ICE_SERVERS")
        assert ice["iceTransportPolicy"] == "relay"
        assert ice["uris"] == [turn.url]
        assert ice["username"].endswith(":" + w.name), ice["username"]
        minted[w.name] = ice["username"]
    f = random_file(tmp_path, "through-turn-2MiB.bin", 2 * 1024 * 1024)
    deliver(alice, bob, [f], "p2p")
    for w in (alice, bob):
        pairs = w.pairs()
        assert pairs, "%s recorded no connected RTCPeerConnection" % w.name
        for p in pairs:
            # both ends are coturn's relayed addresses (127.0.0.1; the pages
            # themselves are on 198.18.0.1), the remote one perhaps prflx
            assert p["local"] == "relay" and p["localAddress"].startswith("127.0.0.1:"), pairs
            assert p["relayProtocol"] == "udp", pairs
            assert p["remote"] == "prflx" or (p["remote"] == "relay" and
                                              p["remoteAddress"].startswith("127.0.0.1:")), pairs
    assert_no_file_bytes_relayed(d, [f])
    allocs = turn.allocations()
    for name, username in minted.items():
        assert (username, True) in allocs, "coturn shows no allocation for %s (%s): %r\n%s" % (
            name, username, allocs, turn.log_tail())


# ---------------------------------------------------------------- a phone-width screen

PHONE = {"width": 390, "height": 844}
MIN_TOUCH_PX = 40  # the least height of a button a finger has to hit

# Problems with what a person on a phone sees, as text, for the elements
# a.testids (each must be there and visible) and for every button in
# <main> (each at least a.minTouch px tall): the page scrolls sideways;
# an element is hidden, empty, outside the screen's width, or covered
# by something else where a finger would touch it.
LAYOUT_PROBLEMS = """(a) => {
	const out = [];
	const vw = window.innerWidth;
	const doc = document.documentElement;
	window.scrollTo(0, 0);
	// where an element is on the page, whatever the scroll
	const box = (e) => {
		const r = e.getBoundingClientRect();
		return { left: r.left + window.scrollX, right: r.right + window.scrollX, width: r.width, height: r.height };
	};
	const label = (e) => (e.dataset.testid || e.id || e.tagName.toLowerCase()) +
		(e.textContent.trim() ? ' "' + e.textContent.trim().slice(0, 30) + '"' : '');
	if (doc.scrollWidth > vw) {
		const wide = [...document.body.querySelectorAll('*')].filter((e) => {
			const r = box(e);
			return r.width > 0 && r.right > vw + 0.5;
		});
		// the innermost ones: what pushes the page wider
		const inner = wide.filter((e) => !wide.some((o) => o !== e && e.contains(o)));
		out.push('the page scrolls sideways: scrollWidth ' + doc.scrollWidth + ' > innerWidth ' + vw +
			'; wider than the screen: ' + inner.slice(0, 6).map((e) =>
				label(e) + ' [' + Math.round(box(e).left) + ', ' + Math.round(box(e).right) + ']').join(', '));
	}
	const checked = new Map(); // element -> its box, or null when not visible
	const seen = (e, what) => {
		if (checked.has(e))
			return checked.get(e);
		checked.set(e, null);
		const cs = getComputedStyle(e);
		const b = box(e);
		if (cs.display === 'none' || cs.visibility !== 'visible' || b.width < 1 || b.height < 1) {
			out.push(what + ' is not visible (' + b.width + 'x' + b.height + ', display ' + cs.display + ')');
			return null;
		}
		if (b.left < -0.5 || b.right > vw + 0.5)
			out.push(what + ' reaches past the screen: [' + Math.round(b.left) + ', ' + Math.round(b.right) + '] of ' + vw);
		e.scrollIntoView({ block: 'center', inline: 'nearest' });
		const r = e.getBoundingClientRect();
		const x = Math.min(Math.max(r.left + r.width / 2, 0), vw - 1);
		const y = Math.min(Math.max(r.top + r.height / 2, 0), window.innerHeight - 1);
		const hit = document.elementFromPoint(x, y);
		if (!hit || !(e === hit || e.contains(hit)))
			out.push(what + ' is covered at its middle by ' + (hit ? label(hit) : 'nothing'));
		window.scrollTo(0, 0);
		checked.set(e, b);
		return b;
	};
	for (const id of a.testids) {
		const e = document.querySelector('[data-testid="' + id + '"]');
		if (!e)
			out.push(id + ' is missing');
		else
			seen(e, id);
	}
	const targets = [...document.querySelectorAll('main button, main a.button, main input[type="file"]')]
		.filter((e) => !e.closest('[hidden]') && getComputedStyle(e).display !== 'none');
	for (const e of targets) {
		const b = seen(e, label(e));
		if (b && b.height < a.minTouch - 0.01)
			out.push(label(e) + ' is ' + Math.round(b.height * 10) / 10 + ' px tall, under ' + a.minTouch + ' px');
	}
	return out;
}"""


def layout_problems(w, testids, when, problems):
    """Adds w's layout problems to problems ({problem: [(page, when first
    seen)]}): each is reported once, however often it is seen."""
    for p in w.p.evaluate(LAYOUT_PROBLEMS, {"testids": list(testids), "minTouch": MIN_TOUCH_PX}):
        seen = problems.setdefault(p, [])
        if w.name not in [n for n, _ in seen]:
            seen.append((w.name, when))


def test_phone_width(web, daemon, tmp_path):
    """Two people on 390x844 screens: nothing scrolls sideways, the name
    field, the people list, the file input, the Send button and the
    transfers are on the screen and not covered, every button is at
    least MIN_TOUCH_PX tall, and files go through (one with an
    ordinary name, one with a long name that has nowhere to wrap).
    Layout problems are gathered and reported together at the end, after
    the transfers, so one does not hide the others."""
    d = daemon(config=page_config())
    alice = web(d, "alice", "sender", viewport=PHONE)
    bob = web(d, "bob", "receiver", viewport=PHONE)
    for w in (alice, bob):
        assert w.p.evaluate("() => [innerWidth, innerHeight]") == [PHONE["width"], PHONE["height"]]
    alice.register()
    bob.register()
    alice.wait_sees("bob")
    bob.wait_sees("alice")
    problems = {}
    for w in (alice, bob):
        layout_problems(w, ["name-input", "connect-button", "user-list", "user", "file-input", "send-button"],
                        "after registering", problems)
    files = [text_file(tmp_path, "notes for bob.txt"),
             text_file(tmp_path, "Holiday_photos_2024_from_the_phone_of_alice_IMG20240817_153012345.txt")]
    alice.send("bob", files)
    offers = [bob.wait_transfer("receive", os.path.basename(f), ["offered"]) for f in files]
    layout_problems(bob, ["transfer-list", "transfer", "accept-button", "decline-button"], "with two offers shown",
                    problems)
    for offer in offers:
        bob.click_in(offer, "accept-button")
    for f, offer in zip(files, offers):
        name = os.path.basename(f)
        got = bob.wait_transfer("receive", name, ["done", "failed", "cancelled"], tid=offer["id"])
        assert got["status"] == "done" and got["sha256ok"] is True, got
        sent = alice.wait_transfer("send", name, ["done", "failed", "cancelled"], tid=offer["id"])
        assert sent["status"] == "done", sent
        saved = bob.save(got)
        assert saved["suggested"] == name and sha256_file(saved["path"]) == sha256_file(f), saved
    layout_problems(alice, ["transfer-list", "transfer"], "after sending", problems)
    layout_problems(bob, ["transfer-list", "transfer", "download-link"], "after receiving", problems)
    assert not problems, "%d problems at %dx%d:\n  %s" % (len(problems), PHONE["width"], PHONE["height"], "\n  ".join(
        "%s (%s)" % (p, "; ".join("%s, %s" % x for x in where)) for p, where in problems.items()))


# ---------------------------------------------------------------- the keyboard alone

# The focused element as {id: a short name, testid, name (data-name),
# tag, visible: whether its focus shows (an outline or a box-shadow),
# style, onScreen}. BODY when nothing has the focus.
FOCUSED = """() => {
	const e = document.activeElement;
	if (!e || e === document.body || e === document.documentElement)
		return { id: 'BODY', testid: null, name: null, tag: 'BODY', visible: false, onScreen: false, style: '' };
	const cs = getComputedStyle(e);
	const outline = cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0;
	const shadow = cs.boxShadow && cs.boxShadow !== 'none';
	const r = e.getBoundingClientRect();
	const testid = e.dataset.testid || null;
	return {
		id: (testid || e.id || e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')) +
			(e.dataset.name ? '=' + e.dataset.name : ''),
		testid, name: e.dataset.name || null, tag: e.tagName,
		visible: !!(outline || shadow),
		style: 'outline ' + cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor + ', box-shadow ' + cs.boxShadow,
		onScreen: r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 &&
			r.left < window.innerWidth && r.top < window.innerHeight,
	};
}"""


def focused(w):
    return w.p.evaluate(FOCUSED)


def assert_focus_shows(w, f):
    assert f["visible"], "%s: the focus on %s does not show: %s" % (w.name, f["id"], f["style"])
    assert f["onScreen"], "%s: %s has the focus but is not on the screen" % (w.name, f["id"])


def tab_to(w, want, most=20):
    """Presses Tab until want(focused element) holds; checks on the way
    that every element the focus reaches shows it. Returns the path."""
    path = []
    for _ in range(most):
        w.p.key("Tab")
        f = focused(w)
        path.append(f["id"])
        if f["tag"] != "BODY":  # past the last element, before the first
            assert_focus_shows(w, f)
        if want(f):
            return path
    raise AssertionError("%s: %d Tabs did not reach it; the focus went %s" % (w.name, most, " -> ".join(path)))


def register_by_keyboard(w):
    """Types the name into the name field (where the page puts the focus;
    Tab reaches it otherwise) and presses Enter."""
    if focused(w)["testid"] != "name-input":
        tab_to(w, lambda f: f["testid"] == "name-input")
    assert_focus_shows(w, focused(w))
    w.p.type(w.name)
    w.p.key("Enter")
    return w.p.wait_for(ONLINE, w.name, timeout=15, describe=STATE, what="%s online" % w.name)


def test_keyboard_only(web, daemon, tmp_path):
    """Without a mouse click: Tab goes round the whole page with the
    focus showing on everything it reaches; alice types her name and
    presses Enter, tabs to bob and picks him with Space, tabs to Send and
    presses Enter; bob tabs to Accept and presses Enter, then saves the
    file with Enter on the link, which keeps the focus."""
    d = daemon(config=page_config())
    alice = web(d, "alice", "sender")
    bob = web(d, "bob", "receiver")
    # the page starts with the focus on the name field
    start = focused(alice)
    assert start["testid"] == "name-input", start
    assert_focus_shows(alice, start)
    # once round the page, back to the name field
    path = tab_to(alice, lambda f: f["testid"] == "name-input", most=15)
    for want in ("a.skip", "connect-button", "file-input", "clear-button"):
        assert want in path, "Tab never reached %s: %s" % (want, " -> ".join(path))

    register_by_keyboard(bob)
    register_by_keyboard(alice)
    alice.wait_sees("bob")
    bob.wait_sees("alice")
    tab_to(alice, lambda f: f["testid"] == "user" and f["name"] == "bob")
    alice.p.key(" ")
    alice.p.wait_for("() => window.rtft.state().selected === 'bob'", what="bob chosen with Space")
    assert alice.p.count('[data-testid="user"][data-name="bob"][aria-pressed="true"]') == 1
    # A file picker is the operating system's dialog, which a headless
    # browser does not open: the file is set on the input directly (no
    # click, and the focus stays where it is).
    f = text_file(tmp_path, "typed without a mouse.txt")
    alice.p.set_input_files('[data-testid="file-input"]', [f])
    alice.p.wait_for("() => !document.querySelector('[data-testid=\"send-button\"]').disabled",
                     what="the Send button enabled")
    assert focused(alice)["name"] == "bob", focused(alice)
    tab_to(alice, lambda f: f["testid"] == "send-button", most=3)
    alice.p.key("Enter")
    alice.p.wait_for("""() => window.rtft.state().transfers.length > 0 &&
        document.activeElement !== document.querySelector('[data-testid="send-button"]')""",
                     what="the transfer started, Send disabled")
    after_send = focused(alice)  # checked at the end, so that the transfer is checked whatever it is

    offer = bob.wait_transfer("receive", "typed without a mouse.txt", ["offered"])
    tab_to(bob, lambda f: f["testid"] == "accept-button")
    bob.p.key("Enter")
    got = bob.wait_transfer("receive", "typed without a mouse.txt", ["done", "failed", "cancelled"], tid=offer["id"])
    assert got["status"] == "done" and got["sha256ok"] is True, got
    sent = alice.wait_transfer("send", "typed without a mouse.txt", ["done", "failed", "cancelled"], tid=offer["id"])
    assert sent["status"] == "done", sent
    # the focus follows the transfer's buttons (Accept, Cancel) to its Save link
    bob.p.wait_for("() => document.activeElement.dataset.testid === 'download-link'", timeout=5, describe=FOCUSED,
                   what="the focus on the Save link after Accept")
    assert_focus_shows(bob, focused(bob))
    bob.p.key("Enter")
    saved = bob.p.wait_downloads(1)[0]
    assert saved["suggested"] == "typed without a mouse.txt", saved
    assert sha256_file(saved["path"]) == sha256_file(f)
    # Send disables itself once the files are on their way; the focus
    # must not be dropped to the page's <body> with it, where it shows
    # nowhere (the next Tab would go on from Send, but nothing shows that)
    assert after_send["tag"] != "BODY", \
        "after Enter on Send the focus is lost: the Send button disabled itself and nothing has the focus"
    assert_focus_shows(alice, after_send)
